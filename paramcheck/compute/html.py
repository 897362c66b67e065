"""One self-contained HTML page: a summary header, every table the terminal shows as a real ``<table>`` (the same
``render.Grid``s, laid out wide), the plot as inline SVG. No scripts, no links out. FLOPs and memory only when
asked (``flops``/``memory``), as in the terminal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from html import escape
from pathlib import Path

from ..errors import ParamcheckError
from ..listing import LayerRow
from ..plot import figure_bytes
from ..render import (
    UNITS_NOTE,
    WIDE,
    Grid,
    RenderOptions,
    component_grid,
    listing_grid,
    note_text,
    summary_lines,
    to_html,
    views_grid,
)
from ..results import LayerView, ModelReport
from .analysis import Analysis
from .tables import flops_grids, latency_notes, memory_fit_grid, memory_weights_grid

__all__ = ["page", "render_html", "write_html"]

# Readable from 1000 to 1400 px: tables as wide as their content (names wrap, numbers do not), wide ones scroll in
# their own box instead of widening the page.
STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1400px; padding: 0 1em; color: #1b1f23; }
h1 { font-size: 1.5em; margin-bottom: .2em; }
h2 { font-size: 1.15em; margin-top: 1.8em; border-bottom: 1px solid #d0d7de; }
.summary { font-family: ui-monospace, monospace; font-size: 14px; background: #f6f8fa; padding: .8em 1em;
  white-space: pre-wrap; border-radius: 6px; }
.wrap { overflow-x: auto; margin: .8em 0; }
table { border-collapse: collapse; font-size: 13px; }
caption { text-align: left; font-weight: 600; padding: .3em 0; }
th, td { border: 1px solid #d0d7de; padding: 3px 8px; vertical-align: top; }
th { background: #f6f8fa; text-align: left; }
td { overflow-wrap: anywhere; max-width: 28em; }
.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tr.section td { border-top: 2px solid #8c959f; }
tr.total td { font-weight: 600; border-top: 2px solid #57606a; }
.note { color: #57606a; font-size: 13px; margin: .2em 0; }
svg { max-width: 100%; height: auto; }
"""


def _table(grid: Grid) -> str:
    return f'<div class="wrap">{to_html(grid)}</div>'


def page(title: str, lang: str, sections: Sequence[str]) -> str:
    """A complete page of ``sections`` (HTML fragments)."""
    body = "\n".join(sections)
    head = f'<meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>{escape(title)}</title>'
    head += f"<style>{STYLE}</style>"
    return f'<!DOCTYPE html>\n<html lang="{lang}"><head>{head}</head>\n<body>\n{body}\n</body></html>\n'


def render_html(
    report: ModelReport,
    views: Sequence[LayerView],
    *,
    options: RenderOptions | None = None,
    analysis: Analysis | None = None,
    flops: bool = False,
    memory: bool = False,
    listings: Mapping[str, Sequence[LayerRow]] | None = None,
) -> str:
    """The page of one report: summary, components, plot, layer types per component and whole model, the listed
    layers, and with ``flops``/``memory`` (from ``analysis``) the FLOPs and memory tables."""
    o = options or RenderOptions(width=200)
    t = o.t
    summary = "\n".join(summary_lines(report, views, o))
    parts = [
        f"<h1>paramcheck: {escape(report.model)}</h1>",
        f'<div class="summary">{escape(summary)}</div>',
        _table(component_grid(report, o)),
    ]
    svg = figure_bytes([report], "svg").decode("utf-8")
    parts += [f"<h2>{escape(t('parameters'))}</h2>", svg[svg.index("<svg") :]]
    parts.append(f"<h2>{escape(t('layer types'))}</h2>")
    for c in report.components:
        if c.views and c.parameters:
            title = f"{report.model} / {c.name} ({c.class_name}): {t('layer types')}"
            parts.append(_table(views_grid(title, c.views, c.parameters, o)))
    if views:
        parts.append(_table(views_grid(f"{report.model}: {t('whole model')}", views, report.parameters, o)))
    if listings and any(listings.values()):
        parts.append(f"<h2>{escape(t('layers'))}</h2>")
        for name, rows in listings.items():
            if rows:
                parts.append(_table(listing_grid(f"{report.model} / {name}: {t('layers')}", rows, o)))
    notes = [UNITS_NOTE, *report.notes]
    if analysis is not None and flops and analysis.flops is not None:
        parts.append("<h2>FLOPs</h2>")
        # the narrow layout (the split by op kind as a table of its own, the inputs as notes): 11 columns do not fit
        # 1000 px
        split = replace(o, width=WIDE - 1)
        parts += [_table(g) for g in flops_grids(analysis.flops, analysis.latency, split, analysis.prediction)]
        notes += [*analysis.flops.notes, *latency_notes(analysis.prediction, analysis.latency)]
        notes.append(f"defaults: {analysis.flops.workload.defaults}")
    if analysis is not None and memory:
        parts.append(f"<h2>{escape('内存' if o.lang == 'zh' else 'Memory')}</h2>")
        parts += [_table(memory_weights_grid(analysis.memory, o)), _table(memory_fit_grid(analysis.memory, o))]
        notes += list(analysis.memory.notes)
    parts.append(f"<h2>{escape(t('note'))}</h2>")
    parts += [f'<p class="note">{escape(note_text(n, o.lang))}</p>' for n in dict.fromkeys(notes)]
    return page(f"paramcheck: {report.model}", o.lang, parts)


def write_html(
    path: Path,
    report: ModelReport,
    views: Sequence[LayerView],
    **what: object,
) -> Path:
    """``render_html(report, views, **what)`` written to ``path``."""
    text = render_html(report, views, **what)  # type: ignore[arg-type]
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise ParamcheckError(f"{path}: cannot write the HTML report ({e.strerror}); choose another --html") from e
    return path
