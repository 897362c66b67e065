"""Safetensors headers, never a data page.

A safetensors file is ``<u64 little-endian N><N bytes of JSON header><data>``. The header names every tensor's dtype,
shape and ``[begin, end)`` byte range in the data section, so tensors, elements and bytes per dtype are known from
the first ``8 + N`` bytes and the file's size. Everything a loader would refuse is refused here too, as one
``CheckpointError`` naming the file: a truncated file, a header longer than the file, JSON that is not a header, an
unknown dtype, a byte range that does not fit its shape, ranges that overlap, leave holes or run past the end, and a
sharded index naming a shard that is missing or disagreeing with it.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CheckpointError

__all__ = ["DTYPE_BITS", "INDEX_SUFFIX", "Header", "TensorInfo", "read_header", "read_index"]

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
INDEX_SUFFIX = ".safetensors.index.json"
DEFAULT_STEMS = ("diffusion_pytorch_model", "model")


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
        n = 1
        for dim in self.shape:
            n *= dim
        return n

    @property
    def nbytes(self) -> int:
        return self.end - self.begin


@dataclass(frozen=True, slots=True, kw_only=True)
class Header:
    """A validated safetensors header: its tensors in offset order and its ``__metadata__``."""

    path: Path
    tensors: tuple[TensorInfo, ...]
    metadata: tuple[tuple[str, str], ...]
    header_bytes: int
    file_bytes: int


def fail(path: Path, what: str) -> CheckpointError:
    return CheckpointError(f"{path}: {what}")


def _read_prefix(path: Path) -> tuple[bytes, int]:
    """The header's JSON bytes and the file's size; reads ``8 + N`` bytes, nothing else."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            prefix = f.read(8)
            if len(prefix) < 8:
                raise fail(path, f"truncated: {size} bytes, shorter than the 8-byte header length; re-download it")
            (length,) = struct.unpack("<Q", prefix)
            if length > MAX_HEADER_BYTES:
                raise fail(path, f"not a safetensors file: header length {length:,} exceeds 100 MB; check the file")
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


def _entry(path: Path, name: str, value: Any) -> TensorInfo:
    if not isinstance(value, dict) or not {"dtype", "shape", "data_offsets"} <= value.keys():
        raise fail(path, f"not a safetensors header: entry {name!r} lacks dtype/shape/data_offsets")
    dtype, shape, offsets = value["dtype"], value["shape"], value["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        raise fail(path, f"tensor {name!r} has unknown dtype {dtype!r}; known: {', '.join(DTYPE_BITS)}")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise fail(path, f"tensor {name!r} has a bad shape {shape!r}; expected a list of non-negative integers")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise fail(path, f"tensor {name!r} has bad data_offsets {offsets!r}; expected [begin, end] with begin <= end")
    info = TensorInfo(name=name, dtype=dtype, shape=tuple(shape), begin=offsets[0], end=offsets[1])
    bits = info.elements * DTYPE_BITS[dtype]
    if bits % 8 or bits // 8 != info.nbytes:
        raise fail(
            path,
            f"tensor {name!r}: shape {list(shape)} of {dtype} needs {bits / 8:g} bytes but its offsets span "
            f"{info.nbytes:,}; the header is inconsistent",
        )
    return info


def read_header(path: str | Path) -> Header:
    """The validated header of one safetensors file, from its first ``8 + N`` bytes and its size."""
    path = Path(path)
    raw, size = _read_prefix(path)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise fail(path, f"not a safetensors file: its header is not JSON ({e}); check the file") from e
    if not isinstance(data, dict):
        raise fail(path, f"not a safetensors header: a JSON {type(data).__name__}, expected an object")
    metadata = data.pop("__metadata__", {}) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise fail(path, "not a safetensors header: __metadata__ must map strings to strings")
    tensors = sorted((_entry(path, name, value) for name, value in data.items()), key=lambda t: (t.begin, t.end))
    data_bytes = size - 8 - len(raw)
    position = 0
    previous: TensorInfo | None = None
    for t in tensors:
        if t.begin < position and previous is not None:
            raise fail(
                path,
                f"overlapping offsets: {t.name!r} [{t.begin:,}, {t.end:,}) overlaps {previous.name!r} "
                f"[{previous.begin:,}, {previous.end:,}); the file is corrupt",
            )
        if t.begin > position:
            raise fail(
                path, f"hole in the data: bytes [{position:,}, {t.begin:,}) belong to no tensor before {t.name!r}"
            )
        if t.end > data_bytes:
            raise fail(
                path,
                f"tensor {t.name!r} runs past the end: ends at data byte {t.end:,} but the file holds {data_bytes:,}; "
                "truncated?",
            )
        position, previous = max(position, t.end), t
    if position != data_bytes:
        raise fail(path, f"{data_bytes - position:,} bytes after the last tensor; the header does not describe them")
    return Header(
        path=path,
        tensors=tuple(tensors),
        metadata=tuple(sorted(metadata.items())),
        header_bytes=len(raw),
        file_bytes=size,
    )


def read_index(index_path: str | Path) -> tuple[Header, ...]:
    """The headers of a sharded set, checked against its index: every shard present, every tensor where it says."""
    index_path = Path(index_path)
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise fail(index_path, "file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise fail(index_path, f"not a readable JSON index ({e}); re-download it") from e
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise fail(index_path, "not a sharded-checkpoint index: no 'weight_map' of tensor name -> shard file")
    by_shard: dict[str, set[str]] = {}
    for name, shard in weight_map.items():
        by_shard.setdefault(shard, set()).add(name)
    headers = []
    for shard in sorted(by_shard):
        path = index_path.parent / shard
        if not path.is_file():
            raise fail(index_path, f"names shard {shard!r}, which is missing; re-download the set")
        header = read_header(path)
        names = {t.name for t in header.tensors}
        extra, absent = names - by_shard[shard], by_shard[shard] - names
        if absent:
            raise fail(index_path, f"places {sorted(absent)[0]!r} in {shard} but that shard lacks it")
        if extra:
            raise fail(index_path, f"{shard} holds {sorted(extra)[0]!r}, which the index does not list")
        headers.append(header)
    return tuple(headers)
