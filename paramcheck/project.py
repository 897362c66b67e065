"""A project's gate: the models it audits, declared in pyproject.toml's ``[tool.paramcheck.models]`` table.

```toml
[tool.paramcheck.models]
my-flux = "models/my-flux"        # a folder, relative to pyproject.toml
base = "flux.1-dev"               # a bundled id (paramcheck list)
tuned = "hub:ORG/NAME@0123abcd"   # a hub repository at a revision
```

The pytest plugin audits exactly these models (and those of ``--paramcheck-model``); a project without the table is
left alone. ``paramcheck init`` writes the table. Reading needs only ``tomllib``; nothing here imports torch.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path

from .errors import ConfigError

__all__ = ["MODELS_TABLE", "PYPROJECT", "declared_models", "location_of", "read_tool_table"]

PYPROJECT = "pyproject.toml"
MODELS_TABLE = "[tool.paramcheck.models]"


def read_tool_table(path: Path) -> Mapping[str, object]:
    """``[tool.paramcheck]`` of ``path`` (empty when the file or the table is absent)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror}); check its permissions") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e}); fix the file") from e
    tool = data.get("tool", {})
    table = tool.get("paramcheck", {}) if isinstance(tool, Mapping) else {}
    if not isinstance(table, Mapping):
        raise ConfigError(f"{path}: [tool.paramcheck] is not a table; write it as a TOML table")
    return table


def location_of(value: str, root: Path) -> str:
    """What ``resolve`` reads for a table value: ``hub:...`` and bundled ids as written, a path made absolute against
    the folder of pyproject.toml (so the gate does not depend on where pytest is started)."""
    from .sources.bundled import bundled_ids

    if value.startswith("hub:") or value in bundled_ids():
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else root / path)


def declared_models(path: Path) -> dict[str, str]:
    """``{id: location}`` of ``[tool.paramcheck.models]`` in ``path``, in the table's order; ``{}`` without one."""
    raw = read_tool_table(path).get("models", {})
    if not isinstance(raw, Mapping):
        raise ConfigError(f'{path}: {MODELS_TABLE} is not a table; write one line per model, e.g. my-flux = "models/x"')
    models: dict[str, str] = {}
    for model, value in raw.items():
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(
                f"{path}: {MODELS_TABLE} {model} = {value!r}: not a source; "
                'give a folder, a bundled id or "hub:ORG/NAME@REV" as a string'
            )
        if not model.strip() or model.endswith("-"):
            raise ConfigError(f"{path}: {MODELS_TABLE} id {model!r} is empty or ends in '-'; rename it")
        models[str(model)] = location_of(value.strip(), path.parent)
    return models
