"""Every op of one forward, in order, with the shapes and dtypes a GPU run would see: the input of a latency model.

The forward runs on meta tensors (nothing is computed). Besides what the FLOP counter needs (``probe``), this records
every aten op a GPU would dispatch, the memory-bound ones too (norms, activations,
casts, copies), views (no kernel, but each costs the CPU a dispatch), module calls (Python overhead) and the calls
that make the host wait for the device (``.item()`` on a mask). Floating tensors are sized by their real dtype:
the module is built and fed at the run's dtype, so fp32 islands (norms that upcast, rotary tables) count as fp32.

``F.scaled_dot_product_attention`` is recorded as one op with its query/key/value shapes, mask and causality:
on a GPU it runs one fused kernel whatever meta would decompose it into.

``probe.probe_forward(run, trace=True)`` records a trace in the same pass as the FLOPs (what ``report --flops``
does); ``trace_forward`` records only the trace.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

__all__ = [
    "Trace",
    "TracedOp",
    "Tracer",
    "dtype_name",
    "module_calls",
    "record_attention",
    "torch_dtype_of",
    "trace_forward",
]

MATMUL_OPS = frozenset({"mm", "addmm", "bmm", "baddbmm"})
CONV_OPS = frozenset({"convolution", "_convolution"})
# Ops that make the host wait for the device: a value read back, or an output size that depends on values.
SYNC_OPS = frozenset({"_local_scalar_dense", "nonzero", "equal", "is_nonzero", "masked_select", "unique_dim"})
# Ops that only allocate: no kernel.
ALLOC_OPS = frozenset({"empty", "empty_strided", "empty_like", "new_empty", "new_empty_strided", "lift_fresh"})
VIEW_OPS = frozenset({"_unsafe_view", "_reshape_alias", "lift_fresh", "detach", "alias"})
COPY_OPS = frozenset({"_to_copy", "copy_", "clone"})
# Composite ops a CUDA build runs as one fused kernel where meta would take the decomposed math path.
FUSED_ON_CUDA = frozenset({"rms_norm"})
# Queries of tensor metadata: no dispatch cost worth counting, no kernel.
METADATA_OPS = frozenset(
    {
        "size",
        "sym_size",
        "stride",
        "sym_stride",
        "numel",
        "sym_numel",
        "dim",
        "is_contiguous",
        "storage_offset",
        "sym_storage_offset",
        "is_strides_like_format",
        "is_non_overlapping_and_dense",
        "layout",
        "device",
    }
)

DTYPE_NAMES = {
    torch.float32: "fp32",
    torch.float16: "fp16",
    torch.bfloat16: "bf16",
    torch.float64: "fp64",
    torch.complex64: "c64",
    torch.complex128: "c128",
}


def dtype_name(dtype: torch.dtype) -> str:
    return DTYPE_NAMES.get(dtype, str(dtype).removeprefix("torch."))


def torch_dtype_of(name: str) -> torch.dtype | None:
    """The torch dtype of a canonical name (``bf16``), ``None`` for storage-only ones (``fp8``, ``int4``)."""
    return next((d for d, n in DTYPE_NAMES.items() if n == name), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class TracedOp:
    """One op of a forward.

    ``kind``: ``matmul`` (dims = batch, M, N, K),
    ``conv`` (dims = N, Cin, *spatial in, Cout, *kernel; ``key`` the layer's signature), ``attention`` (dims =
    B, H, Sq, Skv, D, Dv, kv heads; ``key`` the mask pattern), ``memory`` (a memory-bound kernel: ``bytes`` read
    and written), ``view`` and ``alloc`` (no kernel), ``sync`` (the host waits for the device), ``host`` (small
    tensors the meta run keeps on the CPU: one small kernel on a GPU), ``cpu`` (the model's own work on CPU
    tensors: host time only), ``h2d`` (a CPU tensor copied to the device: from pageable memory the stream drains
    first, so the host waits), ``module`` (an ``nn.Module`` call), ``composite`` (an op that runs as its parts,
    which follow it at a greater depth).
    ``depth``: 0 for an op the Python code called, 1 or more for the parts of a composite op (``linear`` ->
    ``t`` + ``addmm``): each depth-0 op costs the host one dispatch from Python.
    ``strided``: ``inner`` when the op changes the layout across the fastest-varying dimension (a transpose),
    ``outer`` when it reorders only outer dimensions, ``""`` when input and output walk memory alike;
    ``channels_last`` for a convolution whose input is NHWC in memory.
    """

    kind: str
    op: str
    depth: int = 0
    dtype: str = ""
    dims: tuple[int, ...] = ()
    key: str = ""
    flops: int = 0
    bytes: int = 0
    strided: str = ""

    def signature(self) -> tuple[Any, ...]:
        return (self.kind, self.op, self.dtype, self.dims, self.key, self.bytes, self.strided)


@dataclass(frozen=True, slots=True, kw_only=True)
class Trace:
    """The ops of one forward in dispatch order."""

    ops: tuple[TracedOp, ...]

    def count(self, kind: str) -> int:
        return sum(1 for o in self.ops if o.kind == kind)

    @property
    def flops(self) -> int:
        return sum(o.flops for o in self.ops)


def _touched(t: torch.Tensor) -> int:
    """Bytes an op reads of ``t``: its elements, but no more than its storage (broadcast views are small)."""
    size = int(t.numel()) * t.element_size()
    try:
        storage = int(t.untyped_storage().nbytes())
    except (RuntimeError, NotImplementedError):
        return size
    return min(size, storage) if storage else size


def _kind(func: Any) -> str:
    name = func.overloadpacket.__name__
    if name in SYNC_OPS:
        return "sync"
    if name in ALLOC_OPS:
        return "alloc"
    if name in MATMUL_OPS:
        return "matmul"
    if name in CONV_OPS:
        return "conv"
    if name in VIEW_OPS:
        return "view"
    schema = func._schema
    if not schema.is_mutable and any(r.alias_info is not None for r in schema.returns):
        return "view"
    return "memory"


def _matmul(name: str, args: tuple[Any, ...]) -> tuple[int, ...]:
    a, b = (args[1], args[2]) if name in {"addmm", "baddbmm"} else (args[0], args[1])
    if a.dim() == 2:
        return (1, int(a.shape[0]), int(b.shape[1]), int(a.shape[1]))
    return (int(a.shape[0]), int(a.shape[1]), int(b.shape[2]), int(a.shape[2]))


def _layout(t: torch.Tensor) -> str:
    """``inner`` when the last (non-broadcast) dimension is not contiguous (a transpose: slow to copy),
    ``outer`` when only outer dimensions are permuted (rows stay contiguous), else ``""``."""
    if t.numel() <= 1 or t.is_contiguous():
        return ""
    dims = [(int(size), int(stride)) for size, stride in zip(t.shape, t.stride(), strict=True) if size > 1 and stride]
    if not dims:
        return ""
    if dims[-1][1] != 1:
        return "inner"
    expected = 1
    for size, stride in reversed(dims):
        if stride != expected:
            return "outer"
        expected *= size
    return ""


def _order(t: torch.Tensor, keep: Iterable[int]) -> tuple[int, ...]:
    """The dimensions in ``keep`` from the largest stride to the smallest: the tensor's layout."""
    return tuple(sorted(keep, key=lambda d: -int(t.stride()[d])))


def _relayout(t: torch.Tensor, out: torch.Tensor) -> str:
    """Whether an op reading ``t`` and writing ``out`` changes the layout (what makes a copy slow): ``inner``
    when the fastest-varying dimension differs (a transpose), ``outer`` when only outer ones are reordered, ``""``
    when both walk memory in the same order (TensorIterator then runs as on contiguous tensors)."""
    if t.numel() <= 1 or t.dim() != out.dim():
        return "" if t.numel() <= 1 or t.is_contiguous() else _layout(t)
    keep = [d for d in range(t.dim()) if t.shape[d] > 1 and out.shape[d] > 1 and t.stride(d) and out.stride(d)]
    mine, theirs = _order(t, keep), _order(out, keep)
    if mine == theirs:
        return ""
    return "inner" if mine[-1:] != theirs[-1:] else "outer"


def _conv(args: tuple[Any, ...], out: torch.Tensor) -> tuple[tuple[int, ...], str, int]:
    x, w, bias = args[0], args[1], args[2]
    stride, padding, dilation, transposed, _output_padding, groups = args[3:9]
    spatial = x.dim() - 2
    dims = (*(int(s) for s in x.shape), int(out.shape[1]), *(int(k) for k in w.shape[2:]))
    key = "|".join(
        str(v)
        for v in (
            f"conv{spatial}d",
            int(x.shape[1]),
            int(out.shape[1]),
            "x".join(str(int(k)) for k in w.shape[2:]),
            "s" + "x".join(str(int(s)) for s in stride),
            "p" + "x".join(str(int(p)) for p in padding),
            "d" + "x".join(str(int(d)) for d in dilation),
            f"g{int(groups)}",
            "t" if transposed else "",
            "b" if bias is not None else "",
        )
    )
    # 2 FLOPs per multiply-add: output elements x (Cin / groups) x kernel volume (input elements x (Cout /
    # groups) x kernel volume for a transposed conv; weight.shape[1] is that channel count in both layouts)
    kernel = 1
    for k in w.shape[2:]:
        kernel *= int(k)
    flops = 2 * int((x if transposed else out).numel()) * int(w.shape[1]) * kernel
    return dims, key, flops


class Tracer(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """Records each aten op (see ``TracedOp``); CPU tensors meeting meta ones are moved to meta first."""

    def __init__(self, resident: Iterable[torch.Tensor] = ()) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.ops: list[TracedOp] = []
        self._paused = False
        self.depth = 0
        self._resident: set[int] = set()
        for t in resident:
            self._mark_resident(t)

    def trace(self) -> Trace:
        return Trace(ops=tuple(self.ops))

    def _mark_resident(self, t: torch.Tensor) -> None:
        """``t``, a CPU tensor of the meta run, lives on the device in a GPU run."""
        if id(t) not in self._resident:
            self._resident.add(id(t))
            weakref.finalize(t, self._resident.discard, id(t))

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        self._paused, before = True, self._paused
        try:
            yield
        finally:
            self._paused = before

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = kwargs or {}
        name = func.overloadpacket.__name__
        if name in METADATA_OPS or func is torch.ops.prim.device.default:
            return func(*args, **kwargs)
        if name not in FUSED_ON_CUDA and not self._paused:
            # A composite op (linear, layer_norm, conv2d, matmul) reaches the mode whole: record it as one host
            # dispatch, then its parts, which is what a GPU runs.
            mark = len(self.ops)
            self.ops.append(TracedOp(kind="composite", op=name, depth=self.depth))
            self.depth += 1
            try:
                with self:
                    decomposed = func.decompose(*args, **kwargs)
            finally:
                self.depth -= 1
            if decomposed is not NotImplemented:
                return decomposed
            del self.ops[mark]
        tensors = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)]
        host_inputs = [t for t in tensors if t.device.type == "cpu"]
        resident = any(id(t) in self._resident for t in host_inputs)
        meta = any(t.device.type == "meta" for t in tensors)
        if meta and any(t.device.type != "meta" and t.dim() > 0 for t in tensors):
            args, kwargs = tree_map(
                lambda a: a.to("meta") if isinstance(a, torch.Tensor) and a.device.type != "meta" else a,
                (args, kwargs),
            )
            tensors = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)]
        out = func(*args, **kwargs)
        if self._paused:
            return out
        kind = _kind(func)
        depth = self.depth
        outputs = [o for o in tree_flatten(out)[0] if isinstance(o, torch.Tensor)]
        if resident:
            for o in outputs:
                if o.device.type == "cpu":
                    self._mark_resident(o)
        # factories (device=meta, no tensor inputs) count by their output; traced on a GPU, "device" is cuda
        on_device = any(t.device.type != "cpu" for t in (*tensors, *outputs))
        if not on_device and kind not in {"view", "alloc"}:
            # CPU tensors derived from the recipe's inputs (masks) are device tensors in a GPU run: a small kernel,
            # and reading a value back is a sync. The model's own CPU tensors stay on the host: dispatch only.
            if kind != "sync":
                kind = "host" if resident else "cpu"
            elif not resident:
                kind = "cpu"
        elif kind == "memory" and name in COPY_OPS and host_inputs and not resident:
            kind = "h2d"  # the model's own CPU tensor copied in: from pageable memory, the stream drains first
        first = tensors[0] if tensors else (outputs[0] if outputs else None)
        dtype = dtype_name(first.dtype) if first is not None else ""
        if kind == "matmul":
            dims = _matmul(name, args)
            b, m, n, k = dims
            self.ops.append(TracedOp(kind=kind, op=name, depth=depth, dtype=dtype, dims=dims, flops=2 * b * m * n * k))
        elif kind == "conv":
            dims, key, flops = _conv(args, outputs[0])
            x = args[0]
            channels_last = (
                x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
            )
            self.ops.append(
                TracedOp(
                    kind=kind,
                    op=name,
                    depth=depth,
                    dtype=dtype,
                    dims=dims,
                    key=key,
                    flops=flops,
                    strided="channels_last" if channels_last else "",
                )
            )
        elif kind in {"memory", "host", "h2d"}:
            moved = sum(_touched(t) for t in tensors) + sum(int(o.numel()) * o.element_size() for o in outputs)
            layouts = {_relayout(t, outputs[0]) if outputs else _layout(t) for t in tensors}
            strided = "inner" if "inner" in layouts else "outer" if "outer" in layouts else ""
            if outputs and all(o.dtype in DTYPE_NAMES for o in outputs):
                dtype = dtype_name(outputs[0].dtype)
            self.ops.append(TracedOp(kind=kind, op=name, depth=depth, dtype=dtype, bytes=moved, strided=strided))
        else:
            self.ops.append(TracedOp(kind=kind, op=name, depth=depth))
        return out


class _Attention(TorchFunctionMode):
    """``F.scaled_dot_product_attention`` as one op; its output made on meta without recording the math path."""

    def __init__(self, tracer: Tracer) -> None:
        super().__init__()
        self.tracer = tracer

    def __torch_function__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = kwargs or {}
        if func is torch.nn.functional.scaled_dot_product_attention:
            return _attention(self.tracer, *args, **kwargs)
        return func(*args, **kwargs)


def mask_pattern(mask: torch.Tensor | None, sq: int) -> str:
    """``none``, or the mask's dtype and whether it varies along the query axis (``full``) or not (``kv``)."""
    if mask is None:
        return "none"
    kind = "bool" if mask.dtype == torch.bool else "float"
    rows = int(mask.shape[-2]) if mask.dim() >= 2 else 1
    return f"{kind}-{'full' if rows == sq and sq > 1 else 'kv'}"


def attention_pairs(sq: int, skv: int, causal: bool) -> int:
    """Query-key pairs computed: all of them, or under a causal mask (PyTorch's: query i sees keys 0..i) those
    on or below the diagonal."""
    if not causal:
        return sq * skv
    if sq <= skv:
        return sq * (sq + 1) // 2
    return skv * (skv + 1) // 2 + (sq - skv) * skv


def record_attention(
    tracer: Tracer,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> None:
    """Append one ``F.scaled_dot_product_attention`` call to ``tracer`` as a single ``attention`` op."""
    if tracer._paused:
        return
    *lead, sq, d = (int(s) for s in query.shape)
    skv, dv = int(key.shape[-2]), int(value.shape[-1])
    heads = int(query.shape[-3]) if query.dim() >= 3 else 1
    kv_heads = int(key.shape[-3]) if key.dim() >= 3 else 1
    batch = 1
    for s in lead[:-1]:
        batch *= s
    pattern = mask_pattern(attn_mask, sq)
    causal = bool(is_causal)
    pairs = attention_pairs(sq, skv, causal)
    flops = 2 * batch * heads * pairs * (d + dv)
    dtype = dtype_name(query.dtype)
    # PyTorch turns a boolean mask into an additive one (a where over the mask as given, expanded dimensions
    # included) before the kernel: bytes = one read of the mask and one bf16 write per element
    converted = int(attn_mask.numel()) * 3 if attn_mask is not None and attn_mask.dtype == torch.bool else 0
    tracer.ops.append(
        TracedOp(
            kind="attention",
            op="sdpa",
            dtype=dtype,
            dims=(batch, heads, sq, skv, d, dv, kv_heads),
            key=f"{pattern}{'-causal' if causal else ''}",
            flops=flops,
            bytes=converted,
        )
    )


def _attention(
    tracer: Tracer, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, *args: Any, **kwargs: Any
) -> torch.Tensor:
    record_attention(tracer, query, key, value, *args, **kwargs)
    with tracer.paused():
        device = query.device if query.device.type == "meta" else key.device
        dv = int(value.shape[-1])
        if query.dim() == 4:
            # as the CUDA kernels (flash, efficient, cuDNN) and the FLOP pass return it: (B, H, S, Dv) over memory
            # laid out (B, S, H, Dv), so the usual .transpose(1, 2).reshape(...) after attention copies nothing
            b, h, s, _ = (int(x) for x in query.shape)
            return torch.empty(b, s, h, dv, dtype=query.dtype, device=device).transpose(1, 2)
        return torch.empty((*query.shape[:-1], dv), dtype=query.dtype, device=device)


@contextlib.contextmanager
def module_calls(tracer: Tracer) -> Iterator[None]:
    """Record each ``nn.Module`` call as a ``module`` op while inside."""

    def on_call(module: torch.nn.Module, args: Any) -> None:
        if not tracer._paused:
            tracer.ops.append(TracedOp(kind="module", op=type(module).__name__))

    handle = torch.nn.modules.module.register_module_forward_pre_hook(on_call)
    try:
        yield
    finally:
        handle.remove()


def trace_forward(run: Callable[[], Any], resident: Iterable[torch.Tensor] = ()) -> Trace:
    """Run ``run()`` (a forward on meta inputs) under inference mode and record its ops and module calls.

    ``resident``: the CPU tensors among the inputs (masks a model reads values from) that a GPU run holds on the
    device; other CPU tensors are the model's own.
    """
    tracer = Tracer(resident)
    with torch.inference_mode(), module_calls(tracer), tracer, _Attention(tracer):
        out = run()
        del out
    return tracer.trace()
