"""Quantized and mixed checkpoints from names and dtypes alone: which tensors are weights, which are auxiliary
(scales, absmax, zero points, packed state), and how many logical values a packed weight holds.

Supported, in the order the rules are tried (``AUXILIARY`` is an ordered table; extend it for new formats):

- fp8 weights (``F8_E4M3``/``F8_E5M2``) with per-tensor or block scales (``weight_scale``, ``input_scale``,
  ``weight_scale_inv``, ComfyUI's ``scale_weight``/``scale_input`` and ``scaled_fp8`` marker): one value per byte.
- int8 (``I8``), e.g. bitsandbytes LLM.int8 with ``SCB``/``weight_format``: one value per byte.
- bitsandbytes 4-bit (NF4/FP4): the weight is ``U8`` of shape ``[ceil(n/2), 1]`` next to ``weight.absmax``,
  ``weight.quant_map``, ``weight.nested_*`` and ``weight.quant_state.bitsandbytes__*``: two values per byte; the
  exact ``n`` (odd sizes) comes from the architecture when there is one.
- NVFP4/MXFP4-style ``U8`` weights with an ``F8`` ``weight_scale`` (and ``weight_scale_2``): two values per byte.
- GPTQ/AWQ ``qweight`` (``I32`` packing ``32 / bits`` values; ``bits`` from ``quantization_config``, else 4) with
  ``qzeros``, ``scales``, ``g_idx``; the logical tensor is ``<prefix>.weight``.
- the ``F4``/``F6_*`` dtypes of safetensors: the shape is already in logical values.
- any other ``U8`` weight is counted one value per byte here; the architecture check counts it as two 4-bit
  values when the architecture's tensor has twice (or twice minus one) its elements.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..results import Result

if TYPE_CHECKING:
    from ..sources.headers import TensorInfo

__all__ = ["AUXILIARY", "QUANTIZATION_NOTES", "TensorRole", "classify_tensors"]

# (suffix, scheme, suffix of the weight it belongs to): ordered, first match wins
AUXILIARY: tuple[tuple[str, str, str], ...] = (
    (".weight.quant_state.bitsandbytes__nf4", "bnb-4bit", ".weight"),
    (".weight.quant_state.bitsandbytes__fp4", "bnb-4bit", ".weight"),
    (".weight.nested_absmax", "bnb-4bit", ".weight"),
    (".weight.nested_quant_map", "bnb-4bit", ".weight"),
    (".weight.absmax", "bnb-4bit", ".weight"),
    (".weight.quant_map", "bnb-4bit", ".weight"),
    (".SCB", "bnb-int8", ".weight"),
    (".weight_format", "bnb-int8", ".weight"),
    (".weight_scale_inv", "fp8-block-scaled", ".weight"),
    (".weight_scale_2", "fp4-scaled", ".weight"),
    (".weight_scale", "scaled", ".weight"),
    (".input_scale", "scaled", ".weight"),
    (".scale_weight", "scaled", ".weight"),
    (".scale_input", "scaled", ".weight"),
    (".comfy_quant", "scaled", ".weight"),
    (".qzeros", "gptq", ".weight"),
    (".scales", "gptq", ".weight"),
    (".g_idx", "gptq", ".weight"),
)
MARKERS = ("scaled_fp8",)  # ComfyUI's empty marker tensor
FP8 = frozenset({"F8_E4M3", "F8_E5M2", "F8_E4M3FNUZ", "F8_E5M2FNUZ"})
QUANTIZATION_NOTES = {
    "bnb-4bit": "bitsandbytes 4-bit: two values per stored byte (odd sizes exact only against an architecture)",
    "fp4-scaled": "4-bit weights packed two per byte with fp8/fp32 scales",
    "gptq": "GPTQ/AWQ: qweight packs 32/bits values per int32",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class TensorRole(Result):
    """A stored tensor and what it stands for: ``logical`` names the architecture's tensor, ``parameters`` its values.

    ``auxiliary`` tensors (scales, absmax, zero points, packed state) stand for no architecture tensor and count no
    parameters; ``packing`` says how values are packed (``None``: one per element).
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    bytes: int
    logical: str
    parameters: int
    auxiliary: bool = False
    packing: str | None = None


def _auxiliary(name: str) -> tuple[str, str] | None:
    """(scheme, logical weight name) of an auxiliary tensor, or ``None``."""
    if name in MARKERS or name.rsplit(".", 1)[-1] in MARKERS:
        return "scaled", name
    for suffix, scheme, weight in AUXILIARY:
        if name.endswith(suffix):
            return scheme, name[: -len(suffix)] + weight
    return None


def _bits(quantization_config: Mapping[str, Any] | None) -> int:
    bits = (quantization_config or {}).get("bits", 4)
    return bits if isinstance(bits, int) and bits in (2, 3, 4, 8) else 4


def classify_tensors(
    tensors: Iterable[TensorInfo], quantization_config: Mapping[str, Any] | None = None
) -> tuple[tuple[TensorRole, ...], str | None]:
    """Each tensor's role, in name order, and the quantization scheme found (``None`` for plain checkpoints)."""
    tensors = sorted(tensors, key=lambda t: t.name)
    aux = {t.name: _auxiliary(t.name) for t in tensors}
    dtypes = {t.name: t.dtype for t in tensors}
    owners: dict[str, set[str]] = {}  # logical weight -> schemes of its auxiliary tensors
    for name, found in aux.items():
        if found is not None and found[1] != name:
            owners.setdefault(found[1], set()).add(found[0])
    # a "scale" name is auxiliary only next to a weight it can scale (a quantized one, or a gptq qweight)
    roles: list[TensorRole] = []
    schemes: set[str] = set()
    for t in tensors:
        stored: dict[str, Any] = {"name": t.name, "dtype": t.dtype, "shape": t.shape, "bytes": t.nbytes}
        found = aux[t.name]
        if found is not None:
            scheme, logical = found
            qweight = logical.removesuffix(".weight") + ".qweight"
            base = dtypes.get(logical)
            plausible = (
                scheme in {"bnb-4bit", "bnb-int8"}
                or (scheme == "gptq" and qweight in dtypes)
                or (scheme not in {"bnb-4bit", "bnb-int8", "gptq"} and (base is None or base in FP8 | {"U8", "I8"}))
            )
            if plausible:
                schemes.add(scheme)
                roles.append(TensorRole(**stored, logical=logical, parameters=0, auxiliary=True))
                continue
        logical, parameters, packing = t.name, t.elements, None
        scales = owners.get(t.name, set())
        if t.name.endswith(".qweight") and t.dtype == "I32":
            logical = t.name.removesuffix(".qweight") + ".weight"
            bits = _bits(quantization_config)  # 3 bits: 32/3 values per int32, packed across words
            per = f"{32 // bits}" if 32 % bits == 0 else f"32/{bits}"
            parameters, packing = t.elements * 32 // bits, f"{per} per int32"
            schemes.add("gptq")
        elif t.dtype == "U8" and ("bnb-4bit" in scales or ({"scaled", "fp4-scaled"} & scales)):
            parameters, packing = 2 * t.elements, "2 per uint8"
            if "bnb-4bit" not in scales:
                schemes.add("fp4-scaled")
        elif t.dtype in FP8:
            schemes.add("fp8" if not scales else "fp8-scaled")
        elif t.dtype == "I8" and t.name.endswith(".weight"):
            schemes.add("int8")
        elif t.dtype in {"F4", "F6_E2M3", "F6_E3M2"}:
            schemes.add(t.dtype.lower())
        roles.append(TensorRole(**stored, logical=logical, parameters=parameters, packing=packing))
    schemes.discard("scaled")
    return tuple(roles), "+".join(sorted(schemes)) or None
