"""What one image costs: per-pipeline defaults (a data table) and, per component class, the meta inputs of a forward.

The defaults are the pipelines' own (``__call__`` signatures in diffusers 0.42, model cards where the checkpoint is
meant to run otherwise); every value can be overridden on the command line. A class with no recipe here is skipped
with a note, never guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch

from ..errors import ConfigError
from ..sources import ModelSource
from . import inputs as mi
from .inputs import Forward, Shape

__all__ = [
    "DEFAULTS",
    "RECIPES",
    "PipelineDefaults",
    "Recipe",
    "Shape",
    "defaults_for",
    "latent_scales",
    "recipe_for",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineDefaults:
    """How a pipeline makes one image by default: size, steps, prompt tokens, and whether it runs CFG.

    ``cfg``: classifier-free guidance, i.e. a second transformer forward per step (conditional and unconditional)
    and the negative prompt encoded too. ``cfg_batched``: both halves run as one forward of twice the batch
    (activation memory doubles) rather than two forwards. ``frames``: video frames (1 for an image).
    ``encode_negative``: under CFG the text encoders also run on the negative prompt (SDXL skips that and uses
    zeros when no negative prompt is given). ``text_tokens``: components whose token count the pipeline fixes
    whatever ``prompt_length`` is, as (component name, tokens).
    """

    key: str
    height: int
    width: int
    steps: int
    prompt_length: int
    cfg: bool
    cfg_batched: bool = False
    frames: int = 1
    encode_negative: bool = True
    text_tokens: tuple[tuple[str, int], ...] = ()
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
    PipelineDefaults(
        key="StableDiffusion3Pipeline",
        height=1024,
        width=1024,
        steps=28,
        prompt_length=256,
        cfg=True,
        cfg_batched=True,
        source="StableDiffusion3Pipeline.__call__: num_inference_steps=28, guidance_scale=7.0 (CFG: "
        "latents concatenated twice, one forward of twice the batch), max_sequence_length=256 (T5; the transformer "
        "sees 77 CLIP + 256 T5 tokens), height = default_sample_size 128 × vae_scale_factor 8",
    ),
    PipelineDefaults(
        key="StableDiffusionXLPipeline",
        height=1024,
        width=1024,
        steps=50,
        prompt_length=77,
        cfg=True,
        cfg_batched=True,
        encode_negative=False,
        source="StableDiffusionXLPipeline.__call__: num_inference_steps=50, guidance_scale=5.0 (CFG, batched), "
        "CLIP prompts padded to 77; force_zeros_for_empty_prompt=True: no negative prompt is encoded, zeros are "
        "used; height = unet sample_size 128 × vae_scale_factor 8",
    ),
    PipelineDefaults(
        key="StableDiffusionPipeline",
        height=512,
        width=512,
        steps=50,
        prompt_length=77,
        cfg=True,
        cfg_batched=True,
        source="StableDiffusionPipeline.__call__: num_inference_steps=50, guidance_scale=7.5 (CFG, batched), "
        "CLIP prompts padded to 77, the negative prompt '' encoded; height = unet sample_size 64 × "
        "vae_scale_factor 8; the safety checker runs once per call on the decoded images",
    ),
    PipelineDefaults(
        key="PixArtSigmaPipeline",
        height=1024,
        width=1024,
        steps=20,
        prompt_length=300,
        cfg=True,
        cfg_batched=True,
        source="PixArtSigmaPipeline.__call__: num_inference_steps=20, guidance_scale=4.5 (CFG, batched), "
        "negative_prompt='' encoded, max_sequence_length=300; height = transformer sample_size 128 × 8",
    ),
    PipelineDefaults(
        key="LuminaText2ImgPipeline",
        height=1024,
        width=1024,
        steps=30,
        prompt_length=256,
        cfg=True,
        cfg_batched=True,
        source="LuminaPipeline.__call__ (LuminaText2ImgPipeline is its old name): num_inference_steps=30, "
        "guidance_scale=4.0 (CFG, batched), max_sequence_length=256; height = sample_size 128 × 8",
    ),
    PipelineDefaults(
        key="LuminaPipeline",
        height=1024,
        width=1024,
        steps=30,
        prompt_length=256,
        cfg=True,
        cfg_batched=True,
        source="LuminaPipeline.__call__: num_inference_steps=30, guidance_scale=4.0 (CFG, batched), "
        "max_sequence_length=256; height = sample_size 128 × 8",
    ),
    PipelineDefaults(
        key="QwenImagePipeline",
        height=1024,
        width=1024,
        steps=50,
        prompt_length=512,
        cfg=False,
        source="QwenImagePipeline.__call__: num_inference_steps=50, max_sequence_length=512, true_cfg_scale=4.0 "
        "but negative_prompt=None, and true CFG runs only with a negative prompt (--cfg counts it: two "
        "forwards per step); height = default_sample_size 128 × vae_scale_factor 8; the encoder's 34 template "
        "tokens are not counted",
    ),
    PipelineDefaults(
        key="WanPipeline",
        height=480,
        width=832,
        steps=50,
        prompt_length=512,
        cfg=True,
        frames=81,
        source="WanPipeline.__call__: height=480, width=832, num_frames=81 (21 latent frames), "
        "num_inference_steps=50, guidance_scale=5.0 (CFG: conditional and unconditional forwards one after "
        "the other), max_sequence_length=512",
    ),
    PipelineDefaults(
        key="SanaPipeline",
        height=1024,
        width=1024,
        steps=20,
        prompt_length=300,
        cfg=True,
        cfg_batched=True,
        source="SanaPipeline.__call__: height=width=1024, num_inference_steps=20, guidance_scale=4.5 (CFG, "
        "batched), max_sequence_length=300; the default complex_human_instruction lengthens the Gemma forward "
        "by its own tokens (not counted: no tokenizer here)",
    ),
    PipelineDefaults(
        key="AuraFlowPipeline",
        height=1024,
        width=1024,
        steps=50,
        prompt_length=256,
        cfg=True,
        cfg_batched=True,
        source="AuraFlowPipeline.__call__: height=width=1024, num_inference_steps=50, guidance_scale=3.5 (CFG, "
        "batched), max_sequence_length=256",
    ),
    PipelineDefaults(
        key="HunyuanDiTPipeline",
        height=1024,
        width=1024,
        steps=50,
        prompt_length=256,
        cfg=True,
        cfg_batched=True,
        text_tokens=(("text_encoder", 77), ("text_encoder_2", 256)),
        source="HunyuanDiTPipeline.__call__: num_inference_steps=50, guidance_scale=5.0 (CFG, batched); "
        "encode_prompt pads Bert to 77 and T5 to 256 tokens (fixed: the transformer's T5 pooler takes exactly "
        "text_len_t5 = 256); height = default_sample_size 128 × 8",
    ),
    PipelineDefaults(
        key="CogView4Pipeline",
        height=1024,
        width=1024,
        steps=50,
        prompt_length=1024,
        cfg=True,
        source="CogView4Pipeline.__call__: num_inference_steps=50, guidance_scale=5.0 (CFG: two forwards one "
        "after the other), max_sequence_length=1024 (prompts pad to the longest, a multiple of 16: an upper "
        "bound); height = transformer sample_size 128 × vae_scale_factor 8",
    ),
    PipelineDefaults(
        key="DiTPipeline",
        height=256,
        width=256,
        steps=50,
        prompt_length=1,
        cfg=True,
        cfg_batched=True,
        source="DiTPipeline.__call__: num_inference_steps=50, guidance_scale=4.0 (CFG, batched); class-conditional, "
        "no text encoder (prompt length unused); height = transformer sample_size 32 × 8",
    ),
)


def defaults_for(source: ModelSource) -> PipelineDefaults:
    """The defaults row for a model; a one-line error naming the pipeline class when there is none."""
    cls = source.pipeline_class
    for row in DEFAULTS:
        if row.key == source.model:
            return row
    for row in DEFAULTS:
        if row.key == cls:
            return row
    known = ", ".join(dict.fromkeys(r.key for r in DEFAULTS if r.key[0].isupper()))
    raise ConfigError(
        f"{source.model}: no compute defaults for pipeline {cls or '(none: not a pipeline folder)'}; "
        f"FLOPs are known for {known} (add a row to paramcheck.compute.recipes.DEFAULTS)"
    )


def override(row: PipelineDefaults, **values: Any) -> PipelineDefaults:
    """The row with the values that are not ``None`` replaced."""
    return replace(row, **{k: v for k, v in values.items() if v is not None})


# --- forwards -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipe:
    """How a component class takes part in making an image.

    ``role``: ``text_encoder`` (once per prompt, and once more per negative prompt under CFG), ``denoiser`` (each
    step, twice under CFG), ``vae_decoder`` (once per call) or ``safety_checker`` (once per call, on the decoded
    images). ``forward(module, config, shape)`` returns a callable running one forward on meta inputs;
    ``describe`` says what those inputs are.
    """

    role: str
    forward: Callable[[torch.nn.Module, Mapping[str, Any], Shape], Forward]
    describe: Callable[[Mapping[str, Any], Shape], str]


TEXT = Recipe(role="text_encoder", forward=mi.text_forward, describe=mi.text_describe)
VAE = Recipe(role="vae_decoder", forward=mi.vae_forward, describe=mi.vae_describe)
VIDEO_VAE = Recipe(role="vae_decoder", forward=mi.video_vae_forward, describe=mi.video_vae_describe)


def _denoiser(forward: Callable[[torch.nn.Module, Mapping[str, Any], Shape], Forward]) -> Recipe:
    return Recipe(role="denoiser", forward=forward, describe=mi.tokens_describe)


# Component class -> recipe. Classes shared by several pipelines (Transformer2DModel: PixArt and DiT) read
# their config to tell them apart, never the model id.
RECIPES: Mapping[str, Recipe] = {
    "CLIPTextModel": TEXT,
    "CLIPTextModelWithProjection": TEXT,
    "T5EncoderModel": TEXT,
    "UMT5EncoderModel": TEXT,
    "BertModel": TEXT,
    "GemmaModel": TEXT,
    "Gemma2Model": TEXT,
    "GlmModel": TEXT,
    "Qwen2_5_VLForConditionalGeneration": TEXT,
    "FluxTransformer2DModel": Recipe(role="denoiser", forward=mi.flux_forward, describe=mi.flux_describe),
    "Lumina2Transformer2DModel": _denoiser(mi.lumina2_forward),
    "UNet2DConditionModel": Recipe(role="denoiser", forward=mi.unet_forward, describe=mi.unet_describe),
    "SD3Transformer2DModel": Recipe(role="denoiser", forward=mi.sd3_forward, describe=mi.sd3_describe),
    "Transformer2DModel": Recipe(role="denoiser", forward=mi.transformer2d_forward, describe=mi.transformer2d_describe),
    "LuminaNextDiT2DModel": _denoiser(mi.lumina_next_forward),
    "QwenImageTransformer2DModel": _denoiser(mi.qwen_image_forward),
    "WanTransformer3DModel": Recipe(role="denoiser", forward=mi.wan_forward, describe=mi.wan_describe),
    "SanaTransformer2DModel": _denoiser(mi.sana_forward),
    "AuraFlowTransformer2DModel": _denoiser(mi.auraflow_forward),
    "HunyuanDiT2DModel": Recipe(role="denoiser", forward=mi.hunyuan_forward, describe=mi.hunyuan_describe),
    "CogView4Transformer2DModel": _denoiser(mi.cogview4_forward),
    "AutoencoderKL": VAE,
    "AutoencoderDC": VAE,
    "AutoencoderKLWan": VIDEO_VAE,
    "AutoencoderKLQwenImage": VIDEO_VAE,
    "StableDiffusionSafetyChecker": Recipe(
        role="safety_checker", forward=mi.safety_forward, describe=mi.safety_describe
    ),
}


def recipe_for(class_name: str | None) -> Recipe | None:
    return RECIPES.get(class_name or "")


def latent_scales(source: ModelSource) -> tuple[int, int]:
    """(spatial, temporal) downsampling of the source's VAE; (8, 1), the common case, when it has none known."""
    for spec in source.components:
        scales = mi.latent_scales(spec.class_name, spec.config or {})
        if scales is not None:
            return scales
    return 8, 1
