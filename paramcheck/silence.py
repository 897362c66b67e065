"""Silencing third-party chatter around a call: library loggers, and optionally what they print."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator

__all__ = ["silenced"]


@contextlib.contextmanager
def silenced(*loggers: str, stdout: bool = False) -> Iterator[None]:
    """The named loggers raised to ERROR for the block (and, with ``stdout``, its prints swallowed), then restored.

    For warnings that are not the user's concern (a config key a library ignores) or that paramcheck reports in
    its own words (a hub cache fallback goes into the result's notes).
    """
    targets = [logging.getLogger(name) for name in loggers]
    levels = [target.level for target in targets]
    for target in targets:
        target.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()) if stdout else contextlib.nullcontext():
            yield
    finally:
        for target, level in zip(targets, levels, strict=True):
            target.setLevel(level)
