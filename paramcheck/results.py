"""Immutable results that round-trip to JSON, and the one serializer they all share.

Counts are ``int``; MB, shares and dtype sizes are computed when rendering, never stored. Every result is a frozen
dataclass deriving from ``Result``: ``to_dict`` writes its fields in declaration order (tuples as lists, nested
results as objects, enums as their values); ``from_dict`` reads that back from the type hints. A derived figure that
belongs in the JSON is a field too, ``field(init=False)`` set in ``__post_init__``: computed once, written where it is
declared, recomputed (not read) by ``from_dict``. A field's metadata may rename it (``key``), leave it out when empty
(``omit_empty``) or give it another JSON shape (``encode``/``decode``, e.g. ``pairs()`` for ``((key, value), ...)``).
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import Any, Self

__all__ = [
    "SCHEMA_VERSION",
    "CategoryCount",
    "ComponentCounts",
    "LayerRecord",
    "LayerView",
    "ModelReport",
    "Result",
    "SourceInfo",
    "SourceKind",
    "TiedGroup",
    "View",
    "json_field",
    "pairs",
    "to_plain",
]

SCHEMA_VERSION = 1


class View(StrEnum):
    """The three layer-type views, each an exact partition of a component's parameters."""

    LEAF = "leaf"
    ROLE = "role"
    CONTAINER = "container"


class SourceKind(StrEnum):
    """Where a model came from."""

    BUNDLED = "bundled"
    FOLDER = "folder"
    CHECKPOINT = "checkpoint"
    HUB = "hub"


# --- the serializer ---------------------------------------------------------------------------------------------------


def to_plain(value: Any) -> Any:
    """A result, tuple, mapping or enum as plain JSON values."""
    if isinstance(value, Result):
        return value.to_dict()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [to_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    return value


def json_field(*, key: str | None = None, omit_empty: bool = False, **kwargs: Any) -> Any:
    """``dataclasses.field`` with JSON metadata: another ``key``, or left out when empty (``omit_empty``)."""
    metadata: dict[str, Any] = {"omit_empty": omit_empty}
    if key is not None:
        metadata["key"] = key
    return field(metadata=metadata, **kwargs)


def _pairs_encode(value: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    return {str(k): to_plain(v) for k, v in value}


def _pairs_decode(value: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple((str(k), v) for k, v in value.items())


def pairs(**kwargs: Any) -> Any:
    """A field holding ``((key, value), ...)``, written as a JSON object."""
    return field(metadata={"encode": _pairs_encode, "decode": _pairs_decode}, **kwargs)


@cache
def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _read(tp: Any, value: Any) -> Any:
    """``value`` read as type ``tp``: unions with None, homogeneous and fixed tuples, results, enums, numbers."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return _read(options[0], value) if len(options) == 1 else value
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_read(args[0], v) for v in value)
        return tuple(_read(a, v) for a, v in zip(args, value, strict=True))
    if isinstance(tp, type) and issubclass(tp, Result):
        return tp.from_dict(value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if tp is int:
        return int(value)
    if tp is float:
        return float(value)
    if tp is bool:
        return bool(value)
    return value


class Result:
    """Base of every result: one ``to_dict``/``from_dict`` for all, driven by the dataclass fields."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """The fields in declaration order, as plain JSON values."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.metadata.get("omit_empty") and not value:
                continue
            encode: Callable[[Any], Any] = f.metadata.get("encode", to_plain)
            out[f.metadata.get("key", f.name)] = encode(value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The result ``to_dict`` wrote, read back; missing keys take the field's default."""
        hints = _hints(typing.cast(Any, cls))
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            key = f.metadata.get("key", f.name)
            if not f.init or key not in data:
                continue
            decode = f.metadata.get("decode")
            raw = decode(data[key]) if decode is not None else data[key]
            kwargs[f.name] = _read(hints[f.name], raw)
        return cls(**kwargs)

    def _derive(self, **values: Any) -> None:
        """Set ``init=False`` fields from ``__post_init__`` (the dataclass is frozen)."""
        for name, value in values.items():
            object.__setattr__(self, name, value)


# --- the counting results ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TiedGroup(Result):
    """Parameter names that share one tensor; it is counted once, under ``names[0]``."""

    names: tuple[str, ...]
    parameters: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CategoryCount(Result):
    """One row of a layer-type view: a category, the parameters attributed to it, how many layers hold them."""

    category: str
    parameters: int
    layers: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerView(Result):
    """A partition of a component's parameters by one classification (``leaf``, ``role`` or ``container``)."""

    view: str
    rows: tuple[CategoryCount, ...]

    @property
    def parameters(self) -> int:
        return sum(row.parameters for row in self.rows)

    def row(self, category: str) -> CategoryCount | None:
        return next((row for row in self.rows if row.category == category), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerRecord(Result):
    """One module of the per-layer listing: its parameters (own and below) and its category."""

    name: str
    class_name: str
    parameters: int
    category: str
    depth: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ComponentCounts(Result):
    """Counts of one pipeline component.

    ``parameters`` counts every distinct parameter tensor once (tied ones too); ``tied`` names the groups that
    share a tensor. ``persistent_buffers`` are saved in checkpoints, ``non_persistent_buffers`` are not, so
    ``stored`` is what a checkpoint of the component holds; ``tied_parameters`` are the elements that ties save
    (what a naive count that ignores ties would add). ``unused_config_keys`` are keys of the component's config
    the class does not take (ignored by the library, so a misspelt key counts the class default); left out of the
    JSON when there are none.
    """

    name: str
    library: str | None
    class_name: str | None
    parameters: int
    persistent_buffers: int = 0
    non_persistent_buffers: int = 0
    stored: int = field(init=False)
    tied_parameters: int = field(init=False)
    tied: tuple[TiedGroup, ...] = ()
    views: tuple[LayerView, ...] = ()
    layers: tuple[LayerRecord, ...] = json_field(omit_empty=True, default=())
    unused_config_keys: tuple[str, ...] = json_field(omit_empty=True, default=())

    def __post_init__(self) -> None:
        self._derive(
            stored=self.parameters + self.persistent_buffers,
            tied_parameters=sum(group.parameters * (len(group.names) - 1) for group in self.tied),
        )

    def view(self, name: str) -> LayerView | None:
        return next((view for view in self.views if view.view == name), None)

    @property
    def unused_keys_note(self) -> str | None:
        """The report's note on config keys the class does not take (``None`` when there are none)."""
        if not self.unused_config_keys:
            return None
        keys = ", ".join(self.unused_config_keys)
        return (
            f"{self.name}: {self.class_name} does not take config key(s) {keys}; they were ignored "
            "(a misspelling counts the class default instead)"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceInfo(Result):
    """Where a model came from: ``bundled``, ``folder``, ``checkpoint`` or ``hub``, and whether weights were read."""

    kind: SourceKind
    location: str
    revision: str | None = None
    weights: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelReport(Result):
    """Counts of every component of one model, with the caveats that apply to them."""

    model: str
    source: SourceInfo
    device: str
    parameters: int = field(init=False)
    stored: int = field(init=False)
    components: tuple[ComponentCounts, ...]
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self._derive(
            parameters=sum(c.parameters for c in self.components),
            stored=sum(c.stored for c in self.components),
        )

    def component(self, name: str) -> ComponentCounts | None:
        return next((c for c in self.components if c.name == name), None)
