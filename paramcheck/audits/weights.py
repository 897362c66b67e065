"""Where a source has weights: the component loaded by from_pretrained on --device counts what its config counts."""

from __future__ import annotations

from paramcheck.audit_session import AuditCase, Checked, ModelCache

__all__ = ["test_loaded_counts_equal_config_counts"]


def test_loaded_counts_equal_config_counts(
    paramcheck_weights_case: AuditCase, paramcheck_models: ModelCache, paramcheck_checked: Checked
) -> None:
    config = paramcheck_models.counts(paramcheck_weights_case)
    result = paramcheck_models.load_result(paramcheck_weights_case)
    loaded = result.counts
    for key in ("parameters", "persistent_buffers", "non_persistent_buffers"):
        paramcheck_checked.compare(key, expected=getattr(config, key), received=getattr(loaded, key))
    assert result.mismatches == (), f"{paramcheck_weights_case.id}: " + "; ".join(result.mismatches[:10])
    assert loaded.parameters == config.parameters
    assert loaded.persistent_buffers == config.persistent_buffers
    assert loaded.non_persistent_buffers == config.non_persistent_buffers
    assert [set(g.names) for g in loaded.tied] == [set(g.names) for g in config.tied]
