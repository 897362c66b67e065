"""Hostile safetensors files and sharded indexes under ``paramcheck check`` (fuzz.md surface 3, findings 6, 7, 8, 9).

Headers are written by hand with struct + json (``tensors_file``, ``safetensors_bytes``), from a tiny VAE saved by
diffusers, or rewritten in place (``rewrite_header``); nothing binary is committed.
"""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.corpus import (
    Expect,
    assert_contract,
    cli,
    deep_json,
    error,
    fifo,
    huge_int,
    ok,
    rewrite_header,
    safetensors_bytes,
    tensors_file,
    watch,
    write_json,
)
from tests.tiny import TINY_FLUX_TRANSFORMER

WEIGHTS = "diffusion_pytorch_model.safetensors"
INDEX = "diffusion_pytorch_model.safetensors.index.json"


def _u64(data: bytes) -> str:
    """How the first 8 bytes of a file read as a safetensors header length (what must never be printed)."""
    (n,) = struct.unpack("<Q", data[:8].ljust(8, b"\0"))
    return f"{n:,}"


def _lone(header: dict[str, Any] | str | bytes, data: bytes = b"", **kw: Any) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / "x.safetensors"
        path.write_bytes(safetensors_bytes(header, data, **kw))
        return path

    return make


def _raw(content: bytes, name: str = "x.safetensors") -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        (folder / name).write_bytes(content)
        return folder / name

    return make


TWO = {
    "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
    "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]},
}


def _entry(**changes: Any) -> dict[str, Any]:
    return {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], **changes}}


@dataclass(frozen=True)
class FileCase:
    id: str
    make: Callable[[Path], Path]  # (case folder) -> the file to check
    expect: Expect


FILES = [
    # what held up in the fuzz (each a one-line error naming the file) stays held up
    FileCase("truncated-2-bytes", _raw(b"\x01\x02"), error("x.safetensors")),
    FileCase("empty-file", _raw(b""), error("x.safetensors")),
    FileCase("header-longer-than-file", _lone(TWO, b"\0" * 16, length=10_000), error("x.safetensors")),
    FileCase("header-length-2**63", _lone(TWO, b"\0" * 16, length=2**63), error("x.safetensors")),
    FileCase("header-length-2**64-1", _lone(TWO, b"\0" * 16, length=2**64 - 1), error("x.safetensors")),
    FileCase(
        "overlapping-offsets",
        _lone({**TWO, "b": {**TWO["b"], "data_offsets": [4, 12]}}, b"\0" * 12),
        error("x.safetensors"),
    ),
    FileCase(
        "hole-in-data", _lone({**TWO, "b": {**TWO["b"], "data_offsets": [12, 20]}}, b"\0" * 20), error("x.safetensors")
    ),
    FileCase("offsets-past-the-end", _lone(_entry(), b"\0" * 4), error("x.safetensors")),
    FileCase("offsets-reversed", _lone(_entry(data_offsets=[8, 0]), b"\0" * 8), error("x.safetensors")),
    FileCase("offsets-negative", _lone(_entry(data_offsets=[-8, 0]), b"\0" * 8), error("x.safetensors")),
    FileCase("offsets-float", _lone(_entry(data_offsets=[0.0, 8.0]), b"\0" * 8), error("x.safetensors")),
    FileCase("offsets-three", _lone(_entry(data_offsets=[0, 4, 8]), b"\0" * 8), error("x.safetensors")),
    FileCase("offsets-bool", _lone(_entry(data_offsets=[False, 8]), b"\0" * 8), error("x.safetensors")),
    FileCase("offsets-do-not-fit-shape", _lone(_entry(shape=[4]), b"\0" * 8), error("x.safetensors")),
    FileCase("dtype-unknown", _lone(_entry(dtype="WAT"), b"\0" * 8), error("x.safetensors")),
    FileCase("dtype-lowercase", _lone(_entry(dtype="f32"), b"\0" * 8), error("x.safetensors")),
    FileCase("dtype-int", _lone(_entry(dtype=5), b"\0" * 8), error("x.safetensors")),
    FileCase("shape-negative", _lone(_entry(shape=[-2]), b"\0" * 8), error("x.safetensors")),
    FileCase("shape-float", _lone(_entry(shape=[2.0]), b"\0" * 8), error("x.safetensors")),
    FileCase("shape-bool", _lone(_entry(shape=[True, 2]), b"\0" * 8), error("x.safetensors")),
    FileCase("shape-string", _lone(_entry(shape=["2"]), b"\0" * 8), error("x.safetensors")),
    FileCase("shape-1e30", _lone(_entry(shape=[1e30]), b"\0" * 8), error("x.safetensors")),
    FileCase(
        "shape-2**62-past-the-end",
        _lone(_entry(shape=[2**62], data_offsets=[0, 2**64]), b"\0" * 8),
        error("x.safetensors"),
    ),
    FileCase("entry-not-an-object", _lone({"a": [1, 2]}), error("x.safetensors")),
    FileCase(
        "duplicate-keys",
        _lone(
            '{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, '
            '"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}',
            b"\0" * 16,
        ),
        error("x.safetensors"),
    ),
    FileCase("header-not-utf8", _lone(b'{"a\xff": 1}'), error("x.safetensors")),
    FileCase("header-a-list", _lone("[]"), error("x.safetensors")),
    FileCase("header-null", _lone("null"), error("x.safetensors")),
    FileCase(
        "header-nan",
        _lone('{"a": {"dtype": "F32", "shape": [NaN], "data_offsets": [0, 8]}}', b"\0" * 8),
        error("x.safetensors"),
    ),
    FileCase("metadata-an-int", _lone({**TWO, "__metadata__": 5}, b"\0" * 16), error("x.safetensors")),
    FileCase("metadata-not-strings", _lone({**TWO, "__metadata__": {"a": 1}}, b"\0" * 16), error("x.safetensors")),
    FileCase("bytes-after-the-last-tensor", _lone(TWO, b"\0" * 20), error("x.safetensors")),
    # fuzz 9: tracebacks
    FileCase(
        "5000-digit-int-in-shape",
        _lone('{"a": {"dtype": "F32", "shape": [' + huge_int() + '], "data_offsets": [0, 8]}}', b"\0" * 8),
        error("x.safetensors"),
    ),
    FileCase("100k-deep-header", _lone(deep_json(key="a")), error("x.safetensors")),
    # fuzz 7: an error never prints a file's bytes (the header length is the first 8 bytes)
    FileCase(
        "text-file-with-a-secret",
        _raw(b"TOKEN=hf_secret_0123456789\n"),
        error("x.safetensors", avoid=(_u64(b"TOKEN=hf"),)),
    ),
    # fuzz 6: bounded work
    FileCase(
        "300k-zero-size-tensors",
        lambda f: _raw(tensors_file({f"t{i}": ("F32", [0]) for i in range(300_000)}), "x.safetensors")(f),
        Expect(codes=(0, 2), names=("x.safetensors",), quiet=False),
    ),
    FileCase(
        "50MB-metadata",
        lambda f: _raw(tensors_file({"a": ("F32", [2])}, {"pad": "x" * 50_000_000}))(f),
        Expect(codes=(0, 2), names=("x.safetensors",), quiet=False),
    ),
    FileCase("fifo", lambda f: fifo(f / "x.safetensors"), error("x.safetensors")),
    FileCase(
        "dev-zero-symlink",
        lambda f: ((f / "x.safetensors").symlink_to("/dev/zero"), f / "x.safetensors")[1],
        error("x.safetensors"),
    ),
    FileCase(
        "etc-passwd-symlink",
        lambda f: ((f / "x.safetensors").symlink_to("/etc/passwd"), f / "x.safetensors")[1],
        error("x.safetensors", avoid=(_u64(Path("/etc/passwd").read_bytes()),)),
    ),
]


@pytest.mark.parametrize("case", FILES, ids=[c.id for c in FILES])
def test_file(case: FileCase, root: Path) -> None:
    folder = root / "model"
    folder.mkdir()
    path = case.make(folder)
    tree = watch(root)
    outcome = cli(["check", str(path)], cwd=root / "work")
    assert_contract(outcome, case.expect, extra=tree.changes())


def test_valid_lone_file_is_counted_by_header_only(root: Path) -> None:
    """Documented: a lone file without --against exits 0 and says it was counted by header only."""
    (root / "x.safetensors").write_bytes(tensors_file({"a": ("F32", [2, 3])}))
    outcome = cli(["check", str(root / "x.safetensors")], cwd=root / "work")
    assert_contract(outcome, ok(accept_notes=(r"--against",)))
    assert "--against" in outcome.stdout


# --- a model folder (the tiny VAE): config.json + weights, sharded or not ---------------------------------------------


def _sharded(folder: Path) -> dict[str, Any]:
    """Split the VAE's weights into two shards with an index, the way save_pretrained names them."""
    from safetensors.torch import load_file, save_file

    tensors = load_file(folder / WEIGHTS)
    (folder / WEIGHTS).unlink()
    names = sorted(tensors)
    half = len(names) // 2
    weight_map = {}
    for i, part in enumerate((names[:half], names[half:]), start=1):
        shard = f"diffusion_pytorch_model-0000{i}-of-00002.safetensors"
        save_file({n: tensors[n] for n in part}, folder / shard, metadata={"format": "pt"})
        weight_map |= dict.fromkeys(part, shard)
    index = {"metadata": {"total_size": sum(t.numel() * 4 for t in tensors.values())}, "weight_map": weight_map}
    write_json(folder / INDEX, index)
    return index


def _move_shard(new_name: Callable[[Path, Path], str]) -> Callable[[Path, Path], None]:
    """Move shard 2 to where ``new_name`` says (relative to the folder, or absolute) and point the index there."""

    def mutate(folder: Path, root: Path) -> None:
        index = _sharded(folder)
        old = "diffusion_pytorch_model-00002-of-00002.safetensors"
        name = new_name(folder, root)
        target = Path(name) if Path(name).is_absolute() else folder / name
        if not str(name).startswith(("/etc", "/proc")):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(folder / old, target)
        index["weight_map"] = {k: (name if v == old else v) for k, v in index["weight_map"].items()}
        write_json(folder / INDEX, index)

    return mutate


def _index_text(text: Callable[[dict[str, Any]], str | bytes]) -> Callable[[Path, Path], None]:
    def mutate(folder: Path, root: Path) -> None:
        value = text(_sharded(folder))
        (folder / INDEX).write_bytes(value if isinstance(value, bytes) else value.encode())

    return mutate


def _environ_number() -> str:
    return _u64(Path("/proc/self/environ").read_bytes())


@dataclass(frozen=True)
class FolderCase:
    id: str
    mutate: Callable[[Path, Path], Any]  # (model folder, case root)
    expect: Expect
    against: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


FOLDERS = [
    FolderCase("valid-sharded-set", lambda f, r: _sharded(f), ok()),
    # fuzz 7: shard names leave the folder; the loader refuses them, so check must too (and never print bytes)
    FolderCase(
        "shard-dotdot",
        _move_shard(lambda f, r: "../outside.safetensors"),
        error("outside.safetensors", klass="security"),
    ),
    FolderCase(
        "shard-inner-dotdot",
        _move_shard(lambda f, r: "sub/../../outside.safetensors"),
        error("outside.safetensors", klass="security"),
    ),
    FolderCase(
        "shard-absolute",
        _move_shard(lambda f, r: str(r / "elsewhere" / "shard.safetensors")),
        error("shard.safetensors", klass="security"),
    ),
    FolderCase(
        "shard-subfolder",
        _move_shard(lambda f, r: "sub/shard.safetensors"),
        error("sub/shard.safetensors", klass="security"),
    ),
    FolderCase(
        "shard-etc-passwd",
        _move_shard(lambda f, r: "/etc/passwd"),
        error("/etc/passwd", avoid=(_u64(Path("/etc/passwd").read_bytes()),), klass="security"),
    ),
    FolderCase(
        "shard-proc-self-environ",
        _move_shard(lambda f, r: "/proc/self/environ"),
        error("/proc/self/environ", avoid=(_environ_number(),), klass="security"),
    ),
    FolderCase(
        "shard-symlink-to-etc-passwd",
        lambda f, r: (
            _sharded(f),
            (f / "diffusion_pytorch_model-00002-of-00002.safetensors").unlink(),
            (f / "diffusion_pytorch_model-00002-of-00002.safetensors").symlink_to("/etc/passwd"),
        ),
        error("00002-of-00002", avoid=(_u64(Path("/etc/passwd").read_bytes()),)),
    ),
    FolderCase(
        "shard-backslash-dotdot",
        _index_text(lambda i: json.dumps({**i, "weight_map": {k: "..\\x.safetensors" for k in i["weight_map"]}})),
        error("x.safetensors"),
    ),
    FolderCase(
        "shard-empty-name",
        _index_text(lambda i: json.dumps({**i, "weight_map": dict.fromkeys(i["weight_map"], "")})),
        error(INDEX),
    ),
    FolderCase(
        "shard-dot",
        _index_text(lambda i: json.dumps({**i, "weight_map": dict.fromkeys(i["weight_map"], ".")})),
        error(INDEX),
    ),
    FolderCase(
        "shard-nul",
        _index_text(lambda i: json.dumps({**i, "weight_map": dict.fromkeys(i["weight_map"], "a\x00.safetensors")})),
        error(INDEX),
    ),
    FolderCase(
        "shard-fifo",
        lambda f, r: (
            _sharded(f),
            (f / "diffusion_pytorch_model-00001-of-00002.safetensors").unlink(),
            fifo(f / "diffusion_pytorch_model-00001-of-00002.safetensors"),
        ),
        error("00001-of-00002"),
    ),
    # broken indexes: held up, and the ones that still raise
    FolderCase(
        "index-missing-shard",
        lambda f, r: (_sharded(f), (f / "diffusion_pytorch_model-00001-of-00002.safetensors").unlink()),
        error("00001-of-00002"),
    ),
    FolderCase(
        "index-misplaced-tensor",
        _index_text(
            lambda i: json.dumps(
                {**i, "weight_map": {k: "diffusion_pytorch_model-00001-of-00002.safetensors" for k in i["weight_map"]}}
            )
        ),
        error(INDEX),
    ),
    FolderCase(
        "index-lacks-a-tensor-a-shard-holds",
        _index_text(lambda i: json.dumps({**i, "weight_map": dict(sorted(i["weight_map"].items())[1:])})),
        error(INDEX),
    ),
    FolderCase("index-weight_map-list", _index_text(lambda i: json.dumps({**i, "weight_map": []})), error(INDEX)),
    FolderCase("index-not-utf8", _index_text(lambda i: b"\xff\xfe" + json.dumps(i).encode()), error(INDEX)),
    FolderCase(
        "index-5000-digit-int", _index_text(lambda i: json.dumps(i)[:-1] + ', "x": ' + huge_int() + "}"), error(INDEX)
    ),
    FolderCase("index-100k-deep", _index_text(lambda i: deep_json(key="weight_map")), error(INDEX)),
    FolderCase(
        "index-2000-shards",
        lambda f, r: _many_shards(f, 2000),
        Expect(codes=(0, 1, 2), names=(INDEX,), quiet=False),
    ),
    # the folder itself
    FolderCase("weights-fifo", lambda f, r: ((f / WEIGHTS).unlink(), fifo(f / WEIGHTS)), error(WEIGHTS)),
    FolderCase("weights-header-5000-digit-int", lambda f, r: _huge_in_metadata(f / WEIGHTS), error(WEIGHTS)),
    FolderCase("folder-unreadable", lambda f, r: f.chmod(0), error("vae"), extra={"drop_dac": True}),
    FolderCase("folder-unlistable", lambda f, r: f.chmod(0o300), error("vae"), extra={"drop_dac": True}),
    FolderCase("config-non-utf8", lambda f, r: (f / "config.json").write_bytes(b"\xff\xfe{}"), error("config.json")),
    FolderCase(
        "config-100k-deep",
        lambda f, r: (f / "config.json").write_text(deep_json(key="_class_name")),
        error("config.json"),
    ),
    FolderCase(
        "config-num_layers-typo-but-weights-match",
        lambda f, r: write_json(
            f / "config.json", {**json.loads((f / "config.json").read_text()), "layers_per_blok": 1}
        ),
        Expect(codes=(1, 2), names=("layers_per_blok",), accept_notes=(r"\blayers_per_blok\b",)),
    ),
]


def _huge_in_metadata(path: Path) -> None:
    """A 5,000-digit integer literal inside the header's ``__metadata__`` (the data section is unchanged)."""
    rewrite_header(path, lambda h: h.setdefault("__metadata__", {}).update(junk="HUGE"))
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = raw[8 : 8 + n].replace(b'"HUGE"', huge_int().encode())
    path.write_bytes(struct.pack("<Q", len(header)) + header + raw[8 + n :])


def _many_shards(folder: Path, count: int) -> None:
    """``count`` one-tensor shards and their index (the names are not the VAE's: a mismatch, exit 1)."""
    (folder / WEIGHTS).unlink()
    weight_map = {}
    for i in range(count):
        shard = f"s-{i:05d}-of-{count:05d}.safetensors"
        (folder / shard).write_bytes(tensors_file({f"t{i}": ("F32", [1])}))
        weight_map[f"t{i}"] = shard
    write_json(folder / INDEX, {"metadata": {"total_size": 4 * count}, "weight_map": weight_map})


@pytest.mark.parametrize("case", FOLDERS, ids=[c.id for c in FOLDERS])
def test_folder(case: FolderCase, weighted: Path, root: Path) -> None:
    folder = weighted / "vae"
    case.mutate(folder, root)
    tree = watch(root)
    outcome = cli(["check", str(folder)], cwd=root / "work", **case.extra)
    assert_contract(outcome, case.expect, extra=tree.changes())


def test_pipeline_with_a_non_utf8_component_config(weighted: Path, root: Path) -> None:
    (weighted / "transformer" / "config.json").write_bytes(b"\xff\xfe{}")
    assert_contract(cli(["check", str(weighted)], cwd=root / "work"), error("config.json"))


def test_check_slash_is_bounded(root: Path) -> None:
    """``check /`` walked the whole file system looking for .bin hints, then raised (fuzz 6, 9)."""
    assert_contract(cli(["check", "/"], cwd=root / "work"), error("/"))


# --- --against: the architecture a lone file is compared with ---------------------------------------------------------


@dataclass(frozen=True)
class AgainstCase:
    id: str
    against: Callable[[Path, Path], str]  # (pipeline with weights, case root)
    expect: Expect


def _huge_transformer(p: Path, r: Path) -> str:
    write_json(
        r / "huge" / "config.json",
        {"_class_name": "FluxTransformer2DModel", **TINY_FLUX_TRANSFORMER, "num_layers": 10**12},
    )
    return str(r / "huge")


AGAINST = [
    AgainstCase("matching-component", lambda p, r: f"{p}:vae", ok()),
    # fuzz 8: a non-module architecture compares nothing and said OK
    AgainstCase("bundled-scheduler", lambda p, r: "flux.1-dev:scheduler", error("scheduler")),
    AgainstCase("bundled-tokenizer", lambda p, r: "flux.1-dev:tokenizer", error("tokenizer")),
    AgainstCase("own-scheduler", lambda p, r: f"{p}:scheduler", error("scheduler")),
    AgainstCase("unknown-component", lambda p, r: "flux.1-dev:nope", error("nope")),
    AgainstCase("component-dotdot", lambda p, r: f"{p}:../vae", error("../vae")),
    AgainstCase("missing-model", lambda p, r: str(r / "nope"), error("nope")),
    AgainstCase("empty", lambda p, r: "", error()),
    # fuzz 6: 10**12 layers through --against grew until killed
    AgainstCase("config-with-10**12-layers", _huge_transformer, error("num_layers")),
]


@pytest.mark.parametrize("case", AGAINST, ids=[c.id for c in AGAINST])
def test_against(case: AgainstCase, weighted: Path, root: Path) -> None:
    lone = root / "lone.safetensors"
    shutil.copy(weighted / "vae" / WEIGHTS, lone)
    against = case.against(weighted, root)
    tree = watch(root)
    outcome = cli(["check", str(lone), "--against", against], cwd=root / "work")
    assert_contract(outcome, case.expect, extra=tree.changes())
