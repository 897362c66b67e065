"""The result cache: a warm answer equals a fresh count, a change of config, library or rules is a miss, a corrupt
entry is rebuilt, and a warm CLI answers without importing torch."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import paramcheck.build
from paramcheck import cache as result_cache
from paramcheck.audit_session import AuditOptions, AuditPlan, ModelCache
from paramcheck.cache import ResultCache, cached_report, component_key
from paramcheck.cli import main
from paramcheck.compute.analysis import analyse
from paramcheck.count import audit
from paramcheck.sources import resolve
from paramcheck.taxonomy import Rule, Taxonomy, View

WORKLOAD = {"height": 64, "width": 64, "steps": 2, "prompt_length": 8, "cfg": False}


def _no_build(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("built a component the cache holds")


def test_warm_report_equals_a_fresh_count_and_builds_nothing(
    tiny_pipeline_configs_only: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = resolve(str(tiny_pipeline_configs_only))
    fresh = audit(source, layers=True)
    cache = ResultCache(tmp_path)
    cold = cached_report(source, cache=cache, layers=True)
    assert cold == fresh
    assert len(list(tmp_path.rglob("*.json"))) == len(source.components)
    monkeypatch.setattr(paramcheck.build, "_build", _no_build)
    warm = cached_report(source, cache=cache, layers=True)
    assert warm == fresh
    assert json.dumps(warm.to_dict()) == json.dumps(fresh.to_dict())


def test_a_corrupt_entry_is_ignored_and_rebuilt(tiny_pipeline_configs_only: Path, tmp_path: Path) -> None:
    source = resolve(str(tiny_pipeline_configs_only))
    cache = ResultCache(tmp_path)
    fresh = cached_report(source, cache=cache)
    spec = source.component("transformer")
    entry = cache.path("counts", component_key(spec))
    good = entry.read_text()
    entry.write_text(good[: len(good) // 2])  # truncated
    assert cache.get("counts", component_key(spec), type(fresh.components[0])) is None
    assert cached_report(source, cache=cache) == fresh
    assert entry.read_text() == good  # rewritten
    entry.write_text(good.replace('"parameters":', '"parameters":1+'))  # not JSON any more
    assert cached_report(source, cache=cache) == fresh


def test_the_key_changes_with_what_a_count_depends_on(
    tiny_pipeline_configs_only: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = resolve(str(tiny_pipeline_configs_only)).component("transformer")
    key = component_key(spec)
    assert component_key(spec) == key  # stable
    assert component_key(dataclasses.replace(spec, config={**(spec.config or {}), "num_layers": 3})) != key
    assert component_key(spec, layers=True) != key
    rules = Taxonomy(rules=(Rule(view=View.ROLE, category="attention", cls="Linear"), *Taxonomy().rules))
    assert component_key(spec, taxonomy=rules) != key
    upgraded = (*result_cache.key_versions()[:1], ("diffusers", "99.0"), *result_cache.key_versions()[2:])
    monkeypatch.setattr(result_cache, "key_versions", lambda: upgraded)
    assert component_key(spec) != key  # a library upgrade is a miss


def test_versions_come_from_metadata_without_importing() -> None:
    code = (
        "import sys; from paramcheck.cache import key_versions; v = dict(key_versions()); "
        "sys.exit(any(m in sys.modules for m in ('torch', 'diffusers', 'transformers')) or None in v.values())"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_cached_flops_equal_fresh_flops(tiny_pipeline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = analyse(str(tiny_pipeline), **WORKLOAD)  # type: ignore[arg-type]
    cache = ResultCache(tmp_path)
    assert analyse(str(tiny_pipeline), cache=cache, **WORKLOAD) == fresh  # type: ignore[arg-type]
    monkeypatch.setattr(paramcheck.build, "_build", _no_build)
    monkeypatch.setattr(paramcheck.build, "build_model", _no_build)
    assert analyse(str(tiny_pipeline), cache=cache, **WORKLOAD) == fresh  # type: ignore[arg-type]
    other = analyse(str(tiny_pipeline), flops=False, cache=cache)  # counts cached, no FLOPs needed
    assert other.report == fresh.report


WARM = """
import sys
from paramcheck.cli import main
for argv in {argvs!r}:
    assert main(argv) == 0, argv
imported = sorted(m for m in ("torch", "diffusers", "transformers") if m in sys.modules)
sys.exit(f"imported {{imported}}" if imported else 0)
"""


def test_a_warm_cli_does_not_import_torch(
    tiny_pipeline_configs_only: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = str(tiny_pipeline_configs_only)
    compute = [f"--{k.replace('_', '-')}={v}" for k, v in WORKLOAD.items() if k != "cfg"] + ["--no-cfg"]
    argvs = [
        ["report", model, "--json", "-o", str(tmp_path / "r.json")],
        ["report", model, "--layers"],
        ["compare", model, model, "--json", "-o", str(tmp_path / "c.json")],
        ["report", model, "--flops", "--memory", *compute],
        ["plot", model, "-o", str(tmp_path / "p.svg")],
        ["list"],
    ]
    monkeypatch.setenv(result_cache.CACHE_ENV, str(tmp_path / "cache"))
    for argv in argvs:  # cold, in this process (torch is imported here anyway)
        assert main(argv) == 0, argv
    warm = subprocess.run([sys.executable, "-c", WARM.format(argvs=argvs)], capture_output=True, text=True, check=False)
    assert warm.returncode == 0, warm.stderr[-2000:]
    assert "transformer" in warm.stdout


def test_the_gate_builds_unless_asked_to_use_the_cache(
    tiny_pipeline_configs_only: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(result_cache.CACHE_ENV, str(tmp_path))
    overrides = (("tiny", str(tiny_pipeline_configs_only)),)
    fresh = ModelCache(AuditPlan(AuditOptions(overrides=overrides, cache=True))).report("tiny")  # fills the cache
    monkeypatch.setattr(paramcheck.build, "_build", _no_build)
    assert ModelCache(AuditPlan(AuditOptions(overrides=overrides, cache=True))).report("tiny") == fresh
    with pytest.raises(AssertionError, match="built a component"):  # the default: build from the configs
        ModelCache(AuditPlan(AuditOptions(overrides=overrides))).report("tiny")
