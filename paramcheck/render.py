"""Rich tables of counts: reports, comparisons, layer-type views, the per-layer listing, loads. No counting here.

The formatters at the top (percent, signed, MB) are the package's one set; the checkpoint and compute tables use them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.table import Table

from .dtypes import megabytes
from .listing import LayerRow
from .results import LayerView, ModelReport, View
from .taxonomy import Taxonomy, default_taxonomy

if TYPE_CHECKING:
    from .load import LoadResult

__all__ = [
    "RenderOptions",
    "compare_table",
    "component_table",
    "listing_table",
    "load_table",
    "mb",
    "percent",
    "signed",
    "views_compare_table",
    "views_table",
]


# --- formatters -------------------------------------------------------------------------------------------------------


def percent(part: float, whole: float, *, digits: int = 2) -> str:
    """``part`` as a share of ``whole``, ``"12.34%"``; ``"-"`` when ``whole`` is 0."""
    return f"{100 * part / whole:.{digits}f}%" if whole else "-"


def signed(value: int) -> str:
    """A difference with its sign, ``"+1,024"``; a plain ``"0"`` for none."""
    return f"{value:+,}" if value else "0"


def mb(nbytes: float) -> str:
    """Decimal megabytes (10**6 bytes), ``"1,234.57"``."""
    return f"{nbytes / 1e6:,.2f}"


def _mb_at(elements: int, dtype: str) -> str:
    return f"{megabytes(elements, dtype):,.2f}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderOptions:
    """How the layer tables are drawn: MB at ``dtype``, headers and category names in ``lang`` (``en`` or ``zh``),
    category labels from ``taxonomy``."""

    dtype: str = "bf16"
    lang: str = "en"
    taxonomy: Taxonomy = field(default_factory=default_taxonomy)


VIEW_TITLES: dict[str, dict[str, str]] = {
    "en": {View.LEAF: "leaf (module class)", View.ROLE: "role (function)", View.CONTAINER: "container (block)"},
    "zh": {View.LEAF: "叶子模块 (类)", View.ROLE: "功能角色", View.CONTAINER: "容器 (块)"},
}
HEADERS = {
    "en": ("view", "category", "parameters", "layers", "share"),
    "zh": ("视图", "类别", "参数量", "层数", "占比"),
}


def _in_order(groups: Iterable[Iterable[str]]) -> list[str]:
    """Every name of ``groups`` once, in order of first appearance."""
    return list(dict.fromkeys(name for group in groups for name in group))


# --- a column per model and the difference to the first ---------------------------------------------------------------


def _side_by_side(title: str, headers: Sequence[str], models: Sequence[str]) -> Table:
    """A table with ``headers``, a column per model, then a column per later model: its difference to the first."""
    table = Table(title=title + " vs ".join(models), title_justify="left")
    for header in headers:
        table.add_column(header)
    for model in models:
        table.add_column(model, justify="right")
    for model in models[1:]:
        table.add_column(f"{model} − {models[0]}", justify="right")
    return table


def _with_differences(values: Sequence[int | None]) -> tuple[str, ...]:
    """The cells of ``_side_by_side``: each value (``—`` where a model has none), then each difference to the first."""
    base = values[0] or 0
    return (
        *(f"{v:,}" if v is not None else "—" for v in values),
        *(signed((v or 0) - base) for v in values[1:]),
    )


# --- reports ----------------------------------------------------------------------------------------------------------


def component_table(report: ModelReport, *, dtype: str = "bf16") -> Table:
    """The seed's component table: component, class, parameters, MB at ``dtype``, share of the total."""
    total = report.parameters
    table = Table(title=f"{report.model} — parameters per component", title_justify="left")
    table.add_column("component")
    table.add_column("class")
    table.add_column("parameters", justify="right")
    table.add_column(f"MB ({dtype})", justify="right")
    table.add_column("share", justify="right")
    table.add_column("buffers (stored / not)", justify="right")
    table.add_column("tied", justify="right")
    for c in report.components:
        table.add_row(
            c.name,
            c.class_name or "-",
            f"{c.parameters:,}",
            _mb_at(c.parameters, dtype),
            percent(c.parameters, total),
            f"{c.persistent_buffers:,} / {c.non_persistent_buffers:,}",
            f"{c.tied_parameters:,}" if c.tied else "-",
        )
    table.add_section()
    table.add_row(
        "total",
        "",
        f"{total:,}",
        _mb_at(total, dtype),
        percent(total, total),
        f"{sum(c.persistent_buffers for c in report.components):,} / "
        f"{sum(c.non_persistent_buffers for c in report.components):,}",
        f"{sum(c.tied_parameters for c in report.components):,}",
        style="bold",
    )
    return table


def compare_table(reports: Sequence[ModelReport]) -> Table:
    """The seed's side-by-side comparison: a column per model, and the difference to the first."""
    table = _side_by_side("parameters per component: ", ["component"], [r.model for r in reports])
    for name in _in_order([c.name for c in r.components] for r in reports):
        counts = [r.component(name) for r in reports]
        table.add_row(name, *_with_differences([c.parameters if c is not None else None for c in counts]))
    table.add_section()
    table.add_row("total", *_with_differences([r.parameters for r in reports]), style="bold")
    return table


# --- layer types and the per-layer listing ----------------------------------------------------------------------------


def views_table(title: str, views: Sequence[LayerView], total: int, options: RenderOptions | None = None) -> Table:
    """A section per view: category, parameters, layers, MB, share; each sums to ``total``."""
    options = options or RenderOptions()
    view_h, category_h, parameters_h, layers_h, share_h = HEADERS[options.lang]
    table = Table(title=title, title_justify="left")
    table.add_column(view_h)
    table.add_column(category_h)
    table.add_column(parameters_h, justify="right")
    table.add_column(layers_h, justify="right")
    table.add_column(f"MB ({options.dtype})", justify="right")
    table.add_column(share_h, justify="right")
    for i, view in enumerate(views):
        if i:
            table.add_section()
        for j, row in enumerate(view.rows):
            table.add_row(
                VIEW_TITLES[options.lang].get(view.view, view.view) if j == 0 else "",
                options.taxonomy.label(row.category, options.lang),
                f"{row.parameters:,}",
                f"{row.layers:,}",
                _mb_at(row.parameters, options.dtype),
                percent(row.parameters, total),
            )
    return table


def listing_table(title: str, rows: Sequence[LayerRow], options: RenderOptions | None = None) -> Table:
    """The seed's per-layer console output: qualified name, class, count, parameters, MB, category."""
    options = options or RenderOptions()
    en = options.lang == "en"
    table = Table(title=title, title_justify="left")
    table.add_column("layer" if en else "层")
    table.add_column("class" if en else "类")
    table.add_column("×", justify="right")
    table.add_column("parameters" if en else "参数量", justify="right")
    table.add_column(f"MB ({options.dtype})", justify="right")
    table.add_column("category" if en else "类别")
    for row in rows:
        table.add_row(
            row.name,
            row.class_name,
            f"×{row.count}" if row.count > 1 else "",
            f"{row.parameters:,}",
            _mb_at(row.parameters, options.dtype),
            options.taxonomy.label(row.category, options.lang) if row.category else "-",
        )
    return table


def views_compare_table(
    reports: Sequence[ModelReport], views: Sequence[Sequence[LayerView]], options: RenderOptions | None = None
) -> Table:
    """Whole-model parameters per view and category, a column per model and the difference to the first."""
    options = options or RenderOptions()
    table = _side_by_side("layer types: ", HEADERS[options.lang][:2], [r.model for r in reports])
    for i, name in enumerate(_in_order([v.view for v in model_views] for model_views in views)):
        if i:
            table.add_section()
        per_model = [next((v for v in model_views if v.view == name), None) for model_views in views]
        categories = _in_order([row.category for row in view.rows] for view in per_model if view is not None)
        for j, category in enumerate(categories):
            rows = [view.row(category) if view is not None else None for view in per_model]
            table.add_row(
                VIEW_TITLES[options.lang].get(name, name) if j == 0 else "",
                options.taxonomy.label(category, options.lang),
                *_with_differences([row.parameters if row is not None else 0 for row in rows]),
            )
    return table


# --- loads ------------------------------------------------------------------------------------------------------------


def load_table(model: str, expected: ModelReport, results: Sequence[LoadResult]) -> Table:
    """Loaded against configured counts, and predicted against measured memory, per component."""
    first = results[0] if results else None
    where = f"{first.mode} on {first.device_map or first.device} in {first.dtype}" if first else ""
    table = Table(title=f"{model} — {where}", title_justify="left")
    for column in ("component", "parameters (config)", "parameters (loaded)", "match"):
        table.add_column(column, justify="left" if column in {"component", "match"} else "right")
    for column in ("predicted MB", "tensors MB", "CUDA allocated MB", "host RSS +MB", "seconds"):
        table.add_column(column, justify="right")
    for r in results:
        config = expected.component(r.component)
        configured = config.parameters if config is not None else 0
        same = configured == r.counts.parameters and not r.mismatches
        table.add_row(
            r.component,
            f"{configured:,}",
            f"{r.counts.parameters:,}",
            "yes" if same else "[red]NO[/red]",
            mb(r.predicted_bytes),
            mb(r.tensor_bytes),
            mb(r.cuda_allocated) if r.cuda else "-",
            mb(r.host_rss_growth),
            f"{r.seconds:.2f}",
        )
    return table
