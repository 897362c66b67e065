"""Modules -> counts: every distinct parameter once, ties named, buffers split by whether checkpoints hold them.

``count_component`` counts one module and adds its layer-type views (``taxonomy.classify``); ``count_model`` turns a
``BuiltModel`` into a ``ModelReport``; ``audit`` resolves a model, builds it on meta and counts it in one call.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from .build import BuiltModel, Progress, build_model
from .devices import META_NOTE
from .results import ComponentCounts, ModelReport, TiedGroup
from .sources import ComponentSpec, ModelSource, resolve
from .taxonomy import classify

if TYPE_CHECKING:
    from .taxonomy import Taxonomy

__all__ = [
    "BufferCounts",
    "audit",
    "buffer_counts",
    "count_component",
    "count_model",
    "parameter_count",
    "tied_groups",
]


def parameter_count(module: torch.nn.Module) -> int:
    """Elements of every distinct parameter tensor (a tied tensor once)."""
    return sum(p.numel() for p in module.parameters())  # parameters() yields each tensor once


def tied_groups(module: torch.nn.Module) -> tuple[TiedGroup, ...]:
    """Groups of parameter names that share one tensor, in module order; the first name is the one counted."""
    names: dict[int, list[str]] = {}
    sizes: dict[int, int] = {}
    for name, param in module.named_parameters(remove_duplicate=False):
        names.setdefault(id(param), []).append(name)
        sizes[id(param)] = param.numel()
    return tuple(TiedGroup(names=tuple(group), parameters=sizes[key]) for key, group in names.items() if len(group) > 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class BufferCounts:
    """Buffer elements, each distinct tensor once, split by whether checkpoints hold them."""

    persistent: int
    non_persistent: int


def buffer_counts(module: torch.nn.Module) -> BufferCounts:
    """Buffer elements split by whether ``state_dict`` (and so a checkpoint) holds them."""
    seen: set[int] = set()
    persistent = non_persistent = 0
    for sub in module.modules():
        for name, buffer in sub._buffers.items():
            if buffer is None or id(buffer) in seen:
                continue
            seen.add(id(buffer))
            if name in sub._non_persistent_buffers_set:
                non_persistent += buffer.numel()
            else:
                persistent += buffer.numel()
    return BufferCounts(persistent=persistent, non_persistent=non_persistent)


def count_component(
    spec: ComponentSpec,
    module: torch.nn.Module | None,
    *,
    layers: bool = False,
    taxonomy: Taxonomy | None = None,
    unused_config_keys: tuple[str, ...] = (),
) -> ComponentCounts:
    """Counts of one component with its layer-type views (and, with ``layers``, one record per module).

    A component with no module (scheduler, tokenizer) counts zero. ``unused_config_keys`` (from
    ``BuiltModel.unused``) are carried into the counts.
    """
    if module is None:
        return ComponentCounts(name=spec.name, library=spec.library, class_name=spec.class_name, parameters=0)
    buffers = buffer_counts(module)
    classification = classify(module, taxonomy, records=layers)
    return ComponentCounts(
        name=spec.name,
        library=spec.library,
        class_name=spec.class_name,
        parameters=parameter_count(module),
        persistent_buffers=buffers.persistent,
        non_persistent_buffers=buffers.non_persistent,
        tied=tied_groups(module),
        views=classification.views,
        layers=classification.records,
        unused_config_keys=unused_config_keys,
    )


def count_model(built: BuiltModel, *, layers: bool = False, taxonomy: Taxonomy | None = None) -> ModelReport:
    """The report of a built model: one ``ComponentCounts`` per component, in pipeline order, and a note for each
    component whose config has keys its class does not take."""
    components = tuple(
        count_component(
            spec,
            built.modules[spec.name],
            layers=layers,
            taxonomy=taxonomy,
            unused_config_keys=built.unused.get(spec.name, ()),
        )
        for spec in built.source.components
    )
    notes = (*built.source.notes, *(c.unused_keys_note for c in components if c.unused_keys_note))
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
    trusted_libraries: Collection[str] = (),
    strict: bool = False,
) -> ModelReport:
    """Resolve, build on meta and count: the one call most users need.

    ``trusted_libraries`` names libraries besides diffusers and transformers whose classes the model may name
    (imported and built: trust them as you would ``trust_remote_code``); ``strict`` makes config keys a class does
    not take an error instead of a note (see ``build_model``).

    >>> audit("flux.1-dev", components=["transformer"]).parameters
    11901408320
    """
    source = resolve(model) if isinstance(model, str) else model
    built = build_model(
        source, components=components, progress=progress, trusted_libraries=trusted_libraries, strict=strict
    )
    return count_model(built, layers=layers, taxonomy=taxonomy)
