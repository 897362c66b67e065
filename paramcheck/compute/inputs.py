"""Meta inputs of one forward per component class, shaped as each diffusers pipeline shapes them.

Each builder takes ``(module, config, shape)`` and returns a callable running one forward on meta tensors; each
``describe`` says in a few words what that forward sees. Shapes follow the pipeline code of diffusers 0.42 (the
line that builds each input is named where it is not obvious). Inputs a model reads values from (masks turned
into lengths, image sizes) are small CPU tensors; the probe moves them to meta when they meet meta tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import ConfigError

__all__ = ["CLIP_TOKENS", "Forward", "Shape"]

Forward = Callable[[], Any]

# The CLIP tokenizers of SD 1.5, SDXL and SD3 pad every prompt to model_max_length = 77 positions.
CLIP_TOKENS = 77


@dataclass(frozen=True, slots=True, kw_only=True)
class Shape:
    """What a forward sees: image size, prompt tokens, batch, video frames and the VAE's downsampling factors."""

    height: int
    width: int
    prompt_length: int
    batch: int
    frames: int = 1
    latent_scale: int = 8
    temporal_scale: int = 1

    @property
    def latent_frames(self) -> int:
        """WanPipeline.prepare_latents: ``(num_frames - 1) // vae_scale_factor_temporal + 1``."""
        return (self.frames - 1) // self.temporal_scale + 1


def _meta(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.empty(*shape, dtype=dtype, device="meta")


def _ones(*shape: int, dtype: torch.dtype = torch.long) -> torch.Tensor:
    """A CPU mask of ones: models that read lengths out of their masks can."""
    return torch.ones(*shape, dtype=dtype)


def _int(config: Mapping[str, Any], key: str, default: int) -> int:
    value = config.get(key)
    return int(value) if value is not None else default


def latent_hw(shape: Shape, multiple: int, what: str = "transformer") -> tuple[int, int]:
    """Latent height and width; a one-line error unless the image is a multiple of scale * ``multiple``."""
    step = shape.latent_scale * multiple
    h, w = shape.height // shape.latent_scale, shape.width // shape.latent_scale
    if shape.height % step or shape.width % step or h <= 0 or w <= 0:
        raise ConfigError(
            f"image size {shape.height}x{shape.width}: must be a positive multiple of {step} "
            f"for this {what}; choose another --height/--width"
        )
    return h, w


def _patch(config: Mapping[str, Any]) -> int:
    p = config.get("patch_size") or 1
    return int(p[-1] if isinstance(p, list | tuple) else p)


def image_tokens(shape: Shape, config: Mapping[str, Any]) -> int:
    p = _patch(config)
    return (shape.height // shape.latent_scale // p) * (shape.width // shape.latent_scale // p)


# --- text encoders ----------------------------------------------------------------------------------------------


def text_length(config: Mapping[str, Any], shape: Shape) -> int:
    """CLIP tokenizers pad to the model's 77 positions; other encoders see the prompt length."""
    if config.get("model_type") == "clip_text_model":
        return int(config.get("max_position_embeddings", CLIP_TOKENS))
    return shape.prompt_length


def text_forward(module: torch.nn.Module, config: Mapping[str, Any], shape: Shape) -> Forward:
    length = text_length(config, shape)
    ids = _meta(shape.batch, length, dtype=torch.long)
    mask = _ones(shape.batch, length)
    if config.get("model_type") == "gemma2":
        return lambda: module(input_ids=ids, attention_mask=mask)
    if config.get("model_type") == "qwen2_5_vl":
        # Qwen2.5-VL reads token ids (image tokens, rope positions): give them on the CPU
        cpu_ids = torch.zeros(shape.batch, length, dtype=torch.long)
        return lambda: module(input_ids=cpu_ids, output_hidden_states=True)
    # A mask of ones is no mask: its FLOPs are the same, and transformers' mask helpers call .item() on it
    return lambda: module(input_ids=ids)


def text_describe(config: Mapping[str, Any], shape: Shape) -> str:
    return f"{shape.batch}×{text_length(config, shape)} tokens"


def safety_forward(module: torch.nn.Module, config: Mapping[str, Any], shape: Shape) -> Forward:
    """StableDiffusionSafetyChecker.forward without its numpy tail: CLIP vision, projection, concept distances."""
    size = int(config.get("vision_config", {}).get("image_size", 224))
    pixels = _meta(shape.batch, 3, size, size)
    m: Any = module

    def run() -> Any:
        from diffusers.pipelines.stable_diffusion.safety_checker import cosine_distance

        pooled = m.vision_model(pixels)[1]
        embeds = m.visual_projection(pooled)
        return cosine_distance(embeds, m.special_care_embeds), cosine_distance(embeds, m.concept_embeds)

    return run


def safety_describe(config: Mapping[str, Any], shape: Shape) -> str:
    size = int(config.get("vision_config", {}).get("image_size", 224))
    return f"{shape.batch} image(s) at {size}×{size}"


# --- denoisers --------------------------------------------------------------------------------------------------


def flux_forward(module: torch.nn.Module, config: Mapping[str, Any], shape: Shape) -> Forward:
    h, w = latent_hw(shape, 2)
    tokens = (h // 2) * (w // 2)
    b, length = shape.batch, shape.prompt_length
    kwargs: dict[str, Any] = {
        "hidden_states": _meta(b, tokens, _int(config, "in_channels", 64)),
        "encoder_hidden_states": _meta(b, length, _int(config, "joint_attention_dim", 4096)),
        "pooled_projections": _meta(b, _int(config, "pooled_projection_dim", 768)),
        "timestep": _meta(b),
        "img_ids": _meta(tokens, 3),
        "txt_ids": _meta(length, 3),
        "return_dict": False,
    }
    if config.get("guidance_embeds"):
        kwargs["guidance"] = _meta(b)
    return lambda: module(**kwargs)


def flux_describe(config: Mapping[str, Any], shape: Shape) -> str:
    """FluxPipeline packs 2x2 latent patches into one token (the config's patch_size is 1: already packed)."""
    tokens = (shape.height // shape.latent_scale // 2) * (shape.width // shape.latent_scale // 2)
    return f"{shape.batch}×({tokens} image + {shape.prompt_length} text) tokens"


def lumina2_forward(module: torch.nn.Module, config: Mapping[str, Any], shape: Shape) -> Forward:
    h, w = latent_hw(shape, _patch(config))
    b, length = shape.batch, shape.prompt_length
    kwargs = {
        "hidden_states": _meta(b, _int(config, "in_channels", 16), h, w),
        "timestep": _meta(b),
        "encoder_hidden_states": _meta(b, length, _int(config, "cap_feat_dim", 2304)),
        "encoder_attention_mask": _ones(b, length, dtype=torch.bool),
        "return_dict": False,
    }
    return lambda: module(**kwargs)


def unet_forward(module: torch.nn.Module, config: Mapping[str, Any], shape: Shape) -> Forward:
    """SD/SDXL: latents, the CLIP hidden states (77 tokens) and, for SDXL, pooled text and six size ids."""
    ups = 2 ** (len(config.get("up_block_types", ())) - 1)  # UNet2DConditionModel.default_overall_up_factor
    h, w = latent_hw(shape, max(ups, 1))
    b = shape.batch
    kwargs: dict[str, Any] = {
        "sample": _meta(b, _int(config, "in_channels", 4), h, w),
        "timestep": _meta(b),
        "encoder_hidden_states": _meta(b, CLIP_TOKENS, _int(config, "cross_attention_dim", 768)),
        "return_dict": False,
    }
    if config.get("addition_embed_type") == "text_time":
        # StableDiffusionXLPipeline._get_add_time_ids: 6 ids, each embedded to addition_time_embed_dim
        time_ids = 6
        pooled = _int(config, "projection_class_embeddings_input_dim", 2816) - time_ids * _int(
            config, "addition_time_embed_dim", 256
        )
        kwargs["added_cond_kwargs"] = {"text_embeds": _meta(b, pooled), "time_ids": _meta(b, time_ids)}
    return lambda: module(**kwargs)


def unet_describe(config: Mapping[str, Any], shape: Shape) -> str:
    s, c = shape.latent_scale, config.get("in_channels", 4)
    return f"{shape.batch}×{c}×{shape.height // s}×{shape.width // s} latents, {CLIP_TOKENS} text tokens"


def sd3_forward(module: torch.nn.Module, config: Mapping[str, Any], shape: Shape) -> Forward:
    """StableDiffusion3Pipeline.encode_prompt: CLIP (77) and T5 (max_sequence_length) joined along the sequence."""
    h, w = latent_hw(shape, _patch(config))
    b = shape.batch
    kwargs = {
        "hidden_states": _meta(b, _int(config, "in_channels", 16), h, w),
        "encoder_hidden_states": _meta(b, CLIP_TOKENS + shape.prompt_length, _int(config, "joint_attention_dim", 4096)),
        "pooled_projections": _meta(b, _int(config, "pooled_projection_dim", 2048)),
        "timestep": _meta(b),
        "return_dict": False,
    }
    return lambda: module(**kwargs)


def sd3_describe(config: Mapping[str, Any], shape: Shape) -> str:
    text = CLIP_TOKENS + shape.prompt_length
    return f"{shape.batch}×({image_tokens(shape, config)} image + {text} text) tokens"


def transformer2d_forward(module: torch.nn.Module, config: Mapping[str, Any], shape: Shape) -> Forward:
    """Transformer2DModel: PixArt (T5 captions, ``caption_channels``) or DiT (class labels)."""
    h, w = latent_hw(shape, _patch(config))
    b = shape.batch
    kwargs: dict[str, Any] = {
        "hidden_states": _meta(b, _int(config, "in_channels", 4), h, w),
        "timestep": _meta(b, dtype=torch.long),
        "return_dict": False,
    }
    if config.get("caption_channels"):
        length = shape.prompt_length
        kwargs["encoder_hidden_states"] = _meta(b, length, int(config["caption_channels"]))
        kwargs["encoder_attention_mask"] = _meta(b, length)
        kwargs["added_cond_kwargs"] = {"resolution": None, "aspect_ratio": None}  # PixArtSigmaPipeline
    else:
        kwargs["class_labels"] = _meta(b, dtype=torch.long)  # DiTPipeline
    return lambda: module(**kwargs)


def transformer2d_describe(config: Mapping[str, Any], shape: Shape) -> str:
    if config.get("caption_channels"):
        return tokens_describe(config, shape)
    return f"{shape.batch}×{image_tokens(shape, config)} image tokens, class label"


def lumina_next_forward(module: torch.nn.Module, config: Mapping[str, Any], shape: Shape) -> Forward:
    from diffusers.models.embeddings import get_2d_rotary_pos_embed_lumina

    h, w = latent_hw(shape, _patch(config))
    b, length = shape.batch, shape.prompt_length
    m: Any = module
    rope = get_2d_rotary_pos_embed_lumina(m.head_dim, 384, 384)  # LuminaPipeline.__call__: a 384×384 grid
    kwargs = {
        "hidden_states": _meta(b, _int(config, "in_channels", 4), h, w),
        "timestep": _meta(b),
        "encoder_hidden_states": _meta(b, length, _int(config, "cross_attention_dim", 2048)),
        "encoder_mask": _ones(b, length),
        "image_rotary_emb": torch.empty(rope.shape, dtype=rope.dtype, device="meta"),
        "cross_attention_kwargs": {},  # LuminaPipeline: {} or a base_sequence_length scale, same FLOPs
        "return_dict": False,
    }
    return lambda: module(**kwargs)


def qwen_image_forward(module: torch.nn.Module, config: Mapping[str, Any], shape: Shape) -> Forward:
    h, w = latent_hw(shape, _patch(config))
    tokens = (h // 2) * (w // 2)
    b, length = shape.batch, shape.prompt_length
    kwargs: dict[str, Any] = {
        "hidden_states": _meta(b, tokens, _int(config, "in_channels", 64)),
        "encoder_hidden_states": _meta(b, length, _int(config, "joint_attention_dim", 3584)),
        "encoder_hidden_states_mask": _ones(b, length),
        "timestep": _meta(b),
        "img_shapes": [[(1, h // 2, w // 2)]] * b,  # QwenImagePipeline.__call__
        "return_dict": False,
    }
    if config.get("guidance_embeds"):
        kwargs["guidance"] = _meta(b)
    return lambda: module(**kwargs)


def wan_forward(module: torch.nn.Module, config: Mapping[str, Any], shape: Shape) -> Forward:
    h, w = latent_hw(shape, _patch(config))
    b = shape.batch
    kwargs = {
        "hidden_states": _meta(b, _int(config, "in_channels", 16), shape.latent_frames, h, w),
        "timestep": _meta(b),
        "encoder_hidden_states": _meta(b, shape.prompt_length, _int(config, "text_dim", 4096)),
        "return_dict": False,
    }
    return lambda: module(**kwargs)


def wan_describe(config: Mapping[str, Any], shape: Shape) -> str:
    p = config.get("patch_size") or (1, 2, 2)
    frames = shape.latent_frames // int(p[0])
    tokens = frames * image_tokens(shape, config)
    return f"{shape.batch}×{tokens} video tokens ({shape.latent_frames} latent frames), {shape.prompt_length} text"


def sana_forward(module: torch.nn.Module, config: Mapping[str, Any], shape: Shape) -> Forward:
    h, w = latent_hw(shape, _patch(config))
    b, length = shape.batch, shape.prompt_length
    kwargs = {
        "hidden_states": _meta(b, _int(config, "in_channels", 32), h, w),
        "encoder_hidden_states": _meta(b, length, _int(config, "caption_channels", 2304)),
        "encoder_attention_mask": _ones(b, length),
        "timestep": _meta(b),
        "return_dict": False,
    }
    return lambda: module(**kwargs)


def auraflow_forward(module: torch.nn.Module, config: Mapping[str, Any], shape: Shape) -> Forward:
    h, w = latent_hw(shape, _patch(config))
    b = shape.batch
    kwargs = {
        "hidden_states": _meta(b, _int(config, "in_channels", 4), h, w),
        "encoder_hidden_states": _meta(b, shape.prompt_length, _int(config, "joint_attention_dim", 2048)),
        "timestep": _meta(b),
        "return_dict": False,
    }
    return lambda: module(**kwargs)


def hunyuan_forward(module: torch.nn.Module, config: Mapping[str, Any], shape: Shape) -> Forward:
    """HunyuanDiTPipeline: Bert states (``text_len`` = 77) and T5 states (``text_len_t5`` = 256: its attention
    pooler has one position per token, so no other length runs), 2D rope."""
    h, w = latent_hw(shape, _patch(config))
    p = _patch(config)
    b, bert, t5 = shape.batch, _int(config, "text_len", 77), _int(config, "text_len_t5", 256)
    head_dim = _int(config, "attention_head_dim", 88)
    tokens = (h // p) * (w // p)
    kwargs = {
        "hidden_states": _meta(b, _int(config, "in_channels", 4), h, w),
        "timestep": _meta(b),
        "encoder_hidden_states": _meta(b, bert, _int(config, "cross_attention_dim", 1024)),
        "text_embedding_mask": _ones(b, bert),
        "encoder_hidden_states_t5": _meta(b, t5, _int(config, "cross_attention_dim_t5", 2048)),
        "text_embedding_mask_t5": _ones(b, t5),
        "image_meta_size": _meta(b, 6),
        "style": _meta(b, dtype=torch.long),
        "image_rotary_emb": (_meta(tokens, head_dim), _meta(tokens, head_dim)),
        "return_dict": False,
    }
    return lambda: module(**kwargs)


def hunyuan_describe(config: Mapping[str, Any], shape: Shape) -> str:
    bert, t5 = config.get("text_len", 77), config.get("text_len_t5", 256)
    return f"{shape.batch}×{image_tokens(shape, config)} image tokens; {bert} + {t5} text tokens"


def cogview4_forward(module: torch.nn.Module, config: Mapping[str, Any], shape: Shape) -> Forward:
    h, w = latent_hw(shape, _patch(config))
    b = shape.batch
    kwargs = {
        "hidden_states": _meta(b, _int(config, "in_channels", 16), h, w),
        "encoder_hidden_states": _meta(b, shape.prompt_length, _int(config, "text_embed_dim", 4096)),
        "timestep": _meta(b),
        "original_size": _meta(b, 2),
        "target_size": _meta(b, 2),
        "crop_coords": _meta(b, 2),
        "return_dict": False,
    }
    return lambda: module(**kwargs)


def tokens_describe(config: Mapping[str, Any], shape: Shape) -> str:
    return f"{shape.batch}×({image_tokens(shape, config)} image + {shape.prompt_length} text) tokens"


# --- VAE decoders -----------------------------------------------------------------------------------------------


def _decode(module: torch.nn.Module, z: torch.Tensor) -> Forward:
    decode: Any = module.decode  # diffusers' VAEs: a method, not a submodule
    return lambda: decode(z, return_dict=False)


def vae_forward(module: torch.nn.Module, config: Mapping[str, Any], shape: Shape) -> Forward:
    h, w = latent_hw(shape, 1, "VAE")
    channels = _int(config, "latent_channels", 4)
    return _decode(module, _meta(shape.batch, channels, h, w))


def vae_describe(config: Mapping[str, Any], shape: Shape) -> str:
    s = shape.latent_scale
    channels = config.get("latent_channels", 4)
    return f"decode {shape.batch}×{channels}×{shape.height // s}×{shape.width // s} latents"


def video_vae_forward(module: torch.nn.Module, config: Mapping[str, Any], shape: Shape) -> Forward:
    """AutoencoderKLWan / AutoencoderKLQwenImage: 5-D latents (batch, z_dim, frames, h, w); an image is 1 frame."""
    h, w = latent_hw(shape, 1, "VAE")
    return _decode(module, _meta(shape.batch, _int(config, "z_dim", 16), shape.latent_frames, h, w))


def video_vae_describe(config: Mapping[str, Any], shape: Shape) -> str:
    s = shape.latent_scale
    z = config.get("z_dim", 16)
    return f"decode {shape.batch}×{z}×{shape.latent_frames}×{shape.height // s}×{shape.width // s} latents"


def latent_scales(class_name: str | None, config: Mapping[str, Any]) -> tuple[int, int] | None:
    """(spatial, temporal) downsampling of a VAE config, as its pipeline computes ``vae_scale_factor``."""
    if class_name == "AutoencoderKL":
        return 2 ** (len(config.get("block_out_channels", [0] * 4)) - 1), 1
    if class_name == "AutoencoderDC":  # SanaPipeline: 2 ** (len(encoder_block_out_channels) - 1)
        return 2 ** (len(config.get("encoder_block_out_channels", [0] * 6)) - 1), 1
    if class_name in {"AutoencoderKLWan", "AutoencoderKLQwenImage"}:  # 2 ** len / 2 ** sum(temperal_downsample)
        down = config.get("temperal_downsample", [False, True, True])
        return 2 ** len(down), 2 ** sum(bool(d) for d in down)
    return None
