"""The syrupy extension behind the audits: one readable, sorted JSON file per model, and diffs a reviewer reads at once.

Files live at ``<rootdir>/<paramcheck_snapshot_dir>/<audit module>/<model id>.json`` (default dir ``snapshots``); each
holds one entry per audit and component, keyed by the test's name. Keeping the audit module's name as the folder is
what lets syrupy 7 relate a file to its tests, so its unused-snapshot report keeps working.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import types
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syrupy.data import Snapshot, SnapshotCollection
from syrupy.exceptions import TaintedSnapshotError
from syrupy.extensions.base import AbstractSyrupyExtension
from syrupy.utils import exclusive_file_lock, snapshot_file_lock_enabled

from .audit_session import CASE_FIXTURE, SNAPSHOT_DIR_INI
from .fileio import write_atomic
from .results import ComponentCounts, ModelReport

if TYPE_CHECKING:
    from syrupy.location import PyTestLocation
    from syrupy.types import PropertyFilter, PropertyMatcher, SerializableData, SnapshotIndex

__all__ = [
    "CASE_FIXTURE",
    "PARTS",
    "SNAPSHOT_DIR_INI",
    "ParamcheckSnapshotExtension",
    "SnapshotFileError",
    "diff_entries",
    "flatten",
    "report_entry",
    "snapshot_entry",
    "snapshot_file_problem",
]

TIE_AND_BUFFER_KEYS = ("persistent_buffers", "non_persistent_buffers", "tied_parameters", "tied")
ABSENT = "(absent)"


def _views(views: list[Mapping[str, Any]]) -> dict[str, Any]:
    """``[{"view": v, "rows": [{"category": c, "parameters": p, "layers": n}]}]`` -> ``{v: {c: {...}}}``."""
    return {
        view["view"]: {row["category"]: {k: v for k, v in row.items() if k != "category"} for row in view["rows"]}
        for view in views
    }


def _tied(groups: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Tied groups keyed by the name that is counted (the first)."""
    return {group["names"][0]: {"names": list(group["names"]), "parameters": group["parameters"]} for group in groups}


def _counts(data: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the other two parts leave: a field added to ``ComponentCounts`` lands here without a change."""
    return {key: value for key, value in data.items() if key != "views" and key not in TIE_AND_BUFFER_KEYS}


def _layer_types(data: Mapping[str, Any]) -> dict[str, Any]:
    return {"views": _views(data.get("views", []))}


def _ties_and_buffers(data: Mapping[str, Any]) -> dict[str, Any]:
    ties = {key: data[key] for key in TIE_AND_BUFFER_KEYS if key in data}
    return {**ties, "tied": _tied(ties.get("tied", []))}


# The three snapshot audits, each a part of ``ComponentCounts.to_dict()`` less the name and the per-layer listing.
PARTS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "counts": _counts,
    "layer_types": _layer_types,
    "ties_and_buffers": _ties_and_buffers,
}


def snapshot_entry(counts: ComponentCounts, part: str) -> dict[str, Any]:
    """One snapshot entry, ``{component: {...}}``: the ``part`` of ``counts`` that one audit checks (see ``PARTS``)."""
    if part not in PARTS:
        raise ValueError(f"snapshot part {part!r}: unknown; use one of {', '.join(PARTS)}")
    data = counts.to_dict()
    data.pop("layers", None)
    return {data.pop("name"): PARTS[part](data)}


def report_entry(report: ModelReport) -> dict[str, Any]:
    """A whole model as one snapshot value, ``{component: {...every part...}}``: what ``paramcheck_report`` gives."""
    entry: dict[str, Any] = {}
    for counts in report.components:
        merged: dict[str, Any] = {}
        for part in PARTS:
            merged.update(snapshot_entry(counts, part)[counts.name])
        entry[counts.name] = merged
    return entry


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings -> ``{"a.b.c": leaf}``; a list of plain values stays one leaf, other lists index their items."""
    if isinstance(data, Mapping):
        flat: dict[str, Any] = {}
        for key, value in data.items():
            flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(data, list) and any(isinstance(item, (Mapping, list)) for item in data):
        flat = {}
        for index, value in enumerate(data):
            flat.update(flatten(value, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    return {prefix: data}


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _percent(old: int, new: int) -> str:
    if old == 0:
        return "new"
    share = (new - old) / old * 100
    text = f"{share:+.4f}%"
    if text in {"+0.0000%", "-0.0000%"}:
        return f"{text[0]}<0.0001%"
    return text


def _shown_path(path: str) -> str:
    """A view's row ``views.role.attention.parameters`` reads as ``views.role.attention``."""
    if ".views." in f".{path}" and path.endswith(".parameters"):
        return path.removesuffix(".parameters")
    return path


def _format_change(path: str, old: Any, new: Any) -> str:
    where = _shown_path(path)
    if _is_count(old) and _is_count(new):
        return f"{where}: {old:,} -> {new:,} ({new - old:+,}, {_percent(old, new)})"
    old_text = ABSENT if old is _MISSING else (f"{old:,}" if _is_count(old) else repr(old))
    new_text = ABSENT if new is _MISSING else (f"{new:,}" if _is_count(new) else repr(new))
    return f"{where}: {old_text} -> {new_text}"


_MISSING: Any = object()


def diff_entries(old: Any, new: Any) -> list[str]:
    """One line per changed leaf, in path order: ``path: old -> new (+difference, +percent)``."""
    before, after = flatten(old), flatten(new)
    lines = []
    for path in sorted(before.keys() | after.keys()):
        old_value, new_value = before.get(path, _MISSING), after.get(path, _MISSING)
        if old_value != new_value:
            lines.append(_format_change(path, old_value, new_value))
    return lines


def _canonical(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)


class SnapshotFileError(ValueError):
    """A snapshot file that is not a JSON object of entries (a merge conflict, a truncated write): never rewritten."""


def snapshot_file_problem(path: Path) -> str | None:
    """What is wrong with the snapshot file at ``path`` (one line naming it), ``None`` when it is fine or absent."""
    try:
        _read_entries(path)
    except SnapshotFileError as e:
        return str(e)
    return None


def _read_entries(path: Path) -> dict[str, Any] | None:
    """The entries of one snapshot file; ``None`` when it is missing; ``SnapshotFileError`` (one line naming the file
    and line) when it cannot be read or is not a JSON object: an update must not start again from nothing."""
    fix = "resolve the conflict or restore the file (git checkout), then run again"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as e:
        raise SnapshotFileError(f"{path}: not a valid snapshot file ({e.msg} at line {e.lineno}); {fix}") from e
    except UnicodeDecodeError as e:
        raise SnapshotFileError(f"{path}: not a valid snapshot file (not UTF-8 at byte {e.start}); {fix}") from e
    except (ValueError, RecursionError) as e:  # a 5000-digit integer, 100k-deep nesting
        raise SnapshotFileError(f"{path}: not a valid snapshot file ({type(e).__name__}); {fix}") from e
    except OSError as e:
        raise SnapshotFileError(f"{path}: cannot read the snapshot file ({e.strerror}); check its permissions") from e
    if not isinstance(data, dict):
        raise SnapshotFileError(
            f"{path}: not a valid snapshot file (a JSON {type(data).__name__}, not an object); {fix}"
        )
    return data


@functools.lru_cache(maxsize=64)
def _entries_of_version(location: str, session_id: str, version: tuple[int, int, int]) -> Mapping[str, Any] | None:
    try:
        entries = _read_entries(Path(location))
    except SnapshotFileError:
        return None
    return types.MappingProxyType(entries) if entries is not None else None


def _session_entries(path: Path, session_id: str) -> Mapping[str, Any] | None:
    """``_read_entries`` once per session and version of the file, however many audits assert against it (syrupy's
    Amber caches its reads the same way). A rewrite (atomic: a new inode) is a new version. Raises
    ``FileNotFoundError``."""
    stat = path.stat()
    return _entries_of_version(str(path), session_id, (stat.st_ino, stat.st_mtime_ns, stat.st_size))


def _write_atomically(path: Path, entries: Mapping[str, Any]) -> None:
    write_atomic(path, _canonical(dict(entries)) + "\n")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold the snapshot folder's lock while a file is read, merged and replaced, so that two pytest sessions (two
    ``-k`` updates at once) merge rather than clobber: an advisory ``flock`` on the folder itself (no lock file left
    behind), and syrupy's cross-process lock too when it is on (pytest-xdist)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        try:
            import fcntl
        except ImportError:  # Windows: syrupy's lock file
            stack.enter_context(exclusive_file_lock(path))
        else:
            folder = os.open(path.parent, os.O_RDONLY)
            stack.callback(os.close, folder)
            fcntl.flock(folder, fcntl.LOCK_EX)
            if snapshot_file_lock_enabled():
                stack.enter_context(exclusive_file_lock(path))
        yield


def _model_of(test_location: PyTestLocation) -> str:
    """The file an audit writes to: its case's model; a hand-written test (no case) writes to a file named after the
    test function. For the items pytest-xdist's controller rebuilds from worker reports (no callspec) the model is
    the id ``<model>-<component>`` split at its last ``-`` (component names have none)."""
    item = test_location.item
    callspec = getattr(item, "callspec", None)
    name = str(getattr(item, "name", ""))
    if callspec is not None:
        model = getattr(callspec.params.get(CASE_FIXTURE), "model", None)
        return model if isinstance(model, str) else str(getattr(item, "originalname", name))
    case_id = name[name.find("[") + 1 : -1] if name.endswith("]") and "[" in name else ""
    return case_id.rpartition("-")[0] or name.partition("[")[0]


class ParamcheckSnapshotExtension(AbstractSyrupyExtension):  # type: ignore[misc]  # syrupy is follow_imports=skip
    """One JSON file per model; entries sorted, values canonical JSON; diffs as counts that changed."""

    file_extension = "json"

    # where files go: <rootdir>/<ini paramcheck_snapshot_dir>/<audit module>/<model id>.json

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        config = test_location.item.config
        return str(Path(config.rootpath) / str(config.getini(SNAPSHOT_DIR_INI)) / test_location.basename)

    @classmethod
    def get_file_basename(cls, *, test_location: PyTestLocation, index: SnapshotIndex) -> str:
        return _model_of(test_location)

    @classmethod
    def matches_test_location(cls, *, test_location: PyTestLocation, snapshot_location: str) -> bool:
        path = Path(snapshot_location)
        return path.parent.name == test_location.basename and path.stem == _model_of(test_location)

    # serialization and storage

    def serialize(
        self,
        data: SerializableData,
        *,
        exclude: PropertyFilter | None = None,
        include: PropertyFilter | None = None,
        matcher: PropertyMatcher | None = None,
    ) -> str:
        return _canonical(data)

    def read_snapshot_collection(self, *, snapshot_location: str) -> SnapshotCollection:
        collection = SnapshotCollection(location=snapshot_location)
        try:
            entries = _read_entries(Path(snapshot_location)) or {}
        except SnapshotFileError:  # refused before the audits ran (pytest_collection_modifyitems); nothing to list
            entries = {}
        for name, value in entries.items():
            collection.add(Snapshot(name=name, data=_canonical(value)))
        return collection

    def read_snapshot_data_from_location(
        self, *, snapshot_location: str, snapshot_name: str, session_id: str
    ) -> str | None:
        try:
            entries = _session_entries(Path(snapshot_location), session_id)
        except FileNotFoundError:
            return None
        if entries is None:
            raise TaintedSnapshotError(snapshot_data=None)
        return _canonical(entries[snapshot_name]) if snapshot_name in entries else None

    @classmethod
    def write_snapshot_collection(
        cls, *, snapshot_collection: SnapshotCollection, name_order: dict[str, int] | None = None
    ) -> None:
        path = Path(snapshot_collection.location)
        with _locked(path):
            entries = _read_entries(path) or {}  # a file that cannot be read raises: never rewritten from nothing
            for snapshot in snapshot_collection:
                entries[snapshot.name] = json.loads(str(snapshot.data))
            _write_atomically(path, entries)

    def delete_snapshots(self, *, snapshot_location: str, snapshot_names: set[str]) -> None:
        path = Path(snapshot_location)
        with _locked(path):
            entries = _read_entries(path) or {}
            for name in snapshot_names:
                entries.pop(name, None)
            if entries:
                _write_atomically(path, entries)
            else:
                path.unlink(missing_ok=True)

    # reporting

    def diff_lines(self, serialized_data: Any, snapshot_data: Any) -> Iterator[str]:
        received = json.loads(str(serialized_data))
        try:
            stored = json.loads(str(snapshot_data)) if snapshot_data else {}
        except json.JSONDecodeError:
            stored = {}
        yield from diff_entries(stored, received)
