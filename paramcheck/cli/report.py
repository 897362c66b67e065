"""``paramcheck report``: one model's summary and parameters per component; with ``--views`` its layer types, with
``--layers`` its layers, with ``--flops``/``--memory`` FLOPs, latency and memory advice; ``--html`` writes it all
to one page."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cache import cached_report
from ..dtypes import DTYPE_NAMES
from ..envelope import envelope
from ..errors import ConfigError
from ..fileio import is_file
from ..listing import fold, merge_views, select, select_records, unfolded
from ..sources import resolve
from .common import (
    add_cache_option,
    add_compute_options,
    add_json_options,
    add_layer_options,
    add_trust_option,
    check_output,
    dtype_arg,
    positive,
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
    from rich.console import Console

    from ..checkpoint.files import FileKind
    from ..compute.analysis import Analysis
    from ..listing import LayerRow
    from ..render import RenderOptions
    from ..results import LayerView, ModelReport
    from .common import Subparsers


def report_command_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser("report", help="count one model's parameters per component")
    p.add_argument(
        "model",
        help="bundled id (paramcheck list), local folder, hub ORG/NAME or hub:ORG/NAME[@REV]; or a file: a single-file "
        "checkpoint (.safetensors), a LoRA (file or adapter folder) or a .gguf file (what is this file?)",
    )
    p.add_argument("--revision", metavar="REV", help="hub models: branch, tag or commit sha (default: main)")
    p.add_argument("--dtype", type=dtype_arg, default="bf16", help=f"dtype of the sizes ({', '.join(DTYPE_NAMES)})")
    add_json_options(p)
    add_trust_option(p)
    add_layer_options(p)
    add_cache_option(p)
    p.add_argument("--views", action="store_true", help="layer types of each component and of the whole model")
    p.add_argument("--layers", action="store_true", help="list the layers, repeated blocks folded")
    p.add_argument("--depth", type=positive, metavar="N", help="with --layers: layers at most N levels deep")
    p.add_argument("--top", type=positive, metavar="N", help="with --layers: the N largest, largest first")
    p.add_argument("--filter", metavar="PATTERN", help="with --layers: name, class or category (text or glob)")
    p.add_argument("--no-fold", action="store_true", help="with --layers: list every repeated block")
    add_compute_options(p)
    p.set_defaults(func=report_command)


def _refuse_idle_options(args: argparse.Namespace) -> None:
    """Options that would do nothing in this combination are errors, before any work (those that need another
    option, such as ``--top`` without ``--layers``, are refused by ``common.refuse_idle_options`` in ``main``)."""
    if args.json:
        if args.top or args.no_fold:
            option = "--top" if args.top else "--no-fold"
            raise refuse(option, "the JSON lists every layer unfolded (--depth and --filter select); drop it or --json")
        if args.lang != "en":
            raise refuse("--lang", "the JSON holds category ids, not names; drop --lang or --json")
        if args.views:
            raise refuse("--views", "the JSON always holds the layer types; drop --views or --json")
    refuse_idle_compute_options(args)


def report_command(args: argparse.Namespace) -> int:
    _refuse_idle_options(args)
    if args.html:
        check_output(args.html, "--html", (".html", ".htm"))
    if args.json and args.output:
        check_output(args.output, "--output")
    if args.gpu is not None:
        from ..compute.latency import gpu
        from ..compute.profile import profile_arg

        if profile_arg(args.gpu, datasheet_ok=True) is None:
            gpu(args.gpu)  # a mistyped GPU (or an unreadable profile) before any work
    path = Path(args.model).expanduser()
    # A folder is a model unless it is a peft adapter (checkpoint.lora.is_adapter): decided here without importing
    # checkpoint.files, which imports torch, so that a cached report of a folder stays torch-free.
    if args.revision is None and (is_file(path) or is_file(path / "adapter_config.json")):
        from ..checkpoint.files import FileKind, file_kind

        kind = file_kind(args.model)
        if kind is not FileKind.MODEL:
            return _report_file(args, kind)
    source = resolve(args.model, args.revision)
    taxonomy = taxonomy_of(args)
    trusted = trusted_of(args)
    analysis = None
    if args.flops or args.memory:
        from ..compute.analysis import analyse

        analysis = analyse(
            source,
            flops=True,
            require_flops=args.flops,
            gpu_name=args.gpu or "H200",
            layers=args.layers,
            taxonomy=taxonomy,
            cache=result_cache(args),
            trusted_libraries=trusted,
            **workload_values(args),
        )
        report = analysis.report
    else:
        report = cached_report(
            source, cache=result_cache(args), layers=args.layers, taxonomy=taxonomy, trusted_libraries=trusted
        )
    views = merge_views(report.components)
    labels = {c.id: c.label(args.lang) for c in taxonomy.categories}
    listings = {
        c.name: select(
            unfolded(c.layers) if args.no_fold else fold(c.layers),
            depth=args.depth,
            top=args.top,
            pattern=args.filter,
            labels=labels,
        )
        for c in report.components
        if args.layers
    }
    if args.html:
        from ..compute.html import write_html
        from ..render import RenderOptions

        options = RenderOptions(dtype=args.dtype, lang=args.lang, taxonomy=taxonomy, width=200)
        write_html(
            Path(args.html),
            report,
            views,
            options=options,
            analysis=analysis,
            flops=args.flops,
            memory=args.memory,
            listings=listings,
        )
    if args.json:
        write_json(
            envelope("report", report_body(_json(args, report, views, analysis, taxonomy.source)), dtype=args.dtype),
            args.output,
        )
        return 0
    console = rich_console()
    from ..render import RenderOptions

    options = RenderOptions(dtype=args.dtype, lang=args.lang, taxonomy=taxonomy, width=console.width)
    _print_report(console, args, report, views, listings, options)
    if analysis is not None:
        _print_compute(console, args, analysis, options)
    if args.html:
        console.print(f"wrote {args.html}", highlight=False)
    return 0


# The keys of ``report --json`` whatever the flags (paramcheck/schemas/cli.schema.json); a part not asked for is null.
REPORT_KEYS = ("report", "views", "taxonomy", "flops", "latency", "memory")


def report_body(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with every key of ``REPORT_KEYS``, in that order (absent ones ``None``), then any others."""
    return {**dict.fromkeys(REPORT_KEYS), **data}


def _report_file(args: argparse.Namespace, kind: FileKind) -> int:
    """``report FILE``: what a single file, LoRA or GGUF file holds (a single file of a bundled release is checked
    against it too); an ordinary checkpoint file: its header counts per dtype."""
    from ..checkpoint.files import FileKind, inspect_file
    from ..checkpoint.render import gguf_lines, lora_lines, single_file_lines, stored_grid
    from ..checkpoint.summary import read_checkpoint
    from ..render import RenderOptions, show

    model_only = [f"--{o}" for o in ("flops", "memory", "html", "layers", "views") if getattr(args, o)]
    if model_only:
        raise ConfigError(
            f"{args.model}: {', '.join(model_only)} count a model, not a file; give a bundled id or a diffusers folder "
            "(paramcheck report FILE says what the file holds)"
        )

    if kind is FileKind.CHECKPOINT:
        stored, _ = read_checkpoint(args.model)
        if args.json:
            write_json(envelope("report", {"checkpoint": stored.to_dict()}), args.output)
            return 0
        console = rich_console()
        show(console, stored_grid(stored, RenderOptions(width=console.width)))
        print("note: a diffusers/transformers-layout checkpoint; paramcheck check FILE --against MODEL compares it")
        return 0
    report = inspect_file(args.model, kind=kind)
    if args.json:
        write_json(envelope("report", {kind.value: report.to_dict() if report else None}), args.output)
        return 0
    from ..checkpoint.gguf import GgufReport
    from ..checkpoint.lora import LoraReport

    if isinstance(report, LoraReport):
        lines = lora_lines(report)
    elif isinstance(report, GgufReport):
        lines = gguf_lines(report)
    elif report is not None:
        lines = single_file_lines(report)
    print("\n".join(lines))
    return 0


def _json(
    args: argparse.Namespace,
    report: ModelReport,
    views: tuple[LayerView, ...],
    analysis: Analysis | None,
    taxonomy: str | None,
) -> dict[str, Any]:
    """The same keys with or without ``--flops``/``--memory``: report, views, taxonomy, then flops, latency, memory."""
    data = report.to_dict()
    for component, counts in zip(data["components"], report.components, strict=True):
        if args.layers:
            picked = select_records(counts.layers, depth=args.depth, pattern=args.filter)
            component["layers"] = [r.to_dict() for r in picked]
    payload: dict[str, Any] = {"report": data, "views": [v.to_dict() for v in views], "taxonomy": taxonomy}
    if analysis is not None:
        more = analysis.to_dict(flops=args.flops, memory=args.memory)
        payload |= {key: value for key, value in more.items() if key != "report"}
    return payload


def _print_report(
    console: Console,
    args: argparse.Namespace,
    report: ModelReport,
    views: tuple[LayerView, ...],
    listings: dict[str, tuple[LayerRow, ...]],
    options: RenderOptions,
) -> None:
    """The summary first, then the component table; the layer types with ``--views``, the layers with
    ``--layers``; the notes last."""
    from ..render import UNITS_NOTE, component_grid, listing_grid, note_text, show, summary_lines, views_grid

    t = options.t
    for line in summary_lines(report, views, options):
        console.print(line, highlight=False, markup=False)
    console.print()
    show(console, component_grid(report, options))
    for counts in report.components:
        if args.views and counts.views and counts.parameters:
            title = f"{report.model} / {counts.name} ({counts.class_name}): {t('layer types')}"
            show(console, views_grid(title, counts.views, counts.parameters, options))
        if listings.get(counts.name):
            title = f"{report.model} / {counts.name}: {t('layers')}"
            show(console, listing_grid(title, listings[counts.name], options))
    if args.views:
        title = f"{report.model}: {t('whole model')}, {t('layer types')}"
        show(console, views_grid(title, views, report.parameters, options))
    notes = [UNITS_NOTE, *report.notes]
    taxonomy = options.taxonomy
    if taxonomy.source:
        notes.append(f"layer-type rules from {taxonomy.source} come first")
    for note in notes:
        console.print(f"{t('note')}: {note_text(note, options.lang)}", style="dim", highlight=False, markup=False)
    if not (args.views or args.layers or args.flops or args.memory or args.html):
        hint = "--views (layer types), --layers (every layer), --flops, --memory, --html FILE, --json"
        console.print(f"{t('more')}: {hint}", style="dim", highlight=False, markup=False)


def _print_compute(console: Console, args: argparse.Namespace, analysis: Analysis, options: RenderOptions) -> None:
    from ..compute.tables import flops_grids, latency_notes, memory_fit_grid, memory_weights_grid
    from ..render import note_text, show

    t = options.t
    if args.flops and analysis.flops is not None:
        for grid in flops_grids(analysis.flops, analysis.latency, options, analysis.prediction):
            show(console, grid)
        for note in (*analysis.flops.notes, *latency_notes(analysis.prediction, analysis.latency)):
            console.print(f"{t('note')}: {note_text(note, options.lang)}", style="dim", highlight=False, markup=False)
        defaults = f"{t('defaults')}: {analysis.flops.workload.defaults}"
        console.print(defaults, style="dim", highlight=False, markup=False)
    if args.memory:
        show(console, memory_weights_grid(analysis.memory, options))
        show(console, memory_fit_grid(analysis.memory, options))
        for note in analysis.memory.notes:
            console.print(f"{t('note')}: {note_text(note, options.lang)}", style="dim", highlight=False, markup=False)
