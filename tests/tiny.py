"""Tiny pipelines of the real classes, saved the way the hub stores them, for tests to count."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

TINY_FLUX_TRANSFORMER: dict[str, Any] = {
    "patch_size": 1,
    "in_channels": 4,
    "num_layers": 1,
    "num_single_layers": 1,
    "attention_head_dim": 16,
    "num_attention_heads": 2,
    "joint_attention_dim": 32,
    "pooled_projection_dim": 32,
    "axes_dims_rope": [4, 4, 8],
}
TINY_CLIP: dict[str, Any] = {
    "bos_token_id": 0,
    "eos_token_id": 2,
    "hidden_size": 32,
    "intermediate_size": 37,
    "layer_norm_eps": 1e-05,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "pad_token_id": 1,
    "vocab_size": 1000,
    "hidden_act": "gelu",
    "projection_dim": 32,
}
TINY_T5: dict[str, Any] = {"vocab_size": 1000, "d_model": 32, "d_kv": 8, "d_ff": 37, "num_layers": 2, "num_heads": 4}
TINY_VAE: dict[str, Any] = {
    "sample_size": 32,
    "in_channels": 3,
    "out_channels": 3,
    "block_out_channels": [4],
    "layers_per_block": 1,
    "latent_channels": 1,
    "norm_num_groups": 1,
    "use_quant_conv": False,
    "use_post_quant_conv": False,
}


def tiny_flux_modules(seed: int = 0) -> dict[str, torch.nn.Module]:
    """The four FLUX components at toy size, with real (random) weights."""
    from diffusers import AutoencoderKL, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    torch.manual_seed(seed)
    return {
        "text_encoder": CLIPTextModel(CLIPTextConfig(**TINY_CLIP)),
        "text_encoder_2": T5EncoderModel(T5Config(**TINY_T5)),
        "transformer": FluxTransformer2DModel(**TINY_FLUX_TRANSFORMER),
        "vae": AutoencoderKL(**TINY_VAE),
    }


def save_pipeline(
    folder: Path,
    modules: dict[str, torch.nn.Module],
    *,
    weights: bool = True,
    max_shard_size: str | None = None,
    pipeline: str = "FluxPipeline",
) -> Path:
    """``modules`` saved with ``save_pretrained`` under ``folder`` plus a hand-written model_index.json.

    Tokenizers and the scheduler are listed in model_index.json as the hub lists them; the scheduler gets its
    config. With ``weights=False`` only the configs are written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    index: dict[str, Any] = {"_class_name": pipeline, "_diffusers_version": "0.42.1"}
    index["scheduler"] = ["diffusers", "FlowMatchEulerDiscreteScheduler"]
    for name, module in modules.items():
        library = "diffusers" if type(module).__module__.startswith("diffusers") else "transformers"
        index[name] = [library, type(module).__name__]
        target = folder / name
        kwargs: dict[str, Any] = {}
        if max_shard_size is not None:
            kwargs["max_shard_size"] = max_shard_size
        module.save_pretrained(target, **kwargs)
        if not weights:
            for path in target.iterdir():
                if path.name != "config.json":
                    path.unlink()
    index["tokenizer"] = ["transformers", "CLIPTokenizer"]
    index["tokenizer_2"] = ["transformers", "T5TokenizerFast"]
    (folder / "model_index.json").write_text(json.dumps(index, indent=2), encoding="utf-8")
    (folder / "scheduler").mkdir(exist_ok=True)
    (folder / "scheduler" / "scheduler_config.json").write_text(
        json.dumps({"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0}), encoding="utf-8"
    )
    return folder


def scale_counts(data: Any, keys: frozenset[str], factor: int) -> Any:
    """A result's JSON with every int under ``keys`` times ``factor``: tiny counts as wide as a real model's, for
    tests of how tables lay out."""
    if isinstance(data, dict):
        return {
            k: (v * factor if k in keys and isinstance(v, int) else scale_counts(v, keys, factor))
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [scale_counts(v, keys, factor) for v in data]
    return data
