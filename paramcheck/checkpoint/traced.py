"""diffusers' own single-file converters run on names and shapes: meta tensors that remember where they came from.

Each converter of ``diffusers.loaders.single_file_utils`` only renames, chunks, splits, concatenates, slices,
transposes and reshapes, and all of that works on the meta device. ``Traced`` is a meta tensor that carries the set
of header names it was made from through those operations, so after a converter has run we know, for every diffusers
name, which stored tensors produced it, and which stored tensors reached nothing (dropped by the converter).

Known limits of the converters themselves (they fail here exactly as ``from_single_file`` fails on real data):
``convert_flux_transformer_checkpoint_to_diffusers`` hard-codes ``inner_dim = 3072`` and ``mlp_ratio = 4``, so a
FLUX file of another width cannot be converted; ``convert_sd3_transformer_checkpoint_to_diffusers`` pops from its
input (it gets a copy here); ``convert_ldm_unet_checkpoint`` counts blocks from the keys it sees.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import torch

from ..errors import first_line

__all__ = ["TORCH_DTYPES", "Converted", "Traced", "convert", "traced_tensors"]

# safetensors dtype -> torch dtype of the meta tensor (conversion keeps it; unknown ones become uint8)
TORCH_DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


class Traced(torch.Tensor):
    """A meta tensor that remembers the stored tensors it came from, through chunk/split/cat/slice/transpose."""

    sources: frozenset[str]

    @staticmethod
    def make(shape: tuple[int, ...], dtype: torch.dtype, source: str) -> Traced:
        tensor = torch.empty(shape, dtype=dtype, device="meta").as_subclass(Traced)
        tensor.sources = frozenset({source})
        return tensor

    @classmethod
    def __torch_function__(
        cls, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Mapping[str, Any] | None = None
    ) -> Any:
        kwargs = dict(kwargs or {})
        with torch._C.DisableTorchFunctionSubclass():
            out = func(*args, **kwargs)
        sources: set[str] = set()

        def collect(value: Any) -> None:
            if isinstance(value, Traced):
                sources.update(getattr(value, "sources", ()))
            elif isinstance(value, list | tuple):
                for item in value:
                    collect(item)

        collect(args)
        collect(list(kwargs.values()))

        def wrap(value: Any) -> Any:
            if isinstance(value, torch.Tensor) and not isinstance(value, Traced):
                value = value.as_subclass(cls)
            if isinstance(value, Traced):
                value.sources = frozenset(sources)
                return value
            if isinstance(value, tuple):
                return tuple(wrap(v) for v in value)
            if isinstance(value, list):
                return [wrap(v) for v in value]
            return value

        return wrap(out)


def traced_tensors(shapes: Mapping[str, tuple[tuple[int, ...], str]]) -> dict[str, torch.Tensor]:
    """``name -> (shape, safetensors dtype)`` as traced meta tensors."""
    return {n: Traced.make(tuple(s), TORCH_DTYPES.get(d, torch.uint8), n) for n, (s, d) in shapes.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class Converted:
    """A converter's result: diffusers name -> shape and the stored tensors it came from, or why it failed."""

    shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()
    sources: tuple[tuple[str, frozenset[str]], ...] = ()
    error: str | None = None
    seconds: float = 0.0

    @property
    def consumed(self) -> frozenset[str]:
        """The stored tensors that reached some diffusers name."""
        return frozenset().union(*(s for _, s in self.sources))

    def renamed(self, rename: Callable[[str], str]) -> Converted:
        return Converted(
            shapes=tuple((rename(k), s) for k, s in self.shapes),
            sources=tuple((rename(k), s) for k, s in self.sources),
            error=self.error,
            seconds=self.seconds,
        )

    def plus(self, name: str, shape: tuple[int, ...]) -> Converted:
        """With one more diffusers name that the loader makes up (no stored source)."""
        return Converted(shapes=(*self.shapes, (name, shape)), sources=self.sources, seconds=self.seconds)


def _run(function: Callable[..., Any], tensors: Mapping[str, torch.Tensor], **kwargs: Any) -> Converted:
    """A diffusers converter on a copy of traced tensors. ``None`` values (``checkpoint.get`` of a missing key) are
    left out: the loader sees those names as missing."""
    start = time.perf_counter()
    try:
        out = function(checkpoint=dict(tensors), **kwargs)
    except Exception as e:  # the converters raise KeyError, RuntimeError, IndexError, ValueError, AssertionError
        error = f"{type(e).__name__}: {first_line(e)}"[:300]
        return Converted(error=error, seconds=time.perf_counter() - start)
    kept = sorted((k, v) for k, v in out.items() if isinstance(v, torch.Tensor))
    return Converted(
        shapes=tuple((k, tuple(v.shape)) for k, v in kept),
        sources=tuple((k, frozenset(getattr(v, "sources", ()))) for k, v in kept),
        seconds=time.perf_counter() - start,
    )


def convert(
    converter: str,
    tensors: Mapping[str, torch.Tensor],
    *,
    config: Mapping[str, Any],
    prefix: str = "",
    flattened: bool = True,
) -> Converted:
    """Run diffusers' converter ``converter`` (``unet``, ``vae``, ``clip``, ``open_clip``, ``t5``, ``sd3``, ``flux``)
    on traced tensors of one part; ``config`` is the target component's config, ``prefix`` the part's prefix.

    ``flattened``: transformers >= 5.6 flattens ``CLIPTextModel`` (no ``text_model.``), and diffusers strips that
    prefix after converting (``create_diffusers_clip_model_from_ldm``); the result is renamed the same way.
    """
    from diffusers.loaders import single_file_utils as sfu

    if converter == "unet":
        return _run(sfu.convert_ldm_unet_checkpoint, tensors, config=dict(config))
    if converter == "vae":
        return _run(sfu.convert_ldm_vae_checkpoint, tensors, config=dict(config))
    if converter == "t5":
        return _run(lambda checkpoint: sfu.convert_sd3_t5_checkpoint_to_diffusers(checkpoint), tensors)
    if converter == "sd3":
        return _run(sfu.convert_sd3_transformer_checkpoint_to_diffusers, tensors)
    if converter == "flux":
        return _run(sfu.convert_flux_transformer_checkpoint_to_diffusers, tensors)
    if converter == "clip":
        result = _run(sfu.convert_ldm_clip_checkpoint, tensors, remove_prefix=prefix)
    elif converter == "open_clip":
        # the converter reads text_model.config.hidden_size only (to split in_proj when there is no projection)
        model = SimpleNamespace(config=SimpleNamespace(hidden_size=int(config["hidden_size"])))
        result = _run(sfu.convert_open_clip_checkpoint, tensors, text_model=model, prefix=prefix)
    else:
        raise ValueError(f"unknown converter {converter!r}")
    return result.renamed(lambda k: k.removeprefix("text_model.")) if flattened and not result.error else result
