"""Loading real weights: counts equal the config's, memory measured equals predicted, the fit check refuses."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import diffusers
import pytest
import torch

from paramcheck.build import build_component
from paramcheck.cli import main
from paramcheck.devices import parse_device, resolve_device
from paramcheck.errors import DeviceError, FitError, OutOfMemoryError, ParamcheckError, SourceError
from paramcheck.load import (
    LoadResult,
    MemoryLimit,
    _from_pretrained,
    available_bytes,
    available_memory,
    cgroup_limits,
    check_fit,
    host_memory,
    load_component,
    predict_bytes,
    rlimit_limits,
    torch_dtype,
    weight_variant,
)
from paramcheck.sources import resolve

COMPONENTS = ["text_encoder", "text_encoder_2", "transformer", "vae"]


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
@pytest.mark.parametrize("name", COMPONENTS)
def test_loaded_counts_and_bytes(tiny_pipeline: Path, name: str, dtype: str) -> None:
    spec = resolve(str(tiny_pipeline)).component(name)
    result, module = load_component(spec, device="cpu", dtype=dtype)
    assert result.mismatches == ()
    # the loaded module's own count, taken here without paramcheck
    assert result.counts.parameters == sum(p.numel() for p in module.parameters())
    # measured: the bytes of the tensors from_pretrained produced
    distinct = {(t.data_ptr(), tuple(t.shape)): t for t in module.state_dict().values()}
    measured = sum(t.numel() * t.element_size() for t in distinct.values())
    buffers = dict(module.named_buffers())
    non_persistent = sum(b.numel() * b.element_size() for n, b in buffers.items() if n not in module.state_dict())
    assert result.predicted_bytes == measured + non_persistent
    assert result.tensor_bytes == result.predicted_bytes


@pytest.mark.parametrize("device_map", ["cpu", "auto", "balanced"])
def test_device_maps_place_the_same_weights(tiny_pipeline: Path, device_map: str) -> None:
    spec = resolve(str(tiny_pipeline)).component("transformer")
    result, module = load_component(spec, device="cpu", dtype="bf16", device_map=device_map)
    assert result.device_map == device_map
    assert result.mismatches == ()
    assert result.counts.parameters == sum(p.numel() for p in module.parameters())
    if not torch.cuda.is_available():  # accelerate puts everything on the CPU: bytes as predicted
        assert {p.device.type for p in module.parameters()} == {"cpu"}
        assert result.tensor_bytes == result.predicted_bytes


def test_fp16_t5_keeps_wo_in_fp32(tiny_pipeline: Path) -> None:
    spec = resolve(str(tiny_pipeline)).component("text_encoder_2")
    result, module = load_component(spec, device="cpu", dtype="fp16")
    # T5's `wo` (d_ff 37 -> d_model 32, no bias) in both layers stays fp32 in fp16 loads: 2 * 37 * 32 * (4 - 2) bytes
    assert module.encoder.block[0].layer[1].DenseReluDense.wo.weight.dtype == torch.float32
    all_half = 2 * sum(p.numel() for p in module.parameters())
    assert result.predicted_bytes == all_half + 2 * 37 * 32 * 2
    assert result.tensor_bytes == result.predicted_bytes


TINY_WAN = {
    "patch_size": (1, 2, 2),
    "num_attention_heads": 2,
    "attention_head_dim": 12,
    "in_channels": 4,
    "out_channels": 4,
    "text_dim": 16,
    "freq_dim": 32,
    "ffn_dim": 32,
    "num_layers": 2,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "rope_max_seq_len": 32,
}


@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_diffusers_keep_in_fp32_modules(tmp_path: Path, dtype: str) -> None:
    from diffusers import WanTransformer3DModel

    WanTransformer3DModel(**TINY_WAN).save_pretrained(tmp_path / "transformer")
    spec = resolve(str(tmp_path / "transformer")).components[0]
    result, module = load_component(spec, device="cpu", dtype=dtype)
    # diffusers keeps Wan's time_embedder, scale_shift_tables and norms in fp32 at any dtype (its
    # _keep_in_fp32_modules); the prediction must price them at 4 bytes, as the loaded tensors are
    assert module.condition_embedder.time_embedder.linear_1.weight.dtype == torch.float32
    assert module.blocks[0].attn1.to_q.weight.dtype == torch_dtype(dtype)
    distinct = {id(t): t for t in [*module.parameters(), *module.buffers()]}
    assert result.predicted_bytes == sum(t.numel() * t.element_size() for t in distinct.values())


def test_materialize_builds_full_size_random_weights(tiny_pipeline_configs_only: Path) -> None:
    spec = resolve(str(tiny_pipeline_configs_only)).component("transformer")
    result, module = load_component(spec, device="cpu", dtype="bf16", materialize=True)
    assert result.mode == "materialized"
    assert {p.dtype for p in module.parameters()} == {torch.bfloat16}
    assert result.tensor_bytes == 2 * sum(p.numel() for p in module.parameters())
    assert torch.get_default_dtype() == torch.float32  # restored


def test_config_only_folder_cannot_load(tiny_pipeline_configs_only: Path) -> None:
    spec = resolve(str(tiny_pipeline_configs_only)).component("vae")
    with pytest.raises(SourceError, match=r"vae/config\.json: no weight files next to the config; use --materialize"):
        load_component(spec, device="cpu")


def test_fit_check_refuses_an_oversized_load() -> None:
    huge = 10**15  # a petabyte: no machine here has it free
    with pytest.raises(DeviceError, match=r"^transformer: needs 1000000\.00 GB on cpu but only .* GB is free"):
        check_fit("transformer", huge, "cpu")


def test_fit_check_runs_before_loading(tiny_pipeline: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny = MemoryLimit(free=1000, source="available host memory")
    monkeypatch.setattr("paramcheck.load.available_memory", lambda device, device_map=None: tiny)
    spec = resolve(str(tiny_pipeline)).component("transformer")
    with pytest.raises(DeviceError, match=r"transformer: needs 0\.00 GB on cpu but only 0\.00 GB is free"):
        load_component(spec, device="cpu")


def test_predict_bytes_by_hand() -> None:
    with torch.device("meta"):
        module = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Embedding(10, 2))
    module.register_buffer("ids", torch.zeros(5, dtype=torch.int64, device="meta"))
    # Linear 4*3+3 = 15, Embedding 20: 35 floats at 2 bytes; 5 int64 ids at 8 bytes
    assert predict_bytes(module, "bf16") == 35 * 2 + 5 * 8


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_cuda_is_a_clear_error(tiny_pipeline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["load", str(tiny_pipeline), "--device", "cuda"]) == 2
    assert capsys.readouterr().err.startswith("paramcheck: error: cuda: CUDA is not available here")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_load_measures_allocator(tiny_pipeline: Path) -> None:
    spec = resolve(str(tiny_pipeline)).component("transformer")
    result, _ = load_component(spec, device="cuda", dtype="bf16")
    assert result.cuda_allocated >= result.predicted_bytes


def test_device_parsing() -> None:
    assert parse_device("CUDA:1") == "cuda:1"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(DeviceError, match=r"unknown device 'gpu'; use one of auto, cpu, cuda, cuda:N, meta"):
        parse_device("gpu")


def test_cli_load_json_round_trips(tiny_pipeline: Path, tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    assert main(["load", str(tiny_pipeline), "--dtype", "bf16", "--device", "cpu", "--json", "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    loads = [LoadResult.from_dict(item) for item in data["loads"]]
    assert [r.component for r in loads] == COMPONENTS
    assert [r.to_dict() for r in loads] == data["loads"]
    expected = {c["name"]: c["parameters"] for c in data["expected"]["components"]}
    assert all(r.counts.parameters == expected[r.component] for r in loads)


def test_cli_load_reports_a_tensor_missing_from_the_weights(
    tiny_pipeline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from safetensors.torch import load_file, save_file

    folder = shutil.copytree(tiny_pipeline, tmp_path / "pipe")
    weights = folder / "vae" / "diffusion_pytorch_model.safetensors"
    tensors = load_file(weights)
    del tensors["decoder.conv_out.bias"]  # a conversion that dropped one tensor
    save_file(tensors, weights, metadata={"format": "pt"})
    code = main(["load", str(folder), "--components", "vae", "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == 1
    assert "vae: missing in the weights: decoder.conv_out.bias" in captured.out
    assert captured.err.strip() == "paramcheck: the loaded weights do not match the config for: vae"


def test_fit_check_allows_90_percent_of_free_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    # 1,000,000 bytes free: loads may use 90% of it (the documented headroom), so 900,000 fits and 950,000 does not
    free = MemoryLimit(free=1_000_000, source="available host memory")
    monkeypatch.setattr("paramcheck.load.available_memory", lambda device, device_map=None: free)
    assert check_fit("vae", 900_000, "cpu") == free
    with pytest.raises(DeviceError, match=r"^vae: needs 0\.00 GB on cpu .*by available host memory; loads may use 90%"):
        check_fit("vae", 950_000, "cpu")


def _cgroup_tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="ascii")


def test_cgroup_v2_limit_of_the_process_and_its_parents(tmp_path: Path) -> None:
    proc = tmp_path / "cgroup"
    proc.write_text("0::/user.slice/job\n", encoding="ascii")
    _cgroup_tree(
        tmp_path / "fs",
        {
            "user.slice/job/memory.max": "max\n",  # no limit of its own
            "user.slice/job/memory.current": "100\n",
            "user.slice/memory.max": "4000\n",  # the parent's limit binds the child
            "user.slice/memory.current": "1000\n",
        },
    )
    assert cgroup_limits(tmp_path / "fs", proc) == [MemoryLimit(free=3000, source="cgroup memory.max")]


def test_cgroup_v1_limit_and_no_limit(tmp_path: Path) -> None:
    proc = tmp_path / "cgroup"
    proc.write_text("12:cpu,cpuacct:/a\n5:memory:/docker/abc\n", encoding="ascii")
    _cgroup_tree(
        tmp_path / "fs",
        {
            "memory/docker/abc/memory.limit_in_bytes": "2048\n",
            "memory/docker/abc/memory.usage_in_bytes": "48\n",
            "memory/docker/memory.limit_in_bytes": "9223372036854771712\n",  # v1's "no limit"
            "memory/docker/memory.usage_in_bytes": "48\n",
        },
    )
    assert cgroup_limits(tmp_path / "fs", proc) == [MemoryLimit(free=2000, source="cgroup memory.limit_in_bytes")]


def test_host_memory_honours_ulimit_v() -> None:
    # in a child with RLIMIT_AS = its address space now + 100 MB, at most 100 MB is free, named as ulimit -v
    code = (
        "import resource, psutil\n"
        "from paramcheck.load import host_memory\n"
        "used = psutil.Process().memory_info().vms\n"
        "resource.setrlimit(resource.RLIMIT_AS, (used + 100_000_000, resource.RLIM_INFINITY))\n"
        "m = host_memory()\n"
        "print(m.source, m.free)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    source, _, free = out.stdout.strip().rpartition(" ")
    assert source == "RLIMIT_AS (ulimit -v)"
    assert 0 < int(free) <= 100_000_000


def test_load_out_of_memory_after_the_fit_check_is_not_blamed_on_the_config(
    tiny_pipeline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the fit check passes (a tiny VAE), then torch's allocator fails while the model is built for real
    spec = resolve(str(tiny_pipeline)).component("vae")
    reference = build_component(spec)

    def allocation_fails(*args: object, **kwargs: object) -> None:
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(diffusers.AutoencoderKL, "from_config", allocation_fails)
    with pytest.raises(OutOfMemoryError, match=r"^vae: ran out of memory loading .* GB was free by .*raise the limit"):
        load_component(spec, device="cpu", materialize=True, reference=reference)


GB = 1_000_000_000


@pytest.mark.parametrize(
    ("device", "device_map", "source", "message"),
    [
        (
            "cpu",
            None,
            "available host memory",
            "vae: needs 2.00 GB on cpu but only 1.00 GB is free (by available host memory; loads may use 90% of it); "
            "use a smaller --dtype, fewer --components, or a machine with more memory",
        ),
        (
            "cuda:0",
            None,
            "free memory of cuda:0",
            "vae: needs 2.00 GB on cuda:0 but only 1.00 GB is free (by free memory of cuda:0; loads may use 90% of "
            "it); use --device cpu, or --device-map balanced to spread it",
        ),
        (
            "cuda:0",
            "auto",
            "CUDA devices and available host memory",
            "vae: needs 2.00 GB on device map 'auto' but only 1.00 GB is free (by CUDA devices and available host "
            "memory; loads may use 90% of it); use a smaller --dtype, fewer --components, or a machine with more "
            "memory",
        ),
    ],
)
def test_fit_check_message_names_the_limit_and_the_way_out(
    monkeypatch: pytest.MonkeyPatch, device: str, device_map: str | None, source: str, message: str
) -> None:
    seen: list[tuple[str, str | None]] = []

    def one_gb(device: str, device_map: str | None = None) -> MemoryLimit:
        seen.append((device, device_map))
        return MemoryLimit(free=GB, source=source)

    monkeypatch.setattr("paramcheck.load.available_memory", one_gb)
    with pytest.raises(FitError) as refused:
        check_fit("vae", 2 * GB, device, device_map)
    assert str(refused.value) == message
    where = f"device map {device_map!r}" if device_map else device
    assert (refused.value.needed, refused.value.free, refused.value.where) == (2 * GB, GB, where)
    assert seen == [(device, device_map)]


@pytest.fixture
def fake_cuda(monkeypatch: pytest.MonkeyPatch) -> MemoryLimit:
    """Two CUDA devices with 3000 and 5000 bytes free of 8000, and a host with 10000 free."""
    host = MemoryLimit(free=10_000, source="available host memory")
    monkeypatch.setattr("paramcheck.load.host_memory", lambda: host)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda index: {0: (3_000, 8_000), 1: (5_000, 8_000)}[index])
    return host


def test_available_memory_per_device_and_device_map(fake_cuda: MemoryLimit) -> None:
    assert available_memory("cpu") == fake_cuda
    assert available_memory("cuda") == MemoryLimit(free=3_000, source="free memory of cuda:0")
    assert available_memory("cuda:1") == MemoryLimit(free=5_000, source="free memory of cuda:1")
    # a device map spreads over every CUDA device and the host: 3000 + 5000 + 10000
    both = MemoryLimit(free=18_000, source="CUDA devices and available host memory")
    assert available_memory("cpu", "auto") == both
    assert available_memory("cuda", "balanced") == both
    assert available_bytes("cpu", "auto") == 18_000
    assert available_bytes("cuda:1") == 5_000
    assert available_bytes("cpu") == 10_000


def test_device_map_without_cuda_is_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    host = MemoryLimit(free=10_000, source="available host memory")
    monkeypatch.setattr("paramcheck.load.host_memory", lambda: host)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert available_memory("cpu", "auto") == host
    assert available_bytes("cpu", "auto") == 10_000


@pytest.fixture
def fake_process(monkeypatch: pytest.MonkeyPatch) -> dict[int, tuple[int, int]]:
    """A process using 1000 bytes of address space and 300 of data; its soft/hard limits set by the test."""
    import resource
    from types import SimpleNamespace

    limits: dict[int, tuple[int, int]] = {}
    info = SimpleNamespace(vms=1_000, data=300, rss=100)
    monkeypatch.setattr("paramcheck.load.psutil.Process", lambda: SimpleNamespace(memory_info=lambda: info))
    monkeypatch.setattr("paramcheck.load.resource.getrlimit", lambda which: limits[which])
    inf = resource.RLIM_INFINITY
    limits.update({resource.RLIMIT_AS: (inf, inf), resource.RLIMIT_DATA: (inf, inf)})
    return limits


def test_rlimits_leave_the_limit_minus_what_is_used(fake_process: dict[int, tuple[int, int]]) -> None:
    import resource

    assert rlimit_limits() == []  # both unlimited
    fake_process[resource.RLIMIT_AS] = (5_000, resource.RLIM_INFINITY)  # ulimit -v: 5000 - 1000 in use
    fake_process[resource.RLIMIT_DATA] = (200, resource.RLIM_INFINITY)  # ulimit -d below the 300 in use: nothing
    assert rlimit_limits() == [
        MemoryLimit(free=4_000, source="RLIMIT_AS (ulimit -v)"),
        MemoryLimit(free=0, source="RLIMIT_DATA (ulimit -d)"),
    ]


def test_host_memory_is_the_tightest_limit(
    fake_process: dict[int, tuple[int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import resource
    from types import SimpleNamespace

    monkeypatch.setattr("paramcheck.load.psutil.virtual_memory", lambda: SimpleNamespace(available=10_000))
    cgroup = MemoryLimit(free=2_500, source="cgroup memory.max")
    monkeypatch.setattr("paramcheck.load.cgroup_limits", lambda: [cgroup])
    assert host_memory() == cgroup
    fake_process[resource.RLIMIT_DATA] = (2_000, resource.RLIM_INFINITY)  # 2000 - 300 = 1700 < 2500
    assert host_memory() == MemoryLimit(free=1_700, source="RLIMIT_DATA (ulimit -d)")
    monkeypatch.setattr("paramcheck.load.cgroup_limits", lambda: [])
    fake_process[resource.RLIMIT_DATA] = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
    assert host_memory() == MemoryLimit(free=10_000, source="available host memory")


def test_torch_dtype_refuses_a_storage_format() -> None:
    assert torch_dtype("bfloat16") is torch.bfloat16
    with pytest.raises(ParamcheckError) as refused:
        torch_dtype("fp8")
    assert str(refused.value) == "dtype 'fp8' cannot be loaded directly; use fp32, fp16 or bf16"


def _spy_from_pretrained(monkeypatch: pytest.MonkeyPatch, cls: type, calls: list[dict[str, object]]) -> None:
    def from_pretrained(folder: Path, **kwargs: object) -> tuple[torch.nn.Module, dict[str, list[object]]]:
        calls.append(kwargs)
        info = {"missing_keys": ["m.b"], "unexpected_keys": ["u.w"], "mismatched_keys": [("s.w", (2,), (3,))]}
        return torch.nn.Linear(1, 1), info

    monkeypatch.setattr(cls, "from_pretrained", from_pretrained)


@pytest.mark.parametrize(
    ("device", "device_map", "variant", "placement"),
    [
        ("cpu", None, None, {}),  # on the CPU: no device map, from_pretrained's own path
        ("cuda:1", None, None, {"device_map": "cuda:1"}),
        ("cpu", "balanced", "fp16", {"device_map": "balanced", "variant": "fp16"}),
    ],
)
def test_from_pretrained_is_told_dtype_placement_and_variant(
    tiny_pipeline: Path,
    monkeypatch: pytest.MonkeyPatch,
    device: str,
    device_map: str | None,
    variant: str | None,
    placement: dict[str, object],
) -> None:
    import transformers

    calls: list[dict[str, object]] = []
    _spy_from_pretrained(monkeypatch, diffusers.AutoencoderKL, calls)
    _spy_from_pretrained(monkeypatch, transformers.CLIPTextModel, calls)
    pipe = resolve(str(tiny_pipeline))
    _, problems = _from_pretrained(pipe.component("vae"), device, torch.bfloat16, device_map, variant, ())
    assert problems == (
        "missing in the weights: m.b",
        "shape in the weights: ('s.w', (2,), (3,))",
        "unexpected in the weights: u.w",
    )
    _from_pretrained(pipe.component("text_encoder"), device, torch.float16, device_map, variant, ())
    assert calls == [  # diffusers takes torch_dtype=, transformers dtype=
        {"output_loading_info": True, "torch_dtype": torch.bfloat16, **placement},
        {"output_loading_info": True, "dtype": torch.float16, **placement},
    ]


@pytest.mark.parametrize(
    ("error", "kind", "message"),
    [
        (
            OSError("no file named x.safetensors\nsee the docs"),
            SourceError,
            "from_pretrained failed (no file named x.safetensors)",
        ),
        (
            RuntimeError("DefaultCPUAllocator: can't allocate memory"),
            OutOfMemoryError,
            "from_pretrained ran out of memory (DefaultCPUAllocator: can't allocate memory)",
        ),
    ],
)
def test_from_pretrained_failure_is_one_line(
    tiny_pipeline: Path, monkeypatch: pytest.MonkeyPatch, error: Exception, kind: type, message: str
) -> None:
    def fails(folder: Path, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(diffusers.AutoencoderKL, "from_pretrained", fails)
    spec = resolve(str(tiny_pipeline)).component("vae")
    with pytest.raises(kind) as failed:
        _from_pretrained(spec, "cpu", torch.float32, None, None, ())
    assert str(failed.value) == f"{spec.location}: {message}"


def test_a_folder_of_one_variant_loads_that_variant(tmp_path: Path, tiny_modules: dict[str, torch.nn.Module]) -> None:
    tiny_modules["vae"].save_pretrained(
        tmp_path / "vae", variant="fp16"
    )  # only diffusion_pytorch_model.fp16.safetensors
    spec = resolve(str(tmp_path / "vae")).components[0]
    assert weight_variant(spec, None) == "fp16"  # the only weights there: from_pretrained needs variant="fp16"
    for asked in (None, "fp16"):
        result, _ = load_component(spec, device="cpu", variant=asked)
        assert (result.mode, result.variant, result.dtype, result.mismatches) == ("loaded", "fp16", "fp32", ())
        assert result.seconds > 0
        assert result.counts.parameters == sum(p.numel() for p in tiny_modules["vae"].parameters())


def test_a_variant_the_folder_lacks_falls_back_to_the_default_weights(tiny_pipeline: Path) -> None:
    spec = resolve(str(tiny_pipeline)).component("vae")  # default weights only
    assert weight_variant(spec, "fp16") is None
    assert weight_variant(spec, None) is None
    result, _ = load_component(spec, device="cpu", variant="fp16")
    assert (result.mode, result.variant) == ("loaded", None)


def test_load_out_of_memory_message_in_full(tiny_pipeline: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = resolve(str(tiny_pipeline)).component("vae")
    free = MemoryLimit(free=5 * GB, source="available host memory")
    monkeypatch.setattr("paramcheck.load.available_memory", lambda device, device_map=None: free)

    def allocation_fails(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(diffusers.AutoencoderKL, "from_pretrained", allocation_fails)
    with pytest.raises(OutOfMemoryError) as failed:
        load_component(spec, device="cpu")
    assert str(failed.value) == (
        "vae: ran out of memory loading 0.00 GB on cpu (5.00 GB was free by available host memory); "
        "use a smaller --dtype, fewer --components, or raise the limit"
    )


def test_a_platform_without_a_data_segment_figure_counts_none_used(monkeypatch: pytest.MonkeyPatch) -> None:
    import resource
    from types import SimpleNamespace

    # psutil's memory_info has no "data" field off Linux (macOS): the whole RLIMIT_DATA is left
    info = SimpleNamespace(vms=1_000, rss=100)
    monkeypatch.setattr("paramcheck.load.psutil.Process", lambda: SimpleNamespace(memory_info=lambda: info))
    inf = resource.RLIM_INFINITY
    limits = {resource.RLIMIT_AS: (inf, inf), resource.RLIMIT_DATA: (2_000, inf)}
    monkeypatch.setattr("paramcheck.load.resource.getrlimit", lambda which: limits[which])
    assert rlimit_limits() == [MemoryLimit(free=2_000, source="RLIMIT_DATA (ulimit -d)")]


def test_tensor_bytes_count_what_is_loaded_not_what_is_offloaded() -> None:
    from paramcheck.load import tensor_bytes

    model = torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.Linear(8, 8, device="meta"))
    assert tensor_bytes(model) == (4 * 2 + 2) * 4  # the CPU Linear's fp32 weight and bias; the meta one is offloaded


def test_a_variant_beside_the_default_weights_is_the_one_loaded(
    tmp_path: Path, tiny_modules: dict[str, torch.nn.Module]
) -> None:
    vae = tiny_modules["vae"]
    vae.save_pretrained(tmp_path / "vae")
    copy.deepcopy(vae).to(torch.float16).save_pretrained(tmp_path / "vae", variant="fp16")
    spec = resolve(str(tmp_path / "vae")).components[0]
    assert weight_variant(spec, "fp16") == "fp16"
    assert weight_variant(spec, None) is None
    result, _ = load_component(spec, device="cpu", variant="fp16", dtype="fp16")
    assert (result.mode, result.variant, result.dtype) == ("loaded", "fp16", "fp16")
    result, module = load_component(spec)  # on the CPU unless told otherwise
    assert (result.mode, result.variant, next(module.parameters()).device.type) == ("loaded", None, "cpu")
