"""Errors raised by paramcheck: one line each, ``<what>: <what is wrong>; <what to do>``."""

from __future__ import annotations

import difflib

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DeviceError",
    "FitError",
    "OutOfMemoryError",
    "ParamcheckError",
    "SourceError",
    "UnknownModelError",
    "first_line",
    "is_memory_error",
    "suggest",
]


class ParamcheckError(Exception):
    """Base class: a user-facing problem whose message is one line and names the thing at fault."""


class UnknownModelError(ParamcheckError):
    """A model id that is neither bundled nor a path."""


class SourceError(ParamcheckError):
    """A folder, file or hub repository that cannot be read as a model."""


class ConfigError(ParamcheckError):
    """A config that is missing, malformed or names a class that does not exist."""


class CheckpointError(ParamcheckError):
    """A checkpoint file whose header or layout is broken."""


class DeviceError(ParamcheckError):
    """A device that is not available or too small for what was asked."""


class OutOfMemoryError(DeviceError):
    """A build or load that ran out of memory (a process or cgroup limit, or the machine): not the config's fault."""


MEMORY_PHRASES = ("out of memory", "can't allocate memory", "cannot allocate memory", "defaultcpuallocator")


def is_memory_error(error: BaseException) -> bool:
    """Whether a library's exception is an allocation failure (``MemoryError``, torch's allocator messages)."""
    text = str(error).lower()
    return isinstance(error, MemoryError) or any(phrase in text for phrase in MEMORY_PHRASES)


class FitError(DeviceError):
    """A load refused before it starts: the weights need more memory than is free where they would go.

    ``needed`` and ``free`` are bytes, ``where`` the device (or device map): the pytest plugin turns them into a skip
    with its own options in the advice."""

    def __init__(self, message: str, *, needed: int, free: int, where: str) -> None:
        super().__init__(message)
        self.needed = needed
        self.free = free
        self.where = where


LIST_HINT = "paramcheck list shows the bundled ids; a folder or hub:REPO works too"


def suggest(name: str, candidates: tuple[str, ...], *, hint: str = LIST_HINT) -> str:
    """The end of an error message: the closest names, then where to see them all."""
    lowered = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.5)
    close += [lowered[c] for c in lowered if name.lower() in c and lowered[c] not in close]
    if close:
        names = " or ".join(repr(lowered.get(c, c)) for c in dict.fromkeys(close))
        return f"did you mean {names}? ({hint})"
    return hint


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (its type when it has none): what a one-line error can quote."""
    text = str(error)
    return text.splitlines()[0] if text.strip() else type(error).__name__
