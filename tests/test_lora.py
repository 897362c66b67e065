"""LoRA adapters from headers: what they add, and what they hit in a base model.

Referees: peft itself (the adapter's own LoRA parameters and injected layers, ``set_peft_model_state_dict``'s
unexpected keys), diffusers' ``lora_state_dict`` + ``load_lora_into_unet``/``..._text_encoder`` for kohya files
(LoRA layers created), and hand counts (rank x (in + out) per Linear).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from paramcheck.checkpoint import original
from paramcheck.checkpoint.files import FileKind, file_kind
from paramcheck.checkpoint.lora import LoraReport, inspect_lora
from paramcheck.cli import main

from .single_files import CLIP_G, CLIP_L, UNET_SDXL
from .tiny import TINY_FLUX_TRANSFORMER

pytest.importorskip("peft")


def _flux(config: dict[str, Any] | None = None) -> torch.nn.Module:
    from diffusers import FluxTransformer2DModel

    torch.manual_seed(0)
    return FluxTransformer2DModel(**(config or TINY_FLUX_TRANSFORMER))


def _config_only(folder: Path, module: Any) -> Path:
    module.save_pretrained(folder)
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    return folder


def _lora_layers(module: torch.nn.Module) -> int:
    from peft.tuners.lora import LoraLayer

    return sum(1 for m in module.modules() if isinstance(m, LoraLayer))


@pytest.fixture(scope="module")
def flux_case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A peft adapter on the tiny FLUX transformer (rank_pattern, alpha_pattern) and the base's config folder."""
    from peft import LoraConfig, get_peft_model

    folder = tmp_path_factory.mktemp("lora")
    base = _config_only(folder / "base", _flux())
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=["to_q", "to_k", "to_v", "to_out.0", "proj_mlp"],
        rank_pattern={"single_transformer_blocks.0.proj_mlp": 2},
        alpha_pattern={"to_out.0": 2},
    )
    model = get_peft_model(_flux(), config)
    model.save_pretrained(str(folder / "adapter"))
    added = sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)
    return {"base": base, "adapter": folder / "adapter", "layers": _lora_layers(model), "added": added}


def test_peft_adapter_counts(flux_case: dict[str, Any]) -> None:
    assert file_kind(flux_case["adapter"]) is FileKind.LORA  # a folder with an adapter is an adapter, not an error
    report = inspect_lora(flux_case["adapter"])
    assert report.format == "peft"
    assert report.parameters == flux_case["added"]  # peft's own count of what it added
    # by hand: to_q/k/v/to_out.0 of the double block and to_q/k/v of the single block are 32 -> 32 at rank 4:
    # 7 x 4 x (32 + 32); proj_mlp 32 -> 128 at rank 2: 2 x (32 + 128)
    assert report.parameters == 7 * 4 * (32 + 32) + 2 * (32 + 128)
    assert report.ranks == (2, 4)
    alphas = {t.module.rsplit(".", 1)[-1] if "to_out" not in t.module else "to_out.0": t.alpha for t in report.targets}
    assert alphas["to_q"] == 8.0
    assert alphas["to_out.0"] == 2.0


def test_peft_adapter_against_its_base(flux_case: dict[str, Any]) -> None:
    report = inspect_lora(flux_case["adapter"], against=str(flux_case["base"]))
    assert report.ok
    assert report.layers_hit == flux_case["layers"]  # the layers peft injected
    assert report.hit_nothing == ()
    categories = {h.category for h in report.hits}
    assert "attention" in categories


def test_adapter_beyond_the_base_hits_nothing(tmp_path: Path) -> None:
    """Made on a 2-block FLUX, checked on the 1-block base: peft reports the block-1 keys unexpected; so do we."""
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
    from safetensors.torch import load_file

    base = _config_only(tmp_path / "base", _flux())
    deeper = _flux(dict(TINY_FLUX_TRANSFORMER, num_layers=2))
    config = LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_v"])
    get_peft_model(deeper, config).save_pretrained(str(tmp_path / "adapter"))
    referee = get_peft_model(_flux(), LoraConfig.from_pretrained(str(tmp_path / "adapter")))
    result = set_peft_model_state_dict(referee, load_file(str(tmp_path / "adapter" / "adapter_model.safetensors")))
    unexpected = {re.sub(r"\.lora_[AB]\.weight$", "", k) for k in result.unexpected_keys}
    report = inspect_lora(tmp_path / "adapter", against=str(base))
    assert not report.ok
    assert {h.target for h in report.hit_nothing} == unexpected
    assert len(unexpected) == 2
    assert report.layers_hit == _lora_layers(referee)


def test_adapter_of_another_width_is_a_shape_mismatch(tmp_path: Path) -> None:
    """Made on a 3-head FLUX (width 48), checked on the 2-head base (width 32): peft refuses to load it."""
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
    from safetensors.torch import load_file

    base = _config_only(tmp_path / "base", _flux())
    wider = _flux(dict(TINY_FLUX_TRANSFORMER, num_attention_heads=3))
    get_peft_model(wider, LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_v"])).save_pretrained(
        str(tmp_path / "adapter")
    )
    referee = get_peft_model(_flux(), LoraConfig.from_pretrained(str(tmp_path / "adapter")))
    with pytest.raises(RuntimeError, match="size mismatch"):
        set_peft_model_state_dict(referee, load_file(str(tmp_path / "adapter" / "adapter_model.safetensors")))
    report = inspect_lora(tmp_path / "adapter", against=str(base))
    assert not report.ok
    assert len(report.shape_mismatches) == len(report.targets) == 4  # to_q, to_v of the double and single block
    assert report.shape_mismatches[0].problem == "shape: the LoRA maps 48 -> 48, the base 32 -> 32"


def test_adapter_on_another_architecture_is_applied_to_0_layers(flux_case: dict[str, Any], tmp_path: Path) -> None:
    from transformers import CLIPTextConfig, CLIPTextModel

    clip = _config_only(tmp_path / "clip", CLIPTextModel(CLIPTextConfig(**CLIP_L)))
    report = inspect_lora(flux_case["adapter"], against=str(clip))
    assert report.layers_hit == 0
    assert not report.ok
    assert any("applied to 0 layers" in note for note in report.notes)


def _kohya(modules: dict[str, tuple[int, ...]], prefix: str, rank: int = 4) -> dict[str, torch.Tensor]:
    out = {}
    for name, (o, i) in modules.items():
        key = prefix + name.replace(".", "_")
        out[f"{key}.lora_down.weight"] = torch.randn(rank, i) * 0.01
        out[f"{key}.lora_up.weight"] = torch.randn(o, rank) * 0.01
        out[f"{key}.alpha"] = torch.tensor(float(rank))
    return out


@pytest.fixture(scope="module")
def kohya_sdxl(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A kohya/sd-scripts SDXL LoRA (SGM UNet names, lora_te1_/lora_te2_) and a tiny SDXL base folder."""
    import json

    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    folder = tmp_path_factory.mktemp("kohya")
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**UNET_SDXL)
    te, te2 = CLIPTextModel(CLIPTextConfig(**CLIP_L)), CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_G))
    sgm = original.unet_to_ldm(unet.state_dict(), unet.config)
    attention = {
        k.removesuffix(".weight"): tuple(v.shape)
        for k, v in sgm.items()
        if re.search(r"attn[12]\.to_(q|k|v|out\.0)\.weight$", k)
    }

    def clip_modules(m: torch.nn.Module) -> dict[str, tuple[int, ...]]:
        names = original.clip_hf_names(m.state_dict())
        return {
            k.removesuffix(".weight"): tuple(v.shape)
            for k, v in names.items()
            if re.search(r"self_attn\.(q|k|v|out)_proj\.weight$", k)
        }

    tensors = {
        **_kohya(attention, "lora_unet_"),
        **_kohya(clip_modules(te), "lora_te1_"),
        **_kohya(clip_modules(te2), "lora_te2_"),
    }
    file = folder / "kohya_sdxl.safetensors"
    save_file(tensors, str(file), metadata={"ss_network_dim": "4", "ss_network_alpha": "4.0"})
    for name, module in (("unet", unet), ("text_encoder", te), ("text_encoder_2", te2)):
        _config_only(folder / "base" / name, module)
    index = {
        "_class_name": "StableDiffusionXLPipeline",
        "unet": ["diffusers", "UNet2DConditionModel"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
    }
    (folder / "base" / "model_index.json").write_text(json.dumps(index))
    return {"file": file, "base": folder / "base", "modules": (unet, te, te2), "tensors": tensors}


def test_kohya_sdxl_hits_what_diffusers_loads(kohya_sdxl: dict[str, Any]) -> None:
    from diffusers import StableDiffusionXLPipeline

    unet, te, te2 = kohya_sdxl["modules"]
    state, alphas = StableDiffusionXLPipeline.lora_state_dict(
        str(kohya_sdxl["file"]), unet_config=unet.config, return_alphas=True
    )[:2]
    StableDiffusionXLPipeline.load_lora_into_unet(state, network_alphas=alphas, unet=unet)
    StableDiffusionXLPipeline.load_lora_into_text_encoder(state, network_alphas=alphas, text_encoder=te)
    StableDiffusionXLPipeline.load_lora_into_text_encoder(
        state, network_alphas=alphas, text_encoder=te2, prefix="text_encoder_2"
    )
    loaded = _lora_layers(unet) + _lora_layers(te) + _lora_layers(te2)
    report = inspect_lora(kohya_sdxl["file"], against=str(kohya_sdxl["base"]))
    assert report.format == "kohya"
    assert report.ok
    assert report.layers_hit == loaded == len(report.targets)
    assert report.parameters == sum(v.numel() for k, v in kohya_sdxl["tensors"].items() if not k.endswith(".alpha"))
    assert {t.alpha for t in report.targets} == {4.0}  # from ss_network_alpha: .alpha values are not read
    assert report.loader is not None
    assert report.loader.error is None
    assert report.loader.dropped == ()


def test_cli_check_lora(
    kohya_sdxl: dict[str, Any], flux_case: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(kohya_sdxl["file"])]) == 0
    assert "LoRA (kohya)" in capsys.readouterr().out
    assert main(["report", str(flux_case["adapter"])]) == 0  # an adapter folder is an adapter, not an error
    assert f"LoRA (peft), 8 targets, {flux_case['added']:,} parameters added, rank 2/4" in capsys.readouterr().out
    assert main(["check", str(flux_case["adapter"]), "--against", str(kohya_sdxl["base"])]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH: 0 layers hit" in out
    assert main(["check", str(flux_case["adapter"])]) == 2
    assert "give --against MODEL" in capsys.readouterr().err


def test_report_round_trips(flux_case: dict[str, Any]) -> None:
    report = inspect_lora(flux_case["adapter"], against=str(flux_case["base"]))
    assert LoraReport.from_dict(report.to_dict()) == report


def test_kohya_flux_targets_diffusers_drops(tmp_path: Path) -> None:
    """A kohya FLUX LoRA at FLUX.1-dev's width (BFL names, fused qkv/linear1), block 0 and the top-level layers:
    every target hits flux.1-dev, and the loader view names the targets diffusers converts without the
    ``transformer.`` prefix, which load_lora_adapter then filters out without a word. Referee: diffusers' own
    lora_state_dict on the real (small) LoRA tensors."""
    from diffusers import FluxPipeline

    from .single_files import bundled_original

    pattern = (
        r"^(double_blocks\.0\.(img_attn\.qkv|img_attn\.proj|txt_attn\.qkv|img_mlp\.0)|single_blocks\.0\.linear[12]|"
        r"img_in|final_layer\.linear|guidance_in\.in_layer|time_in\.in_layer)\.weight$"
    )
    linears = {k.removesuffix(".weight"): s for k, (s, _) in bundled_original("flux.1-dev", "transformer").items()}
    chosen = {k: s for k, s in linears.items() if re.match(pattern, k + ".weight")}
    torch.manual_seed(0)
    file = tmp_path / "kohya_flux.safetensors"
    tensors = _kohya(chosen, "lora_unet_")
    save_file(tensors, str(file), metadata={"ss_network_alpha": "4.0", "ss_base_model_version": "flux1"})
    converted = FluxPipeline.lora_state_dict(str(file))
    converted = converted[0] if isinstance(converted, tuple) else converted
    unprefixed = {k.split(".lora")[0] for k in converted if not k.startswith("transformer.")}
    report = inspect_lora(file, against="flux.1-dev")
    assert report.ok
    assert len(report.targets) == len(chosen) == 10
    # fused targets span their modules: qkv -> to_q, to_k, to_v; linear1 -> to_q, to_k, to_v, proj_mlp
    assert report.layers_hit == 10 + 2 + 2 + 3  # two qkv (+2 each), linear1 (+3)
    assert report.parameters == sum(v.numel() for k, v in tensors.items() if not k.endswith(".alpha"))
    assert report.loader is not None
    dropped = set(report.loader.dropped)
    assert len(dropped) == len(unprefixed) == 4  # img_in, final_layer.linear, guidance_in, time_in
    assert {d.removeprefix("lora_unet_") for d in dropped} == {
        "img_in",
        "final_layer_linear",
        "guidance_in_in_layer",
        "time_in_in_layer",
    }
    assert any("drops 4 stored targets without a word" in note for note in report.notes)


def test_diffusers_format_dev_lora_on_schnell(tmp_path: Path) -> None:
    """A diffusers-format FLUX LoRA (save_lora_weights, with its lora_adapter_metadata) trained on a dev-like base
    with the guidance embedder, checked on a schnell-like base that has none: the guidance targets hit nothing."""
    from diffusers import FluxPipeline
    from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model

    dev = _flux(dict(TINY_FLUX_TRANSFORMER, guidance_embeds=True))
    config = LoraConfig(r=4, lora_alpha=2, target_modules=["to_q", "linear_1", "linear_2"])
    inject_adapter_in_model(config, dev)
    FluxPipeline.save_lora_weights(
        str(tmp_path / "lora"),
        transformer_lora_layers=get_peft_model_state_dict(dev),
        transformer_lora_adapter_metadata=config.to_dict(),
    )
    file = tmp_path / "lora" / "pytorch_lora_weights.safetensors"
    schnell = _config_only(tmp_path / "schnell", _flux(dict(TINY_FLUX_TRANSFORMER, guidance_embeds=False)))
    dev_base = _config_only(tmp_path / "dev", _flux(dict(TINY_FLUX_TRANSFORMER, guidance_embeds=True)))
    on_dev = inspect_lora(file, against=str(dev_base))
    assert on_dev.format == "diffusers"
    assert on_dev.ok
    assert on_dev.layers_hit == _lora_layers(dev)  # the layers peft injected into the dev base
    assert {t.alpha for t in on_dev.targets} == {2.0}  # from lora_adapter_metadata
    on_schnell = inspect_lora(file, against=str(schnell))
    assert not on_schnell.ok
    missing = {h.target.removeprefix("transformer.") for h in on_schnell.hit_nothing}
    assert missing == {"time_text_embed.guidance_embedder.linear_1", "time_text_embed.guidance_embedder.linear_2"}
