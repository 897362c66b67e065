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


def _mode_for(path: Path) -> int:
    """The permission bits ``path`` has, or, for a new file, what ``open()`` would give it (0666 less the umask):
    ``mkstemp``'s private 0600 must not replace a reviewed file's 0644."""
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder and ``os.replace`` it, so readers never see half a file;
    an existing file keeps its permission bits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _mode_for(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(handle, mode)
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
