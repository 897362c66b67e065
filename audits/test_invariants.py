"""Partitions that must hold for every component (no snapshot needed).

The audits shipped in ``paramcheck.audits.invariants``, over the models of ``[tool.paramcheck.models]`` in
pyproject.toml: this repository is one user of the gate, as any project that runs ``paramcheck init``.
"""

from paramcheck.audits.invariants import *  # noqa: F403
