"""Where a source has weights: the loaded counts equal the config counts.

The audits shipped in ``paramcheck.audits.weights``, over the models of ``[tool.paramcheck.models]`` in
pyproject.toml: this repository is one user of the gate, as any project that runs ``paramcheck init``.
"""

from paramcheck.audits.weights import *  # noqa: F403
