"""Checkpoint audits from safetensors headers: counts, the architecture check, quantized formats, malformed files.

Expected numbers come from hand calculation written here, from safetensors' own reader, or from the saved model.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from huggingface_hub import parse_local_safetensors_file_metadata
from huggingface_hub.utils import SafetensorsFileMetadata
from safetensors import safe_open
from safetensors.torch import save_file

from paramcheck.checkpoint.check import CheckReport, check_checkpoint
from paramcheck.checkpoint.quantization import classify_tensors
from paramcheck.checkpoint.summary import read_checkpoint
from paramcheck.cli import main
from paramcheck.errors import CheckpointError, ConfigError
from paramcheck.sources.headers import TensorInfo, hub_header, read_header
from tests.tiny import TINY_FLUX_TRANSFORMER, save_pipeline

# ---------------------------------------------------------------------------------------------------------- helpers


def write_raw(path: Path, header: dict[str, Any], data_bytes: int, *, length: int | None = None) -> Path:
    """A safetensors file written byte by byte: ``<u64 length><header JSON><data_bytes zero bytes>``."""
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + b"\0" * data_bytes)
    return path


def transformer_state(tiny_modules: dict[str, torch.nn.Module]) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone().contiguous() for k, v in tiny_modules["transformer"].state_dict().items()}


def write_transformer(folder: Path, state: dict[str, torch.Tensor]) -> Path:
    """A diffusers model folder: the tiny transformer's config.json and ``state`` as its weights."""
    folder.mkdir(parents=True)
    config = {"_class_name": "FluxTransformer2DModel", **TINY_FLUX_TRANSFORMER}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    save_file(state, str(folder / "diffusion_pytorch_model.safetensors"))
    return folder


def header_elements(files: list[Path]) -> tuple[int, int]:
    """(tensors, elements) read by safetensors' own reader: a second method, outside the code under test."""
    tensors = elements = 0
    for path in files:
        with safe_open(path, framework="pt") as f:
            for key in f.keys():  # noqa: SIM118 - safe_open has no __iter__
                tensors += 1
                n = 1
                for dim in f.get_slice(key).get_shape():
                    n *= dim
                elements += n
    return tensors, elements


@pytest.fixture(scope="session")
def sharded_pipeline(tmp_path_factory: pytest.TempPathFactory, tiny_modules: dict[str, torch.nn.Module]) -> Path:
    return save_pipeline(tmp_path_factory.mktemp("sharded") / "tiny-flux", tiny_modules, max_shard_size="20KB")


# ------------------------------------------------------------------------------------------------ hand-made header


def _info(name: str, dtype: str, shape: tuple[int, ...], nbytes: int) -> TensorInfo:
    return TensorInfo(name=name, dtype=dtype, shape=shape, begin=0, end=nbytes)


def test_hand_made_header_counts(tmp_path: Path) -> None:
    header = {
        "__metadata__": {"format": "pt"},
        "a": {"dtype": "F32", "shape": [3, 4], "data_offsets": [0, 48]},  # 12 elements * 4 bytes = 48
        "b": {"dtype": "BF16", "shape": [5], "data_offsets": [48, 58]},  # 5 * 2 = 10
        "c": {"dtype": "F32", "shape": [], "data_offsets": [58, 62]},  # a scalar: 1 element, 4 bytes
        "d": {"dtype": "F8_E4M3", "shape": [2, 2], "data_offsets": [62, 66]},  # 4 * 1 = 4
        "e": {"dtype": "F4", "shape": [6], "data_offsets": [66, 69]},  # 6 * 4 bits = 3 bytes
    }
    path = write_raw(tmp_path / "hand.safetensors", header, 69)
    report, _ = read_checkpoint(path)
    (c,) = report.components
    assert (c.tensors, c.elements, c.bytes, c.parameters) == (5, 12 + 5 + 1 + 4 + 6, 48 + 10 + 4 + 4 + 3, 28)
    rows = {d.dtype: (d.tensors, d.elements, d.bytes) for d in c.dtypes}
    assert rows == {"F32": (2, 13, 52), "BF16": (1, 5, 10), "F8_E4M3": (1, 4, 4), "F4": (1, 6, 3)}
    assert c.quantization == "f4+fp8"
    assert dict(read_header(path).metadata) == {"format": "pt"}


def test_header_agrees_with_safetensors_reader(tiny_pipeline: Path, sharded_pipeline: Path) -> None:
    for folder in (tiny_pipeline, sharded_pipeline):
        report, _ = read_checkpoint(folder)
        assert [c.name for c in report.components] == ["text_encoder", "text_encoder_2", "transformer", "vae"]
        for c in report.components:
            files = sorted((folder / c.name).glob("*.safetensors"))
            assert (c.tensors, c.elements) == header_elements(files)
            assert c.bytes == 4 * c.elements  # save_pretrained wrote float32
            assert len(c.files) == len(files)
    transformer = read_checkpoint(sharded_pipeline)[0].component("transformer")
    assert transformer is not None
    assert len(transformer.files) > 1  # max_shard_size="20KB" did shard it


# ------------------------------------------------------------------------------------------ the architecture check


@pytest.mark.parametrize("which", ["single", "sharded"])
def test_saved_pipeline_matches_its_architecture(
    which: str, tiny_pipeline: Path, sharded_pipeline: Path, tiny_modules: dict[str, torch.nn.Module]
) -> None:
    check = check_checkpoint(tiny_pipeline if which == "single" else sharded_pipeline)
    assert check.ok
    for c in check.components:
        assert (c.layout, c.missing, c.unexpected, c.shapes, c.dtypes) == ("matching", (), (), (), ())
        module = tiny_modules[c.name]
        # the saved model's own count: distinct parameters + persistent buffers
        stored = sum(p.numel() for p in module.parameters()) + sum(
            b.numel() for n, b in module.named_buffers() if n in module.state_dict()
        )
        assert c.architecture_parameters == c.checkpoint_parameters == stored
    t5 = check.component("text_encoder_2")
    assert t5 is not None
    # T5 ties encoder.embed_tokens.weight to shared.weight; save_pretrained stores the tensor once
    assert (t5.expected_tensors, t5.found_tensors) == (20, 19)


def test_tied_weight_dropped_entirely_is_missing(tmp_path: Path, tiny_pipeline: Path) -> None:
    folder = tmp_path / "t5"
    shutil.copytree(tiny_pipeline / "text_encoder_2", folder)
    path = folder / "model.safetensors"
    with safe_open(path, framework="pt") as f:
        state = {k: f.get_tensor(k) for k in f.keys() if k != "shared.weight"}  # noqa: SIM118
    save_file(state, str(path), metadata={"format": "pt"})
    (c,) = check_checkpoint(folder).components
    assert c.missing == ("encoder.embed_tokens.weight", "shared.weight")


def broken(state: dict[str, torch.Tensor], how: str) -> dict[str, torch.Tensor]:
    state = dict(state)
    if how in ("renamed", "all"):
        state["transformer_blocks.0.attn.to_query.weight"] = state.pop("transformer_blocks.0.attn.to_q.weight")
    if how in ("dropped", "all"):
        state = {k: v for k, v in state.items() if not k.startswith("single_transformer_blocks.0.")}
    if how in ("transposed", "all"):
        state["proj_out.weight"] = state["proj_out.weight"].t().contiguous()
    return state


def test_broken_conversion_renamed_key(tmp_path: Path, tiny_modules: dict[str, torch.nn.Module]) -> None:
    folder = write_transformer(tmp_path / "t", broken(transformer_state(tiny_modules), "renamed"))
    (c,) = check_checkpoint(folder).components
    assert c.missing == ("transformer_blocks.0.attn.to_q.weight",)
    assert c.unexpected == ("transformer_blocks.0.attn.to_query.weight",)
    assert (c.shapes, c.ok) == ((), False)


def test_broken_conversion_dropped_block(tmp_path: Path, tiny_modules: dict[str, torch.nn.Module]) -> None:
    state = transformer_state(tiny_modules)
    dropped = {k: v for k, v in state.items() if k.startswith("single_transformer_blocks.0.")}
    folder = write_transformer(tmp_path / "t", broken(state, "dropped"))
    (c,) = check_checkpoint(folder).components
    assert c.missing == tuple(sorted(dropped))
    assert c.unexpected == ()
    assert c.architecture_parameters - c.checkpoint_parameters == sum(v.numel() for v in dropped.values())


def test_broken_conversion_transposed_shape(tmp_path: Path, tiny_modules: dict[str, torch.nn.Module]) -> None:
    folder = write_transformer(tmp_path / "t", broken(transformer_state(tiny_modules), "transposed"))
    (c,) = check_checkpoint(folder).components
    (shape,) = c.shapes
    # proj_out: Linear(inner_dim = 2 heads * 16 = 32, patch_size**2 * out_channels = 4) -> weight [4, 32]
    assert (shape.name, shape.expected, shape.found) == ("proj_out.weight", (4, 32), (32, 4))
    assert (c.missing, c.unexpected, c.architecture_parameters) == ((), (), c.checkpoint_parameters)


def test_cli_exit_codes(
    tmp_path: Path, tiny_modules: dict[str, torch.nn.Module], tiny_pipeline: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(tiny_pipeline)]) == 0
    assert "OK: the checkpoint matches" in capsys.readouterr().out
    folder = write_transformer(tmp_path / "t", broken(transformer_state(tiny_modules), "all"))
    assert main(["check", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "model: unexpected transformer_blocks.0.attn.to_query.weight" in out
    # a dropped single block: norm.linear, proj_mlp, proj_out, to_q/k/v (weight + bias each) + norm_q, norm_k = 14
    assert "model: missing single_transformer_blocks.0.* (14 tensors)" in out
    assert "model: shape proj_out.weight: expected [4, 32], found [32, 4]" in out
    assert "MISMATCH" in out
    assert main(["check", str(folder), "--json", "-o", str(tmp_path / "c.json")]) == 1
    data = json.loads((tmp_path / "c.json").read_text())
    assert CheckReport.from_dict(data["check"]).to_dict() == data["check"]  # lossless round trip
    assert data["check"]["ok"] is False


def test_lone_file_against_a_model(tmp_path: Path, tiny_pipeline: Path) -> None:
    lone = tmp_path / "flux.safetensors"
    shutil.copy(tiny_pipeline / "transformer" / "diffusion_pytorch_model.safetensors", lone)
    (c,) = check_checkpoint(lone).components
    assert c.layout == "unchecked"
    (c,) = check_checkpoint(lone, against=f"{tiny_pipeline}:transformer").components
    assert (c.layout, c.ok, c.class_name) == ("matching", True, "FluxTransformer2DModel")


def test_lone_file_against_a_component_without_parameters(
    tmp_path: Path, tiny_pipeline: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lone = tmp_path / "flux.safetensors"
    shutil.copy(tiny_pipeline / "transformer" / "diffusion_pytorch_model.safetensors", lone)
    against = f"{tiny_pipeline}:scheduler"  # FlowMatchEulerDiscreteScheduler: no config.json, no parameters
    with pytest.raises(ConfigError, match=r"scheduler: FlowMatchEulerDiscreteScheduler has no parameters to compare"):
        check_checkpoint(lone, against=against)
    assert main(["check", str(lone), "--against", against]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"paramcheck: error: {against}: ")
    assert "name a model component (text_encoder, text_encoder_2, transformer, vae)" in err
    assert err.count("\n") == 1


def test_hub_repository_checked_from_its_headers_in_process(
    tiny_pipeline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``check hub:ORG/NAME@REV`` with the hub answered in process (the pipeline's configs and its files' headers, as
    fetch_hub_model returns them; tests/test_hub.py runs the real download path): every component checked, each
    total the stored elements safetensors' own reader counts, the location the pinned commit."""
    import paramcheck.checkpoint.check as check_module
    from paramcheck.sources import resolve
    from paramcheck.sources.hub import HubModel, HubWeights

    sha = "0123456789abcdef0123456789abcdef01234567"
    names = ("text_encoder", "text_encoder_2", "transformer", "vae")
    files = {name: sorted((tiny_pipeline / name).glob("*.safetensors")) for name in names}

    def fake_fetch(repo: str, revision: str | None = None) -> HubModel:
        assert (repo, revision) == ("tiny-org/tiny-flux", sha)
        weights = tuple(HubWeights(component=n, headers=tuple(read_header(f) for f in files[n])) for n in names)
        return HubModel(repo=repo, revision=sha, source=resolve(str(tiny_pipeline)), weights=weights, from_cache=False)

    monkeypatch.setattr(check_module, "fetch_hub_model", fake_fetch)
    check = check_checkpoint(f"hub:tiny-org/tiny-flux@{sha}")
    assert (check.ok, check.checkpoint.location) == (True, f"hub:tiny-org/tiny-flux@{sha}")
    assert check.checkpoint.kind == "hub"
    totals = [(c.name, c.layout, c.checkpoint_parameters) for c in check.components]
    assert totals == [(n, "matching", header_elements(files[n])[1]) for n in names]


# ------------------------------------------------------------------------------------------------ other key layouts


def original_flux_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tiny transformer under the original FLUX release's names, q/k/v fused as in ``img_attn.qkv``."""
    out: dict[str, torch.Tensor] = {}
    rename = {"attn.to_": "img_attn.", "attn.add_": "txt_attn.", "transformer_blocks.": "double_blocks."}
    for key, value in state.items():
        new = key
        for old, repl in rename.items():
            new = new.replace(old, repl)
        out[new] = value
    for i in range(TINY_FLUX_TRANSFORMER["num_layers"]):
        for kind in ("weight", "bias"):
            parts = [out.pop(f"double_blocks.{i}.img_attn.{p}.{kind}") for p in "qkv"]
            out[f"double_blocks.{i}.img_attn.qkv.{kind}"] = torch.cat(parts)
    return {k.replace("single_double_blocks.", "single_blocks."): v for k, v in out.items()}


def test_other_layout_compared_by_totals(tmp_path: Path, tiny_modules: dict[str, torch.nn.Module]) -> None:
    state = original_flux_layout(transformer_state(tiny_modules))
    assert "double_blocks.0.img_attn.qkv.weight" in state
    lone = tmp_path / "flux1-tiny.safetensors"
    save_file(state, str(lone))
    arch = write_transformer(tmp_path / "arch", transformer_state(tiny_modules))
    (c,) = check_checkpoint(lone, against=str(arch)).components
    assert (c.layout, c.ok) == ("other", True)
    assert c.checkpoint_parameters == c.architecture_parameters == sum(v.numel() for v in state.values())
    short = {k: v for k, v in state.items() if not k.startswith("single_blocks.0.")}
    save_file(short, str(lone))
    (c,) = check_checkpoint(lone, against=str(arch)).components
    assert (c.layout, c.ok) == ("other", False)
    dropped = sum(v.numel() for k, v in state.items() if k.startswith("single_blocks.0."))
    assert c.architecture_parameters - c.checkpoint_parameters == dropped


# ------------------------------------------------------------------------------------------------ quantized formats


def test_quantized_header_counts_by_hand(tmp_path: Path) -> None:
    u8, i8, i32, f32 = torch.uint8, torch.int8, torch.int32, torch.float32
    state = {
        # fp8 with scales: 8*16 = 128 values, scalars are auxiliary
        "a.weight": torch.zeros(8, 16).to(torch.float8_e4m3fn),
        "a.weight_scale": torch.zeros((), dtype=f32),
        "a.input_scale": torch.zeros((), dtype=f32),
        # bitsandbytes 4-bit: 10*15 = 150 values in 75 bytes, shape [75, 1]
        "b.weight": torch.zeros(75, 1, dtype=u8),
        "b.weight.absmax": torch.zeros(3, dtype=f32),
        "b.weight.quant_map": torch.zeros(16, dtype=f32),
        "b.weight.quant_state.bitsandbytes__nf4": torch.zeros(40, dtype=u8),
        "b.bias": torch.zeros(10, dtype=f32),
        # bitsandbytes int8: 4*4 = 16 values, SCB row scales auxiliary
        "c.weight": torch.zeros(4, 4, dtype=i8),
        "c.SCB": torch.zeros(4, dtype=f32),
        # GPTQ 4-bit: qweight [in/8 = 4, out = 6] int32 -> 32*6 = 192 values
        "d.qweight": torch.zeros(4, 6, dtype=i32),
        "d.qzeros": torch.zeros(1, 1, dtype=i32),
        "d.scales": torch.zeros(1, 6, dtype=torch.float16),
        "d.g_idx": torch.zeros(32, dtype=i32),
    }
    path = tmp_path / "q.safetensors"
    save_file(state, str(path))
    (c,) = read_checkpoint(path)[0].components
    assert c.parameters == 128 + 150 + 10 + 16 + 192
    assert c.auxiliary_tensors == 2 + 3 + 1 + 3
    # bytes: scales 4+4; absmax 12, quant_map 64, quant_state 40; SCB 16; qzeros 4, scales 12, g_idx 128
    assert c.auxiliary_bytes == 8 + 12 + 64 + 40 + 16 + 4 + 12 + 128
    assert c.bytes == 128 + 8 + 75 + 12 + 64 + 40 + 40 + 16 + 16 + 96 + 4 + 12 + 128
    assert c.quantization == "bnb-4bit+bnb-int8+fp8-scaled+gptq+int8"
    roles = {role.name: role for role in c.roles}
    assert (roles["d.qweight"].logical, roles["d.qweight"].parameters) == ("d.weight", 192)


def test_quantized_checkpoints_match_the_architecture(tmp_path: Path, tiny_modules: dict[str, torch.nn.Module]) -> None:
    state = transformer_state(tiny_modules)
    fp8: dict[str, torch.Tensor] = {}
    nf4: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.endswith(".weight") and value.dim() == 2:
            fp8[key] = value.to(torch.float8_e4m3fn)
            fp8[key.removesuffix("weight") + "weight_scale"] = torch.ones(())
            nf4[key] = torch.zeros((value.numel() + 1) // 2, 1, dtype=torch.uint8)
            nf4[key + ".absmax"] = torch.ones(max(1, value.numel() // 64))
        else:
            fp8[key] = nf4[key] = value
    total = sum(v.numel() for v in state.values())
    for name, quantized, scheme in (("fp8", fp8, "fp8-scaled"), ("nf4", nf4, "bnb-4bit")):
        (c,) = check_checkpoint(write_transformer(tmp_path / name, quantized)).components
        assert (c.ok, c.shapes, c.dtypes, c.checkpoint_parameters) == (True, (), (), total), name
        stored = read_checkpoint(tmp_path / name)[0].components[0]
        assert stored.quantization == scheme


# ------------------------------------------------------------------------------------------------- malformed files

GOOD = {"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}


def malformed(case: str, folder: Path) -> tuple[Path, str]:
    """A broken checkpoint and (a regex of) what its one-line error must say."""
    p = folder / f"{case}.safetensors"
    if case == "truncated":
        p.write_bytes(b"\x10\0\0")
        return p, "truncated: 3 bytes"
    if case == "header-longer-than-file":
        return write_raw(p, GOOD, 8, length=10_000), "header longer than the file"
    if case == "not-json":
        raw = b"this is not json"
        p.write_bytes(struct.pack("<Q", len(raw)) + raw)
        return p, "not valid JSON .*not a safetensors header"
    if case == "json-array":
        raw = b"[1, 2]"
        p.write_bytes(struct.pack("<Q", len(raw)) + raw)
        return p, "a JSON list, expected an object"
    if case == "not-a-header":
        return write_raw(p, {"model_type": "flux"}, 0), "entry 'model_type' lacks dtype/shape/data_offsets"
    if case == "bad-dtype":
        return write_raw(p, {"x": {"dtype": "F12", "shape": [2], "data_offsets": [0, 8]}}, 8), "unknown dtype 'F12'"
    if case == "shape-offset-mismatch":
        bad = {"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}
        return write_raw(p, bad, 8), r"shape \[3\] of F32 needs 12 bytes but its offsets span 8"
    if case == "overlapping":
        bad = {
            "x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            "y": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
        }
        return write_raw(p, bad, 12), "overlapping offsets: 'y'"
    if case == "past-the-end":
        return write_raw(p, GOOD, 4), "'x' runs past the end"
    if case == "trailing-bytes":
        return write_raw(p, GOOD, 12), "4 bytes after the last tensor"
    if case == "shard-outside-folder":  # the shard exists, but outside the set's folder: never read
        inner = folder / "set"
        inner.mkdir()
        write_raw(folder / "model-00001-of-00001.safetensors", GOOD, 8)
        index = inner / "model.safetensors.index.json"
        index.write_text(json.dumps({"weight_map": {"x": "../model-00001-of-00001.safetensors"}}))
        return index, r"names shard '\.\./model-00001-of-00001\.safetensors', which is not a file in the index's folder"
    if case == "missing-shard":
        write_raw(folder / "model-00001-of-00002.safetensors", GOOD, 8)
        index = folder / "model.safetensors.index.json"
        weight_map = {"x": "model-00001-of-00002.safetensors", "y": "model-00002-of-00002.safetensors"}
        index.write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
        return index, "names shard 'model-00002-of-00002.safetensors', which is missing"
    raise AssertionError(case)


MALFORMED = sorted(
    [
        "truncated",
        "header-longer-than-file",
        "not-json",
        "json-array",
        "not-a-header",
        "bad-dtype",
        "shape-offset-mismatch",
        "overlapping",
        "past-the-end",
        "trailing-bytes",
        "missing-shard",
        "shard-outside-folder",
    ]
)


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_file_is_one_line_error_naming_it(case: str, tmp_path: Path) -> None:
    path, message = malformed(case, tmp_path)
    with pytest.raises(CheckpointError, match=message) as info:
        read_checkpoint(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ")
    assert "\n" not in text


def test_malformed_file_exits_2_without_traceback(tmp_path: Path) -> None:
    path, _ = malformed("overlapping", tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "paramcheck", "check", str(path)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"paramcheck: error: {path}: overlapping offsets")
    assert proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr


def test_layer_type_views_only_where_every_parameter_is_stored(
    tmp_path: Path, tiny_pipeline: Path, tiny_modules: dict[str, torch.nn.Module]
) -> None:
    check = check_checkpoint(tiny_pipeline, views=True)
    for c in check.components:
        parameters = sum(p.numel() for p in tiny_modules[c.name].parameters())  # the saved model's own count
        assert [(v.view, v.parameters) for v in c.views] == [(v, parameters) for v in ("leaf", "role", "container")]
    folder = write_transformer(tmp_path / "t", broken(transformer_state(tiny_modules), "dropped"))
    (c,) = check_checkpoint(folder, views=True).components
    assert c.views == ()


def _raw_safetensors(path: Path, tensors: int) -> Path:
    import struct

    header = {f"t{i}": {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]} for i in range(tensors)}
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * (4 * tensors))
    return path


def test_tensor_count_limit_is_named_and_raisable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from paramcheck.errors import CheckpointError
    from paramcheck.sources.headers import read_header

    path = _raw_safetensors(tmp_path / "three.safetensors", 3)
    monkeypatch.setenv("PARAMCHECK_MAX_TENSORS", "2")
    with pytest.raises(CheckpointError, match=r"3 tensors in one header exceeds the limit of 2; raise it with"):
        read_header(path)
    monkeypatch.setenv("PARAMCHECK_MAX_TENSORS", "3")
    assert len(read_header(path).tensors) == 3


def test_non_safetensors_bytes_are_never_quoted_and_fifos_never_opened(tmp_path: Path) -> None:
    import os

    from paramcheck.errors import CheckpointError
    from paramcheck.sources.headers import read_header

    secret = tmp_path / "secret.safetensors"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(CheckpointError) as error:
        read_header(secret)
    assert "first 8 bytes are no header length" in str(error.value)
    assert "3,475,222,254,926,655,346" not in str(error.value)  # b"root:x:0" read as a little-endian u64
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(CheckpointError, match=r"not a regular file"):
        read_header(fifo)


# ------------------------------------------------------------------------------ exact one-line messages (the UI)


def index_case(case: str, folder: Path) -> tuple[Path, str]:
    """A broken sharded set and the whole one-line error it must raise (written by hand: the message is the UI)."""
    index = folder / "model.safetensors.index.json"
    shard = "model-00001-of-00001.safetensors"
    if case == "shard-holds-more":
        two = {"x": GOOD["x"], "y": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}
        write_raw(folder / shard, two, 16)
        index.write_text(json.dumps({"weight_map": {"x": shard}}))
        return index, f"{index}: {shard} holds 'y', which the index does not list"
    if case == "shard-lacks-one":
        write_raw(folder / shard, GOOD, 8)
        index.write_text(json.dumps({"weight_map": {"x": shard, "z": shard}}))
        return index, f"{index}: places 'z' in {shard} but that shard lacks it"
    if case == "no-weight-map":
        index.write_text(json.dumps({"metadata": {}}))
        return index, f"{index}: not a sharded-checkpoint index: no 'weight_map' of tensor name -> shard file"
    if case == "not-utf8":
        index.write_bytes(b"\xff{}")
        return index, f"{index}: not UTF-8 (byte 0xff at offset 0); fix or re-download the file"
    # a shard name that is no file in the index's folder: refused before any path is built from it
    name = {"parent-folder": "..", "this-folder": ".", "blank": "   ", "unprintable": "a\x07.safetensors"}[case]
    index.write_text(json.dumps({"weight_map": {"x": name}}))
    return index, f"{index}: names shard {name!r}, which is not a file in the index's folder; the index is broken"


INDEX_CASES = ["shard-holds-more", "shard-lacks-one", "no-weight-map", "not-utf8"]
INDEX_CASES += ["parent-folder", "this-folder", "blank", "unprintable"]


@pytest.mark.parametrize("case", INDEX_CASES)
def test_broken_index_message_is_exact(case: str, tmp_path: Path) -> None:
    index, message = index_case(case, tmp_path)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(index)
    assert str(info.value) == message


# the files of a folder without safetensors weights -> the weight files its error names (sorted, at most three)
OTHER_WEIGHTS = {
    "top-level-bin": (["pytorch_model.bin", "config.json"], "pytorch_model.bin"),
    "three-of-four": (["d.pt", "c.pth", "b.bin", "a.ckpt", "notes.txt"], "a.ckpt, b.bin, c.pth"),
    "one-folder-down": (["unet/model.ckpt", "unet/deeper/x.bin", "README.md"], "model.ckpt"),
    "pt-and-pth": (["vae/vae.pth", "model.pt"], "model.pt, vae.pth"),
    "none": (["config.json", "weights.onnx", "deep/er/model.bin"], ""),
}


@pytest.mark.parametrize("case", sorted(OTHER_WEIGHTS))
def test_folder_without_safetensors_names_other_weights(case: str, tmp_path: Path) -> None:
    files, found = OTHER_WEIGHTS[case]
    hint = f" (found {found}: convert to safetensors)" if found else ""
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(tmp_path)
    assert str(info.value) == (
        f"{tmp_path}: holds no safetensors weights{hint}; paramcheck check reads safetensors headers only"
    )


def test_other_weights_scan_stops_after_10000_entries(tmp_path: Path) -> None:
    # docs/security-inputs.md: the scan "goes two folder levels deep and at most 10,000 entries". The folder's own
    # entries come first: 9,999 files and sub/ are 10,000, so sub/x.bin is the 10,001st and is not seen.
    for i in range(9_999):
        (tmp_path / f"f{i:04d}.txt").touch()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.bin").touch()
    message = f"{tmp_path}: holds no safetensors weights{{}}; paramcheck check reads safetensors headers only"
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(tmp_path)
    assert str(info.value) == message.format("")
    (tmp_path / "f0000.txt").unlink()  # now sub/x.bin is the 10,000th entry
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(tmp_path)
    assert str(info.value) == message.format(" (found x.bin: convert to safetensors)")


# ---------------------------------------------------------------------- hub headers (huggingface_hub's own parser)


def hub_parsed(path: Path, header: bytes, data_bytes: int) -> SafetensorsFileMetadata:
    """``header`` written as a safetensors file and parsed by huggingface_hub's parser (the one the hub reads use)."""
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * data_bytes)
    return parse_local_safetensors_file_metadata(path)


# written compactly, as the shortest JSON of the header: its bytes counted by hand
HUB_HEADER = '{"__metadata__":{"format":"pt"},"\u00e9":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'.encode()
assert len(HUB_HEADER) == 86  # 85 characters, "é" 2 bytes in UTF-8


def test_hub_header_bounds_the_data_by_the_shortest_json(tmp_path: Path) -> None:
    file = "hf://org/name@0123/model.safetensors"
    parsed = hub_parsed(tmp_path / "m.safetensors", HUB_HEADER, 8)
    size = 8 + 86 + 8
    header = hub_header(file, parsed, size)
    assert [(t.name, t.dtype, t.shape, t.begin, t.end) for t in header.tensors] == [("\u00e9", "F32", (2,), 0, 8)]
    assert (header.file, header.metadata) == (file, (("format", "pt"),))
    with pytest.raises(CheckpointError) as info:
        hub_header(file, parsed, size - 1)
    assert str(info.value) == (
        f"{file}: tensor '\u00e9' runs past the end: ends at data byte 8 but the file holds at most 7; truncated?"
    )
    # without a size the end is not checked; the entries are still validated
    assert hub_header(file, parsed, None).tensors == header.tensors
    lone = hub_parsed(tmp_path / "lone.safetensors", HUB_HEADER.replace(b"\xc3\xa9", rb"\ud800"), 8)
    assert [t.name for t in hub_header(file, lone, 8 + 90 + 8).tensors] == ["\ud800"]  # 3 bytes in the bound


# a 32-input, 6-output linear layer packed by GPTQ: AutoGPTQ's pack writes qweight as int32 of
# [in_features // 32 * bits, out_features], i.e. [bits, 6] here, so it holds 32 * 6 = 192 values whatever the bits
# (3 bits: 10 2/3 values per int32, packed across words). The config's bits, else 4; bits GPTQ has no kernel
# for (5, 9) or that are no integer read as 4.
GPTQ_BITS = [(2, 2, "16 per int32"), (3, 3, "32/3 per int32"), (4, 4, "8 per int32"), (8, 8, "4 per int32")]
GPTQ_BITS += [(None, 4, "8 per int32"), (5, 4, "8 per int32"), (9, 4, "8 per int32"), ("8", 4, "8 per int32")]


@pytest.mark.parametrize(("bits", "rows", "packing"), GPTQ_BITS)
def test_gptq_qweight_unpacks_by_the_configs_bits(bits: Any, rows: int, packing: str) -> None:
    config = {"quant_method": "gptq"} if bits is None else {"quant_method": "gptq", "bits": bits}
    qweight = _info("q.qweight", "I32", (rows, 6), rows * 6 * 4)
    roles, scheme = classify_tensors([qweight], config)
    assert [(r.logical, r.parameters, r.packing) for r in roles] == [("q.weight", 192, packing)]
    assert type(roles[0].parameters) is int  # a count: 192, never 192.0 in the report
    assert scheme == "gptq"


def test_a_missing_path_is_named_with_what_to_give(tmp_path: Path) -> None:
    from paramcheck.checkpoint.summary import find_weights

    with pytest.raises(CheckpointError) as e:
        find_weights(tmp_path / "nope")
    assert str(e.value) == (
        f"{tmp_path / 'nope'}: no such file or folder; give a .safetensors file, an index.json or a model folder"
    )


def test_a_folder_with_two_default_sharded_sets_asks_for_one(tmp_path: Path) -> None:
    from paramcheck.checkpoint.summary import find_weights

    for stem in ("diffusion_pytorch_model", "model"):
        (tmp_path / f"{stem}.safetensors.index.json").write_text('{"weight_map": {}}')
    with pytest.raises(CheckpointError) as e:
        find_weights(tmp_path)
    assert str(e.value) == (
        f"{tmp_path}: holds several sharded sets (diffusion_pytorch_model.safetensors.index.json, "
        "model.safetensors.index.json); point at one index file"
    )


def test_a_json_that_is_no_index_is_refused(tmp_path: Path) -> None:
    from paramcheck.checkpoint.summary import find_weights

    # an index is *.safetensors.index.json or a variant's *.safetensors.index.<variant>.json; config.json is neither
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="not a safetensors file or index"):
        find_weights(tmp_path / "config.json")
    variant = tmp_path / "model.safetensors.index.fp16.json"
    variant.write_text('{"weight_map": {}}')
    assert find_weights(variant)[0] == "sharded"


def test_an_os_error_without_strerror_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from paramcheck.checkpoint import summary

    def refuse(path: Path, variant: str | None) -> None:
        raise OSError("the disk said no")

    monkeypatch.setattr(summary, "_find_weights", refuse)
    with pytest.raises(CheckpointError) as e:
        summary.find_weights(tmp_path)
    assert str(e.value) == f"{tmp_path}: cannot read (the disk said no); check the path and its permissions"


def test_a_tensor_in_two_shards_names_the_other_shard(tmp_path: Path) -> None:
    from paramcheck.checkpoint.summary import summarize

    save_file({"w": torch.zeros(2)}, str(tmp_path / "a.safetensors"))
    save_file({"w": torch.zeros(2), "v": torch.zeros(3)}, str(tmp_path / "b.safetensors"))
    headers = (read_header(tmp_path / "a.safetensors"), read_header(tmp_path / "b.safetensors"))
    with pytest.raises(CheckpointError) as e:
        summarize("model", headers)
    assert (
        str(e.value)
        == f"{tmp_path / 'b.safetensors'}: tensor 'w' is also in a.safetensors; a tensor belongs to one shard"
    )


def test_summarize_reads_gptq_bits_from_the_config(tmp_path: Path) -> None:
    from paramcheck.checkpoint.summary import summarize

    # AutoGPTQ: qweight [in // 32 * bits, out] int32 -> in * out weights; an 8-bit 64x6 layer stores [16, 6]
    save_file({"l.qweight": torch.zeros(16, 6, dtype=torch.int32)}, str(tmp_path / "q.safetensors"))
    headers = (read_header(tmp_path / "q.safetensors"),)
    eight = summarize("model", headers, config={"quantization_config": {"quant_method": "gptq", "bits": 8}})
    assert eight.parameters == 64 * 6
    # without a config GPTQ's default of 4 bits is assumed: 8 values per int32
    assert summarize("model", headers).parameters == 16 * 6 * 8


def test_declared_ties_join_groups_of_names_in_the_state_dict() -> None:
    from paramcheck.checkpoint.check import _tie_groups

    class Declared(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = torch.nn.Parameter(torch.zeros(2))
            self.b = torch.nn.Parameter(torch.zeros(2))  # not the same tensor: tied only by declaration
            # transformers 5: {target: source}; "c" is in no state dict here and must not join any group
            self.all_tied_weights_keys = {"b": "a", "c": "a"}

    groups = _tie_groups(Declared(), ["a", "b"])
    assert groups == {"a": frozenset({"a", "b"}), "b": frozenset({"a", "b"})}


def test_a_gptq_named_tensor_without_its_qweight_is_a_parameter() -> None:
    # ".scales" is GPTQ's scale only next to a qweight; alone it is a model's own tensor with its 4 values
    roles, scheme = classify_tensors([_info("blk.scales", "F32", (4,), 16)])
    assert [(r.name, r.auxiliary, r.parameters) for r in roles] == [("blk.scales", False, 4)]
    assert scheme is None


def test_an_int8_weight_with_its_scale_counts_no_scale_values() -> None:
    # int8 weight-only quantization: one int8 value per weight, one fp32 scale per output row standing for nothing
    roles, scheme = classify_tensors([_info("l.weight", "I8", (4, 4), 16), _info("l.weight_scale", "F32", (4,), 16)])
    assert [(r.name, r.auxiliary, r.parameters) for r in roles] == [
        ("l.weight", False, 16),
        ("l.weight_scale", True, 0),
    ]
    assert scheme == "int8"


def test_fp4_weights_with_their_scales_count_only_the_packed_values() -> None:
    # NVFP4 (ModelOpt): a [4, 8] uint8 weight holds 64 4-bit values; its fp8 block scales and fp32 global scale
    # stand for no architecture tensor
    roles, scheme = classify_tensors(
        [
            _info("l.weight", "U8", (4, 8), 32),
            _info("l.weight_scale", "F8_E4M3", (4, 1), 4),
            _info("l.weight_scale_2", "F32", (), 4),
        ]
    )
    assert [(r.name, r.auxiliary, r.parameters, r.packing) for r in roles] == [
        ("l.weight", False, 64, "2 per uint8"),
        ("l.weight_scale", True, 0, None),
        ("l.weight_scale_2", True, 0, None),
    ]
    assert scheme == "fp4-scaled"


def test_a_pipeline_component_without_the_variant_reads_its_default_weights(tmp_path: Path) -> None:
    from paramcheck.checkpoint.summary import find_weights

    # diffusers' pipeline loader: a component folder without the asked variant loads its default weights
    (tmp_path / "model_index.json").write_text('{"_class_name": "X", "unet": ["diffusers", "U"]}')
    (tmp_path / "unet").mkdir()
    (tmp_path / "text_encoder").mkdir()
    save_file({"w": torch.zeros(2)}, str(tmp_path / "unet" / "diffusion_pytorch_model.fp16.safetensors"))
    save_file({"w": torch.zeros(2)}, str(tmp_path / "text_encoder" / "model.safetensors"))
    kind, parts, _ = find_weights(tmp_path, variant="fp16")
    assert kind == "pipeline"
    assert parts == {
        "text_encoder": (tmp_path / "text_encoder" / "model.safetensors",),
        "unet": (tmp_path / "unet" / "diffusion_pytorch_model.fp16.safetensors",),
    }


def test_a_header_length_over_100_mb_is_not_quoted(tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", 100_000_001 + 2**40) + b"{}")
    with pytest.raises(CheckpointError) as e:
        read_header(path)
    assert str(e.value) == f"{path}: not a safetensors file: its first 8 bytes are no header length (over 100 MB)"


def test_a_tensor_limit_of_one_is_a_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from paramcheck.sources.headers import validated

    monkeypatch.setenv("PARAMCHECK_MAX_TENSORS", "1")
    one = [("a", "F32", [1], [0, 4])]
    assert [t.name for t in validated("f.safetensors", one, None, data_bytes=4).tensors] == ["a"]
    two = [*one, ("b", "F32", [1], [4, 8])]
    with pytest.raises(CheckpointError) as e:
        validated("f.safetensors", two, None, data_bytes=8)
    assert str(e.value) == (
        "f.safetensors: 2 tensors in one header exceeds the limit of 1; raise it with PARAMCHECK_MAX_TENSORS=10 if "
        "the file is genuine"
    )
    monkeypatch.setenv("PARAMCHECK_MAX_TENSORS", "0")
    with pytest.raises(CheckpointError, match="PARAMCHECK_MAX_TENSORS='0': not a positive integer"):
        validated("f.safetensors", one, None, data_bytes=4)


def test_read_header_messages_for_a_missing_file_a_folder_and_an_unreadable_file(tmp_path: Path) -> None:
    missing, folder = tmp_path / "gone.safetensors", tmp_path / "dir.safetensors"
    folder.mkdir()
    for path, message in ((missing, "file not found"), (folder, "is a folder, not a safetensors file")):
        with pytest.raises(CheckpointError) as e:
            read_header(path)
        assert str(e.value) == f"{path}: {message}"
    loop = tmp_path / "loop.safetensors"
    loop.symlink_to(loop)  # open() fails with ELOOP, whoever runs the test (root reads files of any mode)
    with pytest.raises(CheckpointError) as e:
        read_header(loop)
    assert (
        str(e.value) == f"{loop}: cannot read (Too many levels of symbolic links); check the path and its permissions"
    )
