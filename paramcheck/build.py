"""Source -> modules: each component's real diffusers/transformers class built from its config on PyTorch's meta
device (no weights, no memory), the way ``from_pretrained`` builds it before loading.

``build_model`` builds every component of a ``ModelSource`` (or those named) into a ``BuiltModel``;
``build_component`` builds one; ``resolve_class`` finds the class a pipeline names and imports only it (diffusers and
transformers load their submodules lazily); ``quiet`` silences the libraries while they build or load.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import torch

from .errors import ConfigError, first_line
from .silence import progress_bars_off, silenced
from .sources import ComponentSpec, ModelSource

__all__ = [
    "BuiltModel",
    "Progress",
    "build_component",
    "build_model",
    "default_dtype",
    "is_module_class",
    "quiet",
    "resolve_class",
]

Progress = Callable[[str], None]


def resolve_class(library: str, class_name: str, *, where: str) -> type:
    """The class a pipeline names: ``diffusers``, ``transformers`` or a diffusers pipeline module."""
    modules = [library]
    if library not in {"diffusers", "transformers"}:
        modules = [f"diffusers.pipelines.{library}", library]
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        try:
            with quiet():  # e.g. transformers warns on importing an image processor without torchvision
                cls = getattr(module, class_name)
        except (AttributeError, ImportError, RuntimeError):
            continue
        if isinstance(cls, type):
            return cls
    raise ConfigError(
        f"{where}: unknown class {library}.{class_name}; check the name, or upgrade {library.split('.')[0]}"
    )


def is_module_class(cls: type) -> bool:
    return issubclass(cls, torch.nn.Module)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """diffusers' and transformers' warnings about config keys, their prints and their progress bars silenced while
    building or loading."""
    with silenced("diffusers", "transformers", stdout=True), progress_bars_off("diffusers", "transformers"):
        yield


def _transformers_config(spec: ComponentSpec, config: dict[str, Any]) -> Any:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    model_type = config.get("model_type")
    if not isinstance(model_type, str):
        raise ConfigError(f"{spec.location}: has no 'model_type'; a transformers config.json needs one")
    try:
        config_class = CONFIG_MAPPING[model_type]
    except KeyError:
        raise ConfigError(
            f"{spec.location}: unknown model_type {model_type!r}; check the name, or upgrade transformers"
        ) from None
    return config_class.from_dict(config)


def _sentence_transformers_dense(spec: ComponentSpec, device: str | torch.device) -> torch.nn.Module:
    """sentence-transformers' Dense module as it stores itself: ``linear.weight`` (and ``linear.bias``) of an
    ``in_features -> out_features`` linear layer; its activation holds no parameters."""
    config = spec.config or {}
    try:
        features = int(config["in_features"]), int(config["out_features"])
    except (KeyError, TypeError, ValueError):
        raise ConfigError(f"{spec.location}: a Dense module needs integer in_features and out_features") from None
    with torch.device(device):
        return torch.nn.ModuleDict({"linear": torch.nn.Linear(*features, bias=bool(config.get("bias", True)))}).eval()


def build_component(
    spec: ComponentSpec, *, device: str | torch.device = "meta", dtype: torch.dtype | None = None
) -> torch.nn.Module | None:
    """The component's module built from its config on ``device``; ``None`` when the class is no module.

    Built the way ``from_pretrained`` builds it before loading: the same config class, the same defaults,
    weights tied by the model's own ``post_init``. ``dtype``: built with it as the default dtype, floating weights
    at it (transformers builds at a config's own ``torch_dtype``, SDXL's CLIP says float16, whatever the default).
    """
    if spec.library is None or spec.class_name is None:
        return None
    if (spec.library, spec.class_name) == ("sentence_transformers", "Dense"):
        return _sentence_transformers_dense(spec, device)
    cls = resolve_class(spec.library, spec.class_name, where=spec.location)
    if not is_module_class(cls):
        return None
    if spec.config is None:
        raise ConfigError(f"{spec.location}: {spec.class_name} is a model but its folder has no config.json")
    config = dict(spec.config)
    try:
        with quiet(), torch.device(device), default_dtype(dtype):
            if hasattr(cls, "from_config") and hasattr(cls, "config_name"):  # diffusers ModelMixin
                module = cls.from_config(config)
            else:
                module = cls(_transformers_config(spec, config))
    except ConfigError:
        raise
    except Exception as e:  # the libraries raise anything from TypeError to ValueError on a bad config
        message = first_line(e)
        raise ConfigError(f"{spec.location}: cannot build {spec.class_name} from its config ({message})") from e
    if not isinstance(module, torch.nn.Module):
        raise ConfigError(f"{spec.location}: {spec.class_name} built something that is not a module")
    module.eval()
    if dtype is not None and any(p.is_floating_point() and p.dtype != dtype for p in module.parameters()):
        module.to(dtype=dtype)
    return module


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype | None) -> Iterator[None]:
    """``torch.set_default_dtype(dtype)`` while inside (nothing when ``None``)."""
    if dtype is None:
        yield
        return
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


@dataclass(frozen=True, slots=True, kw_only=True)
class BuiltModel:
    """A source with each component's module (``None`` for schedulers, tokenizers and other non-modules)."""

    source: ModelSource
    modules: Mapping[str, torch.nn.Module | None] = field(compare=False)
    device: str

    def module(self, name: str) -> torch.nn.Module | None:
        if name not in self.modules:
            self.source.component(name)  # raises with the list of components
        return self.modules[name]


def build_model(
    source: ModelSource,
    *,
    components: Sequence[str] | None = None,
    progress: Progress | None = None,
    dtype: torch.dtype | None = None,
) -> BuiltModel:
    """Build every component (or those named) on the meta device (at ``dtype``, see ``build_component``)."""
    specs = source.components
    if components is not None:
        specs = tuple(source.component(name) for name in components)
    modules: dict[str, torch.nn.Module | None] = {}
    for spec in specs:
        if progress is not None:
            progress(spec.name)
        modules[spec.name] = build_component(spec, dtype=dtype)
    return BuiltModel(source=replace(source, components=specs), modules=MappingProxyType(modules), device="meta")
