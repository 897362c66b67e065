"""paramcheck: exact parameter audits of diffusion and transformer models.

``import paramcheck`` stays light: torch, diffusers and transformers are imported when a model is built.

Example: ``resolve`` finds a model's components (a bundled id, a folder, or ``hub:ORG/NAME``) without building it;
``audit`` builds them on PyTorch's meta device and counts them (its docstring has an example).

    >>> import paramcheck
    >>> source = paramcheck.resolve("flux.1-dev")  # FLUX.1-dev's model_index.json, bundled with paramcheck
    >>> [c.name for c in source.components if c.config is not None]
    ['text_encoder', 'text_encoder_2', 'transformer', 'vae']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import CheckpointError, ConfigError, DeviceError, ParamcheckError, SourceError, UnknownModelError
from .results import (
    SCHEMA_VERSION,
    CategoryCount,
    ComponentCounts,
    LayerRecord,
    LayerView,
    ModelReport,
    SourceInfo,
    TiedGroup,
)

if TYPE_CHECKING:
    from .build import BuiltModel, build_model
    from .count import audit, count_model
    from .sources import ModelSource, resolve

__all__ = [
    "SCHEMA_VERSION",
    "BuiltModel",
    "CategoryCount",
    "CheckpointError",
    "ComponentCounts",
    "ConfigError",
    "DeviceError",
    "LayerRecord",
    "LayerView",
    "ModelReport",
    "ModelSource",
    "ParamcheckError",
    "SourceError",
    "SourceInfo",
    "TiedGroup",
    "UnknownModelError",
    "audit",
    "build_model",
    "count_model",
    "resolve",
]

_LAZY = {
    "BuiltModel": "build",
    "audit": "count",
    "build_model": "build",
    "count_model": "count",
    "ModelSource": "sources",
    "resolve": "sources",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
