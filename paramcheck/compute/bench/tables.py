"""Rich tables for ``paramcheck bench``. Formatting only: the numbers come from the result objects."""

from __future__ import annotations

from rich.table import Table

from ..memory import GIB
from ..predict import ModelPrediction
from .measure import BenchReport

__all__ = ["bench_summary", "bench_table"]


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.2f}"


def _gib(value: int | None) -> str:
    return f"{value / GIB:,.2f}" if value is not None else "-"


def _error(predicted: float, measured: float) -> str:
    return f"{100 * (predicted - measured) / measured:+.1f}%" if measured else "-"


def bench_table(report: BenchReport, prediction: ModelPrediction | None = None) -> Table:
    w = report.workload
    cfg = "CFG" if w.cfg else "no CFG"
    table = Table(
        title=f"{report.model} on {report.device} ({report.dtype}, random weights): {w.width}×{w.height}, "
        f"{w.steps} steps, batch {w.batch}, {cfg}",
        title_justify="left",
    )
    for column in ("component", "inputs of one forward", "forwards / call", "ms / forward", "min–max ms", "host ms"):
        table.add_column(column, justify="left" if column.startswith(("comp", "inp")) else "right")
    table.add_column("weights GiB", justify="right")
    table.add_column("peak GiB", justify="right")
    if prediction is not None:
        name = prediction.profile.removeprefix("profile ").split(" (")[0]
        table.title = f"{table.title}; predicted from profile {name} ({prediction.error} per forward)"
        table.add_column(f"predicted ms ({name})", justify="right")
        table.add_column("error", justify="right")
    for t in report.timings:
        row = [
            t.component,
            t.inputs,
            str(t.forwards),
            _ms(t.median),
            f"{_ms(t.low)}–{_ms(t.high)}",
            _ms(sorted(t.host_seconds)[len(t.host_seconds) // 2]) if t.host_seconds else "-",
            _gib(t.weight_bytes),
            _gib(t.peak_bytes),
        ]
        if prediction is not None:
            p = prediction.component(t.component)
            row += [_ms(p.prediction.seconds), _error(p.prediction.seconds, t.median)] if p else ["-", "-"]
        table.add_row(*row)
    return table


def bench_summary(report: BenchReport, prediction: ModelPrediction | None = None) -> list[str]:
    """Per step, per image and memory lines under the table."""
    lines = []
    step = report.per_step_seconds
    if step is not None:
        lines.append(f"per denoising step: {_ms(step[0])} ms (fastest–slowest forwards: {_ms(step[1])}–{_ms(step[2])})")
    image = report.per_image_seconds
    text = f"per image: {image[0]:,.3f} s ({image[1]:,.3f}–{image[2]:,.3f} s), {report.workload.batch} per call"
    if prediction is not None:
        text += f"; predicted {prediction.per_image_seconds:,.3f} s ({_error(prediction.per_image_seconds, image[0])})"
    lines.append(text)
    resident, offloaded = report.peak_bytes_all_resident, report.peak_bytes_text_encoders_offloaded
    if resident is not None:
        lines.append(
            f"peak memory: {_gib(resident)} GiB with every component resident, {_gib(offloaded)} GiB with the text "
            "encoders offloaded (weights + the largest forward's extra memory)"
        )
    if prediction is not None:
        lines.append(prediction.error_note)
    return lines
