"""FLOPs, memory advice, latency estimate, plots and the HTML report, against hand calculations."""

from __future__ import annotations

import inspect
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import paramcheck
from paramcheck.cli import main
from paramcheck.compute.analysis import Analysis, analyse
from paramcheck.compute.flops import FlopReport, ForwardCount, OpCount
from paramcheck.compute.latency import GPU, LatencyReport, forward_latency, latency_report
from paramcheck.compute.memory import GIB, WEIGHT_FORMATS, Advice, ComponentMemory, MemoryReport, memory_report
from paramcheck.compute.probe import probe_forward
from paramcheck.compute.recipes import DEFAULTS
from paramcheck.plot import layer_type_rows, write_plot
from paramcheck.results import CategoryCount, ComponentCounts, LayerView, ModelReport, SourceInfo

FMT = {f.name: f for f in WEIGHT_FORMATS}


def _meta(*shape: int) -> torch.Tensor:
    return torch.empty(*shape, device="meta")


def _by_category(result: object) -> dict[str, int]:
    from paramcheck.compute.flops import op_category

    totals: dict[str, int] = {}
    for r in result.ops:  # type: ignore[attr-defined]
        totals[op_category(r.op)] = totals.get(op_category(r.op), 0) + r.calls * r.flops
    return totals


def test_linear_flops_by_hand() -> None:
    linear = torch.nn.Linear(64, 32, device="meta")
    result = probe_forward(lambda: linear(_meta(2, 10, 64)))
    # 2*10 rows, each 64*32 multiply-adds, 2 FLOPs each
    assert result.flops == 2 * (2 * 10 * 64 * 32) == 81_920
    assert _by_category(result) == {"linear": 81_920}


def test_conv2d_flops_by_hand() -> None:
    conv = torch.nn.Conv2d(3, 8, kernel_size=3, padding=1, device="meta")
    result = probe_forward(lambda: conv(_meta(1, 3, 16, 16)))
    # 8*16*16 outputs, each 3*3*3 multiply-adds
    assert result.flops == 2 * (8 * 16 * 16 * 3 * 3 * 3) == 110_592
    assert _by_category(result) == {"conv": 110_592}


class TinyAttention(torch.nn.Module):
    def __init__(self, dim: int = 16, heads: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.q = torch.nn.Linear(dim, dim, bias=False)
        self.k = torch.nn.Linear(dim, dim, bias=False)
        self.v = torch.nn.Linear(dim, dim, bias=False)
        self.out = torch.nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = (p(x).view(b, s, self.heads, d // self.heads).transpose(1, 2) for p in (self.q, self.k, self.v))
        a = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        return self.out(a.transpose(1, 2).reshape(b, s, d))


def test_tiny_attention_block_flops_by_hand() -> None:
    block = TinyAttention().to("meta")
    result = probe_forward(lambda: block(_meta(1, 10, 16)))
    linear = 4 * (10 * 16 * 16)  # q, k, v, out: 10 tokens × 16 × 16 MACs each
    attention = 2 * (2 * 10 * 10 * 8)  # QKᵀ and AV: 2 heads × 10 × 10 × 8 MACs each
    assert result.flops == 2 * (linear + attention) == 26_880
    assert _by_category(result) == {"linear": 2 * linear, "attention": 2 * attention}


def test_meta_count_equals_a_real_cpu_forward(tiny_modules: dict[str, torch.nn.Module]) -> None:
    """Second method: FlopCounterMode over the real tiny transformer on the CPU, no probe, no rerouting.

    The math backend is forced because PyTorch's counter has no formula for the CPU flash-attention op (it would
    count attention as 0); the math path runs attention as two bmm, which it counts.
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from paramcheck.compute.recipes import RECIPES
    from paramcheck.compute.workload import ForwardShape

    model = tiny_modules["transformer"]
    config = dict(model.config)
    shape = ForwardShape(height=64, width=64, prompt_length=8, batch=1)
    meta = type(model).from_config(config).to("meta")
    counted = probe_forward(RECIPES["FluxTransformer2DModel"].forward(meta, config, shape)).flops
    tokens = (64 // 16) ** 2
    with torch.inference_mode(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(
            hidden_states=torch.randn(1, tokens, config["in_channels"]),
            encoder_hidden_states=torch.randn(1, 8, config["joint_attention_dim"]),
            pooled_projections=torch.randn(1, config["pooled_projection_dim"]),
            timestep=torch.ones(1),
            img_ids=torch.zeros(tokens, 3),
            txt_ids=torch.zeros(8, 3),
            return_dict=False,
        )
    assert counted == counter.get_total_flops()


@pytest.fixture(scope="module")
def tiny_analysis(tiny_pipeline: Path) -> Analysis:
    return analyse(str(tiny_pipeline), height=64, width=64, steps=3, prompt_length=8, batch=2, cfg=True)


def test_per_image_total_is_the_sum_of_its_parts(tiny_analysis: Analysis) -> None:
    flops = tiny_analysis.flops
    assert flops is not None
    forwards = {f.component: f for f in flops.forwards}
    # CFG: prompt and negative prompt encoded, two transformer forwards per step; one VAE decode
    assert {name: f.forwards for name, f in forwards.items()} == {
        "text_encoder": 2,
        "text_encoder_2": 2,
        "transformer": 3 * 2,
        "vae": 1,
    }
    parts = (
        2 * forwards["text_encoder"].flops
        + 2 * forwards["text_encoder_2"].flops
        + 6 * forwards["transformer"].flops
        + forwards["vae"].flops
    )
    assert flops.total_flops == parts
    assert flops.flops_per_image == parts // 2  # batch 2
    assert sum(flops.category_flops(c) for c in ("attention", "linear", "conv", "other")) == parts


def test_defaults_table_matches_the_diffusers_pipelines() -> None:
    from diffusers import FluxPipeline, Lumina2Pipeline

    rows = {r.key: r for r in DEFAULTS}
    for cls in (FluxPipeline, Lumina2Pipeline):
        params = inspect.signature(cls.__call__).parameters
        row = rows[cls.__name__]
        assert row.steps == params["num_inference_steps"].default
        assert row.prompt_length == params["max_sequence_length"].default
    assert inspect.signature(FluxPipeline.__call__).parameters["true_cfg_scale"].default == 1.0
    assert rows["FluxPipeline"].cfg is False
    assert inspect.signature(Lumina2Pipeline.__call__).parameters["guidance_scale"].default > 1  # CFG on
    assert rows["Lumina2Pipeline"].cfg is True


def test_a_call_is_its_defaults_row_with_the_given_values() -> None:
    from paramcheck.compute.workload import Role
    from paramcheck.errors import ConfigError

    sd3 = next(r for r in DEFAULTS if r.key == "StableDiffusion3Pipeline")
    assert (sd3.cfg, sd3.cfg_batched) == (True, True)  # StableDiffusion3Pipeline: torch.cat([latents] * 2)
    call = sd3.with_values({"steps": 3, "batch": 2})
    # batched CFG: one transformer forward per step at twice the batch; prompt and negative prompt encoded
    assert (call.forwards(Role.DENOISER), call.forwards(Role.TEXT_ENCODER), call.forwards(Role.VAE_DECODER)) == (
        3,
        2,
        1,
    )
    assert call.forward_shape("transformer", Role.DENOISER, (8, 1)).batch == 4
    assert call.forward_shape("text_encoder", Role.TEXT_ENCODER, (8, 1)).batch == 2
    unguided = call.with_values({"cfg": False})
    assert unguided.cfg_batched is False  # nothing to batch without CFG: one forward per step at the batch
    assert unguided.forward_shape("transformer", Role.DENOISER, (8, 1)).batch == 2
    assert (call.height, call.width, call.key) == (1024, 1024, "StableDiffusion3Pipeline")  # the rest: the row's
    with pytest.raises(ConfigError, match=r"^--prompt-length 0: must be at least 1$"):
        sd3.with_values({"prompt_length": 0})


def test_memory_advice_by_hand() -> None:
    report = MemoryReport(
        model="toy",
        components=(
            ComponentMemory(
                component="text_encoder", role="text_encoder", parameters=2_000_000_000, peak_activation_bytes=GIB // 2
            ),
            ComponentMemory(
                component="transformer", role="denoiser", parameters=5_000_000_000, peak_activation_bytes=GIB
            ),
        ),
    )
    bf16, nf4, fp32 = FMT["bf16"], FMT["nf4"], FMT["fp32"]
    # bf16, all on the card: 7e9 × 2 B + 1 GiB activations (the larger peak) + 1 GiB reserve = 15.04 GiB
    assert report.needed_bytes(bf16) == 14_000_000_000 + 2 * GIB
    assert report.smallest_card(bf16) == 16
    # text encoder off the card: 5e9 × 2 B + 1 GiB + 1 GiB = 11.31 GiB
    assert report.needed_bytes(bf16, offload_text=True) == 10_000_000_000 + 2 * GIB
    assert report.smallest_card(bf16, offload_text=True) == 12
    # NF4: 4 bits + one fp32 absmax per 64 weights = 4.5 bits; 7e9 × 4.5 / 8 = 3,937,500,000 B
    assert report.weight_bytes(nf4) == 3_937_500_000
    assert report.smallest_card(nf4) == 12
    # fp32: 28e9 B + 2 GiB = 28.08 GiB: too big for 24, fits 48
    assert report.smallest_card(fp32) == 48
    huge = MemoryReport(
        model="huge",
        components=(
            ComponentMemory(
                component="transformer", role="denoiser", parameters=50_000_000_000, peak_activation_bytes=0
            ),
        ),
    )
    assert huge.smallest_card(fp32) is None


def test_memory_advice_table_by_hand() -> None:
    # text encoder 2e9 parameters with a 2 GiB peak, transformer 5e9 with 1 GiB: offloading the text encoder
    # drops its weights and its (larger) peak; needed = weights + largest resident peak + 1 GiB reserve
    report = MemoryReport(
        model="toy",
        components=(
            ComponentMemory(
                component="text_encoder", role="text_encoder", parameters=2_000_000_000, peak_activation_bytes=2 * GIB
            ),
            ComponentMemory(
                component="transformer", role="denoiser", parameters=5_000_000_000, peak_activation_bytes=GIB
            ),
        ),
    )
    assert [f.name for f in report.formats] == ["fp32", "bf16", "fp8", "int8", "nf4"]
    all_cards, g = (12, 16, 24, 48, 80), GIB
    rows = [  # format, bits, offload, weights (parameters × bits / 8), activations, cards of 12/16/24/48/80 GiB it fits
        ("fp32", 32, False, 28_000_000_000, 2 * g, (48, 80)),  # 31.22e9 B: over 24 GiB (25.77e9)
        ("fp32", 32, True, 20_000_000_000, g, (24, 48, 80)),  # 22.15e9 B: over 16 GiB (17.18e9)
        ("bf16", 16, False, 14_000_000_000, 2 * g, (24, 48, 80)),  # 17.22e9 B: just over 16 GiB
        ("bf16", 16, True, 10_000_000_000, g, all_cards),  # 12.15e9 B: under 12 GiB (12.88e9)
        ("fp8", 8, False, 7_000_000_000, 2 * g, all_cards),
        ("fp8", 8, True, 5_000_000_000, g, all_cards),
        ("int8", 8, False, 7_000_000_000, 2 * g, all_cards),
        ("int8", 8, True, 5_000_000_000, g, all_cards),
        ("nf4", 4.5, False, 3_937_500_000, 2 * g, all_cards),
        ("nf4", 4.5, True, 2_812_500_000, g, all_cards),
    ]
    assert report.advice == tuple(
        Advice(
            format=name,
            bits_per_parameter=bits,
            offload_text_encoders=offload,
            weight_bytes=weights,
            activation_bytes=activations,
            needed_bytes=weights + activations + g,
            fits_gib=fits,
        )
        for name, bits, offload, weights, activations, fits in rows
    )
    # the defaults: everything on the card
    assert report.needed_bytes(FMT["bf16"]) == 14_000_000_000 + 3 * g
    assert report.fits(FMT["bf16"], 16) is False
    assert report.fits(FMT["bf16"], 16, offload_text=True) is True
    assert report.activation_bytes() == 2 * g
    assert report.activation_bytes(offload_text=True) == g
    # cards listed out of order: the smallest that fits is still found
    shuffled = MemoryReport(model="toy", components=report.components, cards_gib=(80, 24, 12))
    assert shuffled.smallest_card(FMT["bf16"]) == 24
    assert shuffled.smallest_card(FMT["bf16"], offload_text=True) == 12


def test_memory_with_only_text_encoders_offloaded_is_the_reserve() -> None:
    report = MemoryReport(
        model="te",
        components=(
            ComponentMemory(component="text_encoder", role="text_encoder", parameters=8, peak_activation_bytes=64),
        ),
    )
    assert report.activation_bytes(offload_text=True) == 0  # nothing resident: no peak
    assert report.needed_bytes(FMT["fp32"], offload_text=True) == GIB
    assert report.needed_bytes(FMT["fp32"]) == 8 * 4 + 64 + GIB


def test_weight_bytes_round_up_to_whole_bytes() -> None:
    # 3 parameters: fp32 12 B, bf16 6 B, fp8/int8 3 B, nf4 3 × 4.5 bits = 13.5 bits = 1.6875 B -> 2 B
    component = ComponentMemory(component="x", role="other", parameters=3, peak_activation_bytes=0)
    assert component.weight_bytes == (("fp32", 12), ("bf16", 6), ("fp8", 3), ("int8", 3), ("nf4", 2))
    assert FMT["nf4"].bytes(1) == 1  # 4.5 bits still take a whole byte
    assert type(FMT["nf4"].bytes(1)) is int


def _counts_report(*components: tuple[str, int]) -> ModelReport:
    return ModelReport(
        model="toy",
        source=SourceInfo(kind="folder", location="toy"),
        device="meta",
        components=tuple(ComponentCounts(name=n, library=None, class_name=None, parameters=p) for n, p in components),
    )


NOTE = (
    "weights: every parameter at the format; activations: peak of one forward's live tensors on meta at "
    "{}, fused attention; +1 GiB reserve for the CUDA context; offloaded text encoders are off the card "
    "(prompts encoded on the CPU or before the transformer is loaded)"
)


def test_memory_report_without_flops_guesses_text_encoders_by_name() -> None:
    counts = _counts_report(("text_encoder", 100), ("text_encoder_2", 50), ("transformer", 1000), ("scheduler", 0))
    report = memory_report(counts)
    assert report.model == "toy"
    # a component without parameters is left out; without a FLOP report the roles come from the names, peaks are 0
    assert [(c.component, c.role, c.parameters, c.peak_activation_bytes) for c in report.components] == [
        ("text_encoder", "text_encoder", 100, 0),
        ("text_encoder_2", "text_encoder", 50, 0),
        ("transformer", "other", 1000, 0),
    ]
    assert report.notes == (NOTE.format("bf16"), "no activation estimate: run with --flops for it")
    assert report.weight_bytes(FMT["bf16"], offload_text=True) == 2000


def test_memory_report_takes_roles_and_peaks_from_the_flop_report() -> None:
    from types import SimpleNamespace

    forwards = {
        "text_encoder": SimpleNamespace(role="text_encoder", peak_activation_bytes=10),
        "transformer": SimpleNamespace(role="denoiser", peak_activation_bytes=500),
    }
    flops = SimpleNamespace(forward=forwards.get, workload=SimpleNamespace(activation_dtype="fp16"))
    counts = _counts_report(("text_encoder", 100), ("text_encoder_2", 50), ("transformer", 1000))
    report = memory_report(counts, flops)  # type: ignore[arg-type]
    assert [(c.component, c.role, c.peak_activation_bytes) for c in report.components] == [
        ("text_encoder", "text_encoder", 10),
        ("text_encoder_2", "text_encoder", 0),  # not counted by the FLOP report: guessed by name, no peak
        ("transformer", "denoiser", 500),
    ]
    assert report.notes == (NOTE.format("fp16"),)


def test_memory_of_the_tiny_model_uses_the_loaded_count(
    tiny_analysis: Analysis, tiny_modules: dict[str, torch.nn.Module]
) -> None:
    loaded = sum(sum(p.numel() for p in {id(p): p for p in m.parameters()}.values()) for m in tiny_modules.values())
    assert tiny_analysis.memory.weight_bytes(FMT["bf16"]) == 2 * loaded
    te = sum(sum(p.numel() for p in tiny_modules[n].parameters()) for n in ("text_encoder", "text_encoder_2"))
    assert tiny_analysis.memory.weight_bytes(FMT["bf16"], offload_text=True) == 2 * (loaded - te)
    assert all(c.peak_activation_bytes > 0 for c in tiny_analysis.memory.components)


def test_roofline_of_one_matmul_by_hand() -> None:
    linear = torch.nn.Linear(1024, 1024, bias=False, device="meta")
    result = probe_forward(lambda: linear(_meta(1, 1024)))
    ops = tuple(OpCount(op=r.op, calls=r.calls, flops=r.flops, bytes=r.bytes) for r in result.ops)
    forward = ForwardCount(
        component="x",
        class_name="Linear",
        role="denoiser",
        inputs="",
        forwards=1,
        flops=result.flops,
        peak_activation_bytes=result.peak_activation_bytes,
        ops=ops,
    )
    # 2·1024·1024 FLOPs; bytes: input 1024 + weight 1024² + output 1024 elements at 2 B (bf16)
    assert forward.flops == 2_097_152
    assert forward.bytes_moved == 2 * (1024 + 1024 * 1024 + 1024)
    device = GPU(name="toy", bf16_flops=1e12, bandwidth=1e9, source="test")
    latency = forward_latency(forward, device)
    assert latency.compute_seconds == pytest.approx(2_097_152 / 1e12)
    assert latency.roofline_seconds == pytest.approx(2 * (1024 + 1024 * 1024 + 1024) / 1e9)  # memory-bound


def test_results_round_trip(tiny_analysis: Analysis) -> None:
    data = json.loads(json.dumps(tiny_analysis.to_dict()))
    assert Analysis.from_dict(data) == tiny_analysis
    assert tiny_analysis.flops is not None
    assert FlopReport.from_dict(tiny_analysis.flops.to_dict()) == tiny_analysis.flops
    latency = latency_report(tiny_analysis.flops, GPU(name="t", bf16_flops=1e12, bandwidth=1e9, source=""))
    assert LatencyReport.from_dict(latency.to_dict()) == latency


def _report_with_views(model: str, scale: int) -> ModelReport:
    view = LayerView(
        view="leaf",
        rows=(
            CategoryCount(category="attention", parameters=3 * scale, layers=1),
            CategoryCount(category="mlp", parameters=5 * scale, layers=1),
        ),
    )
    comps = (
        ComponentCounts(name="transformer", library="diffusers", class_name="T", parameters=8 * scale, views=(view,)),
        ComponentCounts(name="text_encoder", library="transformers", class_name="E", parameters=2 * scale),
    )
    return ModelReport(model=model, source=SourceInfo(kind="folder", location="x"), device="meta", components=comps)


def test_layer_type_rows_sum_the_views() -> None:
    assert layer_type_rows(_report_with_views("a", 10)) == ("leaf", {"attention": 30, "mlp": 50})
    report = _report_with_views("b", 1)
    bare = ModelReport(
        model="c",
        source=report.source,
        device="meta",
        components=tuple(
            ComponentCounts(name=c.name, library=None, class_name=None, parameters=c.parameters)
            for c in report.components
        ),
    )
    assert layer_type_rows(bare) == (None, {})


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_plots_open_as_images(tmp_path: Path, suffix: str) -> None:
    path = write_plot([_report_with_views("a", 10**9), _report_with_views("b", 2 * 10**9)], tmp_path / f"p{suffix}")
    if suffix == ".png":
        from PIL import Image

        with Image.open(path) as image:
            assert image.format == "PNG"
            assert image.width > 400
            assert image.height > 200
    else:
        root = ET.parse(path).getroot()
        assert root.tag.endswith("svg")
        assert "transformer" in path.read_text()


def test_cli_report_flops_memory_json_and_html(tiny_pipeline: Path, tmp_path: Path) -> None:
    out, html = tmp_path / "r.json", tmp_path / "r.html"
    argv = [
        "report",
        str(tiny_pipeline),
        "--flops",
        "--memory",
        "--height",
        "64",
        "--width",
        "64",
        "--steps",
        "2",
        "--no-cfg",
        "--json",
        "-o",
        str(out),
        "--html",
        str(html),
    ]
    assert main(argv) == 0
    data = json.loads(out.read_text())
    analysis = Analysis.from_dict(data)
    assert analysis.flops is not None
    assert analysis.flops.workload.steps == 2
    assert analysis.flops.forward("transformer").forwards == 2  # type: ignore[union-attr]
    # the default GPU has a measured profile: a prediction per component with a recipe, no datasheet estimate
    assert data.get("latency") is None
    predicted = {c["component"] for c in data["prediction"]["components"]}
    assert predicted == {f.component for f in analysis.flops.forwards}
    assert data["prediction"]["profile"].startswith("profile H200")
    assert analysis.prediction is not None
    assert analysis.prediction.per_call_seconds == pytest.approx(
        sum(c["forwards"] * c["prediction"]["seconds"] for c in data["prediction"]["components"])
    )
    text = html.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert "<svg" in text
    assert "FLOPs" in text
    assert "<script" not in text
    assert "src=" not in text


def test_cli_plot_and_tables(tiny_pipeline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plot", str(tiny_pipeline), str(tiny_pipeline), "-o", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["report", str(tiny_pipeline), "--flops", "--memory", "--height", "64", "--width", "64"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # titles and notes wrap at the console's width
    assert "FLOPs per generation call" in out
    assert "which cards fit" in out
    # the shipped profile's validation, read from its file, stated with every prediction
    profile = json.loads((Path(paramcheck.__file__).parent / "compute/profiles/h200-profile.json").read_text())
    median, worst = (round(100 * profile["validation"][k]) for k in ("median_abs_error", "worst_abs_error"))
    assert f"latency predicted from profile H200 (±{median}% median, {worst}% worst per forward)" in out
    cases = profile["validation"]["cases"]
    assert f"predicted (±{median}% median, {worst}% worst on the validation set of {cases} forwards" in out
    assert "profile H200 (NVIDIA H200; torch" in out
    assert main(["report", str(tiny_pipeline), "--flops", "--height", "64", "--width", "64", "--gpu", "H100 SXM"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "predicted" not in out
    assert "ESTIMATE from the datasheet only" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--gpu", "H1000"], "unknown GPU 'H1000'"),
        # the tiny VAE does not downsample (one block: vae_scale_factor 1); FLUX packs 2×2 latent patches
        (["--height", "99"], "image size 99x64: must be a positive multiple of 2"),
    ],
)
def test_cli_bad_compute_input_is_one_line(
    tiny_pipeline: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(["report", str(tiny_pipeline), "--flops", "--width", "64", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_cli_flops_of_a_pipeline_without_defaults(
    tmp_path: Path, tiny_modules: dict[str, torch.nn.Module], capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.tiny import save_pipeline

    folder = save_pipeline(tmp_path / "odd", tiny_modules, weights=False, pipeline="OddPipeline")
    assert main(["report", str(folder), "--flops"]) == 2
    assert "no compute defaults for pipeline OddPipeline" in capsys.readouterr().err
    assert main(["report", str(folder), "--memory"]) == 0  # memory advice still works, without activations
    assert main(["plot", str(folder), "-o", str(tmp_path / "p.gif")]) == 2
    assert "name the --output file .png or .svg" in capsys.readouterr().err


def test_plot_prefers_the_role_view() -> None:
    leaf = LayerView(view="leaf", rows=(CategoryCount(category="linear", parameters=8, layers=2),))
    role = LayerView(
        view="role",
        rows=(
            CategoryCount(category="attention", parameters=3, layers=1),
            CategoryCount(category="feed_forward", parameters=5, layers=1),
        ),
    )
    comps = (ComponentCounts(name="t", library="diffusers", class_name="T", parameters=8, views=(leaf, role)),)
    report = ModelReport(model="m", source=SourceInfo(kind="folder", location="x"), device="meta", components=comps)
    # nearly every leaf of a DiT is a Linear: the role view is the one that says where parameters go
    assert layer_type_rows(report) == ("role", {"attention": 3, "feed_forward": 5})


def test_ops_outside_the_rules_are_other() -> None:
    from paramcheck.compute.ops import CATEGORIES, op_category

    # CATEGORIES ends with the catch-all: an op that is no attention, matmul or convolution is "other"
    assert CATEGORIES[-1] == "other"
    assert [op_category(op) for op in ("relu", "_softmax", "native_layer_norm", "mm")] == [
        "other",
        "other",
        "other",
        "linear",
    ]


def test_a_rule_naming_an_op_exactly_beats_an_earlier_prefix_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    from paramcheck.compute import ops

    # CATEGORY_RULES may be extended; over every aten op name the shipped rules give the same answer either way, so
    # only an extended table shows that an exact (or exact-plus-overload) name wins over an earlier prefix
    monkeypatch.setattr(ops, "CATEGORY_RULES", (("mm", "linear"), ("mm_plus", "attention")))
    assert ops.op_category("mm_plus") == "attention"
    assert ops.op_category("mm_plus.default") == "attention"
    assert ops.op_category("mm_other") == "linear"


# --- mutation testing of flops.py and probe.py (issue 20): bytes, peaks, rerouted attention, derived totals ---------


def test_probe_bytes_and_peak_of_elementwise_ops_by_hand() -> None:
    x = _meta(4, 8)
    # default float_bytes is 2 (a bf16 run): each fp32 meta tensor of 32 elements counts 64 bytes, whatever its dtype;
    # each op reads its input and writes its output (128 bytes); the scalars are no tensors
    result = probe_forward(lambda: (x * 2) * 3 + 1)
    assert [(o.op, o.calls, o.flops, o.bytes) for o in result.ops] == [("add", 1, 0, 128), ("mul", 2, 0, 128)]
    # x*2 is freed once (x*2)*3 exists, so at most two 64-byte intermediates are alive at once
    assert result.peak_activation_bytes == 2 * 64
    assert result.flops == 0


def test_probe_of_a_linear_counts_the_matmul_and_no_views() -> None:
    linear = torch.nn.Linear(64, 32, bias=False, device="meta")
    result = probe_forward(lambda: linear(_meta(2, 10, 64)), float_bytes=4)
    # the transpose of the weight and the reshapes around mm alias their inputs: only mm reads and writes memory,
    # the 20x64 input, the 64x32 weight and the 20x32 output at 4 bytes each; its output is the one allocation
    assert [(o.op, o.category, o.calls, o.flops, o.bytes) for o in result.ops] == [
        ("mm", "linear", 1, 2 * 20 * 64 * 32, 4 * (20 * 64 + 64 * 32 + 20 * 32))
    ]
    assert result.peak_activation_bytes == 4 * 20 * 32


def test_probe_moves_a_cpu_tensor_that_meets_a_meta_one() -> None:
    # a model's own small CPU tensor (a mask, a table) mixed with meta activations: meta alone would refuse the op
    result = probe_forward(lambda: torch.add(_meta(4, 8), torch.ones(8), alpha=2))
    assert [(o.op, o.calls, o.bytes) for o in result.ops] == [("add", 1, 2 * (32 + 8 + 32))]
    assert result.peak_activation_bytes == 2 * 32


def _sdpa_flops_on_cpu(q: torch.Tensor, k: torch.Tensor, **kwargs: object) -> int:
    """torch's own count of a real CPU attention on the math path (two bmm), GQA heads repeated as torch does."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with torch.inference_mode(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        torch.nn.functional.scaled_dot_product_attention(q, k, k, **kwargs)  # type: ignore[arg-type]
    return int(counter.get_total_flops())


def test_grouped_query_attention_counts_every_query_head() -> None:
    q, kv = (1, 4, 10, 8), (1, 2, 10, 8)
    result = probe_forward(
        lambda: torch.nn.functional.scaled_dot_product_attention(_meta(*q), _meta(*kv), _meta(*kv), enable_gqa=True)
    )
    # 4 query heads × 10 × 10 × 8 MACs for QKᵀ and as many for AV; the two kv heads are shared, not halved
    assert result.flops == 2 * 2 * (4 * 10 * 10 * 8) == 12_800
    assert result.flops == _sdpa_flops_on_cpu(torch.randn(*q), torch.randn(*kv), enable_gqa=True)
    # q, k and v as 4 heads (the kernel reads shared kv heads in place) and the output: 4 × 320 elements at 2 bytes,
    # plus the fused kernel's two int64 RNG scalars (seed, offset)
    assert [(o.op, o.bytes) for o in result.ops] == [("_scaled_dot_product_efficient_attention", 4 * 320 * 2 + 16)]


def test_an_attention_mask_is_read_as_a_bias_of_the_full_score_shape() -> None:
    q = _meta(1, 4, 10, 8)
    sdpa = torch.nn.functional.scaled_dot_product_attention
    plain = probe_forward(lambda: sdpa(q, q, q))
    mask = torch.ones(10, 10, dtype=torch.bool)  # a CPU mask, as a model builds it from its inputs
    masked = probe_forward(lambda: sdpa(q, q, q, attn_mask=mask))
    assert masked.flops == plain.flops == 2 * 2 * (4 * 10 * 10 * 8)
    # the fused kernel reads a bias of (batch 1, 4 heads, 10 queries, 10 keys) at 2 bytes
    (p,), (m,) = plain.ops, masked.ops
    assert m.bytes - p.bytes == 1 * 4 * 10 * 10 * 2


def test_forward_and_report_totals_by_hand() -> None:
    from paramcheck.compute.workload import Role, Workload

    transformer = ForwardCount(
        component="transformer",
        class_name="T",
        role=Role.DENOISER,
        inputs="x",
        forwards=3,
        flops=7,
        peak_activation_bytes=0,
        ops=(OpCount(op="mm", calls=2, flops=3, bytes=10), OpCount(op="bmm", calls=1, flops=1, bytes=5)),
    )
    assert (transformer.macs, transformer.total_flops, transformer.bytes_moved) == (3, 21, 2 * 10 + 5)
    assert transformer.flops_by_category == (("attention", 1), ("linear", 6), ("conv", 0), ("other", 0))
    encoder = ForwardCount(
        component="text_encoder",
        class_name="E",
        role=Role.TEXT_ENCODER,
        inputs="y",
        forwards=1,
        flops=4,
        peak_activation_bytes=0,
        ops=(OpCount(op="addmm", calls=1, flops=4, bytes=0),),
    )
    workload = Workload(height=64, width=64, steps=3, prompt_length=8, batch=3)
    report = FlopReport(model="m", workload=workload, forwards=(encoder, transformer))
    # 3 × 7 + 4 = 25 FLOPs for 3 images: 12 MACs, 8 FLOPs per image (whole numbers, rounded down)
    assert (report.total_flops, report.total_macs, report.flops_per_image) == (25, 12, 8)
    assert isinstance(report.flops_per_image, int)
    assert report.flops_by_category == (("attention", 3), ("linear", 3 * 6 + 4), ("conv", 0), ("other", 0))
    assert report.forward("transformer") is transformer
    assert report.forward("vae") is None


@pytest.fixture
def tiny_source_vae_first(tiny_modules: dict[str, torch.nn.Module], tmp_path: Path) -> object:
    """The tiny FLUX pipeline with its model_index.json listing the components in the reverse of the order they run."""
    from paramcheck.sources import resolve
    from tests.tiny import save_pipeline

    order = ("vae", "transformer", "text_encoder_2", "text_encoder")
    return resolve(str(save_pipeline(tmp_path / "vae-first", {k: tiny_modules[k] for k in order}, weights=False)))


def test_probe_model_lists_forwards_in_run_order_with_their_traces(tiny_source_vae_first: object) -> None:
    from paramcheck.build import build_model
    from paramcheck.compute.flops import probe_model
    from paramcheck.compute.workload import workload_for

    source = tiny_source_vae_first
    built = build_model(source)  # type: ignore[arg-type]  # fp32 on meta: the probe runs it at the workload's bf16
    workload = workload_for(source, {"height": 64, "width": 64, "steps": 1, "prompt_length": 8})  # type: ignore[arg-type]
    report, traces = probe_model(built, workload, trace=True)
    assert report.model == "vae-first"
    # text encoders first, then the denoiser, then the VAE decode, whatever order model_index.json lists them in;
    # CLIP at its 77 positions, T5 at the 8 prompt tokens, 64x64 pixels as 32x32 packed latent tokens
    assert [(f.component, f.class_name, f.role, f.inputs, f.forwards) for f in report.forwards] == [
        ("text_encoder_2", "T5EncoderModel", "text_encoder", "1×8 tokens", 1),
        ("text_encoder", "CLIPTextModel", "text_encoder", "1×77 tokens", 1),
        ("transformer", "FluxTransformer2DModel", "denoiser", "1×(1024 image + 8 text) tokens", 1),
        ("vae", "AutoencoderKL", "vae_decoder", "decode 1×1×64×64 latents", 1),
    ]
    assert report.notes[0].startswith("FLOPs counted by torch.utils.flop_counter on meta tensors")
    assert report.notes[-1].startswith("text is counted at the full prompt length (CLIP at its 77 positions)")
    assert all(f.peak_activation_bytes > 0 for f in report.forwards)
    assert set(traces) == {"text_encoder", "text_encoder_2", "transformer", "vae"}
    transformer = traces["transformer"]
    # one double-stream and one single-stream block: two attention calls, each one op of the trace
    assert transformer.count("attention") == 2
    assert {o.dtype for o in transformer.ops if o.kind == "matmul"} == {"bf16"}  # the workload's activation dtype
    assert transformer.flops > 0
    again, untraced = probe_model(built, workload)
    assert untraced == {}
    assert again == report


def test_a_forward_that_needs_values_is_a_one_line_error(tiny_source_vae_first: object) -> None:
    from paramcheck.build import build_model
    from paramcheck.compute.flops import count_flops
    from paramcheck.compute.workload import workload_for
    from paramcheck.errors import ConfigError

    source = tiny_source_vae_first
    built = build_model(source, components=["text_encoder"])  # type: ignore[arg-type]
    encoder = built.modules["text_encoder"]
    assert encoder is not None
    # a model that reads a value of its activations (a length, a threshold) cannot run on meta tensors
    norm = next(m for n, m in encoder.named_modules() if n.endswith("final_layer_norm"))
    norm.forward = lambda x: x.sum().item()  # type: ignore[method-assign]
    workload = workload_for(source, {"height": 64, "width": 64, "steps": 1, "prompt_length": 8})  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as error:
        count_flops(built, workload)
    assert str(error.value) == (
        "vae-first/text_encoder: cannot run CLIPTextModel on meta tensors "
        "(Tensor.item() cannot be called on meta tensors); report it with the model's config"
    )


def test_an_fp32_workload_moves_twice_the_bytes_of_bf16(tiny_source_vae_first: object) -> None:
    from paramcheck.build import build_model
    from paramcheck.compute.flops import probe_model
    from paramcheck.compute.workload import workload_for

    source = tiny_source_vae_first
    built = build_model(source)  # type: ignore[arg-type]
    shape = {"height": 64, "width": 64, "steps": 1, "prompt_length": 8}
    half, _ = probe_model(built, workload_for(source, {**shape, "activation_dtype": "bf16"}))  # type: ignore[arg-type]
    full, _ = probe_model(built, workload_for(source, {**shape, "activation_dtype": "fp32"}))  # type: ignore[arg-type]
    # a matmul reads and writes only floating tensors: 4 bytes a value at fp32, 2 at bf16; FLOPs do not change
    for h, f in zip(half.forwards, full.forwards, strict=True):
        mm_half = sorted((o.op, o.calls, o.flops, o.bytes) for o in h.ops if o.category == "linear")
        mm_full = sorted((o.op, o.calls, o.flops, o.bytes) for o in f.ops if o.category == "linear")
        assert mm_half
        assert [(op, c, fl, 2 * b) for op, c, fl, b in mm_half] == mm_full
