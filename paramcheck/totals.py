"""The bundled models' parameter totals, precomputed: ``paramcheck list`` prints them without building anything.

They are facts of the bundled configs and of the library versions they were counted with; ``bundled/totals.json``
records both. ``read_totals`` returns them only when the installed torch, diffusers, transformers and paramcheck
are those versions (else ``list`` counts, through the result cache). A test compares the file with a fresh build of
every bundled model; after a change that moves a count, regenerate it with ``python -m paramcheck.totals``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .cache import key_versions
from .fileio import write_atomic
from .results import ModelReport, Result, pairs

__all__ = ["ModelTotals", "Totals", "fresh_totals", "read_totals", "totals_path"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelTotals(Result):
    """One bundled model: its components' parameters in pipeline order (those with parameters), and their sum."""

    model: str
    parameters: int
    components: tuple[tuple[str, int], ...] = pairs()

    @classmethod
    def of(cls, report: ModelReport) -> ModelTotals:
        parts = tuple((c.name, c.parameters) for c in report.components if c.parameters)
        return cls(model=report.model, parameters=report.parameters, components=parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class Totals(Result):
    """Every bundled model's totals and the library versions they were counted with."""

    versions: tuple[tuple[str, str | None], ...] = pairs()
    models: tuple[ModelTotals, ...] = ()

    def model(self, model_id: str) -> ModelTotals | None:
        return next((m for m in self.models if m.model == model_id), None)


def totals_path() -> Path:
    return Path(str(resources.files("paramcheck") / "bundled" / "totals.json"))


def read_totals() -> Totals | None:
    """The shipped totals, when counted with the installed versions; ``None`` otherwise (or when unreadable)."""
    try:
        totals = Totals.from_dict(json.loads(totals_path().read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return totals if totals.versions == key_versions() else None


def fresh_totals() -> Totals:
    """Every bundled model built on meta and counted now."""
    from .count import audit
    from .sources.bundled import bundled_ids

    return Totals(versions=key_versions(), models=tuple(ModelTotals.of(audit(model_id)) for model_id in bundled_ids()))


if __name__ == "__main__":
    write_atomic(totals_path(), json.dumps(fresh_totals().to_dict(), indent=1) + "\n")
    print(f"wrote {totals_path()}")
