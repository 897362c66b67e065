"""The ``paramcheck`` command: gather results, then render them. Errors become one line and exit code 2."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from .dtypes import DTYPE_NAMES, canonical_dtype
from .envelope import envelope
from .errors import ParamcheckError

if TYPE_CHECKING:
    from .sources import ModelSource

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
    from rich.progress import Progress
    from rich.table import Table

    from .count import audit
    from .sources.bundled import bundled_ids, bundled_model

    table = Table(title="bundled models", title_justify="left")
    for column in ("id", "family", "hub repository", "components with parameters"):
        table.add_column(column)
    if args.totals:
        table.add_column("parameters", justify="right")
    ids = bundled_ids()
    with Progress(transient=True, console=Console(stderr=True), disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task("counting", total=len(ids) if args.totals else 0)
        for model_id in ids:
            model = bundled_model(model_id)
            row = [model.id, model.family, model.hub_repo or "-"]
            if args.totals:
                report = audit(model_id)
                parts = [f"{c.name} {c.parameters / 1e9:.2f}B" for c in report.components if c.parameters]
                row += [", ".join(parts), f"{report.parameters:,}"]
                progress.advance(task)
            else:
                from .sources import resolve

                row.append(", ".join(c.name for c in resolve(model_id).components if c.config is not None))
            table.add_row(*row)
    _console().print(table)
    return 0


def _taxonomy(args: argparse.Namespace) -> Any:
    from .taxonomy import find_config, load_taxonomy

    path = Path(args.config) if args.config else find_config()
    if args.config and path is not None and not path.is_file():
        raise ParamcheckError(f"{path}: no such file; pass the pyproject.toml that holds [tool.paramcheck]")
    return load_taxonomy(path)


def cmd_report(args: argparse.Namespace) -> int:
    from .count import audit
    from .listing import fold, merge_views, select, select_records, unfolded
    from .render import component_table, listing_table, views_table
    from .sources import resolve

    source = resolve(args.model, args.revision)
    if args.flops or args.memory or args.html:
        return _report_compute(args, source)
    taxonomy = _taxonomy(args)
    report = audit(source, layers=args.layers, taxonomy=taxonomy)
    views = merge_views(report.components)
    if args.json:
        data = report.to_dict()
        for component, counts in zip(data["components"], report.components, strict=True):
            if args.layers:
                picked = select_records(counts.layers, depth=args.depth, pattern=args.filter)
                component["layers"] = [r.to_dict() for r in picked]
        payload = {"report": data, "views": [v.to_dict() for v in views], "taxonomy": taxonomy.source}
        _write_json(envelope("report", payload, dtype=args.dtype), args.output)
        return 0
    console = _console()
    console.print(component_table(report, dtype=args.dtype))
    labels = {c.id: c.label(args.lang) for c in taxonomy.categories}
    style: dict[str, Any] = {"dtype": args.dtype, "lang": args.lang, "taxonomy": taxonomy}
    for counts in report.components:
        if not counts.views or not counts.parameters:
            continue
        title = f"{report.model} / {counts.name} ({counts.class_name}): {counts.parameters:,} parameters"
        console.print(views_table(title, counts.views, counts.parameters, **style))
        if args.layers:
            rows = unfolded(counts.layers) if args.no_fold else fold(counts.layers)
            rows = select(rows, depth=args.depth, top=args.top, pattern=args.filter, labels=labels)
            if rows:
                console.print(listing_table(f"{report.model} / {counts.name}: layers", rows, **style))
    title = f"{report.model}: whole model, {report.parameters:,} parameters by layer type"
    console.print(views_table(title, views, report.parameters, **style))
    if taxonomy.source:
        console.print(f"[dim]note: layer-type rules from {taxonomy.source} come first[/dim]")
    for note in report.notes:
        console.print(f"[dim]note: {note}[/dim]")
    return 0


def _report_compute(args: argparse.Namespace, source: ModelSource) -> int:
    """``report --flops/--memory/--html``: parameters, then FLOPs and latency, then memory advice."""
    from .compute.analysis import analyse

    given = {name: getattr(args, name) for name in WORKLOAD_OPTIONS}
    analysis = analyse(
        source,
        flops=args.flops or args.memory or bool(args.html),
        require_flops=args.flops,
        gpu_name=args.gpu,
        **{name: value for name, value in given.items() if value is not None},
    )
    if args.html:
        from .compute.html import write_html

        write_html(analysis, Path(args.html))
    if args.json:
        data = analysis.to_dict(flops=args.flops, memory=args.memory)
        _write_json(envelope("report", data, dtype=args.dtype), args.output)
        return 0
    from .compute.tables import flops_table, memory_fit_table, memory_weights_table
    from .render import component_table

    console = _console()
    console.print(component_table(analysis.report, dtype=args.dtype))
    if args.flops and analysis.flops is not None:
        console.print(flops_table(analysis.flops, analysis.latency))
        for note in (*analysis.flops.notes, *(analysis.latency.notes if analysis.latency else ())):
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


def cmd_plot(args: argparse.Namespace) -> int:
    from .count import audit
    from .plot import write_plot
    from .sources import resolve

    reports = [audit(resolve(model)) for model in args.models]
    write_plot(reports, Path(args.output))
    print(f"wrote {args.output}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .count import audit
    from .listing import merge_views
    from .render import compare_table, views_compare_table
    from .sources import resolve

    taxonomy = _taxonomy(args)
    reports = [audit(resolve(model), taxonomy=taxonomy) for model in args.models]
    views = [merge_views(r.components) for r in reports]
    if args.json:
        payload = {
            "reports": [r.to_dict() for r in reports],
            "views": [
                {"model": r.model, "views": [v.to_dict() for v in model_views]}
                for r, model_views in zip(reports, views, strict=True)
            ],
        }
        _write_json(envelope("compare", payload), args.output)
        return 0
    console = _console()
    console.print(compare_table(reports))
    console.print(views_compare_table(reports, views, lang=args.lang, taxonomy=taxonomy))
    return 0


def _device(value: str) -> str:
    from .devices import parse_device

    try:
        return parse_device(value)
    except ParamcheckError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def cmd_load(args: argparse.Namespace) -> int:
    import gc

    from rich.progress import Progress

    from .build import build_model
    from .count import count_model
    from .devices import resolve_device
    from .load import LoadResult, load_component
    from .render import load_table
    from .sources import resolve

    resolve_device(args.device)  # fail before any work on a device that is not there
    source = resolve(args.model)
    names = args.components.split(",") if args.components else None
    specs = [s for s in source.components if s.config is not None and (names is None or s.name in names)]
    if names is not None:
        for name in names:
            source.component(name)  # unknown names: one-line error with the list
    built = build_model(source, components=[s.name for s in specs])  # one meta build: counted and compared
    expected = count_model(built)
    results: list[LoadResult] = []
    with Progress(transient=True, console=Console(stderr=True), disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task("loading", total=len(specs))
        for spec in specs:
            progress.update(task, description=f"{'materializing' if args.materialize else 'loading'} {spec.name}")
            result, module = load_component(
                spec,
                device=args.device,
                dtype=args.dtype,
                device_map=args.device_map,
                materialize=args.materialize,
                reference=built.module(spec.name),
            )
            results.append(result)
            del module
            gc.collect()
            if result.device.startswith("cuda") or result.cuda:
                import torch

                torch.cuda.empty_cache()
            progress.advance(task)
    mismatched = [
        r.component
        for r in results
        if r.mismatches or r.counts.parameters != (expected.component(r.component) or r.counts).parameters
    ]
    if args.json:
        body = {"model": source.model, "expected": expected.to_dict(), "loads": [r.to_dict() for r in results]}
        _write_json(envelope("load", body, dtype=args.dtype), args.output)
    else:
        console = _console()
        console.print(load_table(source.model, expected, results))
        for r in results:
            for problem in r.mismatches[:20]:
                console.print(f"[red]{r.component}: {problem}[/red]")
    if mismatched:
        print(f"paramcheck: the loaded weights do not match the config for: {', '.join(mismatched)}", file=sys.stderr)
        return 1
    return 0


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive integer; pass e.g. 2")
    return number


def _layer_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lang", choices=("en", "zh"), default="en", help="language of the layer-type names")
    p.add_argument(
        "--config",
        metavar="PYPROJECT",
        help="pyproject.toml with [tool.paramcheck] layer-type rules (default: the nearest one upwards)",
    )


def cmd_check(args: argparse.Namespace) -> int:
    """Header counts of a checkpoint and its verdict against the architecture; exit 1 on a mismatch."""
    from .checkpoint.check import check_checkpoint, taxonomy_views
    from .checkpoint.render import issue_lines, stored_table, verdict_line, verdict_table

    check = check_checkpoint(args.path, against=args.against, views=taxonomy_views)
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
    p.add_argument("--no-totals", dest="totals", action="store_false", help="skip counting (faster)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("report", help="count one model's parameters per component")
    p.add_argument("model", help="bundled id (paramcheck list), local folder, hub ORG/NAME or hub:ORG/NAME[@REV]")
    p.add_argument("--revision", metavar="REV", help="hub models: branch, tag or commit sha (default: main)")
    p.add_argument("--dtype", type=_dtype, default="bf16", help=f"dtype of the MB column ({', '.join(DTYPE_NAMES)})")
    p.add_argument("--json", action="store_true", help="write JSON instead of tables")
    p.add_argument("--output", "-o", metavar="FILE", help="with --json: write to FILE instead of stdout")
    _layer_options(p)
    p.add_argument("--layers", action="store_true", help="list the layers, repeated blocks folded")
    p.add_argument("--depth", type=_positive, metavar="N", help="with --layers: layers at most N levels deep")
    p.add_argument("--top", type=_positive, metavar="N", help="with --layers: the N largest, largest first")
    p.add_argument("--filter", metavar="PATTERN", help="with --layers: name, class or category (text or glob)")
    p.add_argument("--no-fold", action="store_true", help="with --layers: list every repeated block")
    _add_compute_options(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("plot", help="stacked bars of parameters by component and layer type (PNG or SVG)")
    p.add_argument("models", nargs="+", metavar="MODEL", help="one or more models")
    p.add_argument("--output", "-o", metavar="FILE", required=True, help="FILE.png or FILE.svg")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("compare", help="compare two or more models side by side")
    p.add_argument("models", nargs="+", metavar="MODEL", help="two or more models")
    p.add_argument("--json", action="store_true", help="write JSON instead of tables")
    p.add_argument("--output", "-o", metavar="FILE", help="with --json: write to FILE instead of stdout")
    _layer_options(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("load", help="load real weights (or materialize random ones) and measure memory")
    p.add_argument("model", help="a local pipeline or model folder with weights (or any model with --materialize)")
    p.add_argument("--components", metavar="A,B", help="only these components")
    p.add_argument("--device", type=_device, default="auto", help="auto, cpu, cuda, cuda:N (default: auto)")
    p.add_argument("--dtype", type=_dtype, default="fp32", help="fp32, fp16 or bf16 (default: fp32)")
    p.add_argument("--device-map", choices=["balanced", "auto", "cpu"], help="let accelerate place the weights")
    p.add_argument("--materialize", action="store_true", help="random weights from the config, at full size")
    p.add_argument("--json", action="store_true", help="write JSON instead of tables")
    p.add_argument("--output", "-o", metavar="FILE", help="with --json: write to FILE instead of stdout")
    p.set_defaults(func=cmd_load)

    p = sub.add_parser("check", help="does a safetensors checkpoint match its architecture? (headers only)")
    p.add_argument("path", help="a .safetensors file, a *.safetensors.index.json, a model folder or a pipeline folder")
    p.add_argument("--against", metavar="MODEL[:COMPONENT]", help="architecture for a lone file (bundled id/folder)")
    p.add_argument("--all", action="store_true", help="list every problem, not the first 10 of each kind")
    p.add_argument("--json", action="store_true", help="write JSON instead of tables")
    p.add_argument("--output", "-o", metavar="FILE", help="with --json: write to FILE instead of stdout")
    p.set_defaults(func=cmd_check)
    return parser


# The options of _add_compute_options that set a value of the workload (compute.workload.Workload) by its name.
WORKLOAD_OPTIONS = ("height", "width", "steps", "prompt_length", "batch", "cfg", "frames")


def _add_compute_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("compute and memory (defaults: the pipeline's own, see paramcheck.compute.recipes)")
    g.add_argument("--flops", action="store_true", help="FLOPs/MACs per component and per image, latency estimate")
    g.add_argument("--memory", action="store_true", help="weights per format, cards that fit, activation memory")
    g.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report with tables and plots")
    g.add_argument("--height", type=_positive, help="image height in pixels")
    g.add_argument("--width", type=_positive, help="image width in pixels")
    g.add_argument("--steps", type=_positive, help="denoising steps")
    g.add_argument("--prompt-length", type=_positive, help="prompt tokens seen by the text encoders")
    g.add_argument("--batch", type=_positive, default=1, help="images per call (default 1)")
    g.add_argument("--frames", type=_positive, help="video frames (video pipelines; default the pipeline's own)")
    g.add_argument("--cfg", action=argparse.BooleanOptionalAction, default=None, help="classifier-free guidance on/off")
    g.add_argument("--gpu", default="H100 SXM", help="GPU of the latency estimate (default 'H100 SXM')")


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
