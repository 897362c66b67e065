"""What is this file? One entry for the files diffusion users have: an original-layout single file, a LoRA (file or
peft adapter folder), a GGUF file; anything else is an ordinary diffusers/transformers checkpoint (``check``).

``file_kind`` decides from the path and, for a safetensors file, its header names (no data); ``inspect_file`` gives
the matching report (``None`` for an ordinary checkpoint).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from ..errors import ConfigError
from ..fileio import is_file
from ..sources.headers import read_header
from .gguf import GgufReport, inspect_gguf, is_gguf
from .lora import LoraReport, inspect_lora, is_adapter, is_lora
from .singlefile import SingleFileReport, inspect_single_file, is_single_file

__all__ = ["FileKind", "FileReport", "file_kind", "inspect_file", "require_checked"]

FileReport = SingleFileReport | LoraReport | GgufReport


class FileKind(StrEnum):
    """What a path holds, as far as ``paramcheck report/check`` treat it differently."""

    SINGLE_FILE = "single-file"
    LORA = "lora"
    GGUF = "gguf"
    CHECKPOINT = "checkpoint"  # a diffusers/transformers file, sharded set or folder
    MODEL = "model"  # not a weights path at all: a bundled id, a config folder, a hub repository


def file_kind(text: str | Path) -> FileKind:
    path = Path(text).expanduser()
    if is_adapter(path):
        return FileKind.LORA
    if not is_file(path):
        return FileKind.MODEL
    if is_gguf(path):
        return FileKind.GGUF
    if path.suffix != ".safetensors":
        return FileKind.CHECKPOINT
    tensors = read_header(path).tensors
    if is_lora(tensors):
        return FileKind.LORA
    return FileKind.SINGLE_FILE if is_single_file(tensors) else FileKind.CHECKPOINT


def inspect_file(path: str | Path, *, against: str | None = None, kind: FileKind | None = None) -> FileReport | None:
    """The report of a single file, LoRA or GGUF file (checked against ``against``, or the bundled release a single
    file is identified as); ``None`` for an ordinary checkpoint or a model."""
    kind = kind or file_kind(path)
    if kind is FileKind.SINGLE_FILE:
        return inspect_single_file(path, against=against)
    if kind is FileKind.LORA:
        return inspect_lora(path, against=against)
    if kind is FileKind.GGUF:
        return inspect_gguf(path, against=against)
    return None


def require_checked(report: FileReport) -> None:
    """``check`` must check: a file nothing was compared with is an error, never a silent pass."""
    if isinstance(report, LoraReport):
        if report.against is None:
            raise ConfigError(f"{report.location}: a LoRA is checked against its base model; give --against MODEL")
        return
    single = report.single_file if isinstance(report, GgufReport) else report
    if single is None:
        raise ConfigError(f"{report.location}: no single-file layout to check; give --against MODEL")
    if not single.checked:
        identity = single.identity
        what = identity.model or f"{identity.family} ({'; '.join(identity.facts)})"
        raise ConfigError(
            f"{report.location}: identified as {what}, which paramcheck does not bundle; give --against MODEL "
            "(a bundled id or a diffusers folder of that architecture)"
        )
