"""Issue 13: what paramcheck refuses and the limits it keeps (docs/security.md), each pinned from outside the code:
a class counted by torch, documented default limits, the error text a user is told to act on."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from paramcheck.cli import main
from paramcheck.compute.inputs import ones
from paramcheck.compute.workload import check_sizes
from paramcheck.errors import ConfigError
from paramcheck.fileio import read_json

LIBRARY = "paramcheck_trust_demo"  # a library of the test's own, outside diffusers and transformers

TINY_NET = """
import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config


class TinyNet(ModelMixin, ConfigMixin):
    config_name = "config.json"

    @register_to_config
    def __init__(self, width: int = 4):
        super().__init__()
        self.proj = torch.nn.Linear(width, width)
"""


@pytest.fixture
def trusted_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A pipeline whose component is a class of ``LIBRARY`` (importable, not yet imported), width 3."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / f"{LIBRARY}.py").write_text(TINY_NET, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    monkeypatch.delitem(sys.modules, LIBRARY, raising=False)
    model = tmp_path / "model"
    (model / "net").mkdir(parents=True)
    index = {"_class_name": "DiffusionPipeline", "net": [LIBRARY, "TinyNet"]}
    (model / "model_index.json").write_text(json.dumps(index), encoding="utf-8")
    (model / "net" / "config.json").write_text(json.dumps({"_class_name": "TinyNet", "width": 3}), encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # no pyproject.toml above: only the option trusts
    return model


def test_an_untrusted_library_is_refused_before_it_is_imported(
    trusted_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(trusted_model), "--json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"library '{LIBRARY}' of class 'TinyNet'" in err
    assert "--trust-library NAME" in err
    assert LIBRARY not in sys.modules


def test_trust_library_builds_it(trusted_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(trusted_model), "--json", "--trust-library", LIBRARY]) == 0
    report = json.loads(capsys.readouterr().out)["report"]
    expected = sum(p.numel() for p in torch.nn.Linear(3, 3).parameters())  # torch's count: 3*3 + 3
    assert report["components"][0]["parameters"] == expected == 12


def test_trusted_libraries_in_pyproject(trusted_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pyproject = trusted_model.parent / "pyproject.toml"
    pyproject.write_text(f'[tool.paramcheck]\ntrusted_libraries = ["{LIBRARY}"]\n', encoding="utf-8")
    assert main(["report", str(trusted_model), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["report"]["parameters"] == 12


def test_trust_library_takes_module_names_only(trusted_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["report", str(trusted_model), "--trust-library", "../evil"])
    assert "argument --trust-library: '../evil' is not a module name" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "option", "default"),
    [  # the documented defaults (docs/security.md)
        ("prompt_length", "--prompt-length", 65_536),
        ("batch", "--batch", 1_024),
        ("height", "--height", 16_384),
        ("width", "--width", 16_384),
        ("frames", "--frames", 10_000),
        ("steps", "--steps", 100_000),
    ],
)
def test_size_limits(name: str, option: str, default: int) -> None:
    check_sizes({name: default})
    with pytest.raises(
        ConfigError, match=rf"^{option} {default + 1}: .* exceeds the limit of {default:,} .*PARAMCHECK_"
    ):
        check_sizes({name: default + 1})


def test_size_limit_is_raised_by_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARAMCHECK_MAX_BATCH", "5000")
    check_sizes({"batch": 5000})


def test_memory_report_over_the_batch_limit_is_an_error_not_a_silent_default(
    tiny_pipeline: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --memory falls back to advice without activations when a model has no compute defaults: a size over its
    # limit must not fall back with it
    assert main(["report", str(tiny_pipeline), "--memory", "--batch", "1025", "--json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("paramcheck: error: --batch 1025: ")
    assert "PARAMCHECK_MAX_BATCH" in err


def test_cpu_inputs_are_bounded_before_allocation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARAMCHECK_MAX_INPUT_ELEMENTS", "10")
    assert ones(2, 5).sum().item() == 10
    with pytest.raises(ConfigError, match=r"a 3x4 input on the CPU \(12 elements\) exceeds the limit of 10"):
        ones(3, 4)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b'{"a": 1}\xff', "not UTF-8 (byte 0xff at offset 8)"),  # {"a": 1} is bytes 0-7
        (b'{"a": ' + b"9" * 5000 + b"}", "not usable JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"a": ' + b"[" * 101 + b"]" * 101 + b"}", "nesting 102 levels deep exceeds the limit of 100"),
        (b"[1]", "expected a JSON object, found list"),
    ],
)
def test_read_json_is_total(tmp_path: Path, raw: bytes, says: str) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(raw)
    with pytest.raises(ConfigError) as e:
        read_json(path)
    assert str(e.value).startswith(f"{path}: ")
    assert says in str(e.value)
    assert "\n" not in str(e.value)


def test_read_json_refuses_a_fifo_unread_and_a_big_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match=r"not a regular file"):
        read_json(fifo)  # a blocking open or read would hang here
    big = tmp_path / "big.json"
    big.write_bytes(b'{"a": "' + b"x" * 100 + b'"}')
    monkeypatch.setenv("PARAMCHECK_MAX_FILE_BYTES", "100")
    with pytest.raises(ConfigError, match=r"109 bytes exceeds the limit of 100 bytes .*PARAMCHECK_MAX_FILE_BYTES="):
        read_json(big)


@pytest.fixture
def typo_pipeline(tiny_pipeline: Path, tmp_path: Path) -> Path:
    """The tiny pipeline with a misspelt key in the transformer's config ("num_layer" for "num_layers")."""
    import shutil

    folder = shutil.copytree(tiny_pipeline, tmp_path / "typo")
    path = folder / "transformer" / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text(encoding="utf-8")), "num_layer": 1}), encoding="utf-8")
    return folder


def test_a_config_key_the_class_does_not_take_is_reported(
    typo_pipeline: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from diffusers import FluxTransformer2DModel

    assert "num_layer" not in FluxTransformer2DModel.__init__.__code__.co_varnames  # diffusers' own signature
    assert main(["report", str(typo_pipeline), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["report"]
    transformer = next(c for c in report["components"] if c["name"] == "transformer")
    assert transformer["unused_config_keys"] == ["num_layer"]
    assert any("num_layer" in note for note in report["notes"])


def test_check_names_a_config_key_the_class_does_not_take(
    typo_pipeline: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The loaders ignore a key the class does not take (transformers' own save_pretrained writes some), so check
    judges the weights as they do, and names the key: a misspelling counts the class default."""
    main(["check", str(typo_pipeline)])
    out = " ".join(capsys.readouterr().out.split())
    assert "config key(s) num_layer not taken by" in out


def test_a_cached_count_does_not_lift_the_refusal(trusted_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Counted once with --trust-library (and so cached), the same model without it is still refused by name: the
    result cache never answers for a library the user has not trusted in this run."""
    assert main(["report", str(trusted_model), "--json", "--trust-library", LIBRARY]) == 0
    capsys.readouterr()
    assert main(["report", str(trusted_model), "--json"]) == 2
    assert LIBRARY in capsys.readouterr().err
