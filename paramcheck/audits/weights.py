"""Where a source has weights: the component loaded by from_pretrained on --device counts what its config counts."""

from __future__ import annotations

from typing import Any

from paramcheck.audit_session import AuditCase, ModelCache


def test_loaded_counts_equal_config_counts(
    paramcheck_weights_case: AuditCase, paramcheck_models: ModelCache, paramcheck_checked: dict[str, Any]
) -> None:
    config = paramcheck_models.counts(paramcheck_weights_case)
    result = paramcheck_models.load_result(paramcheck_weights_case)
    loaded = result.counts
    paramcheck_checked.update(
        parameters=config.parameters,
        loaded_parameters=loaded.parameters,
        persistent_buffers=config.persistent_buffers,
        loaded_persistent_buffers=loaded.persistent_buffers,
    )
    assert result.mismatches == (), f"{paramcheck_weights_case.id}: " + "; ".join(result.mismatches[:10])
    assert loaded.parameters == config.parameters
    assert loaded.persistent_buffers == config.persistent_buffers
    assert loaded.non_persistent_buffers == config.non_persistent_buffers
    assert [set(g.names) for g in loaded.tied] == [set(g.names) for g in config.tied]
