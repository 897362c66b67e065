"""``classify``: a built module's parameters placed in the three layer-type views by the ordered rules.

The steps, each a function below:

1. ``_modules``: every distinct module once (its first path, in pre-order) with the layer it belongs to in the
   role and container views: the nearest module at or above it that a rule of the view names. A module named
   with the category of the layer it is already in stays in that layer (``T5LayerSelfAttention > T5Attention``
   is one attention layer). A layer is identified by the path of the module (or parameter) it stands for.
2. ``_placements``: every distinct parameter once (a tied tensor under its first name), placed in one layer per
   view:

   - ``leaf``: held by a leaf module -> the first leaf rule naming that module (``other`` if none), one layer per
     module; held directly by a module with children -> a leaf rule naming the parameter, else ``direct``, one
     layer per parameter.
   - ``role``: a role rule naming the parameter -> that category, one layer per parameter; else the module's
     role layer; else the parameter's leaf placement.
   - ``container``: the module's container layer; else ``outside`` (one layer per leaf module, or per parameter
     held directly by a module with children).
3. ``_view``: a view is a tally of the placements, categories ordered by parameters (most first), ties in the
   taxonomy's order. Its ``layers`` count distinct layers: those holding parameters, and those a rule names even
   without any: a leaf module with a leaf category other than ``other`` (an activation), and each non-root module
   a role or container rule names.
4. ``_records`` (with ``records=True``): one ``LayerRecord`` per module below the root, its parameters summed over
   its subtree (prefix sums over the placed parameters' names, as fvcore and accelerate total module sizes). Its
   category: the container's when the module is a container layer itself, else its role layer's, else (leaf
   modules) its leaf category, else empty.

Each view therefore sums to the module's distinct parameter count.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from ..results import CategoryCount, LayerRecord, LayerView, View
from .rules import Node, Rule, Taxonomy, default_taxonomy

if TYPE_CHECKING:  # classify is handed modules: torch is imported by then, and the layer-type rules load without it
    import torch

__all__ = ["Classification", "classify"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Classification:
    """The three views of one module, and (when asked) one record per module below it."""

    views: tuple[LayerView, ...]
    records: tuple[LayerRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class _Layer:
    """One layer of a category, identified by the path of the module (or parameter) that counts as the layer."""

    category: str
    path: str


@dataclass(frozen=True, slots=True, kw_only=True)
class _Module:
    """A distinct module and what the rules say of it."""

    node: Node
    class_name: str
    parameters: tuple[tuple[str, torch.nn.Parameter], ...]  # held directly
    leaf_category: str | None  # leaf modules: the first leaf rule's category
    role: _Layer | None  # the layer of the nearest module at or above it that a role rule names
    container: _Layer | None  # the same for container rules
    named: Mapping[View, _Layer]  # the layers it counts as, with or without parameters

    @property
    def path(self) -> str:
        return self.node.path


@dataclass(frozen=True, slots=True, kw_only=True)
class _Placement:
    """One distinct parameter: its qualified name, its size and its layer in each view."""

    name: str
    size: int
    layers: Mapping[View, _Layer]


@dataclass(frozen=True, slots=True)
class _Rules:
    """A taxonomy's rules split by view and by what they name: the first match gives the category."""

    for_modules: Mapping[View, tuple[Rule, ...]]
    for_parameters: Mapping[View, tuple[Rule, ...]]

    @classmethod
    def of(cls, taxonomy: Taxonomy) -> _Rules:
        return cls(
            {view: taxonomy.view_rules(view, parameters=False) for view in View},
            {view: taxonomy.view_rules(view, parameters=True) for view in View},
        )

    def module_category(self, view: View, node: Node) -> str | None:
        return next((rule.category for rule in self.for_modules[view] if rule.matches(node)), None)

    def parameter_category(self, view: View, node: Node, parameter: str) -> str | None:
        return next((rule.category for rule in self.for_parameters[view] if rule.matches(node, parameter)), None)


def classify(module: torch.nn.Module, taxonomy: Taxonomy | None = None, *, records: bool = False) -> Classification:
    """The leaf, role and container views of ``module`` (each sums to its distinct parameter count).

    With ``records``, also one record per module below ``module``: its parameters (own and below) and category.

    >>> from torch import nn
    >>> mlp = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 4))  # 4*8 + 8 + 8*4 + 4 = 76
    >>> [(row.category, row.parameters, row.layers) for row in classify(mlp).views[0].rows]
    [('linear', 76, 2), ('activation', 0, 1)]
    """
    taxonomy = taxonomy or default_taxonomy()
    rules = _Rules.of(taxonomy)
    modules = _modules(module, rules)
    placements = tuple(_placements(modules, rules))
    order = tuple(category.id for category in taxonomy.categories)
    views = tuple(_view(view, modules, placements, order) for view in View)
    return Classification(views=views, records=_records(modules, placements) if records else ())


# --- 1. modules -------------------------------------------------------------------------------------------------------


@cache
def _class_names(cls: type) -> tuple[str, ...]:
    """The class and its ``nn.Module`` bases, without mixins (``AttentionMixin`` is no attention layer)."""
    import torch

    return tuple(
        c.__name__
        for c in cls.__mro__
        if issubclass(c, torch.nn.Module) and c is not torch.nn.Module and not c.__name__.endswith("Mixin")
    )


def _walk(
    module: torch.nn.Module, path: str, attr: str, enclosing: tuple[str, ...], seen: set[int]
) -> Iterator[tuple[torch.nn.Module, Node]]:
    """Pre-order walk yielding each distinct module once (at its first path) with what a rule can see of it."""
    seen.add(id(module))
    children = [(name, child) for name, child in module._modules.items() if child is not None]
    cls = type(module)
    node = Node(
        path=path,
        attr=attr,
        classes=_class_names(cls),  # type: ignore[arg-type]  # classes hash
        library=cls.__module__.partition(".")[0],
        is_leaf=not children,
        child_classes=tuple(type(child).__name__ for _, child in children),
        enclosing=enclosing,
    )
    yield module, node
    inner = (*enclosing, *node.classes)
    for name, child in children:
        if id(child) not in seen:
            yield from _walk(child, f"{path}.{name}" if path else name, name, inner, seen)


def _modules(root: torch.nn.Module, rules: _Rules) -> tuple[_Module, ...]:
    """Every distinct module with its leaf category and its role and container layers (see the module doc)."""
    out: dict[str, _Module] = {}
    for module, node in _walk(root, "", "", (), set()):
        parent = out[node.path.rpartition(".")[0]] if node.path else None
        leaf_category = rules.module_category(View.LEAF, node) if node.is_leaf else None
        leaf = _Layer(leaf_category, node.path) if leaf_category not in (None, "other") else None
        role, named_role = _enclosing(View.ROLE, node, parent.role if parent else None, rules)
        container, named_container = _enclosing(View.CONTAINER, node, parent.container if parent else None, rules)
        named = {View.LEAF: leaf, View.ROLE: named_role, View.CONTAINER: named_container}
        out[node.path] = _Module(
            node=node,
            class_name=type(module).__name__,
            parameters=tuple((name, p) for name, p in module._parameters.items() if p is not None),
            leaf_category=leaf_category,
            role=role,
            container=container,
            named={view: layer for view, layer in named.items() if layer is not None},
        )
    return tuple(out.values())


def _enclosing(view: View, node: Node, inherited: _Layer | None, rules: _Rules) -> tuple[_Layer | None, _Layer | None]:
    """The layer of ``view`` that ``node`` is in, and that layer again when a rule names this (non-root) module."""
    category = rules.module_category(view, node)
    if category is None:
        return inherited, None
    layer = inherited if inherited is not None and inherited.category == category else _Layer(category, node.path)
    return layer, layer if node.path else None


# --- 2. placements ----------------------------------------------------------------------------------------------------


def _placements(modules: Sequence[_Module], rules: _Rules) -> Iterator[_Placement]:
    """Every distinct parameter once, under its first name, placed in one layer per view."""
    seen: set[int] = set()
    for module in modules:
        for name, parameter in module.parameters:
            if id(parameter) not in seen:
                seen.add(id(parameter))
                yield _place(module, name, parameter.numel(), rules)


def _place(module: _Module, name: str, size: int, rules: _Rules) -> _Placement:
    node = module.node
    full = f"{node.path}.{name}" if node.path else name
    if node.is_leaf:
        leaf = _Layer(module.leaf_category or "other", node.path)
    else:
        leaf = _Layer(rules.parameter_category(View.LEAF, node, name) or "direct", full)
    named_role = rules.parameter_category(View.ROLE, node, name)
    role = _Layer(named_role, full) if named_role else module.role or leaf
    container = module.container or _Layer("outside", node.path if node.is_leaf else full)
    return _Placement(name=full, size=size, layers={View.LEAF: leaf, View.ROLE: role, View.CONTAINER: container})


# --- 3. views ---------------------------------------------------------------------------------------------------------


def _view(view: View, modules: Sequence[_Module], placements: Sequence[_Placement], order: Sequence[str]) -> LayerView:
    """The tally of one view: parameters and distinct layers per category."""
    parameters: Counter[str] = Counter()
    layers: defaultdict[str, set[str]] = defaultdict(set)
    for module in modules:
        if view in module.named:
            layers[module.named[view].category].add(module.named[view].path)
    for placement in placements:
        layer = placement.layers[view]
        parameters[layer.category] += placement.size
        layers[layer.category].add(layer.path)
    rank = {category: i for i, category in enumerate(order)}
    categories = sorted(layers, key=lambda c: (-parameters[c], rank.get(c, len(rank)), c))
    return LayerView(
        view=view,
        rows=tuple(CategoryCount(category=c, parameters=parameters[c], layers=len(layers[c])) for c in categories),
    )


# --- 4. records -------------------------------------------------------------------------------------------------------


def _records(modules: Sequence[_Module], placements: Sequence[_Placement]) -> tuple[LayerRecord, ...]:
    """One record per module below the root, in pre-order, with its subtree's parameters."""
    totals: Counter[str] = Counter()
    for placement in placements:
        parts = placement.name.split(".")
        for k in range(len(parts) + 1):
            totals[".".join(parts[:k])] += placement.size
    return tuple(
        LayerRecord(
            name=module.path,
            class_name=module.class_name,
            parameters=totals[module.path],
            category=_record_category(module),
            depth=module.path.count(".") + 1,
        )
        for module in modules
        if module.path
    )


def _record_category(module: _Module) -> str:
    if module.container is not None and module.container.path == module.path:
        return module.container.category  # a container layer itself
    if module.role is not None:
        return module.role.category
    if module.node.is_leaf:
        return module.leaf_category or "other"
    return ""
