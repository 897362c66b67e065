"""Immutable results that round-trip to JSON.

Counts are ``int``; MB, shares and dtype sizes are computed when rendering, never stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SCHEMA_VERSION",
    "CategoryCount",
    "ComponentCounts",
    "LayerRecord",
    "LayerView",
    "ModelReport",
    "SourceInfo",
    "TiedGroup",
]

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class TiedGroup:
    """Parameter names that share one tensor; it is counted once, under ``names[0]``."""

    names: tuple[str, ...]
    parameters: int

    def to_dict(self) -> dict[str, Any]:
        return {"names": list(self.names), "parameters": self.parameters}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TiedGroup:
        return cls(names=tuple(data["names"]), parameters=int(data["parameters"]))


@dataclass(frozen=True, slots=True, kw_only=True)
class CategoryCount:
    """One row of a layer-type view: a category, the parameters attributed to it, how many layers hold them."""

    category: str
    parameters: int
    layers: int

    def to_dict(self) -> dict[str, Any]:
        return {"category": self.category, "parameters": self.parameters, "layers": self.layers}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoryCount:
        return cls(category=data["category"], parameters=int(data["parameters"]), layers=int(data["layers"]))


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerView:
    """A partition of a component's parameters by one classification (``leaf``, ``role`` or ``container``)."""

    view: str
    rows: tuple[CategoryCount, ...]

    @property
    def parameters(self) -> int:
        return sum(row.parameters for row in self.rows)

    def row(self, category: str) -> CategoryCount | None:
        return next((row for row in self.rows if row.category == category), None)

    def to_dict(self) -> dict[str, Any]:
        return {"view": self.view, "rows": [row.to_dict() for row in self.rows]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerView:
        return cls(view=data["view"], rows=tuple(CategoryCount.from_dict(r) for r in data["rows"]))


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerRecord:
    """One module of the per-layer listing: its parameters (own and below) and its category."""

    name: str
    class_name: str
    parameters: int
    category: str
    depth: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "class_name": self.class_name,
            "parameters": self.parameters,
            "category": self.category,
            "depth": self.depth,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerRecord:
        return cls(
            name=data["name"],
            class_name=data["class_name"],
            parameters=int(data["parameters"]),
            category=data["category"],
            depth=int(data["depth"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ComponentCounts:
    """Counts of one pipeline component.

    ``parameters`` counts every distinct parameter tensor once (tied ones too); ``tied`` names the groups that
    share a tensor. ``persistent_buffers`` are saved in checkpoints, ``non_persistent_buffers`` are not, so
    ``stored`` is what a checkpoint of the component holds.
    """

    name: str
    library: str | None
    class_name: str | None
    parameters: int
    persistent_buffers: int = 0
    non_persistent_buffers: int = 0
    tied: tuple[TiedGroup, ...] = ()
    views: tuple[LayerView, ...] = ()
    layers: tuple[LayerRecord, ...] = ()

    @property
    def stored(self) -> int:
        return self.parameters + self.persistent_buffers

    @property
    def tied_parameters(self) -> int:
        """Elements that ties save: what a naive count that ignores ties would add."""
        return sum(group.parameters * (len(group.names) - 1) for group in self.tied)

    def view(self, name: str) -> LayerView | None:
        return next((view for view in self.views if view.view == name), None)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "library": self.library,
            "class_name": self.class_name,
            "parameters": self.parameters,
            "persistent_buffers": self.persistent_buffers,
            "non_persistent_buffers": self.non_persistent_buffers,
            "stored": self.stored,
            "tied_parameters": self.tied_parameters,
            "tied": [group.to_dict() for group in self.tied],
            "views": [view.to_dict() for view in self.views],
        }
        if self.layers:
            data["layers"] = [layer.to_dict() for layer in self.layers]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ComponentCounts:
        return cls(
            name=data["name"],
            library=data.get("library"),
            class_name=data.get("class_name"),
            parameters=int(data["parameters"]),
            persistent_buffers=int(data.get("persistent_buffers", 0)),
            non_persistent_buffers=int(data.get("non_persistent_buffers", 0)),
            tied=tuple(TiedGroup.from_dict(g) for g in data.get("tied", ())),
            views=tuple(LayerView.from_dict(v) for v in data.get("views", ())),
            layers=tuple(LayerRecord.from_dict(r) for r in data.get("layers", ())),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceInfo:
    """Where a model came from: ``bundled``, ``folder``, ``checkpoint`` or ``hub``, and whether weights were read."""

    kind: str
    location: str
    revision: str | None = None
    weights: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "location": self.location, "revision": self.revision, "weights": self.weights}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SourceInfo:
        return cls(
            kind=data["kind"],
            location=data["location"],
            revision=data.get("revision"),
            weights=bool(data.get("weights", False)),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelReport:
    """Counts of every component of one model, with the caveats that apply to them."""

    model: str
    source: SourceInfo
    device: str
    components: tuple[ComponentCounts, ...]
    notes: tuple[str, ...] = ()

    @property
    def parameters(self) -> int:
        return sum(c.parameters for c in self.components)

    @property
    def stored(self) -> int:
        return sum(c.stored for c in self.components)

    def component(self, name: str) -> ComponentCounts | None:
        return next((c for c in self.components if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "source": self.source.to_dict(),
            "device": self.device,
            "parameters": self.parameters,
            "stored": self.stored,
            "components": [c.to_dict() for c in self.components],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelReport:
        return cls(
            model=data["model"],
            source=SourceInfo.from_dict(data["source"]),
            device=data["device"],
            components=tuple(ComponentCounts.from_dict(c) for c in data["components"]),
            notes=tuple(data.get("notes", ())),
        )
