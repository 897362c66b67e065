"""The JSON envelope around results: schema version, library versions and a timestamp.

Snapshots never carry this envelope: they hold only counts, so they change only when a count does.
"""

from __future__ import annotations

import datetime as _dt
from importlib import metadata
from typing import Any

from .results import SCHEMA_VERSION

__all__ = ["envelope", "library_versions"]

LIBRARIES = ("paramcheck", "torch", "diffusers", "transformers", "accelerate", "safetensors", "huggingface_hub")


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def envelope(kind: str, body: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """``{"schema", "kind", "versions", "timestamp", ...extra, **body}``."""
    return {
        "schema": SCHEMA_VERSION,
        "kind": kind,
        "versions": library_versions(),
        "timestamp": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        **extra,
        **body,
    }
