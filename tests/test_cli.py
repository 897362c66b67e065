"""The command line: tables, JSON envelope, compare, list, python -m."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from paramcheck.cli import main
from paramcheck.results import ModelReport


def test_report_json_envelope(tiny_pipeline: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    assert main(["report", str(tiny_pipeline), "--json", "--output", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["schema"] == 1
    assert data["kind"] == "report"
    assert data["versions"]["torch"].startswith("2.")
    assert data["timestamp"].endswith("+00:00")
    report = ModelReport.from_dict(data["report"])
    assert report.model == "tiny-flux"
    assert report.source.weights is True
    assert {c.name for c in report.components} >= {"text_encoder", "text_encoder_2", "transformer", "vae"}


def test_report_table_lists_components_and_total(tiny_pipeline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tiny_pipeline), "--dtype", "fp32"]) == 0
    out = capsys.readouterr().out
    for word in ("text_encoder_2", "T5EncoderModel", "kB (fp32)", "total", "scheduler"):
        assert word in out


def test_compare_shows_difference(
    tiny_pipeline_configs_only: Path,
    tiny_modules: dict[str, torch.nn.Module],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import shutil

    new = Path(shutil.copytree(tiny_pipeline_configs_only, tmp_path / "new"))
    config_path = new / "transformer" / "config.json"
    config = json.loads(config_path.read_text())
    config["num_single_layers"] += 1
    config_path.write_text(json.dumps(config))
    assert main(["compare", str(tiny_pipeline_configs_only), str(new)]) == 0
    out = capsys.readouterr().out
    # one more single-stream block: its size as the tiny module itself counts it
    block = sum(p.numel() for p in tiny_modules["transformer"].single_transformer_blocks[0].parameters())
    rows: dict[str, str] = {}
    for line in out.splitlines():  # the first table: parameters by role, a column per model, then the difference
        if line.count("│") >= 4:
            rows.setdefault(line.split("│")[1].strip(), line)
    assert rows["denoiser"].rstrip(" │").endswith(f"+{block:,}")
    assert rows["autoencoder"].rstrip(" │").endswith(" 0")


def test_bad_dtype_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["report", "flux.1-dev", "--dtype", "fp7"])
    assert exc.value.code == 2
    assert "unknown dtype 'fp7'" in capsys.readouterr().err


def test_python_dash_m_lists_bundled() -> None:
    result = subprocess.run([sys.executable, "-m", "paramcheck", "list"], capture_output=True, text=True, check=True)
    assert "flux.1-dev" in result.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["load", "x", "--device", "tpu"], "argument --device: unknown device 'tpu'; use one of auto, cpu, cuda"),
        (["load", "x", "--dtype", "fp7"], "argument --dtype: unknown dtype 'fp7'; use one of fp32, fp16, bf16"),
        (["report", "flux.1-dev", "--depth", "0"], "argument --depth: '0' is not a positive integer; pass e.g. 2"),
        (["compare", "flux.1-dev"], "paramcheck: error: compare needs at least two models"),
        (["plot", "flux.1-dev"], "the following arguments are required: --output/-o"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err.splitlines()[-1]
    assert "Traceback" not in err


def test_json_output_that_cannot_be_written(
    tiny_pipeline_configs_only: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tiny_pipeline_configs_only), "--json", "-o", "/no/such/folder/r.json"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "paramcheck: error: /no/such/folder/r.json: no such folder '/no/such/folder'; create it or choose another "
        "--output\n"
    )


def test_cli_import_stays_light() -> None:
    # --help and usage errors answer at once: the command modules import torch only inside their handlers
    code = "import sys, paramcheck.cli; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
