"""The snapshot extension without a nested pytest run: entries, file text, file errors, file names, diff lines.

Expected values are written by hand: the exact text of a snapshot file, the exact one-line messages, the entries of
counts built by hand (never computed by paramcheck's own serialisers).
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from syrupy.data import Snapshot, SnapshotCollection

from paramcheck.results import (
    CategoryCount,
    ComponentCounts,
    LayerRecord,
    LayerView,
    ModelReport,
    SourceInfo,
    TiedGroup,
)
from paramcheck.snapshot import (
    PARTS,
    ParamcheckSnapshotExtension,
    diff_entries,
    flatten,
    report_entry,
    snapshot_entry,
    snapshot_file_problem,
)

FIX = "resolve the conflict or restore the file (git checkout), then run again"

# a text encoder counted by hand: 10 parameters, 3 + 2 buffer elements, one tie of a 4-element tensor, two views
TEXT_ENCODER = ComponentCounts(
    name="text_encoder",
    library="transformers",
    class_name="CLIPTextModel",
    parameters=10,
    persistent_buffers=3,
    non_persistent_buffers=2,
    tied=(TiedGroup(names=("embed.weight", "head.weight"), parameters=4),),
    views=(
        LayerView(
            view="leaf",
            rows=(
                CategoryCount(category="embedding", parameters=4, layers=1),
                CategoryCount(category="linear", parameters=6, layers=2),
            ),
        ),
        LayerView(view="role", rows=(CategoryCount(category="attention", parameters=10, layers=3),)),
    ),
    layers=(LayerRecord(name="embed", class_name="Embedding", parameters=4, category="embedding", depth=1),),
    unused_config_keys=("hiden_size",),
)
VAE = ComponentCounts(name="vae", library="diffusers", class_name="AutoencoderKL", parameters=7)

COUNTS = {
    "text_encoder": {
        "library": "transformers",
        "class_name": "CLIPTextModel",
        "parameters": 10,
        "stored": 13,
        "unused_config_keys": ["hiden_size"],
    }
}
LAYER_TYPES = {
    "text_encoder": {
        "views": {
            "leaf": {"embedding": {"parameters": 4, "layers": 1}, "linear": {"parameters": 6, "layers": 2}},
            "role": {"attention": {"parameters": 10, "layers": 3}},
        }
    }
}
TIES_AND_BUFFERS = {
    "text_encoder": {
        "persistent_buffers": 3,
        "non_persistent_buffers": 2,
        "tied_parameters": 4,
        "tied": {"embed.weight": {"names": ["embed.weight", "head.weight"], "parameters": 4}},
    }
}


@pytest.mark.parametrize(
    ("part", "expected"),
    [("counts", COUNTS), ("layer_types", LAYER_TYPES), ("ties_and_buffers", TIES_AND_BUFFERS)],
)
def test_snapshot_entry_parts(part: str, expected: dict[str, Any]) -> None:
    assert snapshot_entry(TEXT_ENCODER, part) == expected


def test_snapshot_entry_of_a_component_without_ties_or_views() -> None:
    assert snapshot_entry(VAE, "layer_types") == {"vae": {"views": {}}}
    assert snapshot_entry(VAE, "ties_and_buffers") == {
        "vae": {"persistent_buffers": 0, "non_persistent_buffers": 0, "tied_parameters": 0, "tied": {}}
    }


def test_snapshot_entry_unknown_part() -> None:
    message = "snapshot part 'weights': unknown; use one of counts, layer_types, ties_and_buffers"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        snapshot_entry(VAE, "weights")


def test_parts_of_a_mapping_without_views_or_ties() -> None:
    # PARTS is public: a counts mapping that lacks the lists (an older report's JSON) still gives every part's keys
    assert PARTS["layer_types"]({"parameters": 1}) == {"views": {}}
    assert PARTS["ties_and_buffers"]({"parameters": 1}) == {"tied": {}}
    assert PARTS["counts"]({"parameters": 1, "views": [], "tied": [], "tied_parameters": 0}) == {"parameters": 1}


def test_report_entry_merges_every_part_per_component() -> None:
    report = ModelReport(
        model="tiny",
        source=SourceInfo(kind="folder", location="/tiny"),
        device="meta",
        components=(TEXT_ENCODER, VAE),
    )
    assert report_entry(report) == {
        "text_encoder": {**COUNTS["text_encoder"], **LAYER_TYPES["text_encoder"], **TIES_AND_BUFFERS["text_encoder"]},
        "vae": {
            "library": "diffusers",
            "class_name": "AutoencoderKL",
            "parameters": 7,
            "stored": 7,
            "views": {},
            "persistent_buffers": 0,
            "non_persistent_buffers": 0,
            "tied_parameters": 0,
            "tied": {},
        },
    }


# the file on disk: sorted keys, two-space indent, UTF-8 as is, one trailing newline

WRITTEN = """{
  "test_counts[tiny-vae]": {
    "vae": {
      "class_name": "Autoencoder\u00e9",
      "parameters": 7
    }
  },
  "test_hand": {
    "vae": {
      "parameters": 1
    }
  }
}
"""


def _collection(path: Path, **entries: Any) -> SnapshotCollection:
    collection = SnapshotCollection(location=str(path))
    for name, value in entries.items():
        collection.add(Snapshot(name=name, data=ParamcheckSnapshotExtension().serialize(value)))
    return collection


def test_serialize_is_sorted_indented_json() -> None:
    text = ParamcheckSnapshotExtension().serialize({"vae": {"parameters": 7, "class_name": "é"}})
    assert text == '{\n  "vae": {\n    "class_name": "é",\n    "parameters": 7\n  }\n}'


def test_write_read_and_delete_snapshot_files(tmp_path: Path) -> None:
    path = tmp_path / "snapshots" / "test_snapshots" / "tiny.json"  # the folder does not exist yet
    vae = {"vae": {"parameters": 7, "class_name": "Autoencoderé"}}
    collection = _collection(path, **{"test_counts[tiny-vae]": vae})
    ParamcheckSnapshotExtension.write_snapshot_collection(snapshot_collection=collection)
    ParamcheckSnapshotExtension.write_snapshot_collection(
        snapshot_collection=_collection(path, test_hand={"vae": {"parameters": 1}})
    )
    assert path.read_text(encoding="utf-8") == WRITTEN

    extension = ParamcheckSnapshotExtension()
    listed = extension.read_snapshot_collection(snapshot_location=str(path))
    assert {s.name: s.data for s in listed} == {
        "test_counts[tiny-vae]": '{\n  "vae": {\n    "class_name": "Autoencoderé",\n    "parameters": 7\n  }\n}',
        "test_hand": '{\n  "vae": {\n    "parameters": 1\n  }\n}',
    }
    read = extension.read_snapshot_data_from_location(
        snapshot_location=str(path), snapshot_name="test_hand", session_id="write-read-delete"
    )
    assert read == '{\n  "vae": {\n    "parameters": 1\n  }\n}'
    not_recorded = extension.read_snapshot_data_from_location(
        snapshot_location=str(path), snapshot_name="test_new", session_id="write-read-delete"
    )
    assert not_recorded is None  # a new audit: no entry yet

    extension.delete_snapshots(snapshot_location=str(path), snapshot_names={"test_hand", "not_there"})
    assert path.read_text(encoding="utf-8") == WRITTEN.split(',\n  "test_hand"')[0] + "\n}\n"
    extension.delete_snapshots(snapshot_location=str(path), snapshot_names={"test_counts[tiny-vae]"})
    assert not path.exists()  # no entry left: no file left
    extension.delete_snapshots(snapshot_location=str(path), snapshot_names={"test_hand"})  # absent: nothing to do
    assert not path.exists()


def test_reading_a_missing_or_broken_file(tmp_path: Path) -> None:
    extension = ParamcheckSnapshotExtension()
    missing = tmp_path / "missing.json"
    assert len(list(extension.read_snapshot_collection(snapshot_location=str(missing)))) == 0
    assert (
        extension.read_snapshot_data_from_location(snapshot_location=str(missing), snapshot_name="a", session_id="s")
        is None
    )
    broken = tmp_path / "broken.json"
    broken.write_text("[1, 2]")
    assert len(list(extension.read_snapshot_collection(snapshot_location=str(broken)))) == 0


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (
            '{\n<<<<<<< HEAD\n  "a": 1\n=======\n  "a": 2\n>>>>>>> other\n}\n',
            f"not a valid snapshot file (Expecting property name enclosed in double quotes at line 2); {FIX}",
        ),
        (b'{"a": "\xff"}', f"not a valid snapshot file (not UTF-8 at byte 7); {FIX}"),
        ("1" * 5000, f"not a valid snapshot file (ValueError); {FIX}"),
        ("[" * 100_000, f"not a valid snapshot file (RecursionError); {FIX}"),
        ("[1, 2]", f"not a valid snapshot file (a JSON list, not an object); {FIX}"),
        ('"tiny"', f"not a valid snapshot file (a JSON str, not an object); {FIX}"),
        ("{}", None),
        (None, None),  # no file yet: nothing wrong
    ],
    ids=["conflict", "not-utf8", "5000-digits", "deep", "list", "str", "empty", "missing"],
)
def test_snapshot_file_problem(tmp_path: Path, content: str | bytes | None, problem: str | None) -> None:
    path = tmp_path / "tiny.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    assert snapshot_file_problem(path) == (f"{path}: {problem}" if problem else None)


def test_snapshot_file_problem_unreadable(tmp_path: Path) -> None:
    folder = tmp_path / "tiny.json"
    folder.mkdir()  # a folder where the file should be: reading it fails with an OSError
    assert snapshot_file_problem(folder) == (
        f"{folder}: cannot read the snapshot file (Is a directory); check its permissions"
    )


# which file an audit writes to

CASE = "paramcheck_case"


def _location(name: str, *, params: dict[str, Any] | None = None, originalname: str = "") -> Any:
    config = SimpleNamespace(rootpath=Path("/repo"), getini=lambda ini: {"paramcheck_snapshot_dir": "snaps"}[ini])
    item = SimpleNamespace(name=name, originalname=originalname or name.partition("[")[0], config=config)
    if params is not None:
        item.callspec = SimpleNamespace(params=params)
    return SimpleNamespace(item=item, basename="test_snapshots")


@pytest.mark.parametrize(
    ("location", "model"),
    [
        # an audit: its case's model, whatever the id says
        (
            _location("test_counts[flux.1-dev-transformer]", params={CASE: SimpleNamespace(model="flux.1-dev")}),
            "flux.1-dev",
        ),
        # a hand-written parametrized test (no case): the test function
        (_location("test_my_flux[a-b]", params={"device": "a-b"}), "test_my_flux"),
        (_location("test_my_flux[x]", params={CASE: SimpleNamespace(model=None)}), "test_my_flux"),
        # pytest-xdist's rebuilt items (no callspec): the id split at its last '-'
        (_location("test_counts[flux.1-dev-transformer]"), "flux.1-dev"),
        (_location("test_counts[tiny-vae]"), "tiny"),
        (_location("test_my_flux"), "test_my_flux"),
        (_location("test_my_flux[gpu]"), "test_my_flux"),
    ],
)
def test_file_basename(location: Any, model: str) -> None:
    assert ParamcheckSnapshotExtension.get_file_basename(test_location=location, index=0) == model


def test_dirname_and_matching_location() -> None:
    location = _location("test_counts[tiny-vae]")
    assert ParamcheckSnapshotExtension.dirname(test_location=location) == "/repo/snaps/test_snapshots"
    matches = ParamcheckSnapshotExtension.matches_test_location
    assert matches(test_location=location, snapshot_location="/repo/snaps/test_snapshots/tiny.json")
    assert not matches(test_location=location, snapshot_location="/repo/snaps/test_other/tiny.json")
    assert not matches(test_location=location, snapshot_location="/repo/snaps/test_snapshots/tiny2.json")


# the lines a failing audit shows


def test_flatten_paths() -> None:
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": [{"e": 2}, [[3]]]}) == {
        "a.b": 1,
        "a.c": [1, 2],  # plain values: one leaf
        "d.0.e": 2,
        "d.1.0": [3],
    }
    assert flatten([{"a": 1}, {"b": 2}]) == {"0.a": 1, "1.b": 2}
    assert flatten(5) == {"": 5}


def test_diff_lines_more_formats() -> None:
    assert diff_entries({"p": 10}, {"p": 11}) == ["p: 10 -> 11 (+1, +10.0000%)"]
    assert diff_entries({"p": 2000}, {"p": 1000}) == ["p: 2,000 -> 1,000 (-1,000, -50.0000%)"]
    assert diff_entries({}, {"t": {"parameters": 1234}}) == ["t.parameters: (absent) -> 1,234"]
    assert diff_entries({"t": {"class_name": "A"}}, {"t": {"class_name": 1234}}) == ["t.class_name: 'A' -> 1,234"]
    assert diff_entries({"t": {"class_name": None}}, {}) == ["t.class_name: None -> (absent)"]
    assert diff_entries({"t": {"tied": [{"names": ["a"]}]}}, {"t": {"tied": [{"names": ["a", "b"]}]}}) == [
        "t.tied.0.names: ['a'] -> ['a', 'b']"
    ]
    # a view's row reads without '.parameters'; other fields and paths keep it
    assert diff_entries(
        {"t": {"views": {"leaf": {"linear": {"parameters": 6, "layers": 2}}}, "parameters": 6}},
        {"t": {"views": {"leaf": {"linear": {"parameters": 8, "layers": 3}}}, "parameters": 8}},
    ) == [
        "t.parameters: 6 -> 8 (+2, +33.3333%)",
        "t.views.leaf.linear.layers: 2 -> 3 (+1, +50.0000%)",  # path order: layers before parameters
        "t.views.leaf.linear: 6 -> 8 (+2, +33.3333%)",
    ]
    assert diff_entries({"v": 1}, {"v": 1}) == []


def test_extension_diff_lines() -> None:
    extension = ParamcheckSnapshotExtension()
    received = extension.serialize({"vae": {"parameters": 8}})
    stored = extension.serialize({"vae": {"parameters": 7}})
    assert list(extension.diff_lines(received, stored)) == ["vae.parameters: 7 -> 8 (+1, +14.2857%)"]
    assert list(extension.diff_lines(received, None)) == ["vae.parameters: (absent) -> 8"]
    assert list(extension.diff_lines(received, "<<<<<<< HEAD")) == ["vae.parameters: (absent) -> 8"]
