"""``[tool.paramcheck]`` in pyproject.toml: user categories and rules, put before the built-in ones."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .rules import CATEGORIES, RULES, Category, Rule, Taxonomy, View, default_taxonomy

__all__ = ["find_config", "load_taxonomy"]


RULE_KEYS = (
    "view",
    "category",
    "class",
    "attr",
    "path",
    "parameter",
    "library",
    "within",
    "children",
    "leaf",
)


VIEW_NAMES = tuple(view.value for view in View)


def find_config(start: Path | None = None) -> Path | None:
    """The nearest pyproject.toml from ``start`` (default: the working directory) upwards, if any."""
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        path = candidate / "pyproject.toml"
        if path.is_file():
            return path
    return None


def load_taxonomy(path: Path | None) -> Taxonomy:
    """The default taxonomy with the categories and rules of ``[tool.paramcheck]`` in ``path`` put first.

    ```toml
    [tool.paramcheck.categories]
    lora = { en = "LoRA adapter", zh = "LoRA层", seed = "linear" }

    [[tool.paramcheck.rules]]
    view = "role"
    category = "feed_forward"
    attr = "proj_mlp"
    ```
    """
    if path is None:
        return default_taxonomy()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror}); pass an existing pyproject.toml") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e}); fix the file") from e
    table = data.get("tool", {}).get("paramcheck", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{path}: [tool.paramcheck] is not a table; write it as a TOML table")
    categories = _config_categories(path, table.get("categories", {}))
    taxonomy = Taxonomy(categories=(*categories, *CATEGORIES), source=str(path))
    rules = tuple(_config_rule(path, i, raw, taxonomy) for i, raw in enumerate(table.get("rules", ())))
    return Taxonomy(categories=taxonomy.categories, rules=(*rules, *RULES), source=str(path) if rules else None)


def _config_categories(path: Path, raw: Any) -> tuple[Category, ...]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: [tool.paramcheck.categories] is not a table; write id = {{ en = ..., zh = ... }}")
    known = {c.id for c in CATEGORIES}
    out = []
    for id, spec in raw.items():
        if not isinstance(spec, Mapping) or not isinstance(spec.get("en"), str):
            raise ConfigError(f'{path}: category {id!r} needs at least en = "..."; add it')
        seed = spec.get("seed", "other")
        if seed not in known:
            raise ConfigError(f"{path}: category {id!r} has unknown seed {seed!r}; use one of {', '.join(known)}")
        out.append(Category(id=id, en=spec["en"], zh=str(spec.get("zh", spec["en"])), seed=seed))
    return tuple(out)


def _config_rule(path: Path, index: int, raw: Any, taxonomy: Taxonomy) -> Rule:
    where = f"{path}: [[tool.paramcheck.rules]] #{index + 1}"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} is not a table; write view = ..., category = ..., and a match key")
    unknown = sorted(set(raw) - set(RULE_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; use {', '.join(RULE_KEYS)}")
    view = raw.get("view")
    if view not in VIEW_NAMES:
        raise ConfigError(f"{where}: view {view!r} is not one of {', '.join(VIEW_NAMES)}; set view")
    try:
        taxonomy.category(str(raw.get("category")))
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    if not any(key in raw for key in ("class", "attr", "path", "parameter", "children")):
        raise ConfigError(f"{where}: matches everything; add class, attr, path, parameter or children")
    children = raw.get("children", ())
    if isinstance(children, str) or not all(isinstance(c, str) for c in children):
        raise ConfigError(f'{where}: children must be a list of class globs; write children = ["SiLU", "Linear"]')
    return Rule(
        view=View(view),
        category=str(raw["category"]),
        cls=raw.get("class"),
        attr=raw.get("attr"),
        path=raw.get("path"),
        parameter=raw.get("parameter"),
        library=raw.get("library"),
        within=raw.get("within"),
        children=tuple(children),
        leaf=bool(raw.get("leaf", False)),
        note=f"from {path}",
    )
