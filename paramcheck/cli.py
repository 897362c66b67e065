"""The ``paramcheck`` command: gather results, then render them. Errors become one line and exit code 2."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from .dtypes import DTYPE_NAMES, canonical_dtype
from .envelope import envelope
from .errors import ParamcheckError

__all__ = ["main"]


def _console() -> Console:
    return Console(soft_wrap=False, width=None if sys.stdout.isatty() else 160)


def _write_json(data: dict[str, Any], output: str | None) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if output is None or output == "-":
        sys.stdout.write(text)
        return
    path = Path(output)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise ParamcheckError(f"{path}: cannot write the JSON report ({e.strerror}); choose another --output") from e


def _dtype(value: str) -> str:
    try:
        return canonical_dtype(value)
    except ParamcheckError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def cmd_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from .registry import bundled_ids, bundled_model

    table = Table(title="bundled models", title_justify="left")
    for column in ("id", "family", "hub repository"):
        table.add_column(column)
    for model_id in bundled_ids():
        model = bundled_model(model_id)
        table.add_row(model.id, model.family, model.hub_repo or "-")
    _console().print(table)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .model import audit
    from .render import component_table

    if args.flops or args.memory or args.html:
        return _report_compute(args)
    report = audit(args.model)
    if args.json:
        _write_json(envelope("report", {"report": report.to_dict()}, dtype=args.dtype), args.output)
        return 0
    console = _console()
    console.print(component_table(report, dtype=args.dtype))
    for note in report.notes:
        console.print(f"[dim]note: {note}[/dim]")
    return 0


def _report_compute(args: argparse.Namespace) -> int:
    """``report --flops/--memory/--html``: parameters, then FLOPs and latency, then memory advice."""
    from .analysis import analyse

    analysis = analyse(
        args.model,
        flops=args.flops or args.memory or bool(args.html),
        require_flops=args.flops,
        gpu_name=args.gpu,
        height=args.height,
        width=args.width,
        steps=args.steps,
        prompt_length=args.prompt_length,
        batch=args.batch,
        cfg=args.cfg,
    )
    if args.html:
        from .html import write_html

        write_html(analysis, Path(args.html))
    if args.json:
        data = analysis.to_dict(flops=args.flops, memory=args.memory)
        _write_json(envelope("report", data, dtype=args.dtype), args.output)
        return 0
    from .compute_tables import flops_table, memory_fit_table, memory_weights_table
    from .render import component_table

    console = _console()
    console.print(component_table(analysis.report, dtype=args.dtype))
    if args.flops and analysis.flops is not None:
        console.print(flops_table(analysis.flops, analysis.latency))
        for note in (*analysis.flops.notes, *(analysis.latency.notes if analysis.latency else ())):
            console.print(f"[dim]note: {note}[/dim]")
        console.print(f"[dim]defaults: {analysis.flops.workload.defaults}[/dim]")
    if args.memory:
        console.print(memory_weights_table(analysis.memory))
        console.print(memory_fit_table(analysis.memory))
        for fmt_note in analysis.memory.notes:
            console.print(f"[dim]note: {fmt_note}[/dim]")
    if args.html:
        console.print(f"wrote {args.html}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from .model import audit
    from .plot import write_plot

    reports = [audit(model) for model in args.models]
    write_plot(reports, Path(args.output))
    print(f"wrote {args.output}")
    return 0


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} must be at least 1")
    return number


def cmd_compare(args: argparse.Namespace) -> int:
    from .model import audit
    from .render import compare_table

    reports = [audit(model) for model in args.models]
    if args.json:
        _write_json(envelope("compare", {"reports": [r.to_dict() for r in reports]}), args.output)
        return 0
    _console().print(compare_table(reports))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paramcheck",
        description="Where do a model's parameters go? Exact counts per component and layer type.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="list the bundled models")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("report", help="count one model's parameters per component")
    p.add_argument("model", help="bundled id (paramcheck list), local folder, or hub:REPO[@REV]")
    p.add_argument("--dtype", type=_dtype, default="bf16", help=f"dtype of the MB column ({', '.join(DTYPE_NAMES)})")
    p.add_argument("--json", action="store_true", help="write JSON instead of tables")
    p.add_argument("--output", "-o", metavar="FILE", help="with --json: write to FILE instead of stdout")
    _add_compute_options(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("plot", help="stacked bars of parameters by component and layer type (PNG or SVG)")
    p.add_argument("models", nargs="+", metavar="MODEL", help="one or more models")
    p.add_argument("--output", "-o", metavar="FILE", required=True, help="FILE.png or FILE.svg")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("compare", help="compare two or more models side by side")
    p.add_argument("models", nargs="+", metavar="MODEL", help="two or more models")
    p.add_argument("--json", action="store_true", help="write JSON instead of tables")
    p.add_argument("--output", "-o", metavar="FILE", help="with --json: write to FILE instead of stdout")
    p.set_defaults(func=cmd_compare)
    return parser


def _add_compute_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("compute and memory (defaults: the pipeline's own, see paramcheck.recipes)")
    g.add_argument("--flops", action="store_true", help="FLOPs/MACs per component and per image, latency estimate")
    g.add_argument("--memory", action="store_true", help="weights per format, cards that fit, activation memory")
    g.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report with tables and plots")
    g.add_argument("--height", type=_positive, help="image height in pixels")
    g.add_argument("--width", type=_positive, help="image width in pixels")
    g.add_argument("--steps", type=_positive, help="denoising steps")
    g.add_argument("--prompt-length", type=_positive, help="prompt tokens seen by the text encoders")
    g.add_argument("--batch", type=_positive, default=1, help="images per call (default 1)")
    g.add_argument(
        "--cfg", action=argparse.BooleanOptionalAction, default=None, help="classifier-free guidance on/off"
    )
    g.add_argument("--gpu", default="H100 SXM", help="GPU of the latency estimate (default 'H100 SXM')")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "compare" and len(args.models) < 2:
        parser.error("compare needs at least two models")
    try:
        return int(args.func(args))
    except ParamcheckError as e:
        print(f"paramcheck: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("paramcheck: interrupted", file=sys.stderr)
        return 130
