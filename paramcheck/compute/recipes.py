"""What one image costs, per component class: its role in the call and the meta inputs of one forward.

``RECIPES`` maps a component class to a ``Recipe``, made by a few factories (``latent_denoiser``, ``denoiser``,
``decoder``) from the input builders of ``inputs``. A class with no recipe here is skipped with a note, never
guessed. The workload defaults per pipeline are ``workload.DEFAULTS``; ``defaults_for`` picks a model's row.
``plan_forwards`` lists the forwards of one call (what each component sees, how often it runs): the FLOP count, the
latency prediction and ``bench`` all start from it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ..sources import ComponentSpec, ModelSource
from . import inputs as mi
from .inputs import (
    CLIP_TOKENS,
    Build,
    Config,
    Dim,
    Inputs,
    describe_decode,
    describe_denoiser,
    describe_images,
    describe_text,
    dim,
    fixed_tokens,
    inputs,
    latents,
    meta,
    packed_latents,
    patch,
    per_sample,
    prompt_tokens,
    safety_inputs,
    text_inputs,
    text_mask,
    text_states,
    when,
)
from .workload import DEFAULTS, ForwardShape, Role, Workload, defaults_for, workload_for

__all__ = [
    "DEFAULTS",
    "RECIPES",
    "Forward",
    "ForwardPlan",
    "Recipe",
    "defaults_for",
    "latent_scales",
    "plan_forwards",
    "recipe_for",
    "workload_for",
]

Forward = Callable[[], Any]


# --- recipes --------------------------------------------------------------------------------------------------


def _call(module: torch.nn.Module, kwargs: Inputs) -> Any:
    return module(**kwargs)


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipe:
    """How a component class takes part in making an image.

    ``role``: when and how often it runs (``workload.Role``). ``inputs(config, shape)`` builds the keyword arguments
    of one forward on meta tensors, ``run(module, kwargs)`` runs that forward, ``describe(kwargs, config)`` says in a
    few words what it sees, from the tensors built.
    """

    role: Role
    inputs: Callable[[Config, ForwardShape], Inputs]
    run: Callable[[torch.nn.Module, Inputs], Any] = _call
    describe: Callable[[Inputs, Config], str]

    def prepare(self, module: torch.nn.Module, config: Config, shape: ForwardShape) -> tuple[Forward, str]:
        """A callable running one forward of ``module`` on meta inputs, and what those inputs are."""
        kwargs = self.inputs(config, shape)
        return (lambda: self.run(module, kwargs)), self.describe(kwargs, config)

    def forward(self, module: torch.nn.Module, config: Config, shape: ForwardShape) -> Forward:
        return self.prepare(module, config, shape)[0]


def denoiser(**builders: Build) -> Recipe:
    """A denoiser called with these keyword arguments (and ``return_dict=False``), once or twice per step."""
    return Recipe(role=Role.DENOISER, inputs=inputs(**builders, return_dict=False), describe=describe_denoiser)


def latent_denoiser(
    channels: Dim,
    text_width: Dim,
    *,
    packed: bool = False,
    video: bool = False,
    tokens: Callable[[Config, ForwardShape], int] = prompt_tokens,
    **extra: Build,
) -> Recipe:
    """The common denoiser: latents of ``channels``, text states of ``text_width``, a timestep, and ``extra``.

    ``packed``: 2x2 latent patches packed into tokens (FLUX, Qwen-Image); ``video``: latents with a frame axis;
    ``tokens``: the text tokens it sees (the prompt length unless the pipeline fixes or joins them).
    """
    return denoiser(
        hidden_states=packed_latents(channels) if packed else latents(channels, video=video),
        encoder_hidden_states=text_states(text_width, tokens),
        timestep=per_sample(),
        **extra,
    )


def decoder(channels: Dim, *, video: bool = False) -> Recipe:
    """A VAE decoding the final latents once per call (AutoencoderKLWan/QwenImage: 5-D, an image is 1 frame)."""

    def run(module: torch.nn.Module, kwargs: Inputs) -> Any:
        decode: Any = module.decode  # diffusers' VAEs: a method, not a submodule
        return decode(kwargs["z"], return_dict=False)

    z = latents(channels, multiple=lambda config: 1, video=video, what="VAE")
    return Recipe(role=Role.VAE_DECODER, inputs=inputs(z=z), run=run, describe=describe_decode)


def _safety_run(module: torch.nn.Module, kwargs: Inputs) -> Any:
    """StableDiffusionSafetyChecker.forward without its numpy tail: CLIP vision, projection, concept distances."""
    from diffusers.pipelines.stable_diffusion.safety_checker import cosine_distance

    m: Any = module
    embeds = m.visual_projection(m.vision_model(kwargs["pixels"])[1])
    return cosine_distance(embeds, m.special_care_embeds), cosine_distance(embeds, m.concept_embeds)


# --- inputs particular to one model -------------------------------------------------------------------------------


def _packed_ids(config: Config, shape: ForwardShape) -> torch.Tensor:
    """FluxPipeline._prepare_latent_image_ids: one (t, h, w) position per packed token."""
    h, w = shape.latent_hw(2)
    return meta((h // 2) * (w // 2), 3)


def _text_ids(config: Config, shape: ForwardShape) -> torch.Tensor:
    return meta(shape.prompt_length, 3)


def _img_shapes(config: Config, shape: ForwardShape) -> list[list[tuple[int, int, int]]]:
    """QwenImagePipeline.__call__: one (frames, h, w) of packed latents per sample."""
    h, w = shape.latent_hw(2)
    return [[(1, h // 2, w // 2)]] * shape.batch


def _unet_up_factor(config: Config) -> int:
    """UNet2DConditionModel.default_overall_up_factor: the latents must divide by it."""
    return int(2 ** max(len(config.get("up_block_types", ())) - 1, 0))


def _sdxl_conditions(config: Config, shape: ForwardShape) -> dict[str, torch.Tensor]:
    """StableDiffusionXLPipeline._get_add_time_ids: pooled text and 6 size ids, each embedded to a time dim."""
    time_ids = 6
    total = dim(config, ("projection_class_embeddings_input_dim", 2816))
    pooled = total - time_ids * dim(config, ("addition_time_embed_dim", 256))
    return {"text_embeds": meta(shape.batch, pooled), "time_ids": meta(shape.batch, time_ids)}


def _lumina_rope(config: Config, shape: ForwardShape) -> torch.Tensor:
    """LuminaPipeline.__call__: rotary embeddings of a 384x384 grid, at the transformer's head dim."""
    from diffusers.models.embeddings import get_2d_rotary_pos_embed_lumina

    head_dim = dim(config, ("hidden_size", 2304)) // dim(config, ("num_attention_heads", 32))
    rope = get_2d_rotary_pos_embed_lumina(head_dim, 384, 384)
    return torch.empty(rope.shape, dtype=rope.dtype, device="meta")


def _hunyuan_rope(config: Config, shape: ForwardShape) -> tuple[torch.Tensor, torch.Tensor]:
    """HunyuanDiTPipeline: 2D rope, (cos, sin) of one row per image token."""
    p = patch(config)
    h, w = shape.latent_hw(p)
    tokens, head_dim = (h // p) * (w // p), dim(config, ("attention_head_dim", 88))
    return meta(tokens, head_dim), meta(tokens, head_dim)


# HunyuanDiTPipeline pads Bert to text_len = 77 and T5 to text_len_t5 = 256 (its attention pooler has one position per
# token, so no other length runs); SD3 joins CLIP's 77 and T5's max_sequence_length along the sequence.
BERT, T5 = fixed_tokens(("text_len", 77)), fixed_tokens(("text_len_t5", 256))
CLIP = fixed_tokens(CLIP_TOKENS)


def _clip_and_prompt(config: Config, shape: ForwardShape) -> int:
    return CLIP_TOKENS + shape.prompt_length


TEXT = Recipe(role=Role.TEXT_ENCODER, inputs=text_inputs, describe=describe_text)

# Component class -> recipe. Classes shared by several pipelines (Transformer2DModel: PixArt and DiT) read
# their config to tell them apart, never the model id.
RECIPES: Mapping[str, Recipe] = {
    **dict.fromkeys(
        (
            "CLIPTextModel",
            "CLIPTextModelWithProjection",
            "T5EncoderModel",
            "UMT5EncoderModel",
            "BertModel",
            "GemmaModel",
            "Gemma2Model",
            "GlmModel",
            "Qwen2_5_VLForConditionalGeneration",
        ),
        TEXT,
    ),
    # FluxPipeline packs 2x2 latent patches into one token (the config's patch_size is 1: already packed)
    "FluxTransformer2DModel": latent_denoiser(
        ("in_channels", 64),
        ("joint_attention_dim", 4096),
        packed=True,
        pooled_projections=per_sample(("pooled_projection_dim", 768)),
        img_ids=_packed_ids,
        txt_ids=_text_ids,
        guidance=when("guidance_embeds", per_sample()),
    ),
    "Lumina2Transformer2DModel": latent_denoiser(
        ("in_channels", 16), ("cap_feat_dim", 2304), encoder_attention_mask=text_mask(dtype=torch.bool)
    ),
    # SD and SDXL: the CLIP hidden states (77 tokens) and, for SDXL, pooled text and six size ids
    "UNet2DConditionModel": denoiser(
        sample=latents(("in_channels", 4), multiple=_unet_up_factor),
        timestep=per_sample(),
        encoder_hidden_states=text_states(("cross_attention_dim", 768), CLIP),
        added_cond_kwargs=when(lambda config: config.get("addition_embed_type") == "text_time", _sdxl_conditions),
    ),
    "SD3Transformer2DModel": latent_denoiser(
        ("in_channels", 16),
        ("joint_attention_dim", 4096),
        tokens=_clip_and_prompt,
        pooled_projections=per_sample(("pooled_projection_dim", 2048)),
    ),
    # PixArt (PixArtSigmaPipeline: T5 captions, caption_channels set) or DiT (DiTPipeline: class labels)
    "Transformer2DModel": denoiser(
        hidden_states=latents(("in_channels", 4)),
        timestep=per_sample(dtype=torch.long),
        encoder_hidden_states=when("caption_channels", text_states("caption_channels")),
        encoder_attention_mask=when("caption_channels", text_mask(dtype=torch.float32, on_meta=True)),
        added_cond_kwargs=when("caption_channels", lambda config, shape: {"resolution": None, "aspect_ratio": None}),
        class_labels=when(lambda config: not config.get("caption_channels"), per_sample(dtype=torch.long)),
    ),
    "LuminaNextDiT2DModel": latent_denoiser(
        ("in_channels", 4),
        ("cross_attention_dim", 2048),
        encoder_mask=text_mask(),
        image_rotary_emb=_lumina_rope,
        cross_attention_kwargs=lambda config, shape: {},  # LuminaPipeline: {} or a base_sequence_length scale
    ),
    "QwenImageTransformer2DModel": latent_denoiser(
        ("in_channels", 64),
        ("joint_attention_dim", 3584),
        packed=True,
        encoder_hidden_states_mask=text_mask(),
        img_shapes=_img_shapes,
        guidance=when("guidance_embeds", per_sample()),
    ),
    "WanTransformer3DModel": latent_denoiser(("in_channels", 16), ("text_dim", 4096), video=True),
    "SanaTransformer2DModel": latent_denoiser(
        ("in_channels", 32), ("caption_channels", 2304), encoder_attention_mask=text_mask()
    ),
    "AuraFlowTransformer2DModel": latent_denoiser(("in_channels", 4), ("joint_attention_dim", 2048)),
    "HunyuanDiT2DModel": latent_denoiser(
        ("in_channels", 4),
        ("cross_attention_dim", 1024),
        tokens=BERT,
        text_embedding_mask=text_mask(BERT),
        encoder_hidden_states_t5=text_states(("cross_attention_dim_t5", 2048), T5),
        text_embedding_mask_t5=text_mask(T5),
        image_meta_size=per_sample(6),
        style=per_sample(dtype=torch.long),
        image_rotary_emb=_hunyuan_rope,
    ),
    "CogView4Transformer2DModel": latent_denoiser(
        ("in_channels", 16),
        ("text_embed_dim", 4096),
        original_size=per_sample(2),
        target_size=per_sample(2),
        crop_coords=per_sample(2),
    ),
    "AutoencoderKL": decoder(("latent_channels", 4)),
    "AutoencoderDC": decoder(("latent_channels", 4)),
    "AutoencoderKLWan": decoder(("z_dim", 16), video=True),
    "AutoencoderKLQwenImage": decoder(("z_dim", 16), video=True),
    "StableDiffusionSafetyChecker": Recipe(
        role=Role.SAFETY_CHECKER, inputs=safety_inputs, run=_safety_run, describe=describe_images
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


@dataclass(frozen=True, slots=True, kw_only=True)
class ForwardPlan:
    """One component's forward in a call: its spec, its recipe, what it sees and how often it runs."""

    spec: ComponentSpec
    recipe: Recipe
    shape: ForwardShape
    forwards: int

    @property
    def component(self) -> str:
        return self.spec.name

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.spec.config or {})

    def inputs(self) -> Inputs:
        """The keyword arguments of one forward, on meta (see ``inputs.realize`` for real ones)."""
        return self.recipe.inputs(self.config, self.shape)

    def describe(self, kwargs: Inputs) -> str:
        return self.recipe.describe(kwargs, self.config)

    def forward(self, module: torch.nn.Module, kwargs: Inputs) -> Forward:
        return lambda: self.recipe.run(module, kwargs)


def plan_forwards(source: ModelSource, workload: Workload) -> tuple[ForwardPlan, ...]:
    """Every component of ``source`` with a recipe and a config, in the order the roles run."""
    scales = latent_scales(source)
    plans = []
    for spec in source.components:
        recipe = recipe_for(spec.class_name)
        if recipe is None or spec.config is None:
            continue
        shape = workload.forward_shape(spec.name, recipe.role, scales)
        plans.append(ForwardPlan(spec=spec, recipe=recipe, shape=shape, forwards=workload.forwards(recipe.role)))
    plans.sort(key=lambda p: list(Role).index(p.recipe.role))
    return tuple(plans)
