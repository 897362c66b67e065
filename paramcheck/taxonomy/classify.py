"""``classify``: a built module's parameters into the three layer-type views, by the ordered rules."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

import torch

from ..results import CategoryCount, LayerRecord, LayerView
from .rules import VIEWS, Node, Taxonomy, default_taxonomy

__all__ = ["Classification", "classify"]


@cache
def _class_names(cls: type) -> tuple[str, ...]:
    """The class and its ``nn.Module`` bases, without mixins (``AttentionMixin`` is no attention layer)."""
    return tuple(
        c.__name__
        for c in cls.__mro__
        if issubclass(c, torch.nn.Module) and c is not torch.nn.Module and not c.__name__.endswith("Mixin")
    )


def _library(cls: type) -> str:
    return cls.__module__.partition(".")[0]


@dataclass(frozen=True, slots=True)
class _Resolved:
    category: str
    unit: str  # the module (or parameter) that counts as one layer of the category


@dataclass(frozen=True, slots=True, kw_only=True)
class Classification:
    """The three views of one module, and (when asked) one record per module below it."""

    views: tuple[LayerView, ...]
    records: tuple[LayerRecord, ...] = ()


@dataclass(slots=True)
class _Tally:
    parameters: dict[str, int] = field(default_factory=dict)
    units: dict[str, set[str]] = field(default_factory=dict)

    def add(self, resolved: _Resolved, count: int) -> None:
        self.parameters[resolved.category] = self.parameters.get(resolved.category, 0) + count
        self.units.setdefault(resolved.category, set()).add(resolved.unit)

    def unit(self, resolved: _Resolved) -> None:
        self.parameters.setdefault(resolved.category, 0)
        self.units.setdefault(resolved.category, set()).add(resolved.unit)

    def view(self, name: str, order: Sequence[str]) -> LayerView:
        rank = {id: i for i, id in enumerate(order)}
        rows = sorted(self.parameters, key=lambda c: (-self.parameters[c], rank.get(c, len(rank))))
        return LayerView(
            view=name,
            rows=tuple(
                CategoryCount(category=c, parameters=self.parameters[c], layers=len(self.units[c])) for c in rows
            ),
        )


def _walk(
    module: torch.nn.Module, path: str, attr: str, enclosing: tuple[str, ...], seen: set[int]
) -> Iterator[tuple[torch.nn.Module, Node, str]]:
    """Pre-order walk yielding each distinct module once (first path), with its node and parent path."""
    seen.add(id(module))
    children = [(name, child) for name, child in module._modules.items() if child is not None]
    cls = type(module)
    node = Node(
        path=path,
        attr=attr,
        classes=_class_names(cls),  # type: ignore[arg-type]  # classes hash
        library=_library(cls),
        is_leaf=not children,
        child_classes=tuple(type(child).__name__ for _, child in children),
        enclosing=enclosing,
    )
    yield module, node, path
    inner = (*enclosing, *node.classes)
    for name, child in children:
        if id(child) in seen:
            continue
        yield from _walk(child, f"{path}.{name}" if path else name, name, inner, seen)


def _parent(path: str) -> str:
    return path.rpartition(".")[0]


def classify(module: torch.nn.Module, taxonomy: Taxonomy | None = None, *, records: bool = False) -> Classification:
    """The leaf, role and container views of ``module`` (each sums to its distinct parameter count)."""
    taxonomy = taxonomy or default_taxonomy()
    module_rules = {view: taxonomy.view_rules(view, parameters=False) for view in VIEWS}
    parameter_rules = {view: taxonomy.view_rules(view, parameters=True) for view in VIEWS}
    order = [c.id for c in taxonomy.categories]
    tallies = {view: _Tally() for view in VIEWS}
    resolved: dict[str, dict[str, _Resolved | None]] = {"role": {}, "container": {}}
    seen_parameters: set[int] = set()
    owned: dict[str, int] = {}  # parameters held directly, per module path
    listing: list[tuple[str, str, int]] = []  # (path, class, depth) in pre-order
    categories: dict[str, str] = {}

    def first(view: str, node: Node, parameter: str | None = None) -> str | None:
        rules = parameter_rules[view] if parameter is not None else module_rules[view]
        return next((r.category for r in rules if r.matches(node, parameter)), None)

    for sub, node, path in _walk(module, "", "", (), set()):
        leaf_category = first("leaf", node) if node.is_leaf else None
        for view in ("role", "container"):
            inherited = resolved[view].get(_parent(path)) if path else None
            own = first(view, node)
            if own is None:
                current = inherited
            elif inherited is not None and inherited.category == own:
                current = inherited  # same kind nested: one layer (T5LayerSelfAttention > T5Attention)
            else:
                current = _Resolved(own, path)
            resolved[view][path] = current
            if own is not None and path and current is not None:
                tallies[view].unit(current)
        if node.is_leaf and leaf_category is not None and leaf_category != "other":
            tallies["leaf"].unit(_Resolved(leaf_category, path))
        own_total = 0
        for name, parameter in sub._parameters.items():
            if parameter is None or id(parameter) in seen_parameters:
                continue
            seen_parameters.add(id(parameter))
            count = parameter.numel()
            own_total += count
            full = f"{path}.{name}" if path else name
            if node.is_leaf:
                leaf = _Resolved(leaf_category or "other", path)
            else:
                leaf = _Resolved(first("leaf", node, name) or "direct", full)
            tallies["leaf"].add(leaf, count)
            role_category = first("role", node, name)
            role = _Resolved(role_category, full) if role_category else resolved["role"][path] or leaf
            tallies["role"].add(role, count)
            container = resolved["container"][path] or _Resolved("outside", path if node.is_leaf else full)
            tallies["container"].add(container, count)
        if records and path:
            owned[path] = own_total
            listing.append((path, type(sub).__name__, path.count(".") + 1))
            own_container = resolved["container"][path]
            role_here = resolved["role"][path]
            if own_container is not None and own_container.unit == path:
                categories[path] = own_container.category
            elif role_here is not None:
                categories[path] = role_here.category
            elif node.is_leaf:
                categories[path] = leaf_category or "other"
            else:
                categories[path] = ""
        elif records:
            owned[""] = own_total

    views = tuple(tallies[view].view(view, order) for view in VIEWS)
    if not records:
        return Classification(views=views)
    totals = _subtree_totals(owned)
    return Classification(
        views=views,
        records=tuple(
            LayerRecord(name=p, class_name=cls, parameters=totals[p], category=categories[p], depth=depth)
            for p, cls, depth in listing
        ),
    )


def _subtree_totals(owned: Mapping[str, int]) -> dict[str, int]:
    """Own parameters plus those of every module below, from per-module own counts keyed by path."""
    totals = dict(owned)
    for path in sorted(owned, key=lambda p: -p.count(".") if p else 1):
        if not path:
            continue
        parent = _parent(path)
        if parent in totals:
            totals[parent] += totals[path]
    return totals
