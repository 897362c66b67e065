"""Source -> built modules -> counted report. Each component is built once and counted from that build."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

import torch

from .build import build_component
from .count import buffer_counts, parameter_count, tied_groups
from .results import ComponentCounts, ModelReport
from .sources import ComponentSpec, ModelSource, resolve

if TYPE_CHECKING:
    from .taxonomy import Taxonomy

__all__ = ["BuiltModel", "audit", "build_model", "count_component", "count_model"]

META_NOTE = "config only: counted on the meta device, no weights read"

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class BuiltModel:
    """A source with each component's module (``None`` for schedulers, tokenizers and other non-modules)."""

    source: ModelSource
    modules: Mapping[str, torch.nn.Module | None] = field(compare=False)
    device: str

    def module(self, name: str) -> torch.nn.Module | None:
        if name not in self.modules:
            self.source.component(name)  # raises with the list of components
        return self.modules[name]


def build_model(
    source: ModelSource,
    *,
    components: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> BuiltModel:
    """Build every component (or those named) on the meta device."""
    specs = source.components
    if components is not None:
        specs = tuple(source.component(name) for name in components)
    modules: dict[str, torch.nn.Module | None] = {}
    for spec in specs:
        if progress is not None:
            progress(spec.name)
        modules[spec.name] = build_component(spec)
    subset = ModelSource(model=source.model, info=source.info, components=specs, notes=source.notes)
    return BuiltModel(source=subset, modules=MappingProxyType(modules), device="meta")


def count_component(
    spec: ComponentSpec,
    module: torch.nn.Module | None,
    *,
    layers: bool = False,
    taxonomy: Taxonomy | None = None,
) -> ComponentCounts:
    """Counts of one component with its layer-type views (and, with ``layers``, one record per module).

    A component with no module (scheduler, tokenizer) counts zero.
    """
    from .taxonomy import classify

    if module is None:
        return ComponentCounts(name=spec.name, library=spec.library, class_name=spec.class_name, parameters=0)
    buffers = buffer_counts(module)
    classification = classify(module, taxonomy, records=layers)
    counts = ComponentCounts(
        name=spec.name,
        library=spec.library,
        class_name=spec.class_name,
        parameters=parameter_count(module),
        persistent_buffers=buffers.persistent,
        non_persistent_buffers=buffers.non_persistent,
        tied=tied_groups(module),
        views=classification.views,
        layers=classification.records,
    )
    return counts


def count_model(built: BuiltModel, *, layers: bool = False, taxonomy: Taxonomy | None = None) -> ModelReport:
    """The report of a built model: one ``ComponentCounts`` per component, in pipeline order."""
    components = tuple(
        count_component(spec, built.modules[spec.name], layers=layers, taxonomy=taxonomy)
        for spec in built.source.components
    )
    notes = built.source.notes
    if built.device == "meta":
        notes = (META_NOTE, *notes)
    return ModelReport(
        model=built.source.model,
        source=built.source.info,
        device=built.device,
        components=components,
        notes=notes,
    )


def audit(
    model: str | ModelSource,
    *,
    components: Sequence[str] | None = None,
    layers: bool = False,
    progress: Progress | None = None,
    taxonomy: Taxonomy | None = None,
) -> ModelReport:
    """Resolve, build on meta and count: the one call most users need."""
    source = resolve(model) if isinstance(model, str) else model
    built = build_model(source, components=components, progress=progress)
    return count_model(built, layers=layers, taxonomy=taxonomy)
