"""``paramcheck check``: does a safetensors checkpoint match its architecture? Headers only; exit 1 when not."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..envelope import envelope
from .common import add_json_options, add_trust_option, rich_console, trusted_of, write_json

if TYPE_CHECKING:
    from ..checkpoint.files import FileReport
    from .common import Subparsers


def check_command_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser("check", help="does a safetensors checkpoint match its architecture? (headers only)")
    p.add_argument(
        "path",
        help="a .safetensors file, a *.safetensors.index.json, a model folder or a pipeline folder; a single-file "
        "checkpoint (original layout), a LoRA (file or adapter folder) or a .gguf file",
    )
    p.add_argument(
        "--against",
        metavar="MODEL[:COMPONENT]",
        help="architecture for a lone file (bundled id, folder or hub repo); the base model of a LoRA",
    )
    p.add_argument("--variant", metavar="NAME", help="read that weight variant (model.NAME.safetensors), e.g. fp16")
    p.add_argument("--all", action="store_true", help="list every problem, not the first 10 of each kind")
    add_json_options(p)
    add_trust_option(p)
    p.set_defaults(func=check_command)


def check_command(args: argparse.Namespace) -> int:
    """Header counts of a checkpoint and its verdict against the architecture; exit 1 on a mismatch."""
    from ..checkpoint.check import check_checkpoint
    from ..checkpoint.render import issue_lines, stored_grid, verdict_grid, verdict_line
    from ..render import RenderOptions, show

    if not str(args.path).startswith("hub:"):
        from ..checkpoint.files import inspect_file

        report = inspect_file(args.path, against=args.against)
        if report is not None:
            return _check_file(args, report)
    check = check_checkpoint(
        args.path, against=args.against, views=True, variant=args.variant, trusted_libraries=trusted_of(args)
    )
    if args.json:
        write_json(envelope("check", {"check": check.to_dict()}), args.output)
        return 0 if check.ok else 1
    console = rich_console()
    options = RenderOptions(width=console.width)
    show(console, stored_grid(check.checkpoint, options, check))
    show(console, verdict_grid(check, options))
    for line in issue_lines(check, limit=None if args.all else 10):
        console.print(line, highlight=False, markup=False)
    notes = dict.fromkeys(f"{c.name}: {note}" for c in check.components for note in c.notes)
    for note in notes:
        console.print(f"[dim]note: {note}[/dim]", highlight=False)
    style = "bold green" if check.ok else "bold red"
    console.print(verdict_line(check), style=style, highlight=False)
    return 0 if check.ok else 1


def _check_file(args: argparse.Namespace, report: FileReport) -> int:
    """``check`` of a single file, LoRA or GGUF file: every part (target) against the architecture; exit 1 when one
    does not match, 2 when nothing could be compared."""
    from ..checkpoint.files import require_checked
    from ..checkpoint.gguf import GgufReport
    from ..checkpoint.lora import LoraReport
    from ..checkpoint.render import gguf_lines, lora_lines, lora_verdict, single_file_lines, single_file_verdict

    require_checked(report)
    limit = None if args.all else 10
    if isinstance(report, LoraReport):
        ok, kind = report.ok, "lora"
        lines = [*lora_lines(report, limit=limit), lora_verdict(report)]
    elif isinstance(report, GgufReport):
        single = report.single_file
        ok, kind = single is not None and single.ok, "gguf"
        lines = [*gguf_lines(report, limit=limit), *([single_file_verdict(single)] if single else [])]
    else:
        ok, kind = report.ok, "single-file"
        lines = [*single_file_lines(report, limit=limit), single_file_verdict(report)]
    if args.json:
        write_json(envelope("check", {kind: report.to_dict(), "ok": ok}), args.output)
    else:
        print("\n".join(lines))
    return 0 if ok else 1
