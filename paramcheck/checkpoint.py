"""Safetensors checkpoints read from their headers only: never a data page.

A safetensors file is ``<u64 little-endian N><N bytes of JSON header><data>``. The header names every tensor's dtype,
shape and ``[begin, end)`` byte range in the data section, so tensors, elements and bytes per dtype are known from
the first ``8 + N`` bytes and the file's size. Everything a loader would refuse is refused here too, as one
``CheckpointError`` naming the file: a truncated file, a header longer than the file, JSON that is not a header, an
unknown dtype, a byte range that does not fit its shape, ranges that overlap, leave holes or run past the end, and a
sharded index naming a shard that is missing or disagreeing with it.

Sources: a single ``.safetensors`` file, a sharded set (its ``*.safetensors.index.json``), a model folder
(``config.json`` + weights) or a diffusers pipeline folder (``model_index.json`` + one folder per component).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CheckpointError
from .quantization import QUANTIZATION_NOTES, TensorRole, classify_tensors

__all__ = [
    "DTYPE_BITS",
    "CheckpointComponent",
    "CheckpointReport",
    "DtypeCount",
    "Header",
    "TensorInfo",
    "read_checkpoint",
    "read_header",
    "read_index",
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


def _fail(path: Path, what: str) -> CheckpointError:
    return CheckpointError(f"{path}: {what}")


def _read_prefix(path: Path) -> tuple[bytes, int]:
    """The header's JSON bytes and the file's size; reads ``8 + N`` bytes, nothing else."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            prefix = f.read(8)
            if len(prefix) < 8:
                raise _fail(path, f"truncated: {size} bytes, shorter than the 8-byte header length; re-download it")
            (length,) = struct.unpack("<Q", prefix)
            if length > MAX_HEADER_BYTES:
                raise _fail(path, f"not a safetensors file: header length {length:,} exceeds 100 MB; check the file")
            if 8 + length > size:
                raise _fail(
                    path,
                    f"header longer than the file: {length:,} header bytes but only {size - 8:,} follow; truncated?",
                )
            raw = f.read(length)
    except FileNotFoundError:
        raise _fail(path, "file not found") from None
    except IsADirectoryError:
        raise _fail(path, "is a folder, not a safetensors file") from None
    except OSError as e:
        raise _fail(path, f"cannot read ({e.strerror}); check the path and its permissions") from e
    return raw, size


def _entry(path: Path, name: str, value: Any) -> TensorInfo:
    if not isinstance(value, dict) or not {"dtype", "shape", "data_offsets"} <= value.keys():
        raise _fail(path, f"not a safetensors header: entry {name!r} lacks dtype/shape/data_offsets")
    dtype, shape, offsets = value["dtype"], value["shape"], value["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        raise _fail(path, f"tensor {name!r} has unknown dtype {dtype!r}; known: {', '.join(DTYPE_BITS)}")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise _fail(path, f"tensor {name!r} has a bad shape {shape!r}; expected a list of non-negative integers")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise _fail(path, f"tensor {name!r} has bad data_offsets {offsets!r}; expected [begin, end] with begin <= end")
    info = TensorInfo(name=name, dtype=dtype, shape=tuple(shape), begin=offsets[0], end=offsets[1])
    bits = info.elements * DTYPE_BITS[dtype]
    if bits % 8 or bits // 8 != info.nbytes:
        raise _fail(
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
        raise _fail(path, f"not a safetensors file: its header is not JSON ({e}); check the file") from e
    if not isinstance(data, dict):
        raise _fail(path, f"not a safetensors header: a JSON {type(data).__name__}, expected an object")
    metadata = data.pop("__metadata__", {}) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _fail(path, "not a safetensors header: __metadata__ must map strings to strings")
    tensors = sorted((_entry(path, name, value) for name, value in data.items()), key=lambda t: (t.begin, t.end))
    data_bytes = size - 8 - len(raw)
    position = 0
    previous: TensorInfo | None = None
    for t in tensors:
        if t.begin < position and previous is not None:
            raise _fail(
                path,
                f"overlapping offsets: {t.name!r} [{t.begin:,}, {t.end:,}) overlaps {previous.name!r} "
                f"[{previous.begin:,}, {previous.end:,}); the file is corrupt",
            )
        if t.begin > position:
            raise _fail(
                path, f"hole in the data: bytes [{position:,}, {t.begin:,}) belong to no tensor before {t.name!r}"
            )
        if t.end > data_bytes:
            raise _fail(
                path,
                f"tensor {t.name!r} runs past the end: ends at data byte {t.end:,} but the file holds {data_bytes:,}; "
                "truncated?",
            )
        position, previous = max(position, t.end), t
    if position != data_bytes:
        raise _fail(path, f"{data_bytes - position:,} bytes after the last tensor; the header does not describe them")
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
        raise _fail(index_path, "file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _fail(index_path, f"not a readable JSON index ({e}); re-download it") from e
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise _fail(index_path, "not a sharded-checkpoint index: no 'weight_map' of tensor name -> shard file")
    by_shard: dict[str, set[str]] = {}
    for name, shard in weight_map.items():
        by_shard.setdefault(shard, set()).add(name)
    headers = []
    for shard in sorted(by_shard):
        path = index_path.parent / shard
        if not path.is_file():
            raise _fail(index_path, f"names shard {shard!r}, which is missing; re-download the set")
        header = read_header(path)
        names = {t.name for t in header.tensors}
        extra, absent = names - by_shard[shard], by_shard[shard] - names
        if absent:
            raise _fail(index_path, f"places {sorted(absent)[0]!r} in {shard} but that shard lacks it")
        if extra:
            raise _fail(index_path, f"{shard} holds {sorted(extra)[0]!r}, which the index does not list")
        headers.append(header)
    return tuple(headers)


@dataclass(frozen=True, slots=True, kw_only=True)
class DtypeCount:
    """Tensors, elements and bytes stored in one dtype."""

    dtype: str
    tensors: int
    elements: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "tensors": self.tensors, "elements": self.elements, "bytes": self.bytes}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DtypeCount:
        return cls(
            dtype=data["dtype"], tensors=int(data["tensors"]), elements=int(data["elements"]), bytes=int(data["bytes"])
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointComponent:
    """What one component's checkpoint stores, from its headers.

    ``elements`` are stored elements (a uint8 holding two 4-bit values counts 1); ``parameters`` are logical values
    of the non-auxiliary tensors where the format says how to unpack them (see ``paramcheck.quantization``);
    ``auxiliary_*`` are quantization scales, absmax, zero points and packed state, which no architecture holds.
    """

    name: str
    files: tuple[str, ...]
    tensors: int
    elements: int
    bytes: int
    parameters: int
    auxiliary_tensors: int
    auxiliary_bytes: int
    dtypes: tuple[DtypeCount, ...]
    roles: tuple[TensorRole, ...]
    quantization: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def infos(self) -> dict[str, TensorRole]:
        return {role.name: role for role in self.roles}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "files": list(self.files),
            "tensors": self.tensors,
            "elements": self.elements,
            "bytes": self.bytes,
            "parameters": self.parameters,
            "auxiliary_tensors": self.auxiliary_tensors,
            "auxiliary_bytes": self.auxiliary_bytes,
            "dtypes": [d.to_dict() for d in self.dtypes],
            "tensor_list": [r.to_dict() for r in self.roles],
            "quantization": self.quantization,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckpointComponent:
        return cls(
            name=data["name"],
            files=tuple(data["files"]),
            tensors=int(data["tensors"]),
            elements=int(data["elements"]),
            bytes=int(data["bytes"]),
            parameters=int(data["parameters"]),
            auxiliary_tensors=int(data["auxiliary_tensors"]),
            auxiliary_bytes=int(data["auxiliary_bytes"]),
            dtypes=tuple(DtypeCount.from_dict(d) for d in data["dtypes"]),
            roles=tuple(TensorRole.from_dict(r) for r in data["tensor_list"]),
            quantization=data.get("quantization"),
            notes=tuple(data.get("notes", ())),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointReport:
    """A checkpoint's components (one for a file or model folder, one per weighted component of a pipeline)."""

    location: str
    kind: str  # "file", "sharded", "model-folder", "pipeline", "hub"
    components: tuple[CheckpointComponent, ...]

    @property
    def bytes(self) -> int:
        return sum(c.bytes for c in self.components)

    def component(self, name: str) -> CheckpointComponent | None:
        return next((c for c in self.components if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {"location": self.location, "kind": self.kind, "components": [c.to_dict() for c in self.components]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckpointReport:
        return cls(
            location=data["location"],
            kind=data["kind"],
            components=tuple(CheckpointComponent.from_dict(c) for c in data["components"]),
        )


def summarize(
    name: str, headers: tuple[Header, ...], *, config: Mapping[str, Any] | None = None
) -> CheckpointComponent:
    """Per-dtype totals and logical parameters of one component's headers."""
    tensors = [t for h in headers for t in h.tensors]
    seen: dict[str, Path] = {}
    for h in headers:
        for t in h.tensors:
            if t.name in seen:
                raise _fail(h.path, f"tensor {t.name!r} is also in {seen[t.name].name}; a tensor belongs to one shard")
            seen[t.name] = h.path
    rows: dict[str, list[int]] = {}
    for t in tensors:
        row = rows.setdefault(t.dtype, [0, 0, 0])
        row[0] += 1
        row[1] += t.elements
        row[2] += t.nbytes
    quant = config.get("quantization_config") if config else None
    roles, scheme = classify_tensors(tensors, quant if isinstance(quant, Mapping) else None)
    auxiliary = [r for r in roles if r.auxiliary]
    notes = tuple(QUANTIZATION_NOTES[s] for s in (scheme or "").split("+") if s in QUANTIZATION_NOTES)
    return CheckpointComponent(
        name=name,
        files=tuple(str(h.path) for h in headers),
        tensors=len(tensors),
        elements=sum(t.elements for t in tensors),
        bytes=sum(t.nbytes for t in tensors),
        parameters=sum(r.parameters for r in roles if not r.auxiliary),
        auxiliary_tensors=len(auxiliary),
        auxiliary_bytes=sum(r.bytes for r in auxiliary),
        dtypes=tuple(DtypeCount(dtype=d, tensors=v[0], elements=v[1], bytes=v[2]) for d, v in sorted(rows.items())),
        roles=roles,
        quantization=scheme,
        notes=notes,
    )


def _folder_files(folder: Path) -> tuple[Path, ...]:
    """The safetensors files of one model folder: its index's shards, its default file, or its only file."""
    indexes = sorted(folder.glob("*" + INDEX_SUFFIX))
    defaults = [folder / f"{stem}{INDEX_SUFFIX}" for stem in DEFAULT_STEMS]
    chosen = [p for p in defaults if p.is_file()] or indexes
    if len(chosen) > 1:
        names = ", ".join(p.name for p in chosen)
        raise _fail(folder, f"holds several sharded sets ({names}); point at one index file")
    if chosen:
        return (chosen[0],)
    files = sorted(folder.glob("*.safetensors"))
    default = [p for p in files if p.stem in DEFAULT_STEMS]
    if default:
        return (default[0],)
    if len(files) > 1:
        raise _fail(folder, f"holds {len(files)} safetensors files and no index; point at one file")
    return tuple(files)


def _headers(files: tuple[Path, ...]) -> tuple[Header, ...]:
    if len(files) == 1 and files[0].name.endswith(INDEX_SUFFIX):
        return read_index(files[0])
    return tuple(read_header(p) for p in files)


def read_checkpoint(path: str | Path) -> tuple[CheckpointReport, dict[str, tuple[Path, ...]]]:
    """Header counts of a file, a sharded set, a model folder or a pipeline folder; and each component's files.

    Component names: ``model`` for a file, sharded set or model folder; the pipeline's names otherwise. A pipeline
    component with a config but no safetensors weights is left out here (the architecture check reports it).
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise _fail(path, "no such file or folder; give a .safetensors file, an index.json or a model folder")
    parts: dict[str, tuple[Path, ...]]
    if path.is_file():
        if path.name.endswith(INDEX_SUFFIX):
            kind, files = "sharded", (path,)
        elif path.suffix == ".safetensors":
            kind, files = "file", (path,)
        else:
            raise _fail(path, "not a safetensors file or index; paramcheck reads safetensors headers only")
        parts = {"model": files}
    elif (path / "model_index.json").is_file():
        kind = "pipeline"
        parts = {}  # every sub-folder with weights; the check pairs them with model_index.json's components
        for sub in sorted(p for p in path.iterdir() if p.is_dir()):
            found = _folder_files(sub)
            if found:
                parts[sub.name] = found
    else:
        kind = "model-folder"
        parts = {"model": _folder_files(path)}
    if not any(parts.values()):
        others = sorted(p.name for p in path.rglob("*") if p.suffix in {".bin", ".pt", ".pth", ".ckpt"})
        hint = f" (found {', '.join(others[:3])}: convert to safetensors)" if others else ""
        raise _fail(path, f"holds no safetensors weights{hint}; paramcheck check reads safetensors headers only")
    configs = {name: _config(files[0].parent) for name, files in parts.items()}
    components = tuple(summarize(name, _headers(files), config=configs[name]) for name, files in parts.items())
    return CheckpointReport(location=str(path), kind=kind, components=components), parts


def _config(folder: Path) -> dict[str, Any] | None:
    path = folder / "config.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # the architecture check reads configs properly and reports them
    return data if isinstance(data, dict) else None
