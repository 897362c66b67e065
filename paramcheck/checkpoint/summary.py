"""What a checkpoint stores, from its safetensors headers only (``paramcheck.sources.headers``): tensors, elements
and bytes per dtype, and logical parameters where a quantized format packs them.

Sources: a single ``.safetensors`` file, a sharded set (its ``*.safetensors.index.json``), a model folder
(``config.json`` + weights) or a diffusers pipeline folder (``model_index.json`` + one folder per component).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..sources.headers import DEFAULT_STEMS, INDEX_SUFFIX, Header, fail, read_header, read_index
from .quantization import QUANTIZATION_NOTES, TensorRole, classify_tensors

__all__ = ["CheckpointComponent", "CheckpointReport", "DtypeCount", "read_checkpoint", "summarize"]


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
                raise fail(h.path, f"tensor {t.name!r} is also in {seen[t.name].name}; a tensor belongs to one shard")
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
        raise fail(folder, f"holds several sharded sets ({names}); point at one index file")
    if chosen:
        return (chosen[0],)
    files = sorted(folder.glob("*.safetensors"))
    default = [p for p in files if p.stem in DEFAULT_STEMS]
    if default:
        return (default[0],)
    if len(files) > 1:
        raise fail(folder, f"holds {len(files)} safetensors files and no index; point at one file")
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
        raise fail(path, "no such file or folder; give a .safetensors file, an index.json or a model folder")
    parts: dict[str, tuple[Path, ...]]
    if path.is_file():
        if path.name.endswith(INDEX_SUFFIX):
            kind, files = "sharded", (path,)
        elif path.suffix == ".safetensors":
            kind, files = "file", (path,)
        else:
            raise fail(path, "not a safetensors file or index; paramcheck reads safetensors headers only")
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
        raise fail(path, f"holds no safetensors weights{hint}; paramcheck check reads safetensors headers only")
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
