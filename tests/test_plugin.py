"""The audit suite as a user drives it: pytester runs of the real audits/ on tiny saved pipelines.

Expected numbers come from the tiny modules themselves (their own parameter counts), never from paramcheck.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from syrupy.utils import is_snapshot_write_sidecar

import paramcheck.build
import paramcheck.pytest_plugin
import paramcheck.snapshot  # noqa: F401 - imported here so pytester's in-process runs share one module
from paramcheck.snapshot import diff_entries
from tests.tiny import save_pipeline

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
COMPONENTS = ("text_encoder", "text_encoder_2", "transformer", "vae")

CONFTEST = """
import json
from pathlib import Path

import paramcheck.build

pytest_plugins = ["paramcheck.pytest_plugin"]


def pytest_configure(config):
    original = paramcheck.build.build_model
    calls = {}

    def counting(source, **kwargs):
        calls[source.model] = calls.get(source.model, 0) + 1
        return original(source, **kwargs)

    paramcheck.build.build_model = counting
    config._build_calls = (original, calls)


def pytest_sessionfinish(session):
    # written here, not at unconfigure: an xdist worker reports "finished" after its sessionfinish and the
    # controller may return before the worker's unconfigure has run
    config = session.config
    if not hasattr(config, "_build_calls"):  # a usage error stopped configuration first
        return
    worker = getattr(config, "workerinput", {}).get("workerid", "controller")
    folder = config.rootpath / "builds"
    folder.mkdir(exist_ok=True)
    (folder / f"{worker}.json").write_text(json.dumps(config._build_calls[1]))


def pytest_unconfigure(config):
    if hasattr(config, "_build_calls"):
        paramcheck.build.build_model = config._build_calls[0]
"""


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="session")
def versions(tmp_path_factory: pytest.TempPathFactory, tiny_modules: dict[str, torch.nn.Module]) -> dict[str, Path]:
    """v1 with weights; v2 (configs only) with one more single-stream block; v3 = v2 without its VAE."""
    root = tmp_path_factory.mktemp("versions")
    v1 = save_pipeline(root / "v1", tiny_modules)
    v2 = save_pipeline(root / "v2", tiny_modules, weights=False)
    config_path = v2 / "transformer" / "config.json"
    config = json.loads(config_path.read_text())
    config["num_single_layers"] += 1
    config_path.write_text(json.dumps(config))
    v3 = root / "v3"
    shutil.copytree(v2, v3)
    shutil.rmtree(v3 / "vae")
    index = json.loads((v3 / "model_index.json").read_text())
    del index["vae"]
    (v3 / "model_index.json").write_text(json.dumps(index))
    return {"v1": v1, "v2": v2, "v3": v3}


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A repository laid out like this one: conftest.py wiring the plugin, the real audits/, a snapshots/ folder."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # xdist workers import this checkout's paramcheck
    shutil.copytree(REPO / "audits", pytester.path / "audits", ignore=shutil.ignore_patterns("__pycache__"))
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\nverbosity_assertions = 2\nfilterwarnings = ignore::DeprecationWarning\n")
    return pytester


def _run(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    shutil.rmtree(suite.path / "builds", ignore_errors=True)
    # importlib: the outer session may have imported this repository's audits/ under the same module names
    return suite.runpytest("audits", "-p", "no:cacheprovider", "--import-mode=importlib", *args)


def _entries(suite: pytest.Pytester, model: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((suite.path / "snapshots" / "test_snapshots" / f"{model}.json").read_text())
    return data


def _builds(suite: pytest.Pytester) -> dict[str, int]:
    total: dict[str, int] = {}
    for path in (suite.path / "builds").glob("*.json"):
        for model, calls in json.loads(path.read_text()).items():
            total[model] = total.get(model, 0) + calls
    return total


@pytest.mark.parametrize("mode", [("-p", "no:xdist", "--strict-markers"), ("-n", "2")], ids=["in-process", "xdist"])
def test_regression_gate_workflow(
    suite: pytest.Pytester, versions: dict[str, Path], tiny_modules: dict[str, torch.nn.Module], mode: tuple[str, ...]
) -> None:
    v1, v2, v3 = (f"{versions[v]}" for v in ("v1", "v2", "v3"))
    both = ("--model", f"tiny={v1}", "--model", f"tiny2={v1}", *mode)

    # 1. first run records the snapshots: one readable file per model, no __snapshots__ folders
    result = _run(suite, *both, "--snapshot-update")
    # per model: 3 snapshot audits x 4 components, 3 invariants x 4, 4 weight loads, 4 checkpoint checks
    result.assert_outcomes(passed=2 * (12 + 12 + 4 + 4))
    transformer = _count(tiny_modules["transformer"])
    assert _entries(suite, "tiny")["test_counts[tiny-transformer]"]["transformer"]["parameters"] == transformer
    # (syrupy's own write sidecars, `*.json.lock`, may outlive an in-process run nested in an xdist worker)
    written = [p for p in (suite.path / "snapshots" / "test_snapshots").iterdir() if not is_snapshot_write_sidecar(p)]
    assert sorted(p.name for p in written) == ["tiny.json", "tiny2.json"]
    assert not list(suite.path.rglob("__snapshots__"))
    # each model built exactly once in the whole session (across workers with -n 2), whatever the audit count
    assert _builds(suite) == {"tiny": 1, "tiny2": 1}

    # 2. the same version passes against its snapshot
    result = _run(suite, *both)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*24 snapshots passed.*"])

    # 3. a new version with one more single-stream block fails with a diff a reviewer reads at once
    new = ("--model", f"tiny={v2}", "--model", f"tiny2={v1}", *mode)
    result = _run(suite, *new)
    block = _count(tiny_modules["transformer"].single_transformer_blocks[0])
    percent = f"{block / transformer * 100:+.4f}%"
    # the counts and the layer-type table of tiny-transformer fail; v2 has no weights: no loads, no header checks
    result.assert_outcomes(failed=2, passed=2 * 32 - 4 - 4 - 2)
    result.stdout.fnmatch_lines(
        [
            "FAILED audits/test_snapshots.py::test_counts[[]tiny-transformer[]]*",
            "FAILED audits/test_snapshots.py::test_layer_types[[]tiny-transformer[]]*",
        ]
    )
    diff_line = f"transformer.parameters: {transformer:,} -> {transformer + block:,} (+{block:,}, {percent})"
    assert diff_line in result.stdout.str()
    assert "2 snapshots failed." in result.stdout.str()
    result.stdout.fnmatch_lines(["*transformer.views.role.feed_forward: * -> * (+*, +*%)"])

    # 4. --snapshot-update accepts the change
    before_tiny2 = (suite.path / "snapshots" / "test_snapshots" / "tiny2.json").read_bytes()
    result = _run(suite, *new, "--snapshot-update")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*2 snapshots updated.*"])
    assert _entries(suite, "tiny")["test_counts[tiny-transformer]"]["transformer"]["parameters"] == transformer + block

    # 5. then it passes; -k selects by model and component ("tiny-transformer" is not in "tiny2-transformer")
    result = _run(suite, *new, "-k", "tiny-transformer")
    assert result.ret == pytest.ExitCode.OK
    ran = [r.nodeid for r in result.reprec.getreports("pytest_runtest_logreport") if r.when == "setup"]
    assert len(ran) == 3 + 3  # snapshot and invariant audits; tiny is v2 now: configs only, no weights audit
    assert all("[tiny-transformer]" in nodeid for nodeid in ran)
    result.assert_outcomes(passed=3 + 3)

    # 6. --models restricts, and --snapshot-update leaves the other models' files alone
    result = _run(suite, *new, "--models", "tiny", "--snapshot-update")
    assert result.ret == pytest.ExitCode.OK
    assert "unused" not in result.stdout.str()
    assert (suite.path / "snapshots" / "test_snapshots" / "tiny2.json").read_bytes() == before_tiny2

    # 7. a component that disappears is reported by syrupy's unused-snapshot report, and removed on update
    gone = ("--model", f"tiny={v3}", "--model", f"tiny2={v1}", *mode)
    result = _run(suite, *gone)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*3 snapshots unused.*"])
    result = _run(suite, *gone, "--snapshot-update")
    assert result.ret == pytest.ExitCode.OK
    assert not [name for name in _entries(suite, "tiny") if "vae" in name]
    assert (suite.path / "snapshots" / "test_snapshots" / "tiny2.json").read_bytes() == before_tiny2


def test_device_cpu_and_json_report(suite: pytest.Pytester, versions: dict[str, Path], tiny_modules: Any) -> None:
    v1 = versions["v1"]
    result = _run(suite, "--model", f"tiny={v1}", "--snapshot-update", "-p", "no:xdist")
    assert result.ret == pytest.ExitCode.OK
    args = ("--model", f"tiny={v1}", "--device", "cpu", "--dtype", "bf16", "--json-report")
    result = _run(suite, *args, "--json-report-file=audit.json", "-k", "test_counts or test_loaded", "-p", "no:xdist")
    result.assert_outcomes(passed=8)
    tests = {t["nodeid"].split("::")[1]: t for t in json.loads((suite.path / "audit.json").read_text())["tests"]}

    report = json.loads((suite.path / "audit.json").read_text())
    loaded = tests["test_loaded_counts_equal_config_counts[tiny-text_encoder_2]"]["metadata"]
    t5 = _count(tiny_modules["text_encoder_2"])
    assert loaded["model"] == "tiny"
    assert loaded["component"] == "text_encoder_2"
    assert loaded["source"] == str(v1)
    assert loaded["device"] == "cpu"
    assert loaded["dtype"] == "bf16"
    assert loaded["expected"]["parameters"] == t5  # the config's count
    assert loaded["received"]["parameters"] == t5  # the loaded module's count
    # the run's facts once, in the environment block: versions, device, that counts are taken on meta
    environment = report["environment"]
    assert environment["versions"]["torch"] == torch.__version__
    assert environment["resolved_device"] == "cpu"
    assert environment["counted_on"] == "meta"
    assert "config only" in environment["note"]

    counted = tests["test_counts[tiny-vae]"]["metadata"]
    assert counted["device"] == "meta"  # snapshot audits count the config build on meta
    vae = counted["received"]["vae"]
    assert vae["parameters"] == _count(tiny_modules["vae"])
    assert vae["stored"] == sum(t.numel() for t in tiny_modules["vae"].state_dict().values())
    assert counted["expected"] == counted["received"]  # the stored snapshot entry, recorded by the first run


def test_checkpoint_and_load_audits_catch_a_broken_conversion(
    suite: pytest.Pytester, versions: dict[str, Path], tmp_path: Path
) -> None:
    from safetensors.torch import load_file, save_file

    args = ("-k", "test_checkpoint or test_loaded", "--device", "cpu", "-p", "no:xdist")
    result = _run(suite, "--model", f"tiny={versions['v1']}", *args)
    result.assert_outcomes(passed=8)  # 4 components with weights x (header check + loaded counts)

    broken = Path(shutil.copytree(versions["v1"], tmp_path / "broken"))
    weights = broken / "vae" / "diffusion_pytorch_model.safetensors"
    tensors = load_file(weights)
    tensors["decoder.conv_out.kernel"] = tensors.pop("decoder.conv_out.weight")  # a conversion renamed one key
    save_file(tensors, weights, metadata={"format": "pt"})
    result = _run(suite, "--model", f"tiny={broken}", *args)
    result.assert_outcomes(passed=6, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*test_checkpoint_matches_architecture*tiny-vae*",
            "*model: missing decoder.conv_out.weight*",
            "*model: unexpected decoder.conv_out.kernel*",
        ]
    )
    result.stdout.fnmatch_lines(["*tiny-vae: missing in the weights: decoder.conv_out.weight*"])


def test_device_meta_skips_loading(suite: pytest.Pytester, versions: dict[str, Path]) -> None:
    args = ("--model", f"tiny={versions['v1']}", "--device", "meta", "-k", "test_loaded", "-p", "no:xdist")
    result = _run(suite, *args)
    result.assert_outcomes(skipped=4)
    result.stdout.no_fnmatch_line("*Traceback*")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # the short names are aliases of the --paramcheck- options: the message names the long one
        (("--device", "tpu"), "ERROR: --paramcheck-device 'tpu': unknown device; use auto, cpu, cuda, cuda:N or meta"),
        (("--paramcheck-dtype", "int4"), "ERROR: --paramcheck-dtype 'int4': weights load at fp32, fp16, bf16 only;*"),
        (("--model", "flux.1-dev"), "ERROR: --paramcheck-model 'flux.1-dev': expected ID=SOURCE;*"),
        (("--models", "flux-dev"), "ERROR: --paramcheck-models: unknown model 'flux-dev'; did you mean 'flux.1-dev'*"),
        (
            ("--model", "x=/no/such/folder"),
            "ERROR: --paramcheck-model x=/no/such/folder: /no/such/folder: no such folder;*",
        ),
        (("--models", "flux.1-dev", "--device", "cuda"), "ERROR: --paramcheck-device cuda: CUDA is not available*"),
        (("--components", ","), "ERROR: --paramcheck-components ',': no names; give a comma-separated list*"),
        (
            ("--snapshot-update", "--models", "flux.1-dev", "audits/test_snapshots.py::test_counts"),
            "ERROR: --snapshot-update with node id 'audits/test_snapshots.py::test_counts' would drop*",
        ),
        (
            (
                "--snapshot-update",
                "--models",
                "flux.1-dev",
                "--deselect",
                "audits/test_snapshots.py::test_counts[tiny-vae]",
            ),
            "ERROR: --snapshot-update with --deselect node id 'audits/test_snapshots.py::test_counts[[]tiny-vae[]]'*",
        ),
        (
            ("--model", "../escaped=."),
            "ERROR: --paramcheck-model '../escaped=.': the id '../escaped' names the model's snapshot*",
        ),
        (("--model", "a/b=."), "ERROR: --paramcheck-model 'a/b=.': the id 'a/b' names the model's snapshot file*"),
        (
            ("--models", "flux.1-dev", "-o", "paramcheck_snapshot_dir=../outside"),
            "ERROR: paramcheck_snapshot_dir = '../outside': leads outside*",
        ),
    ],
)
def test_bad_options_are_one_line_usage_errors(suite: pytest.Pytester, args: tuple[str, ...], message: str) -> None:
    result = suite.runpytest(*args, "-p", "no:xdist", "--import-mode=importlib")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


def test_diff_line_format() -> None:
    old = {"transformer": {"views": {"role": {"attention": {"parameters": 3_623_878_656, "layers": 57}}}}}
    new = {"transformer": {"views": {"role": {"attention": {"parameters": 3_623_881_728, "layers": 57}}}}}
    # 3,072 / 3,623,878,656 = 0.0000848% -> +0.0001% at four decimals
    assert diff_entries(old, new) == [
        "transformer.views.role.attention: 3,623,878,656 -> 3,623,881,728 (+3,072, +0.0001%)"
    ]
    assert diff_entries({"vae": {"parameters": 10}}, {}) == ["vae.parameters: 10 -> (absent)"]
    assert diff_entries({"t": {"class_name": "A"}}, {"t": {"class_name": "B"}}) == ["t.class_name: 'A' -> 'B'"]
    assert diff_entries({"t": {"parameters": 0}}, {"t": {"parameters": 4}}) == ["t.parameters: 0 -> 4 (+4, new)"]
    # 1 / 10**8 = 0.000001% rounds to zero at four decimals: shown as a bound, never as +0.0000%
    assert diff_entries({"p": 10**8}, {"p": 10**8 + 1}) == ["p: 100,000,000 -> 100,000,001 (+1, +<0.0001%)"]


def test_plugin_import_stays_light() -> None:
    # the plugin loads in every pytest run of a project that installs paramcheck: it must not import torch
    code = "import sys, paramcheck.pytest_plugin; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, check=False).returncode == 0


def test_snapshot_file_read_once_per_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from paramcheck import snapshot
    from paramcheck.fileio import write_atomic

    reads: list[Path] = []
    read_entries = snapshot._read_entries

    def counting(path: Path) -> dict[str, Any] | None:
        reads.append(path)
        return read_entries(path)

    monkeypatch.setattr(snapshot, "_read_entries", counting)
    path = tmp_path / "tiny.json"
    write_atomic(path, json.dumps({"a": {"vae": {"parameters": 1}}, "b": {"vae": {"parameters": 2}}}))
    extension = snapshot.ParamcheckSnapshotExtension()

    def read(name: str, session: str) -> Any:
        data = extension.read_snapshot_data_from_location(
            snapshot_location=str(path), snapshot_name=name, session_id=session
        )
        return json.loads(data) if data is not None else None

    assert [read("a", "s1"), read("b", "s1"), read("c", "s1")] == [
        {"vae": {"parameters": 1}},
        {"vae": {"parameters": 2}},
        None,
    ]
    assert len(reads) == 1  # three audits, one read
    assert read("a", "s2") == {"vae": {"parameters": 1}}
    assert len(reads) == 2  # a new session reads again
    write_atomic(path, json.dumps({"a": {"vae": {"parameters": 3}}}))
    assert read("a", "s2") == {"vae": {"parameters": 3}}  # a rewritten file is read again
    assert read("b", "s2") is None
    assert len(reads) == 3


def test_broken_snapshot_file_is_a_usage_error_and_never_rewritten(
    suite: pytest.Pytester, tiny_pipeline_configs_only: Path
) -> None:
    # a merge left conflict markers; a partial update must neither rebuild the file from its own entries nor run
    path = suite.path / "snapshots" / "test_snapshots" / "tiny.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    broken = '{\n<<<<<<< HEAD\n  "a": 1\n=======\n  "a": 2\n>>>>>>> other\n}\n'
    path.write_text(broken)
    model = f"tiny={tiny_pipeline_configs_only}"
    result = _run(suite, "--model", model, "-k", "transformer", "--snapshot-update", "-p", "no:xdist")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {path}: not a valid snapshot file (*at line 2); resolve the conflict*"])
    assert path.read_text() == broken


def test_snapshot_write_keeps_the_file_mode_and_holds_a_lock(tmp_path: Path) -> None:
    import fcntl
    import os
    import threading

    from syrupy.data import Snapshot, SnapshotCollection

    from paramcheck import snapshot

    path = tmp_path / "tiny.json"
    path.write_text(json.dumps({"old": {"vae": {"parameters": 1}}}))
    path.chmod(0o644)
    collection = SnapshotCollection(location=str(path))
    collection.add(Snapshot(name="new", data=json.dumps({"vae": {"parameters": 2}})))
    # another writer holds the folder's lock: the write waits for it, then merges (both entries kept)
    folder = os.open(tmp_path, os.O_RDONLY)
    fcntl.flock(folder, fcntl.LOCK_EX)
    writer = threading.Thread(
        target=lambda: snapshot.ParamcheckSnapshotExtension.write_snapshot_collection(snapshot_collection=collection)
    )
    writer.start()
    writer.join(0.5)
    assert writer.is_alive()  # blocked on the lock
    path.write_text(json.dumps({"old": {"vae": {"parameters": 1}}, "other": {"vae": {"parameters": 3}}}))
    fcntl.flock(folder, fcntl.LOCK_UN)
    os.close(folder)
    writer.join(10)
    assert json.loads(path.read_text()) == {
        "new": {"vae": {"parameters": 2}},
        "old": {"vae": {"parameters": 1}},
        "other": {"vae": {"parameters": 3}},
    }
    assert path.stat().st_mode & 0o777 == 0o644


def test_unreadable_snapshot_file_is_never_rewritten(tmp_path: Path) -> None:
    from syrupy.data import Snapshot, SnapshotCollection

    from paramcheck import snapshot

    path = tmp_path / "tiny.json"
    path.write_text("[1, 2]")
    collection = SnapshotCollection(location=str(path))
    collection.add(Snapshot(name="new", data="{}"))
    with pytest.raises(snapshot.SnapshotFileError, match=r"tiny\.json: not a valid snapshot file \(a JSON list"):
        snapshot.ParamcheckSnapshotExtension.write_snapshot_collection(snapshot_collection=collection)
    assert path.read_text() == "[1, 2]"
