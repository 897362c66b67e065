"""Where a source has weights: its safetensors headers hold exactly the tensors its architecture has."""

from __future__ import annotations

from paramcheck.audit_session import AuditCase, Checked, ModelCache
from paramcheck.checkpoint.check import Layout
from paramcheck.checkpoint.render import issue_lines

__all__ = ["test_checkpoint_matches_architecture"]


def test_checkpoint_matches_architecture(
    paramcheck_weights_case: AuditCase, paramcheck_models: ModelCache, paramcheck_checked: Checked
) -> None:
    check = paramcheck_models.checkpoint(paramcheck_weights_case)
    verdicts = [c for c in check.components if c.layout is not Layout.UNCHECKED]
    paramcheck_checked.compare(
        "parameters",
        expected=sum(c.architecture_parameters for c in verdicts),
        received=sum(c.checkpoint_parameters for c in verdicts),
    )
    paramcheck_checked.compare("layout", expected=None, received=",".join(c.layout for c in verdicts))
    assert verdicts, f"{paramcheck_weights_case.id}: no component of the checkpoint could be compared"
    problems = "\n".join(issue_lines(check, limit=20))
    assert check.ok, f"{paramcheck_weights_case.id}: the checkpoint does not match its architecture\n{problems}"
