"""Storage dtypes by name and their sizes; used for MB columns and memory predictions."""

from __future__ import annotations

from .errors import ParamcheckError

__all__ = ["DTYPE_BYTES", "DTYPE_NAMES", "LOADABLE_DTYPES", "canonical_dtype", "dtype_bytes", "megabytes"]

DTYPE_BYTES: dict[str, float] = {
    "fp32": 4,
    "fp16": 2,
    "bf16": 2,
    "fp8": 1,
    "int8": 1,
    "int4": 0.5,
}
DTYPE_NAMES = tuple(DTYPE_BYTES)
LOADABLE_DTYPES = ("fp32", "fp16", "bf16")  # what from_pretrained can load weights in; the others are storage formats
ALIASES = {
    "float32": "fp32",
    "float": "fp32",
    "float16": "fp16",
    "half": "fp16",
    "bfloat16": "bf16",
    "float8": "fp8",
    "float8_e4m3fn": "fp8",
}


def canonical_dtype(name: str) -> str:
    """``fp32``/``fp16``/``bf16``/``fp8``... from a name or alias; a one-line error otherwise."""
    key = name.lower().removeprefix("torch.")
    key = ALIASES.get(key, key)
    if key not in DTYPE_BYTES:
        raise ParamcheckError(f"unknown dtype {name!r}; use one of {', '.join(DTYPE_NAMES)}")
    return key


def dtype_bytes(name: str) -> float:
    return DTYPE_BYTES[canonical_dtype(name)]


def megabytes(elements: int, dtype: str) -> float:
    """Decimal megabytes (10**6 bytes) that ``elements`` take at ``dtype``."""
    return elements * dtype_bytes(dtype) / 1e6
