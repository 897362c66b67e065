"""Rich tables for reports and comparisons. No counting here: only formatting of results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.table import Table

from .dtypes import megabytes
from .results import ModelReport

if TYPE_CHECKING:
    from .load import LoadResult

__all__ = ["compare_table", "component_table", "load_table", "percent", "signed"]


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.2f}%" if whole else "-"


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
