"""``python -m paramcheck``: the CLI, with the working directory taken off the import path first.

``python -m`` puts the working directory first on ``sys.path``. Run inside a model folder from the internet, a
``.py`` file there (``evil_helper.py``) would then be importable under any name a config mentions, and would shadow
installed modules. paramcheck imports nothing from the working directory, so it drops that entry before importing
anything else (the console script ``paramcheck`` never had it; ``python -P`` does not add it).
"""

from __future__ import annotations

import os
import sys


def _drop_working_directory() -> None:
    """Remove the entry ``python -m`` added (``sys.path[0]``, the working directory), if it is there."""
    if sys.flags.safe_path or not sys.path:
        return
    try:
        cwd = os.getcwd()
    except OSError:  # the working directory was removed: nothing can be imported from it either
        return
    if sys.path[0] in ("", ".") or os.path.abspath(sys.path[0]) == cwd:
        del sys.path[0]


_drop_working_directory()

from .cli import main  # noqa: E402 - after the import path is fixed

sys.exit(main())
