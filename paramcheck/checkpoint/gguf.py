"""GGUF files (city96's ComfyUI-GGUF layout for FLUX, SD3, SDXL) from their header: names, ggml types, shapes, bytes.

``gguf.GGUFReader`` memory-maps the file and makes each tensor's data a view into the map, so no page of tensor data
is read unless ``.data`` is touched (this module never touches it). Logical parameters are the header's element
counts, stored bytes its byte counts (elements x type size / block size, ``gguf.GGML_QUANT_SIZES``); the logical
shape is the reversed ggml shape, or city96's ``comfy.gguf.orig_shape.<name>`` field where the converter reshaped
a tensor. The single-file identification and architecture check then run on the logical shapes, as for a
safetensors file (``paramcheck.checkpoint.singlefile``). The ``gguf`` package is optional (``pip install gguf``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, first_line
from ..results import Result, pairs
from ..sources.headers import TensorInfo
from .singlefile import SingleFileReport, inspect_tensors, is_single_file
from .summary import dtype_totals

__all__ = ["GgufReport", "GgufTypeCount", "inspect_gguf", "is_gguf"]

FIELDS = ("general.architecture", "general.type", "general.file_type", "general.quantization_version")
MAGIC = b"GGUF"


@dataclass(frozen=True, slots=True, kw_only=True)
class GgufTypeCount(Result):
    """Tensors, logical parameters and stored bytes of one ggml type."""

    qtype: str
    tensors: int
    parameters: int
    bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class GgufReport(Result):
    """A GGUF file: its metadata fields, the totals per ggml type, and the single-file view of its tensors."""

    location: str
    file_bytes: int
    fields: tuple[tuple[str, str], ...] = pairs(default=())
    types: tuple[GgufTypeCount, ...]
    parameters: int = field(init=False)
    bytes: int = field(init=False)
    single_file: SingleFileReport | None = None

    def __post_init__(self) -> None:
        self._derive(parameters=sum(t.parameters for t in self.types), bytes=sum(t.bytes for t in self.types))

    def qtype(self, name: str) -> GgufTypeCount | None:
        return next((t for t in self.types if t.qtype == name), None)


def is_gguf(path: Path) -> bool:
    """A file that starts with the GGUF magic."""
    if not path.is_file():
        return False
    with path.open("rb") as f:
        return f.read(4) == MAGIC


def _value(reader: Any, key: str) -> str | None:
    found = reader.get_field(key)
    if found is None:
        return None
    value = found.contents()
    return value if isinstance(value, str) else str(value)


def read_gguf(path: Path) -> tuple[tuple[tuple[str, str], ...], tuple[TensorInfo, ...]]:
    """The kept metadata fields and one ``TensorInfo`` per tensor (dtype = ggml type name, logical shape, stored
    bytes as the byte range), from the header; a broken or truncated file is one ``CheckpointError``."""
    try:
        import gguf
    except ImportError as e:
        raise CheckpointError(f"{path}: reading GGUF needs the gguf package; pip install gguf") from e
    try:
        reader = gguf.GGUFReader(str(path), "r")
        fields = tuple((k, v) for k in FIELDS if (v := _value(reader, k)) is not None)
        infos = []
        offset = 0
        for t in reader.tensors:
            orig = reader.get_field(f"comfy.gguf.orig_shape.{t.name}")
            if orig is not None:
                shape = tuple(int(x) for x in orig.contents())
            else:
                shape = tuple(int(d) for d in reversed(t.shape.tolist()))
            nbytes = int(t.n_bytes)
            infos.append(
                TensorInfo(name=t.name, dtype=t.tensor_type.name, shape=shape, begin=offset, end=offset + nbytes)
            )
            offset += nbytes
    except (ValueError, IndexError, KeyError, OSError, TypeError) as e:
        raise CheckpointError(
            f"{path}: not a readable GGUF file, truncated or corrupt ({type(e).__name__}: {first_line(e)[:120]}); "
            "download it again"
        ) from e
    finally:
        with contextlib.suppress(NameError, AttributeError):
            del reader
    return fields, tuple(infos)


def inspect_gguf(path: str | Path, *, against: str | None = None, check: bool = True) -> GgufReport:
    """Per-type totals of a GGUF file and, when its names are a known single-file layout, the single-file report on
    the logical shapes (checked against ``against`` or the bundled release identified)."""
    path = Path(path).expanduser()
    fields, tensors = read_gguf(path)
    rows = dtype_totals(tensors)
    types = tuple(
        GgufTypeCount(qtype=q, tensors=n, parameters=p, bytes=b)
        for q, (n, p, b) in sorted(rows.items(), key=lambda kv: -kv[1][1])
    )
    # city96's loader strips model.diffusion_model. when present; the split knows that prefix anyway
    single = None
    if is_single_file(tensors):
        single = inspect_tensors(
            str(path), tensors, file_bytes=path.stat().st_size, fmt="gguf", against=against, check=check
        )
    elif against is not None:
        raise CheckpointError(
            f"{path}: its tensor names are no single-file layout paramcheck knows (BFL FLUX, SAI MMDiT, LDM UNet); "
            "it cannot be checked against an architecture"
        )
    return GgufReport(
        location=str(path), file_bytes=path.stat().st_size, fields=fields, types=types, single_file=single
    )
