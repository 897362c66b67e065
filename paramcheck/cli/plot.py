"""``paramcheck plot``: stacked bars of parameters by component and layer type, one model or several (PNG or SVG)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..cache import cached_report
from ..plot import IMAGE_FORMATS, write_plot
from ..sources import resolve
from .common import add_cache_option, add_trust_option, check_output, result_cache, trusted_of

if TYPE_CHECKING:
    from .common import Subparsers


def plot_command_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser("plot", help="stacked bars of parameters by component and layer type (PNG or SVG)")
    p.add_argument("models", nargs="+", metavar="MODEL", help="one or more models")
    p.add_argument("--output", "-o", metavar="FILE", required=True, help="FILE.png or FILE.svg")
    add_cache_option(p)
    add_trust_option(p)
    p.set_defaults(func=plot_command)


def plot_command(args: argparse.Namespace) -> int:
    check_output(args.output, "--output", tuple(f".{fmt}" for fmt in IMAGE_FORMATS))  # before any count
    cache = result_cache(args)
    trusted = trusted_of(args)
    reports = [cached_report(resolve(model), cache=cache, trusted_libraries=trusted) for model in args.models]
    write_plot(reports, Path(args.output))
    print(f"wrote {args.output}")
    return 0
