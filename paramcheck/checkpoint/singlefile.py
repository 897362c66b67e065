"""What is this single file? Identify, split and check an original-layout checkpoint from its header alone.

The files people download (``v1-5-pruned-emaonly.safetensors``, ``sd_xl_base_1.0.safetensors``,
``sd3.5_large.safetensors``, ``flux1-dev.safetensors``, ComfyUI all-in-one files) hold several components under
prefixes (``model.diffusion_model.``, ``first_stage_model.``, ``conditioner.embedders.N.``, ``text_encoders.X.``)
in the layout of their makers. ``inspect_single_file``:

1. reads the header (names, shapes, dtypes; never data) and splits the names into parts by prefix (``PARTS``, first
   match; bare files by a signature name, ``BARE``); names no architecture holds are classified by ``EXTRAS`` (EMA
   copies, LDM schedule buffers, ``position_ids``, ...) or reported as unknown;
2. identifies the denoiser from structure and shapes (block counts, widths, context and ``adm`` dimensions, the
   guidance embedder), naming the release only when every size is the release's, never by falling back to a default
   (diffusers' ``infer_diffusers_model_type`` answers ``"v1"`` for anything it does not know);
3. checks each part against the matching component of the bundled (or ``against``) model, built on meta, twice:
   ``layout``, the architecture mapped to the original layout (``paramcheck.checkpoint.original``) against the file's
   own names (exact: a dropped block is exactly its tensors), and ``loader``, diffusers' own converter run on traced
   meta tensors (``paramcheck.checkpoint.traced``): what ``from_single_file`` would leave uninitialised, find
   unexpected or mis-shaped, or drop without a word;
4. lists the components of the target pipeline the file has no part for (a UNet-only file: no VAE).

GGUF files come through ``inspect_tensors`` with their logical shapes (``paramcheck.checkpoint.gguf``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import torch

from ..build import build_component
from ..count import buffer_counts, parameter_count
from ..errors import CheckpointError, ConfigError
from ..results import Result
from ..sources import ComponentSpec, ModelSource, resolve
from ..sources.headers import TensorInfo, read_header
from . import original
from .check import ShapeMismatch, _tie_groups
from .quantization import classify_tensors
from .summary import DtypeCount
from .traced import Converted, convert, traced_tensors

__all__ = [
    "BARE",
    "COMPONENTS",
    "EXTRAS",
    "PARTS",
    "ExtraGroup",
    "Identity",
    "LoaderStatus",
    "LoaderVerdict",
    "PartCheck",
    "PartSummary",
    "SingleFileReport",
    "inspect_single_file",
    "inspect_tensors",
    "is_single_file",
    "split_parts",
]

# prefix -> part kind; ordered, first match wins
PARTS: tuple[tuple[str, str], ...] = (
    ("model.diffusion_model.", "denoiser"),
    ("first_stage_model.", "vae"),
    ("vae.", "vae"),
    ("cond_stage_model.transformer.", "clip_l"),  # SD 1.x: HF CLIP ViT-L/14
    ("cond_stage_model.model.", "open_clip"),  # SD 2.x: OpenCLIP ViT-H/14
    ("conditioner.embedders.0.transformer.", "clip_l"),  # SDXL base
    ("conditioner.embedders.1.model.", "open_clip"),  # SDXL base: OpenCLIP ViT-bigG/14
    ("conditioner.embedders.0.model.", "open_clip"),  # SDXL refiner: bigG alone
    ("text_encoders.clip_l.transformer.", "clip_l"),  # SD3, ComfyUI FLUX
    ("text_encoders.clip_g.transformer.", "clip_g"),  # SD3: bigG in HF layout
    ("text_encoders.t5xxl.transformer.", "t5xxl"),
)
# bare files (BFL's flux1-dev.safetensors and ae.safetensors, SAI's transformer-only files, GGUF): a signature name
BARE: tuple[tuple[str, str], ...] = (
    ("double_blocks.0.img_attn.qkv.weight", "denoiser"),
    ("joint_blocks.0.x_block.attn.qkv.weight", "denoiser"),
    ("input_blocks.0.0.weight", "denoiser"),
    ("encoder.down.0.block.0.conv1.weight", "vae"),
)
# names no architecture holds and what they are; ordered regexes, first match wins (stable-diffusion.cpp's
# ``unused_tensors`` in model.cpp is the field's inventory of these)
EXTRAS: tuple[tuple[str, str], ...] = (
    (r"^model_ema\.(decay|num_updates)$", "EMA bookkeeping (LDM training leftover)"),
    (r"^model_ema\.", "EMA copy of the UNet (LDM training leftover)"),
    (
        r"^(betas|alphas_cumprod|alphas_cumprod_prev|sqrt_alphas_cumprod|sqrt_one_minus_alphas_cumprod|"
        r"log_one_minus_alphas_cumprod|sqrt_recip_alphas_cumprod|sqrt_recipm1_alphas_cumprod|posterior_variance|"
        r"posterior_log_variance_clipped|posterior_mean_coef1|posterior_mean_coef2)$",
        "noise-schedule buffer (LDM training leftover)",
    ),
    (r"\.position_ids$", "CLIP position_ids buffer (older transformers saved it)"),
    (r"\.logit_scale$", "OpenCLIP logit_scale (contrastive head, unused by text encoding)"),
    (
        r"^cond_stage_model\.model\.(transformer\.resblocks\.23\.|text_projection$)",
        "OpenCLIP-H last layer and projection (SD 2.x uses the penultimate layer; diffusers ignores them)",
    ),
    (r"(^|\.)scaled_fp8$", "ComfyUI scaled-fp8 marker"),
    (r"^(edm_mean|edm_std)$", "EDM latent statistics (Playground v2.5)"),
    (r"^(v_pred|ztsnr|edm_vpred\.sigma_(min|max)|denoiser\.sigmas)$", "sampling marker (v-prediction/ZTSNR/EDM)"),
)
# part kind -> component name, per pipeline class (the names diffusers gives them)
_SD = {"denoiser": "unet", "vae": "vae", "clip_l": "text_encoder", "open_clip": "text_encoder"}
_SDXL = {"denoiser": "unet", "vae": "vae", "clip_l": "text_encoder", "open_clip": "text_encoder_2"}
COMPONENTS: dict[str, dict[str, str]] = {
    "StableDiffusionPipeline": _SD,
    "StableDiffusionXLPipeline": _SDXL,
    "StableDiffusionXLImg2ImgPipeline": _SDXL,
    "StableDiffusion3Pipeline": {
        "denoiser": "transformer",
        "vae": "vae",
        "clip_l": "text_encoder",
        "clip_g": "text_encoder_2",
        "t5xxl": "text_encoder_3",
    },
    "FluxPipeline": {"denoiser": "transformer", "vae": "vae", "clip_l": "text_encoder", "t5xxl": "text_encoder_2"},
}
# the model class of a component -> (the part kinds it can hold, diffusers' converter for it)
CLASSES: dict[str, tuple[tuple[str, ...], str]] = {
    "UNet2DConditionModel": (("denoiser",), "unet"),
    "SD3Transformer2DModel": (("denoiser",), "sd3"),
    "FluxTransformer2DModel": (("denoiser",), "flux"),
    "AutoencoderKL": (("vae",), "vae"),
    "CLIPTextModel": (("clip_l", "open_clip", "clip_g"), "clip"),
    "CLIPTextModelWithProjection": (("clip_g", "open_clip", "clip_l"), "clip"),
    "T5EncoderModel": (("t5xxl",), "t5"),
}
FAMILY_CLASS = {"flux": "FluxTransformer2DModel", "sd3": "SD3Transformer2DModel", "ldm-unet": "UNet2DConditionModel"}
SAI_CLIP_L = "text_encoders.clip_l.transformer."  # SAI's clip_l stores no text_projection; diffusers adds the identity

Shapes = dict[str, tuple[tuple[int, ...], str]]  # name -> (logical shape, stored dtype)


class LoaderStatus(StrEnum):
    """What diffusers' ``from_single_file`` would make of a part: ``loads`` it whole, loads it ``incomplete`` (some
    tensors left uninitialised, or stored ones dropped), or ``fails`` (its converter raises, or a shape is wrong)."""

    LOADS = "loads"
    INCOMPLETE = "incomplete"
    FAILS = "fails"


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity(Result):
    """The denoiser's architecture: ``family`` (``flux``, ``sd3``, ``ldm-unet``, ``vae-only``, ``unknown``),
    ``model`` when every size is a release's, ``bundled`` the bundled id it is checked against by default."""

    family: str
    model: str | None = None
    bundled: str | None = None
    facts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PartSummary(Result):
    """One component stored in the file: its prefix, tensors, logical parameters and dtype mix."""

    kind: str
    prefix: str
    tensors: int
    parameters: int
    bytes: int
    dtypes: tuple[DtypeCount, ...]
    quantization: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtraGroup(Result):
    """Stored tensors no architecture holds, grouped by what they are (``EXTRAS``)."""

    what: str
    tensors: int
    elements: int
    examples: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LoaderVerdict(Result):
    """diffusers' converter run on the part's names and shapes: the diffusers names it would leave ``missing``
    (uninitialised), the ``unexpected`` ones, ``shapes`` that differ, stored tensors it ``dropped``, or ``error``."""

    converter: str
    status: LoaderStatus = field(init=False)
    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    shapes: tuple[ShapeMismatch, ...] = ()
    dropped: tuple[str, ...] = ()
    error: str | None = None

    def __post_init__(self) -> None:
        if self.error or self.shapes:
            status = LoaderStatus.FAILS
        elif self.missing or self.unexpected or self.dropped:
            status = LoaderStatus.INCOMPLETE
        else:
            status = LoaderStatus.LOADS
        self._derive(status=status)


@dataclass(frozen=True, slots=True, kw_only=True)
class PartCheck(Result):
    """One part against its component's architecture: ``ok`` when the file's own names and shapes are exactly the
    architecture's in the original layout (``missing``, ``extra``, ``shapes`` are in the file's names)."""

    part: str
    prefix: str
    component: str
    class_name: str | None
    ok: bool = field(init=False)
    tensors: int
    parameters: int
    architecture_parameters: int
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    shapes: tuple[ShapeMismatch, ...] = ()
    loader: LoaderVerdict | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self._derive(ok=not (self.missing or self.extra or self.shapes))


@dataclass(frozen=True, slots=True, kw_only=True)
class SingleFileReport(Result):
    """What a single file holds and, when checked, whether each part matches (``ok``: every check matches;
    ``checked``: whether any part was checked at all)."""

    location: str
    format: str
    tensors: int
    bytes: int
    identity: Identity
    parts: tuple[PartSummary, ...]
    extras: tuple[ExtraGroup, ...] = ()
    unknown: tuple[str, ...] = ()
    ema: str | None = None
    against: str | None = None
    checks: tuple[PartCheck, ...] = ()
    absent: tuple[str, ...] = ()
    unchecked: tuple[str, ...] = ()
    ok: bool = field(init=False)
    checked: bool = field(init=False)
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self._derive(ok=all(c.ok for c in self.checks), checked=bool(self.checks))

    def check(self, component: str) -> PartCheck | None:
        return next((c for c in self.checks if c.component == component), None)


@dataclass(frozen=True, slots=True)
class _Part:
    kind: str
    prefix: str
    tensors: tuple[TensorInfo, ...]

    def shapes(self) -> Shapes:
        return {t.name: (t.shape, t.dtype) for t in self.tensors}


# --- splitting --------------------------------------------------------------------------------------------------------


def _extra(name: str) -> str | None:
    return next((what for pattern, what in EXTRAS if re.search(pattern, name)), None)


def split_parts(tensors: Iterable[TensorInfo]) -> tuple[tuple[_Part, ...], dict[str, str]]:
    """Parts by prefix (bare files by signature), and every other name -> what it is (``EXTRAS``) or ``unknown``."""
    tensors = tuple(tensors)
    names = {t.name for t in tensors}
    bare = next((kind for signature, kind in BARE if signature in names), None)
    buckets: dict[tuple[str, str], list[TensorInfo]] = {}
    rest: dict[str, str] = {}
    for t in tensors:
        prefix, kind = next(((p, k) for p, k in PARTS if t.name.startswith(p)), ("", None))
        extra = _extra(t.name)
        if extra is not None and kind in (None, "clip_l", "open_clip"):
            rest[t.name] = extra
        elif kind is not None:
            buckets.setdefault((kind, prefix), []).append(t)
        elif bare is not None:
            buckets.setdefault((bare, ""), []).append(t)
        else:
            rest[t.name] = "unknown"
    parts = tuple(_Part(kind=k, prefix=p, tensors=tuple(v)) for (k, p), v in buckets.items())
    return parts, rest


def is_single_file(tensors: Iterable[TensorInfo]) -> bool:
    """Whether the names are an original single-file layout (a known prefix or a bare signature)."""
    parts, _ = split_parts(tensors)
    return bool(parts)


def ema_status(names: Iterable[str]) -> str | None:
    """diffusers' own EMA rule (``convert_ldm_unet_checkpoint``): ``model_ema.<UNet name without its dots>``."""
    names = set(names)
    ema = {n for n in names if n.startswith("model_ema.") and n not in {"model_ema.decay", "model_ema.num_updates"}}
    if not ema:
        return None
    unet = [n for n in names if n.startswith("model.diffusion_model.")]
    flat = {"model_ema." + "".join(n.split(".")[1:]) for n in unet}
    matched = len(ema & flat)
    whole = "a full copy" if matched == len(unet) == len(ema) else f"{matched} of {len(unet)} UNet tensors"
    return f"{len(ema)} EMA tensors: {whole} (diffusers loads them only with extract_ema=True, and only > 100)"


# --- identification ---------------------------------------------------------------------------------------------------


def _blocks(names: Iterable[str], pattern: str) -> int:
    found = {int(m.group(1)) for n in names if (m := re.match(pattern, n))}
    return max(found) + 1 if found else 0


def identify(parts: Sequence[_Part]) -> Identity:
    """The denoiser's architecture from structure and shapes; the release when every size is the release's."""
    denoiser = next((p for p in parts if p.kind == "denoiser"), None)
    if denoiser is None:
        kinds = ", ".join(sorted({p.kind for p in parts}))
        family = "vae-only" if kinds == "vae" else "no-denoiser"
        return Identity(family=family, facts=(f"no denoiser; parts: {kinds or 'none'}",))
    t = {n.name[len(denoiser.prefix) :]: n.shape for n in denoiser.tensors}
    if "double_blocks.0.img_attn.qkv.weight" in t and "img_in.weight" in t:
        return _flux(t)
    if "joint_blocks.0.x_block.attn.qkv.weight" in t and "x_embedder.proj.weight" in t:
        return _sd3(t)
    if "input_blocks.0.0.weight" in t:
        return _unet(t, parts)
    return Identity(family="unknown", facts=("a denoiser prefix but no known block layout",))


def _flux(t: Mapping[str, tuple[int, ...]]) -> Identity:
    width, channels = t["img_in.weight"][:2]
    double, single = _blocks(t, r"double_blocks\.(\d+)\."), _blocks(t, r"single_blocks\.(\d+)\.")
    guidance = "guidance_in.in_layer.weight" in t
    variant = {64: "", 384: "-fill", 128: "-depth/canny"}.get(channels, f"-in{channels}")
    released = width == 3072 and (double, single) == (19, 38)
    name = ("flux.1-dev" if guidance else "flux.1-schnell") + variant
    facts = (
        f"width {width}",
        f"{double} double + {single} single blocks",
        f"img_in {channels} channels",
        "guidance embedder (dev-like, guidance-distilled)" if guidance else "no guidance embedder (schnell-like)",
    )
    return Identity(
        family="flux",
        model=name if released else None,
        bundled=name if released and not variant else None,
        facts=facts,
    )


def _sd3(t: Mapping[str, tuple[int, ...]]) -> Identity:
    width = t["x_embedder.proj.weight"][0]
    depth = _blocks(t, r"joint_blocks\.(\d+)\.")
    dual = {int(m.group(1)) for n in t if (m := re.match(r"joint_blocks\.(\d+)\.x_block\.attn2\.", n))}
    qk = "joint_blocks.0.x_block.attn.ln_q.weight" in t
    pos = t.get("pos_embed", (0, 0))
    facts = (
        f"width {width}",
        f"{depth} joint blocks",
        f"attn2 in {len(dual)} blocks" if dual else "no attn2",
        "qk-norm" if qk else "no qk-norm",
        f"pos_embed {pos[1] if len(pos) > 1 else 0} positions",
    )
    model = None
    if (width, depth) == (2432, 38) and qk and not dual:
        model = "sd3.5-large"
    elif (width, depth) == (1536, 24) and dual and qk:
        model = "sd3.5-medium"
    elif (width, depth) == (1536, 24) and not dual and not qk:
        model = "sd3-medium"
    bundled = model if model in {"sd3.5-large", "sd3.5-medium"} else None
    return Identity(family="sd3", model=model, bundled=bundled, facts=facts)


def _unet(t: Mapping[str, tuple[int, ...]], parts: Sequence[_Part]) -> Identity:
    channels, in_channels = t["input_blocks.0.0.weight"][:2]
    context = next((s[1] for n, s in t.items() if n.endswith("attn2.to_k.weight")), None)
    adm = t["label_emb.0.0.weight"][1] if "label_emb.0.0.weight" in t else None
    levels = 1 + sum(1 for n in t if re.match(r"input_blocks\.\d+\.0\.op\.weight$", n))
    sgm = any(p.prefix.startswith("conditioner.") for p in parts)
    facts: tuple[str, ...] = (
        f"model channels {channels}",
        f"{levels} levels",
        f"in_channels {in_channels}",
        f"context dim {context}",
        f"adm_in_channels {adm}" if adm else "no label_emb",
        "SGM layout (conditioner.embedders)" if sgm else "LDM layout",
    )
    kind = {4: "", 9: "-inpainting", 8: "-instruct-pix2pix"}.get(in_channels, f"-in{in_channels}")
    model = None
    if adm is None and context == 768 and channels == 320 and levels == 4:
        model = "sd-1.x" + kind
    elif adm is None and context == 1024 and channels == 320 and levels == 4:
        model = "sd-2.x" + kind
        facts = (*facts, "512-base or 768-v: the prediction type is not in the weights")
    elif adm == 2816 and context == 2048 and channels == 320 and levels == 3:
        model = "sdxl-base" + kind
    elif adm == 2560 and context == 1280 and channels == 384 and levels == 4:
        model = "sdxl-refiner"
    bundled = {"sd-1.x": "sd-1.5", "sdxl-base": "sdxl-base-1.0"}.get(model or "")
    return Identity(family="ldm-unet", model=model, bundled=bundled, facts=facts)


# --- summaries --------------------------------------------------------------------------------------------------------


def _summary(part: _Part) -> PartSummary:
    roles, scheme = classify_tensors(part.tensors)
    rows: dict[str, list[int]] = {}
    for t in part.tensors:
        row = rows.setdefault(t.dtype, [0, 0, 0])
        row[0] += 1
        row[1] += t.elements
        row[2] += t.nbytes
    dtypes = tuple(DtypeCount(dtype=d, tensors=v[0], elements=v[1], bytes=v[2]) for d, v in sorted(rows.items()))
    return PartSummary(
        kind=part.kind,
        prefix=part.prefix,
        tensors=len(part.tensors),
        parameters=sum(r.parameters for r in roles if not r.auxiliary),
        bytes=sum(t.nbytes for t in part.tensors),
        dtypes=dtypes,
        quantization=scheme,
    )


def _extras(rest: Mapping[str, str], shapes: Mapping[str, tuple[int, ...]]) -> tuple[ExtraGroup, ...]:
    groups: dict[str, list[str]] = {}
    for name, what in rest.items():
        if what != "unknown":
            groups.setdefault(what, []).append(name)
    return tuple(
        ExtraGroup(
            what=what, tensors=len(names), elements=sum(math.prod(shapes[n]) for n in names), examples=tuple(names[:3])
        )
        for what, names in groups.items()
    )


# --- checking one part ------------------------------------------------------------------------------------------------


def _expected_original(
    converter: str, prefix: str, state: Mapping[str, torch.Tensor], config: Mapping[str, Any]
) -> dict[str, tuple[int, ...]]:
    """The architecture's tensors in the original layout, with the part's prefix."""
    if converter == "unet":
        out = original.unet_to_ldm(state, config)
    elif converter == "flux":
        out = original.flux_to_original(state, config)
    elif converter == "sd3":
        out = original.sd3_to_original(state, config)
    elif converter == "vae":
        out = original.vae_to_ldm(state, config)
    elif converter == "t5":  # HF layout; the tied encoder.embed_tokens is stored once, as shared
        out = {k: v for k, v in state.items() if k != "encoder.embed_tokens.weight"}
    elif prefix.endswith(".model."):  # OpenCLIP layout (cond_stage_model.model., conditioner.embedders.N.model.)
        out = original.openclip_from_hf(state)
    else:
        out = original.clip_hf_names(state)
        if prefix == SAI_CLIP_L:
            out.pop("text_projection.weight", None)
    return {prefix + k: tuple(v.shape) for k, v in out.items()}


def _loader(
    converter: str, part: _Part, tensors: Shapes, module: torch.nn.Module, config: Mapping[str, Any]
) -> Converted:
    if converter == "clip" and part.kind == "open_clip":
        converter = "open_clip"
    flattened = not hasattr(module, "text_model")
    result = convert(converter, traced_tensors(tensors), config=config, prefix=part.prefix, flattened=flattened)
    state = module.state_dict()
    if part.prefix == SAI_CLIP_L and "text_projection.weight" in state and not result.error:
        # create_diffusers_clip_model_from_ldm sets SD3's clip_l projection to torch.eye(width)
        result = result.plus("text_projection.weight", tuple(state["text_projection.weight"].shape))
    return result


def _loader_verdict(
    converter: str, result: Converted, part_names: Iterable[str], module: torch.nn.Module
) -> LoaderVerdict:
    if result.error:
        return LoaderVerdict(converter=converter, error=result.error)
    state = module.state_dict()
    got = dict(result.shapes)
    ties = _tie_groups(module, set(state))
    missing = tuple(sorted(n for n in set(state) - set(got) if not (ties.get(n, frozenset()) & set(got))))
    shapes = tuple(
        ShapeMismatch(name=n, expected=tuple(state[n].shape), found=got[n], dtype="")
        for n in sorted(set(got) & set(state))
        if got[n] != tuple(state[n].shape)
    )
    return LoaderVerdict(
        converter=converter,
        missing=missing,
        unexpected=tuple(sorted(set(got) - set(state))),
        shapes=shapes,
        dropped=tuple(sorted(set(part_names) - result.consumed)),
    )


def check_part(part: _Part, spec: ComponentSpec, family: str) -> PartCheck:
    """One part against the component ``spec`` describes, built on meta: the layout view and the loader view."""
    module = build_component(spec)
    if module is None or spec.config is None:
        raise ConfigError(f"{spec.location}: {spec.class_name} has no parameters to compare; name a model component")
    config = dict(spec.config)
    roles, _ = classify_tensors(part.tensors)
    auxiliary = {r.name for r in roles if r.auxiliary}
    common: dict[str, Any] = {
        "part": part.kind,
        "prefix": part.prefix,
        "component": spec.name,
        "class_name": spec.class_name,
        "tensors": len(part.tensors),
        "parameters": sum(r.parameters for r in roles if not r.auxiliary),
        "architecture_parameters": parameter_count(module) + buffer_counts(module).persistent,
    }
    kinds, converter = CLASSES.get(spec.class_name or "", ((), ""))
    want_family = next((f for f, c in FAMILY_CLASS.items() if c == spec.class_name), None)
    if part.kind not in kinds or (part.kind == "denoiser" and family in FAMILY_CLASS and family != want_family):
        what = family if part.kind == "denoiser" else part.kind
        note = f"the file's {what} part is not a {spec.class_name}: compared by totals only"
        return PartCheck(**common, extra=tuple(t.name for t in part.tensors), notes=(note,))
    notes: list[str] = []
    if auxiliary:
        scales = sum(1 for n in auxiliary if n.endswith((".scale_weight", ".weight_scale")))
        notes.append(f"{len(auxiliary)} quantization auxiliary tensors ({scales} weight scales) set aside")
        if scales:
            notes.append(
                "diffusers' from_single_file does not apply scale_weight/weight_scale: it loads the raw fp8 values "
                "(off by each layer's scale) and only warns that the scales were 'not used'"
            )
    kept = _Part(kind=part.kind, prefix=part.prefix, tensors=tuple(t for t in part.tensors if t.name not in auxiliary))
    have = {t.name: t.shape for t in kept.tensors}
    state = module.state_dict()
    want = _expected_original(converter, part.prefix, state, config)
    shapes = tuple(
        ShapeMismatch(name=n, expected=want[n], found=have[n], dtype=next(t.dtype for t in kept.tensors if t.name == n))
        for n in sorted(set(want) & set(have))
        if want[n] != have[n]
    )
    result = _loader(converter, kept, kept.shapes(), module, config)
    loader = _loader_verdict(converter, result, have, module)
    if part.prefix == SAI_CLIP_L and "text_projection.weight" in state:
        n = state["text_projection.weight"].numel()
        notes.append(f"text_projection ({n:,} parameters) is not stored: diffusers substitutes the identity")
    if loader.error:
        notes.append("diffusers' converter cannot run on this part: from_single_file fails the same way")
    elif loader.missing and spec.library == "transformers":
        notes.append(
            f"from_single_file would leave {len(loader.missing)} tensors on meta and load without a word "
            "(load_model_dict_into_meta skips absent names)"
        )
    elif loader.missing:
        notes.append(
            f"from_single_file would leave {len(loader.missing)} tensors on meta, then fail with 'Cannot copy out "
            "of meta tensor' (dispatch_model), naming none of them"
        )
    return PartCheck(
        **common,
        missing=tuple(sorted(set(want) - set(have))),
        extra=tuple(sorted(set(have) - set(want))),
        shapes=shapes,
        loader=loader,
        notes=tuple(notes),
    )


# --- the whole file ---------------------------------------------------------------------------------------------------


def _target(against: str) -> tuple[ModelSource, str]:
    """``MODEL[:COMPONENT]`` -> the model source and the component named (``""``: the whole pipeline)."""
    model, colon, component = against.rpartition(":")
    if not colon or "/" in component:  # the colon (if any) belongs to the model, e.g. hub:
        model, component = against, ""
    source = resolve(model)
    if component:
        spec = source.component(component)
        if spec.config is None:
            raise ConfigError(f"{against}: {spec.class_name or component} has no parameters; name a model component")
    return source, component


def _pairs(
    parts: Sequence[_Part], source: ModelSource, component: str
) -> tuple[list[tuple[_Part, ComponentSpec]], tuple[str, ...]]:
    """Each part with the component it is checked against, and the model components no part stands for."""
    models = [c for c in source.components if c.config is not None]
    if component:
        spec = source.component(component)
        kinds = CLASSES.get(spec.class_name or "", ((), ""))[0]
        part = next((p for k in kinds for p in parts if p.kind == k), None)
        if part is None and len(parts) == 1:
            part = parts[0]
        return ([(part, spec)] if part else []), (() if part else (component,))
    if len(models) == 1 and source.pipeline_class is None:  # a single model folder
        spec = models[0]
        kinds = CLASSES.get(spec.class_name or "", ((), ""))[0]
        part = next((p for k in kinds for p in parts if p.kind == k), None)
        return ([(part, spec)] if part else []), (() if part else (spec.name,))
    table = COMPONENTS.get(source.pipeline_class or "")
    if table is None:
        raise ConfigError(
            f"{source.model}: a {source.pipeline_class} has no single-file layout paramcheck knows; name a component "
            f"as {source.model}:COMPONENT"
        )
    by_name = {c.name: c for c in models}
    pairs = [(p, by_name[table[p.kind]]) for p in parts if table.get(p.kind) in by_name]
    covered = {spec.name for _, spec in pairs}
    absent = tuple(c.name for c in models if c.name not in covered and c.name in set(table.values()))
    return pairs, absent


def inspect_tensors(
    location: str,
    tensors: Sequence[TensorInfo],
    *,
    file_bytes: int,
    fmt: str = "safetensors",
    against: str | None = None,
    check: bool = True,
) -> SingleFileReport:
    """Identify, split and (``check``: against ``against``, else the bundled release identified) check ``tensors``."""
    parts, rest = split_parts(tensors)
    identity = identify(parts)
    shapes = {t.name: t.shape for t in tensors}
    report = SingleFileReport(
        location=location,
        format=fmt,
        tensors=len(tensors),
        bytes=file_bytes,
        identity=identity,
        parts=tuple(_summary(p) for p in parts),
        extras=_extras(rest, shapes),
        unknown=tuple(sorted(n for n, w in rest.items() if w == "unknown")),
        ema=ema_status(shapes),
    )
    target = against or identity.bundled
    if not check or target is None:
        return report
    source, component = _target(target)
    pairs, absent = _pairs(parts, source, component)
    checks = tuple(check_part(part, spec, identity.family) for part, spec in pairs)
    checked = {(p.kind, p.prefix) for p, _ in pairs}
    unchecked = tuple(f"{p.kind}:{p.prefix or '(bare)'}" for p in parts if (p.kind, p.prefix) not in checked)
    return dataclasses.replace(report, against=target, checks=checks, absent=absent, unchecked=unchecked)


def quantization_notes(metadata: Mapping[str, str], tensors: Sequence[TensorInfo]) -> tuple[str, ...]:
    """What ComfyUI's quantization metadata says (``__metadata__["_quantization_metadata"]``: per-layer formats) and
    its ``scaled_fp8`` marker, checked against the stored dtypes (a per-layer ``.comfy_quant`` tensor is data)."""
    notes: list[str] = []
    dtypes = {t.name: t.dtype for t in tensors}
    marker = next((t for t in tensors if t.name.rsplit(".", 1)[-1] == "scaled_fp8"), None)
    if marker is not None:
        kind = "e4m3fn" if marker.dtype in {"F32", "F8_E4M3"} else marker.dtype
        fast = "" if marker.elements == 2 else "; fp8 matmul allowed"
        notes.append(f"ComfyUI scaled fp8 ({kind}; legacy scale_weight per layer{fast})")
    raw = metadata.get("_quantization_metadata")
    if raw is None:
        return tuple(notes)
    try:
        layers = json.loads(raw).get("layers", {})
    except (ValueError, AttributeError):
        return (*notes, "_quantization_metadata is not the JSON object ComfyUI writes; ignored")
    if not isinstance(layers, dict):
        return tuple(notes)
    formats: dict[str, int] = {}
    unquantized: list[str] = []
    for layer, info in layers.items():
        fmt = str(info.get("format", "?")) if isinstance(info, dict) else "?"
        formats[fmt] = formats.get(fmt, 0) + 1
        stored = next((dtypes[n] for n in (f"{layer}.weight", layer) if n in dtypes), None)
        if stored is not None and stored not in {"F8_E4M3", "F8_E5M2", "U8", "I8"}:
            unquantized.append(f"{layer} ({stored})")
    listed = ", ".join(f"{f} {n}" for f, n in sorted(formats.items()))
    notes.append(f"ComfyUI _quantization_metadata: {len(layers)} layers ({listed})")
    if unquantized:
        notes.append(f"listed as quantized but stored unquantized: {len(unquantized)}, e.g. {unquantized[0]}")
    return tuple(notes)


def inspect_single_file(path: str | Path, *, against: str | None = None, check: bool = True) -> SingleFileReport:
    """``inspect_tensors`` of a safetensors file's header; a file in no single-file layout is refused."""
    header = read_header(path)
    if not is_single_file(header.tensors):
        raise CheckpointError(
            f"{path}: not an original single-file layout (no model.diffusion_model./first_stage_model./... prefix, "
            "no BFL/SAI/LDM signature); check it as a diffusers or transformers checkpoint with --against MODEL"
        )
    size = Path(path).stat().st_size
    report = inspect_tensors(str(path), header.tensors, file_bytes=size, against=against, check=check)
    notes = quantization_notes(dict(header.metadata), header.tensors)
    return dataclasses.replace(report, notes=(*report.notes, *notes)) if notes else report
