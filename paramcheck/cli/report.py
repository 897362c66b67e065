"""``paramcheck report``: one model's parameters per component and layer type, optionally its layers; with
``--flops``/``--memory``/``--html``, FLOPs, latency and memory advice too."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..dtypes import DTYPE_NAMES
from ..envelope import envelope
from ..errors import ConfigError
from ..listing import fold, merge_views, select, select_records, unfolded
from ..sources import resolve
from .common import (
    add_json_options,
    add_layer_options,
    add_workload_options,
    dtype_arg,
    positive,
    rich_console,
    taxonomy_of,
    workload_values,
    write_json,
)

if TYPE_CHECKING:
    from ..checkpoint.files import FileKind
    from ..sources import ModelSource
    from .common import Subparsers


def report_command_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser("report", help="count one model's parameters per component")
    p.add_argument(
        "model",
        help="bundled id (paramcheck list), local folder, hub ORG/NAME or hub:ORG/NAME[@REV]; or a file: a single-file "
        "checkpoint (.safetensors), a LoRA (file or adapter folder) or a .gguf file (what is this file?)",
    )
    p.add_argument("--revision", metavar="REV", help="hub models: branch, tag or commit sha (default: main)")
    p.add_argument("--dtype", type=dtype_arg, default="bf16", help=f"dtype of the MB column ({', '.join(DTYPE_NAMES)})")
    add_json_options(p)
    add_layer_options(p)
    p.add_argument("--layers", action="store_true", help="list the layers, repeated blocks folded")
    p.add_argument("--depth", type=positive, metavar="N", help="with --layers: layers at most N levels deep")
    p.add_argument("--top", type=positive, metavar="N", help="with --layers: the N largest, largest first")
    p.add_argument("--filter", metavar="PATTERN", help="with --layers: name, class or category (text or glob)")
    p.add_argument("--no-fold", action="store_true", help="with --layers: list every repeated block")
    _add_compute_options(p)
    p.set_defaults(func=report_command)


def report_command(args: argparse.Namespace) -> int:
    from ..count import audit
    from ..render import RenderOptions, component_table, listing_table, views_table

    if args.revision is None and Path(args.model).expanduser().exists():
        from ..checkpoint.files import FileKind, file_kind

        kind = file_kind(args.model)
        if kind is not FileKind.MODEL:
            return _report_file(args, kind)
    source = resolve(args.model, args.revision)
    if args.flops or args.memory or args.html:
        return _report_compute(args, source)
    taxonomy = taxonomy_of(args)
    report = audit(source, layers=args.layers, taxonomy=taxonomy)
    views = merge_views(report.components)
    if args.json:
        data = report.to_dict()
        for component, counts in zip(data["components"], report.components, strict=True):
            if args.layers:
                picked = select_records(counts.layers, depth=args.depth, pattern=args.filter)
                component["layers"] = [r.to_dict() for r in picked]
        payload = {"report": data, "views": [v.to_dict() for v in views], "taxonomy": taxonomy.source}
        write_json(envelope("report", payload, dtype=args.dtype), args.output)
        return 0
    console = rich_console()
    console.print(component_table(report, dtype=args.dtype))
    labels = {c.id: c.label(args.lang) for c in taxonomy.categories}
    options = RenderOptions(dtype=args.dtype, lang=args.lang, taxonomy=taxonomy)
    for counts in report.components:
        if not counts.views or not counts.parameters:
            continue
        title = f"{report.model} / {counts.name} ({counts.class_name}): {counts.parameters:,} parameters"
        console.print(views_table(title, counts.views, counts.parameters, options))
        if args.layers:
            rows = unfolded(counts.layers) if args.no_fold else fold(counts.layers)
            rows = select(rows, depth=args.depth, top=args.top, pattern=args.filter, labels=labels)
            if rows:
                console.print(listing_table(f"{report.model} / {counts.name}: layers", rows, options))
    title = f"{report.model}: whole model, {report.parameters:,} parameters by layer type"
    console.print(views_table(title, views, report.parameters, options))
    if taxonomy.source:
        console.print(f"[dim]note: layer-type rules from {taxonomy.source} come first[/dim]")
    for note in report.notes:
        console.print(f"[dim]note: {note}[/dim]")
    return 0


def _report_file(args: argparse.Namespace, kind: FileKind) -> int:
    """``report FILE``: what a single file, LoRA or GGUF file holds (a single file of a bundled release is checked
    against it too); an ordinary checkpoint file: its header counts per dtype."""
    from ..checkpoint.files import FileKind, inspect_file
    from ..checkpoint.render import gguf_lines, lora_lines, single_file_lines, stored_table
    from ..checkpoint.summary import read_checkpoint

    model_only = [f"--{o}" for o in ("flops", "memory", "html", "layers") if getattr(args, o)]
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
        rich_console().print(stored_table(stored))
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


# --- report --flops/--memory/--html -----------------------------------------------------------------------------------


def _add_compute_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("compute and memory (defaults: the pipeline's own, see paramcheck.compute.recipes)")
    g.add_argument("--flops", action="store_true", help="FLOPs/MACs per component and per image, predicted latency")
    g.add_argument("--memory", action="store_true", help="weights per format, cards that fit, activation memory")
    g.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report with tables and plots")
    add_workload_options(g)
    g.add_argument(
        "--gpu",
        default="H200",
        help="GPU of the latency: a measured profile (H200, the default, or a file from paramcheck calibrate) gives "
        "a calibrated prediction, a datasheet GPU (H100 SXM, A100 80GB SXM, L40S, L4, RTX 4090) a roofline",
    )


def _report_compute(args: argparse.Namespace, source: ModelSource) -> int:
    """``report --flops/--memory/--html``: parameters, then FLOPs and latency, then memory advice."""
    from ..compute.analysis import analyse

    analysis = analyse(
        source,
        flops=args.flops or args.memory or bool(args.html),
        require_flops=args.flops,
        gpu_name=args.gpu,
        **workload_values(args),
    )
    if args.html:
        from ..compute.html import write_html

        write_html(analysis, Path(args.html))
    if args.json:
        data = analysis.to_dict(flops=args.flops, memory=args.memory)
        write_json(envelope("report", data, dtype=args.dtype), args.output)
        return 0
    from ..compute.tables import flops_table, latency_notes, memory_fit_table, memory_weights_table
    from ..render import component_table

    console = rich_console()
    console.print(component_table(analysis.report, dtype=args.dtype))
    if args.flops and analysis.flops is not None:
        console.print(flops_table(analysis.flops, analysis.latency, analysis.prediction))
        for note in (*analysis.flops.notes, *latency_notes(analysis.prediction, analysis.latency)):
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
