"""``paramcheck list``: the bundled models, with each component's size and the total unless ``--no-totals``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rich.table import Table

from ..sources import resolve
from ..sources.bundled import bundled_ids, bundled_model
from .common import progress, rich_console

if TYPE_CHECKING:
    from .common import Subparsers


def list_command_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser("list", help="list the bundled models")
    p.add_argument("--no-totals", dest="totals", action="store_false", help="skip counting (faster)")
    p.set_defaults(func=list_command)


def list_command(args: argparse.Namespace) -> int:
    from ..count import audit
    from ..render import WIDE, compact

    console = rich_console()
    narrow = console.width < WIDE
    table = Table(title="bundled models", title_justify="left")
    for column in ("id", "family", "hub repository", "components with parameters"):
        if not (narrow and column == "family"):
            table.add_column(column, overflow="fold", min_width=8)
    if args.totals:
        table.add_column("parameters", justify="right", no_wrap=True)
    ids = bundled_ids()
    with progress() as bar:
        task = bar.add_task("counting", total=len(ids) if args.totals else 0)
        for model_id in ids:
            model = bundled_model(model_id)
            row = [model.id, *([] if narrow else [model.family]), model.hub_repo or "-"]
            if args.totals:
                report = audit(model_id)
                parts = [f"{c.name} {compact(c.parameters)}" for c in report.components if c.parameters]
                row += [", ".join(parts), compact(report.parameters) if narrow else f"{report.parameters:,}"]
                bar.advance(task)
            else:
                row.append(", ".join(c.name for c in resolve(model_id).components if c.config is not None))
            table.add_row(*row)
    console.print(table)
    return 0
