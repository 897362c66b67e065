"""The package's layering stays true: import-linter's contracts (pyproject ``[tool.importlinter]``) are kept."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept() -> None:
    lint_imports = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(lint_imports).exists():
        pytest.fail("lint-imports is not installed; pip install -e '.[test]' brings import-linter")
    result = subprocess.run(
        [lint_imports, "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_no_import_cycles_between_modules() -> None:
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("paramcheck", cache_dir=None)
    # an edge a -> b closes a cycle when b reaches a again (function-local imports count: they hide the graph)
    cycles = [
        (a, b, graph.find_shortest_chain(importer=b, imported=a))
        for a in sorted(graph.modules)
        for b in sorted(graph.find_modules_directly_imported_by(a))
        if graph.find_shortest_chain(importer=b, imported=a) is not None
    ]
    assert cycles == []


def test_public_api_names_resolve() -> None:
    # every name of paramcheck.__all__ is reachable, the lazy ones included, without importing torch up front
    code = (
        "import sys, paramcheck\n"
        "light = 'torch' not in sys.modules\n"
        "missing = [n for n in paramcheck.__all__ if getattr(paramcheck, n, None) is None]\n"
        "sys.exit(f'missing {missing}' if missing else (0 if light else 'import paramcheck imported torch'))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
