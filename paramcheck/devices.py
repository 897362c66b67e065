"""Device names: parsed cheaply and purely (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``meta``), resolved lazily."""

from __future__ import annotations

import re

from .errors import DeviceError

__all__ = ["DEVICES", "DEVICE_CHOICES", "DEVICE_MAPS", "META_NOTE", "parse_device", "resolve_device"]

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "meta")
DEVICE_CHOICES = ", ".join(DEVICES)
META_NOTE = "config only: counted on the meta device, no weights read"
DEVICE_MAPS = ("balanced", "auto", "cpu")
_PATTERN = re.compile(r"auto|cpu|meta|cuda(:\d+)?")


def parse_device(text: str) -> str:
    """The device as written, checked for form only (no torch import: option parsers call this)."""
    value = text.strip().lower()
    if not _PATTERN.fullmatch(value):
        raise DeviceError(f"unknown device {text!r}; use one of {DEVICE_CHOICES}")
    return value


def resolve_device(text: str) -> str:
    """``auto`` -> ``cuda`` when CUDA is present, else ``cpu``; ``cuda[:N]`` checked against what is there."""
    import torch

    value = parse_device(text)
    if value == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if value.startswith("cuda"):
        if not torch.cuda.is_available():
            build = torch.__version__
            raise DeviceError(f"{value}: CUDA is not available here (torch {build}); use --device cpu")
        index = int(value.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise DeviceError(f"{value}: only {torch.cuda.device_count()} CUDA device(s) here; use cuda:0 or cpu")
    return value
