"""Each component's counts, layer-type tables, ties and buffers against ``snapshots/<test module>/<model>.json``.

The three audits are collected by one test module (the one that imports them), so each model has one snapshot file.
"""

from __future__ import annotations

from syrupy.assertion import SnapshotAssertion

from paramcheck.audit_session import AuditCase
from paramcheck.results import ComponentCounts
from paramcheck.snapshot import snapshot_entry

__all__ = ["test_counts", "test_layer_types", "test_ties_and_buffers"]


def test_counts(
    paramcheck_case: AuditCase, paramcheck_counts: ComponentCounts, paramcheck_snapshot: SnapshotAssertion
) -> None:
    assert paramcheck_snapshot == snapshot_entry(paramcheck_counts, "counts")


def test_layer_types(
    paramcheck_case: AuditCase, paramcheck_counts: ComponentCounts, paramcheck_snapshot: SnapshotAssertion
) -> None:
    assert paramcheck_snapshot == snapshot_entry(paramcheck_counts, "layer_types")


def test_ties_and_buffers(
    paramcheck_case: AuditCase, paramcheck_counts: ComponentCounts, paramcheck_snapshot: SnapshotAssertion
) -> None:
    assert paramcheck_snapshot == snapshot_entry(paramcheck_counts, "ties_and_buffers")
