"""Reading and writing the small files paramcheck owns or is given: JSON objects in, atomic writes out.

One home for file I/O that several stages need (sources read configs and indexes; the snapshot extension and the
hub header cache write files other processes may read at the same time).
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from .errors import ConfigError, ParamcheckError, SourceError, first_line
from .limits import MAX_FILE_BYTES, MAX_JSON_DEPTH, Limit

__all__ = ["is_dir", "is_file", "json_depth", "parse_json", "read_json", "read_regular", "write_atomic"]


def read_json(path: Path, *, limit: Limit = MAX_FILE_BYTES) -> dict[str, Any]:
    """A JSON object from a regular file, or a one-line error naming the file.

    Bounded: a FIFO, device or folder is refused before anything is read (opened non-blocking, checked with
    ``fstat``), a file over ``limit`` bytes (``PARAMCHECK_MAX_FILE_BYTES``, 16 MiB) before it is read whole, and
    nesting deeper than ``PARAMCHECK_MAX_JSON_DEPTH`` (100) after parsing. Bytes that are not UTF-8, integers
    longer than Python converts (4,300 digits) and nesting that exhausts the parser's recursion are
    ``ConfigError`` errors too, never tracebacks.
    """
    data = parse_json(read_regular(path, limit=limit), str(path))
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def parse_json(
    raw: bytes, where: str, *, error: type[ParamcheckError] = ConfigError, fix: str = "fix or re-download the file"
) -> Any:
    """JSON bytes parsed, or a one-line ``error`` starting ``<where>: `` and ending ``; <fix>``: bytes that are not
    UTF-8, invalid JSON, integers longer than Python converts (4,300 digits), nesting that exhausts the parser's
    recursion or goes deeper than ``PARAMCHECK_MAX_JSON_DEPTH`` (100). Never a traceback."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(f"{where}: not UTF-8 (byte {raw[e.start]:#04x} at offset {e.start}); {fix}") from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise error(f"{where}: not valid JSON ({e.msg} at line {e.lineno}); {fix}") from e
    except RecursionError as e:
        raise error(f"{where}: nested too deeply to parse; {fix}") from e
    except ValueError as e:  # e.g. an integer literal past sys.get_int_max_str_digits()
        raise error(f"{where}: not usable JSON ({first_line(e).split(';')[0]}); {fix}") from e
    depth = json_depth(data)
    if depth > MAX_JSON_DEPTH.value():
        raise error(f"{where}: {MAX_JSON_DEPTH.exceeded(f'nesting {depth} levels deep')}")
    return data


def read_regular(path: Path, *, limit: Limit = MAX_FILE_BYTES, kind: str = "JSON file") -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; FIFOs, devices and folders refused unread."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as e:
        raise SourceError(f"{path}: cannot read ({e.strerror}); check the path and its permissions") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON (not UTF-8 at byte {e.start}); fix or re-download the file") from e
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            what = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file (a FIFO, device or socket)"
            raise ConfigError(f"{path}: is {what}; point at a {kind}")
        maximum = limit.value()
        if info.st_size > maximum:
            raise ConfigError(f"{path}: {limit.exceeded(f'{info.st_size:,} bytes')}")
        with os.fdopen(os.dup(fd), "rb") as f:
            raw = f.read(maximum + 1)
    except OSError as e:
        raise SourceError(f"{path}: cannot read ({e.strerror}); check the path and its permissions") from e
    finally:
        os.close(fd)
    if len(raw) > maximum:  # it grew while it was read
        raise ConfigError(f"{path}: {limit.exceeded('the file')}")
    return raw


def json_depth(data: Any) -> int:
    """How deeply arrays and objects nest in parsed JSON (a scalar: 0), walked without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


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


def is_file(path: Path) -> bool:
    """``path.is_file()``, false where the path cannot even be looked at (a name too long, a folder without read
    permission): the reader that follows names the problem in one line."""
    try:
        return path.is_file()
    except OSError:
        return False


def is_dir(path: Path) -> bool:
    """``path.is_dir()``, false where the path cannot be looked at (see ``is_file``)."""
    try:
        return path.is_dir()
    except OSError:
        return False
