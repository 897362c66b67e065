"""Hostile inputs to the pytest plugin and its snapshot files (fuzz.md surface 4, findings 2, 4 and 9).

Every case runs ``pytest audits`` (``pytest.main`` in a bounded forked child) in a project laid out like the
repository: this checkout's ``audits/``, a conftest wiring the plugin, and a reviewed ``snapshots/`` file of the tiny
pipeline (12 entries) recorded once per session. The contract: a one-line ``ERROR:`` usage error (exit 4) or failing
tests with a clear message (exit 1), never INTERNALERROR or a Python exception in a test's report, never a reviewed
entry lost, never a snapshot file rewritten from a file that could not be read, its mode kept, nothing written
outside ``snapshots/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.corpus import (
    EXCEPTION_LINE,
    NON_UTF8,
    Outcome,
    canary_problems,
    deep_json,
    huge_int,
    log_case,
    pytest_launch,
    pytest_run,
    read_json,
    watch,
    write_json,
)

REPO = Path(__file__).resolve().parents[2]
CONFTEST = 'pytest_plugins = ["paramcheck.pytest_plugin"]\n'
INI = "[pytest]\nverbosity_assertions = 2\nfilterwarnings = ignore::DeprecationWarning\n"
SNAPSHOT = Path("snapshots") / "test_snapshots" / "tiny.json"
FLAGS = ("-p", "no:xdist", "-q", "-rfE", "--tb=short")


def _project(folder: Path) -> Path:
    shutil.copytree(REPO / "audits", folder / "audits", ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "conftest.py").write_text(CONFTEST)
    (folder / "pytest.ini").write_text(INI)
    return folder


@pytest.fixture(scope="session")
def reviewed(tmp_path_factory: pytest.TempPathFactory, tiny_pipeline_configs_only: Path) -> bytes:
    """The tiny pipeline's snapshot file as ``--snapshot-update`` records it (12 entries)."""
    project = _project(tmp_path_factory.mktemp("reviewed"))
    outcome = pytest_run(
        ["audits", "--model", f"tiny={tiny_pipeline_configs_only}", "--snapshot-update", *FLAGS], cwd=project
    )
    assert outcome.returncode == 0, outcome.describe()
    data = (project / SNAPSHOT).read_bytes()
    assert len(json.loads(data)) == 12, data[:400]
    return data


@pytest.fixture
def project(root: Path, reviewed: bytes) -> Path:
    folder = _project(root / "project")
    path = folder / SNAPSHOT
    path.parent.mkdir(parents=True)
    path.write_bytes(reviewed)
    path.chmod(0o644)
    return folder


# --- what a case must do ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Want:
    """Accepted outcomes (``usage``: exit 4 with one ``ERROR:`` line; ``fail``: exit 1, clean failures; ``pass``:
    exit 0; ``none``: exit 5, nothing collected) and text the output must contain; ``keep``: every reviewed entry
    survives; ``same``: the snapshot file is byte for byte unchanged; ``mode``: the snapshot file keeps 0644."""

    kinds: tuple[str, ...]
    names: tuple[str, ...] = ()
    keep: bool = True
    same: bool = False
    mode: bool = True


def _problems(outcome: Outcome, want: Want) -> list[str]:
    found = []
    text = outcome.stdout + "\n" + outcome.stderr
    if outcome.timed_out:
        found.append(f"[hang] pytest still running after {outcome.deadline:.0f}s (killed)")
    if "INTERNALERROR" in text or outcome.returncode == 3:
        line = next((x for x in text.splitlines() if "INTERNALERROR> E " in x or "Error" in x), "INTERNALERROR")
        found.append(f"[traceback] INTERNALERROR: {line.strip()[:200]}")
    elif "Traceback (most recent call last)" in text:
        found.append("[traceback] a Python traceback in pytest's output")
    if match := EXCEPTION_LINE.search(outcome.stdout):
        found.append(f"[traceback] an exception in a test report: {match.group(0)[:160]}")
    code = outcome.returncode
    kind = {0: "pass", 1: "fail", 4: "usage", 5: "none"}.get(code if code is not None else -1)
    if code is not None and kind not in want.kinds and "INTERNALERROR" not in text:
        found.append(f"[{'silent' if code == 0 else 'exit'}] exit {code}; expected {' or '.join(want.kinds)}")
    if kind == "usage":
        lines = [x for x in outcome.stderr.splitlines() if x.strip()]
        if len(lines) != 1 or not lines[0].startswith("ERROR: "):
            found.append(f"[lines] a usage error must be one 'ERROR:' line, got {len(lines)}: {lines[:3]!r}")
    for name in want.names:
        if code in (1, 4) and name not in text:
            found.append(f"[message] the output does not name {name!r}")
    return found


def _entries(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _data_problems(project: Path, want: Want, reviewed: bytes, before: bytes | None) -> list[str]:
    found = []
    path = project / SNAPSHOT
    if want.keep:
        lost = sorted(set(json.loads(reviewed)) - set(_entries(path)))
        if lost:
            found.append(f"[lost] {len(lost)} reviewed snapshot entries gone, e.g. {lost[:2]}")
    if want.same and before is not None and (not path.is_file() or path.read_bytes() != before):
        found.append(f"[lost] {SNAPSHOT} was rewritten though it could not be read")
    if want.mode and path.is_file() and not path.is_symlink():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode != 0o644:
            found.append(f"[lost] {SNAPSHOT} mode changed 0644 -> {oct(mode)}")
    return found


def _assert(outcome: Outcome, want: Want, extra: list[str]) -> None:
    found = [*_problems(outcome, want), *extra]
    log_case(outcome, found)
    assert not found, "\n".join(found) + "\n" + outcome.describe()


# --- the cases --------------------------------------------------------------------------------------------------------


def _bump(model: Path) -> None:
    """One more single-stream block: the transformer's counts change, so an update rewrites the file."""
    path = model / "transformer" / "config.json"
    write_json(path, {**read_json(path), "num_single_layers": 2})


def _bump_vae(model: Path) -> None:
    path = model / "vae" / "config.json"
    write_json(path, {**read_json(path), "layers_per_block": 2})


def _vae_entry(model: Path, entry: Any) -> None:
    write_json(model / "model_index.json", {**read_json(model / "model_index.json"), "vae": entry})


def _snapshot_text(text: str | bytes) -> Callable[[Path, Path], None]:
    def mutate(project: Path, model: Path) -> None:
        path = project / SNAPSHOT
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        path.chmod(0o644)

    return mutate


def _conflict_markers(project: Path, model: Path) -> None:
    path = project / SNAPSHOT
    lines = path.read_text().splitlines(keepends=True)
    middle = len(lines) // 2
    text = "".join([*lines[:middle], "<<<<<<< HEAD\n", *lines[middle:], "=======\n", ">>>>>>> other\n"])
    path.write_text(text)
    path.chmod(0o644)


def _evil_helper(project: Path, model: Path) -> None:
    """A model folder inside the checkout whose model_index names a module next to it (a cloned hub repository)."""
    inside = Path(shutil.copytree(model, project / "newmodel"))
    marker = project.parent / "evil-ran"
    (inside / "evil_helper.py").write_text(f"open({str(marker)!r}, 'w').write('x')\nclass Model: pass\n")
    (inside / "__init__.py").write_text("")
    _vae_entry(inside, ["newmodel.evil_helper", "Model"])


@dataclass(frozen=True)
class PluginCase:
    id: str
    args: Callable[[Path, Path], list[str]]  # (project, model) -> pytest arguments
    want: Want
    setup: Callable[[Path, Path], Any] | None = None  # (project, model)
    extra: dict[str, Any] = field(default_factory=dict)


def _audits(*more: str) -> Callable[[Path, Path], list[str]]:
    return lambda p, m: ["audits", "--model", f"tiny={m}", *more]


USAGE = Want(kinds=("usage",))

CASES = [
    PluginCase("baseline-passes", _audits(), Want(kinds=("pass",), same=True)),
    # option values (held up in the fuzz)
    PluginCase("model-without-source", lambda p, m: ["audits", "--model", "tiny"], USAGE),
    PluginCase("model-empty-id", lambda p, m: ["audits", "--model", f"={m}"], USAGE),
    PluginCase("models-unknown", lambda p, m: ["audits", "--models", "flux-dev"], USAGE),
    PluginCase("models-only-commas", lambda p, m: ["audits", "--models", ",,"], USAGE),
    PluginCase("device-unknown", _audits("--device", "tpu"), USAGE),
    PluginCase("dtype-int4", _audits("--dtype", "int4"), USAGE),
    PluginCase("model-missing-folder", lambda p, m: ["audits", "--model", "x=/no/such/folder"], USAGE),
    # ids that become snapshot paths (fuzz 4: written outside snapshots/)
    PluginCase(
        "model-id-path-escape",
        lambda p, m: ["audits", "--model", f"../../../escaped={m}", "--snapshot-update"],
        Want(kinds=("usage",), names=("escaped",)),
    ),
    PluginCase(
        "model-id-absolute",
        lambda p, m: ["audits", "--model", f"{p.parent / 'absolute'}={m}", "--snapshot-update"],
        Want(kinds=("usage",), names=("absolute",)),
    ),
    PluginCase(
        "model-id-slash",
        lambda p, m: ["audits", "--model", f"a/b={m}", "--snapshot-update"],
        Want(kinds=("usage",), names=("a/b",)),
    ),
    PluginCase("model-id-newline", lambda p, m: ["audits", "--model", f"ti\nny={m}"], Want(kinds=("usage",))),
    PluginCase(
        "model-id-given-twice",
        lambda p, m: ["audits", "--model", f"tiny={m}", "--model", f"tiny={p}"],
        Want(kinds=("usage",), names=("tiny",)),
    ),
    # broken model folders (fuzz 9: INTERNALERROR, per-test TypeError)
    PluginCase(
        "model_index-non-utf8",
        _audits(),
        Want(kinds=("usage", "fail"), names=("model_index.json",)),
        lambda p, m: (m / "model_index.json").write_bytes(NON_UTF8),
    ),
    PluginCase(
        "config-architectures-dict",
        _audits(),
        Want(kinds=("usage", "fail"), names=("config.json",)),
        lambda p, m: write_json(
            m / "text_encoder" / "config.json",
            {**read_json(m / "text_encoder" / "config.json"), "architectures": {"a": 1}},
        ),
    ),
    PluginCase(
        "config-100k-deep",
        _audits(),
        Want(kinds=("usage", "fail"), names=("config.json",)),
        lambda p, m: (m / "vae" / "config.json").write_text(deep_json(key="_class_name")),
    ),
    PluginCase(
        "library-dot",
        _audits(),
        Want(kinds=("usage", "fail"), names=("vae",)),
        lambda p, m: _vae_entry(m, [".", "AutoencoderKL"]),
    ),
    PluginCase(
        "config-num_layers-100000",
        _audits(),
        Want(kinds=("usage", "fail"), names=("num_layers",)),
        lambda p, m: write_json(
            m / "transformer" / "config.json", {**read_json(m / "transformer" / "config.json"), "num_layers": 100_000}
        ),
        extra={"deadline": 30.0},
    ),
    PluginCase(
        "model-inside-checkout-imports-its-module",
        lambda p, m: ["audits", "--model", "tiny=newmodel"],
        Want(kinds=("usage", "fail"), names=("vae",)),
        _evil_helper,
    ),
    # fuzz 4: snapshot entries deleted or silently dropped
    PluginCase(
        "update-with-deselect-node-id",
        _audits("--snapshot-update", "--deselect", "audits/test_snapshots.py::test_counts[tiny-vae]"),
        Want(kinds=("usage", "pass")),
    ),
    PluginCase(
        "update-with-deselect-function",
        _audits("--snapshot-update", "--deselect", "audits/test_snapshots.py::test_counts"),
        Want(kinds=("usage", "pass")),
    ),
    PluginCase(
        "update-with-m-selecting-nothing",
        _audits("--snapshot-update", "-m", "no_such_marker"),
        Want(kinds=("usage", "pass", "none")),
    ),
    PluginCase(
        "update-ignoring-the-snapshot-module",
        _audits("--snapshot-update", "--ignore", "audits/test_snapshots.py"),
        Want(kinds=("usage", "pass")),
    ),
    PluginCase(
        "update-with-k-subset",
        _audits("--snapshot-update", "-k", "transformer"),
        Want(kinds=("pass",)),
        lambda p, m: _bump(m),
    ),
    PluginCase(
        "update-with-failing-build",
        _audits("--snapshot-update"),
        Want(kinds=("fail",), names=("vae",)),
        lambda p, m: _vae_entry(m, ["diffusers", "NoSuchModel"]),
    ),
    PluginCase(
        "update-stopped-by-x-after-a-failing-build",
        _audits("--snapshot-update", "-x"),
        Want(kinds=("fail",), names=("vae",)),
        lambda p, m: _vae_entry(m, ["diffusers", "NoSuchModel"]),
    ),
    PluginCase(
        "conflict-markers-and-partial-update",
        _audits("-k", "transformer", "--snapshot-update"),
        Want(kinds=("usage", "fail"), names=("tiny.json",), keep=False, same=True),
        lambda p, m: (_conflict_markers(p, m), _bump(m)),
    ),
    PluginCase(
        "conflict-markers-and-full-update",
        _audits("--snapshot-update"),
        Want(kinds=("usage", "fail"), names=("tiny.json",), keep=False, same=True),
        _conflict_markers,
    ),
    PluginCase(
        "snapshot-invalid-json",
        _audits(),
        Want(kinds=("usage", "fail"), names=("tiny.json",), keep=False, same=True),
        _snapshot_text("{"),
    ),
    PluginCase(
        "snapshot-a-list",
        _audits(),
        Want(kinds=("usage", "fail"), names=("tiny.json",), keep=False, same=True),
        _snapshot_text("[]"),
    ),
    PluginCase(
        "snapshot-empty",
        _audits(),
        Want(kinds=("usage", "fail"), names=("tiny.json",), keep=False, same=True),
        _snapshot_text(""),
    ),
    PluginCase(
        "snapshot-non-utf8",
        _audits(),
        Want(kinds=("usage", "fail"), names=("tiny.json",), keep=False, same=True),
        _snapshot_text(NON_UTF8),
    ),
    PluginCase(
        "snapshot-100k-deep",
        _audits(),
        Want(kinds=("usage", "fail"), names=("tiny.json",), keep=False, same=True),
        _snapshot_text('{"x": ' + deep_json() + "}"),
    ),
    PluginCase(
        "snapshot-5000-digit-int",
        _audits(),
        Want(kinds=("usage", "fail"), names=("tiny.json",), keep=False, same=True),
        _snapshot_text('{"x": ' + huge_int() + "}"),
    ),
    PluginCase(
        "snapshot-is-a-folder",
        _audits(),
        Want(kinds=("usage", "fail"), names=("tiny.json",), keep=False, mode=False),
        lambda p, m: ((p / SNAPSHOT).unlink(), (p / SNAPSHOT).mkdir()),
    ),
    PluginCase(
        "snapshot-unreadable",
        _audits(),
        Want(kinds=("usage", "fail"), names=("tiny.json",), keep=False, mode=False),
        lambda p, m: (p / SNAPSHOT).chmod(0),
        extra={"drop_dac": True},
    ),
    PluginCase(
        "snapshots-folder-read-only-update",
        _audits("--snapshot-update"),
        Want(kinds=("usage", "fail"), names=("test_snapshots",)),
        lambda p, m: (_bump(m), (p / SNAPSHOT).parent.chmod(0o555)),
        extra={"drop_dac": True},
    ),
    PluginCase(
        "update-keeps-the-file-mode",
        _audits("--snapshot-update"),
        Want(kinds=("pass",), keep=True),
        lambda p, m: _bump(m),
    ),
    PluginCase(
        "snapshot-symlink-outside-update",
        _audits("--snapshot-update"),
        Want(kinds=("pass", "usage", "fail"), keep=False, mode=False),
        lambda p, m: (
            shutil.copy(p / SNAPSHOT, p.parent / "victims" / "linked.json"),
            (p / SNAPSHOT).unlink(),
            (p / SNAPSHOT).symlink_to(p.parent / "victims" / "linked.json"),
            _bump(m),
        ),
    ),
    PluginCase(
        "ini-snapshot-dir-outside-rootdir",
        _audits("--snapshot-update"),
        Want(kinds=("usage", "pass"), keep=False, mode=False),
        lambda p, m: (p / "pytest.ini").write_text(INI + "paramcheck_snapshot_dir = ../escaped-snapshots\n"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_plugin(case: PluginCase, project: Path, pipeline: Path, root: Path, reviewed: bytes) -> None:
    if case.setup is not None:
        case.setup(project, pipeline)
    snapshot = project / SNAPSHOT
    before = snapshot.read_bytes() if snapshot.is_file() and os.access(snapshot, os.R_OK) else None
    tree = watch(root, project / "snapshots", project / ".benchmarks")  # .benchmarks: pytest-benchmark's own
    outcome = pytest_run([*case.args(project, pipeline), *FLAGS], cwd=project, **case.extra)
    if snapshot.parent.is_dir():
        snapshot.parent.chmod(0o755)
    extra = [*tree.changes(), *_data_problems(project, case.want, reviewed, before)]
    if (root / "evil-ran").exists():
        extra.append("[security] evil_helper.py next to the model ran under pytest")
    extra += canary_problems(root / "canary-marks")
    _assert(outcome, case.want, extra)


# --- two sessions updating one model's file at once (fuzz 4: no lock outside xdist) -------------------------------


def test_concurrent_updates_lose_no_entry(project: Path, pipeline: Path, root: Path) -> None:
    """Two ``--snapshot-update -k`` sessions on one snapshot file, started together; the file is padded with other
    reviewed entries (20 MB) so each read-modify-write takes long enough to overlap. Every session's update and every
    other entry must survive."""
    path = project / SNAPSHOT
    entries = json.loads(path.read_text())
    padding = {f"test_counts[tiny-pad{i:05d}]": {"pad": {"parameters": i, "note": "x" * 1000}} for i in range(20_000)}
    path.write_text(json.dumps({**entries, **padding}, indent=2, sort_keys=True))
    path.chmod(0o644)
    _bump(pipeline)
    _bump_vae(pipeline)
    runs = [
        pytest_launch(["audits", "--model", f"tiny={pipeline}", "--snapshot-update", "-k", k, *FLAGS], cwd=project)
        for k in ("transformer", "vae")
    ]
    outcomes = [run.wait() for run in runs]
    found = []
    for outcome in outcomes:
        found += _problems(outcome, Want(kinds=("pass",)))
    after = _entries(path)
    lost = sorted((set(entries) | set(padding)) - set(after))
    if lost:
        found.append(f"[lost] {len(lost)} entries gone after two concurrent updates, e.g. {lost[:2]}")
    single = after.get("test_counts[tiny-transformer]", {}).get("transformer", {}).get("parameters")
    vae = after.get("test_counts[tiny-vae]", {}).get("vae", {}).get("parameters")
    old_single = entries["test_counts[tiny-transformer]"]["transformer"]["parameters"]
    old_vae = entries["test_counts[tiny-vae]"]["vae"]["parameters"]
    if single == old_single:
        found.append("[lost] the transformer session's update was overwritten by the vae session's")
    if vae == old_vae:
        found.append("[lost] the vae session's update was overwritten by the transformer session's")
    log_case(outcomes[0], found)
    assert not found, "\n".join(found) + "\n" + "\n".join(o.describe() for o in outcomes)


def test_no_snapshots_folders_outside(project: Path, pipeline: Path, root: Path) -> None:
    """syrupy's default extension would create __snapshots__/ folders; the audits never do."""
    outcome = pytest_run(["audits", "--model", f"tiny={pipeline}", *FLAGS], cwd=project)
    found = _problems(outcome, Want(kinds=("pass",)))
    stray = [str(p.relative_to(root)) for p in root.rglob("__snapshots__")]
    found += [f"[security] {p} created" for p in stray]
    assert not found, outcome.describe()
    assert re.search(r"\d+ passed", outcome.stdout), outcome.describe()
