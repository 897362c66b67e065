"""The per-layer listing: fold repeated blocks, select by depth, pattern and size; whole-model views.

Pure functions on results (``LayerRecord``, ``LayerView``); no torch here.
"""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .results import CategoryCount, ComponentCounts, LayerRecord, LayerView, ModelReport, Result, View

__all__ = [
    "ROLE_ORDER",
    "LayerRow",
    "RoleRow",
    "align_by_role",
    "component_role",
    "fold",
    "matches",
    "merge_views",
    "select",
    "select_records",
    "unfolded",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerRow:
    """One line of the listing: ``count`` identical modules folded into one (``parameters`` is their sum)."""

    name: str
    class_name: str
    parameters: int
    category: str
    depth: int
    count: int = 1


def _parent(name: str) -> str:
    return name.rpartition(".")[0]


def _last(name: str) -> str:
    return name.rpartition(".")[2]


def fold(records: Sequence[LayerRecord]) -> tuple[LayerRow, ...]:
    """Rows in module order, a run of consecutive numbered siblings of identical structure folded into one.

    ``transformer_blocks.0`` .. ``transformer_blocks.18`` become ``transformer_blocks.0..18`` (count 19) and
    every module below it is shown once with the sum over the 19 blocks; runs inside a folded block fold too.
    """
    by_name = {r.name: r for r in records}
    children: dict[str, list[str]] = defaultdict(list)
    for r in records:
        children[_parent(r.name)].append(r.name)
    signatures: dict[str, tuple[object, ...]] = {}

    def signature(name: str) -> tuple[object, ...]:
        if name not in signatures:
            r = by_name[name]
            kids = tuple((_last(k), signature(k)) for k in children[name])
            signatures[name] = (r.class_name, r.parameters, r.category, kids)
        return signatures[name]

    rows: list[LayerRow] = []

    def visit(name: str, shown: str, count: int) -> None:
        kids = children[name]
        i = 0
        while i < len(kids):
            j = i
            if _last(kids[i]).isdigit():
                while (
                    j + 1 < len(kids)
                    and _last(kids[j + 1]).isdigit()
                    and int(_last(kids[j + 1])) == int(_last(kids[j])) + 1
                    and signature(kids[j + 1]) == signature(kids[i])
                ):
                    j += 1
            run = j - i + 1
            label = _last(kids[i]) if run == 1 else f"{_last(kids[i])}..{_last(kids[j])}"
            r = by_name[kids[i]]
            row_name = f"{shown}.{label}" if shown else label
            rows.append(
                LayerRow(
                    name=row_name,
                    class_name=r.class_name,
                    parameters=r.parameters * run * count,
                    category=r.category,
                    depth=r.depth,
                    count=run * count,
                )
            )
            visit(kids[i], row_name, run * count)
            i = j + 1

    visit("", "", 1)
    return tuple(rows)


def unfolded(records: Sequence[LayerRecord]) -> tuple[LayerRow, ...]:
    return tuple(
        LayerRow(name=r.name, class_name=r.class_name, parameters=r.parameters, category=r.category, depth=r.depth)
        for r in records
    )


def matches(pattern: str, *texts: str) -> bool:
    """Case-insensitive: a glob when ``pattern`` has ``*?[``, else a substring, of any of ``texts``."""
    needle = pattern.lower()
    if any(ch in needle for ch in "*?["):
        return any(fnmatch.fnmatchcase(text.lower(), needle) for text in texts)
    return any(needle in text.lower() for text in texts)


def select(
    rows: Iterable[LayerRow],
    *,
    depth: int | None = None,
    top: int | None = None,
    pattern: str | None = None,
    labels: dict[str, str] | None = None,
) -> tuple[LayerRow, ...]:
    """Rows no deeper than ``depth`` matching ``pattern`` (name, class or category); ``top`` largest first."""
    labels = labels or {}
    out = [
        row
        for row in rows
        if (depth is None or row.depth <= depth)
        and (pattern is None or matches(pattern, row.name, row.class_name, row.category, labels.get(row.category, "")))
    ]
    if top is not None:
        out = sorted(out, key=lambda row: -row.parameters)[:top]
    return tuple(out)


def select_records(
    records: Iterable[LayerRecord], *, depth: int | None = None, pattern: str | None = None
) -> tuple[LayerRecord, ...]:
    """Records (unfolded) no deeper than ``depth`` matching ``pattern``: what ``--json --layers`` writes."""
    return tuple(
        r
        for r in records
        if (depth is None or r.depth <= depth)
        and (pattern is None or matches(pattern, r.name, r.class_name, r.category))
    )


def merge_views(components: Iterable[ComponentCounts]) -> tuple[LayerView, ...]:
    """The whole model's views, in ``View`` order: each category's parameters and layers summed over the components."""
    sums: dict[str, dict[str, list[int]]] = {view: {} for view in View}
    order: dict[str, list[str]] = {view: [] for view in View}
    for component in components:
        for layer_view in component.views:
            table = sums.setdefault(layer_view.view, {})
            seen = order.setdefault(layer_view.view, [])
            for row in layer_view.rows:
                if row.category not in table:
                    table[row.category] = [0, 0]
                    seen.append(row.category)
                table[row.category][0] += row.parameters
                table[row.category][1] += row.layers
    views = []
    for view, table in sums.items():
        if not table:
            continue
        rank = {c: i for i, c in enumerate(order[view])}
        rows = sorted(table, key=lambda c: (-table[c][0], rank[c]))
        views.append(
            LayerView(
                view=view,
                rows=tuple(CategoryCount(category=c, parameters=table[c][0], layers=table[c][1]) for c in rows),
            )
        )
    return tuple(views)


# --- components by role, to line models up ----------------------------------------------------------------------------

ROLE_ORDER = ("text encoder", "denoiser", "autoencoder", "safety checker")


def component_role(name: str, class_name: str | None) -> str:
    """What a pipeline component does, from its slot name and class: ``text encoder``, ``denoiser``,
    ``autoencoder``, ``safety checker``, else the slot name itself (so two models line up by role, not by slot)."""
    cls = class_name or ""
    if name.startswith(("text_encoder", "image_encoder")) or cls.endswith(("TextModel", "EncoderModel")):
        return "text encoder"
    if name in {"transformer", "unet", "prior", "transformer_2"} or "Transformer" in cls or "UNet" in cls:
        return "denoiser"
    if name.startswith(("vae", "vqvae", "movq")) or cls.startswith(("Autoencoder", "VQModel")):
        return "autoencoder"
    if name == "safety_checker":
        return "safety checker"
    return name


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleRow(Result):
    """One model's components of one role (those with parameters), with their classes and counts, in slot order.
    ``column``: the model's place among those compared (from 0), so that a model given twice stays two."""

    role: str
    model: str
    column: int
    components: tuple[str, ...]
    classes: tuple[str, ...]
    parameters_each: tuple[int, ...]
    parameters: int = field(init=False)

    def __post_init__(self) -> None:
        self._derive(parameters=sum(self.parameters_each))


def align_by_role(reports: Sequence[ModelReport]) -> tuple[RoleRow, ...]:
    """Each model's components with parameters grouped by role (``component_role``): roles in ``ROLE_ORDER`` then
    as first seen, models in the order given; a model without a role has no row for it."""
    grouped: dict[str, dict[int, list[ComponentCounts]]] = {}
    for column, report in enumerate(reports):
        for c in report.components:
            if c.parameters:
                grouped.setdefault(component_role(c.name, c.class_name), {}).setdefault(column, []).append(c)
    rank = {role: i for i, role in enumerate(ROLE_ORDER)}
    roles = sorted(grouped, key=lambda r: (rank.get(r, len(rank)), list(grouped).index(r)))
    return tuple(
        RoleRow(
            role=role,
            model=report.model,
            column=column,
            components=tuple(c.name for c in found),
            classes=tuple(c.class_name or "-" for c in found),
            parameters_each=tuple(c.parameters for c in found),
        )
        for role in roles
        for column, report in enumerate(reports)
        if (found := grouped[role].get(column))
    )
