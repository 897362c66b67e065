"""FLOPs and MACs of one image: each component's forward counted on meta tensors by PyTorch's own FLOP counter.

The transformer runs once per denoising step (twice with classifier-free guidance), each text encoder once per
prompt (once more for the negative prompt under CFG), the VAE decoder once per image. Per-pipeline defaults live
in ``paramcheck.compute.workload.DEFAULTS``; every value can be overridden.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..build import BuiltModel
from ..dtypes import dtype_bytes
from ..errors import ConfigError, first_line
from ..results import Result, pairs
from .probe import CATEGORIES, CATEGORY_RULES, OpCount, op_category, probe_forward
from .recipes import latent_scales, recipe_for
from .workload import Role, Workload

__all__ = [
    "CATEGORY_RULES",
    "FLOP_NOTE",
    "FlopReport",
    "ForwardCount",
    "OpCount",
    "count_flops",
    "op_category",
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
    float_bytes = int(dtype_bytes(workload.activation_dtype))
    scales = latent_scales(built.source)
    counted: list[ForwardCount] = []
    notes = [FLOP_NOTE]
    for spec in built.source.components:
        module = built.modules.get(spec.name)
        if module is None:
            continue
        recipe = recipe_for(spec.class_name)
        if recipe is None:
            notes.append(
                f"{spec.name} ({spec.class_name}): no forward recipe in paramcheck.compute.recipes; not counted"
            )
            continue
        config = dict(spec.config or {})
        shape = workload.forward_shape(spec.name, recipe.role, scales)
        # Inference: FlopCounterMode's module tracker trips on parameters that require grad passed as inputs
        # (SanaTransformer2DModel hands its scale_shift_table to norm_out)
        module.requires_grad_(False)
        run, inputs = recipe.prepare(module, config, shape)
        try:
            result = probe_forward(run, float_bytes=float_bytes)
        except ConfigError:
            raise
        except Exception as e:  # a model whose forward needs values meta tensors do not have
            message = first_line(e)
            raise ConfigError(
                f"{built.source.model}/{spec.name}: cannot run {spec.class_name} on meta tensors ({message}); "
                "report it with the model's config"
            ) from e
        counted.append(
            ForwardCount(
                component=spec.name,
                class_name=spec.class_name or "",
                role=recipe.role,
                inputs=inputs,
                forwards=workload.forwards(recipe.role),
                flops=result.flops,
                peak_activation_bytes=result.peak_activation_bytes,
                ops=result.ops,
            )
        )
    counted.sort(key=lambda f: list(Role).index(f.role))
    notes.append(LENGTH_NOTE)
    return FlopReport(model=built.source.model, workload=workload, forwards=tuple(counted), notes=tuple(notes))
