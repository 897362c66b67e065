"""Safetensors headers, never a data page: one header type and one validation for local files and hub files.

A safetensors file is ``<u64 little-endian N><N bytes of JSON header><data>``. The header names every tensor's dtype,
shape and ``[begin, end)`` byte range in the data section, so tensors, elements and bytes per dtype are known from
the first ``8 + N`` bytes and the file's size. ``validated`` refuses everything a loader would refuse, as one
``CheckpointError`` naming the file: an unknown dtype, a shape that is not non-negative integers, a byte range that
does not fit its shape, ranges that overlap, leave holes or run past the end. ``index_shards`` and ``check_shard``
do the same for a sharded set's index: shards inside its folder, each holding exactly the tensors the index places
in it.

The JSON reaches ``validated`` two ways. A hub file is parsed by huggingface_hub's ``parse_safetensors_file_metadata``
(HTTP range requests; ``hub_header``). A local file is read here (``read_header``): huggingface_hub's local twin
(``parse_local_safetensors_file_metadata``, 2.4) raises ``AttributeError``/``TypeError`` on a header that is a JSON
list or whose entries are not objects, drops invalid UTF-8 from tensor names, caps headers at 25 MB where safetensors
reads 100 MB, and has no file size to check the data section against.
"""

from __future__ import annotations

import json
import math
import os
import stat
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CheckpointError, ParamcheckError
from ..fileio import parse_json, read_json

if TYPE_CHECKING:
    from huggingface_hub.utils import SafetensorsFileMetadata

__all__ = [
    "DTYPE_BITS",
    "Header",
    "TensorInfo",
    "check_shard",
    "hub_header",
    "index_shards",
    "read_header",
    "read_index",
    "validated",
]

# bits per element of every dtype safetensors writes (safetensors' Dtype enum, 0.8)
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}
MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit
# tensors in one header: a large checkpoint's shard holds a few thousand; raisable with the environment variable
MAX_TENSORS = 100_000
MAX_TENSORS_VARIABLE = "PARAMCHECK_MAX_TENSORS"

# one header entry as the JSON gives it, before validation: (name, dtype, shape, data_offsets)
Entry = tuple[str, Any, Any, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class TensorInfo:
    """One header entry: name, stored dtype, shape and byte range in the data section (file offset ``8 + N``)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def elements(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.end - self.begin


@dataclass(frozen=True, slots=True, kw_only=True)
class Header:
    """A validated safetensors header: its file (a local path or ``hf://ORG/NAME@SHA/FILE``), its tensors in offset
    order and its ``__metadata__``."""

    file: str
    tensors: tuple[TensorInfo, ...]
    metadata: tuple[tuple[str, str], ...]


def fail(file: str | Path, what: str) -> CheckpointError:
    return CheckpointError(f"{file}: {what}")


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _tensor(file: str, name: str, dtype: Any, shape: Any, offsets: Any) -> TensorInfo:
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        raise fail(file, f"tensor {name!r} has unknown dtype {dtype!r}; known: {', '.join(DTYPE_BITS)}")
    if not isinstance(shape, list) or not all(_count(d) for d in shape):
        raise fail(file, f"tensor {name!r} has a bad shape {shape!r}; expected a list of non-negative integers")
    if (
        not isinstance(offsets, list | tuple)
        or len(offsets) != 2
        or not all(_count(o) for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise fail(file, f"tensor {name!r} has bad data_offsets {offsets!r}; expected [begin, end] with begin <= end")
    info = TensorInfo(name=name, dtype=dtype, shape=tuple(shape), begin=offsets[0], end=offsets[1])
    bits = info.elements * DTYPE_BITS[dtype]
    if bits % 8 or bits // 8 != info.nbytes:
        raise fail(
            file,
            f"tensor {name!r}: shape {list(shape)} of {dtype} needs {bits / 8:g} bytes but its offsets span "
            f"{info.nbytes:,}; the header is inconsistent",
        )
    return info


def validated(
    file: str, entries: Iterable[Entry], metadata: Any, *, data_bytes: int | None, exact: bool = True
) -> Header:
    """The header of ``file`` once every entry and the layout of the data section check out.

    ``data_bytes`` is the size of the data section (``None``: unknown, the end is not checked); with ``exact=False``
    it is only an upper bound, so a tensor past it runs past the end but bytes after the last tensor may be padding.
    """
    metadata = metadata or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise fail(file, "not a safetensors header: __metadata__ must map strings to strings")
    entries = list(entries)
    limit = max_tensors()
    if len(entries) > limit:
        raise fail(file, _too_many(len(entries)))
    tensors = sorted((_tensor(file, *entry) for entry in entries), key=lambda t: (t.begin, t.end))
    position = 0
    previous: TensorInfo | None = None
    for t in tensors:
        if t.begin < position and previous is not None:
            raise fail(
                file,
                f"overlapping offsets: {t.name!r} [{t.begin:,}, {t.end:,}) overlaps {previous.name!r} "
                f"[{previous.begin:,}, {previous.end:,}); the file is corrupt",
            )
        if t.begin > position:
            raise fail(
                file, f"hole in the data: bytes [{position:,}, {t.begin:,}) belong to no tensor before {t.name!r}"
            )
        if data_bytes is not None and t.end > data_bytes:
            raise fail(
                file,
                f"tensor {t.name!r} runs past the end: ends at data byte {t.end:,} but the file holds "
                f"{'' if exact else 'at most '}{data_bytes:,}; truncated?",
            )
        position, previous = max(position, t.end), t
    if exact and data_bytes is not None and position != data_bytes:
        raise fail(file, f"{data_bytes - position:,} bytes after the last tensor; the header does not describe them")
    return Header(file=file, tensors=tuple(tensors), metadata=tuple(sorted(metadata.items())))


def max_tensors() -> int:
    """The most tensors one header may list: ``PARAMCHECK_MAX_TENSORS`` when set to a positive integer, else 100,000."""
    raw = os.environ.get(MAX_TENSORS_VARIABLE, "").strip()
    if not raw:
        return MAX_TENSORS
    if not raw.isdigit() or int(raw) < 1:
        raise CheckpointError(f"{MAX_TENSORS_VARIABLE}={raw!r}: not a positive integer; set it to e.g. {MAX_TENSORS}")
    return int(raw)


def _too_many(count: int) -> str:
    limit = max_tensors()
    return (
        f"{count:,} tensors in one header exceeds the limit of {limit:,}; raise it with "
        f"{MAX_TENSORS_VARIABLE}={limit * 10} if the file is genuine"
    )


def hub_header(file: str, parsed: SafetensorsFileMetadata, file_bytes: int | None) -> Header:
    """A header huggingface_hub parsed, validated like a local one.

    The parser does not say how long the header was, so the data section is bounded from above by the file's size
    less the shortest JSON that encodes the header: a tensor past that bound runs past the end of the file.
    """
    entries = [(name, t.dtype, t.shape, t.data_offsets) for name, t in parsed.tensors.items()]
    data_bytes = None
    if file_bytes is not None:
        shortest = {name: {"dtype": d, "shape": s, "data_offsets": o} for name, d, s, o in entries}
        if parsed.metadata:
            shortest["__metadata__"] = parsed.metadata
        text = json.dumps(shortest, separators=(",", ":"), ensure_ascii=False)
        data_bytes = file_bytes - 8 - len(text.encode("utf-8", "surrogatepass"))
    return validated(file, entries, parsed.metadata, data_bytes=data_bytes, exact=False)


def _read_prefix(path: Path) -> tuple[bytes, int]:
    """The header's JSON bytes and the file's size; reads ``8 + N`` bytes, nothing else."""
    try:
        # O_NONBLOCK: a FIFO named *.safetensors is refused below, never waited on
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(handle, "rb") as f:
            status = os.fstat(f.fileno())
            if stat.S_ISDIR(status.st_mode):
                raise fail(path, "is a folder, not a safetensors file")
            if not stat.S_ISREG(status.st_mode):
                raise fail(path, "not a regular file (a pipe, device or socket); give a safetensors file")
            size = status.st_size
            prefix = f.read(8)
            if len(prefix) < 8:
                raise fail(path, f"truncated: {size} bytes, shorter than the 8-byte header length; re-download it")
            (length,) = struct.unpack("<Q", prefix)
            if length > MAX_HEADER_BYTES:  # the number is not quoted: those 8 bytes may be anything (a secret)
                raise fail(path, "not a safetensors file: its first 8 bytes are no header length (over 100 MB)")
            if 8 + length > size:
                raise fail(
                    path,
                    f"header longer than the file: {length:,} header bytes but only {size - 8:,} follow; truncated?",
                )
            raw = f.read(length)
    except FileNotFoundError:
        raise fail(path, "file not found") from None
    except IsADirectoryError:
        raise fail(path, "is a folder, not a safetensors file") from None
    except OSError as e:
        raise fail(path, f"cannot read ({e.strerror}); check the path and its permissions") from e
    return raw, size


def read_header(path: str | Path) -> Header:
    """The validated header of one local safetensors file, from its first ``8 + N`` bytes and its size."""
    path = Path(path)
    raw, size = _read_prefix(path)
    entries_at_least = raw.count(b'"data_offsets"')  # every entry names it: a count before the (slower) parse
    if entries_at_least > max_tensors():
        raise fail(path, _too_many(entries_at_least))
    fix = "not a safetensors header; check the file"
    data = parse_json(raw, str(path), error=CheckpointError, fix=fix)
    if not isinstance(data, dict):
        raise fail(path, f"not a safetensors header: a JSON {type(data).__name__}, expected an object")
    metadata = data.pop("__metadata__", None)
    entries: list[Entry] = []
    for name, value in data.items():
        if not isinstance(value, dict) or not {"dtype", "shape", "data_offsets"} <= value.keys():
            raise fail(path, f"not a safetensors header: entry {name!r} lacks dtype/shape/data_offsets")
        entries.append((name, value["dtype"], value["shape"], value["data_offsets"]))
    return validated(str(path), entries, metadata, data_bytes=size - 8 - len(raw))


def index_shards(index: Mapping[str, Any], file: str) -> dict[str, frozenset[str]]:
    """Shard file -> the tensor names a sharded set's index places in it; every shard inside the index's folder."""
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise fail(file, "not a sharded-checkpoint index: no 'weight_map' of tensor name -> shard file")
    by_shard: dict[str, set[str]] = {}
    for name, shard in weight_map.items():
        by_shard.setdefault(shard, set()).add(name)
    for shard in by_shard:
        # a file name in the index's folder, as the libraries write it: no folder part, no '..', nothing unprintable
        if not shard.strip() or shard in {".", ".."} or any(c in shard for c in "/\\") or not shard.isprintable():
            raise fail(
                file, f"names shard {shard[:200]!r}, which is not a file in the index's folder; the index is broken"
            )
    return {shard: frozenset(names) for shard, names in sorted(by_shard.items())}


def check_shard(header: Header, shard: str, names: frozenset[str], index_file: str) -> Header:
    """``header`` when its shard holds exactly the tensors the index places in it."""
    held = {t.name for t in header.tensors}
    extra, absent = held - names, names - held
    if absent:
        raise fail(index_file, f"places {sorted(absent)[0]!r} in {shard} but that shard lacks it")
    if extra:
        raise fail(index_file, f"{shard} holds {sorted(extra)[0]!r}, which the index does not list")
    return header


def read_index(index_path: str | Path) -> tuple[Header, ...]:
    """The headers of a local sharded set, checked against its index: every shard present, every tensor where it
    says."""
    index_path = Path(index_path)
    try:
        index = read_json(index_path)
    except ParamcheckError as e:
        raise CheckpointError(str(e)) from e
    shards = index_shards(index if isinstance(index, dict) else {}, str(index_path))
    headers = []
    for shard, names in shards.items():
        path = index_path.parent / shard
        if not path.is_file():
            raise fail(index_path, f"names shard {shard!r}, which is missing; re-download the set")
        headers.append(check_shard(read_header(path), shard, names, str(index_path)))
    return tuple(headers)
