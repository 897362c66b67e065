"""Bad input: one line naming the model, file or key at fault, exit code 2, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from paramcheck.cli import main
from paramcheck.count import audit
from paramcheck.errors import ConfigError, SourceError, UnknownModelError
from paramcheck.sources import resolve


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_unknown_id_suggests_the_closest() -> None:
    with pytest.raises(UnknownModelError, match=r"unknown model 'flux-dev'; did you mean 'flux\.1-dev'"):
        resolve("flux-dev")


def test_missing_folder() -> None:
    with pytest.raises(SourceError, match=r"^/nonexistent/pipe: no such folder"):
        resolve("/nonexistent/pipe")


def test_folder_without_configs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"holds neither model_index\.json nor config\.json"):
        resolve(str(tmp_path))


def test_malformed_model_index(tmp_path: Path) -> None:
    (tmp_path / "model_index.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"model_index\.json: not valid JSON"):
        resolve(str(tmp_path))


def test_malformed_component_entry(tmp_path: Path) -> None:
    (tmp_path / "model_index.json").write_text(json.dumps({"vae": ["diffusers"]}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"component 'vae' must be \[library, class\]"):
        resolve(str(tmp_path))


def test_missing_component_config(tmp_path: Path, tiny_pipeline_configs_only: Path) -> None:
    folder = _copy(tiny_pipeline_configs_only, tmp_path / "pipe")
    (folder / "vae" / "config.json").unlink()
    with pytest.raises(ConfigError, match=r"AutoencoderKL is a model but its folder has no config\.json"):
        audit(str(folder))


def test_unknown_component_class(tmp_path: Path, tiny_pipeline_configs_only: Path) -> None:
    folder = _copy(tiny_pipeline_configs_only, tmp_path / "pipe")
    index = json.loads((folder / "model_index.json").read_text())
    index["vae"] = ["diffusers", "AutoencoderNope"]
    (folder / "model_index.json").write_text(json.dumps(index))
    config = json.loads((folder / "vae" / "config.json").read_text())
    (folder / "vae" / "config.json").write_text(json.dumps({**config, "_class_name": "AutoencoderNope"}))
    with pytest.raises(ConfigError, match=r"unknown class diffusers\.AutoencoderNope"):
        audit(str(folder))


def test_unbuildable_config_names_the_file(tmp_path: Path, tiny_pipeline_configs_only: Path) -> None:
    folder = _copy(tiny_pipeline_configs_only, tmp_path / "pipe")
    path = folder / "text_encoder_2" / "config.json"
    config = json.loads(path.read_text())
    del config["model_type"]
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=r"text_encoder_2/config\.json: has no 'model_type'"):
        audit(str(folder))


def test_unknown_component_name() -> None:
    with pytest.raises(ConfigError, match=r"flux\.1-dev: no component 'transfomer'; did you mean 'transformer'"):
        audit("flux.1-dev", components=["transfomer"])


def test_cli_error_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "flux-dev"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("paramcheck: error: unknown model 'flux-dev'")


def test_unreadable_folder_as_a_process(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / "config.json").write_text("[1, 2]")
    result = subprocess.run(
        [sys.executable, "-m", "paramcheck", "report", str(folder)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == f"paramcheck: error: {folder / 'config.json'}: expected a JSON object, found list"


def test_config_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_bytes(b'{"_class_name": "caf\xe9"}')  # Latin-1, not UTF-8
    # '{"_class_name": "caf' is 20 bytes: the 0xe9 of the Latin-1 "é" is at offset 20
    with pytest.raises(ConfigError, match=r"config\.json: not UTF-8 \(byte 0xe9 at offset 20\)"):
        resolve(str(tmp_path))


@pytest.mark.parametrize("name", ["..", "../vae", "/etc", "vae/", "./vae", "a\nb", ""])
def test_component_name_that_leaves_the_model_folder(tmp_path: Path, name: str) -> None:
    (tmp_path / "model_index.json").write_text(json.dumps({name: ["diffusers", "AutoencoderKL"]}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"is not a folder inside the model") as error:
        resolve(str(tmp_path))
    assert "\n" not in str(error.value)


def test_component_folder_linking_outside_the_model(tmp_path: Path, tiny_pipeline_configs_only: Path) -> None:
    folder = _copy(tiny_pipeline_configs_only, tmp_path / "pipe")
    outside = _copy(folder / "vae", tmp_path / "outside")
    import shutil

    shutil.rmtree(folder / "vae")
    (folder / "vae").symlink_to(outside, target_is_directory=True)
    with pytest.raises(SourceError, match=r"component 'vae' is a link to .*outside, outside the model folder"):
        resolve(str(folder))


@pytest.mark.parametrize("entry", ["AutoencoderKL", {"a": 1}, None, [None, "AutoencoderKL"]])
def test_malformed_entry_of_a_component_with_a_config(
    tmp_path: Path, tiny_pipeline_configs_only: Path, entry: object
) -> None:
    folder = _copy(tiny_pipeline_configs_only, tmp_path / "pipe")
    index = json.loads((folder / "model_index.json").read_text())
    (folder / "model_index.json").write_text(json.dumps({**index, "vae": entry}))
    with pytest.raises(ConfigError, match=r"component 'vae' must be \[library, class\].*holds a config\.json"):
        resolve(str(folder))


def test_model_index_class_differs_from_the_config_class(tmp_path: Path, tiny_pipeline_configs_only: Path) -> None:
    folder = _copy(tiny_pipeline_configs_only, tmp_path / "pipe")
    index = json.loads((folder / "model_index.json").read_text())
    (folder / "model_index.json").write_text(
        json.dumps({**index, "transformer": ["diffusers", "SD3Transformer2DModel"]})
    )
    with pytest.raises(ConfigError, match=r"names class 'FluxTransformer2DModel' but model_index\.json lists"):
        resolve(str(folder))


@pytest.mark.parametrize("architectures", [5, {"T5": 1}, "T5EncoderModel"])
def test_architectures_not_a_list(tmp_path: Path, architectures: object) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"architectures": architectures}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"'architectures' must be a list of class names"):
        resolve(str(tmp_path))
