"""FLOPs and MACs of one image: each component's forward counted on meta tensors by PyTorch's own FLOP counter.

The transformer runs once per denoising step (twice with classifier-free guidance), each text encoder once per
prompt (once more for the negative prompt under CFG), the VAE decoder once per image. Per-pipeline defaults live
in ``paramcheck.compute.workload.DEFAULTS``; every value can be overridden.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..dtypes import canonical_dtype, dtype_bytes
from ..errors import ConfigError, first_line
from ..results import Result, pairs
from .ops import CATEGORIES, CATEGORY_RULES, OpCount, op_category
from .workload import Role, Workload

if TYPE_CHECKING:
    from ..build import BuiltModel
    from .trace import Trace

__all__ = [
    "CATEGORY_RULES",
    "FLOP_NOTE",
    "FlopReport",
    "ForwardCount",
    "OpCount",
    "count_flops",
    "op_category",
    "probe_model",
]

FLOP_NOTE = (
    "FLOPs counted by torch.utils.flop_counter on meta tensors: matmuls, convolutions and attention "
    "(2 FLOPs per multiply-add; MACs = FLOPs / 2); norms, activations and softmax count 0"
)

LENGTH_NOTE = (
    "text is counted at the full prompt length (CLIP at its 77 positions): exact for pipelines that pad to "
    "max_sequence_length, an upper bound for those that pad to the longest prompt"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ForwardCount(Result):
    """One component's forward: what it sees, how often it runs per call, its FLOPs and memory traffic.

    ``flops``: one forward; ``total_flops``: all ``forwards`` of a call. ``bytes_moved``: every op's inputs and
    outputs (weights included), as an unfused eager run reads and writes them, floating-point tensors at the
    workload's activation dtype. ``peak_activation_bytes``: the most memory the forward's own tensors hold at once
    (weights and inputs excluded).
    """

    component: str
    class_name: str
    role: Role
    inputs: str
    forwards: int
    flops: int
    macs: int = field(init=False)
    total_flops: int = field(init=False)
    flops_by_category: tuple[tuple[str, int], ...] = pairs(init=False)
    bytes_moved: int = field(init=False)
    peak_activation_bytes: int
    ops: tuple[OpCount, ...] = ()

    def __post_init__(self) -> None:
        self._derive(
            macs=self.flops // 2,
            total_flops=self.forwards * self.flops,
            flops_by_category=tuple((c, self.category_flops(c)) for c in CATEGORIES),
            bytes_moved=sum(o.calls * o.bytes for o in self.ops),
        )

    def category_flops(self, category: str) -> int:
        return sum(o.calls * o.flops for o in self.ops if o.category == category)


@dataclass(frozen=True, slots=True, kw_only=True)
class FlopReport(Result):
    """FLOPs of one generation call of ``workload.batch`` images, per component forward and in total."""

    model: str
    workload: Workload
    total_flops: int = field(init=False)
    total_macs: int = field(init=False)
    flops_per_image: int = field(init=False)
    flops_by_category: tuple[tuple[str, int], ...] = pairs(init=False)
    forwards: tuple[ForwardCount, ...]
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        total = sum(f.total_flops for f in self.forwards)
        self._derive(
            total_flops=total,
            total_macs=total // 2,
            flops_per_image=total // self.workload.batch,
            flops_by_category=tuple((c, self.category_flops(c)) for c in CATEGORIES),
        )

    def forward(self, component: str) -> ForwardCount | None:
        return next((f for f in self.forwards if f.component == component), None)

    def category_flops(self, category: str) -> int:
        return sum(f.forwards * f.category_flops(category) for f in self.forwards)


def count_flops(built: BuiltModel, workload: Workload) -> FlopReport:
    """Count every component of a meta build that has a recipe, for ``workload``."""
    return probe_model(built, workload)[0]


def probe_model(
    built: BuiltModel, workload: Workload, *, trace: bool = False
) -> tuple[FlopReport, Mapping[str, Trace]]:
    """``count_flops``, and with ``trace`` each forward's op trace from the same pass (by component name).

    Each module runs at the workload's activation dtype (floating weights and inputs converted on meta, which costs
    nothing), as a GPU run would: the trace sees its casts and fp32 islands; the counts do not depend on it.
    """
    # imported here, not above: the results of this module read back from the cache without torch
    from .inputs import realize, resident_tensors
    from .probe import probe_forward
    from .recipes import plan_forwards
    from .trace import torch_dtype_of

    float_bytes = int(dtype_bytes(workload.activation_dtype))
    dtype = torch_dtype_of(canonical_dtype(workload.activation_dtype))
    plans = {p.component: p for p in plan_forwards(built.source, workload)}
    counted: list[ForwardCount] = []
    traces: dict[str, Trace] = {}
    notes = [FLOP_NOTE]
    for spec in built.source.components:
        module = built.modules.get(spec.name)
        if module is None:
            continue
        plan = plans.get(spec.name)
        if plan is None:
            notes.append(
                f"{spec.name} ({spec.class_name}): no forward recipe in paramcheck.compute.recipes; not counted"
            )
            continue
        # Inference: FlopCounterMode's module tracker trips on parameters that require grad passed as inputs
        # (SanaTransformer2DModel hands its scale_shift_table to norm_out)
        module.requires_grad_(False)
        kwargs = plan.inputs()
        if dtype is not None:
            if any(p.is_floating_point() and p.dtype != dtype for p in module.parameters()):
                module.to(dtype=dtype)
            kwargs = realize(kwargs, device="meta", dtype=dtype)
        try:
            result = probe_forward(
                plan.forward(module, kwargs), float_bytes=float_bytes, trace=trace, resident=resident_tensors(kwargs)
            )
        except ConfigError:
            raise
        except Exception as e:  # a model whose forward needs values meta tensors do not have
            message = first_line(e)
            raise ConfigError(
                f"{built.source.model}/{spec.name}: cannot run {spec.class_name} on meta tensors ({message}); "
                "report it with the model's config"
            ) from e
        if result.trace is not None:
            traces[spec.name] = result.trace
        counted.append(
            ForwardCount(
                component=spec.name,
                class_name=spec.class_name or "",
                role=plan.recipe.role,
                inputs=plan.describe(kwargs),
                forwards=plan.forwards,
                flops=result.flops,
                peak_activation_bytes=result.peak_activation_bytes,
                ops=result.ops,
            )
        )
    counted.sort(key=lambda f: list(Role).index(f.role))
    notes.append(LENGTH_NOTE)
    report = FlopReport(model=built.source.model, workload=workload, forwards=tuple(counted), notes=tuple(notes))
    return report, traces
