"""A pytest plugin for the benchmarks: each process (xdist worker or not) writes its peak RSS on exit.

pytest -p benchmarks.peak_rss_plugin ...   with PARAMCHECK_PEAK_DIR=/some/folder
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

import pytest


def pytest_sessionfinish(session: pytest.Session) -> None:
    folder = os.environ.get("PARAMCHECK_PEAK_DIR")
    if not folder:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    Path(folder, f"{worker}.txt").write_text(str(peak_kib * 1024))
