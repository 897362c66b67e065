"""Compute recipes of the bundled pipelines: defaults against diffusers' own ``__call__``, sums, one hand count."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from paramcheck.compute.analysis import Analysis, analyse
from paramcheck.compute.flops import FlopReport
from paramcheck.compute.recipes import DEFAULTS

BUNDLED = Path(__file__).resolve().parent.parent / "paramcheck" / "bundled"

# pipeline class -> a bundled model that uses it
PIPELINES = {
    "StableDiffusion3Pipeline": "sd3.5-medium",
    "StableDiffusionXLPipeline": "sdxl-base-1.0",
    "StableDiffusionPipeline": "sd-1.5",
    "PixArtSigmaPipeline": "pixart-sigma-xl-1024",
    "LuminaPipeline": "lumina-next-sft",
    "QwenImagePipeline": "qwen-image",
    "WanPipeline": "wan2.1-t2v-1.3b",
    "SanaPipeline": "sana-1600m-1024",
    "AuraFlowPipeline": "auraflow-v0.3",
    "HunyuanDiTPipeline": "hunyuandit-v1.2",
    "CogView4Pipeline": "cogview4-6b",
    "DiTPipeline": "dit-xl-2-256",
}


def _config(model: str, component: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((BUNDLED / model / component / "config.json").read_text())
    return data


def _vae_scale(model: str) -> int:
    """vae_scale_factor as each pipeline's __init__ computes it, from the bundled VAE config."""
    vae = _config(model, "vae")
    if "temperal_downsample" in vae:  # Wan / Qwen-Image: 2 ** len(temperal_downsample)
        return 2 ** len(vae["temperal_downsample"])  # type: ignore[arg-type]
    if "encoder_block_out_channels" in vae:  # Sana (DC-AE)
        return 2 ** (len(vae["encoder_block_out_channels"]) - 1)  # type: ignore[arg-type]
    return 2 ** (len(vae["block_out_channels"]) - 1)  # type: ignore[arg-type]


@pytest.mark.parametrize(("pipeline", "model"), sorted(PIPELINES.items()))
def test_defaults_match_the_pipeline(pipeline: str, model: str) -> None:
    import diffusers

    cls = getattr(diffusers, pipeline)
    params = inspect.signature(cls.__call__).parameters
    default = {name: p.default for name, p in params.items()}
    row = next(r for r in DEFAULTS if r.key == pipeline)
    assert row.steps == default["num_inference_steps"]
    if "max_sequence_length" in default:
        assert row.prompt_length == default["max_sequence_length"]
    denoiser = "unet" if (BUNDLED / model / "unet").is_dir() else "transformer"
    config = _config(model, denoiser)
    if isinstance(default.get("height"), int):
        assert (row.height, row.width) == (default["height"], default["width"])
    else:  # sample_size (QwenImagePipeline: a fixed default_sample_size = 128) × vae_scale_factor
        size = int(config.get("sample_size") or 128)  # type: ignore[call-overload]
        assert row.height == row.width == size * _vae_scale(model)
    assert row.frames == default.get("num_frames", 1)
    if pipeline == "QwenImagePipeline":  # true CFG only with a negative prompt, and there is none by default
        assert default["true_cfg_scale"] > 1
        assert default["negative_prompt"] is None
        assert row.cfg is False
    else:
        assert row.cfg is (default["guidance_scale"] > 1)
        assert config.get("time_cond_proj_dim") is None  # SD's do_classifier_free_guidance also needs this
    # batched CFG: the pipeline concatenates the latents and runs one forward of twice the batch
    batched = "torch.cat([latents] * 2)" in inspect.getsource(cls.__call__)
    assert row.cfg_batched is batched
    index = json.loads((BUNDLED / model / "model_index.json").read_text())
    skips_negative = index.get("force_zeros_for_empty_prompt") is True and default.get("negative_prompt") is None
    assert row.encode_negative is not skips_negative
    if pipeline == "HunyuanDiTPipeline":
        assert dict(row.text_tokens) == {"text_encoder": config["text_len"], "text_encoder_2": config["text_len_t5"]}


# Forwards per call at steps=2 with the default CFG: text encoders twice under CFG (SDXL once: zeros for the
# empty negative prompt), the denoiser once per step when CFG is batched, twice when sequential; VAE once.
FORWARDS = {
    "sd3.5-medium": {"text_encoder": 2, "text_encoder_2": 2, "text_encoder_3": 2, "transformer": 2, "vae": 1},
    "sdxl-base-1.0": {"text_encoder": 1, "text_encoder_2": 1, "unet": 2, "vae": 1},
    "sd-1.5": {"text_encoder": 2, "unet": 2, "vae": 1, "safety_checker": 1},
    "pixart-sigma-xl-1024": {"text_encoder": 2, "transformer": 2, "vae": 1},
    "lumina-next-sft": {"text_encoder": 2, "transformer": 2, "vae": 1},
    "qwen-image": {"text_encoder": 1, "transformer": 2, "vae": 1},
    "wan2.1-t2v-1.3b": {"text_encoder": 2, "transformer": 4, "vae": 1},
    "sana-1600m-1024": {"text_encoder": 2, "transformer": 2, "vae": 1},
    "auraflow-v0.3": {"text_encoder": 2, "transformer": 2, "vae": 1},
    "hunyuandit-v1.2": {"text_encoder": 2, "text_encoder_2": 2, "transformer": 2, "vae": 1},
    "cogview4-6b": {"text_encoder": 2, "transformer": 4, "vae": 1},
    "dit-xl-2-256": {"transformer": 2, "vae": 1},
}


@pytest.mark.parametrize(("model", "expected"), sorted(FORWARDS.items()))
def test_each_call_is_the_sum_of_its_forwards(model: str, expected: dict[str, int]) -> None:
    video = {"frames": 5} if model.startswith("wan") else {}  # --frames on an image pipeline is refused
    analysis = analyse(model, height=256, width=256, steps=2, prompt_length=8, batch=2, **video)
    flops = analysis.flops
    assert flops is not None
    assert {f.component: f.forwards for f in flops.forwards} == expected
    assert all(f.flops > 0 for f in flops.forwards)
    parts = sum(expected[f.component] * f.flops for f in flops.forwards)
    assert flops.total_flops == parts
    assert flops.flops_per_image == parts // 2  # batch 2
    assert sum(flops.category_flops(c) for c in ("attention", "linear", "conv", "other")) == parts
    denoiser = next(f for f in flops.forwards if f.role == "denoiser")
    batched = flops.workload.cfg_batched
    assert denoiser.inputs.startswith("4×" if batched else "2×")  # CFG batched: twice the 2 images at once
    assert FlopReport.from_dict(json.loads(json.dumps(flops.to_dict()))) == flops
    assert Analysis.from_dict(json.loads(json.dumps(analysis.to_dict()))) == analysis


def test_wan_frames_become_latent_frames() -> None:
    flops = analyse("wan2.1-t2v-1.3b", height=256, width=256, steps=1, prompt_length=8, frames=9).flops
    assert flops is not None
    transformer = flops.forward("transformer")
    assert transformer is not None
    # WanPipeline: (9 - 1) // 4 + 1 = 3 latent frames; patch (1, 2, 2) on 32×32 latents: 3 × 16 × 16 tokens
    assert transformer.inputs == "1×768 video tokens (3 latent frames), 8 text"
    assert flops.workload.frames == 9


def test_dit_xl_2_flops_by_hand() -> None:
    """DiT-XL/2 at 256x256: 28 blocks of width 1152 over 256 tokens (32x32 latents, patch 2), counted by hand.

    The DiT paper (Peebles & Xie 2023, table 4) gives 118.6 GFLOPs for it, counting multiply-adds.
    """
    flops = analyse("dit-xl-2-256", cfg=False).flops
    assert flops is not None
    transformer = flops.forward("transformer")
    assert transformer is not None
    d, n, blocks = 1152, 256, 28
    per_token = 3 * d * d + d * d + 2 * (4 * d * d)  # qkv, out, MLP 1152 -> 4608 -> 1152
    attention = 2 * n * n * d  # QKᵀ and AV, all heads together
    modulation = d * 6 * d  # adaLN-Zero: 6 vectors from the conditioning, one per sample
    embed = 256 * d + d * d  # timestep MLP: sinusoid 256 -> 1152 -> 1152, in each block's norm and once more at the end
    patch = n * (4 * 2 * 2) * d  # conv patch embedding: 4 channels × 2 × 2 per token
    final = d * 2 * d + n * d * (2 * 2 * 8)  # final adaLN 1152 -> 2304, linear to 2×2 patches of 8 channels
    macs = blocks * (n * per_token + attention + modulation + embed) + embed + patch + final
    assert macs == 118_666_838_016
    assert transformer.macs == macs
    assert transformer.category_flops("attention") == 2 * blocks * attention
    assert abs(transformer.macs / 118.6e9 - 1) < 0.001  # the paper's figure, to its printed precision
