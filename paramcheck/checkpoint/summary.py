"""What a checkpoint stores, from its safetensors headers only (``paramcheck.sources.headers``): tensors, elements
and bytes per dtype, and logical parameters where a quantized format packs them.

Sources: a single ``.safetensors`` file, a sharded set (its ``*.safetensors.index.json``), a model folder
(``config.json`` + weights) or a diffusers pipeline folder (``model_index.json`` + one folder per component).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..errors import first_line
from ..results import Result, json_field
from ..sources import ComponentSpec, read_folder
from ..sources.headers import Header, TensorInfo, fail, read_header, read_index
from ..sources.local import MODULES, choose_variant, variant_files
from ..sources.spec import CONFIG, INDEX_SUFFIX, MODEL_INDEX, WEIGHT_STEMS
from .quantization import QUANTIZATION_NOTES, TensorRole, classify_tensors

__all__ = [
    "CheckpointComponent",
    "CheckpointKind",
    "CheckpointReport",
    "DtypeCount",
    "dtype_totals",
    "find_weights",
    "folder_specs",
    "read_checkpoint",
    "summarize",
    "summarize_weights",
]


class CheckpointKind(StrEnum):
    """What a checkpoint path points at."""

    FILE = "file"
    SHARDED = "sharded"
    MODEL_FOLDER = "model-folder"
    PIPELINE = "pipeline"
    HUB = "hub"


@dataclass(frozen=True, slots=True, kw_only=True)
class DtypeCount(Result):
    """Tensors, elements and bytes stored in one dtype."""

    dtype: str
    tensors: int
    elements: int
    bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointComponent(Result):
    """What one component's checkpoint stores, from its headers.

    ``elements`` are stored elements (a uint8 holding two 4-bit values counts 1); ``parameters`` are logical values
    of the non-auxiliary tensors where the format says how to unpack them (see ``paramcheck.checkpoint.quantization``);
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
    roles: tuple[TensorRole, ...] = json_field(key="tensor_list")
    quantization: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointReport(Result):
    """A checkpoint's components (one for a file or model folder, one per weighted component of a pipeline)."""

    location: str
    kind: CheckpointKind
    components: tuple[CheckpointComponent, ...]

    def component(self, name: str) -> CheckpointComponent | None:
        return next((c for c in self.components if c.name == name), None)


def dtype_totals(tensors: Iterable[TensorInfo]) -> dict[str, tuple[int, int, int]]:
    """``{dtype: (tensors, elements, bytes)}`` of ``tensors``: a file's mix of stored dtypes (or GGUF types)."""
    rows: dict[str, tuple[int, int, int]] = {}
    for t in tensors:
        n, elements, nbytes = rows.get(t.dtype, (0, 0, 0))
        rows[t.dtype] = (n + 1, elements + t.elements, nbytes + t.nbytes)
    return rows


def summarize(
    name: str, headers: tuple[Header, ...], *, config: Mapping[str, Any] | None = None
) -> CheckpointComponent:
    """Per-dtype totals and logical parameters of one component's headers."""
    tensors = [t for h in headers for t in h.tensors]
    seen: dict[str, str] = {}
    for h in headers:
        for t in h.tensors:
            if t.name in seen:
                other = seen[t.name].rpartition("/")[2]
                raise fail(h.file, f"tensor {t.name!r} is also in {other}; a tensor belongs to one shard")
            seen[t.name] = h.file
    rows = dtype_totals(tensors)
    quant = config.get("quantization_config") if config else None
    roles, scheme = classify_tensors(tensors, quant if isinstance(quant, Mapping) else None)
    auxiliary = [r for r in roles if r.auxiliary]
    notes = tuple(QUANTIZATION_NOTES[s] for s in (scheme or "").split("+") if s in QUANTIZATION_NOTES)
    return CheckpointComponent(
        name=name,
        files=tuple(h.file for h in headers),
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


def _folder_files(
    folder: Path, variant: str | None = None, *, strict: bool = True
) -> tuple[tuple[Path, ...], str | None]:
    """The safetensors files of one model folder (its index's shards, its default file, a variant's, or its only
    file) and a note naming the variant read, if any. Not ``strict`` (a pipeline's component): a folder without
    ``variant`` reads its default weights, as the pipelines' loader does."""
    if not strict and variant is not None and not variant_files(folder, variant):
        variant = None
    chosen_variant, note = choose_variant(folder, variant)
    if chosen_variant is not None:
        return variant_files(folder, chosen_variant), note
    indexes = sorted(folder.glob("*" + INDEX_SUFFIX))
    defaults = [folder / f"{stem}{INDEX_SUFFIX}" for stem in WEIGHT_STEMS]
    chosen = [p for p in defaults if p.is_file()] or indexes
    if len(chosen) > 1:
        names = ", ".join(p.name for p in chosen)
        raise fail(folder, f"holds several sharded sets ({names}); point at one index file")
    if chosen:
        return (chosen[0],), None
    files = sorted(folder.glob("*.safetensors"))
    default = [p for p in files if p.stem in WEIGHT_STEMS]
    if default:
        return (default[0],), None
    if len(files) > 1:
        raise fail(folder, f"holds {len(files)} safetensors files and no index; point at one file")
    return tuple(files), None


def _headers(files: tuple[Path, ...]) -> tuple[Header, ...]:
    if len(files) == 1 and files[0].name.endswith(".json"):  # an index, the variants' names included
        return read_index(files[0])
    return tuple(read_header(p) for p in files)


Parts = dict[str, tuple[Path, ...]]  # component name -> its safetensors files (an index stands for its shards)


def find_weights(path: Path, variant: str | None = None) -> tuple[CheckpointKind, Parts, dict[str, str]]:
    """What ``path`` is and each component's safetensors files (an index stands for its shards); no header read.

    Component names: ``model`` for a file, sharded set or model folder; the pipeline's sub-folder names otherwise
    (every sub-folder with weights: the check pairs them with model_index.json's components). ``variant``: read
    that variant's weights (``model.fp16.safetensors``...); without it a folder holding only one variant's weights
    is read as that variant; the third value holds a note per component read as a variant.
    """
    try:
        return _find_weights(path, variant)
    except OSError as e:  # an unreadable folder or file (permissions), a symlink loop
        raise fail(path, f"cannot read ({e.strerror or first_line(e)}); check the path and its permissions") from e


def _other_weights(path: Path) -> list[str]:
    """Weight files of other formats in ``path`` and its sub-folders (not deeper: ``check /`` must stay bounded)."""
    found = itertools.islice(itertools.chain(path.glob("*"), path.glob("*/*")), 10_000)
    return sorted(p.name for p in found if p.suffix in {".bin", ".pt", ".pth", ".ckpt"})


def _find_weights(path: Path, variant: str | None) -> tuple[CheckpointKind, Parts, dict[str, str]]:
    if not path.exists():
        raise fail(path, "no such file or folder; give a .safetensors file, an index.json or a model folder")
    parts: Parts
    notes: dict[str, str] = {}
    if path.is_file():
        if path.name.endswith(INDEX_SUFFIX) or (path.suffix == ".json" and ".safetensors." in path.name):
            kind = CheckpointKind.SHARDED
        elif path.suffix == ".safetensors":
            kind = CheckpointKind.FILE
        else:
            raise fail(path, "not a safetensors file or index; paramcheck reads safetensors headers only")
        parts = {"model": (path,)}
    elif (path / MODEL_INDEX).is_file():
        kind = CheckpointKind.PIPELINE
        found = {
            sub.name: _folder_files(sub, variant, strict=False)
            for sub in sorted(p for p in path.iterdir() if p.is_dir())
        }
        parts = {name: files for name, (files, _) in found.items() if files}
        notes = {name: note for name, (files, note) in found.items() if files and note}
    elif (path / MODULES).is_file() and (modules := read_folder(path).components):
        kind = CheckpointKind.MODEL_FOLDER  # sentence-transformers: one part per module with weights
        found = {spec.name: _folder_files(spec.folder, variant) for spec in modules if spec.folder is not None}
        parts = {name: files for name, (files, _) in found.items() if files}
        notes = {name: note for name, (files, note) in found.items() if files and note}
    else:
        kind = CheckpointKind.MODEL_FOLDER
        files, note = _folder_files(path, variant)
        parts = {"model": files}
        notes = {"model": note} if note else {}
    if not any(parts.values()):
        others = _other_weights(path)
        hint = f" (found {', '.join(others[:3])}: convert to safetensors)" if others else ""
        raise fail(path, f"holds no safetensors weights{hint}; paramcheck check reads safetensors headers only")
    return kind, parts, notes


def folder_specs(path: Path, kind: CheckpointKind, parts: Mapping[str, tuple[Path, ...]]) -> tuple[ComponentSpec, ...]:
    """The components the checkpoint's own configs describe: its pipeline or model folder, or the folder of a lone
    file or index when that holds a config; ``()`` when there is none."""
    if kind in (CheckpointKind.PIPELINE, CheckpointKind.MODEL_FOLDER):
        return read_folder(path).components
    folder = parts["model"][0].parent
    return read_folder(folder).components if (folder / CONFIG).is_file() else ()


def summarize_weights(
    path: Path,
    kind: CheckpointKind,
    parts: Mapping[str, tuple[Path, ...]],
    specs: Iterable[ComponentSpec],
    notes: Mapping[str, str] | None = None,
) -> CheckpointReport:
    """Header counts of each component's files; a quantized format's settings come from the specs' configs;
    ``notes``: one more note per component (the variant read)."""
    configs = {spec.name: spec.config for spec in specs}
    components = []
    for name, files in parts.items():
        component = summarize(name, _headers(files), config=configs.get(name))
        if notes and name in notes:
            component = dataclasses.replace(component, notes=(notes[name], *component.notes))
        components.append(component)
    return CheckpointReport(location=str(path), kind=kind, components=tuple(components))


def read_checkpoint(path: str | Path, *, variant: str | None = None) -> tuple[CheckpointReport, Parts]:
    """Header counts of a file, a sharded set, a model folder or a pipeline folder; and each component's files."""
    path = Path(path).expanduser()
    kind, parts, notes = find_weights(path, variant)
    return summarize_weights(path, kind, parts, folder_specs(path, kind, parts), notes), parts
