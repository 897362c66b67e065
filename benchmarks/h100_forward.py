"""Time one real bf16 forward of the FLUX.1-dev transformer (random weights) and compare with paramcheck's estimate.

    python benchmarks/h100_forward.py --output h100.json              # on a CUDA machine, 1024x1024
    python benchmarks/h100_forward.py --tiny --output tiny.json        # CPU smoke test with a toy config

The transformer is built from the bundled config directly on the GPU in bf16 (random init, no download), fed
random inputs of the FluxPipeline's shapes, warmed up, then timed with CUDA events over several repeats. The
estimate is paramcheck's roofline for the same forward on the named GPU (default H100 SXM).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from paramcheck.compute.flops import ForwardCount  # noqa: E402
from paramcheck.compute.latency import forward_latency, gpu  # noqa: E402
from paramcheck.compute.probe import probe_forward  # noqa: E402
from paramcheck.compute.recipes import recipe_for  # noqa: E402
from paramcheck.compute.workload import ForwardShape as Shape  # noqa: E402
from tests.tiny import TINY_FLUX_TRANSFORMER  # noqa: E402

DEFAULT_CONFIG = ROOT / "paramcheck" / "bundled" / "flux.1-dev" / "transformer" / "config.json"
TINY = {**TINY_FLUX_TRANSFORMER, "guidance_embeds": True}


def build(config: dict[str, Any], device: str, dtype: torch.dtype) -> torch.nn.Module:
    from diffusers import FluxTransformer2DModel

    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # build straight in bf16: 12B parameters at fp32 would need 48 GB first
    try:
        with torch.device(device):
            model = FluxTransformer2DModel.from_config(config)
    finally:
        torch.set_default_dtype(before)
    return model.eval()


def inputs(config: dict[str, Any], shape: Shape, device: str, dtype: torch.dtype) -> dict[str, Any]:
    tokens = (shape.height // 16) * (shape.width // 16)
    b, length = shape.batch, shape.prompt_length
    gen = torch.Generator(device=device).manual_seed(0)

    def randn(*size: int) -> torch.Tensor:
        return torch.randn(*size, generator=gen, device=device, dtype=dtype)

    kwargs: dict[str, Any] = {
        "hidden_states": randn(b, tokens, config.get("in_channels", 64)),
        "encoder_hidden_states": randn(b, length, config.get("joint_attention_dim", 4096)),
        "pooled_projections": randn(b, config.get("pooled_projection_dim", 768)),
        "timestep": torch.full((b,), 0.5, device=device, dtype=dtype),
        "img_ids": torch.zeros(tokens, 3, device=device, dtype=dtype),
        "txt_ids": torch.zeros(length, 3, device=device, dtype=dtype),
        "return_dict": False,
    }
    if config.get("guidance_embeds"):
        kwargs["guidance"] = torch.full((b,), 3.5, device=device, dtype=dtype)
    return kwargs


def time_forward(model: torch.nn.Module, kwargs: dict[str, Any], *, warmup: int, repeats: int) -> list[float]:
    """Seconds of each timed forward: CUDA events on a GPU, perf_counter on the CPU."""
    cuda = next(model.parameters()).is_cuda
    times = []
    with torch.inference_mode():
        for _ in range(warmup):
            model(**kwargs)
        if cuda:
            torch.cuda.synchronize()
        for _ in range(repeats):
            if cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                model(**kwargs)
                end.record()
                torch.cuda.synchronize()
                times.append(start.elapsed_time(end) / 1e3)
            else:
                t0 = time.perf_counter()
                model(**kwargs)
                times.append(time.perf_counter() - t0)
    return times


def estimate(config: dict[str, Any], shape: Shape, gpu_name: str) -> dict[str, Any]:
    meta = build(config, "meta", torch.float32)
    recipe = recipe_for("FluxTransformer2DModel")
    assert recipe is not None
    run, described = recipe.prepare(meta, config, shape)
    result = probe_forward(run, float_bytes=2)
    forward = ForwardCount(
        component="transformer",
        class_name="FluxTransformer2DModel",
        role=recipe.role,
        inputs=described,
        forwards=1,
        flops=result.flops,
        peak_activation_bytes=result.peak_activation_bytes,
        ops=result.ops,
    )
    device = gpu(gpu_name)
    latency = forward_latency(forward, device)
    return {
        "gpu": device.name,
        "gpu_source": device.source,
        "flops": forward.flops,
        "bytes_moved": forward.bytes_moved,
        "peak_activation_bytes": forward.peak_activation_bytes,
        "compute_bound_seconds": latency.compute_seconds,
        "memory_bound_seconds": latency.memory_seconds,
        "roofline_seconds": latency.roofline_seconds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="transformer config.json")
    parser.add_argument("--tiny", action="store_true", help="toy config at 64x64 on the CPU: a smoke test")
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--prompt-length", type=int, default=512)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--gpu", default="H100 SXM", help="GPU of paramcheck's estimate")
    parser.add_argument("--output", type=Path, required=True, help="write the JSON result here")
    args = parser.parse_args(argv)

    if args.tiny:
        config, device, dtype = dict(TINY), "cpu", torch.float32
        args.height = args.width = 64
        args.prompt_length = 8
    else:
        if not torch.cuda.is_available():
            print("h100_forward: no CUDA device; run on a GPU, or pass --tiny for a CPU smoke test", file=sys.stderr)
            return 2
        config, device, dtype = json.loads(args.config.read_text(encoding="utf-8")), "cuda", torch.bfloat16
    shape = Shape(height=args.height, width=args.width, prompt_length=args.prompt_length, batch=1)

    model = build(config, device, dtype)
    times = time_forward(model, inputs(config, shape, device, dtype), warmup=args.warmup, repeats=args.repeats)
    median = statistics.median(times)
    predicted = estimate(config, shape, args.gpu)
    result = {
        "device": torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "dtype": str(dtype).removeprefix("torch."),
        "config": str(args.config) if not args.tiny else "tiny",
        "height": args.height,
        "width": args.width,
        "prompt_length": args.prompt_length,
        "parameters": sum(p.numel() for p in model.parameters()),
        "warmup": args.warmup,
        "seconds": times,
        "median_seconds": median,
        "measured_tflops_per_second": predicted["flops"] / median / 1e12,
        "estimate": predicted,
        "measured_over_roofline": median / predicted["roofline_seconds"],
    }
    if device == "cuda":
        result["max_memory_allocated_bytes"] = torch.cuda.max_memory_allocated()
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        f"{result['device']}: measured {median * 1e3:.1f} ms (median of {len(times)}), "
        f"{result['measured_tflops_per_second']:.0f} TFLOP/s achieved; paramcheck estimate for {predicted['gpu']}: "
        f"{predicted['roofline_seconds'] * 1e3:.1f} ms roofline ({predicted['compute_bound_seconds'] * 1e3:.1f} ms "
        f"compute-bound); measured / estimate = {result['measured_over_roofline']:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
