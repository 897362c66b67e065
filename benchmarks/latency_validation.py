"""Validate the calibrated latency model: ``paramcheck bench`` on the GPU against the profile's prediction.

    # on a CUDA machine, one command: measure every bundled pipeline at its validation shapes and at 128x128,
    # fit the profile's host scale on the 128x128 forwards, predict the validation shapes, compare
    python -m benchmarks.latency_validation run --profile H200 --output-dir results/

    python -m benchmarks.latency_validation measure -o measured.json [--models a,b] [--deadline 480]
    python -m benchmarks.latency_validation fit-host --profile H200 -o fitted.json measured.json [more.json]
    python -m benchmarks.latency_validation predict --profile fitted.json -o predicted.json   # CPU: meta traces
    python -m benchmarks.latency_validation compare predicted.json measured.json [more.json] [--markdown t.md]
    python -m benchmarks.latency_validation catalog -o paramcheck/compute/profiles/catalog.json  # CPU

Validation shapes, per pipeline (none of them used to calibrate): ``default`` (the pipeline's own), ``res`` (another
resolution: 768x768 for the 1024 and 512 pipelines, 512x512 for DiT-256, 320x576 for Wan) and ``batch`` (2 images
at the default size; Wan at 33 frames). ``small`` (128x128, 16 prompt tokens, 1 frame) is measured too but is
calibration data: the host's dispatch cost per forward, from which the profile's host scales are fitted.
Components with the same class, config and shape across pipelines are measured once. Several sessions' files are
pooled: per forward the mean of the sessions' medians (the host's speed differs between sessions).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from paramcheck.compute.recipes import workload_for  # noqa: E402
from paramcheck.compute.workload import Workload  # noqa: E402
from paramcheck.sources import ModelSource, resolve  # noqa: E402

VALIDATION_SHAPES = ("default", "res", "batch")
CALIBRATION_SHAPES = ("small",)
FORWARD_FLOOR = 5e-3  # forwards shorter than this are listed but not in the target's statistics


def bundled() -> list[str]:
    from paramcheck.sources.bundled import bundled_ids

    return list(bundled_ids())


def workload(source: ModelSource, shape: str) -> Workload:
    """The named validation (or calibration) shape of a pipeline."""
    base = workload_for(source, {})
    if shape == "default":
        return base
    if shape == "res":
        if base.frames > 1:
            return workload_for(source, {"height": 320, "width": 576})
        side = 512 if base.height <= 256 else 768
        return workload_for(source, {"height": side, "width": side})
    if shape == "batch":
        return workload_for(source, {"batch": 2, **({"frames": 33} if base.frames > 1 else {})})
    if shape == "small":
        return workload_for(
            source, {"height": 128, "width": 128, "prompt_length": 16, **({"frames": 1} if base.frames > 1 else {})}
        )
    raise SystemExit(f"unknown shape {shape!r}")


def _shape_key(plan: Any) -> str:
    config = json.dumps(plan.spec.config, sort_keys=True, default=str)
    return f"{plan.spec.class_name}|{config}|{plan.shape}"


# --- measure (GPU) ------------------------------------------------------------------------------------------------


def measure(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from paramcheck.compute.bench.measure import bench_model, software
    from paramcheck.compute.recipes import plan_forwards

    output = Path(args.output)
    data: dict[str, Any] = json.loads(output.read_text()) if output.exists() else {}
    data.setdefault("software", software())
    data.setdefault("results", {})
    deadline = time.monotonic() + args.deadline if args.deadline else None
    shapes = list(args.shapes.split(","))
    seen: dict[str, dict[str, Any]] = {}  # shape key -> timing dict, for components shared across pipelines
    for model, per_shape in data["results"].items():
        for shape, report in per_shape.items():
            source = resolve(model)
            for plan in plan_forwards(source, workload(source, shape)):
                t = next((t for t in report["timings"] if t["component"] == plan.component), None)
                if t is not None:
                    seen[_shape_key(plan)] = t
    for model in args.models.split(",") if args.models else bundled():
        if deadline is not None and time.monotonic() > deadline:
            print(f"deadline: stopping before {model}", flush=True)
            break
        source = resolve(model)
        todo = [s for s in shapes if s not in data["results"].get(model, {})]
        if not todo:
            continue
        workloads = [workload(source, s) for s in todo]
        plans = [plan_forwards(source, w) for w in workloads]
        fresh = sorted({p.component for ps in plans for p in ps if _shape_key(p) not in seen})
        start = time.monotonic()
        kernels: dict[str, Any] = {}

        def inspect(
            w: Workload,
            timing: Any,
            run: Callable[[], Any],
            kernels: dict[str, Any] = kernels,
            source: ModelSource = source,
        ) -> None:
            if args.kernels and w == workload(source, args.kernels_shape):
                try:
                    kernels[timing.component] = kernel_census(run)
                except Exception as e:
                    kernels[timing.component] = {"error": f"{type(e).__name__}: {e}"}

        measured: list[dict[str, Any]] = [{} for _ in todo]  # per shape: component -> timing dict
        for name in fresh:  # one component at a time: a failure loses that component only
            try:
                reports = bench_model(
                    source,
                    workloads,
                    components=[name],
                    device=args.device,
                    warmup=args.warmup,
                    repeats=args.repeats,
                    budget=args.budget,
                    inspect=inspect,
                )
            except Exception as e:
                message = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                print(f"{model}/{name}: FAILED {message}", flush=True)
                data.setdefault("failures", {})[f"{model}/{name}"] = message
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                continue
            for index, report in enumerate(reports):
                measured[index] |= {t.component: t.to_dict() for t in report.timings}
        for index, shape in enumerate(todo):
            timings = measured[index]
            for plan in plans[index]:
                key = _shape_key(plan)
                if plan.component in timings:
                    seen[key] = timings[plan.component]
                elif key in seen:
                    shared = dict(seen[key])
                    shared["forwards"] = plan.forwards
                    shared["shared_with_earlier_measurement"] = True
                    timings[plan.component] = shared
            body = {
                "model": model,
                "shape": shape,
                "workload": workloads[index].to_dict(),
                "timings": [timings[p.component] for p in plans[index] if p.component in timings],
            }
            data["results"].setdefault(model, {})[shape] = body
        if kernels:
            data.setdefault("kernels", {})[model] = kernels
        output.write_text(json.dumps(data, indent=1) + "\n")
        done = {
            s: {
                t["component"]: round(statistics.median(t["seconds"]) * 1e3, 2)
                for t in data["results"][model][s]["timings"]
            }
            for s in todo
        }
        print(f"{model} ({time.monotonic() - start:.0f} s): {done}", flush=True)
    return data


def kernel_census(run: Callable[[], Any]) -> dict[str, Any]:
    """One forward under the PyTorch profiler: how many kernels ran, of which names, for how long (diagnostic)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    if not torch.cuda.is_available():
        return {}
    with torch.inference_mode(), profile(activities=[ProfilerActivity.CUDA]) as prof:
        run()
        torch.cuda.synchronize()
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    names: dict[str, list[float]] = {}
    for e in kernels:
        entry = names.setdefault(e.name[:120], [0, 0.0])
        entry[0] += 1
        entry[1] += (e.time_range.end - e.time_range.start) / 1e6
    top = sorted(names.items(), key=lambda kv: -kv[1][1])[:40]
    return {
        "kernels": len(kernels),
        "device_seconds": sum(v[1] for v in names.values()),
        "top": [{"name": k, "count": v[0], "seconds": v[1]} for k, v in top],
    }


# --- trace and predict (CPU) ----------------------------------------------------------------------------------


def traces_for(model: str, shapes: Sequence[str], cache: Path | None) -> dict[str, tuple[Any, Any]]:
    """(FLOP report, traces by component) for each shape, from one recorded pass per forward (``trace_model``), or
    from ``cache`` when there (pickles)."""
    from paramcheck.compute.predict import trace_model

    source = resolve(model)
    out: dict[str, tuple[Any, Any]] = {}
    for shape in shapes:
        path = cache / f"{model}--{shape}.pkl" if cache else None
        if path is not None and path.exists():
            out[shape] = pickle.loads(path.read_bytes())
            continue
        out[shape] = trace_model(source, workload(source, shape))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(pickle.dumps(out[shape]))
    return out


def _profile(name: str) -> Any:
    from paramcheck.compute.profile import profile_arg

    return profile_arg(name)


def predict(args: argparse.Namespace) -> dict[str, Any]:
    from paramcheck.compute.predict import predict_flops

    profile = _profile(args.profile)
    cache = Path(args.cache) if args.cache else None
    shapes = args.shapes.split(",")
    data: dict[str, Any] = {"profile": profile.describe(), "results": {}}
    for model in args.models.split(",") if args.models else bundled():
        start = time.monotonic()
        source = resolve(model)
        for shape, (flops, traces) in traces_for(model, shapes, cache).items():
            data["results"].setdefault(model, {})[shape] = predict_flops(source, flops, traces, profile).to_dict()
        print(f"{model}: traced and predicted ({time.monotonic() - start:.0f} s)", flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps(data, indent=1) + "\n")
    return data


def catalog(args: argparse.Namespace) -> None:
    from paramcheck.compute.bench.calibrate import catalog_from_traces

    cache = Path(args.cache) if args.cache else None
    traces = []
    for model in bundled():
        for _, by_component in traces_for(model, ("default", "small"), cache).values():
            traces += list(by_component.values())
        print(f"{model}: traced", flush=True)
    result = catalog_from_traces(
        traces,
        source="the bundled pipelines (paramcheck list), traced at their default "
        "and 128x128 shapes: weight shapes, layer signatures and attention kinds only",
    )
    Path(args.output).write_text(json.dumps(result.to_dict(), indent=1) + "\n")
    print(
        f"{len(result.matmuls)} matmul layers, {len(result.convs)} conv layers, {len(result.attention)} attention kinds"
    )


# --- pooling sessions and fitting the host scale ------------------------------------------------------------


def pool(files: Sequence[str | Path]) -> dict[str, Any]:
    """Measurements of several sessions as one: per forward, the median of each session that measured it (the
    host's speed differs between sessions; a forward's typical time is their mean)."""
    sessions = [json.loads(Path(f).read_text()) for f in files]
    out: dict[str, Any] = {"software": sessions[0].get("software", {}), "sessions": [str(f) for f in files]}
    results: dict[str, Any] = {}
    for data in sessions:
        for model, per_shape in data["results"].items():
            for shape, body in per_shape.items():
                slot = results.setdefault(model, {}).setdefault(
                    shape, {"model": model, "shape": shape, "workload": body["workload"], "timings": {}}
                )
                for t in body["timings"]:
                    entry = slot["timings"].setdefault(t["component"], {**t, "seconds": [], "host_seconds": []})
                    entry["seconds"].append(statistics.median(t["seconds"]))
                    if t.get("host_seconds"):
                        entry["host_seconds"].append(statistics.median(t["host_seconds"]))
                    entry["shared_with_earlier_measurement"] = bool(
                        entry.get("shared_with_earlier_measurement") or t.get("shared_with_earlier_measurement")
                    )
    for per_shape in results.values():
        for body in per_shape.values():
            body["timings"] = list(body["timings"].values())
    out["results"] = results
    return out


def fit_host(args: argparse.Namespace) -> None:
    """Host scales of the profile, per architecture, from the pooled ``small`` (calibration) shape."""
    from dataclasses import replace

    from paramcheck.compute.bench.calibrate import fit_host_scale
    from paramcheck.compute.profile import architecture_key

    profile = _profile(args.profile)
    measured = pool(args.measured)
    cache = Path(args.cache) if args.cache else None
    scales: dict[str, float] = {}
    for model, per_shape in sorted(measured["results"].items()):
        if "small" not in per_shape:
            continue
        timings = {t["component"]: t for t in per_shape["small"]["timings"]}
        source = resolve(model)
        for component, trace in traces_for(model, ("small",), cache)["small"][1].items():
            t = timings.get(component)
            spec = source.component(component)
            key = architecture_key(spec.class_name or "", spec.config or {})
            if t is None or key in scales:
                continue
            scales[key] = fit_host_scale(trace, statistics.median(t["seconds"]), profile)
            print(f"{model}/{component}: host scale {scales[key]:.2f}", flush=True)
    note = f"host scales fitted on the 128x128 forwards of {', '.join(args.measured)}"
    fitted = replace(
        profile,
        host_scale=statistics.median(scales.values()),
        host_scales=scales,
        notes=(*profile.notes, note),
    )
    Path(args.output).write_text(json.dumps(fitted.to_dict(), indent=1) + "\n")


# --- compare ------------------------------------------------------------------------------------------------------


def _error(predicted: float, measured: float) -> float:
    return (predicted - measured) / measured


def compare(
    measured: dict[str, Any], predicted: dict[str, Any], shapes: Sequence[str] = VALIDATION_SHAPES
) -> dict[str, Any]:
    """Rows per component and shape, per-image rows, and the target's statistics."""
    rows, images = [], []
    for model, per_shape in sorted(measured["results"].items()):
        for shape in shapes:
            m = per_shape.get(shape)
            p = predicted["results"].get(model, {}).get(shape)
            if m is None or p is None:
                continue
            # a component's prediction: nested (ComponentPrediction) or, in files before the port, flat
            pcomp = {c["component"]: {**c, **c.get("prediction", {})} for c in p["components"]}
            m_call = p_call = 0.0
            complete = set(pcomp) <= {t["component"] for t in m["timings"]}  # every forward of the call measured
            for t in m["timings"]:
                c = pcomp.get(t["component"])
                if c is None:
                    complete = False
                    continue
                med = statistics.median(t["seconds"])
                sessions = t["seconds"] if len(t["seconds"]) > 1 and "sessions" in measured else []
                m_call += t["forwards"] * med
                p_call += c["forwards"] * c["seconds"]
                rows.append(
                    {
                        "model": model,
                        "shape": shape,
                        "component": t["component"],
                        "inputs": t["inputs"],
                        "measured": med,
                        "predicted": c["seconds"],
                        "error": _error(c["seconds"], med),
                        "bound": c["bound"],
                        "host_measured": statistics.median(t["host_seconds"]) if t.get("host_seconds") else None,
                        "host_predicted": c["host_seconds"],
                        "gpu_predicted": c["gpu_seconds"],
                        "shared": bool(t.get("shared_with_earlier_measurement")),
                        "sessions": list(sessions),
                    }
                )
            batch = m["workload"]["batch"]
            if complete and m_call:
                images.append(
                    {
                        "model": model,
                        "shape": shape,
                        "measured": m_call / batch,
                        "predicted": p_call / batch,
                        "error": _error(p_call, m_call),
                    }
                )
    counted = [r for r in rows if r["measured"] > FORWARD_FLOOR and not r["shared"]]

    def stats(items: Sequence[dict[str, Any]]) -> dict[str, float]:
        errors = [abs(r["error"]) for r in items]
        if not errors:
            return {"cases": 0}
        return {"cases": len(errors), "median_abs_error": statistics.median(errors), "worst_abs_error": max(errors)}

    return {
        "rows": rows,
        "images": images,
        "forwards": stats(counted),
        "forwards_gpu_bound": stats([r for r in counted if r["bound"] == "gpu"]),
        "forwards_host_bound": stats([r for r in counted if r["bound"] == "host"]),
        "per_image": stats(images),
    }


def markdown(result: dict[str, Any]) -> str:
    """The README table: every forward and every image, then the statistics the target is stated on."""
    lines = [
        "| pipeline | shape | component | inputs | measured ms | sessions ms | predicted ms | error | bound |",
        "|---|---|---|---|---:|---:|---:|---:|---|",
    ]
    for r in result["rows"]:
        mark = "" if r["measured"] > FORWARD_FLOOR else " (< 5 ms)"
        if r["shared"]:
            mark += " (same as above)"
        sessions = " / ".join(f"{s * 1e3:,.1f}" for s in r.get("sessions", ())) or "-"
        lines.append(
            f"| {r['model']} | {r['shape']} | {r['component']}{mark} | {r['inputs']} | {r['measured'] * 1e3:,.2f} | "
            f"{sessions} | {r['predicted'] * 1e3:,.2f} | {100 * r['error']:+.1f}% | {r['bound']} |"
        )
    lines += ["", "| pipeline | shape | measured s / image | predicted s / image | error |", "|---|---|---:|---:|---:|"]
    for r in result["images"]:
        lines.append(
            f"| {r['model']} | {r['shape']} | {r['measured']:,.3f} | {r['predicted']:,.3f} | {100 * r['error']:+.1f}% |"
        )
    lines.append("")
    for key, label in (
        ("forwards", "forwards > 5 ms"),
        ("forwards_gpu_bound", "  of which GPU-bound (predicted)"),
        ("forwards_host_bound", "  of which host-bound (predicted)"),
        ("per_image", "per image"),
    ):
        stats = result.get(key, {})
        if stats.get("cases"):
            lines.append(
                f"{label}: {stats['cases']} cases, median |error| {100 * stats['median_abs_error']:.1f}%, worst "
                f"{100 * stats['worst_abs_error']:.1f}%  "
            )
    return "\n".join(lines) + "\n"


# --- main ---------------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, shapes: str) -> None:
        p.add_argument("--models", help="comma-separated bundled ids (default: all)")
        p.add_argument("--shapes", default=shapes)

    p = sub.add_parser("measure")
    common(p, ",".join((*VALIDATION_SHAPES, *CALIBRATION_SHAPES)))
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--deadline", type=float, help="seconds after which no new pipeline is started")
    p.add_argument("--device", default="cuda", help="cuda, or cpu for a smoke test with a tiny pipeline folder")
    p.add_argument("--kernels", action="store_true", help="also profile the kernels of one forward (diagnostic)")
    p.add_argument("--kernels-shape", default="small", help="the shape of that forward (default small)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=6)
    p.add_argument("--budget", type=float, default=1.0, help="seconds of timed forwards per component and shape")
    p = sub.add_parser("predict")
    common(p, ",".join((*VALIDATION_SHAPES, *CALIBRATION_SHAPES)))
    p.add_argument("--profile", required=True)
    p.add_argument("--cache", help="folder for pickled traces")
    p.add_argument("-o", "--output")
    p = sub.add_parser("compare")
    p.add_argument("predicted")
    p.add_argument("measured", nargs="+", help="one session's file, or several (pooled)")
    p.add_argument("--markdown")
    p.add_argument("--json")
    p = sub.add_parser("fit-host")
    p.add_argument("--profile", required=True)
    p.add_argument("--cache")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("measured", nargs="+")
    p = sub.add_parser("catalog")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--cache")
    p = sub.add_parser("run")
    common(p, ",".join((*VALIDATION_SHAPES, *CALIBRATION_SHAPES)))
    p.add_argument("--profile", default="H200")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--deadline", type=float)
    p.add_argument("--device", default="cuda")
    p.add_argument("--kernels", action="store_true")
    p.add_argument("--kernels-shape", default="small")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=6)
    p.add_argument("--budget", type=float, default=1.0)
    p.add_argument("--cache")
    args = parser.parse_args(argv)

    if args.command == "measure":
        measure(args)
    elif args.command == "predict":
        predict(args)
    elif args.command == "catalog":
        catalog(args)
    elif args.command == "fit-host":
        fit_host(args)
    elif args.command == "compare":
        measured = pool(args.measured) if len(args.measured) > 1 else json.loads(Path(args.measured[0]).read_text())
        result = compare(measured, json.loads(Path(args.predicted).read_text()))
        text = markdown(result)
        print(text)
        if args.markdown:
            Path(args.markdown).write_text(text)
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    elif args.command == "run":
        out = Path(args.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        args.output = str(out / "measured.json")
        measured = measure(args)
        if "small" in args.shapes.split(","):
            args.measured = [args.output]
            args.output = str(out / "profile-fitted.json")
            fit_host(args)
            args.profile = args.output
        args.output = str(out / "predicted.json")
        predicted = predict(args)
        result = compare(measured, predicted)
        (out / "comparison.json").write_text(json.dumps(result, indent=1) + "\n")
        text = markdown(result)
        (out / "comparison.md").write_text(text)
        print(text)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
