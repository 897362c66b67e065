"""``paramcheck compare``: two or more models side by side, lined up by role (text encoder against text encoder,
whatever the slots are called), per component with class, size and share, per layer type, and with
``--flops``/``--memory`` their compute and memory figures side by side."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ..cache import cached_report
from ..dtypes import DTYPE_NAMES
from ..envelope import envelope
from ..listing import align_by_role, merge_views
from ..sources import resolve
from .common import (
    add_cache_option,
    add_compute_options,
    add_json_options,
    add_layer_options,
    add_trust_option,
    check_output,
    dtype_arg,
    refuse,
    refuse_idle_compute_options,
    result_cache,
    rich_console,
    taxonomy_of,
    trusted_of,
    workload_values,
    write_json,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console

    from ..compute.analysis import Analysis
    from ..render import RenderOptions
    from ..results import LayerView, ModelReport
    from .common import Subparsers


def compare_command_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser("compare", help="compare two or more models side by side")
    p.add_argument("models", nargs="+", metavar="MODEL", help="two or more models")
    p.add_argument("--dtype", type=dtype_arg, default="bf16", help=f"dtype of the sizes ({', '.join(DTYPE_NAMES)})")
    add_json_options(p)
    add_trust_option(p)
    add_layer_options(p)
    add_cache_option(p)
    add_compute_options(p)
    p.set_defaults(func=compare_command)


def compare_command(args: argparse.Namespace) -> int:
    from ..render import RenderOptions

    if args.html:
        raise refuse("--html", "compare writes no HTML page; use report --html per model, or drop --html")
    if args.json and args.lang != "en":
        raise refuse("--lang", "the JSON holds category ids, not names; drop --lang or --json")
    refuse_idle_compute_options(args)
    if args.json and args.output:
        check_output(args.output, "--output")
    if args.gpu is not None:
        from ..compute.latency import gpu

        gpu(args.gpu)
    taxonomy = taxonomy_of(args)
    cache = result_cache(args)
    trusted = trusted_of(args)
    sources = [resolve(model) for model in args.models]
    analyses: list[Analysis] = []
    if args.flops or args.memory:
        from ..compute.analysis import analyse

        workload: dict[str, Any] = dict(workload_values(args))
        analyses = [
            analyse(
                s,
                require_flops=args.flops,
                gpu_name=args.gpu or "H100 SXM",
                taxonomy=taxonomy,
                cache=cache,
                trusted_libraries=trusted,
                **workload,
            )
            for s in sources
        ]
        reports = [a.report for a in analyses]
    else:
        reports = [cached_report(s, cache=cache, taxonomy=taxonomy, trusted_libraries=trusted) for s in sources]
    views = [merge_views(r.components) for r in reports]
    if args.json:
        payload: dict[str, Any] = {
            "reports": [r.to_dict() for r in reports],
            "roles": [row.to_dict() for row in align_by_role(reports)],
            "views": [
                {"model": r.model, "views": [v.to_dict() for v in model_views]}
                for r, model_views in zip(reports, views, strict=True)
            ],
        }
        if analyses:
            payload["compute"] = [
                {"model": a.report.model}
                | {k: v for k, v in a.to_dict(flops=args.flops, memory=args.memory).items() if k != "report"}
                for a in analyses
            ]
        write_json(envelope("compare", payload, dtype=args.dtype), args.output)
        return 0
    console = rich_console()
    options = RenderOptions(dtype=args.dtype, lang=args.lang, taxonomy=taxonomy, width=console.width)
    print_compare(console, reports, views, analyses, options, flops=args.flops, memory=args.memory)
    return 0


def print_compare(
    console: Console,
    reports: Sequence[ModelReport],
    views: Sequence[Sequence[LayerView]],
    analyses: Sequence[Analysis],
    options: RenderOptions,
    *,
    flops: bool,
    memory: bool,
) -> None:
    """By role, components by role, layer types; with ``analyses``, the compute figures; the units note."""
    from ..render import UNITS_NOTE, compare_grids, note_text, show, views_compare_grid

    for grid in compare_grids(reports, options):
        show(console, grid)
    show(console, views_compare_grid(reports, views, options))
    if analyses:
        from ..compute.tables import compute_compare_grid

        show(console, compute_compare_grid(analyses, options, flops=flops, memory=memory))
    note = f"{options.t('note')}: {note_text(UNITS_NOTE, options.lang)}"
    console.print(note, style="dim", highlight=False, markup=False)
