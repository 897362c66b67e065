"""Rich tables for FLOPs, memory and latency results. Formatting only: the numbers come from the result objects."""

from __future__ import annotations

from functools import partial

from rich.table import Table

from ..render import percent
from .flops import FlopReport
from .latency import LatencyReport
from .memory import GIB, WEIGHT_FORMATS, MemoryReport
from .predict import ModelPrediction

__all__ = ["flops_table", "latency_notes", "memory_fit_table", "memory_weights_table"]


_share = partial(percent, digits=1)  # the FLOP table's shares, to one decimal


def flops_table(
    report: FlopReport, latency: LatencyReport | None = None, prediction: ModelPrediction | None = None
) -> Table:
    """FLOPs per component; with ``prediction`` its predicted seconds (the profile named in the column), else with
    ``latency`` the datasheet roofline."""
    w = report.workload
    cfg = "CFG" if w.cfg else "no CFG"
    table = Table(
        title=f"{report.model} — FLOPs per generation call: {w.width}×{w.height}, {w.steps} steps, "
        f"{w.prompt_length} prompt tokens, batch {w.batch}, {cfg}",
        title_justify="left",
    )
    for column in ("component", "inputs of one forward", "forwards", "GFLOPs / forward", "attention", "linear", "conv"):
        table.add_column(column, justify="left" if column.startswith(("comp", "inp")) else "right")
    table.add_column("TFLOPs / call", justify="right")
    table.add_column("share", justify="right")
    if prediction is not None:
        name = prediction.profile.removeprefix("profile ").split(" (")[0]
        table.title = f"{table.title}; latency predicted from profile {name} ({prediction.error} per forward)"
        table.add_column(f"predicted ms / forward ({name})", justify="right")
        table.add_column("predicted s / call", justify="right")
    elif latency is not None:
        table.add_column(f"roofline ms / forward ({latency.gpu}, datasheet)", justify="right")
        table.add_column("roofline s / call", justify="right")
    total = report.total_flops
    for f in report.forwards:
        row = [
            f.component,
            f.inputs,
            str(f.forwards),
            f"{f.flops / 1e9:,.1f}",
            _share(f.category_flops("attention"), f.flops),
            _share(f.category_flops("linear"), f.flops),
            _share(f.category_flops("conv"), f.flops),
            f"{f.total_flops / 1e12:,.2f}",
            _share(f.total_flops, total),
        ]
        if prediction is not None:
            p = prediction.component(f.component)
            seconds = p.prediction.seconds if p is not None else None
            row += [f"{seconds * 1e3:,.1f}", f"{f.forwards * seconds:,.2f}"] if seconds is not None else ["-", "-"]
        elif latency is not None:
            lat = next(x for x in latency.forwards if x.component == f.component)
            row += [f"{lat.roofline_seconds * 1e3:,.1f}", f"{lat.forwards * lat.roofline_seconds:,.2f}"]
        table.add_row(*row)
    table.add_section()
    footer = [
        "total",
        f"per image: {report.flops_per_image / 1e12:,.2f} TFLOPs",
        "",
        "",
        _share(report.category_flops("attention"), total),
        _share(report.category_flops("linear"), total),
        _share(report.category_flops("conv"), total),
        f"{total / 1e12:,.2f}",
        "100.0%",
    ]
    if prediction is not None:
        footer += [f"per image: {prediction.per_image_seconds:,.2f} s", f"{prediction.per_call_seconds:,.2f}"]
    elif latency is not None:
        footer += ["", f"{latency.total_seconds:,.2f}"]
    table.add_row(*footer, style="bold")
    return table


def latency_notes(prediction: ModelPrediction | None, latency: LatencyReport | None) -> tuple[str, ...]:
    """The words the latency column is shown with: the prediction's stated error and profile, or the estimate's."""
    if prediction is not None:
        return (prediction.error_note,)
    return latency.notes if latency is not None else ()


def _gib(value: int) -> str:
    return f"{value / GIB:,.2f}"


def memory_weights_table(report: MemoryReport) -> Table:
    table = Table(title=f"{report.model} — weights by storage format (GiB)", title_justify="left")
    table.add_column("component")
    table.add_column("parameters", justify="right")
    for fmt in WEIGHT_FORMATS:
        table.add_column(f"{fmt.name} ({fmt.bits:g} bit)", justify="right")
    table.add_column("activations, 1 forward", justify="right")
    for c in report.components:
        table.add_row(
            c.component,
            f"{c.parameters:,}",
            *(_gib(fmt.bytes(c.parameters)) for fmt in WEIGHT_FORMATS),
            _gib(c.peak_activation_bytes) if c.peak_activation_bytes else "-",
        )
    table.add_section()
    table.add_row(
        "total",
        f"{sum(c.parameters for c in report.components):,}",
        *(_gib(report.weight_bytes(fmt)) for fmt in WEIGHT_FORMATS),
        "",
        style="bold",
    )
    return table


def memory_fit_table(report: MemoryReport) -> Table:
    cards = "/".join(str(g) for g in report.cards_gib)
    table = Table(
        title=f"{report.model} — which cards fit ({cards} GiB; needed = weights + largest activation peak + "
        f"{_gib(report.reserve_bytes)} GiB reserve)",
        title_justify="left",
    )
    table.add_column("format")
    table.add_column("needed, all on GPU", justify="right")
    table.add_column("smallest card", justify="right")
    table.add_column("needed, text encoders offloaded", justify="right")
    table.add_column("smallest card", justify="right")
    for fmt in WEIGHT_FORMATS:
        row = [fmt.name]
        for offload in (False, True):
            card = report.smallest_card(fmt, offload_text=offload)
            row += [_gib(report.needed_bytes(fmt, offload_text=offload)), f"{card} GiB" if card else "none"]
        table.add_row(*row)
    return table
