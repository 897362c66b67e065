"""``paramcheck list``: the bundled models, with each component's size and the total unless ``--no-totals``.

The totals come from the file shipped with paramcheck (``paramcheck.totals``) when the installed libraries are the
ones it was counted with, else from the result cache, else from a fresh build (then stored in the cache).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rich.table import Table

from ..cache import cached_report
from ..sources import resolve
from ..sources.bundled import bundled_ids, bundled_model
from ..totals import ModelTotals, read_totals
from .common import add_cache_option, progress, result_cache, rich_console

if TYPE_CHECKING:
    from .common import Subparsers


def list_command_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser("list", help="list the bundled models")
    p.add_argument("--no-totals", dest="totals", action="store_false", help="skip counting (faster)")
    add_cache_option(p)
    p.set_defaults(func=list_command)


def list_command(args: argparse.Namespace) -> int:
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
    shipped = read_totals() if args.totals and args.cache else None
    cache = result_cache(args)
    with progress() as bar:
        task = bar.add_task("counting", total=len(ids) if args.totals else 0)
        for model_id in ids:
            model = bundled_model(model_id)
            row = [model.id, *([] if narrow else [model.family]), model.hub_repo or "-"]
            if args.totals:
                totals = shipped.model(model_id) if shipped is not None else None
                if totals is None:
                    totals = ModelTotals.of(cached_report(resolve(model_id), cache=cache))
                parts = [f"{name} {compact(parameters)}" for name, parameters in totals.components]
                row += [", ".join(parts), compact(totals.parameters) if narrow else f"{totals.parameters:,}"]
                bar.advance(task)
            else:
                row.append(", ".join(c.name for c in resolve(model_id).components if c.config is not None))
            table.add_row(*row)
    console.print(table)
    return 0
