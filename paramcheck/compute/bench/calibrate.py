"""``paramcheck calibrate``: measure what the local GPU achieves per op and write a latency profile.

Microbenchmarks only, on generic log-spaced sizes, never on a workload's own shapes:

- host dispatch: seconds the host spends per op, per composite op, per module call (eager PyTorch, tiny tensors,
  timed until the loop returns, so the GPU never limits it), and the shortest kernel in a busy stream;
- matmuls: a generic (M, N, K) grid per dtype, and for each (N, K) of a known layer a line along M (the layer's
  weights rotate through copies larger than the L2 cache, as a forward reads each weight once);
- convolutions: for each known layer signature a line along the input size, plus a generic implicit-GEMM grid;
- attention: ``F.scaled_dot_product_attention`` for each known (head dim, mask, causality, dtype) on a
  (rows = B x H x Sq, key length) grid;
- memory-bound ops: one representative per class (``predict.MEMORY_CLASSES``) by bytes moved.

Known layers come from an architecture catalog (``compute/profiles/catalog.json``, made by tracing the bundled models
at one shape and keeping only what is architecture: weight shapes, layer signatures, head dims). Kernel
times are taken from CUDA graph replays (short ops) or back-to-back launches (long ones) with CUDA events.
"""

from __future__ import annotations

import functools
import json
import math
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from ...errors import ConfigError, first_line
from ...load import TORCH_DTYPES
from ...results import Result
from ..predict import MEMORY_CLASSES, attention_key, conv_line_key, matmul_line_key, predict_ops
from ..profile import Grid, Profile, Table1D, architecture_key
from ..trace import Trace, attention_pairs

__all__ = ["Catalog", "calibrate", "catalog_from_traces", "load_catalog"]


def _geometric(start: float, stop: float, ratio: float) -> tuple[int, ...]:
    values, x = [], start
    while x <= stop * 1.0001:
        values.append(round(x))
        x *= ratio
    return tuple(dict.fromkeys(values))


@dataclass(frozen=True, slots=True, kw_only=True)
class Sizes:
    """The axes microbenchmarks run on. Off the usual workload sizes on purpose (no powers of two along the
    workload axes): the validation runs at the pipelines' own shapes."""

    matmul_m: tuple[int, ...]
    matmul_grid: Mapping[str, tuple[int, ...]]
    attention_rows: tuple[int, ...]
    attention_kv: tuple[int, ...]
    conv_sides: tuple[int, ...]
    conv_grid: Mapping[str, tuple[int, ...]]
    memory_bytes: tuple[int, ...]
    flop_cap: float = 3e12
    bytes_cap: float = 6e9
    attention_heads: int = 16
    host_calls: int = 400


FULL = Sizes(
    matmul_m=_geometric(20, 110000, 1.65),
    matmul_grid={"m": (32, 128, 512, 2048, 8192, 32768), "n": (256, 1024, 4096, 16384), "k": (256, 1024, 4096, 16384)},
    attention_rows=_geometric(1500, 2.5e6, 2.8),
    attention_kv=_geometric(60, 70000, 2.6),
    conv_sides=_geometric(10, 1250, 1.7),
    conv_grid={"pixels": (256, 4096, 65536, 1048576), "cout": (64, 256, 1024), "reduction": (576, 2304, 9216)},
    memory_bytes=_geometric(1e4, 4e9, 2.8),
)
# A smoke test's sizes: every code path, seconds on a CPU.
QUICK = Sizes(
    matmul_m=(20, 33),
    matmul_grid={"m": (32, 128), "n": (64, 128), "k": (64, 128)},
    attention_rows=(64, 160),
    attention_kv=(16, 40),
    conv_sides=(10, 17),
    conv_grid={"pixels": (64, 256), "cout": (8, 16), "reduction": (72, 144)},
    memory_bytes=(10000, 28000),
    flop_cap=1e9,
    bytes_cap=1e8,
    attention_heads=2,
    host_calls=20,
)
_STATE: dict[str, Any] = {"device": "cuda", "sizes": FULL}


def _sizes() -> Sizes:
    sizes: Sizes = _STATE["sizes"]
    return sizes


def _cuda() -> bool:
    return str(_STATE["device"]).startswith("cuda")


def _sync() -> None:
    if _cuda():
        torch.cuda.synchronize()


@dataclass(frozen=True, slots=True, kw_only=True)
class Catalog(Result):
    """Architecture facts to calibrate: linear weight shapes, convolution layers, attention kinds.

    ``matmuls``: (dtype, N, K). ``convs``: layer key -> (dtype, Cin, frames in or 0 for 2-D) with the key's own
    kernel/stride/padding/groups. ``attention``: ``predict.attention_key`` strings.
    """

    matmuls: tuple[tuple[str, int, int], ...]
    convs: tuple[tuple[str, str, int], ...]
    attention: tuple[str, ...]
    source: str = ""


def catalog_from_traces(traces: Iterable[Trace], source: str = "") -> Catalog:
    """What of ``traces`` is architecture: (N, K) of 2-D matmuls, convolution layers, attention kinds."""
    matmuls: set[tuple[str, int, int]] = set()
    convs: dict[tuple[str, str], int] = {}
    attention: set[str] = set()
    for trace in traces:
        for op in trace.ops:
            if op.kind == "matmul" and op.dims[0] == 1:
                matmuls.add((op.dtype, op.dims[2], op.dims[3]))
            elif op.kind == "conv":
                spatial = (len(op.dims) - 3) // 2
                frames = op.dims[2] if spatial == 3 else 0
                convs[(op.dtype, op.key)] = max(convs.get((op.dtype, op.key), 0), frames)
            elif op.kind == "attention":
                attention.add(attention_key(op))
    return Catalog(
        matmuls=tuple(sorted(matmuls)),
        convs=tuple(sorted((d, k, t) for (d, k), t in convs.items())),
        attention=tuple(sorted(attention)),
        source=source,
    )


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The catalog paramcheck ships, or one written by ``benchmarks/latency_validation.py catalog``."""
    if path is None:
        text = resources.files("paramcheck.compute.profiles").joinpath("catalog.json").read_text(encoding="utf-8")
        return Catalog.from_dict(json.loads(text))
    try:
        return Catalog.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the catalog ({e.strerror}); pass a catalog JSON or leave it out") from e
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{path}: not a layer catalog ({first_line(e)}); pass a catalog JSON or leave it out") from e


# --- timing ------------------------------------------------------------------------------------------------------


def _events() -> tuple[Any, Any]:
    make: Any = torch.cuda.Event
    return make(enable_timing=True), make(enable_timing=True)


def _wall(fn: Callable[[int], Any], reps: int) -> float:
    samples = []
    for _ in range(3):
        t0 = time.perf_counter()
        for i in range(reps):
            fn(i)
        samples.append((time.perf_counter() - t0) / reps)
    return float(statistics.median(samples))


def _batches(fn: Callable[[int], Any], reps: int) -> float:
    """Median per-call seconds of ``reps`` launches back to back, timed with events around each batch."""
    start, end = _events()
    samples = []
    for _ in range(3):
        start.record()
        for i in range(reps):
            fn(i)
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) / 1e3 / reps)
    return float(statistics.median(samples))


def time_kernel(fn: Callable[[int], Any], *, target: float = 1.5e-3) -> float:
    """Median device seconds of one ``fn(i)`` (``i`` picks among rotating inputs).

    Short ops: a CUDA graph of many calls, replayed (no launch gaps of the host); long ones: back-to-back launches.
    On the CPU (smoke tests) the wall clock.
    """
    fn(0)
    fn(1)
    if not _cuda():
        return _wall(fn, 2)
    torch.cuda.synchronize()
    start, end = _events()
    start.record()
    fn(2)
    end.record()
    end.synchronize()
    estimate = max(start.elapsed_time(end) / 1e3, 1e-6)
    if estimate > 150e-6:
        return _batches(fn, max(2, min(20, int(0.03 / estimate))))
    reps = max(3, min(100, int(target / estimate)))
    stream = torch.cuda.Stream()  # type: ignore[no-untyped-call]
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for i in range(2):
            fn(i)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(graph):
            for i in range(reps):
                fn(i)
    except RuntimeError:  # not capturable: launches back to back instead
        torch.cuda.synchronize()
        return _batches(fn, reps)
    graph.replay()
    torch.cuda.synchronize()
    samples = []
    for _ in range(5):
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) / 1e3 / reps)
    del graph
    return float(statistics.median(samples))


def _safe(measure: Callable[[], float]) -> float | None:
    """A measurement, or ``None`` when the device cannot run it (out of memory, no kernel for the case)."""
    try:
        return measure()
    except (torch.cuda.OutOfMemoryError, RuntimeError, NotImplementedError):
        if _cuda():
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
        return None


def _randn(*shape: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(*shape, device=_STATE["device"], dtype=dtype)


def _copies(nbytes: int, limit: int = 8, cold: int = 240 * 2**20) -> int:
    """How many copies of a weight make a working set beyond the L2 cache (so each call reads it from memory)."""
    return max(1, min(limit, math.ceil(cold / max(nbytes, 1))))


# --- host dispatch --------------------------------------------------------------------------------------------


def _host_cost(fn: Callable[[], Any]) -> float:
    """Host seconds per call, timed until the loop returns (fewer calls than the launch queue holds)."""
    calls = _sizes().host_calls
    for _ in range(20):
        fn()
    _sync()
    samples = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - t0) / calls)
        _sync()
    return float(statistics.median(samples))


class _Nothing(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def measure_dispatch() -> dict[str, float]:
    """Host seconds per op class (see ``predict.host_seconds``) on tiny device tensors."""
    f = torch.nn.functional
    bf = torch.bfloat16
    x, y = _randn(4, 64, dtype=bf), _randn(4, 64, dtype=bf)
    x3 = _randn(2, 4, 64, dtype=bf)
    w, b = _randn(64, 64, dtype=bf), _randn(64, dtype=bf)
    img = _randn(1, 8, 8, 8, dtype=bf)
    vol = _randn(1, 8, 2, 8, 8, dtype=bf)
    cw, cw3 = _randn(8, 8, 3, 3, dtype=bf), _randn(8, 8, 3, 3, 3, dtype=bf)
    q = _randn(1, 2, 16, 64, dtype=bf)
    gw, gb = _randn(8, dtype=bf), _randn(8, dtype=bf)
    nothing = _Nothing()
    with torch.inference_mode():
        base = _host_cost(lambda: None)  # the loop's own cost, subtracted
        costs = {
            "view": _host_cost(lambda: x.view(-1)),
            "op": _host_cost(lambda: torch.add(x, y)),
            "op:_to_copy": _host_cost(lambda: x.to(torch.float32)),
            "op:cat": _host_cost(lambda: torch.cat([x, y], dim=-1)),
            "op:mul": _host_cost(lambda: x * y),
            "attention": _host_cost(lambda: f.scaled_dot_product_attention(q, q, q)),
            "composite:linear": _host_cost(lambda: f.linear(x3, w, b)),
            "composite:matmul": _host_cost(lambda: torch.matmul(x3, w)),
            "composite:layer_norm": _host_cost(lambda: f.layer_norm(x, (64,), b, b)),
            "composite:group_norm": _host_cost(lambda: f.group_norm(img, 4, gw, gb)),
            "composite:conv2d": _host_cost(lambda: f.conv2d(img, cw, None, 1, 1)),
            "composite:conv3d": _host_cost(lambda: f.conv3d(vol, cw3, None, 1, 1)),
            "composite:dropout": _host_cost(lambda: f.dropout(x, 0.1, training=False)),
            "module": _host_cost(lambda: nothing(x)),
        }
    costs = {k: max(v - base, 0.0) for k, v in costs.items()}
    costs["composite"] = statistics.median(v for k, v in costs.items() if k.startswith("composite:"))
    return costs


def measure_kernel_floor(kernels: int = 300) -> float:
    """Device seconds per tiny kernel launched back to back into a busy stream (eager launch gaps included)."""
    x, y = _randn(64, dtype=torch.bfloat16), _randn(64, dtype=torch.bfloat16)
    if not _cuda():
        return _wall(lambda i: torch.add(x, y), kernels)
    torch.add(x, y)
    torch.cuda.synchronize()
    samples = []
    for _ in range(5):
        start, end = _events()
        torch.cuda._sleep(20_000_000)  # type: ignore[no-untyped-call]  # keeps the GPU busy meanwhile
        start.record()
        for _ in range(kernels):
            torch.add(x, y)
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) / 1e3 / kernels)
    return float(statistics.median(samples))


# --- matmuls ----------------------------------------------------------------------------------------------------


def _linear_throughput(m: int, n: int, k: int, dtype: torch.dtype) -> float:
    x = _randn(m, k, dtype=dtype)
    copies = _copies(n * k * x.element_size()) if _cuda() else 1
    weights = [_randn(n, k, dtype=dtype) for _ in range(copies)]
    bias = _randn(n, dtype=dtype)
    f = torch.nn.functional
    seconds = time_kernel(lambda i: f.linear(x, weights[i % copies], bias))
    return 2 * m * n * k / seconds


def _fill_missing(values: Sequence[float | None]) -> list[float]:
    """Points skipped as too large take the last measured point's throughput (it saturates)."""
    known = [v for v in values if v is not None]
    if not known:
        raise RuntimeError("no point of a calibration table could be measured")
    out: list[float] = []
    last = known[0]
    for v in values:
        last = v if v is not None else last
        out.append(last)
    return out


def _cap(dtype: str) -> float:
    return _sizes().flop_cap / (10 if dtype == "fp32" else 1)


def measure_matmul_grid(dtype: str) -> Grid:
    td, sizes = TORCH_DTYPES[dtype], _sizes().matmul_grid
    values: list[float | None] = []
    for m in sizes["m"]:
        for n in sizes["n"]:
            for k in sizes["k"]:
                fits = 2 * m * n * k <= _cap(dtype)
                values.append(_safe(functools.partial(_linear_throughput, m, n, k, td)) if fits else None)
    axes = tuple(tuple(float(v) for v in sizes[a]) for a in ("m", "n", "k"))
    return Grid(axes=axes, values=tuple(_fill_missing(values)))


def measure_matmul_line(dtype: str, n: int, k: int) -> Table1D | None:
    td, axis = TORCH_DTYPES[dtype], _sizes().matmul_m
    ms = [m for m in axis if 2 * m * n * k <= _cap(dtype)] or [axis[0]]
    measured = [(m, _safe(functools.partial(_linear_throughput, m, n, k, td))) for m in ms]
    kept = [(float(m), v) for m, v in measured if v is not None]
    if not kept:
        return None
    return Table1D(x=tuple(m for m, _ in kept), values=tuple(v for _, v in kept))


# --- convolutions -------------------------------------------------------------------------------------------------


def parse_conv_key(key: str) -> dict[str, Any]:
    """The fields of a ``TracedOp.key`` of a convolution."""
    parts = key.split("|")

    def ints(text: str) -> tuple[int, ...]:
        return tuple(int(v) for v in text.split("x"))

    return {
        "dims": int(parts[0][4]),
        "cin": int(parts[1]),
        "cout": int(parts[2]),
        "kernel": ints(parts[3]),
        "stride": ints(parts[4][1:]),
        "padding": ints(parts[5][1:]),
        "dilation": ints(parts[6][1:]),
        "groups": int(parts[7][1:]),
        "transposed": parts[8] == "t",
        "bias": parts[9] == "b",
    }


def _conv_call(spec: Mapping[str, Any], side: int, frames: int, dtype: torch.dtype) -> tuple[Callable[[int], Any], int]:
    f = torch.nn.functional
    cin, cout, groups = spec["cin"], spec["cout"], spec["groups"]
    shape = (1, cin, frames, side, side) if spec["dims"] == 3 else (1, cin, side, side)
    x = _randn(*shape, dtype=dtype)
    kernel = math.prod(spec["kernel"])
    b = _randn(cout, dtype=dtype) if spec["bias"] else None
    stride, padding, dilation = spec["stride"], spec["padding"], spec["dilation"]
    if spec["transposed"]:
        w = _randn(cin, cout // groups, *spec["kernel"], dtype=dtype)
        tfn = f.conv_transpose3d if spec["dims"] == 3 else f.conv_transpose2d
        return (lambda i: tfn(x, w, b, stride, padding, 0, groups, dilation)), 2 * x.numel() * w.shape[1] * kernel
    w = _randn(cout, cin // groups, *spec["kernel"], dtype=dtype)
    fn = f.conv3d if spec["dims"] == 3 else f.conv2d
    out = fn(x, w, b, stride, padding, dilation, groups)
    flops = 2 * out.numel() * w.shape[1] * kernel
    del out
    return (lambda i: fn(x, w, b, stride, padding, dilation, groups)), flops


def measure_conv_line(dtype: str, key: str, frames: int) -> Table1D | None:
    """Throughput of one convolution layer along its input size (square sides; a 3-D one at ``frames`` frames)."""
    spec = parse_conv_key(key)
    td, sizes = TORCH_DTYPES[dtype], _sizes()
    size = 4 if td == torch.float32 else 2
    frames = max(frames, spec["kernel"][0]) if spec["dims"] == 3 else 1
    xs: list[float] = []
    values: list[float] = []
    for side in sizes.conv_sides:
        if side < spec["kernel"][-1]:
            continue
        pixels = side * side * frames
        est_flops = 2 * pixels * spec["cout"] * spec["cin"] // spec["groups"] * math.prod(spec["kernel"])
        est_bytes = pixels * (spec["cin"] + spec["cout"] * 4) * size
        if est_flops > _cap(dtype) or est_bytes > sizes.bytes_cap:
            break
        try:
            call, flops = _conv_call(spec, side, frames, td)
        except (torch.cuda.OutOfMemoryError, RuntimeError):
            break
        seconds = _safe(functools.partial(time_kernel, call))
        if seconds is None:
            break
        if flops > 0 and (not xs or flops > xs[-1]):
            xs.append(float(flops))
            values.append(flops / seconds)
        del call
    if not xs:
        return None
    return Table1D(x=tuple(xs), values=tuple(values))


def measure_conv_grid(dtype: str) -> Grid:
    """Dense 3x3 conv2d on an implicit-GEMM grid: output pixels, Cout, Cin x 9."""
    td, grid = TORCH_DTYPES[dtype], _sizes().conv_grid
    values: list[float | None] = []
    for pixels in grid["pixels"]:
        side = round(math.sqrt(pixels))
        for cout in grid["cout"]:
            for reduction in grid["reduction"]:
                if 2 * pixels * cout * reduction > _cap(dtype):
                    values.append(None)
                    continue
                spec = {"dims": 2, "cin": reduction // 9, "cout": cout, "kernel": (3, 3), "stride": (1, 1)}
                spec |= {"padding": (1, 1), "dilation": (1, 1), "groups": 1, "transposed": False, "bias": True}
                call, flops = _conv_call(spec, side, 1, td)
                seconds = _safe(functools.partial(time_kernel, call))
                values.append(flops / seconds if seconds else None)
    axes = tuple(tuple(float(v) for v in grid[a]) for a in ("pixels", "cout", "reduction"))
    return Grid(axes=axes, values=tuple(_fill_missing(values)))


# --- attention --------------------------------------------------------------------------------------------------


def measure_attention(key: str) -> Grid:
    """``F.scaled_dot_product_attention`` of one kind (``predict.attention_key``) on a (rows, key length) grid."""
    dtype_name, d, dv, mask, gqa = key.split("|")
    sizes = _sizes()
    td = TORCH_DTYPES.get(dtype_name, torch.bfloat16)
    d_, dv_, groups = int(d[1:]), int(dv[2:]), int(gqa[1:])
    heads = sizes.attention_heads
    causal = mask.endswith("-causal")
    pattern = mask.removesuffix("-causal")
    kv_heads = max(1, heads // groups)
    f = torch.nn.functional
    grid: list[list[float | None]] = []
    for rows in sizes.attention_rows:
        sq = max(1, round(rows / heads))
        line: list[float | None] = []
        for skv in sizes.attention_kv:
            pairs = attention_pairs(sq, skv, causal)
            flops = 2 * heads * pairs * (d_ + dv_)
            mask_bytes = sq * skv * 2 if pattern.endswith("full") else 0
            if flops > 3 * sizes.flop_cap or mask_bytes > sizes.bytes_cap:
                line.append(None)
                continue
            extra = {"enable_gqa": True} if kv_heads != heads else {}

            def case(sq: int = sq, skv: int = skv, extra: dict[str, Any] = extra) -> float:
                q = _randn(1, heads, sq, d_, dtype=td)
                k = _randn(1, kv_heads, skv, d_, dtype=td)
                v = _randn(1, kv_heads, skv, dv_, dtype=td)
                m = None
                if pattern != "none":
                    shape = (1, 1, sq if pattern.endswith("full") else 1, skv)
                    if pattern.startswith("bool"):
                        m = torch.ones(shape, dtype=torch.bool, device=_STATE["device"])
                    else:
                        m = torch.zeros(shape, dtype=td, device=_STATE["device"])
                return time_kernel(
                    lambda i: f.scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=causal, **extra)
                )

            seconds = _safe(case)
            line.append(flops / seconds if seconds else None)
        grid.append(line)
    # Points skipped as too large take the throughput of their measured neighbour with fewer rows or keys
    for i, line in enumerate(grid):
        for j, value in enumerate(line):
            if value is None:
                near = [x for x in (line[j - 1] if j else None, grid[i - 1][j] if i else None) if x is not None]
                line[j] = max(near) if near else None
    flat = _fill_missing([v for line in grid for v in line])
    axes = (tuple(float(r) for r in sizes.attention_rows), tuple(float(s) for s in sizes.attention_kv))
    return Grid(axes=axes, values=tuple(flat))


# --- memory-bound ops -------------------------------------------------------------------------------------------


def _nbytes(tensors: Sequence[torch.Tensor]) -> int:
    return sum(int(t.numel()) * t.element_size() for t in tensors)


def _memory_case(cls: str, total: int) -> tuple[Callable[[int], Any], int]:
    """A representative op of ``cls`` moving about ``total`` bytes, and the bytes ``trace`` would count for it."""
    bf = torch.bfloat16
    aten = torch.ops.aten
    f = torch.nn.functional
    width = 3072
    if cls == "pointwise":
        n = max(total // 6, 1)
        a, b = _randn(n, dtype=bf), _randn(n, dtype=bf)
        return (lambda i: a + b), n * 6
    if cls == "copy":
        n = max(total // 6, 1)
        a = _randn(n, dtype=bf)
        return (lambda i: a.to(torch.float32)), n * 6
    if cls == "strided_copy":
        rows = max(total // (4 * width), 1)
        a = _randn(rows, width, dtype=bf).t()
        return (lambda i: a.contiguous()), 2 * rows * width * 2
    if cls == "permute_copy":
        heads, dim = 24, 128
        rows = max(total // (4 * heads * dim), 1)
        a = _randn(1, rows, heads, dim, dtype=bf).transpose(1, 2)
        return (lambda i: a.contiguous()), 2 * a.numel() * 2
    if cls == "norm":
        rows = max(total // (4 * width), 1)
        a, w = _randn(rows, width, dtype=bf), _randn(width, dtype=bf)
        out = aten.native_layer_norm(a, [width], w, w, 1e-6)
        return (lambda i: aten.native_layer_norm(a, [width], w, w, 1e-6)), _nbytes([a, w, w, *out])
    if cls == "group_norm":
        channels = 256
        side = max(round(math.sqrt(total / (4 * channels))), 2)
        a, w = _randn(1, channels, side, side, dtype=bf), _randn(channels, dtype=bf)
        out = aten.native_group_norm(a, w, w, 1, channels, side * side, 32, 1e-6)
        return (lambda i: aten.native_group_norm(a, w, w, 1, channels, side * side, 32, 1e-6)), _nbytes([a, w, w, *out])
    if cls == "softmax":
        rows = max(total // (4 * 1024), 1)
        a = _randn(rows, 1024, dtype=bf)
        return (lambda i: torch.softmax(a, -1)), 2 * a.numel() * 2
    if cls == "cat":
        n = max(total // 8, 1)
        a, b = _randn(n, dtype=bf), _randn(n, dtype=bf)
        return (lambda i: torch.cat([a, b])), n * 8
    if cls == "reduction":
        rows = max(total // (2 * width), 1)
        a = _randn(rows, width, dtype=bf)
        return (lambda i: a.mean(-1, keepdim=True)), a.numel() * 2 + rows * 2
    if cls == "index":
        rows = max(total // (4 * width), 1)
        table = _randn(rows, width, dtype=bf)
        ids = torch.randint(0, rows, (rows,), device=_STATE["device"])
        return (lambda i: f.embedding(ids, table)), 2 * table.numel() * 2 + ids.numel() * 8
    if cls == "upsample":
        channels = 128
        side = max(round(math.sqrt(total / (10 * channels))), 2)
        a = _randn(1, channels, side, side, dtype=bf)
        return (lambda i: f.interpolate(a, scale_factor=2.0, mode="nearest")), 5 * a.numel() * 2
    if cls == "fill":
        n = max(total // 2, 1)
        return (lambda i: torch.zeros(n, device=_STATE["device"], dtype=bf)), n * 2
    if cls == "depthwise":
        channels = 512
        side = max(round(math.sqrt(total / (4 * channels))), 3)
        a, w = _randn(1, channels, side, side, dtype=bf), _randn(channels, 1, 3, 3, dtype=bf)
        return (lambda i: f.conv2d(a, w, None, 1, 1, 1, channels)), 2 * a.numel() * 2
    raise ValueError(f"no representative op for memory class {cls!r}")


MEMORY_CLASS_NAMES = tuple(sorted({*MEMORY_CLASSES.values(), "pointwise", "strided_copy", "permute_copy", "depthwise"}))


def measure_memory(cls: str) -> Table1D:
    xs: list[float] = []
    values: list[float] = []
    for total in _sizes().memory_bytes:
        call, moved = _memory_case(cls, int(total))
        seconds = _safe(functools.partial(time_kernel, call))
        del call
        if seconds is None:
            break
        if not xs or moved > xs[-1]:
            xs.append(float(moved))
            values.append(seconds)
    # Seconds must not fall as bytes grow: a noisy point takes its predecessor's time
    for i in range(1, len(values)):
        values[i] = max(values[i], values[i - 1])
    return Table1D(x=tuple(xs), values=tuple(values))


# --- the whole calibration --------------------------------------------------------------------------------------


def calibrate(
    *,
    name: str,
    catalog: Catalog,
    device: str = "cuda",
    quick: bool = False,
    log: Callable[[str], None] = lambda _: None,
    deadline: float | None = None,
    command: str = "paramcheck calibrate --device cuda",
) -> Profile:
    """Run every microbenchmark on ``device`` and return the profile.

    ``quick``: tiny sizes, for a smoke test of every code path (on a CPU, timed by the wall clock: not a
    profile to predict with). ``deadline`` (a ``time.monotonic()`` value): past it, the per-layer lines still to
    measure are skipped (the generic grids cover those layers, less precisely).
    """
    from .measure import software

    begin = time.monotonic()
    previous = dict(_STATE)
    _STATE.update(device=device, sizes=QUICK if quick else FULL)

    def late() -> bool:
        return deadline is not None and time.monotonic() > deadline

    def elapsed() -> str:
        return f"{time.monotonic() - begin:.0f} s"

    try:
        with torch.inference_mode():
            dispatch = measure_dispatch()
            floor = measure_kernel_floor()
            log(
                f"host: op {dispatch['op'] * 1e6:.1f} us, module {dispatch['module'] * 1e6:.1f} us; kernel floor "
                f"{floor * 1e6:.2f} us ({elapsed()})"
            )
            memory = {cls: measure_memory(cls) for cls in MEMORY_CLASS_NAMES}
            log(f"memory-bound classes: {len(memory)} ({elapsed()})")
            matmul = {dtype: measure_matmul_grid(dtype) for dtype in ("bf16", "fp32")}
            conv = {"bf16": measure_conv_grid("bf16")}
            log(f"generic matmul and conv grids ({elapsed()})")
            attention: dict[str, Grid] = {}
            for key in catalog.attention:
                if not late() and key.split("|")[0] in TORCH_DTYPES:
                    attention[key] = measure_attention(key)
            log(f"attention: {len(attention)} of {len(catalog.attention)} kinds ({elapsed()})")
            lines: dict[str, Table1D] = {}
            for dtype, n, k in catalog.matmuls:
                if not late() and dtype in TORCH_DTYPES:
                    line = measure_matmul_line(dtype, n, k)
                    if line is not None:
                        lines[matmul_line_key(dtype, n, k)] = line
            log(f"matmul lines: {len(lines)} of {len(catalog.matmuls)} layers ({elapsed()})")
            conv_lines: dict[str, Table1D] = {}
            for dtype, key, frames in catalog.convs:
                if not late() and dtype in TORCH_DTYPES:
                    line = measure_conv_line(dtype, key, frames)
                    if line is not None:
                        conv_lines[conv_line_key(dtype, key)] = line
                    if _cuda():
                        torch.cuda.empty_cache()
            log(f"conv lines: {len(conv_lines)} of {len(catalog.convs)} layers ({elapsed()})")
    finally:
        _STATE.update(previous)
    notes = [f"calibrated in {elapsed()} on generic sizes; layers from the catalog of {catalog.source}"]
    if quick:
        notes.append("quick: smoke-test sizes, not a profile to predict with")
    device_name = torch.cuda.get_device_name(device) if device.startswith("cuda") else platform.processor() or "cpu"
    return Profile(
        name=name,
        device=device_name,
        software=software(),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        command=command,
        dispatch=dispatch,
        kernel_floor=floor,
        matmul=matmul,
        matmul_lines=lines,
        conv=conv,
        conv_lines=conv_lines,
        attention=attention,
        memory=memory,
        notes=tuple(notes),
    )


# --- host scale: the Python glue of real models ---------------------------------------------------------------

# Small components whose forwards at a small shape are host-bound: their measured time over the op counts'
# dispatch cost is the profile's default host scale (components of other architectures take it).
HOST_CASES = (
    ("sd-1.5", "unet"),
    ("sd-1.5", "text_encoder"),
    ("dit-xl-2-256", "transformer"),
    ("pixart-sigma-xl-1024", "transformer"),
    ("sd-1.5", "vae"),
)
SMALL = {"height": 128, "width": 128, "prompt_length": 16, "frames": 1}


def fit_host_scale(trace: Trace, measured: float, profile: Profile, low: float = 0.5, high: float = 10.0) -> float:
    """The host scale at which the two-clock prediction of ``trace`` equals ``measured`` seconds (bisection;
    clamped to [``low``, ``high``])."""
    if predict_ops(trace.ops, profile, low).seconds >= measured:
        return low
    if predict_ops(trace.ops, profile, high).seconds <= measured:
        return high
    for _ in range(40):
        mid = (low * high) ** 0.5
        if predict_ops(trace.ops, profile, mid).seconds < measured:
            low = mid
        else:
            high = mid
    return float((low * high) ** 0.5)


def calibrate_host(
    profile: Profile,
    *,
    device: str = "cuda",
    cases: Sequence[tuple[str, str]] = HOST_CASES,
    log: Callable[[str], None] = lambda _: None,
) -> Profile:
    """``profile`` with host scales fitted on small-shape forwards of ``cases`` (bundled model, component)."""
    from dataclasses import replace

    from ...sources import resolve
    from ..predict import trace_model
    from ..recipes import workload_for
    from .measure import bench_model

    scales: dict[str, float] = {}
    for model, component in cases:
        source = resolve(model)
        small = {k: v for k, v in SMALL.items() if k != "frames" or workload_for(source, {}).frames > 1}
        workload = workload_for(source, small)  # --frames only for video pipelines
        (report,) = bench_model(source, [workload], device=device, components=[component], warmup=2, repeats=10)
        _, traces = trace_model(source, workload, components=[component])
        measured = report.timings[0].median
        scale = fit_host_scale(traces[component], measured, profile)
        spec = source.component(component)
        scales[architecture_key(spec.class_name or "", spec.config or {})] = scale
        log(f"host scale {model}/{component}: {scale:.2f} ({measured * 1e3:.1f} ms at 128x128)")
    return replace(profile, host_scale=statistics.median(scales.values()), host_scales=scales)
