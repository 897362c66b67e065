"""Source -> modules: each component's real diffusers/transformers class built from its config on PyTorch's meta
device (no weights, no memory), the way ``from_pretrained`` builds it before loading.

``build_model`` builds every component of a ``ModelSource`` (or those named) into a ``BuiltModel``;
``build_component`` builds one; ``resolve_class`` finds the class a pipeline names and imports only it (diffusers and
transformers load their submodules lazily); ``quiet`` silences the libraries while they build or load.

What gets imported and built is the user's choice, not the config's: a ``[library, class]`` pair of a
model_index.json (or a config.json's class) is looked up only in diffusers, transformers and the real
``diffusers.pipelines.*`` modules that diffusers' own pipeline loader knows; any other library is refused by name,
before anything is imported, unless the caller names it in ``trusted_libraries``. The values of a config are
checked first (``validate.check_values``); the keys the class does not take are returned with the module, and are an
error under ``strict``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from types import MappingProxyType, ModuleType
from typing import Any

import torch

from .errors import ConfigError, OutOfMemoryError, first_line, is_memory_error
from .silence import progress_bars_off, silenced
from .sources import ComponentSpec, ModelSource
from .sources.spec import CORE_LIBRARIES
from .validate import check_values, null_int_keys, unused_diffusers_keys, unused_transformers_keys

__all__ = [
    "CORE_LIBRARIES",
    "BuiltModel",
    "Progress",
    "build_component",
    "build_component_noting_unused",
    "build_model",
    "check_trusted",
    "default_dtype",
    "is_module_class",
    "quiet",
    "resolve_class",
    "unused_keys_error",
]

Progress = Callable[[str], None]
TRUST_HINT = (
    "--trust-library NAME (CLI), trusted_libraries=[...] (API) or trusted_libraries = [...] under [tool.paramcheck]"
)


def _where(spec: ComponentSpec) -> str:
    """The component's config file or folder for a message, quoted when it holds a newline or other control."""
    return spec.location if spec.location.isprintable() else repr(spec.location)


def _identifier(text: str) -> bool:
    return text.isascii() and text.isidentifier()


def _dotted(text: str) -> bool:
    return bool(text) and all(_identifier(part) for part in text.split("."))


def check_trusted(trusted_libraries: Collection[str]) -> tuple[str, ...]:
    """The names the user trusts, checked to be module names (``mypkg``, ``mypkg.models``)."""
    if isinstance(trusted_libraries, str):
        trusted_libraries = (trusted_libraries,)
    for name in trusted_libraries:
        if not isinstance(name, str) or not _dotted(name):
            raise ConfigError(f"trusted library {name!r}: not a module name; write e.g. 'mypkg' or 'mypkg.models'")
    return tuple(trusted_libraries)


def _is_trusted(library: str, trusted: Collection[str]) -> bool:
    return any(library == name or library.startswith(f"{name}.") for name in trusted)


def _library_module(library: str, class_name: str, where: str, trusted: Collection[str]) -> ModuleType:
    """The module to look ``class_name`` up in, imported only once ``library`` is known to be allowed."""
    refused = f"{where}: library {library!r} of class {class_name!r}"
    if library in CORE_LIBRARIES:
        return importlib.import_module(library)
    if not _dotted(library):
        raise ConfigError(f"{refused} is not a module name; use diffusers, transformers or a diffusers pipeline module")
    if _is_trusted(library, trusted):
        try:
            return importlib.import_module(library)
        except ImportError as e:
            raise ConfigError(f"{refused} cannot be imported ({first_line(e)}); install it") from e
    # diffusers' pipeline loader resolves a non-library name as a diffusers.pipelines submodule (stable_diffusion)
    if _identifier(library) and importlib.util.find_spec(f"diffusers.pipelines.{library}") is not None:
        return importlib.import_module(f"diffusers.pipelines.{library}")
    raise ConfigError(
        f"{refused} is not diffusers, transformers or a diffusers pipeline module, so paramcheck neither imports nor "
        f"builds it; if you trust it, pass {TRUST_HINT}"
    )


def resolve_class(library: str, class_name: str, *, where: str, trusted_libraries: Collection[str] = ()) -> type:
    """The class a pipeline names, from ``diffusers``, ``transformers``, a diffusers pipeline module, or a library
    the caller trusts (``trusted_libraries``); a one-line ``ConfigError`` naming ``where``, the library and the class
    for anything else, raised before any other module is imported."""
    if not isinstance(library, str) or not isinstance(class_name, str):
        raise ConfigError(f"{where}: [library, class] must be two strings, found [{library!r}, {class_name!r}]")
    if not _identifier(class_name) or class_name.startswith("_"):
        raise ConfigError(f"{where}: class {class_name!r} of library {library!r} is not a class name; fix the name")
    trusted = check_trusted(trusted_libraries)
    module = _library_module(library, class_name, where, trusted)
    try:
        with quiet():  # e.g. transformers warns on importing an image processor without torchvision
            cls = getattr(module, class_name)
    except Exception:  # lazy imports raise anything from AttributeError to a missing optional dependency
        cls = None
    core = module.__name__.split(".")[0] in CORE_LIBRARIES and not _is_trusted(library, trusted)
    if not isinstance(cls, type) or (core and cls.__module__.split(".")[0] not in CORE_LIBRARIES):
        raise ConfigError(
            f"{where}: unknown class {library}.{class_name}; check the name, or upgrade {library.split('.')[0]}"
        )
    return cls


def is_module_class(cls: type) -> bool:
    return issubclass(cls, torch.nn.Module)


@cache
def _loadable_bases() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """``(model bases, other component bases)`` from diffusers' own table of what a pipeline loads
    (``LOADABLE_CLASSES``): ``ModelMixin``/``PreTrainedModel``, and schedulers, tokenizers, processors, guiders."""
    from diffusers.pipelines.pipeline_loading_utils import LOADABLE_CLASSES

    models: list[type] = []
    others: list[type] = []
    for library in CORE_LIBRARIES:
        module = importlib.import_module(library)
        for name in LOADABLE_CLASSES.get(library, {}):
            base = getattr(module, name, None)
            if not isinstance(base, type) or type(base).__name__ == "DummyObject":
                continue
            if issubclass(base, torch.nn.Module):
                models.append(base)
            elif name != "DiffusionPipeline":  # a pipeline inside a pipeline has no module paramcheck can count
                others.append(base)
    return tuple(models), tuple(others)


def _check_non_module(spec: ComponentSpec, cls: type) -> None:
    """A class with no module is fine for a scheduler, tokenizer or processor without a config.json; anything else
    would count as 0 parameters in silence."""
    what = f"{_where(spec)}: component {spec.name!r} names {spec.library}.{spec.class_name}"
    if spec.config is not None:
        raise ConfigError(
            f"{what}, which is not a model (torch.nn.Module), but the component has a config.json; "
            "name the model class its config.json is for"
        )
    _, others = _loadable_bases()
    if not (issubclass(cls, others) or type(cls).__name__ == "DummyObject"):
        raise ConfigError(
            f"{what}, which is neither a model nor a scheduler, tokenizer or processor; "
            "paramcheck cannot count it: name the component's real class"
        )


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """diffusers' and transformers' warnings about config keys, their prints and their progress bars silenced while
    building or loading."""
    with silenced("diffusers", "transformers", stdout=True), progress_bars_off("diffusers", "transformers"):
        yield


def _transformers_config(spec: ComponentSpec, config: dict[str, Any]) -> Any:
    """The transformers config object ``cls`` is built from: the config class its ``model_type`` names (as
    ``from_pretrained`` does: an mt5 config builds a ``T5EncoderModel``), its values checked first."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    model_type = config.get("model_type")
    if not isinstance(model_type, str):
        raise ConfigError(f"{_where(spec)}: has no 'model_type'; a transformers config.json needs one")
    try:
        config_class = CONFIG_MAPPING[model_type]
    except KeyError:
        raise ConfigError(
            f"{_where(spec)}: unknown model_type {model_type!r}; check the name, or upgrade transformers"
        ) from None
    check_values(config, config_class, _where(spec))
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


def _build_failure(spec: ComponentSpec, declared: type, device: str | torch.device, error: Exception) -> Exception:
    """The one-line error for a build the library refused: a memory error as such, else naming null integers."""
    message = first_line(error)
    if is_memory_error(error):
        return OutOfMemoryError(
            f"{_where(spec)}: ran out of memory building {spec.class_name} on {device} ({message}); "
            "use a smaller --dtype or a machine with more memory"
        )
    nulls = null_int_keys(spec.config or {}, declared)
    hint = (
        f"; {', '.join(nulls)} {'is' if len(nulls) == 1 else 'are'} null where an integer is expected" if nulls else ""
    )
    return ConfigError(f"{_where(spec)}: cannot build {spec.class_name} from its config ({message}){hint}")


def unused_keys_error(spec: ComponentSpec, unused: Sequence[str]) -> ConfigError:
    """The error a strict build (``check``, the audits) raises for config keys the class does not take."""
    keys = ", ".join(repr(k) for k in unused)
    return ConfigError(
        f"{_where(spec)}: {spec.class_name} does not take config key{'s' if len(unused) > 1 else ''} {keys}; "
        "it ignores them and counts its defaults instead (a misspelling?): fix or remove them"
    )


def _build(
    spec: ComponentSpec,
    *,
    device: str | torch.device,
    trusted: Collection[str],
    strict: bool,
    dtype: torch.dtype | None = None,
) -> tuple[torch.nn.Module | None, tuple[str, ...]]:
    if spec.library is None or spec.class_name is None:
        return None, ()
    if (spec.library, spec.class_name) == ("sentence_transformers", "Dense"):
        return _sentence_transformers_dense(spec, device), ()
    where = f"{_where(spec)}: component {spec.name!r}"
    cls = resolve_class(spec.library, spec.class_name, where=where, trusted_libraries=trusted)
    if not is_module_class(cls):
        _check_non_module(spec, cls)
        return None, ()
    if cls in _loadable_bases()[0]:
        raise ConfigError(f"{_where(spec)}: {spec.class_name} is a base class, not a model; name the model class")
    if spec.config is None:
        raise ConfigError(f"{_where(spec)}: {spec.class_name} is a model but its folder has no config.json")
    config = dict(spec.config)
    declared: type = cls
    try:
        with quiet(), torch.device(device), default_dtype(dtype):
            if hasattr(cls, "from_config") and hasattr(cls, "config_name"):  # diffusers ModelMixin
                check_values(config, cls, _where(spec))
                unused = unused_diffusers_keys(cls, config)
                _check_class_matches(spec, cls, config, unused)
                if strict and unused:
                    raise unused_keys_error(spec, unused)
                module = cls.from_config(config)
            else:
                built_config = _transformers_config(spec, config)
                declared = type(built_config)
                unused = unused_transformers_keys(built_config, config)
                if strict and unused:
                    raise unused_keys_error(spec, unused)
                module = cls(built_config)
    except ConfigError:
        raise
    except Exception as e:  # the libraries raise anything from TypeError to ValueError on a bad config
        raise _build_failure(spec, declared, device, e) from e
    if not isinstance(module, torch.nn.Module):
        raise ConfigError(f"{_where(spec)}: {spec.class_name} built something that is not a module")
    if not any(True for _ in module.parameters()) and not any(True for _ in module.buffers()):
        raise ConfigError(
            f"{_where(spec)}: {spec.class_name} built from its config has no parameters at all; "
            "is it a base class? name the model class"
        )
    module.eval()
    if dtype is not None and any(p.is_floating_point() and p.dtype != dtype for p in module.parameters()):
        module.to(dtype=dtype)  # transformers builds at a config's own torch_dtype (SDXL's CLIP: float16)
    return module, unused


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


def _check_class_matches(spec: ComponentSpec, cls: type, config: Mapping[str, Any], unused: Sequence[str]) -> None:
    """A config written for another class (its ``_class_name``) that leaves keys unused is not this class's."""
    own = config.get("_class_name")
    if isinstance(own, str) and own != cls.__name__ and unused:
        keys = ", ".join(repr(k) for k in unused)
        raise ConfigError(
            f"{_where(spec)}: is a {own!r} config but the pipeline builds {cls.__name__} from it, which does not "
            f"take {keys}; fix the class in model_index.json"
        )


def build_component(
    spec: ComponentSpec,
    *,
    device: str | torch.device = "meta",
    trusted_libraries: Collection[str] = (),
    strict: bool = False,
    dtype: torch.dtype | None = None,
) -> torch.nn.Module | None:
    """The component's module built from its config on ``device``; ``None`` for a scheduler, tokenizer or processor.

    Built the way ``from_pretrained`` builds it before loading: the same config class, the same defaults,
    weights tied by the model's own ``post_init``. Only diffusers and transformers classes (and diffusers pipeline
    modules) are imported and built; ``trusted_libraries`` names other libraries the caller trusts (``"mypkg"``
    also trusts ``"mypkg.models"``). Values no model can have are a ``ConfigError`` naming the key; with ``strict``,
    so are config keys the class does not take (``build_model`` reports them instead).
    """
    module, _ = _build(spec, device=device, trusted=check_trusted(trusted_libraries), strict=strict, dtype=dtype)
    return module


def build_component_noting_unused(
    spec: ComponentSpec, *, device: str | torch.device = "meta", trusted_libraries: Collection[str] = ()
) -> tuple[torch.nn.Module | None, tuple[str, ...]]:
    """``build_component``, and the config keys the class does not take (the class ignores them)."""
    return _build(spec, device=device, trusted=check_trusted(trusted_libraries), strict=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class BuiltModel:
    """A source with each component's module (``None`` for schedulers, tokenizers and other non-modules) and the
    config keys each class does not take (``unused``: only components that have some)."""

    source: ModelSource
    modules: Mapping[str, torch.nn.Module | None] = field(compare=False)
    device: str
    unused: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def module(self, name: str) -> torch.nn.Module | None:
        if name not in self.modules:
            self.source.component(name)  # raises with the list of components
        return self.modules[name]


def build_model(
    source: ModelSource,
    *,
    components: Sequence[str] | None = None,
    progress: Progress | None = None,
    trusted_libraries: Collection[str] = (),
    strict: bool = False,
    dtype: torch.dtype | None = None,
) -> BuiltModel:
    """Build every component (or those named) on the meta device.

    ``trusted_libraries``: libraries besides diffusers and transformers whose classes a model_index.json may name
    (``("mypkg",)``), like ``trust_remote_code``: their modules are imported and their classes built. ``strict``:
    config keys a class does not take are a ``ConfigError`` (for ``check`` and the audits) instead of
    ``BuiltModel.unused``.
    """
    trusted = check_trusted(trusted_libraries)
    specs = source.components
    if components is not None:
        specs = tuple(source.component(name) for name in components)
    modules: dict[str, torch.nn.Module | None] = {}
    unused: dict[str, tuple[str, ...]] = {}
    for spec in specs:
        if progress is not None:
            progress(spec.name)
        modules[spec.name], keys = _build(spec, device="meta", trusted=trusted, strict=strict, dtype=dtype)
        if keys:
            unused[spec.name] = keys
    return BuiltModel(
        source=replace(source, components=specs),
        modules=MappingProxyType(modules),
        device="meta",
        unused=MappingProxyType(unused),
    )
