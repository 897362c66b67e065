"""What one image costs: per-pipeline defaults (a data table) and, per component class, the meta inputs of a forward.

The defaults are the pipelines' own (``__call__`` signatures in diffusers 0.42, model cards where the checkpoint is
meant to run otherwise); every value can be overridden on the command line. A class with no recipe here is skipped
with a note, never guessed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch

from .errors import ConfigError
from .sources import ModelSource

__all__ = [
    "DEFAULTS",
    "RECIPES",
    "PipelineDefaults",
    "Recipe",
    "defaults_for",
    "pipeline_class",
    "recipe_for",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineDefaults:
    """How a pipeline makes one image by default: size, steps, prompt tokens, and whether it runs CFG.

    ``cfg``: classifier-free guidance, i.e. a second transformer forward per step (conditional and unconditional)
    and the negative prompt encoded too. ``cfg_batched``: both halves run as one forward of twice the batch
    (activation memory doubles) rather than two forwards.
    """

    key: str
    height: int
    width: int
    steps: int
    prompt_length: int
    cfg: bool
    cfg_batched: bool = False
    source: str = ""


# Ordered: the first row whose key is the model id, else the first whose key is the pipeline class, applies.
DEFAULTS: tuple[PipelineDefaults, ...] = (
    PipelineDefaults(
        key="flux.1-schnell",
        height=1024,
        width=1024,
        steps=4,
        prompt_length=256,
        cfg=False,
        source="model card of black-forest-labs/FLUX.1-schnell: 4 steps, guidance_scale=0, max_sequence_length=256",
    ),
    PipelineDefaults(
        key="FluxPipeline",
        height=1024,
        width=1024,
        steps=28,
        prompt_length=512,
        cfg=False,
        source="FluxPipeline.__call__: num_inference_steps=28, max_sequence_length=512, guidance_scale=3.5 is "
        "a distilled guidance embedding (one forward per step), true_cfg_scale=1.0 (no CFG)",
    ),
    PipelineDefaults(
        key="Lumina2Pipeline",
        height=1024,
        width=1024,
        steps=30,
        prompt_length=256,
        cfg=True,
        source="Lumina2Pipeline.__call__: num_inference_steps=30, guidance_scale=4.0 (CFG, conditional and "
        "unconditional forwards run one after the other), max_sequence_length=256",
    ),
    PipelineDefaults(
        key="Lumina2Text2ImgPipeline",
        height=1024,
        width=1024,
        steps=30,
        prompt_length=256,
        cfg=True,
        source="Lumina2Pipeline.__call__ (the old name of the same pipeline): 30 steps, guidance_scale=4.0 (CFG)",
    ),
)


def pipeline_class(source: ModelSource) -> str | None:
    """The ``_class_name`` of the source's model_index.json, when it has one."""
    for spec in source.components:
        if spec.folder is not None:
            index = spec.folder.parent / "model_index.json"
            if index.is_file():
                name = json.loads(index.read_text(encoding="utf-8")).get("_class_name")
                return name if isinstance(name, str) else None
    return None


def defaults_for(source: ModelSource) -> PipelineDefaults:
    """The defaults row for a model; a one-line error naming the pipeline class when there is none."""
    cls = pipeline_class(source)
    for row in DEFAULTS:
        if row.key == source.model:
            return row
    for row in DEFAULTS:
        if row.key == cls:
            return row
    known = ", ".join(dict.fromkeys(r.key for r in DEFAULTS if r.key[0].isupper()))
    raise ConfigError(
        f"{source.model}: no compute defaults for pipeline {cls or '(none: not a pipeline folder)'}; "
        f"FLOPs are known for {known} (add a row to paramcheck.recipes.DEFAULTS)"
    )


def override(row: PipelineDefaults, **values: Any) -> PipelineDefaults:
    """The row with the values that are not ``None`` replaced."""
    return replace(row, **{k: v for k, v in values.items() if v is not None})


# --- forwards -------------------------------------------------------------------------------------------------

Forward = Callable[[], Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Shape:
    """What a forward sees: the image size, the number of prompt tokens and the batch."""

    height: int
    width: int
    prompt_length: int
    batch: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipe:
    """How a component class takes part in making an image.

    ``role``: ``text_encoder`` (once per prompt, and once more per negative prompt under CFG), ``denoiser`` (each
    step, twice under CFG) or ``vae_decoder`` (once per image). ``forward(module, config, shape)`` returns a
    callable running one forward on meta inputs; ``describe`` says what those inputs are.
    """

    role: str
    forward: Callable[[torch.nn.Module, Mapping[str, Any], Shape], Forward]
    describe: Callable[[Mapping[str, Any], Shape], str]


def _meta(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.empty(*shape, dtype=dtype, device="meta")


def _vae_scale(config: Mapping[str, Any]) -> int:
    return int(2 ** (len(config.get("block_out_channels", [0])) - 1))


def _text_length(config: Mapping[str, Any], shape: Shape) -> int:
    """CLIP tokenizers pad to the model's 77 positions; other encoders see the prompt length."""
    if config.get("model_type") == "clip_text_model":
        return int(config.get("max_position_embeddings", 77))
    return shape.prompt_length


def _text_forward(module: torch.nn.Module, config: Mapping[str, Any], shape: Shape) -> Forward:
    length = _text_length(config, shape)
    ids = _meta(shape.batch, length, dtype=torch.long)
    mask = torch.ones(shape.batch, length, dtype=torch.long)  # on the CPU: models read lengths from it
    if config.get("model_type") in {"clip_text_model", "t5"}:
        return lambda: module(input_ids=ids)  # FluxPipeline passes no mask to CLIP or T5
    return lambda: module(input_ids=ids, attention_mask=mask)


def _text_describe(config: Mapping[str, Any], shape: Shape) -> str:
    return f"{shape.batch}×{_text_length(config, shape)} tokens"


# Latent tensors of the denoisers: the VAE of every pipeline here downsamples by 8.
LATENT_SCALE = 8


def _latent_hw(shape: Shape, config: Mapping[str, Any], multiple: int) -> tuple[int, int]:
    step = LATENT_SCALE * multiple
    h, w = shape.height // LATENT_SCALE, shape.width // LATENT_SCALE
    if shape.height % step or shape.width % step or h <= 0 or w <= 0:
        raise ConfigError(
            f"image size {shape.height}x{shape.width}: must be a positive multiple of {LATENT_SCALE * multiple} "
            "for this transformer; choose another --height/--width"
        )
    return h, w


def _flux_forward(module: torch.nn.Module, config: Mapping[str, Any], shape: Shape) -> Forward:
    h, w = _latent_hw(shape, config, 2)
    tokens = (h // 2) * (w // 2)
    b, length = shape.batch, shape.prompt_length
    kwargs: dict[str, Any] = {
        "hidden_states": _meta(b, tokens, int(config.get("in_channels", 64))),
        "encoder_hidden_states": _meta(b, length, int(config.get("joint_attention_dim", 4096))),
        "pooled_projections": _meta(b, int(config.get("pooled_projection_dim", 768))),
        "timestep": _meta(b),
        "img_ids": _meta(tokens, 3),
        "txt_ids": _meta(length, 3),
        "return_dict": False,
    }
    if config.get("guidance_embeds"):
        kwargs["guidance"] = _meta(b)
    return lambda: module(**kwargs)


def _flux_describe(config: Mapping[str, Any], shape: Shape) -> str:
    tokens = (shape.height // 16) * (shape.width // 16)
    return f"{shape.batch}×({tokens} image + {shape.prompt_length} text) tokens"


def _lumina2_forward(module: torch.nn.Module, config: Mapping[str, Any], shape: Shape) -> Forward:
    p = int(config.get("patch_size", 2))
    h, w = _latent_hw(shape, config, p)
    b, length = shape.batch, shape.prompt_length
    kwargs = {
        "hidden_states": _meta(b, int(config.get("in_channels", 16)), h, w),
        "timestep": _meta(b),
        "encoder_hidden_states": _meta(b, length, int(config.get("cap_feat_dim", 2304))),
        "encoder_attention_mask": torch.ones(b, length, dtype=torch.bool),  # CPU: the model reads lengths from it
        "return_dict": False,
    }
    return lambda: module(**kwargs)


def _lumina2_describe(config: Mapping[str, Any], shape: Shape) -> str:
    p = int(config.get("patch_size", 2))
    tokens = (shape.height // LATENT_SCALE // p) * (shape.width // LATENT_SCALE // p)
    return f"{shape.batch}×({tokens} image + {shape.prompt_length} text) tokens"


def _vae_forward(module: torch.nn.Module, config: Mapping[str, Any], shape: Shape) -> Forward:
    scale = _vae_scale(config)
    if shape.height % scale or shape.width % scale:
        raise ConfigError(
            f"image size {shape.height}x{shape.width}: must be a multiple of {scale} for the VAE; "
            "choose another --height/--width"
        )
    z = _meta(shape.batch, int(config.get("latent_channels", 4)), shape.height // scale, shape.width // scale)
    decode: Any = module.decode  # diffusers' VAE: a method, not a submodule
    return lambda: decode(z, return_dict=False)


def _vae_describe(config: Mapping[str, Any], shape: Shape) -> str:
    scale = _vae_scale(config)
    channels = config.get("latent_channels", 4)
    return f"decode {shape.batch}×{channels}×{shape.height // scale}×{shape.width // scale} latents"


TEXT = Recipe(role="text_encoder", forward=_text_forward, describe=_text_describe)

RECIPES: Mapping[str, Recipe] = {
    "CLIPTextModel": TEXT,
    "CLIPTextModelWithProjection": TEXT,
    "T5EncoderModel": TEXT,
    "Gemma2Model": TEXT,
    "FluxTransformer2DModel": Recipe(role="denoiser", forward=_flux_forward, describe=_flux_describe),
    "Lumina2Transformer2DModel": Recipe(role="denoiser", forward=_lumina2_forward, describe=_lumina2_describe),
    "AutoencoderKL": Recipe(role="vae_decoder", forward=_vae_forward, describe=_vae_describe),
}


def recipe_for(class_name: str | None) -> Recipe | None:
    return RECIPES.get(class_name or "")
