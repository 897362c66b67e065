"""Rich tables of reports, comparisons, layer-type views, the per-layer listing and loads. No counting here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.table import Table

from .dtypes import megabytes
from .listing import LayerRow
from .results import LayerView, ModelReport
from .taxonomy import Taxonomy, default_taxonomy

if TYPE_CHECKING:
    from .load import LoadResult

__all__ = [
    "compare_table",
    "component_table",
    "listing_table",
    "load_table",
    "percent",
    "signed",
    "views_compare_table",
    "views_table",
]


def percent(part: int, whole: int, digits: int = 2) -> str:
    return f"{100 * part / whole:.{digits}f}%" if whole else "-"


def signed(value: int) -> str:
    return f"{value:+,}" if value else "0"


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
            f"{megabytes(c.parameters, dtype):,.2f}",
            percent(c.parameters, total),
            f"{c.persistent_buffers:,} / {c.non_persistent_buffers:,}",
            f"{c.tied_parameters:,}" if c.tied else "-",
        )
    table.add_section()
    table.add_row(
        "total",
        "",
        f"{total:,}",
        f"{megabytes(total, dtype):,.2f}",
        percent(total, total),
        f"{sum(c.persistent_buffers for c in report.components):,} / "
        f"{sum(c.non_persistent_buffers for c in report.components):,}",
        f"{sum(c.tied_parameters for c in report.components):,}",
        style="bold",
    )
    return table


def compare_table(reports: Sequence[ModelReport]) -> Table:
    """The seed's side-by-side comparison: a column per model, and the difference to the first."""
    first = reports[0]
    table = Table(title="parameters per component: " + " vs ".join(r.model for r in reports), title_justify="left")
    table.add_column("component")
    for r in reports:
        table.add_column(r.model, justify="right")
    for r in reports[1:]:
        table.add_column(f"{r.model} − {first.model}", justify="right")
    names: list[str] = []
    for r in reports:
        names += [c.name for c in r.components if c.name not in names]
    for name in names:
        counts = [r.component(name) for r in reports]
        values = [c.parameters if c is not None else None for c in counts]
        base = values[0] or 0
        table.add_row(
            name,
            *(f"{v:,}" if v is not None else "—" for v in values),
            *(signed((v or 0) - base) for v in values[1:]),
        )
    table.add_section()
    totals = [r.parameters for r in reports]
    table.add_row("total", *(f"{t:,}" for t in totals), *(signed(t - totals[0]) for t in totals[1:]), style="bold")
    return table


def _mb(value: int) -> str:
    return f"{value / 1e6:,.2f}"


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
            _mb(r.predicted_bytes),
            _mb(r.tensor_bytes),
            _mb(r.cuda_allocated) if r.cuda else "-",
            _mb(r.host_rss_growth),
            f"{r.seconds:.2f}",
        )
    return table


VIEW_TITLES = {
    "en": {"leaf": "leaf (module class)", "role": "role (function)", "container": "container (block)"},
    "zh": {"leaf": "叶子模块 (类)", "role": "功能角色", "container": "容器 (块)"},
}
HEADERS = {
    "en": ("view", "category", "parameters", "layers", "share"),
    "zh": ("视图", "类别", "参数量", "层数", "占比"),
}


def views_table(
    title: str,
    views: Sequence[LayerView],
    total: int,
    *,
    dtype: str = "bf16",
    lang: str = "en",
    taxonomy: Taxonomy | None = None,
) -> Table:
    """A section per view: category, parameters, layers, MB at ``dtype``, share; each sums to ``total``."""
    taxonomy = taxonomy or default_taxonomy()
    view_h, category_h, parameters_h, layers_h, share_h = HEADERS[lang]
    table = Table(title=title, title_justify="left")
    table.add_column(view_h)
    table.add_column(category_h)
    table.add_column(parameters_h, justify="right")
    table.add_column(layers_h, justify="right")
    table.add_column(f"MB ({dtype})", justify="right")
    table.add_column(share_h, justify="right")
    for i, view in enumerate(views):
        if i:
            table.add_section()
        for j, row in enumerate(view.rows):
            table.add_row(
                VIEW_TITLES[lang].get(view.view, view.view) if j == 0 else "",
                taxonomy.label(row.category, lang),
                f"{row.parameters:,}",
                f"{row.layers:,}",
                f"{megabytes(row.parameters, dtype):,.2f}",
                percent(row.parameters, total),
            )
    return table


def listing_table(
    title: str,
    rows: Sequence[LayerRow],
    *,
    dtype: str = "bf16",
    lang: str = "en",
    taxonomy: Taxonomy | None = None,
) -> Table:
    """The seed's per-layer console output: qualified name, class, count, parameters, MB, category."""
    taxonomy = taxonomy or default_taxonomy()
    table = Table(title=title, title_justify="left")
    table.add_column("layer" if lang == "en" else "层")
    table.add_column("class" if lang == "en" else "类")
    table.add_column("×", justify="right")
    table.add_column("parameters" if lang == "en" else "参数量", justify="right")
    table.add_column(f"MB ({dtype})", justify="right")
    table.add_column("category" if lang == "en" else "类别")
    for row in rows:
        table.add_row(
            row.name,
            row.class_name,
            f"×{row.count}" if row.count > 1 else "",
            f"{row.parameters:,}",
            f"{megabytes(row.parameters, dtype):,.2f}",
            taxonomy.label(row.category, lang) if row.category else "-",
        )
    return table


def views_compare_table(
    reports: Sequence[ModelReport],
    views: Sequence[Sequence[LayerView]],
    *,
    lang: str = "en",
    taxonomy: Taxonomy | None = None,
) -> Table:
    """Whole-model parameters per view and category, a column per model and the difference to the first."""
    taxonomy = taxonomy or default_taxonomy()
    first = reports[0]
    table = Table(title="layer types: " + " vs ".join(r.model for r in reports), title_justify="left")
    table.add_column(HEADERS[lang][0])
    table.add_column(HEADERS[lang][1])
    for r in reports:
        table.add_column(r.model, justify="right")
    for r in reports[1:]:
        table.add_column(f"{r.model} − {first.model}", justify="right")
    names = [v.view for v in views[0]]
    for model_views in views[1:]:
        names += [v.view for v in model_views if v.view not in names]
    for i, name in enumerate(names):
        if i:
            table.add_section()
        per_model = [next((v for v in model_views if v.view == name), None) for model_views in views]
        categories: list[str] = []
        for view in per_model:
            if view is not None:
                categories += [row.category for row in view.rows if row.category not in categories]
        for j, category in enumerate(categories):
            values = []
            for view in per_model:
                row = view.row(category) if view is not None else None
                values.append(row.parameters if row is not None else 0)
            table.add_row(
                VIEW_TITLES[lang].get(name, name) if j == 0 else "",
                taxonomy.label(category, lang),
                *(f"{v:,}" for v in values),
                *(signed(v - values[0]) for v in values[1:]),
            )
    return table
