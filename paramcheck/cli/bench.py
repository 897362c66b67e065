"""``paramcheck bench``: each component's forward timed on the GPU at hand, built from its config with random weights
(no download), at the pipeline's shapes; with ``--profile``, the prediction beside each measurement."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..envelope import envelope
from ..sources import resolve
from .common import (
    add_json_options,
    add_workload_options,
    device_arg,
    dtype_arg,
    positive,
    rich_console,
    workload_values,
    write_json,
)

if TYPE_CHECKING:
    from .common import Subparsers


def bench_command_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser("bench", help="time each component's forward on the GPU (random weights from the config)")
    p.add_argument("model", help="bundled id (paramcheck list), local folder, hub ORG/NAME or hub:ORG/NAME[@REV]")
    p.add_argument("--revision", metavar="REV", help="hub models: branch, tag or commit sha (default: main)")
    p.add_argument("--device", type=device_arg, default="cuda", help="cuda (default), cuda:N, or cpu for a smoke test")
    p.add_argument(
        "--dtype", type=dtype_arg, default="bf16", help="weights and activations: bf16 (default), fp16, fp32"
    )
    p.add_argument("--components", metavar="A,B", help="only these components")
    p.add_argument("--warmup", type=positive, default=2, help="untimed forwards first (default 2)")
    p.add_argument("--repeats", type=positive, default=10, help="timed forwards at most (default 10, 2 s budget)")
    p.add_argument("--profile", metavar="NAME|FILE", help="also predict from this latency profile (e.g. H200)")
    add_json_options(p)
    add_workload_options(p.add_argument_group("workload (defaults: the pipeline's own)"))
    p.set_defaults(func=bench_command)


def bench_command(args: argparse.Namespace) -> int:
    from ..compute.bench.measure import bench_model
    from ..compute.predict import predict_model
    from ..compute.profile import profile_arg
    from ..compute.recipes import workload_for
    from ..devices import resolve_device

    resolve_device(args.device)  # fail before any work on a device that is not there
    profile = profile_arg(args.profile) if args.profile else None
    source = resolve(args.model, args.revision)
    workload = workload_for(source, {**workload_values(args), "activation_dtype": args.dtype})
    components = args.components.split(",") if args.components else None
    (report,) = bench_model(
        source,
        [workload],
        device=args.device,
        dtype=args.dtype,
        components=components,
        warmup=args.warmup,
        repeats=args.repeats,
    )
    prediction = predict_model(source, workload, profile) if profile is not None else None
    if args.json:
        body = {"bench": report.to_dict()}
        if prediction is not None:
            body["prediction"] = prediction.to_dict()
        write_json(envelope("bench", body, dtype=args.dtype), args.output)
        return 0
    from ..compute.bench.tables import bench_summary, bench_table

    console = rich_console()
    console.print(bench_table(report, prediction))
    for line in bench_summary(report, prediction):
        console.print(line, highlight=False)
    for note in report.notes:
        console.print(f"[dim]note: {note}[/dim]")
    console.print(f"[dim]defaults: {workload.defaults}[/dim]")
    return 0
