"""A content-addressed cache of results: a count is a pure function of its inputs, so it is computed once.

A result is stored under the hash of everything it depends on: the component's config, library and class (or, for
FLOPs, every component's and the workload), the installed versions of torch, diffusers, transformers and paramcheck
(read from package metadata, never by importing them), a digest of paramcheck's own code, and the layer-type rules.
Change any of them and the key changes: a library upgrade is a miss, never a stale number. The value is the result's
own JSON (``results.Result.to_dict``), read back with ``from_dict``.

Where: ``$PARAMCHECK_CACHE``, else ``$XDG_CACHE_HOME/paramcheck``, else ``~/.cache/paramcheck`` (huggingface_hub's
convention for ``~/.cache/huggingface``). Entries are written atomically (``fileio.write_atomic``); one that cannot be
read back (truncated, edited, another schema) is ignored and rebuilt; a cache that cannot be written is skipped.

``cached_report`` is ``count.audit`` through the cache: it builds (importing torch) only the components it misses.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .devices import META_NOTE
from .fileio import write_atomic
from .results import SCHEMA_VERSION, ComponentCounts, ModelReport, Result
from .sources import ComponentSpec, ModelSource
from .sources.spec import CORE_LIBRARIES
from .taxonomy.rules import CATEGORIES, RULES

if TYPE_CHECKING:
    from .build import BuiltModel
    from .taxonomy import Taxonomy

__all__ = [
    "CACHE_ENV",
    "KEY_LIBRARIES",
    "ResultCache",
    "cache_dir",
    "cached_report",
    "code_digest",
    "component_key",
    "key_versions",
    "model_key",
    "open_cache",
]

CACHE_ENV = "PARAMCHECK_CACHE"
KEY_LIBRARIES = ("torch", "diffusers", "transformers", "paramcheck")
FORMAT = 1  # of an entry file; bump when the envelope below changes

R = TypeVar("R", bound=Result)


def cache_dir() -> Path:
    """``$PARAMCHECK_CACHE``, else ``$XDG_CACHE_HOME/paramcheck``, else ``~/.cache/paramcheck``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "paramcheck"


@cache
def key_versions() -> tuple[tuple[str, str | None], ...]:
    """The installed versions of the libraries a count depends on, from package metadata (nothing is imported)."""
    versions: list[tuple[str, str | None]] = []
    for name in KEY_LIBRARIES:
        try:
            versions.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            versions.append((name, None))
    return tuple(versions)


@cache
def code_digest() -> str:
    """SHA-256 of paramcheck's own Python files: an edited checkout (same version number) misses too."""
    root = Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _hash(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _taxonomy_id(taxonomy: Taxonomy | None) -> str | None:
    """The rules themselves (their dataclass repr), not where they came from; ``None`` for the built-in ones."""
    if taxonomy is None or (taxonomy.categories, taxonomy.rules) == (CATEGORIES, RULES):
        return None
    return repr((taxonomy.categories, taxonomy.rules))


def _spec_id(spec: ComponentSpec) -> dict[str, Any]:
    return {"library": spec.library, "class": spec.class_name, "config": spec.config}


def _common() -> dict[str, Any]:
    return {"schema": SCHEMA_VERSION, "versions": key_versions(), "code": code_digest()}


def component_key(spec: ComponentSpec, *, layers: bool = False, taxonomy: Taxonomy | None = None) -> str:
    """The key of one component's counts: its name (the counts carry it: a pipeline's two ``[null, null]`` slots must
    not share an entry), class and config, the libraries, the code, the rules, ``layers``."""
    counts = {"kind": "counts", "name": spec.name, **_spec_id(spec), "layers": layers, "rules": _taxonomy_id(taxonomy)}
    return _hash({**_common(), **counts})


def model_key(kind: str, source: ModelSource, extra: Mapping[str, Any]) -> str:
    """The key of a whole-model result (``kind``: e.g. ``flops``): every component's class and config, the model's
    name and pipeline (they pick its defaults), ``extra`` (e.g. the workload), the libraries and the code."""
    components = [{"name": s.name, **_spec_id(s)} for s in source.components]
    model = {"model": source.model, "pipeline": source.pipeline_class, "components": components}
    return _hash({"kind": kind, **_common(), **model, "extra": extra})


@dataclass(frozen=True, slots=True)
class ResultCache:
    """Results as JSON files under ``root``: ``<kind>/<key[:2]>/<key>.json``."""

    root: Path

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key[:2] / f"{key}.json"

    def get(self, kind: str, key: str, cls: type[R]) -> R | None:
        """The stored result, or ``None`` when absent or unreadable (a corrupt entry is rebuilt, never trusted)."""
        try:
            data = json.loads(self.path(kind, key).read_text(encoding="utf-8"))
            if data.get("format") != FORMAT or data.get("key") != key:
                return None
            return cls.from_dict(data["result"])
        except Exception:  # missing, truncated, edited by hand, written by another version: all a miss
            return None

    def put(self, kind: str, key: str, result: Result) -> None:
        """Store ``result``; a cache that cannot be written (read-only, full disk) is skipped silently."""
        entry = {"format": FORMAT, "key": key, "result": result.to_dict()}
        with contextlib.suppress(OSError):
            write_atomic(self.path(kind, key), json.dumps(entry, ensure_ascii=False, separators=(",", ":")))


def open_cache(enabled: bool = True) -> ResultCache | None:
    """The user's cache (see ``cache_dir``), or ``None`` when ``enabled`` is false (``--no-cache``)."""
    return ResultCache(cache_dir()) if enabled else None


def _report(source: ModelSource, counted: Iterable[ComponentCounts]) -> ModelReport:
    """A report of counted components, as ``count.count_model`` writes it for a meta build."""
    components = tuple(counted)
    return ModelReport(
        model=source.model,
        source=source.info,
        device="meta",
        components=components,
        notes=(META_NOTE, *source.notes, *(c.unused_keys_note for c in components if c.unused_keys_note)),
    )


def cached_report(
    source: ModelSource,
    *,
    cache: ResultCache | None,
    components: Sequence[str] | None = None,
    layers: bool = False,
    taxonomy: Taxonomy | None = None,
    built: BuiltModel | None = None,
    trusted_libraries: Collection[str] = (),
) -> ModelReport:
    """``count.audit(source)`` with each component's counts taken from ``cache`` when there; only the components it
    misses are built (torch is imported only then), and their counts are stored. ``built``: a meta build of the
    source to count misses from instead of building again. ``cache=None`` counts everything afresh.
    ``trusted_libraries``: as ``build.build_component`` takes them; a component of any other library than diffusers
    or transformers is never answered from the cache without them (its build refuses it by name)."""
    specs = source.components if components is None else tuple(source.component(name) for name in components)
    keys = {spec.name: component_key(spec, layers=layers, taxonomy=taxonomy) for spec in specs}
    found: dict[str, ComponentCounts] = {}
    if cache is not None:
        for spec in specs:
            if spec.library not in CORE_LIBRARIES and spec.library not in trusted_libraries:  # build refuses it
                continue
            hit = cache.get("counts", keys[spec.name], ComponentCounts)
            if hit is not None:
                found[spec.name] = hit
    missing = [spec for spec in specs if spec.name not in found]
    if missing:
        from .build import build_model
        from .count import count_component

        if built is None or any(spec.name not in built.modules for spec in missing):
            built = build_model(source, components=[spec.name for spec in missing], trusted_libraries=trusted_libraries)
        for spec in missing:
            module = built.modules[spec.name]
            unused = built.unused.get(spec.name, ())
            counts = count_component(spec, module, layers=layers, taxonomy=taxonomy, unused_config_keys=unused)
            found[spec.name] = counts
            if cache is not None:
                cache.put("counts", keys[spec.name], counts)
    return _report(source, (found[spec.name] for spec in specs))
