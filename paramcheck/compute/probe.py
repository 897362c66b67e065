"""One forward on the meta device, recorded op by op: FLOPs, bytes read and written, peak live activations.

FLOPs come from PyTorch's own counting (``torch.utils.flop_counter``): ``FlopCounterMode`` gives the official
total and its per-op formulas (``flop_registry``) give each call's share, so the two always agree. Nothing is
computed: meta tensors carry shapes only. Each op's layer type (attention, linear, conv, other) comes from the
ordered ``CATEGORY_RULES`` table.

Two adjustments make a meta forward look like a GPU one:

- ``scaled_dot_product_attention`` on meta falls back to the math path (two ``bmm`` and an SxS softmax). On a GPU
  it runs a fused kernel that never stores the SxS matrix, so the call is routed to the fused
  ``_scaled_dot_product_efficient_attention`` op, whose FLOPs PyTorch counts the same way (4·B·H·S·S'·D).
- Inputs a model reads values from (attention masks it turns into Python lengths) are given as small CPU tensors;
  an op that mixes them with meta tensors gets them moved to meta first.

With ``trace=True`` the same pass also records the op trace of ``trace`` (every op a GPU would dispatch, in order,
at real dtypes), which the latency prediction costs: one forward on meta, not two.
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
from torch.utils.flop_counter import FlopCounterMode, flop_registry

from .ops import CATEGORIES, CATEGORY_RULES, OpCount, op_category
from .trace import Trace, Tracer, module_calls, record_attention

__all__ = ["CATEGORIES", "CATEGORY_RULES", "OpCount", "Probe", "ProbeResult", "op_category", "probe_forward"]

# Floating-point torch dtypes: sized at the run's activation dtype whatever the meta module holds.
TORCH_FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def _nbytes(t: torch.Tensor, float_bytes: int) -> int:
    size = float_bytes if t.dtype in TORCH_FLOAT_DTYPES else t.element_size()
    return int(t.numel()) * size


VIEW_OPS = frozenset({"_unsafe_view", "_reshape_alias", "lift_fresh"})


def _is_view(func: Any) -> bool:
    """Ops whose outputs alias an input (views, in-place ops): they allocate nothing and move nothing."""
    if func.overloadpacket.__name__ in VIEW_OPS:
        return True
    return any(r.alias_info is not None for r in func._schema.returns)


class _FusedAttention(TorchFunctionMode):
    """Route ``F.scaled_dot_product_attention`` to the fused op a GPU would run (see the module docstring); a
    ``tracer`` records the call as one attention op and sees none of the ops that stand in for it."""

    def __init__(self, probe: Probe, tracer: Tracer | None = None) -> None:
        super().__init__()
        self.probe = probe
        self.tracer = tracer

    def __torch_function__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = kwargs or {}
        if func is torch.nn.functional.scaled_dot_product_attention:
            if self.tracer is None:
                return _efficient_attention(self.probe, *args, **kwargs)
            record_attention(self.tracer, *args, **kwargs)
            with self.tracer.paused():
                return _efficient_attention(self.probe, *args, **kwargs)
        return func(*args, **kwargs)


def _efficient_attention(
    probe: Probe,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> torch.Tensor:
    bias = None
    with probe.paused():
        if key.shape[-3] != query.shape[-3]:  # grouped-query attention: fused kernels read shared kv heads in place
            groups = query.shape[-3] // key.shape[-3]
            key = key.repeat_interleave(groups, dim=-3)
            value = value.repeat_interleave(groups, dim=-3)
        if attn_mask is not None:
            shape = (*query.shape[:-1], key.shape[-2])
            if attn_mask.device != query.device:
                attn_mask = attn_mask.to(query.device)
            if attn_mask.dtype == torch.bool:  # a mask of True/False becomes a bias of 0/-inf: same shape
                bias = torch.zeros(attn_mask.shape, dtype=query.dtype, device=query.device)
            else:
                bias = attn_mask.to(query.dtype)
            bias = bias.expand(shape)
    out = torch.ops.aten._scaled_dot_product_efficient_attention(
        query, key, value, bias, False, dropout_p, is_causal, scale=scale
    )
    result: torch.Tensor = out[0]
    return result


class Probe(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """Records each aten op of a forward: FLOPs (PyTorch's formulas), bytes in and out, and the peak of live memory.

    Floating-point tensors are sized at ``float_bytes`` (2 for a bf16 run) whatever dtype the meta module uses.
    Live memory counts storages created during the forward (not the weights, not the inputs), freed when the last
    tensor using them goes: the peak is what an eager run with a perfect allocator would hold at once.
    """

    def __init__(self, *, float_bytes: int = 2) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.float_bytes = float_bytes
        self.ops: dict[tuple[str, int, int], int] = {}
        self.live = 0
        self.peak = 0
        self._seen: weakref.WeakSet[Any] = weakref.WeakSet()
        self._paused = False

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Ops run meanwhile are not recorded (reshaping a GPU kernel would not do)."""
        self._paused, before = True, self._paused
        try:
            yield
        finally:
            self._paused = before

    def _free(self, size: int) -> None:
        self.live -= size

    def _allocate(self, t: torch.Tensor) -> None:
        storage = t.untyped_storage()
        if storage in self._seen:
            return
        self._seen.add(storage)
        size = _nbytes(t, self.float_bytes)
        self.live += size
        self.peak = max(self.peak, self.live)
        weakref.finalize(storage, self._free, size)

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = kwargs or {}
        flat, _ = tree_flatten((args, kwargs))
        tensors = [a for a in flat if isinstance(a, torch.Tensor)]
        if any(t.device.type == "meta" for t in tensors) and any(
            t.device.type != "meta" and t.dim() > 0 for t in tensors
        ):
            args, kwargs = tree_map(
                lambda a: a.to("meta") if isinstance(a, torch.Tensor) and a.device.type != "meta" else a,
                (args, kwargs),
            )
            tensors = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)]
        out = func(*args, **kwargs)
        if self._paused or not any(t.device.type == "meta" for t in tensors):
            return out  # CPU bookkeeping on small index tensors: not part of the GPU's work
        outputs = [o for o in tree_flatten(out)[0] if isinstance(o, torch.Tensor)]
        if _is_view(func):
            return out
        packet = func.overloadpacket
        flops = 0
        if packet in flop_registry:
            flops = int(flop_registry[packet](*args, **kwargs, out_val=out))
        moved = sum(_nbytes(t, self.float_bytes) for t in tensors) + sum(_nbytes(o, self.float_bytes) for o in outputs)
        key = (str(packet).removeprefix("aten."), flops, moved)
        self.ops[key] = self.ops.get(key, 0) + 1
        for o in outputs:
            if o.device.type == "meta":
                self._allocate(o)
        return out

    def records(self) -> tuple[OpCount, ...]:
        return tuple(OpCount(op=op, calls=c, flops=f, bytes=b) for (op, f, b), c in sorted(self.ops.items()))


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeResult:
    """One forward: its FLOPs, its ops by cost, the peak of its live activations, and (when asked) its op trace."""

    flops: int
    ops: tuple[OpCount, ...]
    peak_activation_bytes: int
    trace: Trace | None = None


def probe_forward(
    run: Callable[[], Any], *, float_bytes: int = 2, trace: bool = False, resident: Iterable[torch.Tensor] = ()
) -> ProbeResult:
    """Run ``run()`` (a forward on meta tensors) under inference mode and record it.

    ``trace``: record the op trace too, in the same pass (``resident``: the CPU tensors among the inputs that a GPU
    run holds on the device, see ``trace.trace_forward``).
    """
    counter = FlopCounterMode(display=False)
    probe = Probe(float_bytes=float_bytes)
    tracer = Tracer(resident) if trace else None
    # The probe is entered first so that it sees the ops FlopCounterMode lets through: composite ops such as
    # aten.linear reach the innermost mode undecomposed, and only their parts (addmm, ...) carry FLOP formulas.
    # The tracer, entered last, sees each op first: it records a composite op whole, then its parts as they go on
    # to the counter and the probe.
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.inference_mode())
        stack.enter_context(probe)
        stack.enter_context(_FusedAttention(probe, tracer))
        stack.enter_context(counter)
        if tracer is not None:
            stack.enter_context(module_calls(tracer))
            stack.enter_context(tracer)
        out = run()
        del out
    ops = probe.records()
    total = counter.get_total_flops()
    by_ops = sum(r.calls * r.flops for r in ops)
    if total != by_ops:  # both use the same formulas; a difference means an op escaped the probe
        raise AssertionError(f"FLOP counts disagree: FlopCounterMode {total:,} vs per-op {by_ops:,}")
    recorded = tracer.trace() if tracer is not None else None
    return ProbeResult(flops=int(total), ops=ops, peak_activation_bytes=probe.peak, trace=recorded)
