"""Does a checkpoint match its architecture? Header tensors against the module built from the config on meta.

The architecture's tensors are ``module.state_dict()`` of the meta build (persistent buffers included,
non-persistent ones not, as ``save_pretrained`` writes them). Names that share one tensor, by identity in the
built module or by the model's own ``all_tied_weights_keys``/``_tied_weights_keys``, form a tie group: a checkpoint
that stores any one of them stores the group. The model's ``_keys_to_ignore_on_load_missing``/``_unexpected``
patterns are honoured as ``from_pretrained`` honours them.

When fewer than half of the names match (another key layout: the original FLUX release, ComfyUI prefixes), the
check compares totals instead: the checkpoint's logical parameters against the architecture's stored elements.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..build import build_component
from ..count import buffer_counts, parameter_count
from ..errors import ConfigError
from ..results import LayerView
from ..sources import ComponentSpec, read_folder, resolve
from ..sources.headers import Header
from .summary import CheckpointComponent, CheckpointReport, read_checkpoint, summarize

__all__ = [
    "CheckReport",
    "ComponentCheck",
    "DtypeMismatch",
    "ShapeMismatch",
    "ViewsHook",
    "check_checkpoint",
    "check_component",
    "taxonomy_views",
]

# Layer-type tables of the tensors a checkpoint holds: (built module, names of its state_dict found in the
# checkpoint) -> views. The taxonomy (paramcheck.taxonomy) plugs in here; without it no views are computed.
ViewsHook = Callable[[torch.nn.Module, frozenset[str]], tuple[LayerView, ...]]


def taxonomy_views(module: torch.nn.Module, names: frozenset[str]) -> tuple[LayerView, ...]:
    """The taxonomy's layer-type views of ``module`` when the checkpoint holds every parameter (a tied one under
    any of its names); ``()`` otherwise, since a partial checkpoint's tables would not be the architecture's."""
    from ..taxonomy import classify

    held: dict[int, bool] = {}
    for name, parameter in module.named_parameters(remove_duplicate=False):
        held[id(parameter)] = held.get(id(parameter), False) or name in names
    return classify(module).views if all(held.values()) else ()


FLOAT_DTYPES = frozenset({"F4", "F6_E2M3", "F6_E3M2", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ"})
FLOAT_DTYPES |= {"F16", "BF16", "F32", "F64", "C64"}
OTHER_LAYOUT = "fewer than half of the tensor names match the architecture: another key layout, compared by totals"


@dataclass(frozen=True, slots=True, kw_only=True)
class ShapeMismatch:
    name: str
    expected: tuple[int, ...]
    found: tuple[int, ...]
    dtype: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "expected": list(self.expected), "found": list(self.found), "dtype": self.dtype}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShapeMismatch:
        return cls(name=data["name"], expected=tuple(data["expected"]), found=tuple(data["found"]), dtype=data["dtype"])


@dataclass(frozen=True, slots=True, kw_only=True)
class DtypeMismatch:
    """A stored dtype of the wrong kind: an integer or bool buffer stored as float, or a float tensor as integer
    in a checkpoint with no quantization format."""

    name: str
    expected: str
    found: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "expected": self.expected, "found": self.found}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DtypeMismatch:
        return cls(name=data["name"], expected=data["expected"], found=data["found"])


@dataclass(frozen=True, slots=True, kw_only=True)
class ComponentCheck:
    """The verdict for one component.

    ``layout``: ``matching`` (names compared one by one), ``other`` (totals compared), ``unchecked`` (no config to
    compare with) or ``no-weights`` (the architecture has tensors, the checkpoint none).
    """

    name: str
    class_name: str | None
    layout: str
    expected_tensors: int = 0
    found_tensors: int = 0
    matched: int = 0
    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    shapes: tuple[ShapeMismatch, ...] = ()
    dtypes: tuple[DtypeMismatch, ...] = ()
    architecture_parameters: int = 0
    checkpoint_parameters: int = 0
    views: tuple[LayerView, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        if self.layout == "matching":
            return not (self.missing or self.unexpected or self.shapes or self.dtypes)
        if self.layout == "other":
            return self.architecture_parameters == self.checkpoint_parameters
        return self.layout == "unchecked"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "class_name": self.class_name,
            "layout": self.layout,
            "ok": self.ok,
            "expected_tensors": self.expected_tensors,
            "found_tensors": self.found_tensors,
            "matched": self.matched,
            "missing": list(self.missing),
            "unexpected": list(self.unexpected),
            "shapes": [s.to_dict() for s in self.shapes],
            "dtypes": [d.to_dict() for d in self.dtypes],
            "architecture_parameters": self.architecture_parameters,
            "checkpoint_parameters": self.checkpoint_parameters,
            "views": [v.to_dict() for v in self.views],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ComponentCheck:
        return cls(
            name=data["name"],
            class_name=data.get("class_name"),
            layout=data["layout"],
            expected_tensors=int(data["expected_tensors"]),
            found_tensors=int(data["found_tensors"]),
            matched=int(data["matched"]),
            missing=tuple(data["missing"]),
            unexpected=tuple(data["unexpected"]),
            shapes=tuple(ShapeMismatch.from_dict(s) for s in data["shapes"]),
            dtypes=tuple(DtypeMismatch.from_dict(d) for d in data["dtypes"]),
            architecture_parameters=int(data["architecture_parameters"]),
            checkpoint_parameters=int(data["checkpoint_parameters"]),
            views=tuple(LayerView.from_dict(v) for v in data.get("views", ())),
            notes=tuple(data.get("notes", ())),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckReport:
    """What the checkpoint stores (headers) and whether each component matches its architecture."""

    checkpoint: CheckpointReport
    components: tuple[ComponentCheck, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.components)

    def component(self, name: str) -> ComponentCheck | None:
        return next((c for c in self.components if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checkpoint": self.checkpoint.to_dict(),
            "components": [c.to_dict() for c in self.components],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckReport:
        return cls(
            checkpoint=CheckpointReport.from_dict(data["checkpoint"]),
            components=tuple(ComponentCheck.from_dict(c) for c in data["components"]),
        )


def _tie_groups(module: torch.nn.Module, names: Iterable[str]) -> dict[str, frozenset[str]]:
    """Each state_dict name -> the names sharing its tensor (by identity, and by the model's declared ties)."""
    wanted = set(names)
    by_id: dict[int, set[str]] = {}
    for name, tensor in [
        *module.named_parameters(remove_duplicate=False),
        *module.named_buffers(remove_duplicate=False),
    ]:
        if name in wanted:
            by_id.setdefault(id(tensor), set()).add(name)
    groups = {name: frozenset(group) for group in by_id.values() for name in group}
    declared = getattr(module, "all_tied_weights_keys", None) or getattr(module, "_tied_weights_keys", None)
    if isinstance(declared, Mapping):  # transformers 5: {target: source}
        for target, source in declared.items():
            if isinstance(target, str) and isinstance(source, str) and target in wanted and source in wanted:
                merged = groups.get(target, frozenset({target})) | groups.get(source, frozenset({source}))
                for name in merged:
                    groups[name] = merged
    return groups


def _patterns(module: torch.nn.Module, attribute: str) -> tuple[re.Pattern[str], ...]:
    values = getattr(module, attribute, None) or ()
    return tuple(re.compile(v) for v in values if isinstance(v, str))


def _rename(module: torch.nn.Module, expected: set[str], found: set[str]) -> tuple[Callable[[str], str], str | None]:
    """Stripping or adding the model's ``base_model_prefix`` when that is how the checkpoint was saved."""
    prefix = getattr(module, "base_model_prefix", "") or ""
    candidates: list[tuple[Callable[[str], str], str | None]] = [(lambda n: n, None)]
    if prefix:
        p = prefix + "."
        candidates.append((lambda n: n.removeprefix(p), f"checkpoint names carry the prefix {p!r}; stripped"))
        candidates.append((lambda n: p + n, f"checkpoint names lack the prefix {p!r}; added"))
    return max(candidates, key=lambda c: len({c[0](n) for n in found} & expected))


def _kind(dtype: torch.dtype) -> str:
    if dtype == torch.bool:
        return "bool"
    return "float" if dtype.is_floating_point or dtype.is_complex else "integer"


def _stored_kind(dtype: str) -> str:
    return "bool" if dtype == "BOOL" else "float" if dtype in FLOAT_DTYPES else "integer"


def check_component(
    spec: ComponentSpec,
    module: torch.nn.Module,
    stored: CheckpointComponent,
    *,
    views: ViewsHook | None = None,
) -> ComponentCheck:
    """Compare one component's header tensors with its meta-built module."""
    state = module.state_dict(keep_vars=True)
    expected = set(state)
    ties = _tie_groups(module, expected)
    roles = [r for r in stored.roles if not r.auxiliary]
    rename, rename_note = _rename(module, expected, {r.logical for r in roles})
    found = {rename(r.logical): r for r in roles}
    arch_total = parameter_count(module) + buffer_counts(module).persistent
    notes = [*stored.notes, *([rename_note] if rename_note else [])]
    matched = expected & found.keys()
    if len(matched) < 0.5 * min(len(expected), len(found)):
        return ComponentCheck(
            name=spec.name,
            class_name=spec.class_name,
            layout="other",
            expected_tensors=len(expected),
            found_tensors=len(found),
            matched=len(matched),
            architecture_parameters=arch_total,
            checkpoint_parameters=stored.parameters,
            notes=(*notes, OTHER_LAYOUT),
        )
    ignore_missing = _patterns(module, "_keys_to_ignore_on_load_missing")
    ignore_unexpected = _patterns(module, "_keys_to_ignore_on_load_unexpected")
    quantized = stored.quantization is not None
    present = set(found)
    missing = sorted(
        n
        for n in expected - present
        if not (ties.get(n, frozenset()) & present) and not any(p.search(n) for p in ignore_missing)
    )
    unexpected = sorted(n for n in present - expected if not any(p.search(n) for p in ignore_unexpected))
    shapes: list[ShapeMismatch] = []
    dtypes: list[DtypeMismatch] = []
    checkpoint_total = 0
    for name in sorted(matched):
        role, tensor = found[name], state[name]
        want = tuple(tensor.shape)
        logical, n = role.parameters, tensor.numel()
        if role.packing == "2 per uint8":  # odd sizes pad one 4-bit value
            ok = n in (logical, logical - 1)
        elif role.packing is not None:
            ok = n == logical
        elif role.dtype == "U8" and role.shape != want and n in (2 * logical, 2 * logical - 1):
            ok = True  # uint8 packing two 4-bit values
        else:
            ok = role.shape == want
        if ok:
            logical = n if role.packing is not None or role.dtype == "U8" else logical
        else:
            shapes.append(ShapeMismatch(name=name, expected=want, found=role.shape, dtype=role.dtype))
        checkpoint_total += logical
        want_kind, got_kind = _kind(tensor.dtype), _stored_kind(role.dtype)
        if want_kind != got_kind and not (want_kind == "float" and quantized):
            dtypes.append(DtypeMismatch(name=name, expected=want_kind, found=role.dtype))
    checkpoint_total += sum(found[n].parameters for n in present - expected)
    return ComponentCheck(
        name=spec.name,
        class_name=spec.class_name,
        layout="matching",
        expected_tensors=len(expected),
        found_tensors=len(found),
        matched=len(matched),
        missing=tuple(missing),
        unexpected=tuple(unexpected),
        shapes=tuple(shapes),
        dtypes=tuple(dtypes),
        architecture_parameters=arch_total,
        checkpoint_parameters=checkpoint_total,
        views=views(module, frozenset(matched)) if views is not None else (),
        notes=tuple(notes),
    )


def _against(against: str) -> ComponentSpec:
    """``MODEL[:COMPONENT]``: the architecture a lone checkpoint file is compared with."""
    model, _, name = against.partition(":")
    source = resolve(model)
    if name:
        return source.component(name)
    modelled = [c for c in source.components if c.config is not None]
    if len(modelled) != 1:
        names = ", ".join(c.name for c in modelled)
        raise ConfigError(f"{against}: has several components ({names}); name one as {model}:COMPONENT")
    return modelled[0]


def _specs(report: CheckpointReport, parts: Mapping[str, tuple[Path, ...]], against: str | None) -> list[ComponentSpec]:
    location = Path(report.location)
    if against is not None:
        if len(report.components) != 1:
            raise ConfigError(f"{location}: --against compares one checkpoint; this holds {len(report.components)}")
        spec = _against(against)
        return [ComponentSpec(**{**_fields(spec), "name": report.components[0].name})]
    if report.kind == "pipeline" or report.kind == "model-folder":
        return list(read_folder(location).components)
    folder = parts["model"][0].parent
    if (folder / "config.json").is_file():
        return list(read_folder(folder).components)
    return []


def _fields(spec: ComponentSpec) -> dict[str, Any]:
    return {f: getattr(spec, f) for f in ComponentSpec.__dataclass_fields__}


def check_checkpoint(
    path: str | Path,
    *,
    against: str | None = None,
    views: ViewsHook | None = None,
) -> CheckReport:
    """Header counts of ``path`` and each component's verdict against the architecture its config (or
    ``against``: ``MODEL[:COMPONENT]``) describes. ``hub:ORG/NAME[@REV]`` reads the headers from the hub.

    Example (a tiny VAE saved by diffusers; only the safetensors header is read):

        >>> import tempfile
        >>> from diffusers import AutoencoderKL
        >>> from paramcheck.checkpoint.check import check_checkpoint
        >>> vae = AutoencoderKL(block_out_channels=(4,), norm_num_groups=1, latent_channels=1)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     vae.save_pretrained(folder)
        ...     check = check_checkpoint(folder)
        >>> check.ok, check.components[0].checkpoint_parameters == sum(p.numel() for p in vae.parameters())
        (True, True)
    """
    if str(path).startswith("hub:"):
        if against is not None:
            raise ConfigError(f"{path}: --against is for lone files; a hub repository brings its own configs")
        return check_hub(str(path)[len("hub:") :], views=views)
    report, parts = read_checkpoint(path)
    return compare_with_architecture(report, _specs(report, parts, against), views=views)


def check_hub(spec: str, *, views: ViewsHook | None = None) -> CheckReport:
    """The same check for a hub repository: its configs and its safetensors headers, read by range requests."""
    from ..sources.hub import fetch_hub_model, parse_hub_spec

    repo, revision = parse_hub_spec(spec)
    hub = fetch_hub_model(repo, revision)
    components = []
    for weights in hub.weights:
        header = Header(
            path=Path(f"hf://{repo}@{hub.revision}/{weights.files[0]}"),
            tensors=weights.tensors,
            metadata=(),
            header_bytes=0,
            file_bytes=0,
        )
        config = hub.source.component(weights.component).config
        components.append(summarize(weights.component, (header,), config=config))
    report = CheckpointReport(location=f"hub:{repo}@{hub.revision}", kind="hub", components=tuple(components))
    return compare_with_architecture(report, list(hub.source.components), views=views)


def compare_with_architecture(
    report: CheckpointReport, specs: list[ComponentSpec], *, views: ViewsHook | None = None
) -> CheckReport:
    """Each component's stored tensors against the module its spec builds on meta; unmatched ones by header."""
    checks: list[ComponentCheck] = []
    seen: set[str] = set()
    for spec in specs:
        module = build_component(spec)
        if module is None:
            continue
        seen.add(spec.name)
        stored = report.component(spec.name)
        if stored is None:
            expected = parameter_count(module) + buffer_counts(module).persistent
            if expected:
                note = "the architecture has tensors but no safetensors weights were found for it"
                checks.append(
                    ComponentCheck(
                        name=spec.name,
                        class_name=spec.class_name,
                        layout="no-weights",
                        expected_tensors=len(module.state_dict()),
                        architecture_parameters=expected,
                        notes=(note,),
                    )
                )
            continue
        checks.append(check_component(spec, module, stored, views=views))
    for stored in report.components:
        if stored.name not in seen:
            note = "no config to compare with: counted by header only (give --against MODEL[:COMPONENT])"
            checks.append(
                ComponentCheck(
                    name=stored.name,
                    class_name=None,
                    layout="unchecked",
                    found_tensors=stored.tensors - stored.auxiliary_tensors,
                    checkpoint_parameters=stored.parameters,
                    notes=(*stored.notes, note),
                )
            )
    return CheckReport(checkpoint=report, components=tuple(checks))
