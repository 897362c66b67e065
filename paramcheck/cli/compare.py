"""``paramcheck compare``: two or more models side by side, per component and per layer type."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..envelope import envelope
from ..listing import merge_views
from ..sources import resolve
from .common import (
    add_json_options,
    add_layer_options,
    add_trust_option,
    rich_console,
    taxonomy_of,
    trusted_of,
    write_json,
)

if TYPE_CHECKING:
    from .common import Subparsers


def compare_command_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser("compare", help="compare two or more models side by side")
    p.add_argument("models", nargs="+", metavar="MODEL", help="two or more models")
    add_json_options(p)
    add_layer_options(p)
    add_trust_option(p)
    p.set_defaults(func=compare_command)


def compare_command(args: argparse.Namespace) -> int:
    from ..count import audit
    from ..render import RenderOptions, compare_table, views_compare_table

    taxonomy = taxonomy_of(args)
    trusted = trusted_of(args)
    reports = [audit(resolve(model), taxonomy=taxonomy, trusted_libraries=trusted) for model in args.models]
    views = [merge_views(r.components) for r in reports]
    if args.json:
        payload = {
            "reports": [r.to_dict() for r in reports],
            "views": [
                {"model": r.model, "views": [v.to_dict() for v in model_views]}
                for r, model_views in zip(reports, views, strict=True)
            ],
        }
        write_json(envelope("compare", payload), args.output)
        return 0
    console = rich_console()
    console.print(compare_table(reports))
    console.print(views_compare_table(reports, views, RenderOptions(lang=args.lang, taxonomy=taxonomy)))
    return 0
