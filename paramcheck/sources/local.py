"""Local folders: a diffusers pipeline folder (``model_index.json``) or a single-model folder (``config.json``)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from ..errors import ConfigError, SourceError, first_line
from ..fileio import read_json
from ..results import SourceInfo, SourceKind
from .spec import (
    CONFIG,
    INDEX_SUFFIX,
    MODEL_INDEX,
    WEIGHT_STEMS,
    WEIGHT_SUFFIXES,
    ComponentSpec,
    ModelSource,
    index_entries,
    model_class,
    pipeline_name,
)

__all__ = ["MODULES", "choose_variant", "read_folder", "variant_files"]

# the names transformers' and diffusers' ``_add_variant`` give a variant's weights ({stem}: model,
# diffusion_pytorch_model): one file, shards, the index, and diffusers' deprecated index name
_VARIANT_NAMES = (
    r"^(?P<stem>{stems})\.(?P<v>[^.-]+)\.safetensors$",
    r"^(?P<stem>{stems})\.(?P<v>[^.-]+)-\d+-of-\d+\.safetensors$",
    r"^(?P<stem>{stems})\.safetensors\.index\.(?P<v>[^.]+)\.json$",
    r"^(?P<stem>{stems})\.safetensors\.(?P<v>[^.]+)\.index\.json$",
)


def _variants(folder: Path) -> set[str]:
    stems = "|".join(re.escape(s) for s in WEIGHT_STEMS)
    patterns = [re.compile(p.format(stems=stems)) for p in _VARIANT_NAMES]
    names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    return {m["v"] for n in names for p in patterns if (m := p.match(n))}


def choose_variant(folder: Path, variant: str | None = None) -> tuple[str | None, str | None]:
    """The weight variant to read in ``folder`` and a note saying so: ``variant`` when given, else the only one present
    when the folder has no default weights (neither loader looks for one: ``from_pretrained`` without ``variant=``
    fails on such a folder), else ``None``."""
    if variant is not None:
        if variant not in _variants(folder):
            others = ", ".join(sorted(_variants(folder))) or "none"
            raise SourceError(
                f"{folder}: has no weights of variant {variant!r} (variants found: {others}); check --variant"
            )
        return variant, f"read the weights of variant {variant!r}"
    defaults = [f"{stem}{suffix}" for stem in WEIGHT_STEMS for suffix in (".safetensors", INDEX_SUFFIX, ".bin")]
    if any((folder / name).is_file() for name in defaults):
        return None, None
    found = sorted(_variants(folder))
    if len(found) > 1:
        raise SourceError(
            f"{folder}: holds the weight variants {', '.join(found)} and no default weights; choose one with --variant"
        )
    if found:
        return found[0], f"read the weights of variant {found[0]!r} (the only weights present)"
    return None, None


def variant_files(folder: Path, variant: str) -> tuple[Path, ...]:
    """A variant's safetensors weights in ``folder``: its index (standing for its shards) or its one file."""
    for stem in WEIGHT_STEMS:
        for name in (f"{stem}.safetensors.index.{variant}.json", f"{stem}.safetensors.{variant}.index.json"):
            if (folder / name).is_file():
                return (folder / name,)
        if (folder / f"{stem}.{variant}.safetensors").is_file():
            return (folder / f"{stem}.{variant}.safetensors",)
    return ()


def _weights(folder: Path) -> tuple[Path, ...]:
    if not folder.is_dir():
        return ()
    return tuple(sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES))


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


def _has_config(folder: Path, name: str) -> bool:
    try:
        return (folder / name / CONFIG).is_file()
    except OSError:  # an unreadable folder: the component's own reading says so
        return False


def _component_folder(folder: Path, name: str) -> Path | None:
    """The component's folder, when there is one; a folder that is a link to outside the model is refused (a link
    to a config.json file is fine: the huggingface_hub cache links every file to its blobs)."""
    sub = folder / name
    try:
        if not sub.is_dir():
            return None
        inside = sub.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError) as e:  # RuntimeError: a symlink loop (Python 3.11)
        raise SourceError(f"{sub}: cannot read the component folder ({first_line(e)}); check the path") from e
    if not inside:
        raise SourceError(
            f"{sub}: component {name!r} is a link to {sub.resolve()}, outside the model folder; copy that folder "
            "into the model, or point at the model it belongs to"
        )
    return sub


def _pipeline_components(folder: Path) -> tuple[str | None, tuple[ComponentSpec, ...]]:
    """The pipeline class and the components of a pipeline folder's model_index.json."""
    index_path = folder / MODEL_INDEX
    index = read_json(index_path)
    specs: list[ComponentSpec] = []
    for name, library, class_name in index_entries(index, str(index_path), lambda n: _has_config(folder, n)):
        sub = _component_folder(folder, name)
        config_path = folder / name / CONFIG
        try:
            has_config = sub is not None and config_path.is_file()
        except OSError as e:
            raise SourceError(f"{sub}: cannot read component {name!r} ({e.strerror}); check its permissions") from e
        if class_name is not None and has_config:
            # the pipeline's own [library, class] names the component (e.g. a diffusers pipeline module)
            own = _model_component(name, config_path.parent)
            if own.library == "diffusers" and own.class_name != class_name:
                raise ConfigError(
                    f"{config_path}: names class {own.class_name!r} but {MODEL_INDEX} lists {name!r} as "
                    f"{class_name!r}; the config's keys are for its own class: fix one of the two"
                )
            specs.append(dataclasses.replace(own, library=library, class_name=class_name))
        else:
            specs.append(ComponentSpec(name=name, library=library, class_name=class_name, folder=sub))
    if not specs:
        raise ConfigError(f"{index_path}: lists no components; is this a diffusers model_index.json?")
    return pipeline_name(index), tuple(specs)


MODULES = "modules.json"  # a sentence-transformers folder's list of modules


def _sentence_transformers_components(folder: Path) -> tuple[ComponentSpec, ...]:
    """A sentence-transformers folder's modules with parameters: its Transformer (at the top, named ``model``, or in
    its own folder such as ``0_Transformer/``, named after it) and its Dense layers (``2_Dense/``: a linear layer
    whose ``in_features``/``out_features``/``bias`` are in its config.json). Pooling and Normalize hold none."""
    path = folder / MODULES
    try:
        modules = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: cannot read it as JSON ({e}); fix or re-download the file") from e
    if not isinstance(modules, list):
        raise ConfigError(f"{path}: is not a list of modules; is this a sentence-transformers modules.json?")
    specs: list[ComponentSpec] = []
    for entry in modules:
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: lists {entry!r}, not a module; each entry needs 'type' and 'path'")
        kind = str(entry.get("type", "")).rpartition(".")[2]
        where = str(entry.get("path", ""))
        sub = folder / where if where else folder
        if not (sub / CONFIG).is_file():
            continue
        if kind == "Transformer":
            specs.append(_model_component(where or "model", sub))
        elif kind == "Dense":
            config = read_json(sub / CONFIG)
            specs.append(
                ComponentSpec(
                    name=where or "dense",
                    library="sentence_transformers",
                    class_name="Dense",
                    config=config,
                    folder=sub,
                    weights=_weights(sub),
                    config_file=str(sub / CONFIG),
                )
            )
    return tuple(specs)


def read_folder(folder: Path, *, model: str | None = None, kind: SourceKind = SourceKind.FOLDER) -> ModelSource:
    """A local pipeline folder (``model_index.json``) or single-model folder (``config.json``)."""
    if not folder.exists():
        raise SourceError(f"{folder}: no such folder; give a bundled id or an existing folder")
    if not folder.is_dir():
        raise SourceError(f"{folder}: not a folder; give a pipeline or model folder (checkpoints: paramcheck check)")
    try:
        entries = {p.name for p in folder.iterdir()}
    except OSError as e:
        raise SourceError(f"{folder}: cannot read the folder ({e.strerror})") from e
    pipeline_class = None
    if MODEL_INDEX in entries:
        pipeline_class, components = _pipeline_components(folder)
    elif MODULES in entries and (components := _sentence_transformers_components(folder)):
        pass
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
        pipeline_class=pipeline_class,
    )
