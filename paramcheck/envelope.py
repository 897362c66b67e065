"""The JSON envelope around results: schema version, library versions and a timestamp.

Snapshots never carry this envelope: they hold only counts, so they change only when a count does.
"""

from __future__ import annotations

import datetime as _dt
import sys
from importlib import metadata
from typing import Any

from .results import SCHEMA_VERSION

__all__ = ["envelope", "library_versions"]

LIBRARIES = ("paramcheck", "torch", "diffusers", "transformers", "accelerate", "safetensors", "huggingface_hub")


def library_versions() -> dict[str, str | None]:
    """Installed versions; a library already imported reports its own ``__version__`` (torch's names its build,
    ``2.11.0+cu130``, where the package metadata may say only ``2.11.0``)."""
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        module = sys.modules.get(name)
        version = getattr(module, "__version__", None) if module is not None else None
        if isinstance(version, str):
            versions[name] = version
            continue
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
