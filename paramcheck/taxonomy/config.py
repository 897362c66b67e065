"""``[tool.paramcheck]`` in pyproject.toml: user categories and rules, put before the built-in ones, and the
libraries the user trusts besides diffusers and transformers.

```toml
[tool.paramcheck]
trusted_libraries = ["mypkg"]          # model_index.json may name mypkg classes: imported and built

[tool.paramcheck.categories]
lora = { en = "LoRA adapter", zh = "LoRA层", seed = "linear" }

[[tool.paramcheck.rules]]
view = "role"
category = "feed_forward"
attr = "proj_mlp"
```

Every value is type-checked; a wrong one is a one-line ``ConfigError`` naming the pyproject.toml and the key. The
file is the one given (``--config``) or the nearest pyproject.toml from the working directory upwards
(``find_config``). A pyproject.toml without a ``[tool.paramcheck]`` table is never an error: the defaults apply. One
that cannot be read as TOML (not UTF-8, invalid, unreadable) is an error even when picked up implicitly, since it may
hold the user's rules and dropping them silently would change the numbers; fix it, or pass another file.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..fileio import json_depth, read_regular
from ..limits import MAX_JSON_DEPTH
from .rules import CATEGORIES, RULES, Category, Rule, Taxonomy, View, default_taxonomy

__all__ = ["find_config", "load_taxonomy", "read_table", "trusted_libraries"]

TABLE_KEYS = ("categories", "rules", "trusted_libraries", "models")  # models: paramcheck.project reads them
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
GLOB_KEYS = ("class", "attr", "path", "parameter", "within")
VIEW_NAMES = tuple(view.value for view in View)
FIX = "fix it, or pass another file with --config"


def _is_file(path: Path) -> bool:
    """Whether ``path`` is a regular file; absent, a folder, a FIFO or behind a folder we may not enter: no."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def find_config(start: Path | None = None) -> Path | None:
    """The nearest pyproject.toml from ``start`` (default: the working directory) upwards, if any."""
    try:
        folder = (start or Path.cwd()).resolve()
    except OSError:  # the working directory is gone
        return None
    for candidate in (folder, *folder.parents):
        path = candidate / "pyproject.toml"
        if _is_file(path):
            return path
    return None


def read_table(path: Path) -> Mapping[str, Any]:
    """The ``[tool.paramcheck]`` table of ``path`` (empty when it has none), checked to be tables all the way."""
    raw = read_regular(path, kind="pyproject.toml")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 (byte {raw[e.start]:#04x} at offset {e.start}); {FIX}") from e
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e}); {FIX}") from e
    except RecursionError as e:
        raise ConfigError(f"{path}: nested too deeply to parse; {FIX}") from e
    depth = json_depth(data)
    if depth > MAX_JSON_DEPTH.value():
        raise ConfigError(f"{path}: {MAX_JSON_DEPTH.exceeded(f'nesting {depth} levels deep')}")
    tool = data.get("tool", {})
    if not isinstance(tool, Mapping):
        raise ConfigError(f"{path}: tool is a {type(tool).__name__}, not a table; write [tool.paramcheck]")
    table = tool.get("paramcheck", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{path}: [tool.paramcheck] is a {type(table).__name__}, not a table; write it as a table")
    unknown = sorted(set(table) - set(TABLE_KEYS))
    if unknown:
        raise ConfigError(f"{path}: [tool.paramcheck] has unknown key {unknown[0]!r}; use {', '.join(TABLE_KEYS)}")
    return table


def trusted_libraries(path: Path | None) -> tuple[str, ...]:
    """``trusted_libraries`` of ``[tool.paramcheck]``: module names whose classes a model may name (imported and
    built like diffusers' and transformers'); ``()`` without a file or the key."""
    if path is None:
        return ()
    names = read_table(path).get("trusted_libraries", [])
    where = f"{path}: [tool.paramcheck] trusted_libraries"
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f'{where} must be a list of module names; write trusted_libraries = ["mypkg"]')
    for name in names:
        if not name or not all(part.isascii() and part.isidentifier() for part in name.split(".")):
            raise ConfigError(f"{where}: {name!r} is not a module name; write e.g. 'mypkg' or 'mypkg.models'")
    return tuple(names)


def load_taxonomy(path: Path | None) -> Taxonomy:
    """The default taxonomy with the categories and rules of ``[tool.paramcheck]`` in ``path`` put first."""
    if path is None:
        return default_taxonomy()
    table = read_table(path)
    categories = _config_categories(path, table.get("categories", {}))
    taxonomy = Taxonomy(categories=(*categories, *CATEGORIES), source=str(path))
    raw_rules = table.get("rules", [])
    if not isinstance(raw_rules, list):
        raise ConfigError(
            f"{path}: [tool.paramcheck] rules is a {type(raw_rules).__name__}, not a list of tables; "
            "write each rule as [[tool.paramcheck.rules]]"
        )
    rules = tuple(_config_rule(path, i, raw, taxonomy) for i, raw in enumerate(raw_rules))
    return Taxonomy(categories=taxonomy.categories, rules=(*rules, *RULES), source=str(path) if rules else None)


def _config_categories(path: Path, raw: Any) -> tuple[Category, ...]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: [tool.paramcheck.categories] is not a table; write id = {{ en = ..., zh = ... }}")
    known = {c.id for c in CATEGORIES}
    out = []
    for id, spec in raw.items():
        where = f"{path}: category {id!r}"
        if not isinstance(spec, Mapping) or not isinstance(spec.get("en"), str):
            raise ConfigError(f'{where} needs at least en = "..."; add it')
        unknown = sorted(set(spec) - {"en", "zh", "seed"})
        if unknown:
            raise ConfigError(f"{where} has unknown key {unknown[0]!r}; use en, zh and seed")
        zh = spec.get("zh", spec["en"])
        if not isinstance(zh, str):
            raise ConfigError(f'{where}: zh must be a string; write zh = "..."')
        seed = spec.get("seed", "other")
        if not isinstance(seed, str) or seed not in known:
            raise ConfigError(f"{where} has unknown seed {seed!r}; use one of {', '.join(sorted(known))}")
        out.append(Category(id=id, en=spec["en"], zh=zh, seed=seed))
    return tuple(out)


def _config_rule(path: Path, index: int, raw: Any, taxonomy: Taxonomy) -> Rule:
    where = f"{path}: [[tool.paramcheck.rules]] #{index + 1}"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} is not a table; write view = ..., category = ..., and a match key")
    unknown = sorted(set(raw) - set(RULE_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; use {', '.join(RULE_KEYS)}")
    view = raw.get("view")
    if not isinstance(view, str) or view not in VIEW_NAMES:
        raise ConfigError(f"{where}: view {view!r} is not one of {', '.join(VIEW_NAMES)}; set view")
    category = raw.get("category")
    if not isinstance(category, str):
        raise ConfigError(f'{where}: category must be a string; write category = "attention"')
    try:
        taxonomy.category(category)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    for key in (*GLOB_KEYS, "library"):
        if key in raw and not isinstance(raw[key], str):
            raise ConfigError(f'{where}: {key} must be a string (a glob); write {key} = "..."')
    if not any(key in raw for key in ("class", "attr", "path", "parameter", "children")):
        raise ConfigError(f"{where}: matches everything; add class, attr, path, parameter or children")
    children = raw.get("children", [])
    if not isinstance(children, list) or not all(isinstance(c, str) for c in children):
        raise ConfigError(f'{where}: children must be a list of class globs; write children = ["SiLU", "Linear"]')
    leaf = raw.get("leaf", False)
    if not isinstance(leaf, bool):
        raise ConfigError(f"{where}: leaf must be true or false; write leaf = true")
    return Rule(
        view=View(view),
        category=category,
        cls=raw.get("class"),
        attr=raw.get("attr"),
        path=raw.get("path"),
        parameter=raw.get("parameter"),
        library=raw.get("library"),
        within=raw.get("within"),
        children=tuple(children),
        leaf=leaf,
        note=f"from {path}",
    )
