"""``paramcheck check``: does a safetensors checkpoint match its architecture? Headers only; exit 1 when not."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..envelope import envelope
from .common import add_json_options, add_trust_option, rich_console, trusted_of, write_json

if TYPE_CHECKING:
    from .common import Subparsers


def check_command_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser("check", help="does a safetensors checkpoint match its architecture? (headers only)")
    p.add_argument("path", help="a .safetensors file, a *.safetensors.index.json, a model folder or a pipeline folder")
    p.add_argument(
        "--against", metavar="MODEL[:COMPONENT]", help="architecture for a lone file (bundled id, folder or hub repo)"
    )
    p.add_argument("--all", action="store_true", help="list every problem, not the first 10 of each kind")
    add_json_options(p)
    add_trust_option(p)
    p.set_defaults(func=check_command)


def check_command(args: argparse.Namespace) -> int:
    """Header counts of a checkpoint and its verdict against the architecture; exit 1 on a mismatch."""
    from ..checkpoint.check import check_checkpoint
    from ..checkpoint.render import issue_lines, stored_table, verdict_line, verdict_table

    check = check_checkpoint(args.path, against=args.against, views=True, trusted_libraries=trusted_of(args))
    if args.json:
        write_json(envelope("check", {"check": check.to_dict()}), args.output)
        return 0 if check.ok else 1
    console = rich_console()
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
