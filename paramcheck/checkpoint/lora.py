"""What does a LoRA add, and does it fit a base model? From the safetensors header (and adapter_config.json) alone.

Formats (``KEYS``, an ordered regex table): peft folders (``base_model.model.<module>.lora_A[.<adapter>].weight`` +
``adapter_config.json``), diffusers files (``<component>.<module>.lora_A.weight``, ``lora_adapter_metadata``),
kohya/sd-scripts (``lora_unet_<module with _>.lora_down.weight``/``lora_up``/``alpha``; ``lora_te1_``/``lora_te2_``)
and ComfyUI/ai-toolkit original names (``diffusion_model.<BFL module>.lora_A.weight``).

Rank = ``lora_A`` rows; parameters added = A + B (+ DoRA magnitude). Alpha comes from ``adapter_config.json``
(``lora_alpha``, ``alpha_pattern``), diffusers' ``lora_adapter_metadata`` or kohya's ``ss_network_alpha``; a kohya
per-module ``.alpha`` is a tensor *value*, not in the header, and is reported as not read.

Against a base (``against``): every target resolves to the base's Linear/Conv modules by name (diffusers names,
their underscore forms, the transformers-4 ``text_model.`` names of CLIP, and the original layout's fused names from
``paramcheck.checkpoint.original`` run on traced tensors, so ``double_blocks_0_img_attn_qkv`` spans
``to_q, to_k, to_v``); the shape check is A's input == the module's input and B's output == the spanned outputs.
A target that hits nothing, a shape mismatch, or a LoRA that hits no layer at all is a MISMATCH, never silence.
The loader view runs diffusers' own ``<Pipeline>.lora_state_dict`` (its format detection and conversion) on traced
meta tensors and reports stored targets whose converted keys no ``load_lora_into_*`` picks up.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from ..build import build_component
from ..errors import CheckpointError, ConfigError, first_line
from ..fileio import is_dir, is_file
from ..results import Result
from ..sources import ComponentSpec, ModelSource
from ..sources.headers import Header, TensorInfo, read_header
from ..taxonomy import classify
from . import original
from .singlefile import _target
from .traced import TORCH_DTYPES, Traced

__all__ = ["KEYS", "LoraHit", "LoraLoaderView", "LoraReport", "LoraTarget", "inspect_lora", "is_adapter", "is_lora"]

_KOHYA = r"(lora_unet_|lora_te_|lora_te1_|lora_te2_|lora_te3_)"
_DIFFUSERS = r"(transformer\.|unet\.|text_encoder\.|text_encoder_2\.|text_encoder_3\.)"
# (regex on the tensor name, format, role); ordered, first match wins. Groups: 1 = prefix, 2 = module
KEYS: tuple[tuple[str, str, str], ...] = (
    (r"^(base_model\.model\.)(.+)\.lora_A(?:\.[^.]+)?\.weight$", "peft", "A"),
    (r"^(base_model\.model\.)(.+)\.lora_B(?:\.[^.]+)?\.weight$", "peft", "B"),
    (r"^(base_model\.model\.)(.+)\.lora_magnitude_vector(?:\.[^.]+)?(?:\.weight)?$", "peft", "dora"),
    (_KOHYA + r"([^.]+)\.lora_down\.weight$", "kohya", "A"),
    (_KOHYA + r"([^.]+)\.lora_up\.weight$", "kohya", "B"),
    (_KOHYA + r"([^.]+)\.alpha$", "kohya", "alpha"),
    (_KOHYA + r"([^.]+)\.dora_scale$", "kohya", "dora"),
    (r"^(diffusion_model\.)(.+)\.lora_A\.weight$", "comfy", "A"),
    (r"^(diffusion_model\.)(.+)\.lora_B\.weight$", "comfy", "B"),
    (_DIFFUSERS + r"(.+)\.lora_A\.weight$", "diffusers", "A"),
    (_DIFFUSERS + r"(.+)\.lora_B\.weight$", "diffusers", "B"),
)
# stored prefix -> pipeline component ("denoiser": the transformer or UNet; None: the adapter's one model)
COMPONENT: dict[str, str | None] = {
    "base_model.model.": None,
    "lora_unet_": "denoiser",
    "diffusion_model.": "denoiser",
    "transformer.": "transformer",
    "unet.": "unet",
    "lora_te_": "text_encoder",
    "lora_te1_": "text_encoder",
    "text_encoder.": "text_encoder",
    "lora_te2_": "text_encoder_2",
    "text_encoder_2.": "text_encoder_2",
    "lora_te3_": "text_encoder_3",
    "text_encoder_3.": "text_encoder_3",
}
PIPELINE_OF = {"FluxTransformer2DModel": "FluxPipeline", "SD3Transformer2DModel": "StableDiffusion3Pipeline"}
LOADED_PREFIXES = ("transformer.", "unet.", "text_encoder.", "text_encoder_2.", "text_encoder_3.")


@dataclass(frozen=True, slots=True, kw_only=True)
class LoraTarget(Result):
    """One adapted module as stored: its key, rank, A/B shapes, parameters added, alpha and where alpha came from."""

    key: str
    component: str | None
    module: str
    rank: int
    a_shape: tuple[int, ...]
    b_shape: tuple[int, ...]
    parameters: int
    alpha: float | None = None
    alpha_source: str = ""
    dora: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class LoraHit(Result):
    """What one target hits in the base: the modules (``component.name``), their layer type, or the ``problem``."""

    target: str
    modules: tuple[str, ...] = ()
    category: str = ""
    problem: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LoraLoaderView(Result):
    """diffusers' ``<pipeline>.lora_state_dict`` on the header: modules that get a LoRA layer, stored targets whose
    converted keys no ``load_lora_into_*`` picks up (dropped without a word), or the converter's error."""

    pipeline: str
    loaded: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LoraReport(Result):
    """A LoRA adapter: its targets and what they add; against a base, what each hits (``ok``: every target hits a
    module of the right shape, and at least one layer is hit)."""

    location: str
    format: str
    targets: tuple[LoraTarget, ...]
    parameters: int = field(init=False)
    ranks: tuple[int, ...] = field(init=False)
    unknown: tuple[str, ...] = ()
    against: str | None = None
    hits: tuple[LoraHit, ...] = ()
    layers_hit: int = field(init=False)
    loader: LoraLoaderView | None = None
    ok: bool = field(init=False)
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        layers = sum(len(h.modules) for h in self.hits if not h.problem)
        ok = self.against is None or (layers > 0 and not any(h.problem for h in self.hits))
        self._derive(
            parameters=sum(t.parameters for t in self.targets),
            ranks=tuple(sorted({t.rank for t in self.targets})),
            layers_hit=layers,
            ok=ok,
        )

    @property
    def hit_nothing(self) -> tuple[LoraHit, ...]:
        return tuple(h for h in self.hits if h.problem and not h.modules)

    @property
    def shape_mismatches(self) -> tuple[LoraHit, ...]:
        return tuple(h for h in self.hits if h.problem and h.modules)


# --- reading ----------------------------------------------------------------------------------------------------------


def is_adapter(path: Path) -> bool:
    """A peft adapter folder: ``adapter_config.json`` beside its weights."""
    return is_dir(path) and is_file(path / "adapter_config.json")


def _role(name: str) -> tuple[re.Match[str], str, str] | None:
    for pattern, fmt, role in KEYS:
        if m := re.match(pattern, name):
            return m, fmt, role
    return None


def is_lora(tensors: Sequence[TensorInfo]) -> bool:
    """Whether most names are LoRA keys of a known format."""
    known = sum(1 for t in tensors if _role(t.name) is not None)
    return bool(tensors) and known * 2 >= len(tensors)


def _files(path: Path) -> tuple[Path, Path | None]:
    if path.is_dir():
        weights = path / "adapter_model.safetensors"
        if not weights.is_file():
            found = sorted(path.glob("*.safetensors"))
            if len(found) != 1:
                raise CheckpointError(
                    f"{path}: an adapter folder without adapter_model.safetensors ({len(found)} other safetensors "
                    "files); point at the adapter's weights file"
                )
            weights = found[0]
        config = path / "adapter_config.json"
        return weights, config if config.is_file() else None
    sibling = path.parent / "adapter_config.json"
    return path, sibling if sibling.is_file() and path.name == "adapter_model.safetensors" else None


def _config(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not readable JSON ({first_line(e)}); fix or remove adapter_config.json") from e
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: not a JSON object; an adapter_config.json is one")
    return data


def _alpha(
    groups: Mapping[str, TensorInfo],
    prefix: str,
    module: str,
    rank: int,
    config: Mapping[str, Any],
    metadata: Mapping[str, str],
) -> tuple[float | None, str]:
    """lora_alpha from adapter_config.json (``alpha_pattern`` keys match a module suffix, as peft matches them), from
    diffusers' or kohya's metadata, or unknown: a kohya ``.alpha`` is a tensor value, not in the header."""
    if config:
        for pattern, value in (config.get("alpha_pattern") or {}).items():
            if module == pattern or module.endswith("." + pattern) or re.fullmatch(pattern, module):
                return float(value), "adapter_config alpha_pattern"
        return float(config.get("lora_alpha", rank)), "adapter_config lora_alpha"
    raw = metadata.get("lora_adapter_metadata")
    if raw:  # diffusers' save_lora_weights: the LoraConfig flattened as "<component>.<field>"
        try:
            meta = json.loads(raw)
        except ValueError:
            meta = {}
        component = prefix.rstrip(".")
        for pattern, value in (meta.get(f"{component}.alpha_pattern") or {}).items():
            if module == pattern or module.endswith("." + pattern):
                return float(value), "lora_adapter_metadata alpha_pattern"
        if f"{component}.lora_alpha" in meta:
            return float(meta[f"{component}.lora_alpha"]), "lora_adapter_metadata"
    if "alpha" in groups:
        if "ss_network_alpha" in metadata:
            try:
                return float(metadata["ss_network_alpha"]), "ss_network_alpha (metadata; per-module .alpha not read)"
            except ValueError:
                pass
        return None, "per-module .alpha tensor (a value: not in the header)"
    return float(rank), "default (alpha = rank)"


def read_lora(path: Path) -> tuple[LoraReport, Header]:
    """The targets of a LoRA file or adapter folder, from its header."""
    weights, config_path = _files(path)
    header = read_header(weights)
    config = _config(config_path)
    metadata = dict(header.metadata)
    groups: dict[str, dict[str, Any]] = {}
    formats: set[str] = set()
    unknown: list[str] = []
    for t in header.tensors:
        found = _role(t.name)
        if found is None:
            unknown.append(t.name)
            continue
        m, fmt, role = found
        formats.add(fmt)
        group = groups.setdefault(m.group(1) + m.group(2), {"prefix": m.group(1), "module": m.group(2), "t": {}})
        group["t"][role] = t
    targets = []
    for key, g in sorted(groups.items()):
        t = g["t"]
        if "A" not in t or "B" not in t:
            unknown.append(f"{key} (half a LoRA pair)")
            continue
        a, b = t["A"], t["B"]
        rank = a.shape[0] if a.shape else 0
        alpha, source = _alpha(t, g["prefix"], g["module"], rank, config, metadata)
        targets.append(
            LoraTarget(
                key=key,
                component=COMPONENT.get(g["prefix"]),
                module=g["module"],
                rank=rank,
                a_shape=a.shape,
                b_shape=b.shape,
                parameters=a.elements + b.elements + (t["dora"].elements if "dora" in t else 0),
                alpha=alpha,
                alpha_source=source,
                dora="dora" in t,
            )
        )
    if not targets:
        raise CheckpointError(f"{weights}: no LoRA pairs (lora_A/lora_B, lora_down/lora_up) in its header; not a LoRA")
    report = LoraReport(
        location=str(path), format="+".join(sorted(formats)), targets=tuple(targets), unknown=tuple(unknown)
    )
    return report, header


# --- against a base ---------------------------------------------------------------------------------------------------


def _out(module: torch.nn.Module) -> int:
    if isinstance(module, torch.nn.Linear):
        return module.out_features
    return int(getattr(module, "out_channels"))  # noqa: B009 (a Conv2d; the stub types it as Tensor | Module)


def _in(module: torch.nn.Module) -> int:
    if isinstance(module, torch.nn.Linear):
        return module.in_features
    return int(getattr(module, "in_channels"))  # noqa: B009


def _fused(module: torch.nn.Module, config: Mapping[str, Any]) -> dict[str, list[str]]:
    """Original-layout module -> the diffusers modules it is made of, in fusion order (the reverse map, traced)."""
    state = module.state_dict()
    order = {k: i for i, k in enumerate(state)}
    traced = {k: Traced.make(tuple(v.shape), v.dtype, k) for k, v in state.items()}
    name = type(module).__name__
    if name == "FluxTransformer2DModel":
        mapped = original.flux_to_original(traced, config)
    elif name == "SD3Transformer2DModel":
        mapped = original.sd3_to_original(traced, config)
    elif name == "UNet2DConditionModel":
        mapped = original.unet_to_ldm(traced, config)
    else:
        return {}
    out: dict[str, list[str]] = {}
    for k, v in mapped.items():
        if k.endswith(".weight"):
            sources = sorted(getattr(v, "sources", ()), key=order.__getitem__)
            out[k.removesuffix(".weight")] = [s.removesuffix(".weight") for s in sources if s.endswith(".weight")]
    return out


@dataclass(frozen=True, slots=True)
class _Base:
    """A base component built on meta: every name a LoRA may use for its modules -> the modules it spans."""

    name: str
    leaves: Mapping[str, torch.nn.Module]
    lookup: Mapping[str, tuple[str, ...]]
    categories: Mapping[str, str]


def _base(spec: ComponentSpec) -> _Base:
    module = build_component(spec)
    if module is None:
        raise ConfigError(f"{spec.location}: {spec.class_name} has no modules a LoRA can target")
    leaves = {n: m for n, m in module.named_modules() if isinstance(m, torch.nn.Linear | torch.nn.Conv2d)}
    lookup: dict[str, tuple[str, ...]] = {}
    text = "text" in type(module).__name__.lower() and not hasattr(module, "text_model")
    for n in leaves:
        for alias in (n, "text_model." + n) if text else (n,):
            lookup[alias] = (n,)
            lookup.setdefault(alias.replace(".", "_"), (n,))
    for fused, parts in _fused(module, dict(spec.config or {})).items():
        spans = tuple(p for p in parts if p in leaves)
        if spans:
            lookup.setdefault(fused, spans)
            lookup.setdefault(fused.replace(".", "_"), spans)
    categories = {r.name: r.category for r in classify(module, records=True).records}
    return _Base(name=spec.name, leaves=leaves, lookup=lookup, categories=categories)


def _component(kind: str | None, source: ModelSource, chosen: str) -> str | None:
    models = [c.name for c in source.components if c.config is not None]
    if chosen:
        return chosen
    if len(models) == 1:  # a single model: every target is meant for it
        return models[0]
    if kind == "denoiser":
        return next((n for n in ("transformer", "unet") if n in models), None)
    return kind if kind in models else None


def _hit(target: LoraTarget, base: _Base) -> LoraHit:
    spans = base.lookup.get(target.module)
    if not spans:
        return LoraHit(target=target.key, problem=f"hits nothing in {base.name}")
    first = base.leaves[spans[0]]
    want = (_in(first), sum(_out(base.leaves[s]) for s in spans))
    got = (target.a_shape[1] if len(target.a_shape) > 1 else 0, target.b_shape[0] if target.b_shape else 0)
    problem = None if got == want else f"shape: the LoRA maps {got[0]} -> {got[1]}, the base {want[0]} -> {want[1]}"
    category = "+".join(sorted({base.categories.get(s) or "?" for s in spans}))
    return LoraHit(
        target=target.key, modules=tuple(f"{base.name}.{s}" for s in spans), category=category, problem=problem
    )


def _pipeline(source: ModelSource) -> str | None:
    """The pipeline class whose LoRA loader applies: model_index.json's, else the one of the single model."""
    if source.pipeline_class:
        return source.pipeline_class
    return next((PIPELINE_OF[c.class_name] for c in source.components if c.class_name in PIPELINE_OF), None)


class _Undecided(Traced):
    """kohya FLUX conversion asks ``torch.all(up[...] == 0)`` (is the fused up-weight block-diagonal?), a value. On
    meta the answer is "no": the converted names are the same either way, only the split ranks differ."""

    def __bool__(self) -> bool:
        return False


def loader_view(header: Header, pipeline: str, unet_config: Mapping[str, Any] | None = None) -> LoraLoaderView:
    """``<pipeline>.lora_state_dict`` (diffusers' own detection and conversion) on traced meta tensors.

    kohya ``.alpha`` values are data: they become real scalars equal to the rank (names and shapes do not depend on
    them). Converted keys without a component prefix are what ``load_lora_into_<component>`` ignores silently.
    """
    import diffusers

    ranks = {t.name.rsplit(".", 2)[0]: t.shape[0] for t in header.tensors if t.name.endswith("lora_down.weight")}
    state: dict[str, torch.Tensor] = {}
    for t in header.tensors:
        if t.name.endswith(".alpha"):
            state[t.name] = torch.tensor(float(ranks.get(t.name.removesuffix(".alpha"), 1)))
        else:
            tensor = Traced.make(t.shape, TORCH_DTYPES.get(t.dtype, torch.float32), t.name).as_subclass(_Undecided)
            tensor.sources = frozenset({t.name})
            state[t.name] = tensor
    cls = getattr(diffusers, pipeline, None)
    if cls is None or not hasattr(cls, "lora_state_dict"):
        return LoraLoaderView(pipeline=pipeline, error=f"{pipeline} has no LoRA loader")
    kwargs = {"unet_config": SimpleNamespace(**unet_config)} if unet_config is not None else {}
    try:
        out = cls.lora_state_dict(state, **kwargs)
    except Exception as e:  # diffusers' converters raise AssertionError, KeyError, ValueError on what they refuse
        return LoraLoaderView(pipeline=pipeline, error=f"{type(e).__name__}: {first_line(e)[:160]}")
    converted = out[0] if isinstance(out, tuple) else out
    loaded: set[str] = set()
    reached: set[str] = set()
    suffix = r"(\.lora_A|\.lora_B|_lora\.down|_lora\.up|\.lora_linear_layer\.(down|up))(\.weight)?$"
    for k, v in converted.items():
        if isinstance(v, torch.Tensor) and "lora" in k and k.startswith(LOADED_PREFIXES):
            loaded.add(re.sub(suffix, "", k).replace(".processor.", ".").replace("to_out_lora", "to_out.0"))
            reached |= {s.rsplit(".", 2)[0] for s in getattr(v, "sources", ())}
    stored = {t.name.rsplit(".", 2)[0] for t in header.tensors if re.search(r"(lora_down|lora_A)\.weight$", t.name)}
    return LoraLoaderView(pipeline=pipeline, loaded=tuple(sorted(loaded)), dropped=tuple(sorted(stored - reached)))


def against_base(report: LoraReport, header: Header, against: str) -> LoraReport:
    """``report`` with each target resolved in the base ``against`` (``MODEL[:COMPONENT]``)."""
    source, chosen = _target(against)
    specs = {c.name: c for c in source.components if c.config is not None}
    bases: dict[str, _Base] = {}
    hits: list[LoraHit] = []
    for t in report.targets:
        name = _component(t.component, source, chosen)
        if name is None or name not in specs:
            hits.append(LoraHit(target=t.key, problem=f"no component {t.component!r} in {against}"))
            continue
        if name not in bases:
            bases[name] = _base(specs[name])
        hits.append(_hit(t, bases[name]))
    notes: list[str] = []
    loader = None
    pipeline = _pipeline(source)
    if report.format in {"kohya", "diffusers", "comfy"} and pipeline:
        unet = specs.get("unet")
        config = dict(unet.config or {}) if unet is not None and pipeline.startswith("StableDiffusionXL") else None
        loader = loader_view(header, pipeline, config)
        if loader.dropped:
            notes.append(
                f"diffusers' {pipeline} loader drops {len(loader.dropped)} stored targets without a word (their "
                "converted keys carry no component prefix)"
            )
    layers = sum(len(h.modules) for h in hits if not h.problem)
    if layers == 0:
        notes.append(f"applied to 0 layers of {against}: this LoRA does nothing to this base")
    return LoraReport(
        location=report.location,
        format=report.format,
        targets=report.targets,
        unknown=report.unknown,
        against=against,
        hits=tuple(hits),
        loader=loader,
        notes=(*report.notes, *notes),
    )


def inspect_lora(path: str | Path, *, against: str | None = None) -> LoraReport:
    """A LoRA file or adapter folder from its header; with ``against``, what it hits in that base."""
    report, header = read_lora(Path(path).expanduser())
    return against_base(report, header, against) if against else report
