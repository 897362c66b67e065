"""``paramcheck bench``: time each component's forward on the GPU at hand, built from its config with random weights.

Each component with a compute recipe is built directly on the device at the dtype (random weights, no download),
fed random inputs of exactly the recipe's shapes (``inputs.realize``), warmed up, then timed forward by forward
with CUDA events (on the CPU, for smoke tests, with the wall clock). Per component: the seconds of each forward,
the host's time until the forward returned (a launch-bound forward returns late), the weights' bytes and the
forward's peak of extra memory. Per call and per image: the forwards summed as the pipeline runs them (text
encoders, the denoiser per step, the VAE decode); tokenizers, the scheduler and latent handling are not timed.
"""

from __future__ import annotations

import gc
import math
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ...build import build_component
from ...errors import DeviceError, ParamcheckError
from ...results import Result, pairs
from ...sources import ModelSource
from ..inputs import realize
from ..recipes import ForwardPlan, plan_forwards
from ..trace import torch_dtype_of
from ..workload import Role, Workload

__all__ = ["BenchReport", "ForwardTiming", "bench_model", "software", "time_forward"]


def software() -> dict[str, str]:
    """The stack a measurement was made with."""
    import diffusers
    import transformers

    stack = {
        "torch": torch.__version__,
        "cuda": str(torch.version.cuda),
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }
    if torch.cuda.is_available():
        stack["cudnn"] = str(torch.backends.cudnn.version())  # type: ignore[no-untyped-call]
        stack["gpu"] = torch.cuda.get_device_name()
    return stack


@dataclass(frozen=True, slots=True, kw_only=True)
class ForwardTiming(Result):
    """One component's forward, timed ``len(seconds)`` times after ``warmup`` untimed runs.

    ``seconds``: device time of each forward (CUDA events; wall clock on the CPU); ``median_seconds`` their median.
    ``host_seconds``: time until the call returned to Python. ``weight_bytes``: memory its weights took;
    ``activation_peak_bytes``: the most extra memory a forward allocated at once (its output included). Memory is
    ``None`` off CUDA.
    """

    component: str
    class_name: str
    role: Role
    inputs: str
    forwards: int
    seconds: tuple[float, ...]
    median_seconds: float = field(init=False)
    host_seconds: tuple[float, ...] = ()
    warmup: int = 0
    build_seconds: float = 0.0
    weight_bytes: int | None = None
    activation_peak_bytes: int | None = None

    def __post_init__(self) -> None:
        self._derive(median_seconds=statistics.median(self.seconds))

    @property
    def median(self) -> float:
        return self.median_seconds

    @property
    def low(self) -> float:
        return min(self.seconds)

    @property
    def high(self) -> float:
        return max(self.seconds)

    @property
    def peak_bytes(self) -> int | None:
        if self.weight_bytes is None or self.activation_peak_bytes is None:
            return None
        return self.weight_bytes + self.activation_peak_bytes


Spread = tuple[float, float, float]  # median, fastest, slowest


def _scaled(spread: Spread, factor: float) -> Spread:
    return spread[0] * factor, spread[1] * factor, spread[2] * factor


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchReport(Result):
    """Measured forwards of one generation call on one device, and what they add up to.

    Per call, per image and per denoising step: (median, with every forward at its fastest, at its slowest)
    seconds. Peak memory: weights on the device plus the largest forward's extra memory (components run one
    after another), all resident or with the text encoders offloaded; ``None`` off CUDA.
    """

    model: str
    device: str
    dtype: str
    workload: Workload
    software: tuple[tuple[str, str], ...] = pairs(default=())
    timings: tuple[ForwardTiming, ...]
    per_call_seconds: Spread = field(init=False)
    per_image_seconds: Spread = field(init=False)
    per_step_seconds: Spread | None = field(init=False)
    peak_bytes_all_resident: int | None = field(init=False)
    peak_bytes_text_encoders_offloaded: int | None = field(init=False)
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        per_call = self._sum(self.timings)
        b = self.workload.batch
        denoisers = [t for t in self.timings if t.role == Role.DENOISER]
        steps = max(self.workload.steps, 1)
        self._derive(
            per_call_seconds=per_call,
            per_image_seconds=_scaled(per_call, 1 / b),
            per_step_seconds=_scaled(self._sum(denoisers), 1 / steps) if denoisers else None,
            peak_bytes_all_resident=self._peak(offload_text=False),
            peak_bytes_text_encoders_offloaded=self._peak(offload_text=True),
        )

    @staticmethod
    def _sum(timings: Sequence[ForwardTiming]) -> Spread:
        return (
            sum(t.forwards * t.median for t in timings),
            sum(t.forwards * t.low for t in timings),
            sum(t.forwards * t.high for t in timings),
        )

    def _peak(self, *, offload_text: bool) -> int | None:
        resident = [t for t in self.timings if not (offload_text and t.role == Role.TEXT_ENCODER)]
        if not resident or any(t.weight_bytes is None or t.activation_peak_bytes is None for t in resident):
            return None
        weights = sum(t.weight_bytes or 0 for t in resident)
        return weights + max(t.activation_peak_bytes or 0 for t in resident)


BENCH_NOTE = (
    "random weights built from the config on the device; inputs of the pipeline's shapes; each forward timed after "
    "warm-up (CUDA events); per call = forwards x median, tokenizers/scheduler/latent handling not timed"
)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build_on(plan: ForwardPlan, device: torch.device, dtype: torch.dtype) -> tuple[torch.nn.Module, float, int | None]:
    """The component built straight on ``device`` at ``dtype`` (random init); seconds taken and bytes allocated."""
    cuda = device.type == "cuda"
    before = torch.cuda.memory_allocated(device) if cuda else 0
    start = time.perf_counter()
    module = build_component(plan.spec, device=device, dtype=dtype)
    _sync(device)
    seconds = time.perf_counter() - start
    if module is None:
        raise ParamcheckError(f"{plan.spec.location}: {plan.spec.class_name} has no weights to build")
    module.requires_grad_(False)
    weights = torch.cuda.memory_allocated(device) - before if cuda else None
    return module, seconds, weights


def time_forward(
    run: Callable[[], Any],
    device: torch.device,
    *,
    warmup: int = 2,
    repeats: int = 10,
    min_repeats: int = 3,
    budget: float = 2.0,
) -> tuple[tuple[float, ...], tuple[float, ...], int | None]:
    """(seconds per forward, host seconds per forward, peak extra bytes): ``warmup`` untimed, then up to
    ``repeats`` timed forwards, fewer (never under ``min_repeats``) when they would take over ``budget`` seconds."""
    cuda = device.type == "cuda"
    with torch.inference_mode():
        estimate = 0.0
        for _ in range(warmup):
            _sync(device)
            t0 = time.perf_counter()
            run()
            _sync(device)
            estimate = time.perf_counter() - t0
        fit = math.floor(budget / estimate) if estimate > 0 else repeats
        count = max(min(min_repeats, repeats), min(repeats, fit))
        base = 0
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
        seconds, host = [], []
        for _ in range(count):
            _sync(device)
            if cuda:
                start = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
                end = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
                t0 = time.perf_counter()
                start.record()
                out = run()
                end.record()
                host.append(time.perf_counter() - t0)
                del out
                end.synchronize()
                seconds.append(start.elapsed_time(end) / 1e3)
            else:
                t0 = time.perf_counter()
                out = run()
                host.append(time.perf_counter() - t0)
                seconds.append(host[-1])
                del out
        peak = torch.cuda.max_memory_allocated(device) - base if cuda else None
    return tuple(seconds), tuple(host), peak


def _device(name: str) -> torch.device:
    from ...devices import resolve_device

    resolved = resolve_device(name)
    if resolved == "meta":
        raise DeviceError("--device meta: bench runs real forwards; use cuda (or cpu for a smoke test)")
    return torch.device(resolved)


def bench_model(
    source: ModelSource,
    workloads: Sequence[Workload],
    *,
    device: str = "cuda",
    dtype: str = "bf16",
    components: Sequence[str] | None = None,
    warmup: int = 2,
    repeats: int = 10,
    budget: float = 2.0,
    on_timing: Callable[[Workload, ForwardTiming], None] | None = None,
    inspect: Callable[[Workload, ForwardTiming, Callable[[], Any]], None] | None = None,
) -> tuple[BenchReport, ...]:
    """Time every component with a recipe for each workload; each component is built once, then freed.

    ``on_timing`` sees each timing as it is made; ``inspect`` may run the forward again (a profiler, say) before
    the component is freed."""
    target = _device(device)
    wanted = torch_dtype_of(dtype)
    if wanted is None:
        raise ParamcheckError(f"--dtype {dtype}: bench runs at bf16, fp16 or fp32; choose one of them")
    plans = [plan_forwards(source, w) for w in workloads]
    names = [p.component for p in plans[0]]
    if components is not None:
        for name in components:
            if name not in names:
                source.component(name)  # unknown: one-line error with the list
                raise ParamcheckError(f"{source.model}/{name}: no compute recipe for it; bench times {names}")
        names = [n for n in names if n in components]
    if not names:
        raise ParamcheckError(f"{source.model}: no component with a compute recipe; nothing to time")
    results: list[list[ForwardTiming]] = [[] for _ in workloads]
    generator = torch.Generator(device=target).manual_seed(0)
    for name in names:
        module, build_seconds, weights = build_on(next(p for p in plans[0] if p.component == name), target, wanted)
        try:
            for index, workload in enumerate(workloads):
                plan = next(p for p in plans[index] if p.component == name)
                kwargs = realize(plan.inputs(), device=target, dtype=wanted, generator=generator)
                run = plan.forward(module, kwargs)
                inputs = plan.describe(kwargs)
                try:
                    seconds, host, peak = time_forward(run, target, warmup=warmup, repeats=repeats, budget=budget)
                except torch.cuda.OutOfMemoryError as e:
                    raise DeviceError(
                        f"{source.model}/{name}: out of memory on {target} for {inputs}; choose a smaller "
                        "--batch, --height/--width or --frames"
                    ) from e
                timing = ForwardTiming(
                    component=name,
                    class_name=plan.spec.class_name or "",
                    role=plan.recipe.role,
                    inputs=inputs,
                    forwards=plan.forwards,
                    seconds=seconds,
                    host_seconds=host,
                    warmup=warmup,
                    build_seconds=build_seconds,
                    weight_bytes=weights,
                    activation_peak_bytes=peak,
                )
                results[index].append(timing)
                if on_timing is not None:
                    on_timing(workload, timing)
                if inspect is not None:
                    inspect(workload, timing, run)
                del run, kwargs
        finally:
            del module
            gc.collect()
            if target.type == "cuda":
                torch.cuda.empty_cache()
    name = torch.cuda.get_device_name(target) if target.type == "cuda" else platform.processor() or "cpu"
    stack = software()
    return tuple(
        BenchReport(
            model=source.model,
            device=name,
            dtype=dtype,
            workload=w,
            timings=tuple(r),
            software=tuple(stack.items()),
            notes=(BENCH_NOTE,),
        )
        for w, r in zip(workloads, results, strict=True)
    )
