"""Every bundled model's counts agree with the published facts recorded next to its configs (facts.json).

The facts come from outside paramcheck: checkpoint index sizes, model cards, papers; each names its source.
"""

from __future__ import annotations

import pytest

from paramcheck.count import audit
from paramcheck.dtypes import dtype_bytes
from paramcheck.results import ModelReport
from paramcheck.sources.bundled import bundled_ids, bundled_model

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
