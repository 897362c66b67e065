"""Every command shown in README.md and docs/*.md runs, and prints what the page shows.

A page shows a command in a ```` ```console ```` block: ``$ COMMAND`` lines, each followed by its output (stdout and
stderr as a terminal shows them, at 80 columns unless the command sets ``COLUMNS=``), and ``(exit N)`` when it
exits non-zero. A line ``...`` in the shown output stands for any number of lines, ``[...]`` within a line for any
text (timings, free memory). A ```` ```python ```` block runs as written (its asserts are its expected output).
Blocks of any other language (```` ```bash ````, ```` ```text ````) are not run.

The commands run in a fresh folder that holds ``tiny-flux/`` (the tests' toy FLUX pipeline, weights included, saved
by ``save_pretrained``) and ``tiny-flux-converted.safetensors`` (that transformer with a renamed key, a dropped
block and a transposed matrix); ``paramcheck`` runs in this process (``paramcheck.cli.main``), anything else through
the shell. ``PARAMCHECK_UPDATE_DOCS=1 pytest tests/test_docs.py`` rewrites the shown outputs from a run (review the
diff before committing it, as with ``--snapshot-update``).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from paramcheck.cli import main

from .tiny import save_pipeline

REPO = Path(__file__).resolve().parent.parent
PAGES = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")))
UPDATE = os.environ.get("PARAMCHECK_UPDATE_DOCS") == "1"
BLOCK = re.compile(r"^```console\n(.*?)^```\n", re.S | re.M)
PYTHON = re.compile(r"^```python\n(.*?)^```\n", re.S | re.M)
ANY = "..."


@dataclass(frozen=True)
class Example:
    page: Path
    start: int  # offset of the block's body in the page
    body: str  # the block's body as the page has it
    commands: tuple[tuple[str, tuple[str, ...]], ...]  # (command, shown output lines)

    @property
    def id(self) -> str:
        line = self.page.read_text(encoding="utf-8").count("\n", 0, self.start) + 1
        return f"{self.page.relative_to(REPO)}:{line}"


def _examples(page: Path) -> Iterator[Example]:
    text = page.read_text(encoding="utf-8")
    for match in BLOCK.finditer(text):
        commands: list[tuple[str, list[str]]] = []
        for line in match.group(1).splitlines():
            if line.startswith("$ "):
                commands.append((line[2:], []))
            elif commands:
                commands[-1][1].append(line)
            else:
                raise ValueError(f"{page.name}: a console block must start with '$ COMMAND'")
        yield Example(
            page=page,
            start=match.start(1),
            body=match.group(1),
            commands=tuple((c, tuple(out)) for c, out in commands),
        )


EXAMPLES = [e for page in PAGES for e in _examples(page)]


def _matches(shown: tuple[str, ...], actual: list[str]) -> bool:
    """``shown`` equals ``actual`` line by line, a ``...`` line standing for any run of lines."""
    pattern = "".join(
        ".*?\n" if line == ANY else re.escape(line).replace(r"\[\.\.\.\]", ".*?") + "\n" for line in shown
    )
    return re.fullmatch(pattern.replace(".*?\n.*?\n", ".*?\n"), "".join(f"{a}\n" for a in actual), re.S) is not None


def _run(command: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    words = shlex.split(command)
    env = {"COLUMNS": "80"}
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    if words[0] == "paramcheck":
        out = io.StringIO()
        with monkeypatch.context() as m:
            for key, value in env.items():
                m.setenv(key, value)
            m.chdir(folder)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                try:
                    code = main(words[1:])
                except SystemExit as e:  # argparse's usage errors
                    code = int(e.code or 0)
        text = out.getvalue()
    else:
        run = subprocess.run(
            command,
            shell=True,
            cwd=folder,
            env={**os.environ, **env, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=600,
        )
        code, text = run.returncode, run.stdout + run.stderr
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return [*lines, f"(exit {code})"] if code else lines


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, tiny_modules: dict[str, torch.nn.Module]) -> Path:
    root = tmp_path_factory.mktemp("docs")
    save_pipeline(root / "tiny-flux", tiny_modules)
    state = {k: v.contiguous() for k, v in tiny_modules["transformer"].state_dict().items()}
    state["transformer_blocks.0.attn.to_query.weight"] = state.pop("transformer_blocks.0.attn.to_q.weight")
    for name in [n for n in state if n.startswith("single_transformer_blocks.0.")]:
        del state[name]
    state["proj_out.weight"] = state["proj_out.weight"].T.contiguous()
    save_file(state, str(root / "tiny-flux-converted.safetensors"))
    return root


PYTHON_EXAMPLES = [
    pytest.param(m.group(1), id=f"{page.relative_to(REPO)}:{page.read_text().count(chr(10), 0, m.start()) + 1}")
    for page in PAGES
    for m in PYTHON.finditer(page.read_text(encoding="utf-8"))
]


@pytest.mark.parametrize("code", PYTHON_EXAMPLES)
def test_python_example(code: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ```python block runs as written (its asserts are its expected output)."""
    monkeypatch.chdir(folder)
    exec(compile(code, "<example>", "exec"), {"__name__": "__example__"})


def test_pages_have_examples() -> None:
    assert any(e.page.name == "README.md" for e in EXAMPLES), "README.md shows no console example"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.id)
def test_example(example: Example, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outputs = [(command, _run(command, folder, monkeypatch)) for command, _ in example.commands]
    if UPDATE:
        body = "".join(f"$ {c}\n" + "".join(f"{line}\n" for line in out) for c, out in outputs)
        text = example.page.read_text(encoding="utf-8")
        if ANY not in example.body.splitlines():  # blocks with '...' are kept as written
            example.page.write_text(text.replace(example.body, body, 1), encoding="utf-8")
        return
    for (command, shown), (_, actual) in zip(example.commands, outputs, strict=True):
        if not _matches(shown, actual):
            diff = "\n".join(actual)
            pytest.fail(f"{example.id}: `{command}` printed\n{diff}\n\ninstead of what the page shows", pytrace=False)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))
