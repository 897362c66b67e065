"""Meta inputs of one forward, shaped as each diffusers pipeline shapes them, made by a few factories.

An input builder takes ``(config, shape)`` and returns one keyword argument of a forward: a meta tensor, a small CPU
tensor where a model reads values (masks turned into lengths, token ids), or a plain value. The factories below make
the builders (``latents``, ``text_states``, ``text_mask``, ``per_sample``, ``when``) and ``inputs(**builders)`` joins
them into the builder of a forward's keyword arguments; ``recipes.RECIPES`` lists them per component class, the way
fvcore lists its op handles. ``realize`` makes built inputs real (on a device, for ``bench``) or moves them to the
run's dtype on meta (for the op trace of the latency prediction). The ``describe_*`` functions say what a forward
sees, read off the tensors built for it.
Shapes follow the pipeline code of diffusers 0.42 (the line that builds an input is named where it is not obvious).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch.utils._pytree import tree_flatten, tree_map

from ..errors import ConfigError
from ..limits import MAX_INPUT_ELEMENTS
from .workload import ForwardShape

__all__ = [
    "CLIP_TOKENS",
    "Build",
    "Config",
    "Dim",
    "Inputs",
    "Tokens",
    "describe_decode",
    "describe_denoiser",
    "describe_images",
    "describe_text",
    "dim",
    "fixed_tokens",
    "inputs",
    "latent_scales",
    "latents",
    "meta",
    "packed_latents",
    "patch",
    "per_sample",
    "prompt_tokens",
    "realize",
    "resident_tensors",
    "safety_inputs",
    "text_inputs",
    "text_mask",
    "text_states",
    "when",
]

Config = Mapping[str, Any]
Inputs = dict[str, Any]
Build = Callable[[Config, ForwardShape], Any]  # one input of a forward
Tokens = Callable[[Config, ForwardShape], int]  # how many text tokens a forward sees
Dim = int | str | tuple[str, int]  # a size: fixed, a config key, or (config key, default when it is missing)

# The CLIP tokenizers of SD 1.5, SDXL and SD3 pad every prompt to model_max_length = 77 positions.
CLIP_TOKENS = 77

SKIP = object()  # what a ``when`` builder returns when its input does not apply: the forward does not get it


def meta(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.empty(*shape, dtype=dtype, device="meta")


def cpu_input(shape: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` of a real CPU input, checked against ``PARAMCHECK_MAX_INPUT_ELEMENTS`` before it is allocated (the
    FLOP count keeps everything else on meta)."""
    elements = 1
    for size in shape:
        elements *= size
    if elements > MAX_INPUT_ELEMENTS.value():
        sizes = "x".join(str(size) for size in shape)
        found = f"a {sizes} input on the CPU ({elements:,} elements)"
        raise ConfigError(f"{MAX_INPUT_ELEMENTS.exceeded(found)}, or lower --batch or --prompt-length")
    return shape


def ones(*shape: int, dtype: torch.dtype = torch.long) -> torch.Tensor:
    """A CPU mask of ones, bounded (``cpu_input``): models that read lengths out of their masks can."""
    return torch.ones(*cpu_input(shape), dtype=dtype)


def dim(config: Config, size: Dim) -> int:
    """A size: fixed, the config's value of a key, or of (key, default) with the default where it is missing."""
    if isinstance(size, int):
        return size
    if isinstance(size, str):
        return int(config[size])
    value = config.get(size[0])
    return int(value) if value is not None else size[1]


def patch(config: Config) -> int:
    """The spatial patch size (``patch_size``: an int, or (t, h, w) for video transformers; 1 when missing)."""
    p = config.get("patch_size") or 1
    return int(p[-1] if isinstance(p, list | tuple) else p)


# --- the factories ------------------------------------------------------------------------------------------------


def inputs(**builders: Build | bool) -> Callable[[Config, ForwardShape], Inputs]:
    """The builder of a forward's keyword arguments: each builder called, plain values (``False``) as they are."""

    def build(config: Config, shape: ForwardShape) -> Inputs:
        built = {name: b(config, shape) if callable(b) else b for name, b in builders.items()}
        return {name: value for name, value in built.items() if value is not SKIP}

    return build


def when(test: str | Callable[[Config], bool], build: Build) -> Build:
    """``build`` where the config passes ``test`` (a key set to a true value, or a predicate); left out elsewhere."""
    applies = (lambda config: bool(config.get(test))) if isinstance(test, str) else test
    return lambda config, shape: build(config, shape) if applies(config) else SKIP


def per_sample(*sizes: Dim, dtype: torch.dtype = torch.float32) -> Build:
    """One row per sample of the batch: a timestep, a pooled text embedding, size ids."""
    return lambda config, shape: meta(shape.batch, *(dim(config, s) for s in sizes), dtype=dtype)


def latents(
    channels: Dim, *, multiple: Callable[[Config], int] = patch, video: bool = False, what: str = "transformer"
) -> Build:
    """Latents (batch, channels, [latent frames,] height, width); the size must divide into ``multiple`` patches."""

    def build(config: Config, shape: ForwardShape) -> torch.Tensor:
        h, w = shape.latent_hw(multiple(config), what)
        frames = (shape.latent_frames,) if video else ()
        return meta(shape.batch, dim(config, channels), *frames, h, w)

    return build


def packed_latents(channels: Dim) -> Build:
    """FluxPipeline/QwenImagePipeline ``_pack_latents``: each 2x2 latent patch is one token of ``channels``."""

    def build(config: Config, shape: ForwardShape) -> torch.Tensor:
        h, w = shape.latent_hw(2)
        return meta(shape.batch, (h // 2) * (w // 2), dim(config, channels))

    return build


def prompt_tokens(config: Config, shape: ForwardShape) -> int:
    return shape.prompt_length


def fixed_tokens(size: Dim) -> Tokens:
    """A token count the pipeline fixes whatever the prompt length (CLIP's 77, HunyuanDiT's ``text_len``)."""
    return lambda config, shape: dim(config, size)


def text_states(width: Dim, tokens: Tokens = prompt_tokens) -> Build:
    """A text encoder's hidden states as the denoiser gets them: (batch, tokens, width)."""
    return lambda config, shape: meta(shape.batch, tokens(config, shape), dim(config, width))


def text_mask(tokens: Tokens = prompt_tokens, *, dtype: torch.dtype = torch.long, on_meta: bool = False) -> Build:
    """A text attention mask of ones: on the CPU (models read lengths from it) unless ``on_meta``."""
    make = meta if on_meta else ones
    return lambda config, shape: make(shape.batch, tokens(config, shape), dtype=dtype)


# --- text encoders and the safety checker -------------------------------------------------------------------------


def text_inputs(config: Config, shape: ForwardShape) -> Inputs:
    """Token ids: CLIP tokenizers pad to the model's 77 positions, other encoders see the prompt length."""
    length = shape.prompt_length
    if config.get("model_type") == "clip_text_model":
        length = int(config.get("max_position_embeddings", CLIP_TOKENS))
    ids = meta(shape.batch, length, dtype=torch.long)
    if config.get("model_type") == "gemma2":
        return {"input_ids": ids, "attention_mask": ones(shape.batch, length)}
    if config.get("model_type") == "qwen2_5_vl":
        # Qwen2.5-VL reads token ids (image tokens, rope positions): give them on the CPU
        ids = torch.zeros(*cpu_input((shape.batch, length)), dtype=torch.long)
        return {"input_ids": ids, "output_hidden_states": True}
    # A mask of ones is no mask: its FLOPs are the same, and transformers' mask helpers call .item() on it
    return {"input_ids": ids}


def safety_inputs(config: Config, shape: ForwardShape) -> Inputs:
    """The decoded images at the CLIP vision tower's size."""
    size = int(config.get("vision_config", {}).get("image_size", 224))
    return {"pixels": meta(shape.batch, 3, size, size)}


# --- what a forward sees, read off its inputs --------------------------------------------------------------------


def _sizes(t: torch.Tensor) -> str:
    return "×".join(str(d) for d in t.shape)


def describe_text(kwargs: Inputs, config: Config) -> str:
    return f"{_sizes(kwargs['input_ids'])} tokens"


def describe_images(kwargs: Inputs, config: Config) -> str:
    b, _, h, w = kwargs["pixels"].shape
    return f"{b} image(s) at {h}×{w}"


def describe_decode(kwargs: Inputs, config: Config) -> str:
    return f"decode {_sizes(kwargs['z'])} latents"


def image_tokens(latent: torch.Tensor, config: Config) -> int:
    """Tokens of a latent tensor: packed (batch, tokens, channels) as they are, else one per patch (and frame)."""
    if latent.dim() == 3:
        return int(latent.shape[1])
    frames = 1
    if latent.dim() == 5:  # video: (batch, channels, frames, h, w), patch_size (t, h, w)
        p = config.get("patch_size") or 1
        frames = int(latent.shape[2]) // (int(p[0]) if isinstance(p, list | tuple) else 1)
    spatial = patch(config)
    return frames * (int(latent.shape[-2]) // spatial) * (int(latent.shape[-1]) // spatial)


def describe_denoiser(kwargs: Inputs, config: Config) -> str:
    """Image (or video) and text tokens; a UNet's latents; DiT's class label; HunyuanDiT's two text encoders."""
    if "sample" in kwargs:  # UNet2DConditionModel: convolutions over latents, no tokens
        return f"{_sizes(kwargs['sample'])} latents, {kwargs['encoder_hidden_states'].shape[1]} text tokens"
    latent = kwargs["hidden_states"]
    b, image = latent.shape[0], image_tokens(latent, config)
    if "class_labels" in kwargs:
        return f"{b}×{image} image tokens, class label"
    text = kwargs["encoder_hidden_states"].shape[1]
    if "encoder_hidden_states_t5" in kwargs:
        return f"{b}×{image} image tokens; {text} + {kwargs['encoder_hidden_states_t5'].shape[1]} text tokens"
    if latent.dim() == 5:
        return f"{b}×{image} video tokens ({latent.shape[2]} latent frames), {text} text"
    return f"{b}×({image} image + {text} text) tokens"


# --- VAEs -----------------------------------------------------------------------------------------------------------


def latent_scales(class_name: str | None, config: Config) -> tuple[int, int] | None:
    """(spatial, temporal) downsampling of a VAE config, as its pipeline computes ``vae_scale_factor``."""
    if class_name == "AutoencoderKL":
        return 2 ** (len(config.get("block_out_channels", [0] * 4)) - 1), 1
    if class_name == "AutoencoderDC":  # SanaPipeline: 2 ** (len(encoder_block_out_channels) - 1)
        return 2 ** (len(config.get("encoder_block_out_channels", [0] * 6)) - 1), 1
    if class_name in {"AutoencoderKLWan", "AutoencoderKLQwenImage"}:  # 2 ** len / 2 ** sum(temperal_downsample)
        down = config.get("temperal_downsample", [False, True, True])
        return 2 ** len(down), 2 ** sum(bool(d) for d in down)
    return None


# --- inputs made real ---------------------------------------------------------------------------------------------


def realize(
    kwargs: Inputs, *, device: str | torch.device, dtype: torch.dtype, generator: torch.Generator | None = None
) -> Inputs:
    """Built inputs with their meta tensors replaced by tensors of the same shapes on ``device``.

    Floating inputs become ``dtype`` (standard normal values on a real device), integer ids zeros (token 0, class 0,
    timestep 0 are valid everywhere), complex ones keep their dtype; CPU tensors (masks a model reads values from)
    move to ``device``, except to meta, where they stay readable. On meta, floating tensors take ``dtype``.
    """
    target = torch.device(device)

    def convert(value: Any) -> Any:
        if not isinstance(value, torch.Tensor) or isinstance(value, torch.nn.Parameter):
            return value
        if value.device.type == "meta":
            if target.type == "meta":
                wanted = dtype if value.dtype.is_floating_point else value.dtype
                return torch.empty(value.shape, dtype=wanted, device="meta")
            if value.dtype.is_floating_point:
                return torch.randn(value.shape, dtype=dtype, device=target, generator=generator)
            if value.dtype.is_complex:
                return torch.randn(value.shape, dtype=value.dtype, device=target, generator=generator)
            return torch.zeros(value.shape, dtype=value.dtype, device=target)
        if target.type == "meta":
            return value
        moved = value.to(target)
        return moved.to(dtype) if moved.dtype.is_floating_point and moved.dim() > 0 else moved

    converted: Inputs = tree_map(convert, kwargs)
    return converted


def resident_tensors(kwargs: Inputs) -> list[torch.Tensor]:
    """The CPU tensors among inputs realized on meta: what a GPU run would hold on the device (its masks)."""
    return [t for t in tree_flatten(kwargs)[0] if isinstance(t, torch.Tensor) and t.device.type == "cpu"]
