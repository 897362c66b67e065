"""GGUF files from their header (city96's ComfyUI-GGUF layout): per-type parameters and bytes, then the single-file
check on the logical shapes.

Referees: hand counts from the ggml block sizes (Q8_0: 32 values in 34 bytes, Q4_0: 32 values in 18 bytes), the
tiny module's own parameter count, diffusers' own converter (it refuses FLUX widths other than 3072).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from paramcheck.checkpoint import original
from paramcheck.checkpoint.files import FileKind, file_kind
from paramcheck.checkpoint.gguf import GgufReport, inspect_gguf
from paramcheck.cli import main
from paramcheck.errors import CheckpointError

from .tiny import TINY_FLUX_TRANSFORMER

gguf = pytest.importorskip("gguf")


def _write(path: Path, tensors: dict[str, torch.Tensor], qtype: Any) -> Path:
    """city96's rules: 1-D tensors and tensors of <= 1024 values in F32, the rest in ``qtype`` (random payload: a
    header reader never looks at it)."""
    writer = gguf.GGUFWriter(path=None, arch="flux")
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    rng = __import__("numpy").random.default_rng(0)
    for name, tensor in tensors.items():
        shape = tuple(tensor.shape)
        if len(shape) == 1 or tensor.numel() <= 1024:
            writer.add_tensor(name, tensor.float().numpy())
            continue
        byte_shape = gguf.quants.quant_shape_to_byte_shape(shape, qtype)
        writer.add_tensor(name, rng.integers(0, 256, size=byte_shape, dtype="uint8"), raw_dtype=qtype)
    writer.write_header_to_file(path=path)
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="module")
def flux_gguf(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from diffusers import FluxTransformer2DModel

    folder = tmp_path_factory.mktemp("gguf")
    torch.manual_seed(0)
    model = FluxTransformer2DModel(**TINY_FLUX_TRANSFORMER)
    model.save_pretrained(folder / "base")
    for weights in (folder / "base").glob("*.safetensors"):
        weights.unlink()
    tensors = original.flux_to_original(model.state_dict(), model.config)
    file = _write(folder / "flux-Q8_0.gguf", tensors, gguf.GGMLQuantizationType.Q8_0)
    return {"file": file, "base": folder / "base", "tensors": tensors, "model": model}


def test_gguf_types_by_hand(flux_gguf: dict[str, Any]) -> None:
    tensors = flux_gguf["tensors"]
    small = [t for t in tensors.values() if t.ndim == 1 or t.numel() <= 1024]
    large = [t for t in tensors.values() if not (t.ndim == 1 or t.numel() <= 1024)]
    assert file_kind(flux_gguf["file"]) is FileKind.GGUF
    report = inspect_gguf(flux_gguf["file"], check=False)
    f32, q8 = report.qtype("F32"), report.qtype("Q8_0")
    assert f32 is not None
    assert q8 is not None
    assert (f32.tensors, f32.parameters, f32.bytes) == (
        len(small),
        sum(t.numel() for t in small),
        4 * sum(t.numel() for t in small),
    )
    q8_values = sum(t.numel() for t in large)
    assert (q8.tensors, q8.parameters, q8.bytes) == (len(large), q8_values, q8_values // 32 * 34)  # 8.5 bits/value
    assert report.parameters == sum(p.numel() for p in flux_gguf["model"].parameters())
    assert dict(report.fields)["general.architecture"] == "flux"


def test_gguf_checked_on_logical_shapes(flux_gguf: dict[str, Any], tmp_path: Path) -> None:
    report = inspect_gguf(flux_gguf["file"], against=str(flux_gguf["base"]))
    single = report.single_file
    assert single is not None
    assert single.identity.family == "flux"
    transformer = single.check("model")
    assert transformer is not None
    assert transformer.ok  # names and logical shapes are the architecture's
    assert transformer.parameters == sum(p.numel() for p in flux_gguf["model"].parameters())
    assert transformer.loader is not None
    # diffusers' FLUX converter hard-codes width 3072: from_single_file cannot load a 32-wide file at all
    assert transformer.loader.error is not None
    assert "3072" in transformer.loader.error
    tensors = dict(flux_gguf["tensors"])
    tensors["txt_in.weight"] = torch.zeros(32, 64)
    mutant = _write(tmp_path / "mutant.gguf", tensors, gguf.GGMLQuantizationType.Q8_0)
    bad = inspect_gguf(mutant, against=str(flux_gguf["base"])).single_file
    assert bad is not None
    assert [(s.name, s.found, s.expected) for s in bad.checks[0].shapes] == [("txt_in.weight", (32, 64), (32, 32))]


def test_gguf_q4_0_bits(tmp_path: Path) -> None:
    file = _write(
        tmp_path / "q4.gguf",
        {"double_blocks.0.img_attn.qkv.weight": torch.zeros(96, 64)},
        gguf.GGMLQuantizationType.Q4_0,
    )
    report = inspect_gguf(file, check=False)
    q4 = report.qtype("Q4_0")
    assert q4 is not None
    assert (q4.parameters, q4.bytes) == (96 * 64, 96 * 64 // 32 * 18)  # 4.5 bits per value


def test_truncated_gguf_is_one_line(flux_gguf: dict[str, Any], tmp_path: Path) -> None:
    data = flux_gguf["file"].read_bytes()
    for cut in (100, len(data) // 2):
        broken = tmp_path / f"cut{cut}.gguf"
        broken.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="not a readable GGUF file"):
            inspect_gguf(broken)


def test_cli_gguf(flux_gguf: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(flux_gguf["file"])]) == 0
    out = capsys.readouterr().out
    assert "GGUF" in out
    assert "Q8_0" in out
    assert main(["check", str(flux_gguf["file"]), "--against", str(flux_gguf["base"])]) == 0
    report = inspect_gguf(flux_gguf["file"], against=str(flux_gguf["base"]))
    assert GgufReport.from_dict(report.to_dict()) == report
