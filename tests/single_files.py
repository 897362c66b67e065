"""Single files, LoRA adapters and GGUF files in the layouts people download, built from tiny modules of the real
classes (and header-only "sparse" files at released sizes), for tests/test_single_files.py and tests/test_lora.py.

Original-layout files are written with ``paramcheck.checkpoint.original`` (diffusers -> LDM/SGM/SAI names) and are
only trusted because the tests load them back with diffusers' own ``from_single_file`` and compare every value
with the modules they came from.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from paramcheck.checkpoint import original

CLIP_L: dict[str, Any] = {
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "vocab_size": 1000,
    "bos_token_id": 0,
    "eos_token_id": 2,
    "pad_token_id": 1,
    "hidden_act": "quick_gelu",
    "projection_dim": 32,
}
# OpenCLIP-bigG stand-in: its width must differ from CLIP_L's (diffusers tells them apart by position_embedding width)
CLIP_G: dict[str, Any] = {**CLIP_L, "hidden_size": 40, "intermediate_size": 48, "num_hidden_layers": 3}
CLIP_G |= {"hidden_act": "gelu", "projection_dim": 40}
VAE: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "block_out_channels": (4, 8),
    "layers_per_block": 1,
    "latent_channels": 4,
    "norm_num_groups": 2,
    "down_block_types": ("DownEncoderBlock2D",) * 2,
    "up_block_types": ("UpDecoderBlock2D",) * 2,
    "sample_size": 16,
}
UNET_SD1: dict[str, Any] = {
    "sample_size": 8,
    "in_channels": 4,
    "out_channels": 4,
    "block_out_channels": (8, 16),
    "layers_per_block": 2,
    "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
    "cross_attention_dim": 32,
    "attention_head_dim": 2,
    "norm_num_groups": 4,
}
UNET_SDXL: dict[str, Any] = {
    **UNET_SD1,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
    "transformer_layers_per_block": (1, 2),
    "cross_attention_dim": 72,
    "attention_head_dim": (2, 4),
    "use_linear_projection": True,
    "addition_embed_type": "text_time",
    "addition_time_embed_dim": 8,
    "projection_class_embeddings_input_dim": 6 * 8 + 40,
}


def save_configs(folder: Path, pipeline: str, modules: Mapping[str, Any], extra: Mapping[str, Any]) -> Path:
    """model_index.json + each module's config.json (no weights) + a scheduler config: what ``config=`` takes."""
    from diffusers import EulerDiscreteScheduler

    folder.mkdir(parents=True, exist_ok=True)
    index: dict[str, Any] = {"_class_name": pipeline, "_diffusers_version": "0.42.1", **extra}
    EulerDiscreteScheduler().save_pretrained(folder / "scheduler")
    index["scheduler"] = ["diffusers", "EulerDiscreteScheduler"]
    for name, module in modules.items():
        if module is None:
            index[name] = [None, None]
            continue
        module.save_pretrained(folder / name)
        for weights in (folder / name).glob("*.safetensors"):
            weights.unlink()
        library = "diffusers" if type(module).__module__.startswith("diffusers") else "transformers"
        index[name] = [library, type(module).__name__]
    (folder / "model_index.json").write_text(json.dumps(index), encoding="utf-8")
    return folder


def sd1_modules() -> dict[str, Any]:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    return {
        "unet": UNet2DConditionModel(**UNET_SD1),
        "vae": AutoencoderKL(**VAE),
        "text_encoder": CLIPTextModel(CLIPTextConfig(**CLIP_L)),
    }


def sd1_tensors(modules: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The SD 1.x release layout: model.diffusion_model. / first_stage_model. / cond_stage_model.transformer."""
    unet, vae, text = modules["unet"], modules["vae"], modules["text_encoder"]
    return {
        **original.prefixed("model.diffusion_model.", original.unet_to_ldm(unet.state_dict(), unet.config)),
        **original.prefixed("first_stage_model.", original.vae_to_ldm(vae.state_dict(), vae.config)),
        **original.prefixed("cond_stage_model.transformer.", original.clip_hf_names(text.state_dict())),
    }


def sdxl_modules() -> dict[str, Any]:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    return {
        "unet": UNet2DConditionModel(**UNET_SDXL),
        "vae": AutoencoderKL(**VAE),
        "text_encoder": CLIPTextModel(CLIPTextConfig(**CLIP_L)),
        "text_encoder_2": CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_G)),
    }


def sdxl_tensors(modules: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The SDXL release layout (SGM): conditioner.embedders.0.transformer. (CLIP-L), .1.model. (OpenCLIP-bigG)."""
    unet, vae = modules["unet"], modules["vae"]
    return {
        **original.prefixed("model.diffusion_model.", original.unet_to_ldm(unet.state_dict(), unet.config)),
        **original.prefixed("first_stage_model.", original.vae_to_ldm(vae.state_dict(), vae.config)),
        **original.prefixed(
            "conditioner.embedders.0.transformer.", original.clip_hf_names(modules["text_encoder"].state_dict())
        ),
        **original.prefixed(
            "conditioner.embedders.1.model.", original.openclip_from_hf(modules["text_encoder_2"].state_dict())
        ),
    }


def write(path: Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=dict(metadata or {"format": "pt"}))
    return path


SAFETENSORS_DTYPES = {torch.float32: ("F32", 4), torch.float16: ("F16", 2), torch.bfloat16: ("BF16", 2)}


def write_header_only(path: Path, shapes: Mapping[str, tuple[tuple[int, ...], str]]) -> Path:
    """A safetensors file whose header is real and whose data section is a hole (``truncate``): released sizes in a
    few kB of disk. ``shapes``: name -> (shape, dtype)."""
    sizes = {"F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "U8": 1, "I64": 8}
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, (shape, dtype) in shapes.items():
        nbytes = math.prod(shape) * sizes[dtype]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + offset)
    return path


def bundled_original(
    model: str, component: str, *, dtype: str = "BF16", prefix: str = "", openclip: bool = False
) -> dict[str, tuple[tuple[int, ...], str]]:
    """A bundled component built on meta, mapped to its release layout under ``prefix``: name -> (shape, dtype)."""
    from paramcheck.build import build_component
    from paramcheck.sources import resolve

    spec = resolve(model).component(component)
    module = build_component(spec)
    assert module is not None
    state = module.state_dict()
    config = dict(spec.config or {})
    if spec.class_name == "FluxTransformer2DModel":
        mapped = original.flux_to_original(state, config)
    elif spec.class_name == "UNet2DConditionModel":
        mapped = original.unet_to_ldm(state, config)
    elif spec.class_name == "SD3Transformer2DModel":
        mapped = original.sd3_to_original(state, config)
    elif spec.class_name == "AutoencoderKL":
        mapped = original.vae_to_ldm(state, config)
    elif openclip:
        mapped = original.openclip_from_hf(state)
    else:
        mapped = original.clip_hf_names(state)
    return {prefix + k: (tuple(v.shape), dtype) for k, v in mapped.items()}
