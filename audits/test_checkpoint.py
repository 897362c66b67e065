"""Where a source has weights: the safetensors headers match the architecture.

The audits shipped in ``paramcheck.audits.checkpoints``, over the models of ``[tool.paramcheck.models]`` in
pyproject.toml: this repository is one user of the gate, as any project that runs ``paramcheck init``.
"""

from paramcheck.audits.checkpoints import *  # noqa: F403
