"""The project-facing contracts: the JSON Schema of ``--json``, a key set that does not change with flags, and this
repository's own gate declaring every bundled model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from paramcheck.cli import main
from paramcheck.errors import ConfigError
from paramcheck.project import declared_models
from paramcheck.sources.bundled import bundled_ids

REPO = Path(__file__).resolve().parent.parent
CLI_SCHEMA = json.loads((REPO / "paramcheck" / "schemas" / "cli.schema.json").read_text())


def _json(tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / "out.json"
    assert main([*args, "--json", "-o", str(out)]) == 0
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def test_report_json_keeps_its_keys_with_memory(tiny_pipeline_configs_only: Path, tmp_path: Path) -> None:
    plain = _json(tmp_path, "report", str(tiny_pipeline_configs_only))
    memory = _json(tmp_path, "report", str(tiny_pipeline_configs_only), "--memory")
    jsonschema.validate(plain, CLI_SCHEMA)
    jsonschema.validate(memory, CLI_SCHEMA)
    assert list(plain) == list(memory)  # `views` used to disappear with --flops/--memory
    assert plain["memory"] is None
    assert memory["memory"] is not None
    assert memory["views"] == plain["views"]


def test_compare_json_matches_the_schema(tiny_pipeline_configs_only: Path, tmp_path: Path) -> None:
    data = _json(tmp_path, "compare", str(tiny_pipeline_configs_only), str(tiny_pipeline_configs_only))
    jsonschema.validate(data, CLI_SCHEMA)


def test_schema_rejects_a_report_without_views(tiny_pipeline_configs_only: Path, tmp_path: Path) -> None:
    data = _json(tmp_path, "report", str(tiny_pipeline_configs_only))
    del data["views"]
    with pytest.raises(jsonschema.ValidationError, match="'views' is a required property"):
        jsonschema.validate(data, CLI_SCHEMA)


def test_this_repository_gates_every_bundled_model() -> None:
    # this repository is one user of [tool.paramcheck.models]: a bundled model added without a line is not audited
    declared = declared_models(REPO / "pyproject.toml")
    assert sorted(declared) == sorted(bundled_ids())
    assert all(declared[model] == model for model in declared)


def test_models_table_paths_are_relative_to_pyproject(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.paramcheck.models]\nmine = "models/x"\nbase = "flux.1-dev"\nhub = "hub:org/name@abc"\n')
    assert declared_models(path) == {
        "mine": str(tmp_path / "models" / "x"),
        "base": "flux.1-dev",
        "hub": "hub:org/name@abc",
    }
    path.write_text("[tool.paramcheck.models]\nmine = 3\n")
    with pytest.raises(ConfigError, match=r"mine = 3: not a source; give a folder"):
        declared_models(path)
    assert declared_models(tmp_path / "absent.toml") == {}
