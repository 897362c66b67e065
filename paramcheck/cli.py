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

    report = audit(args.model)
    if args.json:
        _write_json(envelope("report", {"report": report.to_dict()}, dtype=args.dtype), args.output)
        return 0
    console = _console()
    console.print(component_table(report, dtype=args.dtype))
    for note in report.notes:
        console.print(f"[dim]note: {note}[/dim]")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .model import audit
    from .render import compare_table

    reports = [audit(model) for model in args.models]
    if args.json:
        _write_json(envelope("compare", {"reports": [r.to_dict() for r in reports]}), args.output)
        return 0
    _console().print(compare_table(reports))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Header counts of a checkpoint and its verdict against the architecture; exit 1 on a mismatch."""
    from .checkpoint_render import issue_lines, stored_table, verdict_line, verdict_table
    from .conformance import check_checkpoint

    check = check_checkpoint(args.path, against=args.against)
    if args.json:
        _write_json(envelope("check", {"check": check.to_dict()}), args.output)
        return 0 if check.ok else 1
    console = _console()
    console.print(stored_table(check.checkpoint))
    console.print(verdict_table(check))
    for line in issue_lines(check, limit=None if args.all else 10):
        console.print(line, highlight=False, markup=False)
    notes = dict.fromkeys(f"{c.name}: {note}" for c in check.components for note in c.notes)
    for note in notes:
        console.print(f"[dim]note: {note}[/dim]", highlight=False)
    style = "bold green" if check.ok else "bold red"
    console.print(verdict_line(check), style=style, highlight=False)
    return 0 if check.ok else 1


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
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("compare", help="compare two or more models side by side")
    p.add_argument("models", nargs="+", metavar="MODEL", help="two or more models")
    p.add_argument("--json", action="store_true", help="write JSON instead of tables")
    p.add_argument("--output", "-o", metavar="FILE", help="with --json: write to FILE instead of stdout")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("check", help="does a safetensors checkpoint match its architecture? (headers only)")
    p.add_argument("path", help="a .safetensors file, a *.safetensors.index.json, a model folder or a pipeline folder")
    p.add_argument("--against", metavar="MODEL[:COMPONENT]", help="architecture for a lone file (bundled id/folder)")
    p.add_argument("--all", action="store_true", help="list every problem, not the first 10 of each kind")
    p.add_argument("--json", action="store_true", help="write JSON instead of tables")
    p.add_argument("--output", "-o", metavar="FILE", help="with --json: write to FILE instead of stdout")
    p.set_defaults(func=cmd_check)
    return parser


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
