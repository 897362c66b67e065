"""Does a checkpoint match its architecture? Header tensors against the module built from the config on meta.

An unquantized checkpoint gets the verdict ``from_pretrained`` would give (``loaders``: the libraries' own key
conversions, tie and ignore rules, run on meta tensors made from the headers), plus what the loaders do not check:
dtype kinds, totals and the layer-type views. Stored tensors the loader ignores (buffers older libraries saved) are
listed apart and not counted as parameters.

A quantized checkpoint is compared name by name: the architecture's tensors are ``module.state_dict()`` of the meta
build; names that share one tensor, by identity or by the instance's ``all_tied_weights_keys``, form a tie group; the
model's ``_keys_to_ignore_on_load_missing``/``_unexpected`` patterns are honoured.

When fewer than half of the names match (another key layout: the original FLUX release, ComfyUI prefixes), the
check compares totals instead: the checkpoint's logical parameters against the architecture's stored elements.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import torch

from ..build import build_component_noting_unused
from ..count import buffer_counts, parameter_count
from ..errors import ConfigError
from ..results import LayerView, Result
from ..sources import ComponentSpec, resolve
from ..sources.hub import fetch_hub_model, parse_hub_spec
from ..taxonomy import classify
from .loaders import LoaderVerdict, as_loaded, base_class_fits, loader_verdict
from .quantization import TensorRole
from .summary import (
    CheckpointComponent,
    CheckpointKind,
    CheckpointReport,
    find_weights,
    folder_specs,
    summarize,
    summarize_weights,
)

__all__ = [
    "CheckReport",
    "ComponentCheck",
    "DtypeMismatch",
    "Layout",
    "ShapeMismatch",
    "check_checkpoint",
    "check_component",
    "compare_with_architecture",
]

SAFETENSORS_FLOAT_DTYPES = frozenset(
    {"F4", "F6_E2M3", "F6_E3M2", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ"}
)
SAFETENSORS_FLOAT_DTYPES |= {"F16", "BF16", "F32", "F64", "C64"}
OTHER_LAYOUT = "fewer than half of the tensor names match the architecture: another key layout, compared by totals"


class Layout(StrEnum):
    """How a component was compared: ``matching`` names one by one, ``other`` totals (another key layout),
    ``unchecked`` not at all (no config), ``no-weights`` (the architecture has tensors, the checkpoint none)."""

    MATCHING = "matching"
    OTHER = "other"
    UNCHECKED = "unchecked"
    NO_WEIGHTS = "no-weights"


@dataclass(frozen=True, slots=True, kw_only=True)
class ShapeMismatch(Result):
    """A stored tensor whose shape (or packed value count) is not the architecture's."""

    name: str
    expected: tuple[int, ...]
    found: tuple[int, ...]
    dtype: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DtypeMismatch(Result):
    """A stored dtype of the wrong kind: an integer or bool buffer stored as float, or a float tensor as integer
    in a checkpoint with no quantization format."""

    name: str
    expected: str
    found: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ComponentCheck(Result):
    """The verdict for one component (``layout``: how it was compared; ``ok``: whether it matches).

    ``ignored``: stored tensors the loader drops without complaint (mostly buffers that older libraries saved, e.g.
    ``embeddings.position_ids``); their ``ignored_elements`` are not in ``checkpoint_parameters``.
    """

    name: str
    class_name: str | None
    layout: Layout
    ok: bool = field(init=False)
    expected_tensors: int = 0
    found_tensors: int = 0
    matched: int = 0
    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    shapes: tuple[ShapeMismatch, ...] = ()
    dtypes: tuple[DtypeMismatch, ...] = ()
    architecture_parameters: int = 0
    checkpoint_parameters: int = 0
    ignored: tuple[str, ...] = ()
    ignored_elements: int = 0
    views: tuple[LayerView, ...] = ()
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.layout is Layout.MATCHING:
            ok = not (self.missing or self.unexpected or self.shapes or self.dtypes)
        elif self.layout is Layout.OTHER:
            ok = self.architecture_parameters == self.checkpoint_parameters
        else:
            ok = self.layout is Layout.UNCHECKED
        self._derive(ok=ok)


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckReport(Result):
    """What the checkpoint stores (headers) and whether each component matches its architecture."""

    ok: bool = field(init=False)
    checkpoint: CheckpointReport
    components: tuple[ComponentCheck, ...]

    def __post_init__(self) -> None:
        self._derive(ok=all(c.ok for c in self.components))

    def component(self, name: str) -> ComponentCheck | None:
        return next((c for c in self.components if c.name == name), None)


def _taxonomy_views(module: torch.nn.Module, names: frozenset[str]) -> tuple[LayerView, ...]:
    """The taxonomy's layer-type views of ``module`` when the checkpoint holds every parameter (a tied one under
    any of its names); ``()`` otherwise, since a partial checkpoint's tables would not be the architecture's."""
    held: dict[int, bool] = {}
    for name, parameter in module.named_parameters(remove_duplicate=False):
        held[id(parameter)] = held.get(id(parameter), False) or name in names
    return classify(module).views if all(held.values()) else ()


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
    # the instance's map only: transformers empties it for an untied config while the class keeps its declaration
    declared = getattr(module, "all_tied_weights_keys", None)
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


def _missing_unexpected(
    module: torch.nn.Module, expected: set[str], present: set[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The architecture's names the checkpoint lacks (a tie group counts as stored when any of its names is) and
    the checkpoint's names the architecture lacks, less the patterns the model tells ``from_pretrained`` to ignore."""
    ties = _tie_groups(module, expected)
    ignore_missing = _patterns(module, "_keys_to_ignore_on_load_missing")
    ignore_unexpected = _patterns(module, "_keys_to_ignore_on_load_unexpected")
    missing = sorted(
        n
        for n in expected - present
        if not (ties.get(n, frozenset()) & present) and not any(p.search(n) for p in ignore_missing)
    )
    unexpected = sorted(n for n in present - expected if not any(p.search(n) for p in ignore_unexpected))
    return tuple(missing), tuple(unexpected)


def _kind(dtype: torch.dtype) -> str:
    if dtype == torch.bool:
        return "bool"
    return "float" if dtype.is_floating_point or dtype.is_complex else "integer"


def _stored_kind(dtype: str) -> str:
    return "bool" if dtype == "BOOL" else "float" if dtype in SAFETENSORS_FLOAT_DTYPES else "integer"


def _stored_matches(role: TensorRole, tensor: torch.Tensor) -> tuple[bool, int]:
    """Whether the stored tensor holds the architecture's ``tensor``, and the logical values it then counts.

    A packed tensor matches by its number of values (its shape is the packing's), a ``U8`` tensor also as two 4-bit
    values per byte; any other by shape.
    """
    n = tensor.numel()
    if role.packing == "2 per uint8":  # odd sizes pad one 4-bit value
        ok = n in (role.parameters, role.parameters - 1)
    elif role.packing is not None:
        ok = n == role.parameters
    elif (
        role.dtype == "U8" and role.shape != tuple(tensor.shape) and n in (2 * role.parameters, 2 * role.parameters - 1)
    ):
        ok = True  # uint8 packing two 4-bit values
    else:
        ok = role.shape == tuple(tensor.shape)
    exact = ok and (role.packing is not None or role.dtype == "U8")
    return ok, n if exact else role.parameters


def _quantized(stored: CheckpointComponent) -> bool:
    """A quantized or packed checkpoint: compared by the rules of ``quantization`` (no loader would take it on an
    architecture built without its quantizer)."""
    return stored.quantization is not None or any(r.packing is not None or r.auxiliary for r in stored.roles)


def check_component(
    spec: ComponentSpec, module: torch.nn.Module, stored: CheckpointComponent, *, views: bool = False
) -> ComponentCheck:
    """Compare one component's header tensors with its meta-built module (``views``: with the taxonomy's layer-type
    tables of what the checkpoint holds).

    Unquantized checkpoints get the loader's own verdict (``loaders.loader_verdict``: renames, merges, ties, ignore
    patterns); quantized ones the name-by-name rules of ``quantization``.
    """
    roles = [r for r in stored.roles if not r.auxiliary]
    verdict = None
    if not _quantized(stored):
        tensors = {r.name: (r.dtype, r.shape) for r in roles}
        verdict = loader_verdict(spec, tensors, sharded=len(stored.files) > 1)
    if verdict is None:
        return _check_by_names(spec, module, stored, views=views)
    return _check_by_loader(spec, module, stored, verdict, views=views)


def _common(spec: ComponentSpec, module: torch.nn.Module, found: int, matched: int) -> dict[str, Any]:
    """What both layouts report."""
    return {
        "name": spec.name,
        "class_name": spec.class_name,
        "expected_tensors": len(module.state_dict()),
        "found_tensors": found,
        "matched": matched,
        "architecture_parameters": parameter_count(module) + buffer_counts(module).persistent,
    }


def _loader_notes(spec: ComponentSpec, verdict: LoaderVerdict, stored: Mapping[str, TensorRole]) -> tuple[str, ...]:
    notes: list[str] = []
    if verdict.renamed:
        first = next(iter(sorted(verdict.renamed.items())))
        notes.append(
            f"{len(verdict.renamed)} stored names are renamed or merged by the loader's conversion rules, "
            f"e.g. {first[0]} -> {first[1]}"
        )
    if verdict.ignored:
        elements = sum(stored[n].parameters for n in verdict.ignored)
        notes.append(
            f"stored but ignored by the loader: {len(verdict.ignored)} tensors, {elements:,} elements "
            f"({', '.join(verdict.ignored[:3])}{', ...' if len(verdict.ignored) > 3 else ''}): buffers or keys the "
            "class drops on load; not counted as parameters"
        )
    if verdict.not_stored:
        notes.append(
            f"not stored by design: {', '.join(verdict.not_stored[:3])}{', ...' if len(verdict.not_stored) > 3 else ''}"
            f" (the class tells the loader not to expect them; {verdict.class_name} recreates them)"
        )
    notes += [f"the loader cannot merge the stored tensors into {k}" for k in verdict.conversion_errors]
    notes += verdict.notes
    if verdict.raises:
        notes.append("a default from_pretrained raises on this checkpoint")
    if verdict.class_name != spec.class_name:
        notes.append(f"checked as {verdict.class_name}, the class the loader maps {spec.class_name} to")
    return tuple(notes)


def _check_by_loader(
    spec: ComponentSpec,
    module: torch.nn.Module,
    stored: CheckpointComponent,
    verdict: LoaderVerdict,
    *,
    views: bool,
) -> ComponentCheck:
    """The loader's verdict, plus what it does not say: dtype kinds, totals, the layer-type views."""
    roles = {r.name: r for r in stored.roles if not r.auxiliary}
    ignored = set(verdict.ignored)
    kept = {n: r for n, r in roles.items() if n not in ignored}
    unexpected = set(verdict.unexpected)
    named = {n: verdict.renamed.get(n, n) for n in kept}
    named = {n: m for n, m in named.items() if m not in unexpected and n not in unexpected}  # names that match
    mismatched = {k for k, _, _ in verdict.mismatched}
    loaded = {n: m for n, m in named.items() if m not in mismatched and n not in mismatched}  # and shapes too
    common = _common(spec, module, len(kept), len(named))
    common["ignored"] = tuple(sorted(ignored))
    common["ignored_elements"] = sum(roles[n].parameters for n in ignored)
    checkpoint_total = sum(r.parameters for r in kept.values())
    notes = (*stored.notes, *_loader_notes(spec, verdict, roles))
    if len(named) < 0.5 * min(common["expected_tensors"], len(kept)):
        return ComponentCheck(
            **common, layout=Layout.OTHER, checkpoint_parameters=checkpoint_total, notes=(*notes, OTHER_LAYOUT)
        )
    if not verdict.ok and (base := base_class_fits(spec, {n: (r.dtype, r.shape) for n, r in roles.items()})):
        notes = (*notes, f"the file fits {base} (the base model) exactly; {spec.class_name} adds the keys above")
    state = module.state_dict(keep_vars=True)
    by_model = {m: n for n, m in sorted(loaded.items(), reverse=True)}
    shapes = tuple(
        ShapeMismatch(name=k, expected=e, found=s, dtype=roles[by_model[k]].dtype if k in by_model else "")
        for k, s, e in verdict.mismatched
    )
    dtypes = tuple(
        DtypeMismatch(name=n, expected=_kind(state[m].dtype), found=kept[n].dtype)
        for n, m in sorted(loaded.items())
        if m in state and _kind(state[m].dtype) != _stored_kind(kept[n].dtype)
    )
    held = frozenset(loaded.values())
    return ComponentCheck(
        **common,
        layout=Layout.MATCHING,
        missing=verdict.missing,
        unexpected=verdict.unexpected,
        shapes=shapes,
        dtypes=dtypes,
        checkpoint_parameters=checkpoint_total,
        views=_taxonomy_views(module, held) if views else (),
        notes=notes,
    )


def _check_by_names(
    spec: ComponentSpec, module: torch.nn.Module, stored: CheckpointComponent, *, views: bool
) -> ComponentCheck:
    """A quantized checkpoint, name by name: packed tensors by their number of values, scales set aside."""
    state = module.state_dict(keep_vars=True)
    expected = set(state)
    roles = [r for r in stored.roles if not r.auxiliary]
    rename, rename_note = _rename(module, expected, {r.logical for r in roles})
    found = {rename(r.logical): r for r in roles}
    matched = expected & found.keys()
    common = _common(spec, module, len(found), len(matched))
    notes = (*stored.notes, *([rename_note] if rename_note else []))
    if len(matched) < 0.5 * min(len(expected), len(found)):
        return ComponentCheck(
            **common, layout=Layout.OTHER, checkpoint_parameters=stored.parameters, notes=(*notes, OTHER_LAYOUT)
        )
    missing, unexpected = _missing_unexpected(module, expected, set(found))
    shapes: list[ShapeMismatch] = []
    dtypes: list[DtypeMismatch] = []
    checkpoint_total = sum(found[n].parameters for n in found.keys() - expected)
    for name in sorted(matched):
        role, tensor = found[name], state[name]
        ok, logical = _stored_matches(role, tensor)
        if not ok:
            shapes.append(ShapeMismatch(name=name, expected=tuple(tensor.shape), found=role.shape, dtype=role.dtype))
        checkpoint_total += logical
        want_kind = _kind(tensor.dtype)
        if want_kind != _stored_kind(role.dtype) and not (want_kind == "float" and stored.quantization is not None):
            dtypes.append(DtypeMismatch(name=name, expected=want_kind, found=role.dtype))
    return ComponentCheck(
        **common,
        layout=Layout.MATCHING,
        missing=missing,
        unexpected=unexpected,
        shapes=tuple(shapes),
        dtypes=tuple(dtypes),
        checkpoint_parameters=checkpoint_total,
        views=_taxonomy_views(module, frozenset(matched)) if views else (),
        notes=notes,
    )


def _against_spec(against: str, name: str) -> ComponentSpec:
    """``MODEL[:COMPONENT]`` (MODEL: any source ``resolve`` reads): the architecture a lone checkpoint is compared
    with, under the checkpoint's component ``name``."""
    model, colon, component = against.rpartition(":")
    if not colon or "/" in component:  # no component named: the colon (if any) belongs to the model, e.g. hub:
        model, component = against, ""
    source = resolve(model)
    models = [c for c in source.components if c.config is not None]
    names = ", ".join(c.name for c in models)
    if not component:
        if len(models) != 1:
            raise ConfigError(f"{against}: has several components ({names}); name one as {model}:COMPONENT")
        return dataclasses.replace(models[0], name=name)
    spec = source.component(component)
    if spec.config is None:
        what = spec.class_name or component
        raise ConfigError(f"{against}: {what} has no parameters to compare; name a model component ({names})")
    return dataclasses.replace(spec, name=name)


def check_checkpoint(
    path: str | Path,
    *,
    against: str | None = None,
    views: bool = False,
    variant: str | None = None,
    trusted_libraries: Collection[str] = (),
) -> CheckReport:
    """Header counts of ``path`` and each component's verdict against the architecture its config (or
    ``against``: ``MODEL[:COMPONENT]``) describes. ``hub:ORG/NAME[@REV]`` reads the headers from the hub.
    ``views``: the taxonomy's layer-type tables of each fully stored component. ``variant``: read that weight
    variant (``model.fp16.safetensors``, ``model.safetensors.index.fp16.json``...); a folder holding only one
    variant is read as that variant, with a note. ``trusted_libraries``: see ``build.build_model``. Config keys a
    class does not take are an error here (the check would otherwise pass a config whose typo the class ignores).

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
        if variant is not None:
            raise ConfigError(
                f"{path}: --variant is for local folders; hub repositories are read by their default names"
            )
        return check_hub(str(path)[len("hub:") :], views=views, trusted_libraries=trusted_libraries)
    path = Path(path).expanduser()
    kind, parts, variant_notes = find_weights(path, variant)
    if against is None:
        specs = folder_specs(path, kind, parts)
    elif len(parts) != 1:
        raise ConfigError(f"{path}: --against compares one checkpoint; this holds {len(parts)}")
    else:
        specs = (_against_spec(against, next(iter(parts))),)
    report = summarize_weights(path, kind, parts, specs, variant_notes)
    return compare_with_architecture(report, specs, views=views, trusted_libraries=trusted_libraries)


def check_hub(spec: str, *, views: bool = False, trusted_libraries: Collection[str] = ()) -> CheckReport:
    """The same check for a hub repository: its configs and its safetensors headers, read by range requests."""
    repo, revision = parse_hub_spec(spec)
    hub = fetch_hub_model(repo, revision)
    components = tuple(
        summarize(w.component, w.headers, config=hub.source.component(w.component).config) for w in hub.weights
    )
    report = CheckpointReport(location=f"hub:{repo}@{hub.revision}", kind=CheckpointKind.HUB, components=components)
    return compare_with_architecture(report, hub.source.components, views=views, trusted_libraries=trusted_libraries)


def _without_safetensors(spec: ComponentSpec, module: torch.nn.Module) -> tuple[ComponentCheck, ...]:
    """A component with tensors but no safetensors weights: not checked when it has other weights (``.bin``: the
    loaders would read them, the check cannot), missing weights otherwise."""
    expected = parameter_count(module) + buffer_counts(module).persistent
    if not expected:
        return ()
    others = sorted(p.name for p in spec.weights if p.suffix != ".safetensors")
    if others:
        layout = Layout.UNCHECKED
        note = f"not checked: no safetensors weights ({', '.join(others[:2])}; convert to safetensors to check it)"
    else:
        layout, note = Layout.NO_WEIGHTS, "the architecture has tensors but no safetensors weights were found for it"
    return (
        ComponentCheck(
            name=spec.name,
            class_name=spec.class_name,
            layout=layout,
            expected_tensors=len(module.state_dict()),
            architecture_parameters=expected,
            notes=(note,),
        ),
    )


def compare_with_architecture(
    report: CheckpointReport,
    specs: Sequence[ComponentSpec],
    *,
    views: bool = False,
    trusted_libraries: Collection[str] = (),
) -> CheckReport:
    """Each component's stored tensors against the module its spec builds on meta; unmatched ones by header."""
    checks: list[ComponentCheck] = []
    seen: set[str] = set()
    for named in specs:
        spec, loaded_as = as_loaded(named)
        # a key the class does not take is reported, not refused: the loaders ignore it too (transformers' own
        # save_pretrained writes some), but a misspelled key counts the class default, so the user must see it
        module, unused = build_component_noting_unused(spec, trusted_libraries=trusted_libraries)
        if module is None:
            continue
        seen.add(spec.name)
        stored = report.component(spec.name)
        if stored is None:
            checks += _without_safetensors(spec, module)
            continue
        check = check_component(spec, module, stored, views=views)
        ignored = (
            f"config key(s) {', '.join(unused)} not taken by {spec.class_name}: ignored, as the loaders ignore them "
            "(a misspelling counts the class default instead)"
        )
        extra = tuple(note for note in (loaded_as, ignored if unused else None) if note)
        checks.append(dataclasses.replace(check, notes=(*extra, *check.notes)) if extra else check)
    for stored in report.components:
        if stored.name not in seen:
            note = "no config to compare with: counted by header only (give --against MODEL[:COMPONENT])"
            checks.append(
                ComponentCheck(
                    name=stored.name,
                    class_name=None,
                    layout=Layout.UNCHECKED,
                    found_tensors=stored.tensors - stored.auxiliary_tensors,
                    checkpoint_parameters=stored.parameters,
                    notes=(*stored.notes, note),
                )
            )
    return CheckReport(checkpoint=report, components=tuple(checks))
