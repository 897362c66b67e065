"""The calibrated latency model on the CPU: profiles, interpolation, the two-clock arithmetic, the op trace, bench.

Expected numbers are hand calculations written next to each assertion; the GPU paths themselves run in
``benchmarks/latency_validation.py`` (see /benchmarks/results for what they measured).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import pytest
import torch

from paramcheck.cli import main
from paramcheck.compute.predict import predict_ops
from paramcheck.compute.profile import (
    PROFILE_SCHEMA,
    Grid,
    Profile,
    Table1D,
    bundled_profiles,
    load_profile,
    parse_profile,
)
from paramcheck.compute.trace import TracedOp, trace_forward
from paramcheck.errors import ConfigError

# --- tables ------------------------------------------------------------------------------------------------------


def test_table_interpolates_in_log_space_and_clamps() -> None:
    table = Table1D(x=(1.0, 100.0), values=(1.0, 100.0))
    # log-linear between (1, 1) and (100, 100): at x = 10 the value is 10
    assert table.at(10.0) == pytest.approx(10.0)
    assert table.at(1000.0) == pytest.approx(100.0)  # clamped at the last point
    assert table.at(0.5) == pytest.approx(1.0)  # and at the first


def test_grid_is_multilinear_in_log_space() -> None:
    # f(x, y) = x * y at the four corners of [1, 100]^2; log f is linear in log x and log y, so exact inside
    grid = Grid(axes=((1.0, 100.0), (1.0, 100.0)), values=(1.0, 100.0, 100.0, 10000.0))
    assert grid.at(10.0, 10.0) == pytest.approx(100.0)
    assert grid.at(10.0, 1.0) == pytest.approx(10.0)
    assert grid.at(1e6, 1e6) == pytest.approx(10000.0)


def test_tables_refuse_bad_axes() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        Table1D(x=(2.0, 1.0), values=(1.0, 1.0))
    with pytest.raises(ValueError, match="positive finite"):
        Table1D(x=(1.0, 2.0), values=(1.0, 0.0))


# --- profiles ----------------------------------------------------------------------------------------------------


def hand_profile(**changes: Any) -> Profile:
    """1 PFLOP/s matmuls, 1 TB/s memory, 10 us per op and 1 us per view on the host, 2 us kernel floor."""
    data: dict[str, Any] = {
        "schema": PROFILE_SCHEMA,
        "name": "hand",
        "device": "hand-made",
        "software": {"torch": "test"},
        "dispatch": {"op": 10e-6, "view": 1e-6, "module": 2e-6},
        "kernel_floor": 2e-6,
        "matmul": {"bf16": {"axes": [[1.0], [1.0], [1.0]], "values": [1e15]}},
        "memory": {"pointwise": {"x": [1.0, 1e12], "values": [1e-12, 1.0]}},
    }
    data.update(changes)
    return parse_profile(data, "hand")


def test_profile_round_trips() -> None:
    profile = hand_profile()
    again = parse_profile(json.loads(json.dumps(profile.to_dict())), "again")
    assert again == profile


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema": "other/1"}, r"hand: schema 'other/1' is not 'paramcheck-latency-profile/1'; re-run"),
        ({"dispatch": {"op": 1e-6, "view": 1e-6}}, r"hand: no host dispatch cost for module; re-run"),
        ({"memory": {"pointwise": {"x": [2.0, 1.0], "values": [1.0, 1.0]}}}, r"hand: a malformed table"),
        ({"matmul": {"fp32": {"axes": [[1.0]], "values": [1.0]}}}, r"hand: no bf16 matmul table"),
        ({"kernel_floor": 0}, r"hand: dispatch costs must be finite"),
    ],
)
def test_profile_errors_are_one_line(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        hand_profile(**change)


def test_missing_profile_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no such profile; run paramcheck calibrate"):
        load_profile(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad.json: not valid JSON"):
        load_profile(tmp_path / "bad.json")


def test_shipped_h200_profile_names_its_stack_and_validation() -> None:
    profile = bundled_profiles()["H200"]
    assert profile.device == "NVIDIA H200"
    assert profile.software["torch"].startswith("2.")
    assert profile.software["diffusers"] == "0.42.1"
    assert profile.validation is not None
    assert profile.validation.cases > 0
    assert "H200" in profile.describe()


# --- the two-clock arithmetic -----------------------------------------------------------------------------------


def matmul(flops: int) -> TracedOp:
    return TracedOp(kind="matmul", op="mm", dtype="bf16", dims=(1, 1, 1, 1), flops=flops)


def pointwise(nbytes: int) -> TracedOp:
    return TracedOp(kind="memory", op="add", dtype="bf16", bytes=nbytes)


def test_gpu_bound_forward_costs_its_kernels() -> None:
    # host: 10 us to launch; GPU: 2e12 FLOPs at 1e15 FLOP/s = 2 ms, starting once launched
    prediction = predict_ops([matmul(2 * 10**12)], hand_profile())
    assert prediction.seconds == pytest.approx(10e-6 + 2e-3)
    assert prediction.bound == "gpu"


def test_launch_bound_forward_costs_its_dispatch() -> None:
    # 100 ops of 1 kB: each 10 us on the host, each kernel at the 2 us floor (1 kB at 1 TB/s is 1 ns)
    ops = [pointwise(1000)] * 100
    assert predict_ops(ops, hand_profile()).seconds == pytest.approx(100 * 10e-6 + 2e-6)
    # a host twice as slow (the profile's host scale): 2 ms + the last kernel
    assert predict_ops(ops, hand_profile(), host_scale=2.0).seconds == pytest.approx(2 * 100 * 10e-6 + 2e-6)


def test_sync_makes_the_host_wait() -> None:
    # the matmul ends at 10 us + 2 ms; the sync (10 us of host) then waits for it; then 10 ops of 10 us each
    ops = [matmul(2 * 10**12), TracedOp(kind="sync", op="_local_scalar_dense"), *[pointwise(1000)] * 10]
    assert predict_ops(ops, hand_profile()).seconds == pytest.approx(10e-6 + 2e-3 + 10 * 10e-6 + 2e-6)


def test_views_and_module_calls_cost_only_the_host() -> None:
    ops = [TracedOp(kind="view", op="view")] * 4 + [TracedOp(kind="module", op="Linear")] * 5
    prediction = predict_ops(ops, hand_profile())
    assert prediction.seconds == pytest.approx(4 * 1e-6 + 5 * 2e-6)
    assert prediction.gpu_seconds == 0


# --- the trace ---------------------------------------------------------------------------------------------------


def test_trace_records_every_op_with_real_dtypes() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3)).to("meta", torch.bfloat16)
    x = torch.empty(2, 5, 4, device="meta", dtype=torch.bfloat16)
    trace = trace_forward(lambda: model(x))
    matmuls = [o for o in trace.ops if o.kind == "matmul"]
    # Linear(4, 3) on 2x5 tokens: one (10 x 4) @ (4 x 3) product, 2 * 10 * 3 * 4 = 240 FLOPs
    assert [(o.op, o.dims, o.flops) for o in matmuls] == [("addmm", (1, 10, 3, 4), 240)]
    norms = [o for o in trace.ops if o.op == "native_layer_norm"]
    # reads x (30 bf16 = 60 B), weight and bias (3 bf16 each = 12 B); writes y (60 B), mean and rstd (10 fp32
    # each = 80 B)
    assert [(o.kind, o.bytes, o.dtype) for o in norms] == [("memory", 60 + 12 + 60 + 80, "bf16")]
    assert trace.count("module") == 3  # Sequential, Linear, LayerNorm


def test_trace_records_attention_as_one_op() -> None:
    q = torch.empty(1, 2, 7, 8, device="meta", dtype=torch.bfloat16)
    trace = trace_forward(lambda: torch.nn.functional.scaled_dot_product_attention(q, q, q))
    (attention,) = [o for o in trace.ops if o.kind == "attention"]
    # B=1, H=2, 7 x 7 pairs, QK^T and PV: 2 * 1 * 2 * 49 * (8 + 8) = 3136 FLOPs
    assert attention.dims == (1, 2, 7, 7, 8, 8, 2)
    assert attention.flops == 3136
    assert attention.key == "none"


def test_trace_marks_transposed_copies() -> None:
    x = torch.empty(4, 6, device="meta")
    trace = trace_forward(lambda: x.t().contiguous())
    (copy,) = [o for o in trace.ops if o.kind == "memory"]
    assert copy.strided == "inner"


# --- bench on the CPU --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [["bench", "sd-1.5"], ["bench", "sd-1.5", "--device", "cuda:1"], ["calibrate", "-o", "never-written.json"]],
)
def test_cuda_commands_without_cuda_are_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    device = "cuda:1" if "cuda:1" in argv else "cuda"
    assert (
        err
        == f"paramcheck: error: {device}: CUDA is not available here (torch {torch.__version__}); use --device cpu\n"
    )
    assert list(tmp_path.iterdir()) == []  # nothing built, nothing written


def test_bench_on_cpu_adds_up(tiny_pipeline_configs_only: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    argv = ["bench", str(tiny_pipeline_configs_only), "--device", "cpu", "--height", "32", "--width", "32"]
    argv += ["--prompt-length", "8", "--steps", "3", "--repeats", "2", "--warmup", "1", "--dtype", "fp32"]
    argv += ["--profile", "H200", "--json", "-o", str(out)]
    assert main(argv) == 0
    body = json.loads(out.read_text())
    bench = body["bench"]
    # --profile: a prediction of the same forwards beside the measurement, naming the profile
    predicted = {c["component"]: c["forwards"] for c in body["prediction"]["components"]}
    assert predicted == {t["component"]: t["forwards"] for t in bench["timings"]}
    assert body["prediction"]["profile"].startswith("profile H200 (NVIDIA H200; torch")
    forwards = {t["component"]: t["forwards"] for t in bench["timings"]}
    # FLUX: each text encoder once, the transformer once per step, the VAE once
    assert forwards == {"text_encoder": 1, "text_encoder_2": 1, "transformer": 3, "vae": 1}
    assert all(len(t["seconds"]) == 2 for t in bench["timings"])
    per_call = sum(t["forwards"] * statistics.median(t["seconds"]) for t in bench["timings"])
    assert bench["per_image_seconds"][0] == pytest.approx(per_call)
    transformer = next(t for t in bench["timings"] if t["component"] == "transformer")
    assert bench["per_step_seconds"][0] == pytest.approx(statistics.median(transformer["seconds"]))
    # 32x32 pixels, the tiny VAE does not downsample, FLUX packs 2x2 patches: 16 x 16 = 256 image tokens
    assert transformer["inputs"] == "1×(256 image + 8 text) tokens"


# --- one pass: the FLOP count and the trace together ------------------------------------------------------------


def test_flop_pass_records_the_trace_a_trace_alone_records(tiny_pipeline_configs_only: Path) -> None:
    """report --flops traces in its FLOP pass; the trace must be the one a separate trace_forward pass records (the
    path the H200 validation was predicted with), and tracing must not change the counts."""
    from paramcheck.build import build_model
    from paramcheck.compute.flops import count_flops, probe_model
    from paramcheck.compute.inputs import realize, resident_tensors
    from paramcheck.compute.recipes import plan_forwards, workload_for
    from paramcheck.sources import resolve

    source = resolve(str(tiny_pipeline_configs_only))
    workload = workload_for(source, {"height": 32, "width": 32, "prompt_length": 8, "steps": 2})
    built = build_model(source, dtype=torch.bfloat16)
    flops, traces = probe_model(built, workload, trace=True)
    assert set(traces) == {"text_encoder", "text_encoder_2", "transformer", "vae"}
    for plan in plan_forwards(source, workload):
        module = built.modules[plan.component]
        assert module is not None
        kwargs = realize(plan.inputs(), device="meta", dtype=torch.bfloat16)
        alone = trace_forward(plan.forward(module, kwargs), resident=resident_tensors(kwargs))
        assert traces[plan.component].ops == alone.ops, plan.component
        assert any(o.kind == "attention" for o in alone.ops)
    assert count_flops(built, workload) == flops
