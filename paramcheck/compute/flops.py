"""FLOPs and MACs of one image: each component's forward counted on meta tensors by PyTorch's own FLOP counter.

The transformer runs once per denoising step (twice with classifier-free guidance), each text encoder once per
prompt (once more for the negative prompt under CFG), the VAE decoder once per image. Per-pipeline defaults live
in ``paramcheck.compute.recipes.DEFAULTS``; every value can be overridden.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, first_line
from ..sources import ModelSource
from .recipes import PipelineDefaults, Shape, defaults_for, latent_scales, override, recipe_for

__all__ = [
    "CATEGORY_RULES",
    "FLOP_NOTE",
    "FlopReport",
    "ForwardCount",
    "OpCount",
    "Workload",
    "count_flops",
    "op_category",
    "workload_for",
]

# Ordered (first match wins) rules from aten op name to layer type, fvcore-style: users may extend the tuple.
# A Linear on a (batch, tokens, features) input reaches aten as mm/addmm; attention scores and their weighted sum
# are bmm (eager attention) or one fused scaled_dot_product op.
CATEGORY_RULES: tuple[tuple[str, str], ...] = (
    ("_scaled_dot_product", "attention"),
    ("scaled_dot_product", "attention"),
    ("bmm", "attention"),
    ("baddbmm", "attention"),
    ("mm", "linear"),
    ("addmm", "linear"),
    ("convolution", "conv"),
    ("_convolution", "conv"),
)
CATEGORIES = ("attention", "linear", "conv", "other")

FLOP_NOTE = (
    "FLOPs counted by torch.utils.flop_counter on meta tensors: matmuls, convolutions and attention "
    "(2 FLOPs per multiply-add; MACs = FLOPs / 2); norms, activations and softmax count 0"
)

LENGTH_NOTE = (
    "text is counted at the full prompt length (CLIP at its 77 positions): exact for pipelines that pad to "
    "max_sequence_length, an upper bound for those that pad to the longest prompt"
)

ROLE_ORDER = {"text_encoder": 0, "denoiser": 1, "vae_decoder": 2, "safety_checker": 3}


def op_category(op: str) -> str:
    """The layer type of an aten op name (``addmm`` -> ``linear``), by ``CATEGORY_RULES``."""
    for prefix, category in CATEGORY_RULES:
        if op == prefix or op.startswith(prefix + "."):
            return category
    for prefix, category in CATEGORY_RULES:
        if op.startswith(prefix):
            return category
    return "other"


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """One generation call: image size, denoising steps, prompt tokens, images per call, CFG, activation dtype.

    ``frames``: video frames (1 for an image); ``encode_negative`` and ``text_tokens`` as in ``PipelineDefaults``.
    """

    height: int
    width: int
    steps: int
    prompt_length: int
    batch: int = 1
    cfg: bool = False
    cfg_batched: bool = False
    activation_dtype: str = "bf16"
    frames: int = 1
    encode_negative: bool = True
    text_tokens: tuple[tuple[str, int], ...] = ()
    defaults: str = ""

    def tokens(self, component: str) -> int:
        """The text tokens a component sees: fixed by the pipeline for some, else ``prompt_length``."""
        return dict(self.text_tokens).get(component, self.prompt_length)

    def to_dict(self) -> dict[str, Any]:
        return {
            "height": self.height,
            "width": self.width,
            "steps": self.steps,
            "prompt_length": self.prompt_length,
            "batch": self.batch,
            "cfg": self.cfg,
            "cfg_batched": self.cfg_batched,
            "activation_dtype": self.activation_dtype,
            "frames": self.frames,
            "encode_negative": self.encode_negative,
            "text_tokens": {name: tokens for name, tokens in self.text_tokens},
            "defaults": self.defaults,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Workload:
        return cls(
            height=int(data["height"]),
            width=int(data["width"]),
            steps=int(data["steps"]),
            prompt_length=int(data["prompt_length"]),
            batch=int(data.get("batch", 1)),
            cfg=bool(data.get("cfg", False)),
            cfg_batched=bool(data.get("cfg_batched", False)),
            activation_dtype=data.get("activation_dtype", "bf16"),
            frames=int(data.get("frames", 1)),
            encode_negative=bool(data.get("encode_negative", True)),
            text_tokens=tuple((str(k), int(v)) for k, v in data.get("text_tokens", {}).items()),
            defaults=data.get("defaults", ""),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OpCount:
    """Calls of one aten op of equal cost within one forward; ``flops`` and ``bytes`` are per call."""

    op: str
    calls: int
    flops: int
    bytes: int

    @property
    def category(self) -> str:
        return op_category(self.op)

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "category": self.category, "calls": self.calls, "flops": self.flops, "bytes": self.bytes}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OpCount:
        return cls(op=data["op"], calls=int(data["calls"]), flops=int(data["flops"]), bytes=int(data["bytes"]))


@dataclass(frozen=True, slots=True, kw_only=True)
class ForwardCount:
    """One component's forward: what it sees, how often it runs per call, its FLOPs and memory traffic.

    ``bytes_moved``: every op's inputs and outputs (weights included), as an unfused eager run reads and writes
    them, floating-point tensors at the workload's activation dtype. ``peak_activation_bytes``: the most memory
    the forward's own tensors hold at once (weights and inputs excluded).
    """

    component: str
    class_name: str
    role: str
    inputs: str
    forwards: int
    flops: int
    peak_activation_bytes: int
    ops: tuple[OpCount, ...] = ()

    @property
    def macs(self) -> int:
        return self.flops // 2

    @property
    def total_flops(self) -> int:
        return self.forwards * self.flops

    @property
    def bytes_moved(self) -> int:
        return sum(o.calls * o.bytes for o in self.ops)

    def category_flops(self, category: str) -> int:
        return sum(o.calls * o.flops for o in self.ops if o.category == category)

    def to_dict(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "class_name": self.class_name,
            "role": self.role,
            "inputs": self.inputs,
            "forwards": self.forwards,
            "flops": self.flops,
            "macs": self.macs,
            "total_flops": self.total_flops,
            "flops_by_category": {c: self.category_flops(c) for c in CATEGORIES},
            "bytes_moved": self.bytes_moved,
            "peak_activation_bytes": self.peak_activation_bytes,
            "ops": [o.to_dict() for o in self.ops],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ForwardCount:
        return cls(
            component=data["component"],
            class_name=data["class_name"],
            role=data["role"],
            inputs=data["inputs"],
            forwards=int(data["forwards"]),
            flops=int(data["flops"]),
            peak_activation_bytes=int(data["peak_activation_bytes"]),
            ops=tuple(OpCount.from_dict(o) for o in data.get("ops", ())),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FlopReport:
    """FLOPs of one generation call of ``workload.batch`` images, per component forward and in total."""

    model: str
    workload: Workload
    forwards: tuple[ForwardCount, ...]
    notes: tuple[str, ...] = ()

    @property
    def total_flops(self) -> int:
        return sum(f.total_flops for f in self.forwards)

    @property
    def flops_per_image(self) -> int:
        return self.total_flops // self.workload.batch

    def forward(self, component: str) -> ForwardCount | None:
        return next((f for f in self.forwards if f.component == component), None)

    def category_flops(self, category: str) -> int:
        return sum(f.forwards * f.category_flops(category) for f in self.forwards)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "workload": self.workload.to_dict(),
            "total_flops": self.total_flops,
            "total_macs": self.total_flops // 2,
            "flops_per_image": self.flops_per_image,
            "flops_by_category": {c: self.category_flops(c) for c in CATEGORIES},
            "forwards": [f.to_dict() for f in self.forwards],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FlopReport:
        return cls(
            model=data["model"],
            workload=Workload.from_dict(data["workload"]),
            forwards=tuple(ForwardCount.from_dict(f) for f in data["forwards"]),
            notes=tuple(data.get("notes", ())),
        )


def workload_for(
    source: ModelSource,
    *,
    height: int | None = None,
    width: int | None = None,
    steps: int | None = None,
    prompt_length: int | None = None,
    batch: int = 1,
    cfg: bool | None = None,
    frames: int | None = None,
    activation_dtype: str = "bf16",
) -> Workload:
    """The model's pipeline defaults with the given values in their place; one-line errors for bad values."""
    row: PipelineDefaults = defaults_for(source)
    row = override(row, height=height, width=width, steps=steps, prompt_length=prompt_length, cfg=cfg, frames=frames)
    for name, value in (
        ("--height", row.height),
        ("--width", row.width),
        ("--steps", row.steps),
        ("--prompt-length", row.prompt_length),
        ("--batch", batch),
        ("--frames", row.frames),
    ):
        if value < 1:
            raise ConfigError(f"{name} {value}: must be at least 1")
    return Workload(
        height=row.height,
        width=row.width,
        steps=row.steps,
        prompt_length=row.prompt_length,
        batch=batch,
        cfg=row.cfg,
        cfg_batched=row.cfg and row.cfg_batched,
        activation_dtype=activation_dtype,
        frames=row.frames,
        encode_negative=row.encode_negative,
        text_tokens=row.text_tokens,
        defaults=f"{row.key}: {row.source}",
    )


def _forwards(role: str, workload: Workload) -> int:
    guided = 2 if workload.cfg else 1
    if role == "text_encoder":
        return guided if workload.encode_negative else 1
    if role == "denoiser":
        return workload.steps * (1 if workload.cfg_batched else guided)
    return 1


def count_flops(built: Any, workload: Workload) -> FlopReport:
    """Count every component of a ``BuiltModel`` (meta modules) that has a recipe, for ``workload``."""
    from ..dtypes import dtype_bytes
    from .probe import probe_forward

    float_bytes = int(dtype_bytes(workload.activation_dtype))
    spatial, temporal = latent_scales(built.source)
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
        batch = workload.batch * (2 if recipe.role == "denoiser" and workload.cfg_batched else 1)
        shape = Shape(
            height=workload.height,
            width=workload.width,
            prompt_length=workload.tokens(spec.name),
            batch=batch,
            frames=workload.frames,
            latent_scale=spatial,
            temporal_scale=temporal,
        )
        # Inference: FlopCounterMode's module tracker trips on parameters that require grad passed as inputs
        # (SanaTransformer2DModel hands its scale_shift_table to norm_out)
        module.requires_grad_(False)
        run = recipe.forward(module, config, shape)
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
                inputs=recipe.describe(config, shape),
                forwards=_forwards(recipe.role, workload),
                flops=result.flops,
                peak_activation_bytes=result.peak_activation_bytes,
                ops=tuple(OpCount(op=r.op, calls=r.calls, flops=r.flops, bytes=r.bytes) for r in result.ops),
            )
        )
    counted.sort(key=lambda f: ROLE_ORDER.get(f.role, 3))
    notes.append(LENGTH_NOTE)
    return FlopReport(model=built.source.model, workload=workload, forwards=tuple(counted), notes=tuple(notes))
