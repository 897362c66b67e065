"""A component loaded with its weights: ``from_pretrained`` from the component's folder, on a device, at a dtype.

A small first version for the audits (issue 4); the loading issue (6) may replace it with device maps and memory.
"""

from __future__ import annotations

from typing import Any

import torch

from .build import _quiet, is_module_class, resolve_class
from .dtypes import canonical_dtype
from .errors import CheckpointError, DeviceError
from .sources import ComponentSpec

__all__ = ["LOAD_DTYPES", "load_component", "resolve_device"]

LOAD_DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(name: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is present, else ``cpu``; ``cuda[:N]`` checked against the GPUs present."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"device {name!r}: no CUDA GPU is visible; use --device cpu or auto")
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            count = torch.cuda.device_count()
            raise DeviceError(f"device {name!r}: only {count} CUDA GPU(s) visible; use cuda:0 to cuda:{count - 1}")
    return name


def load_component(spec: ComponentSpec, *, device: str = "cpu", dtype: str = "fp32") -> torch.nn.Module | None:
    """The component loaded by its class's ``from_pretrained`` and moved to ``device``; ``None`` for non-modules."""
    if spec.library is None or spec.class_name is None:
        return None
    cls = resolve_class(spec.library, spec.class_name, where=spec.location)
    if not is_module_class(cls):
        return None
    if spec.folder is None or not spec.weights:
        raise CheckpointError(f"{spec.location}: {spec.name} has no weight files; give a folder saved with weights")
    torch_dtype = LOAD_DTYPES.get(canonical_dtype(dtype))
    if torch_dtype is None:
        raise CheckpointError(f"dtype {dtype!r}: cannot load weights at it; use one of {', '.join(LOAD_DTYPES)}")
    kwargs: dict[str, Any] = {"torch_dtype" if spec.library == "diffusers" else "dtype": torch_dtype}
    try:
        with _quiet():
            module = cls.from_pretrained(spec.folder, **kwargs)
    except Exception as e:  # the libraries raise OSError, ValueError, RuntimeError... on a broken folder
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{spec.folder}: cannot load {spec.class_name} ({message})") from e
    if not isinstance(module, torch.nn.Module):
        raise CheckpointError(f"{spec.folder}: {spec.class_name}.from_pretrained returned no module")
    return module.to(device).eval()
