"""Where a model comes from: a bundled id, a local pipeline folder or a local single-model folder.

Every source ends as a ``ModelSource``: a name, a ``SourceInfo`` and one ``ComponentSpec`` per pipeline component,
each with its config (or none, for schedulers and tokenizers) and the weight files found next to it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, SourceError, UnknownModelError
from .registry import bundled_ids, bundled_model, suggest
from .results import SourceInfo

__all__ = ["ComponentSpec", "ModelSource", "read_folder", "resolve"]

MODEL_INDEX = "model_index.json"
CONFIG = "config.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")


@dataclass(frozen=True, slots=True, kw_only=True)
class ComponentSpec:
    """One pipeline component: the class the pipeline names and, for models, its config."""

    name: str
    library: str | None
    class_name: str | None
    config: Mapping[str, Any] | None = field(default=None, compare=False)
    folder: Path | None = None
    weights: tuple[Path, ...] = ()
    config_file: str | None = None

    @property
    def location(self) -> str:
        return self.config_file or (str(self.folder) if self.folder else self.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSource:
    """A model ready to build: its name, where it came from, its components in pipeline order."""

    model: str
    info: SourceInfo
    components: tuple[ComponentSpec, ...]
    notes: tuple[str, ...] = ()

    def component(self, name: str) -> ComponentSpec:
        for spec in self.components:
            if spec.name == name:
                return spec
        names = tuple(c.name for c in self.components)
        hint = "components: " + ", ".join(names)
        raise ConfigError(f"{self.model}: no component {name!r}; {suggest(name, names, hint=hint)}")


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from a file, or a one-line ``ConfigError`` naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as e:
        raise SourceError(f"{path}: cannot read ({e.strerror}); check the path and its permissions") from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}); fix or re-download the file") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def _weights(folder: Path) -> tuple[Path, ...]:
    if not folder.is_dir():
        return ()
    return tuple(sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES))


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


def _model_component(name: str, folder: Path) -> ComponentSpec:
    """A single-model folder (``config.json``): diffusers when it has ``_class_name``, else transformers."""
    path = folder / CONFIG
    config = read_json(path)
    library, class_name = model_class(config, str(path))
    return ComponentSpec(
        name=name,
        library=library,
        class_name=class_name,
        config=config,
        folder=folder,
        weights=_weights(folder),
        config_file=str(path),
    )


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


def _pipeline_components(folder: Path) -> tuple[ComponentSpec, ...]:
    index_path = folder / MODEL_INDEX
    index = read_json(index_path)
    specs: list[ComponentSpec] = []
    for name, library, class_name in index_entries(index, str(index_path)):
        sub = folder / name
        config_path = sub / CONFIG
        if class_name is not None and config_path.is_file():
            # the pipeline's own [library, class] names the component (e.g. a diffusers pipeline module)
            specs.append(dataclasses.replace(_model_component(name, sub), library=library, class_name=class_name))
        else:
            specs.append(
                ComponentSpec(name=name, library=library, class_name=class_name, folder=sub if sub.is_dir() else None)
            )
    if not specs:
        raise ConfigError(f"{index_path}: lists no components; is this a diffusers model_index.json?")
    return tuple(specs)


def read_folder(folder: Path, *, model: str | None = None, kind: str = "folder") -> ModelSource:
    """A local pipeline folder (``model_index.json``) or single-model folder (``config.json``)."""
    if not folder.exists():
        raise SourceError(f"{folder}: no such folder; give a bundled id or an existing folder")
    if not folder.is_dir():
        raise SourceError(f"{folder}: not a folder; give a pipeline or model folder (checkpoints: paramcheck check)")
    try:
        entries = {p.name for p in folder.iterdir()}
    except OSError as e:
        raise SourceError(f"{folder}: cannot read the folder ({e.strerror})") from e
    if MODEL_INDEX in entries:
        components = _pipeline_components(folder)
    elif CONFIG in entries:
        components = (_model_component("model", folder),)
    else:
        raise ConfigError(
            f"{folder}: holds neither {MODEL_INDEX} nor {CONFIG}; point at a diffusers or transformers folder"
        )
    weights = any(c.weights for c in components)
    name = model or folder.resolve().name
    return ModelSource(
        model=name,
        info=SourceInfo(kind=kind, location=str(folder), weights=weights),
        components=components,
    )


def resolve(spec: str | Path) -> ModelSource:
    """A bundled id, a local folder, or (``hub:REPO[@REV]``) a hub repository."""
    text = str(spec)
    if text in bundled_ids():
        bundled = bundled_model(text)
        source = read_folder(bundled.folder, model=text, kind="bundled")
        info = SourceInfo(kind="bundled", location=bundled.hub_repo or text, weights=False)
        return ModelSource(model=text, info=info, components=source.components)
    if text.startswith("hub:"):
        from .hub import hub_source

        return hub_source(text[len("hub:") :])
    path = Path(text).expanduser()
    if path.exists():
        return read_folder(path)
    if "/" in text or text.startswith("."):
        raise SourceError(f"{text}: no such folder; give a bundled id or an existing folder")
    raise UnknownModelError(f"unknown model {text!r}; {suggest(text, bundled_ids())}")
