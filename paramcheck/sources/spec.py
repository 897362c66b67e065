"""What every source becomes: a ``ModelSource`` of ``ComponentSpec``s, and the readers of the files that define it.

A source is read once, here or in ``local``/``hub``/``bundled``; later stages take what they need from the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, suggest
from ..results import SourceInfo

__all__ = [
    "CONFIG",
    "INDEX_SUFFIX",
    "MODEL_INDEX",
    "WEIGHT_STEMS",
    "ComponentSpec",
    "ModelSource",
    "index_entries",
    "model_class",
    "pipeline_name",
]

MODEL_INDEX = "model_index.json"
CONFIG = "config.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
WEIGHT_STEMS = ("diffusion_pytorch_model", "model")  # the default weight file names of diffusers, transformers
INDEX_SUFFIX = ".safetensors.index.json"  # a sharded set's index: <stem>.safetensors.index.json


@dataclass(frozen=True, slots=True, kw_only=True)
class ComponentSpec:
    """One pipeline component: the class the pipeline names, for models its config, and where its weights are.

    ``weights`` are local weight files; ``hub_weights`` the repository file names of a hub component's safetensors
    weights (one file, or the index of a sharded set), whose headers the hub source reads.
    """

    name: str
    library: str | None
    class_name: str | None
    config: Mapping[str, Any] | None = field(default=None, compare=False)
    folder: Path | None = None
    weights: tuple[Path, ...] = ()
    hub_weights: tuple[str, ...] = ()
    config_file: str | None = None

    @property
    def location(self) -> str:
        return self.config_file or (str(self.folder) if self.folder else self.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSource:
    """A model ready to build: its name, where it came from, the pipeline class its model_index.json names (``None``
    for a single model), its components in pipeline order."""

    model: str
    info: SourceInfo
    components: tuple[ComponentSpec, ...]
    pipeline_class: str | None = None
    notes: tuple[str, ...] = ()

    def component(self, name: str) -> ComponentSpec:
        for spec in self.components:
            if spec.name == name:
                return spec
        names = tuple(c.name for c in self.components)
        hint = "components: " + ", ".join(names)
        raise ConfigError(f"{self.model}: no component {name!r}; {suggest(name, names, hint=hint)}")


def model_class(config: Mapping[str, Any], location: str) -> tuple[str, str]:
    """``(library, class)`` a single model's config.json names: diffusers' ``_class_name``, else transformers'
    ``architectures[0]``."""
    if "_class_name" in config:
        library, class_name = "diffusers", config["_class_name"]
    elif config.get("architectures"):
        library, class_name = "transformers", config["architectures"][0]
    else:
        raise ConfigError(f"{location}: names no model class (no '_class_name' nor 'architectures'); add one")
    if not isinstance(class_name, str):
        raise ConfigError(f"{location}: the model class must be a string, found {class_name!r}")
    return library, class_name


def pipeline_name(index: Mapping[str, Any]) -> str | None:
    """The pipeline class a model_index.json names (``_class_name``), when it names one."""
    name = index.get("_class_name")
    return name if isinstance(name, str) else None


def index_entries(index: Mapping[str, Any], location: str) -> list[tuple[str, str | None, str | None]]:
    """``(name, library, class)`` of each component a model_index.json lists (``_``-keys and settings skipped)."""
    entries: list[tuple[str, str | None, str | None]] = []
    for name, value in index.items():
        if name.startswith("_") or not isinstance(value, list):
            continue
        if len(value) != 2 or not all(v is None or isinstance(v, str) for v in value):
            raise ConfigError(f"{location}: component {name!r} must be [library, class], found {value!r}")
        entries.append((name, value[0], value[1]))
    return entries
