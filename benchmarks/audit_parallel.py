"""The whole registry audit at -n 1 and -n auto: wall time, peak memory per worker, speed-up.

    python -m benchmarks.audit_parallel [--repeats 1] [-- extra pytest args]

Each configuration runs `python -m pytest audits -q -p benchmarks.peak_rss_plugin -n N` as a fresh process; every
pytest process writes its own peak RSS (ru_maxrss) when its session ends.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(workers: str, extra: list[str], repeats: int) -> tuple[float, dict[str, int], str]:
    times: list[float] = []
    peaks: dict[str, int] = {}
    tail = ""
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as folder:
            env = {**os.environ, "PARAMCHECK_PEAK_DIR": folder}
            argv = [sys.executable, "-m", "pytest", "audits", "-q", "-p", "benchmarks.peak_rss_plugin", "-n", workers]
            start = time.perf_counter()
            result = subprocess.run([*argv, *extra], env=env, capture_output=True, text=True, check=False)
            times.append(time.perf_counter() - start)
            if result.returncode != 0:
                sys.exit(f"-n {workers}: pytest exited {result.returncode}:\n{result.stdout[-2000:]}")
            tail = result.stdout.strip().splitlines()[-1]
            for path in Path(folder).glob("*.txt"):
                peaks[path.stem] = max(peaks.get(path.stem, 0), int(path.read_text()))
    return statistics.median(times), peaks, tail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("extra", nargs="*", help="more pytest arguments (after --)")
    args = parser.parse_args()
    serial, serial_peaks, serial_tail = run("1", args.extra, args.repeats)
    parallel, parallel_peaks, parallel_tail = run("auto", args.extra, args.repeats)
    print(f"cores: {os.cpu_count()}")
    for label, seconds, peaks, tail in (
        ("-n 1", serial, serial_peaks, serial_tail),
        ("-n auto", parallel, parallel_peaks, parallel_tail),
    ):
        workers = {k: v for k, v in peaks.items() if k != "main"}
        per_worker = ", ".join(f"{k} {v / 2**20:,.0f} MiB" for k, v in sorted(workers.items()))
        print(f"{label:8} {seconds:7.1f} s   {tail}")
        print(f"{'':8} peak RSS per worker: {per_worker}; controller {peaks.get('main', 0) / 2**20:,.0f} MiB")
    print(f"speed-up (-n 1 / -n auto): {serial / parallel:.2f}x")


if __name__ == "__main__":
    main()
