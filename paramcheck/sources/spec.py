"""What every source becomes: a ``ModelSource`` of ``ComponentSpec``s, and the readers of the files that define it.

A source is read once, here or in ``local``/``hub``/``bundled``; later stages take what they need from the record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, suggest
from ..results import SourceInfo

__all__ = [
    "CONFIG",
    "CORE_LIBRARIES",
    "INDEX_SUFFIX",
    "MODEL_INDEX",
    "WEIGHT_STEMS",
    "ComponentSpec",
    "ModelSource",
    "check_component_name",
    "index_entries",
    "model_class",
    "pipeline_name",
]

MODEL_INDEX = "model_index.json"
CONFIG = "config.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
WEIGHT_STEMS = ("diffusion_pytorch_model", "model")  # the default weight file names of diffusers, transformers
INDEX_SUFFIX = ".safetensors.index.json"  # a sharded set's index: <stem>.safetensors.index.json
# the libraries whose classes paramcheck builds without being told to trust them (build.resolve_class)
CORE_LIBRARIES = ("diffusers", "transformers")
MAX_COMPONENTS = 1_000  # a pipeline has a dozen; a model_index.json listing more is not one


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
    architectures = config.get("architectures")
    if "_class_name" in config:
        library, class_name = "diffusers", config["_class_name"]
    elif isinstance(architectures, list) and architectures:
        library, class_name = "transformers", architectures[0]
    elif architectures:
        raise ConfigError(
            f"{location}: 'architectures' must be a list of class names, found {_short(architectures)}; fix the file"
        )
    else:
        raise ConfigError(f"{location}: names no model class (no '_class_name' nor 'architectures'); add one")
    if not isinstance(class_name, str):
        raise ConfigError(f"{location}: the model class must be a string, found {_short(class_name)}")
    return library, class_name


def pipeline_name(index: Mapping[str, Any]) -> str | None:
    """The pipeline class a model_index.json names (``_class_name``), when it names one."""
    name = index.get("_class_name")
    return name if isinstance(name, str) else None


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters: a message quotes a file's value, never a whole file."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _plain(name: str) -> bool:
    """One folder name: not empty, not ``.``/``..``, no separator, nothing unprintable (NUL, newline)."""
    return bool(name) and name not in {".", ".."} and not any(c in name for c in "/\\") and name.isprintable()


def check_component_name(name: str, location: str) -> str:
    """``name`` when it names a folder inside the model (a component's config is ``<model>/<name>/config.json``)."""
    if not _plain(name):
        raise ConfigError(
            f"{location}: component name {_short(name, 300)} is not a folder inside the model (no '/', '\\', '..' or "
            "control characters); fix model_index.json"
        )
    return name


def index_entries(
    index: Mapping[str, Any], location: str, has_config: Callable[[str], bool]
) -> list[tuple[str, str | None, str | None]]:
    """``(name, library, class)`` of each component a model_index.json lists (``_``-keys and settings skipped).

    A value that is not a list is a pipeline setting (``requires_safety_checker``), unless the component folder of
    that name holds a config.json (``has_config``): then it is a malformed entry, an error rather than a component
    that silently drops out of the total. So is ``[null, class]`` next to a config.json; ``[null, null]`` is the
    documented "no such component".
    """
    entries: list[tuple[str, str | None, str | None]] = []
    for name, value in index.items():
        if name.startswith("_"):
            continue
        if not isinstance(value, list):
            if _plain(name) and has_config(name):
                raise ConfigError(
                    f"{location}: component {name!r} must be [library, class], found {_short(value)} (its folder "
                    "holds a config.json); fix model_index.json"
                )
            continue
        check_component_name(name, location)
        if len(value) != 2 or not all(v is None or isinstance(v, str) for v in value):
            raise ConfigError(f"{location}: component {name!r} must be [library, class], found {_short(value)}")
        library, class_name = value
        if (library is None or class_name is None) and value != [None, None] and has_config(name):
            raise ConfigError(
                f"{location}: component {name!r} must be [library, class], found {_short(value)} (its folder holds a "
                "config.json); name both, or [null, null] for no component"
            )
        entries.append((name, library, class_name))
        if len(entries) > MAX_COMPONENTS:
            raise ConfigError(
                f"{location}: lists more than {MAX_COMPONENTS:,} components; is this a diffusers model_index.json?"
            )
    return entries
