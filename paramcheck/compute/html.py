"""One self-contained HTML file: the tables of an analysis and its plot as inline SVG. No scripts, no links out."""

from __future__ import annotations

import io
from html import escape
from pathlib import Path

from rich.console import Console

from ..errors import ParamcheckError
from ..plot import figure_bytes
from ..render import component_table
from .analysis import Analysis
from .tables import flops_table, latency_notes, memory_fit_table, memory_weights_table

__all__ = ["render_html", "write_html"]

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 1400px; }
pre { font-size: 12px; background: #f6f8fa; padding: 1em; overflow-x: auto; }
.note { color: #555; font-size: 13px; }
"""


def _text(table: object) -> str:
    """A rich table as plain text (its box drawing kept), for a <pre> block."""
    console = Console(width=240, record=True, file=io.StringIO(), color_system=None)
    console.print(table)
    return console.export_text()


def render_html(analysis: Analysis) -> str:
    report = analysis.report
    parts = [
        f"<h1>paramcheck report: {escape(report.model)}</h1>",
        f"<pre>{escape(_text(component_table(report)))}</pre>",
    ]
    svg = figure_bytes([report], "svg").decode("utf-8")
    parts.append("<h2>Parameters by component and layer type</h2>")
    parts.append(svg[svg.index("<svg") :])
    if analysis.flops is not None:
        parts.append("<h2>FLOPs and latency</h2>")
        table = flops_table(analysis.flops, analysis.latency, analysis.prediction)
        parts.append(f"<pre>{escape(_text(table))}</pre>")
        notes = (*analysis.flops.notes, *latency_notes(analysis.prediction, analysis.latency))
        parts += [f'<p class="note">{escape(n)}</p>' for n in notes]
    parts.append("<h2>Memory</h2>")
    parts.append(f"<pre>{escape(_text(memory_weights_table(analysis.memory)))}</pre>")
    parts.append(f"<pre>{escape(_text(memory_fit_table(analysis.memory)))}</pre>")
    parts += [f'<p class="note">{escape(n)}</p>' for n in (*report.notes, *analysis.memory.notes)]
    body = "\n".join(parts)
    title = escape(f"paramcheck: {report.model}")
    head = f'<meta charset="utf-8"><title>{title}</title><style>{STYLE}</style>'
    return f'<!DOCTYPE html>\n<html lang="en"><head>{head}</head>\n<body>\n{body}\n</body></html>\n'


def write_html(analysis: Analysis, path: Path) -> Path:
    try:
        path.write_text(render_html(analysis), encoding="utf-8")
    except OSError as e:
        raise ParamcheckError(f"{path}: cannot write the HTML report ({e.strerror}); choose another --html") from e
    return path
