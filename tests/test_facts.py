"""Every bundled model's counts agree with the published facts recorded next to its configs (facts.json).

The facts come from outside paramcheck: checkpoint index sizes, model cards, papers; each names its source.
The same fresh builds check what paramcheck stores instead of building: the result cache gives back each model's
counts unchanged, and the totals shipped for ``paramcheck list`` are those of a fresh build.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import paramcheck.build
from paramcheck.cache import ResultCache, cached_report, component_key, key_versions
from paramcheck.count import audit
from paramcheck.dtypes import dtype_bytes
from paramcheck.results import ModelReport
from paramcheck.sources import resolve
from paramcheck.sources.bundled import bundled_ids, bundled_model
from paramcheck.totals import ModelTotals, Totals, totals_path

CASES = [
    pytest.param(model_id, index, fact, id=f"{model_id}-{fact['component']}-{fact['kind']}-{index}")
    for model_id in bundled_ids()
    for index, fact in enumerate(bundled_model(model_id).facts)
]


@pytest.fixture(scope="module")
def reports() -> dict[str, ModelReport]:
    return {}


def _report(reports: dict[str, ModelReport], model_id: str) -> ModelReport:
    if model_id not in reports:
        reports[model_id] = audit(model_id)
    return reports[model_id]


def test_every_bundled_model_has_a_checked_fact() -> None:
    checked = {case.values[0] for case in CASES if case.values[2]["kind"] != "note"}
    assert sorted(checked) == list(bundled_ids())


@pytest.mark.parametrize(("model_id", "index", "fact"), CASES)
def test_fact(reports: dict[str, ModelReport], model_id: str, index: int, fact: dict[str, object]) -> None:
    component = _report(reports, model_id).component(str(fact["component"]))
    assert component is not None, f"{model_id}: facts.json names an unknown component {fact['component']!r}"
    kind, value = fact["kind"], fact["value"]
    assert isinstance(value, int)
    if kind == "checkpoint_bytes":
        assert component.stored * dtype_bytes(str(fact["dtype"])) == value
    elif kind == "parameters":
        assert component.parameters == value
    elif kind == "stored_elements":
        assert component.stored == value
    elif kind == "approx_parameters":
        tolerance = float(str(fact["tolerance"]))
        counted = component.stored if fact.get("counts") == "stored" else component.parameters
        assert abs(counted - value) <= tolerance * value
    elif kind == "note":
        pytest.skip(f"{model_id}: a published figure that is not a count of this checkpoint (see its note)")
    else:
        pytest.fail(f"{model_id}: unknown fact kind {kind!r} in facts.json", pytrace=False)


@pytest.mark.parametrize("model_id", bundled_ids())
def test_cache_gives_back_a_fresh_count(
    reports: dict[str, ModelReport], model_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = _report(reports, model_id)
    source = resolve(model_id)
    cache = ResultCache(tmp_path)
    for spec, counts in zip(source.components, fresh.components, strict=True):
        cache.put("counts", component_key(spec), counts)
    monkeypatch.setattr(paramcheck.build, "build_component", _no_build)
    cached = cached_report(source, cache=cache)
    assert cached == fresh
    assert json.dumps(cached.to_dict()) == json.dumps(fresh.to_dict())


def _no_build(*args: object, **kwargs: object) -> None:
    raise AssertionError("built a component the cache holds")


@pytest.mark.parametrize("model_id", bundled_ids())
def test_shipped_totals_are_a_fresh_count(reports: dict[str, ModelReport], model_id: str) -> None:
    shipped = Totals.from_dict(json.loads(totals_path().read_text(encoding="utf-8")))
    regenerate = "regenerate with: python -m paramcheck.totals"
    assert shipped.versions == key_versions(), f"{totals_path()} was counted with other libraries; {regenerate}"
    assert shipped.model(model_id) == ModelTotals.of(_report(reports, model_id)), regenerate
