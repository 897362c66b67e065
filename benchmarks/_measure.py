"""Run a command as a child process and measure its wall time and peak RSS (os.wait4's rusage of that child)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurement:
    label: str
    seconds: float
    peak_rss_mb: float
    output: str


def run(label: str, argv: list[str], *, repeats: int = 3, env: dict[str, str] | None = None) -> Measurement:
    """Median wall time and the largest peak RSS (MiB) over ``repeats`` runs of ``argv``."""
    times: list[float] = []
    peaks: list[float] = []
    output = ""
    for _ in range(repeats):
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            start = time.perf_counter()
            proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
            _, status, usage = os.wait4(proc.pid, 0)
            elapsed = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            if proc.returncode != 0:
                tail = err.read().decode(errors="replace").strip().splitlines()[-3:]
                sys.exit(f"{label}: exited {proc.returncode}: {' | '.join(tail)}")
            output = out.read().decode(errors="replace")
        times.append(elapsed)
        peaks.append(usage.ru_maxrss / 1024)  # Linux: KiB
    return Measurement(label=label, seconds=statistics.median(times), peak_rss_mb=max(peaks), output=output)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]
