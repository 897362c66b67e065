"""Reading and writing the small files paramcheck owns or is given: JSON objects in, atomic writes out.

One home for file I/O that several stages need (sources read configs and indexes; the snapshot extension and the
hub header cache write files other processes may read at the same time).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .errors import ConfigError, SourceError

__all__ = ["read_json", "write_atomic"]


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from a file, or a one-line ``ConfigError`` naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as e:
        raise SourceError(f"{path}: cannot read ({e.strerror}); check the path and its permissions") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON (not UTF-8 at byte {e.start}); fix or re-download the file") from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}); fix or re-download the file") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder and ``os.replace`` it, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
