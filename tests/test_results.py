"""Results round-trip to JSON losslessly, whatever they hold."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from paramcheck.results import (
    CategoryCount,
    ComponentCounts,
    LayerRecord,
    LayerView,
    ModelReport,
    SourceInfo,
    SourceKind,
    TiedGroup,
)

names = st.text(min_size=1, max_size=12)
counts = st.integers(min_value=0, max_value=10**13)

tied = st.builds(TiedGroup, names=st.tuples(names, names), parameters=counts)
rows = st.builds(CategoryCount, category=names, parameters=counts, layers=counts)
views = st.builds(LayerView, view=names, rows=st.lists(rows, max_size=4).map(tuple))
records = st.builds(
    LayerRecord, name=names, class_name=names, parameters=counts, category=names, depth=st.integers(0, 9)
)
components = st.builds(
    ComponentCounts,
    name=names,
    library=st.none() | names,
    class_name=st.none() | names,
    parameters=counts,
    persistent_buffers=counts,
    non_persistent_buffers=counts,
    tied=st.lists(tied, max_size=2).map(tuple),
    views=st.lists(views, max_size=3).map(tuple),
    layers=st.lists(records, max_size=3).map(tuple),
)
reports = st.builds(
    ModelReport,
    model=names,
    source=st.builds(
        SourceInfo, kind=st.sampled_from(SourceKind), location=names, revision=st.none() | names, weights=st.booleans()
    ),
    device=names,
    components=st.lists(components, max_size=4).map(tuple),
    notes=st.lists(names, max_size=2).map(tuple),
)


@given(reports)
def test_report_round_trips_through_json(report: ModelReport) -> None:
    assert ModelReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report


def test_derived_fields_are_sums() -> None:
    a = ComponentCounts(name="a", library=None, class_name=None, parameters=10, persistent_buffers=3)
    b = ComponentCounts(
        name="b",
        library=None,
        class_name=None,
        parameters=5,
        tied=(TiedGroup(names=("x", "y", "z"), parameters=2),),
    )
    report = ModelReport(model="m", source=SourceInfo(kind="folder", location="."), device="meta", components=(a, b))
    assert (report.parameters, report.stored) == (15, 18)
    assert b.tied_parameters == 4  # one tensor of 2 shared by three names: 2 extra names x 2
