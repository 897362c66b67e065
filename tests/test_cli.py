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


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("-o", "out.json"), "--output needs --json"),
        (("--filter", "attn"), "--filter needs --layers"),
        (("--depth", "2"), "--depth needs --layers"),
        (("--top", "3"), "--top needs --layers"),
        (("--no-fold",), "--no-fold needs --layers"),
    ],
)
def test_options_that_would_do_nothing_are_refused(
    tiny_pipeline_configs_only: Path, capsys: pytest.CaptureFixture[str], extra: tuple[str, ...], message: str
) -> None:
    assert main(["report", str(tiny_pipeline_configs_only), *extra]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"paramcheck: error: {message}")
    assert captured.err.count("\n") == 1
    assert captured.out == ""


def test_json_output_to_a_fifo_or_a_nul_name_is_one_line(
    tiny_pipeline_configs_only: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)  # nobody reads it: the write must fail at once, not wait
    for output, names in ((str(fifo), "out.fifo"), ("out\x00.json", "--output")):
        assert main(["report", str(tiny_pipeline_configs_only), "--json", "-o", output]) == 2
        err = capsys.readouterr().err
        assert err.startswith("paramcheck: error: ")
        assert names in err
        assert err.count("\n") == 1


def test_symlink_loop_is_a_path_error_not_a_hub_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "org").mkdir()
    (tmp_path / "org" / "loop").symlink_to(tmp_path / "org" / "loop")
    assert main(["report", str(tmp_path / "org" / "loop")]) == 2
    err = capsys.readouterr().err
    assert "a link that leads nowhere" in err
    assert "hub" not in err


def test_stdout_full_or_ascii_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    # a real interpreter: the failures show when stdout is flushed, at the latest at the interpreter's exit
    with open("/dev/full", "w") as device:
        full = subprocess.run(
            [sys.executable, "-m", "paramcheck", "list"], stdout=device, stderr=subprocess.PIPE, text=True
        )
    assert full.returncode == 2
    assert full.stderr == (
        "paramcheck: error: cannot write to stdout (No space left on device); free space or write with -o\n"
    )
    closed = subprocess.run(
        [sys.executable, "-m", "paramcheck", "list"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: __import__("os").close(1),
    )
    assert closed.returncode == 2
    assert closed.stderr.startswith("paramcheck: error: stdout is closed")
