"""How fast are cold and warm commands against the import floor measured in the same run? (issue 19)

    python -m benchmarks.cache_speed [--model flux.1-dev] [--repeats 3]

Each figure is the median of ``--repeats`` fresh processes (wall seconds, CPU seconds = user + system of the child,
peak RSS of the largest run). "cold" runs with an empty result cache (a fresh ``PARAMCHECK_CACHE`` per run, so each
run builds); "warm" runs after one untimed run filled it. The floors, measured in the same run:

- python: ``python -c pass`` (the interpreter and site-packages, what no command can go below);
- import: importing torch and exactly the classes the model names (what any builder pays).

Targets:  cold ``report MODEL --json`` <= 1.1x the import floor; warm repeat <= 0.5 s wall and <= 100 MB peak RSS;
``list`` warm <= 0.5 s and cold <= 1.5x the import floor; ``report MODEL --flops --memory`` cold <= 2x the import
floor. On a shared machine the wall figures carry the load (printed with the table); the CPU figures less so.
paramcheck is byte-compiled first, as ``pip install`` does: with ``PYTHONDONTWRITEBYTECODE=1`` a checkout would
otherwise recompile its modules in every run (about 0.25 s of CPU).
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from benchmarks.report_speed import IMPORT_FLOOR


@dataclass(frozen=True, slots=True, kw_only=True)
class Figure:
    label: str
    wall: float
    cpu: float
    rss_mb: float


def _once(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(argv)}: failed: {err.strip().splitlines()[-3:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024 / 1e6  # Linux: KiB; MB as the target


def measure(label: str, argv: list[str], *, repeats: int, cache: str | None, warm: bool = False) -> Figure:
    """Median over ``repeats`` runs; ``cache``: None for a fresh empty cache per run, else that folder."""
    runs = []
    if warm:
        _once(argv, {**os.environ, "PARAMCHECK_CACHE": str(cache)})  # fill it, untimed
    for _ in range(repeats):
        folder = cache or tempfile.mkdtemp(prefix="paramcheck-cold-")
        try:
            runs.append(_once(argv, {**os.environ, "PARAMCHECK_CACHE": folder}))
        finally:
            if cache is None:
                shutil.rmtree(folder, ignore_errors=True)
    walls, cpus, rss = zip(*runs, strict=True)
    figure = Figure(label=label, wall=statistics.median(walls), cpu=statistics.median(cpus), rss_mb=max(rss))
    print(f"  {label}: {figure.wall:.2f} s wall, {figure.cpu:.2f} s CPU, {figure.rss_mb:.0f} MB", flush=True)
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="flux.1-dev")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n = args.repeats
    import paramcheck

    compileall.compile_dir(os.path.dirname(paramcheck.__file__), quiet=1)
    pc = [sys.executable, "-m", "paramcheck"]
    load_before = os.getloadavg()
    print(
        f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}  (cpus: {os.cpu_count()})"
    )
    warm_cache = tempfile.mkdtemp(prefix="paramcheck-warm-")
    try:
        python = measure("python floor", [sys.executable, "-c", "pass"], repeats=n, cache=warm_cache)
        floor = measure(
            "import floor", [sys.executable, "-c", IMPORT_FLOOR.format(model=args.model)], repeats=n, cache=warm_cache
        )
        report = [*pc, "report", args.model, "--json"]
        flops = [*pc, "report", args.model, "--flops", "--memory"]
        rows = [
            (measure("report --json, cold", report, repeats=n, cache=None), 1.1, None, None),
            (measure("report --json, warm", report, repeats=n, cache=warm_cache, warm=True), None, 0.5, 100),
            (measure("list, cold", [*pc, "list"], repeats=n, cache=None), 1.5, None, None),
            (measure("list, warm", [*pc, "list"], repeats=n, cache=warm_cache, warm=True), None, 0.5, None),
            (measure("report --flops --memory, cold", flops, repeats=n, cache=None), 2.0, None, None),
            (measure("report --flops --memory, warm", flops, repeats=n, cache=warm_cache, warm=True), None, None, None),
        ]
    finally:
        shutil.rmtree(warm_cache, ignore_errors=True)
    load_after = os.getloadavg()
    print(
        f"\nmodel: {args.model}; median of {n} fresh processes each; load average before {load_before[0]:.2f}, "
        f"after {load_after[0]:.2f} on {os.cpu_count()} cpus"
    )
    print(f"{'':34}{'wall s':>8}{'x floor':>9}{'CPU s':>8}{'x floor':>9}{'RSS MB':>8}  target")
    for f, ratio, seconds, mb in [(python, None, None, None), (floor, None, None, None), *rows]:
        verdicts = []
        if ratio is not None:
            ok = f.wall / floor.wall <= ratio
            verdicts.append(f"<= {ratio}x import floor: {'PASS' if ok else 'MISS'}")
        if seconds is not None:
            verdicts.append(f"<= {seconds} s: {'PASS' if f.wall <= seconds else 'MISS'}")
        if mb is not None:
            verdicts.append(f"<= {mb} MB: {'PASS' if f.rss_mb <= mb else 'MISS'}")
        print(
            f"{f.label:34}{f.wall:>8.2f}{f.wall / floor.wall:>9.2f}{f.cpu:>8.2f}{f.cpu / floor.cpu:>9.2f}"
            f"{f.rss_mb:>8.0f}  {'; '.join(verdicts)}"
        )


if __name__ == "__main__":
    main()
