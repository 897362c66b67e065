"""Rich tables of the layer-type views, the per-layer listing and the layer-type comparison; no counting."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from .dtypes import megabytes
from .layers import LayerRow
from .results import LayerView, ModelReport
from .taxonomy import Taxonomy, default_taxonomy

__all__ = ["listing_table", "views_compare_table", "views_table"]

VIEW_TITLES = {
    "en": {"leaf": "leaf (module class)", "role": "role (function)", "container": "container (block)"},
    "zh": {"leaf": "叶子模块 (类)", "role": "功能角色", "container": "容器 (块)"},
}
HEADERS = {
    "en": ("view", "category", "parameters", "layers", "share"),
    "zh": ("视图", "类别", "参数量", "层数", "占比"),
}


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.2f}%" if whole else "-"


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
                _percent(row.parameters, total),
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


def _signed(value: int) -> str:
    return f"{value:+,}" if value else "0"


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
                *(_signed(v - values[0]) for v in values[1:]),
            )
    return table
