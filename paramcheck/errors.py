"""Errors raised by paramcheck: one line each, ``<what>: <what is wrong>; <what to do>``."""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DeviceError",
    "ParamcheckError",
    "SourceError",
    "UnknownModelError",
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
