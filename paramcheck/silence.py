"""Silencing third-party chatter around a call: library loggers, and optionally what they print."""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import sys
from collections.abc import Iterator

__all__ = ["progress_bars_off", "silenced"]


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


@contextlib.contextmanager
def progress_bars_off(*libraries: str) -> Iterator[None]:
    """The named libraries' tqdm bars (``<library>.utils.logging``'s switch: transformers' "Loading weights",
    diffusers' shard bars) off for the block, then restored; a library not yet imported is left alone."""
    switches = []
    for name in libraries:
        if name in sys.modules:
            switch = importlib.import_module(f"{name}.utils.logging")
            switches.append((switch, switch.is_progress_bar_enabled()))
            switch.disable_progress_bar()
    try:
        yield
    finally:
        for switch, enabled in switches:
            if enabled:
                switch.enable_progress_bar()
