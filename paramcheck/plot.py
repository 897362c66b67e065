"""Stacked bars with matplotlib: parameters by component and by layer type, one model or several side by side.

matplotlib is imported only here and only when a plot is drawn; figures are drawn with the Agg canvas directly
(no pyplot, no global backend state), so it works headless.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import ParamcheckError
from .results import ModelReport, View

__all__ = ["IMAGE_FORMATS", "figure_bytes", "layer_type_rows", "write_plot"]

IMAGE_FORMATS = ("png", "svg")
# Which layer-type view to plot, in order of preference (any other view is used last). Role first: it shows where a
# DiT's parameters go, where nearly all leaves are Linear.
VIEW_PREFERENCE = (View.ROLE, View.LEAF, View.CONTAINER)


def layer_type_rows(report: ModelReport) -> tuple[str | None, dict[str, int]]:
    """The model's parameters per category of its preferred view, summed over components; (None, {}) if none."""
    names = list(dict.fromkeys(v.view for c in report.components for v in c.views))
    if not names:
        return None, {}
    view = next((v for v in VIEW_PREFERENCE if v in names), names[0])
    rows: dict[str, int] = {}
    for c in report.components:
        found = c.view(view)
        if found is None:
            continue
        for row in found.rows:
            rows[row.category] = rows.get(row.category, 0) + row.parameters
    return view, rows


def _stack(ax: Any, labels: Sequence[str], series: dict[str, list[int]], title: str, cmap: Any) -> None:
    bottoms = [0.0] * len(labels)
    for i, (name, values) in enumerate(series.items()):
        heights = [v / 1e9 for v in values]
        ax.bar(labels, heights, bottom=bottoms, label=name, color=cmap(i % cmap.N))
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    ax.set_title(title)
    ax.set_ylabel("parameters (billions)")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.tick_params(axis="x", labelrotation=20)


def _figure(reports: Sequence[ModelReport]) -> Any:
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    labels = [r.model for r in reports]
    components = list(dict.fromkeys(c.name for r in reports for c in r.components if c.parameters))
    by_component = {
        name: [(r.component(name).parameters if r.component(name) else 0) for r in reports]  # type: ignore[union-attr]
        for name in components
    }
    views = [layer_type_rows(r) for r in reports]
    figure = Figure(figsize=(7 + 3.5 * len(reports), 5), layout="constrained")
    left, right = figure.subplots(1, 2)
    _stack(left, labels, by_component, "parameters by component", colormaps["tab10"])
    if any(rows for _, rows in views):
        categories = list(dict.fromkeys(c for _, rows in views for c in rows))
        by_category = {c: [rows.get(c, 0) for _, rows in views] for c in categories}
        names = sorted({v for v, _ in views if v})
        _stack(right, labels, by_category, f"parameters by layer type ({', '.join(names)} view)", colormaps["tab20"])
    else:
        right.set_axis_off()
        right.text(0.5, 0.5, "no layer-type view in these reports", ha="center", va="center")
    return figure


def figure_bytes(reports: Sequence[ModelReport], fmt: str) -> bytes:
    """The plot as PNG or SVG bytes."""
    if fmt not in IMAGE_FORMATS:
        raise ParamcheckError(f"plot format {fmt!r}: not supported; use one of {', '.join(IMAGE_FORMATS)}")
    buffer = io.BytesIO()
    _figure(reports).savefig(buffer, format=fmt, dpi=120)
    return buffer.getvalue()


def write_plot(reports: Sequence[ModelReport], path: Path) -> Path:
    """Write the plot of ``reports`` to ``path`` (.png or .svg)."""
    fmt = path.suffix.lower().removeprefix(".")
    if fmt not in IMAGE_FORMATS:
        raise ParamcheckError(f"{path}: unknown image type {path.suffix or '(none)'!r}; name the file .png or .svg")
    data = figure_bytes(reports, fmt)
    try:
        path.write_bytes(data)
    except OSError as e:
        raise ParamcheckError(f"{path}: cannot write the plot ({e.strerror}); choose another --output") from e
    return path
