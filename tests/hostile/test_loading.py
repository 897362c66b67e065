"""Hostile inputs to ``paramcheck load``: the fit check, process limits, option combinations, pickles
(fuzz.md surface 6, finding 10)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.corpus import (
    Expect,
    assert_contract,
    cli,
    error,
    evil_pickle,
    ok,
    read_json,
    watch,
    write_json,
)
from tests.tiny import TINY_T5

T5 = {"model_type": "t5", "architectures": ["T5EncoderModel"], **TINY_T5}


@dataclass(frozen=True)
class LoadCase:
    id: str
    args: Callable[[Path, Path], list[str]]  # (pipeline with weights, case root) -> argv after "load"
    expect: Expect
    setup: Callable[[Path, Path], Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    quiet_stderr: bool = False  # exit 0 must leave stderr empty


def _t5(root: Path, **changes: Any) -> str:
    write_json(root / "t5" / "config.json", {**T5, **changes})
    return str(root / "t5")


def _claims_22pb(p: Path, r: Path) -> None:
    """Tiny T5 weights next to a config that says d_model 10**7 (22 PB at fp32)."""
    config = read_json(p / "text_encoder_2" / "config.json")
    write_json(p / "text_encoder_2" / "config.json", {**config, "d_model": 10**7})


def _truncate_vae(p: Path, r: Path) -> None:
    path = p / "vae" / "diffusion_pytorch_model.safetensors"
    path.write_bytes(path.read_bytes()[:100])


def _pickle_only(p: Path, r: Path) -> None:
    (p / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    (p / "vae" / "diffusion_pytorch_model.bin").write_bytes(evil_pickle(r / "pickle-ran"))


def _huge_unexpected_tensor(p: Path, r: Path) -> None:
    """The VAE's weights plus a 1.5 GB U8 tensor it does not have, written as a sparse file (no disk used)."""
    path = p / "vae" / "diffusion_pytorch_model.safetensors"
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header, data = json.loads(raw[8 : 8 + n]), raw[8 + n :]
    size = 1_500_000_000
    header["unexpected.huge"] = {"dtype": "U8", "shape": [size], "data_offsets": [len(data), len(data) + size]}
    text = json.dumps(header).encode()
    with path.open("wb") as f:
        f.write(len(text).to_bytes(8, "little") + text + data)
        f.truncate(8 + len(text) + len(data) + size)


def _two_layers_per_block(p: Path, r: Path) -> None:
    config = read_json(p / "vae" / "config.json")
    write_json(p / "vae" / "config.json", {**config, "layers_per_block": 2})


LOADS = [
    # the fit check refuses before allocating (held up in the fuzz)
    LoadCase(
        "bundled-flux-transformer-fp32",
        lambda p, r: ["flux.1-dev", "--components", "transformer", "--materialize", "--device", "cpu"],
        error("transformer", "GB"),
    ),
    LoadCase(
        "t5-d_model-1e7-22PB",
        lambda p, r: [_t5(r, d_model=10**7), "--materialize", "--device", "cpu"],
        error("GB"),
    ),
    LoadCase(
        "t5-vocab-1e12-128TB",
        lambda p, r: [_t5(r, vocab_size=10**12), "--materialize", "--device", "cpu"],
        error("GB"),
    ),
    LoadCase(
        "weights-tiny-config-claims-22PB",
        lambda p, r: [str(p), "--components", "text_encoder_2", "--device", "cpu"],
        error("text_encoder_2", "GB"),
        _claims_22pb,
    ),
    # fuzz 10: a process limit (ulimit -v) is ignored; the failed allocation was blamed on the config
    LoadCase(
        "t5-1.7GB-under-a-1GB-address-space-limit",
        lambda p, r: [
            _t5(r, vocab_size=50_000, d_model=8192, d_kv=64, num_heads=8),
            "--materialize",
            "--device",
            "cpu",
        ],
        error("GB", avoid=("from its config",), avoid_class="message"),
        extra={"memory": 1 << 30},
    ),
    # options that load nothing, or everything, without saying so (fuzz 10)
    LoadCase("components-empty", lambda p, r: [str(p), "--components", "", "--device", "cpu"], error("--components")),
    LoadCase(
        "components-scheduler",
        lambda p, r: [str(p), "--components", "scheduler", "--device", "cpu"],
        error("scheduler"),
    ),
    LoadCase(
        "components-tokenizer",
        lambda p, r: [str(p), "--components", "tokenizer", "--device", "cpu"],
        error("tokenizer"),
    ),
    LoadCase("components-dotdot", lambda p, r: [str(p), "--components", "../vae", "--device", "cpu"], error("../vae")),
    LoadCase(
        "components-comma-only", lambda p, r: [str(p), "--components", ",", "--device", "cpu"], error("component")
    ),
    LoadCase(
        "components-duplicate",
        lambda p, r: [str(p), "--components", "vae,vae", "--device", "cpu"],
        Expect(codes=(0, 2), names=("vae",), quiet=False),
    ),
    # devices and dtypes
    LoadCase(
        "device-cuda-without-gpu", lambda p, r: [str(p), "--components", "vae", "--device", "cuda"], error("cuda")
    ),
    LoadCase("device-cuda-99", lambda p, r: [str(p), "--components", "vae", "--device", "cuda:99"], error("cuda")),
    LoadCase("device-meta", lambda p, r: [str(p), "--components", "vae", "--device", "meta"], error("meta")),
    LoadCase("device-tpu", lambda p, r: [str(p), "--device", "tpu"], error("tpu", usage=True)),
    LoadCase(
        "dtype-int4", lambda p, r: [str(p), "--components", "vae", "--dtype", "int4", "--device", "cpu"], error("int4")
    ),
    LoadCase(
        "bundled-without-weights", lambda p, r: ["flux.1-dev", "--components", "vae", "--device", "cpu"], error("vae")
    ),
    # broken or malicious weights
    LoadCase(
        "weights-truncated",
        lambda p, r: [str(p), "--components", "vae", "--device", "cpu"],
        error("vae"),
        _truncate_vae,
    ),
    LoadCase(
        "weights-a-malicious-pickle",
        lambda p, r: [str(p), "--components", "vae", "--device", "cpu"],
        error("vae", klass="security"),
        _pickle_only,
    ),
    LoadCase(
        "weights-for-another-config",
        lambda p, r: [str(p), "--components", "vae", "--device", "cpu"],
        Expect(codes=(1,), quiet=False),
        _two_layers_per_block,
    ),
    # held up in the fuzz: a 1.5 GB tensor the architecture does not have is never read into memory
    LoadCase(
        "weights-with-a-1.5GB-unexpected-tensor",
        lambda p, r: [str(p), "--components", "vae", "--device", "cpu"],
        Expect(codes=(1,), quiet=False),
        _huge_unexpected_tensor,
    ),
    # fuzz 10: transformers' "Loading weights" progress bars on a stderr that is no terminal
    LoadCase(
        "no-progress-bars-on-a-file",
        lambda p, r: [str(p), "--components", "text_encoder,text_encoder_2", "--device", "cpu"],
        ok(),
        quiet_stderr=True,
    ),
]


@pytest.mark.parametrize("case", LOADS, ids=[c.id for c in LOADS])
def test_load(case: LoadCase, weighted: Path, root: Path) -> None:
    if case.setup is not None:
        case.setup(weighted, root)
    args = ["load", *case.args(weighted, root)]
    tree = watch(root, root / "t5")
    outcome = cli(args, cwd=root / "work", deadline=20.0, **case.extra)
    extra = tree.changes()
    if (root / "pickle-ran").exists():
        extra.append("[security] the pickle in diffusion_pytorch_model.bin ran")
    if case.quiet_stderr and outcome.returncode == 0 and outcome.stderr:
        extra.append(f"[lines] stderr is not empty on success: {outcome.stderr.strip()[:160]!r}")
    assert_contract(outcome, case.expect, extra=extra)


def test_load_baseline(weighted: Path, root: Path, tiny_totals: dict[str, int]) -> None:
    """What the hostile cases depart from: the tiny VAE loads on cpu with torch's own count."""
    shutil.rmtree(root / "victims")
    outcome = cli(["load", str(weighted), "--components", "vae", "--device", "cpu", "--json"], cwd=root / "work")
    assert_contract(outcome, ok())
    assert str(tiny_totals["vae"]) in outcome.stdout
