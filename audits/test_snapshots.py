"""Counts, layer-type tables, ties and buffers against snapshots/test_snapshots/<model>.json.

The audits shipped in ``paramcheck.audits.snapshots``, over the models of ``[tool.paramcheck.models]`` in
pyproject.toml: this repository is one user of the gate, as any project that runs ``paramcheck init``.
"""

from paramcheck.audits.snapshots import *  # noqa: F403
