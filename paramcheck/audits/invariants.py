"""Partitions that must hold for every component, whatever its snapshot says (no snapshot needed)."""

from __future__ import annotations

import pytest
import torch

from paramcheck.audit_session import AuditCase, Checked, ModelCache
from paramcheck.results import ComponentCounts

__all__ = ["test_buffers_partition", "test_ties_partition_named_parameters", "test_views_partition_parameters"]


def test_views_partition_parameters(
    paramcheck_case: AuditCase, paramcheck_counts: ComponentCounts, paramcheck_checked: Checked
) -> None:
    if not paramcheck_counts.views:
        pytest.skip("no layer-type views in this build of paramcheck")
    sums = {view.view: view.parameters for view in paramcheck_counts.views}
    paramcheck_checked.compare("views", expected=dict.fromkeys(sums, paramcheck_counts.parameters), received=dict(sums))
    assert sums == dict.fromkeys(sums, paramcheck_counts.parameters)


def test_ties_partition_named_parameters(
    paramcheck_case: AuditCase,
    paramcheck_counts: ComponentCounts,
    paramcheck_models: ModelCache,
    paramcheck_checked: Checked,
) -> None:
    module = paramcheck_models.module(paramcheck_case)
    assert module is not None
    # a second method: every parameter name, tied ones each time they appear, on the built module
    every_name = sum(p.numel() for _, p in module.named_parameters(remove_duplicate=False))
    counted = paramcheck_counts.parameters + paramcheck_counts.tied_parameters
    paramcheck_checked.compare("parameters_with_ties", expected=counted, received=every_name)
    assert every_name == counted


def test_buffers_partition(
    paramcheck_case: AuditCase,
    paramcheck_counts: ComponentCounts,
    paramcheck_models: ModelCache,
    paramcheck_checked: Checked,
) -> None:
    module = paramcheck_models.module(paramcheck_case)
    assert module is not None
    # a second method: what state_dict holds (checkpoints save exactly that) minus the parameters
    saved = module.state_dict(keep_vars=True).values()
    in_state_dict = {id(t): t.numel() for t in saved if not isinstance(t, torch.nn.Parameter)}
    every_buffer = {id(b): b.numel() for b in module.buffers()}
    paramcheck_checked.compare(
        "persistent_buffers", expected=paramcheck_counts.persistent_buffers, received=sum(in_state_dict.values())
    )
    paramcheck_checked.compare(
        "buffers",
        expected=paramcheck_counts.persistent_buffers + paramcheck_counts.non_persistent_buffers,
        received=sum(every_buffer.values()),
    )
    assert sum(in_state_dict.values()) == paramcheck_counts.persistent_buffers
    assert sum(every_buffer.values()) == paramcheck_counts.persistent_buffers + paramcheck_counts.non_persistent_buffers
