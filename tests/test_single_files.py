"""Single-file checkpoints (original layouts) and GGUF files: identified, split and checked from headers alone.

Referees: diffusers' ``from_single_file`` (the tiny SD 1.x file loads value-equal to the modules it came from, so the
file is the layout diffusers reads), diffusers' ``infer_diffusers_model_type`` (identification at released sizes),
the tiny modules' own parameter counts, and hand counts of GGUF block sizes.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from paramcheck.checkpoint.files import FileKind, file_kind
from paramcheck.checkpoint.singlefile import LoaderStatus, inspect_single_file
from paramcheck.cli import main
from paramcheck.errors import CheckpointError, ConfigError

from .single_files import (
    bundled_original,
    save_configs,
    sd1_modules,
    sd1_tensors,
    sdxl_modules,
    sdxl_tensors,
    write,
    write_header_only,
)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def sd1(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tiny SD 1.x pipeline as a release-layout single file, and its configs."""
    folder = tmp_path_factory.mktemp("sd1")
    modules = sd1_modules()
    extra = {"safety_checker": [None, None], "feature_extractor": [None, None], "requires_safety_checker": False}
    config = save_configs(folder / "config", "StableDiffusionPipeline", {**modules, "tokenizer": None}, extra)
    tensors = sd1_tensors(modules)
    return {
        "modules": modules,
        "tensors": tensors,
        "config": config,
        "file": write(folder / "sd1.safetensors", tensors),
    }


def test_sd1_file_is_what_from_single_file_loads(sd1: dict[str, Any]) -> None:
    """The referee: diffusers loads the built file back value-equal, so the layout under test is diffusers' own."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_single_file(
        str(sd1["file"]),
        config=str(sd1["config"]),
        local_files_only=True,
        tokenizer=None,
        safety_checker=None,
        feature_extractor=None,
    )
    for name, module in sd1["modules"].items():
        loaded = getattr(pipe, name).state_dict()
        assert set(loaded) == set(module.state_dict()), name
        assert all(torch.equal(loaded[k], v) for k, v in module.state_dict().items()), name


def test_sd1_file_matches_part_by_part(sd1: dict[str, Any]) -> None:
    report = inspect_single_file(sd1["file"], against=str(sd1["config"]))
    assert report.ok
    assert report.identity.family == "ldm-unet"
    assert report.identity.model is None  # 8 model channels: the sizes of no release
    assert {p.kind: p.prefix for p in report.parts} == {
        "denoiser": "model.diffusion_model.",
        "vae": "first_stage_model.",
        "clip_l": "cond_stage_model.transformer.",
    }
    for name, module in sd1["modules"].items():
        check = report.check(name)
        assert check is not None
        assert check.ok
        assert check.loader is not None
        assert check.loader.status is LoaderStatus.LOADS
        assert check.parameters == check.architecture_parameters == _count(module)
    assert report.absent == ()
    assert report.check("text_encoder").parameters == (  # type: ignore[union-attr]
        # token 1000*32 + positions 77*32 + 2 layers x (4 x (32*32+32) + 37*32+37 + 32*37+32 + 4*32) + final norm 2*32
        1000 * 32 + 77 * 32 + 2 * (4 * (32 * 32 + 32) + 37 * 32 + 37 + 32 * 37 + 32 + 4 * 32) + 2 * 32
    )


def test_unet_only_file_against_its_unet_component(sd1: dict[str, Any], tmp_path: Path) -> None:
    """A file with the VAE and text encoder too, checked against MODEL:unet: the UNet part alone is compared."""
    report = inspect_single_file(sd1["file"], against=f"{sd1['config']}:unet")
    assert [c.component for c in report.checks] == ["unet"]
    assert report.ok
    assert set(report.unchecked) == {"vae:first_stage_model.", "clip_l:cond_stage_model.transformer."}


def _mutant(sd1: dict[str, Any], path: Path, change: Any) -> Path:
    tensors = dict(sd1["tensors"])
    change(tensors)
    return write(path, tensors)


def test_no_vae_is_absent(sd1: dict[str, Any], tmp_path: Path) -> None:
    def drop(t: dict[str, torch.Tensor]) -> None:
        for k in [k for k in t if k.startswith("first_stage_model.")]:
            del t[k]

    report = inspect_single_file(_mutant(sd1, tmp_path / "novae.safetensors", drop), against=str(sd1["config"]))
    assert report.absent == ("vae",)
    assert report.ok  # what is there matches; the missing part is reported, not a mismatch


def test_dropped_tensor_and_wrong_shape(sd1: dict[str, Any], tmp_path: Path) -> None:
    name = "model.diffusion_model.input_blocks.1.1.proj_in.weight"
    dropped = _mutant(sd1, tmp_path / "drop.safetensors", lambda t: t.pop(name))
    report = inspect_single_file(dropped, against=str(sd1["config"]))
    unet = report.check("unet")
    assert unet is not None
    assert not unet.ok
    assert unet.missing == (name,)
    assert unet.loader is not None
    assert unet.loader.missing == ("down_blocks.0.attentions.0.proj_in.weight",)
    assert unet.parameters == _count(sd1["modules"]["unet"]) - sd1["tensors"][name].numel()

    def reshape(t: dict[str, torch.Tensor]) -> None:
        t["first_stage_model.encoder.conv_in.weight"] = torch.zeros(4, 3, 1, 1)

    report = inspect_single_file(_mutant(sd1, tmp_path / "shape.safetensors", reshape), against=str(sd1["config"]))
    vae = report.check("vae")
    assert vae is not None
    assert [(s.name, s.found, s.expected) for s in vae.shapes] == [
        ("first_stage_model.encoder.conv_in.weight", (4, 3, 1, 1), (4, 3, 3, 3))
    ]
    assert vae.loader is not None
    assert vae.loader.status is LoaderStatus.FAILS


def test_ema_copy_and_dtype_mix(sd1: dict[str, Any], tmp_path: Path) -> None:
    def ema_fp16(t: dict[str, torch.Tensor]) -> None:
        unet = [k for k in t if k.startswith("model.diffusion_model.")]
        for k in unet:  # diffusers' own EMA naming: model_ema. + the UNet name without its dots
            t["model_ema." + "".join(k.split(".")[1:])] = t[k].clone()
            t[k] = t[k].half()
        t["model_ema.decay"] = torch.tensor(0.9999)

    report = inspect_single_file(_mutant(sd1, tmp_path / "ema.safetensors", ema_fp16), against=str(sd1["config"]))
    assert report.ok
    unet_tensors = sum(1 for k in sd1["tensors"] if k.startswith("model.diffusion_model."))
    extras = {e.what: (e.tensors, e.elements) for e in report.extras}
    assert extras["EMA copy of the UNet (LDM training leftover)"] == (unet_tensors, _count(sd1["modules"]["unet"]))
    assert extras["EMA bookkeeping (LDM training leftover)"] == (1, 1)
    assert report.ema is not None
    assert "a full copy" in report.ema
    denoiser = next(p for p in report.parts if p.kind == "denoiser")
    assert [(d.dtype, d.tensors) for d in denoiser.dtypes] == [("F16", unet_tensors)]


def test_sdxl_te2_layer_dropped(tmp_path: Path) -> None:
    """SGM layout with OpenCLIP-bigG: the whole file matches; one layer dropped is 12 names missing (in_proj fused:
    6 tensors per layer x 2 ... the OpenCLIP resblock holds ln_1, attn in_proj/out_proj, ln_2, c_fc, c_proj: 12)."""
    modules = sdxl_modules()
    tensors = sdxl_tensors(modules)
    config = save_configs(
        tmp_path / "config",
        "StableDiffusionXLPipeline",
        {**modules, "tokenizer": None, "tokenizer_2": None},
        {"force_zeros_for_empty_prompt": True},
    )
    report = inspect_single_file(write(tmp_path / "sdxl.safetensors", tensors), against=str(config))
    assert report.ok
    assert {c.component for c in report.checks} == {"unet", "vae", "text_encoder", "text_encoder_2"}
    assert report.check("text_encoder_2").parameters == _count(modules["text_encoder_2"])  # type: ignore[union-attr]
    layer = "conditioner.embedders.1.model.transformer.resblocks.2."
    cut = {k: v for k, v in tensors.items() if not k.startswith(layer)}
    report = inspect_single_file(write(tmp_path / "cut.safetensors", cut), against=str(config))
    te2 = report.check("text_encoder_2")
    assert te2 is not None
    assert not te2.ok
    assert len(te2.missing) == 12
    assert all(n.startswith(layer) for n in te2.missing)
    assert any("without a word" in note for note in te2.notes)


# --- released sizes, header only ------------------------------------------------------------------------------------


def _infer(shapes: dict[str, tuple[tuple[int, ...], str]]) -> str:
    from diffusers.loaders.single_file_utils import infer_diffusers_model_type

    return str(infer_diffusers_model_type({k: torch.empty(s, device="meta") for k, (s, _) in shapes.items()}))


@pytest.mark.parametrize(("model", "diffusers_type"), [("flux.1-dev", "flux-dev"), ("flux.1-schnell", "flux-schnell")])
def test_bfl_flux_release_identified_and_checked(tmp_path: Path, model: str, diffusers_type: str) -> None:
    """BFL's transformer-only file at full size (a header and a hole): identified as diffusers identifies it, and
    checked against the bundled release by default; the VAE and text encoders are reported absent."""
    shapes = bundled_original(model, "transformer")
    assert _infer(shapes) == diffusers_type  # the referee agrees on what the file is
    file = write_header_only(tmp_path / "flux.safetensors", shapes)
    assert file_kind(file) is FileKind.SINGLE_FILE
    report = inspect_single_file(file)
    assert report.identity.model == report.identity.bundled == model
    transformer = report.check("transformer")
    assert transformer is not None
    assert transformer.ok
    assert transformer.loader is not None
    assert transformer.loader.status is LoaderStatus.LOADS
    assert report.absent == ("text_encoder", "text_encoder_2", "vae")
    # FLUX.1-dev's published count; schnell lacks the guidance embedder: Linear(256, 3072) and Linear(3072, 3072)
    guidance = (256 * 3072 + 3072) + (3072 * 3072 + 3072)
    expected = 11_901_408_320 - (0 if model == "flux.1-dev" else guidance)
    assert transformer.parameters == transformer.architecture_parameters == expected


@pytest.mark.parametrize(("model", "diffusers_type"), [("sd3.5-large", "sd35_large"), ("sd3.5-medium", "sd35_medium")])
def test_sai_sd35_transformer_identified_and_checked(tmp_path: Path, model: str, diffusers_type: str) -> None:
    shapes = bundled_original(model, "transformer", prefix="model.diffusion_model.")
    assert _infer(shapes) == diffusers_type
    report = inspect_single_file(write_header_only(tmp_path / "sd35.safetensors", shapes))
    assert report.identity.model == report.identity.bundled == model
    transformer = report.check("transformer")
    assert transformer is not None
    assert transformer.ok
    assert transformer.loader is not None
    assert transformer.loader.status is LoaderStatus.LOADS
    assert transformer.parameters == transformer.architecture_parameters


def test_sdxl_base_release_all_four_parts(tmp_path: Path) -> None:
    """SGM layout at released size: CLIP-L in HF names, OpenCLIP-bigG with fused in_proj and a transposed
    projection; diffusers names it xl_base, and every part matches the bundled sdxl-base-1.0."""
    shapes = {
        **bundled_original("sdxl-base-1.0", "unet", prefix="model.diffusion_model."),
        **bundled_original("sdxl-base-1.0", "vae", prefix="first_stage_model."),
        **bundled_original("sdxl-base-1.0", "text_encoder", prefix="conditioner.embedders.0.transformer."),
        **bundled_original("sdxl-base-1.0", "text_encoder_2", prefix="conditioner.embedders.1.model.", openclip=True),
    }
    assert _infer(shapes) == "xl_base"
    report = inspect_single_file(write_header_only(tmp_path / "sdxl.safetensors", shapes))
    assert report.identity.model == "sdxl-base"
    assert report.identity.bundled == "sdxl-base-1.0"
    assert report.ok
    assert {c.component for c in report.checks} == {"unet", "vae", "text_encoder", "text_encoder_2"}
    assert all(c.loader is not None and c.loader.status is LoaderStatus.LOADS for c in report.checks)
    assert report.check("unet").parameters == 2_567_463_684  # type: ignore[union-attr]  # SDXL base UNet, published


def test_sd2_and_refiner_unets_identified(tmp_path: Path) -> None:
    """Identified by their own sizes (SD 2.x: context 1024; refiner: 384 channels, 4 levels, adm 2560, context
    1280, the published configs) where diffusers' infer_diffusers_model_type sees only a UNet and says v1/v2."""
    from diffusers import UNet2DConditionModel

    from paramcheck.checkpoint import original
    from paramcheck.sources import resolve

    sd15 = dict(resolve("sd-1.5").component("unet").config or {})
    sd2 = {**sd15, "cross_attention_dim": 1024, "attention_head_dim": [5, 10, 20, 20], "use_linear_projection": True}
    xl = dict(resolve("sdxl-base-1.0").component("unet").config or {})
    refiner = {
        **xl,
        "block_out_channels": [384, 768, 1536, 1536],
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
        "transformer_layers_per_block": 4,
        "attention_head_dim": [6, 12, 24, 24],
        "cross_attention_dim": 1280,
        "projection_class_embeddings_input_dim": 2560,
    }
    names = {}
    for name, config in (("sd2", sd2), ("refiner", refiner)):
        kwargs = {k: v for k, v in config.items() if not k.startswith("_")}
        with torch.device("meta"):
            unet = UNet2DConditionModel(**kwargs)
        mapped = original.unet_to_ldm(unet.state_dict(), unet.config)
        shapes = {"model.diffusion_model." + k: (tuple(v.shape), "F16") for k, v in mapped.items()}
        report = inspect_single_file(write_header_only(tmp_path / f"{name}.safetensors", shapes))
        names[name] = (report.identity.model, report.identity.bundled, _infer(shapes))
    assert names["sd2"] == ("sd-2.x", None, "v2")
    assert names["refiner"] == ("sdxl-refiner", None, "v1")  # diffusers' silent fallback


def test_sd15_unet_fp16_release_identified(tmp_path: Path) -> None:
    shapes = {"model.diffusion_model." + k: (s, "F16") for k, (s, _) in bundled_original("sd-1.5", "unet").items()}
    assert _infer(shapes) == "v1"
    report = inspect_single_file(write_header_only(tmp_path / "unet.safetensors", shapes))
    assert report.identity.model == "sd-1.x"
    assert report.identity.bundled == "sd-1.5"
    assert report.ok
    assert set(report.absent) == {"vae", "text_encoder"}
    assert report.check("unet").parameters == 859_520_964  # type: ignore[union-attr]  # SD 1.5's UNet, published


def test_unknown_layout_is_refused(tmp_path: Path) -> None:
    file = write(tmp_path / "plain.safetensors", {"layer.weight": torch.zeros(2, 2)})
    assert file_kind(file) is FileKind.CHECKPOINT
    with pytest.raises(CheckpointError, match="not an original single-file layout"):
        inspect_single_file(file)


def test_unbundled_architecture_check_is_an_error(sd1: dict[str, Any]) -> None:
    from paramcheck.checkpoint.files import inspect_file, require_checked

    report = inspect_file(sd1["file"])
    assert report is not None
    with pytest.raises(ConfigError, match="does not bundle; give --against MODEL"):
        require_checked(report)


# --- the CLI --------------------------------------------------------------------------------------------------------


def test_cli_report_and_check(sd1: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(sd1["file"])]) == 0
    out = capsys.readouterr().out
    assert "architecture: ldm-unet" in out
    assert "cond_stage_model.transformer." in out
    assert main(["check", str(sd1["file"]), "--against", str(sd1["config"])]) == 0
    assert "OK: every part matches" in capsys.readouterr().out
    bad = _mutant(sd1, tmp_path / "bad.safetensors", lambda t: t.pop("first_stage_model.encoder.conv_in.bias"))
    assert main(["check", str(bad), "--against", str(sd1["config"]), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    vae = next(c for c in data["single-file"]["checks"] if c["component"] == "vae")
    assert vae["missing"] == ["first_stage_model.encoder.conv_in.bias"]
    assert main(["check", str(sd1["file"])]) == 2  # nothing to compare with is an error, not a pass
    assert "does not bundle" in capsys.readouterr().err


def test_report_round_trips(sd1: dict[str, Any]) -> None:
    from paramcheck.checkpoint.singlefile import SingleFileReport

    report = inspect_single_file(sd1["file"], against=str(sd1["config"]))
    assert SingleFileReport.from_dict(report.to_dict()) == report
    assert dataclasses.replace(report, checks=()).checked is False


def test_scaled_fp8_unet(sd1: dict[str, Any], tmp_path: Path) -> None:
    """ComfyUI's legacy scaled fp8: F8_E4M3 weights, an F32 scale_weight each, a scaled_fp8 marker. The scales and
    the marker are no parameters; the logical count is the UNet's own."""
    tensors = dict(sd1["tensors"])
    linears = [k for k, v in tensors.items() if k.startswith("model.diffusion_model.") and v.ndim == 2]
    for k in linears:
        tensors[k] = tensors[k].to(torch.float8_e4m3fn)
        tensors[k.removesuffix(".weight") + ".scale_weight"] = torch.tensor(1.0)
    tensors["model.diffusion_model.scaled_fp8"] = torch.empty(0, dtype=torch.float8_e4m3fn)
    layers = {
        k.removeprefix("model.diffusion_model.").removesuffix(".weight"): {"format": "float8_e4m3fn"} for k in linears
    }
    metadata = {"_quantization_metadata": json.dumps({"format_version": "1.0", "layers": layers})}
    file = write(tmp_path / "fp8.safetensors", tensors, metadata)
    report = inspect_single_file(file, against=f"{sd1['config']}:unet")
    unet = report.check("unet")
    assert unet is not None
    assert unet.ok
    assert unet.parameters == _count(sd1["modules"]["unet"])
    denoiser = next(p for p in report.parts if p.kind == "denoiser")
    assert denoiser.quantization == "fp8-scaled"
    assert any("does not apply scale_weight" in note for note in unet.notes)
    assert any(
        f"_quantization_metadata: {len(linears)} layers (float8_e4m3fn {len(linears)})" in n for n in report.notes
    )
