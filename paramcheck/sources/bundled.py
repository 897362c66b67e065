"""The bundled models: ids -> folders shipped inside the package (``paramcheck/bundled/<id>/``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import UnknownModelError, suggest
from ..fileio import read_json

__all__ = ["BundledModel", "bundled_ids", "bundled_model"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BundledModel:
    """A bundled model: its id, the hub repository its configs reproduce, its folder, and the independent published
    facts recorded next to the configs (``facts.json``)."""

    id: str
    hub_repo: str | None
    folder: Path
    facts: tuple[dict[str, Any], ...] = field(default=(), compare=False)

    @property
    def family(self) -> str:
        match = re.match(r"[a-z]+", self.id)
        return match.group(0) if match else self.id


def _root() -> Path:
    return Path(str(resources.files("paramcheck") / "bundled"))


def bundled_ids() -> tuple[str, ...]:
    """Every bundled id, sorted."""
    root = _root()
    if not root.is_dir():
        return ()
    return tuple(sorted(p.name for p in root.iterdir() if (p / "model_index.json").is_file()))


def bundled_model(model_id: str) -> BundledModel:
    """The bundled model of that id; ``UnknownModelError`` with suggestions otherwise."""
    ids = bundled_ids()
    if model_id not in ids:
        raise UnknownModelError(f"unknown model {model_id!r}; {suggest(model_id, ids)}")
    folder = _root() / model_id
    facts = read_json(folder / "facts.json") if (folder / "facts.json").is_file() else {}
    hub_repo = facts.get("hub_repo")
    return BundledModel(
        id=model_id,
        hub_repo=hub_repo if isinstance(hub_repo, str) else None,
        folder=folder,
        facts=tuple(facts.get("facts", ())),
    )
