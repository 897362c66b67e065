"""``paramcheck init``: the regression gate in the current project, written in one command.

It writes (or completes; nothing else in the files changes):

- ``[tool.paramcheck.models]`` in pyproject.toml, one line per model (created if absent);
- ``verbosity_assertions = 2`` in ``[tool.pytest.ini_options]`` when pytest reads its settings from pyproject.toml
  (or from nowhere yet), so a failing gate shows its whole diff;
- the test module that collects the shipped audits (``tests/test_paramcheck.py``);
- the snapshot folder (``snapshots/``);

then prints the next command. The first ``pytest`` records the snapshots; a changed config then fails with a diff.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ParamcheckError
from ..project import PYPROJECT
from ..sources import resolve
from ..sources.bundled import bundled_ids
from ..sources.hub import parse_hub_spec

if TYPE_CHECKING:
    from .common import Subparsers

__all__ = ["init_command", "init_command_parser"]

TEST_MODULE = '''"""paramcheck's regression gate over the models of [tool.paramcheck.models] in pyproject.toml.

The first `pytest` records snapshots/{stem}/<model>.json (commit them); then a changed config fails with a diff
per count, and `pytest --snapshot-update` accepts the change. Written by `paramcheck init`.
"""

from paramcheck.audits import *  # noqa: F403
'''
VERBOSITY = "verbosity_assertions"
OTHER_PYTEST_CONFIGS = (
    ("pytest.ini", None),
    (".pytest.ini", None),
    ("tox.ini", "[pytest]"),
    ("setup.cfg", "[tool:pytest]"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Declared:
    """One model for the table: its id, and its source as written into pyproject.toml."""

    model: str
    value: str


def init_command_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "init",
        help="write a regression gate for these models in the current project",
        description="Write the regression gate here: [tool.paramcheck.models] in pyproject.toml, a test module, "
        "the snapshot folder. Then run pytest: the first run records, later runs fail when a count changes.",
    )
    p.add_argument(
        "models",
        nargs="+",
        metavar="[ID=]SOURCE",
        help="a model folder (relative to here), a bundled id (paramcheck list) or hub:ORG/NAME@REV; "
        "ID defaults to the folder's, id's or repository's name",
    )
    p.add_argument(
        "--test-file",
        default="tests/test_paramcheck.py",
        metavar="PATH",
        help="the test module to write (default: tests/test_paramcheck.py)",
    )
    p.set_defaults(func=init_command)


def init_command(args: argparse.Namespace) -> int:
    root = Path.cwd()
    declared = [_declared(text, root) for text in args.models]
    pyproject = root / PYPROJECT
    done = [_write_pyproject(pyproject, declared)]
    done.append(_write_test_module(root / args.test_file))
    snapshots = root / "snapshots"
    snapshots.mkdir(exist_ok=True)
    done.append("snapshots/: the snapshot folder (the first pytest run fills it)")
    hint = _pytest_config_hint(root)
    test_file = Path(args.test_file).as_posix()
    print("paramcheck init:")
    for line in done:
        print(f"  {line}")
    if hint:
        print(f"  note: {hint}")
    print(
        f"next: pytest {test_file}    (records snapshots/{Path(test_file).stem}/*.json on the first run; commit them)"
    )
    return 0


def _declared(text: str, root: Path) -> Declared:
    """``[ID=]SOURCE`` checked now (a folder that exists and holds configs, a bundled id, a hub id's form), so the
    first pytest run does not fail on a typo."""
    model, sep, value = text.partition("=")
    if not sep:
        model, value = "", text
    value = value.strip()
    if not value:
        raise ParamcheckError(f"{text!r}: no source after '='; write ID=SOURCE, e.g. my-flux=models/my-flux")
    if value.startswith("hub:"):
        repo, _ = parse_hub_spec(value[len("hub:") :])
        return Declared(model=model or repo.rpartition("/")[2], value=value)
    if value in bundled_ids():
        return Declared(model=model or value, value=value)
    path = Path(value).expanduser()
    folder = path if path.is_absolute() else root / path
    if not folder.is_dir():
        raise ParamcheckError(
            f"{value}: no such folder; give a model folder, a bundled id (paramcheck list) or hub:ORG/NAME@REV"
        )
    resolve(folder)  # its configs read now: a folder without model_index.json or config.json fails here
    written = folder.resolve()
    try:
        shown = written.relative_to(root.resolve()).as_posix()
    except ValueError:
        shown = str(written)
    return Declared(model=model or written.name, value=shown)


def _write_pyproject(path: Path, declared: list[Declared]) -> str:
    """Add the models to ``[tool.paramcheck.models]`` (and the assertion verbosity where pytest reads it), keeping
    every other line of the file as it was."""
    import tomlkit

    try:
        document = tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
    except tomlkit.exceptions.ParseError as e:
        raise ParamcheckError(f"{path}: not valid TOML ({e}); fix the file, then run paramcheck init again") from e
    tool = _table(document, "tool", path)
    paramcheck = _table(tool, "paramcheck", path)
    models = _table(paramcheck, "models", path)
    for entry in declared:
        models[entry.model] = entry.value
    pytest_table = _pytest_table(document, tool, path)
    if pytest_table is not None and VERBOSITY not in pytest_table:
        pytest_table[VERBOSITY] = 2
    path.write_text(tomlkit.dumps(document), encoding="utf-8")
    lines = ", ".join(f'{d.model} = "{d.value}"' for d in declared)
    return f"{PYPROJECT}: [tool.paramcheck.models] {lines}"


def _table(parent: Any, key: str, path: Path) -> Any:
    import tomlkit

    if key not in parent:
        parent[key] = tomlkit.table(is_super_table=key in ("tool", "paramcheck", "pytest"))
    table = parent[key]
    if not isinstance(table, dict):
        raise ParamcheckError(f"{path}: {key} is not a table; make it one, then run paramcheck init again")
    return table


def _pytest_table(document: Any, tool: Any, path: Path) -> Any:
    """The table pytest reads in pyproject.toml: ``[tool.pytest.ini_options]`` (or pytest 9's ``[tool.pytest]``);
    one is added when no other file configures pytest; ``None`` when another file does."""
    pytest_tool = tool.get("pytest")
    if isinstance(pytest_tool, dict):
        options = pytest_tool.get("ini_options")
        return options if isinstance(options, dict) else pytest_tool
    if _other_pytest_config(path.parent) is not None:
        return None
    return _table(_table(tool, "pytest", path), "ini_options", path)


def _other_pytest_config(root: Path) -> Path | None:
    for name, section in OTHER_PYTEST_CONFIGS:
        candidate = root / name
        if not candidate.is_file():
            continue
        if section is None or section in candidate.read_text(encoding="utf-8", errors="replace"):
            return candidate
    return None


def _pytest_config_hint(root: Path) -> str | None:
    other = _other_pytest_config(root)
    if other is None:
        return None
    return f"pytest reads {other.name}: add '{VERBOSITY} = 2' there to see a failing gate's whole diff"


def _write_test_module(path: Path) -> str:
    text = TEST_MODULE.format(stem=path.stem)
    shown = path.relative_to(Path.cwd()).as_posix() if path.is_relative_to(Path.cwd()) else str(path)
    if path.exists():
        if path.read_text(encoding="utf-8") == text:
            return f"{shown}: already the gate's test module"
        return f"{shown}: exists and was left as it is (it should contain: from paramcheck.audits import *)"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return f"{shown}: the test module that collects the audits"
