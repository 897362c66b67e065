"""Predicted latency of a forward on a profiled GPU: each traced op costed from measured throughput, on two clocks.

Every op of the forward (``trace``, recorded in the FLOP pass: ``flops.probe_model(..., trace=True)``) costs the
host its dispatch (eager PyTorch: Python, the dispatcher, the launch) and, when it launches work, the GPU a kernel
time from the profile: matmuls by (M, N, K), convolutions by layer and size, attention by rows and key length,
memory-bound ops by bytes moved. The host runs ahead of the GPU; a kernel starts when it has been launched and the
one before it has finished; a read of a value back (a sync) makes the host wait. The forward takes until both
clocks are done::

    host += dispatch(op);  if op has a kernel: gpu = max(gpu, host) + kernel(op);  if sync: host = max(host, gpu)

So a launch-bound forward (small latents, many small ops) costs its host time, a compute-bound one its kernels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..results import Result, pairs
from .flops import FlopReport, probe_model
from .profile import Grid, Profile, architecture_key
from .workload import Role, Workload

if TYPE_CHECKING:  # trace and build import torch; a cached prediction is read back without it
    from ..sources import ModelSource
    from .trace import Trace, TracedOp

__all__ = [
    "ComponentPrediction",
    "ForwardPrediction",
    "ModelPrediction",
    "attention_key",
    "conv_line_key",
    "error_note",
    "gpu_seconds",
    "host_scale_for",
    "host_seconds",
    "matmul_line_key",
    "memory_class",
    "predict_flops",
    "predict_model",
    "predict_ops",
    "predict_trace",
    "stated_error",
    "trace_model",
]

MEMORY_CLASSES: Mapping[str, str] = {
    "_to_copy": "copy",
    "copy_": "copy",
    "clone": "copy",
    "constant_pad_nd": "copy",
    "native_layer_norm": "norm",
    "rms_norm": "norm",
    "_fused_rms_norm": "norm",
    "native_group_norm": "group_norm",
    "_softmax": "softmax",
    "_log_softmax": "softmax",
    "_safe_softmax": "softmax",
    "cat": "cat",
    "stack": "cat",
    "mean": "reduction",
    "sum": "reduction",
    "amax": "reduction",
    "amin": "reduction",
    "var_mean": "reduction",
    "var": "reduction",
    "std": "reduction",
    "linalg_vector_norm": "reduction",
    "norm": "reduction",
    "argmax": "reduction",
    "cumsum": "reduction",
    "index": "index",
    "index_select": "index",
    "embedding": "index",
    "gather": "index",
    "_unsafe_index": "index",
    "index_put": "index",
    "index_put_": "index",
    "scatter": "index",
    "upsample_nearest2d": "upsample",
    "upsample_nearest3d": "upsample",
    "_upsample_nearest_exact2d": "upsample",
    "upsample_bilinear2d": "upsample",
    "arange": "fill",
    "zeros": "fill",
    "ones": "fill",
    "full": "fill",
    "fill_": "fill",
    "zero_": "fill",
    "zeros_like": "fill",
    "ones_like": "fill",
    "full_like": "fill",
    "scalar_tensor": "fill",
    "linspace": "fill",
}
STRIDED = "strided_copy"
PERMUTED = "permute_copy"
PCIE_BYTES_PER_SECOND = 20e9  # a small pageable host-to-device copy; these are rope tables of a few kB
KERNEL_KINDS = frozenset({"matmul", "conv", "attention", "memory", "host", "h2d"})
WAITING_KINDS = frozenset({"sync", "h2d"})  # the host waits for the device to finish what it queued


def memory_class(op: TracedOp) -> str:
    """The memory table an op is costed from: a copy or pointwise op reading a transposed tensor is a strided
    copy, one reading a tensor with permuted outer dimensions a permute copy."""
    cls = MEMORY_CLASSES.get(op.op, "pointwise")
    if op.dtype in {"c64", "c128"} and cls == "pointwise":
        return "complex"
    if op.strided and cls in {"copy", "pointwise"}:
        return STRIDED if op.strided == "inner" else PERMUTED
    return cls


def matmul_line_key(dtype: str, n: int, k: int) -> str:
    return f"{dtype}|{n}|{k}"


def conv_line_key(dtype: str, key: str) -> str:
    return f"{dtype}|{key}"


def attention_key(op: TracedOp) -> str:
    """``dtype|d<D>|dv<Dv>|<mask pattern>[-causal]|g<query heads per kv head>``."""
    _, heads, _, _, d, dv, kv_heads = op.dims
    return f"{op.dtype}|d{d}|dv{dv}|{op.key}|g{max(1, heads // max(kv_heads, 1))}"


def _attention_grid(profile: Profile, op: TracedOp) -> tuple[Grid | None, str]:
    key = attention_key(op)
    grid = profile.attention.get(key)
    if grid is not None:
        return grid, ""
    dtype, d, _, mask, _ = key.split("|")
    want = int(d[1:])
    for masked in (mask, "none"):
        same = [k for k in profile.attention if k.split("|")[0] == dtype and k.split("|")[3] == masked]
        if same:
            near = min(same, key=lambda k: abs(int(k.split("|")[1][1:]) - want))
            return profile.attention[near], f"attention {key} not calibrated: costed as {near}"
    return None, f"attention {key} not calibrated"


def gpu_seconds(op: TracedOp, profile: Profile, misses: set[str] | None = None) -> float:
    """Kernel seconds of one op on the profiled GPU; 0 for ops that launch none."""
    if op.kind not in KERNEL_KINDS:
        return 0.0
    floor = profile.kernel_floor
    if op.kind == "host":
        return floor
    if op.kind == "h2d":
        if "h2d" in profile.memory:
            return profile.memory["h2d"].at(max(op.bytes, 1))
        return floor + op.bytes / PCIE_BYTES_PER_SECOND
    if op.kind == "memory":
        cls = memory_class(op)
        fallback = "copy" if cls == PERMUTED and "copy" in profile.memory else "pointwise"
        table = profile.memory.get(cls) or profile.memory[fallback]
        if cls not in profile.memory and misses is not None:
            misses.add(f"memory class {cls} not calibrated: costed as {fallback}")
        return max(floor, table.at(max(op.bytes, 1)))
    if not op.flops:
        return floor
    if op.kind == "matmul":
        b, m, n, k = op.dims
        line = profile.matmul_lines.get(matmul_line_key(op.dtype, n, k)) if b == 1 else None
        if line is not None:
            throughput = line.at(m)
        else:
            grid = profile.matmul.get(op.dtype) or profile.matmul["bf16"]
            throughput = grid.at(b * m, n, k)
        return max(floor, op.flops / throughput)
    if op.kind == "conv":
        if op.strided == "channels_last" and "|1x1|s1x1|p0x0|d1x1|g1|" in op.key:
            # a 1x1 convolution over NHWC data is a matrix product: (pixels, Cin) x (Cin, Cout)
            cout, cin = op.dims[-3], op.dims[1]
            grid = profile.matmul.get(op.dtype) or profile.matmul["bf16"]
            return max(floor, op.flops / grid.at(op.flops / (2 * cout * cin), cout, cin))
        line = profile.conv_lines.get(conv_line_key(op.dtype, op.key))
        if line is not None:
            seconds = op.flops / line.at(op.flops)
            depthwise = op.key.split("|")[7] == f"g{op.dims[1]}" and op.dims[1] > 1
            if depthwise and op.strided == "channels_last":
                seconds *= profile.factors.get("depthwise_channels_last", 1.0)
            return max(floor, seconds)
        spatial = (len(op.dims) - 3) // 2
        cin, cout = op.dims[1], op.dims[2 + spatial]
        kernel = 1
        for k in op.dims[3 + spatial :]:
            kernel *= k
        groups = int(op.key.split("|")[7][1:]) if op.key.count("|") >= 7 else 1
        if groups > 1 and "depthwise" in profile.memory:
            volume = 1
            for s in op.dims[2 : 2 + spatial]:
                volume *= s
            moved = 2 * op.dims[0] * cin * volume * 2
            return max(floor, profile.memory["depthwise"].at(moved))
        conv_grid = profile.conv.get(op.dtype) or profile.conv.get("bf16") or profile.matmul["bf16"]
        if misses is not None:
            misses.add(f"convolution {op.key} not calibrated: costed on the generic grid")
        reduction = cin // max(groups, 1) * kernel
        pixels = op.flops / (2 * cout * reduction)
        return max(floor, op.flops / conv_grid.at(pixels, cout, reduction))
    if op.kind == "attention":
        attention, miss = _attention_grid(profile, op)
        if miss and misses is not None:
            misses.add(miss)
        b, h, sq, skv = op.dims[:4]
        # a boolean mask is first turned into an additive one: a type-converting pass, costed like a cast
        mask = profile.memory["copy"].at(op.bytes) if op.bytes and "copy" in profile.memory else 0.0
        if attention is None:
            return max(floor, op.flops / profile.matmul["bf16"].at(b * h * sq, skv, op.dims[4])) + mask
        return max(floor, op.flops / attention.at(b * h * sq, skv)) + mask
    return floor


def host_seconds(op: TracedOp, profile: Profile) -> float:
    """Host seconds to dispatch one op from Python (the parts of a composite op are in its own cost), before the
    profile's host scale."""
    d = profile.dispatch
    if op.kind == "module":
        cost = d["module"]
    elif op.depth > 0:
        cost = d.get("inner_view", 0.0) if op.kind in {"view", "alloc"} else d.get("inner", 0.0)
    elif op.kind in {"view", "alloc"}:
        cost = d["view"]
    elif op.kind == "cpu":
        cost = d.get("cpu", d["view"])
    elif op.kind == "composite":
        cost = d.get(f"composite:{op.op}", d.get("composite", d["op"]))
    elif op.kind == "attention":
        cost = d.get("attention", d["op"])
    else:
        cost = d.get(f"op:{op.op}", d["op"])
    return cost


@dataclass(frozen=True, slots=True, kw_only=True)
class ForwardPrediction(Result):
    """Predicted seconds of one forward: wall (both clocks), GPU busy, host dispatch, and GPU seconds by kind.

    ``bound``: ``host`` when dispatching takes longer than the kernels (a launch-bound forward), else ``gpu``.
    ``uncalibrated``: what the profile had no table for, and what it was costed as instead.
    """

    seconds: float
    gpu_seconds: float
    host_seconds: float
    bound: str = field(init=False)
    gpu_seconds_by_kind: tuple[tuple[str, float], ...] = pairs(default=())
    uncalibrated: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self._derive(bound="host" if self.host_seconds > self.gpu_seconds else "gpu")


def predict_ops(ops: Sequence[TracedOp], profile: Profile, host_scale: float | None = None) -> ForwardPrediction:
    """The two-clock walk of the module docstring over ``ops``; host costs times ``host_scale`` (default: the
    profile's)."""
    scale = profile.host_scale if host_scale is None else host_scale
    misses: set[str] = set()
    gpu_cache: dict[tuple[Any, ...], float] = {}
    host = gpu = busy = dispatch = 0.0
    by_kind: dict[str, float] = {}
    for op in ops:
        cost = host_seconds(op, profile) * scale
        host += cost
        dispatch += cost
        sig = op.signature()
        kernel = gpu_cache.get(sig)
        if kernel is None:
            kernel = gpu_cache[sig] = gpu_seconds(op, profile, misses)
        if op.kind in WAITING_KINDS:
            host = max(host, gpu)
        if kernel:
            gpu = max(gpu, host) + kernel
            busy += kernel
            by_kind[op.kind] = by_kind.get(op.kind, 0.0) + kernel
        if op.kind in WAITING_KINDS:
            host = max(host, gpu)
    return ForwardPrediction(
        seconds=max(host, gpu),
        gpu_seconds=busy,
        host_seconds=dispatch,
        gpu_seconds_by_kind=tuple(sorted(by_kind.items())),
        uncalibrated=tuple(sorted(misses)),
    )


def predict_trace(trace: Trace, profile: Profile, host_scale: float | None = None) -> ForwardPrediction:
    return predict_ops(trace.ops, profile, host_scale)


# --- whole models ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ComponentPrediction(Result):
    """One component's predicted forward, and how often it runs in a call."""

    component: str
    role: Role
    inputs: str
    forwards: int
    prediction: ForwardPrediction


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelPrediction(Result):
    """Predicted seconds of each component's forward and of one call of ``batch`` images, from a profile.

    ``profile``: the profile and its software stack (``Profile.describe``); ``error``: the profile's stated error on
    its validation set, in short (``±6% median, 50% worst``), which every predicted column shows; ``error_note``:
    the same in full, with the profile.
    """

    model: str
    profile: str
    batch: int
    per_call_seconds: float = field(init=False)
    per_image_seconds: float = field(init=False)
    error: str = ""
    error_note: str = ""
    components: tuple[ComponentPrediction, ...]

    def __post_init__(self) -> None:
        per_call = sum(c.forwards * c.prediction.seconds for c in self.components)
        self._derive(per_call_seconds=per_call, per_image_seconds=per_call / max(self.batch, 1))

    def component(self, name: str) -> ComponentPrediction | None:
        return next((c for c in self.components if c.component == name), None)


def stated_error(profile: Profile) -> str:
    """The profile's error per forward on its validation set, in short."""
    v = profile.validation
    if v is None:
        return "error not validated"
    return f"±{100 * v.median_abs_error:.0f}% median, {100 * v.worst_abs_error:.0f}% worst"


def error_note(profile: Profile) -> str:
    v = profile.validation
    if v is None:
        return f"predicted from {profile.describe()}, not validated against measurements"
    return (
        f"predicted (±{100 * v.median_abs_error:.0f}% median, {100 * v.worst_abs_error:.0f}% worst on the validation "
        f"set of {v.cases} forwards; per image ±{100 * v.image_median_abs_error:.0f}% median, "
        f"{100 * v.image_worst_abs_error:.0f}% worst), {profile.describe()}; see docs/latency.md"
    )


def host_scale_for(profile: Profile, class_name: str, config: Mapping[str, Any]) -> float:
    """The profile's host scale for this architecture where one was fitted, else its general one."""
    return profile.host_scales.get(architecture_key(class_name, config), profile.host_scale)


def predict_flops(
    source: ModelSource, flops: FlopReport, traces: Mapping[str, Trace], profile: Profile
) -> ModelPrediction:
    """Each counted forward's trace (from the same pass, ``probe_model(..., trace=True)``) costed with ``profile``."""
    components = []
    for f in flops.forwards:
        spec = source.component(f.component)
        scale = host_scale_for(profile, f.class_name, spec.config or {})
        components.append(
            ComponentPrediction(
                component=f.component,
                role=f.role,
                inputs=f.inputs,
                forwards=f.forwards,
                prediction=predict_trace(traces[f.component], profile, scale),
            )
        )
    return ModelPrediction(
        model=flops.model,
        profile=profile.describe(),
        batch=flops.workload.batch,
        error=stated_error(profile),
        error_note=error_note(profile),
        components=tuple(components),
    )


def trace_model(
    source: ModelSource, workload: Workload, *, components: Sequence[str] | None = None
) -> tuple[FlopReport, Mapping[str, Trace]]:
    """Build ``source`` (or the ``components`` named) on meta at the workload's dtype and record every forward:
    counts and op traces, one pass. (A subset is shaped as if the VAE were the common one: 8x, no frames.)"""
    from ..build import build_model
    from .trace import torch_dtype_of

    built = build_model(source, components=components, dtype=torch_dtype_of(workload.activation_dtype))
    return probe_model(built, workload, trace=True)


def predict_model(source: ModelSource, workload: Workload, profile: Profile) -> ModelPrediction:
    """Trace each component of ``source`` with a recipe at ``workload`` on meta and cost it with ``profile``."""
    flops, traces = trace_model(source, workload)
    return predict_flops(source, flops, traces, profile)
