"""The gate in someone else's project: ``paramcheck init``, then pytest records, passes, fails on a change, accepts it.

The project is fresh and has its own conftest that defines ``--device`` (the option the plugin used to claim). Expected
numbers come from the tiny modules themselves (their own parameter counts), never from paramcheck.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import torch

import paramcheck.load
from paramcheck.cli import main
from tests.tiny import save_pipeline

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
SCHEMAS = REPO / "paramcheck" / "schemas"

CONFTEST = """
import pytest


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu", help="the project's own option")


@pytest.fixture
def device(request):
    return request.config.getoption("--device")
"""

OWN_TESTS = """
def test_own_device(device, pytestconfig):
    assert device in ("cpu", "xyz")
    assert pytestconfig.getoption("paramcheck_device") == "auto"  # --device went to the project, not to paramcheck
"""

HAND_WRITTEN = """
def test_my_flux(paramcheck_report, paramcheck_snapshot):
    assert paramcheck_report("my-flux") == paramcheck_snapshot
"""


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tiny_modules: Any) -> pytest.Pytester:
    """A fresh project: a tiny FLUX-shaped model folder (configs only), its own conftest and test, a pyproject.toml."""
    for name in ("CI", "BUILD_NUMBER"):  # outside CI the first run records; the workflow is the local one
        monkeypatch.delenv(name, raising=False)
    save_pipeline(pytester.path / "models" / "my-flux", tiny_modules, weights=False)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_own=OWN_TESTS)
    (pytester.path / "pyproject.toml").write_text('[project]\nname = "mine"  # kept\n\n[tool.ruff]\nline-length = 99\n')
    return pytester


def _init(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["init", *args]) == 0
    return capsys.readouterr().out


def _run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest("-p", "no:cacheprovider", "-p", "no:xdist", *args)


def test_init_then_record_pass_fail_update_pass(
    project: pytest.Pytester, capsys: pytest.CaptureFixture[str], tiny_modules: Any
) -> None:
    # 1. init writes the table, the test module and the snapshot folder, keeps the rest, and says what to run next
    out = _init(capsys, "models/my-flux")
    assert "next: pytest tests/test_paramcheck.py" in out
    pyproject = (project.path / "pyproject.toml").read_text()
    assert '[project]\nname = "mine"  # kept\n' in pyproject
    assert "line-length = 99" in pyproject
    assert '[tool.paramcheck.models]\nmy-flux = "models/my-flux"\n' in pyproject
    assert "verbosity_assertions = 2" in pyproject
    assert (project.path / "tests" / "test_paramcheck.py").is_file()
    assert (project.path / "snapshots").is_dir()
    project.makepyfile(test_hand=HAND_WRITTEN)

    # 2. the first pytest records: 4 components x 3 snapshot audits, and the hand-written whole-model test
    result = _run(project)
    # 4 x 3 snapshot audits + 4 x 3 invariants + the hand-written test + the project's own test; no weights: skipped
    result.assert_outcomes(passed=12 + 12 + 1 + 1, skipped=2)
    result.stdout.fnmatch_lines(["*13 snapshots generated.*"])
    stored = json.loads((project.path / "snapshots" / "test_paramcheck" / "my-flux.json").read_text())
    transformer = _count(tiny_modules["transformer"])
    assert stored["test_counts[my-flux-transformer]"]["transformer"]["parameters"] == transformer
    hand = json.loads((project.path / "snapshots" / "test_hand" / "test_my_flux.json").read_text())
    assert hand["test_my_flux"]["vae"]["parameters"] == _count(tiny_modules["vae"])
    assert not list(project.path.rglob("__snapshots__"))

    # 3. the second passes against what was recorded; the project's --device is the project's
    result = _run(project, "--device", "xyz")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*13 snapshots passed.*"])

    # 4. one config value changed: the counts fail with one readable line per changed count
    config_path = project.path / "models" / "my-flux" / "transformer" / "config.json"
    config = json.loads(config_path.read_text())
    config["num_single_layers"] += 1
    config_path.write_text(json.dumps(config))
    result = _run(project, "--json-report", "--json-report-file=gate.json")
    result.assert_outcomes(failed=3, passed=12 + 12 - 2 + 1, skipped=2)
    block = _count(tiny_modules["transformer"].single_transformer_blocks[0])
    percent = f"{block / transformer * 100:+.4f}%"
    diff_line = f"transformer.parameters: {transformer:,} -> {transformer + block:,} (+{block:,}, {percent})"
    assert diff_line in result.stdout.str()
    result.stdout.fnmatch_lines(["FAILED tests/test_paramcheck.py::test_counts[[]my-flux-transformer[]]*"])

    # ... and the JSON report carries expected and received, not only the traceback
    report = json.loads((project.path / "gate.json").read_text())
    schema = json.loads((SCHEMAS / "audit-metadata.schema.json").read_text())
    audits = [t for t in report["tests"] if "paramcheck" in t["nodeid"] and "skip" not in t["outcome"]]
    assert len(audits) == 24
    for test in audits:
        jsonschema.validate(test["metadata"], schema)
    environment_schema = {**schema, "$ref": "#/$defs/environment"}
    jsonschema.validate(report["environment"], environment_schema)
    assert report["environment"]["versions"]["torch"] == torch.__version__
    assert report["environment"]["models"] == {"my-flux": str(project.path / "models" / "my-flux")}
    failed = next(t for t in audits if t["nodeid"].endswith("test_counts[my-flux-transformer]"))
    assert failed["metadata"]["expected"]["transformer"]["parameters"] == transformer
    assert failed["metadata"]["received"]["transformer"]["parameters"] == transformer + block

    # 5. --snapshot-update accepts the change; then the gate passes
    result = _run(project, "--snapshot-update")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*3 snapshots updated.*"])
    result = _run(project)
    assert result.ret == pytest.ExitCode.OK
    stored = json.loads((project.path / "snapshots" / "test_paramcheck" / "my-flux.json").read_text())
    assert stored["test_counts[my-flux-transformer]"]["transformer"]["parameters"] == transformer + block


def test_on_ci_a_missing_snapshot_fails(
    project: pytest.Pytester, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _init(capsys, "models/my-flux")
    monkeypatch.setenv("CI", "true")
    result = _run(project, "-k", "test_counts")
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(["*Snapshot 'test_counts[[]my-flux-transformer[]]' does not exist!*"])


def test_devices_and_components(
    project: pytest.Pytester, capsys: pytest.CaptureFixture[str], tiny_pipeline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _init(capsys, "models/my-flux", f"big={tiny_pipeline}")
    # no GPU here (torch is a CPU build): --paramcheck-device cuda is a usage error, not a quiet pass
    result = _run(project, "--paramcheck-device", "cuda")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --paramcheck-device cuda: CUDA is not available here*"])

    # config-only counting is said once, in the header
    result = _run(project, "-k", "test_views and my-flux")
    result.stdout.fnmatch_lines(
        ["paramcheck: my-flux, big: counts from configs on the meta device; weights of big load on auto*"]
    )

    # weights too big for this machine: the load audit skips with the numbers; --paramcheck-components narrows
    tiny = paramcheck.load.MemoryLimit(free=1000, source="available host memory")
    monkeypatch.setattr(paramcheck.load, "available_memory", lambda device, device_map=None: tiny)
    args = ("-k", "test_loaded", "--paramcheck-device", "cpu", "--paramcheck-components", "transformer", "-rs")
    result = _run(project, *args)
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*big-transformer: needs * GB on cpu at fp32, 0.00 GB free; not loaded*"])

    result = _run(project, "--paramcheck-components", "transformr")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --paramcheck-components: no model has a component 'transformr'; did you*"])


def test_init_refuses_a_missing_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", "models/my-flux-lit"]) == 2
    assert capsys.readouterr().err == (
        "paramcheck: error: models/my-flux-lit: no such folder; "
        "give a model folder, a bundled id (paramcheck list) or hub:ORG/NAME@REV\n"
    )
    assert not (tmp_path / "pyproject.toml").exists()


def test_an_unrelated_project_sees_nothing(tmp_path: Path) -> None:
    # a project that declares no models: no header, nothing collected, torch never imported (a real subprocess)
    (tmp_path / "test_a.py").write_text("def test_a():\n    pass\n")
    (tmp_path / "conftest.py").write_text(
        "import sys\n\ndef pytest_addoption(parser):\n    parser.addoption('--device', default='cpu')\n\n"
        "def pytest_sessionfinish(session):\n    print('\\ntorch imported:', 'torch' in sys.modules)\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-s", "-p", "no:cacheprovider", "--device", "gpu"],
        cwd=tmp_path,
        env={**_env(), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = [line for line in run.stdout.splitlines() if "paramcheck" in line and not line.startswith("plugins:")]
    assert lines == []
    assert "collected 1 item" in run.stdout
    assert "torch imported: False" in run.stdout


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
