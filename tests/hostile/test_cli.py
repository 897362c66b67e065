"""Hostile command lines: arguments, option combinations, [tool.paramcheck] in pyproject.toml, output paths and
stdout itself (fuzz.md surface 1, findings 5, 9 and 10)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.corpus import (
    NON_UTF8,
    Expect,
    assert_contract,
    cli,
    error,
    fifo,
    ok,
    python_m,
    watch,
    write_json,
)

# --- [tool.paramcheck] rules and categories (fuzz 9: wrong types gave tracebacks) -------------------------------------

RULE = 'view = "role"\ncategory = "attention"\n'


@dataclass(frozen=True)
class TomlCase:
    id: str
    text: str | bytes
    expect: Expect
    where: str = "--config"  # --config | cwd | parent (picked up implicitly from the working directory upwards)
    extra: dict[str, Any] = field(default_factory=dict)


def _rule(body: str) -> str:
    return f"[[tool.paramcheck.rules]]\n{RULE}{body}\n"


TOML = [
    TomlCase("tool-is-an-int", "tool = 5\n", error("pyproject.toml")),
    TomlCase("tool-is-a-string", 'tool = "paramcheck"\n', error("pyproject.toml")),
    TomlCase("paramcheck-is-an-int", "[tool]\nparamcheck = 5\n", error("pyproject.toml")),
    TomlCase("rules-is-an-int", "[tool.paramcheck]\nrules = 5\n", error("pyproject.toml", "rules")),
    TomlCase("rules-is-a-string", '[tool.paramcheck]\nrules = "abc"\n', error("pyproject.toml", "rules")),
    TomlCase("rule-class-int", _rule("class = 123"), error("pyproject.toml", "class")),
    TomlCase("rule-class-list", _rule('class = ["Linear"]'), error("pyproject.toml", "class")),
    TomlCase("rule-children-int", _rule("children = 5"), error("pyproject.toml", "children")),
    TomlCase("rule-children-list-of-int", _rule("children = [5]"), error("pyproject.toml", "children")),
    TomlCase("rule-path-int", _rule("path = 5"), error("pyproject.toml", "path")),
    TomlCase("rule-attr-bool", _rule("attr = true"), error("pyproject.toml", "attr")),
    TomlCase("rule-library-int", _rule('attr = "to_q"\nlibrary = 5'), error("pyproject.toml", "library")),
    TomlCase("rule-within-list", _rule('attr = "to_q"\nwithin = []'), error("pyproject.toml", "within")),
    TomlCase("rule-parameter-float", _rule("parameter = 1.5"), error("pyproject.toml", "parameter")),
    TomlCase("rule-leaf-string-no", _rule('attr = "to_q"\nleaf = "no"'), error("pyproject.toml", "leaf")),
    TomlCase(
        "rule-view-list",
        '[[tool.paramcheck.rules]]\nview = ["role"]\ncategory = "attention"\nattr = "x"\n',
        error("pyproject.toml", "view"),
    ),
    TomlCase(
        "rule-category-int",
        '[[tool.paramcheck.rules]]\nview = "role"\ncategory = 5\nattr = "x"\n',
        error("pyproject.toml"),
    ),
    TomlCase("rule-glob-pathological", _rule('attr = "' + "*a" * 200 + '"'), Expect(codes=(0, 2), quiet=False)),
    TomlCase("categories-int", "[tool.paramcheck]\ncategories = 5\n", error("pyproject.toml", "categories")),
    TomlCase(
        "category-seed-list",
        '[tool.paramcheck.categories]\nlora = { en = "LoRA", seed = [] }\n',
        error("pyproject.toml", "lora"),
    ),
    TomlCase(
        "category-seed-table",
        '[tool.paramcheck.categories]\nlora = { en = "LoRA", seed = {a = 1} }\n',
        error("pyproject.toml", "lora"),
    ),
    TomlCase("category-en-int", "[tool.paramcheck.categories]\nlora = { en = 5 }\n", error("pyproject.toml", "lora")),
    TomlCase(
        "category-zh-table",
        '[tool.paramcheck.categories]\nlora = { en = "LoRA", zh = {a = 1} }\n',
        error("pyproject.toml", "lora"),
    ),
    TomlCase(
        "category-id-newline",
        '[tool.paramcheck.categories]\n"lo\\nra" = { en = "LoRA", seed = "linear" }\n',
        Expect(codes=(0, 2), quiet=False),
    ),
    TomlCase("not-toml", "[tool.paramcheck\n", error("pyproject.toml")),
    TomlCase("non-utf8", NON_UTF8, error("pyproject.toml")),
    TomlCase("non-utf8-in-cwd", NON_UTF8, error("pyproject.toml"), where="cwd"),
    TomlCase("non-utf8-in-a-parent-folder", NON_UTF8, error("pyproject.toml"), where="parent"),
    TomlCase(
        "rule-class-int-in-a-parent-folder", _rule("class = 123"), error("pyproject.toml", "class"), where="parent"
    ),
    TomlCase("100k-deep-array", "a = " + "[" * 100_000 + "]" * 100_000 + "\n", error("pyproject.toml")),
    TomlCase("unreadable", _rule('attr = "x"'), error("pyproject.toml"), extra={"chmod": 0, "drop_dac": True}),
]


@pytest.mark.parametrize("case", TOML, ids=[c.id for c in TOML])
def test_pyproject(case: TomlCase, pipeline: Path, root: Path) -> None:
    work = root / "work"
    if case.where == "parent":
        work = root / "work" / "deep" / "er"
        work.mkdir(parents=True)
    path = (root / "pyproject.toml") if case.where == "parent" else (work / "pyproject.toml")
    path.write_bytes(case.text if isinstance(case.text, bytes) else case.text.encode())
    if "chmod" in case.extra:
        path.chmod(case.extra["chmod"])
    args = ["report", str(pipeline)] + (["--config", str(path)] if case.where == "--config" else [])
    tree = watch(root)
    outcome = cli(args, cwd=work, drop_dac=case.extra.get("drop_dac", False))
    assert_contract(outcome, case.expect, extra=tree.changes())


def test_pyproject_fifo_is_refused_not_waited_on(pipeline: Path, root: Path) -> None:
    path = fifo(root / "work" / "pyproject.toml")
    assert_contract(cli(["report", str(pipeline), "--config", str(path)], cwd=root / "work"), error("pyproject.toml"))


def test_pyproject_folder(pipeline: Path, root: Path) -> None:
    (root / "work" / "pyproject.toml").mkdir()
    args = ["report", str(pipeline), "--config", str(root / "work" / "pyproject.toml")]
    assert_contract(cli(args, cwd=root / "work"), error("pyproject.toml"))


# --- arguments and option combinations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArgCase:
    id: str
    args: Callable[[Path, Path], list[str]]  # (pipeline, case root) -> argv
    expect: Expect
    setup: Callable[[Path, Path], Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _report(*options: str) -> Callable[[Path, Path], list[str]]:
    return lambda p, r: ["report", str(p), *options]


def _loop(p: Path, r: Path) -> None:
    (r / "work" / "cli").mkdir()
    (r / "work" / "cli" / "loop1").symlink_to("loop2")
    (r / "work" / "cli" / "loop2").symlink_to("loop1")


def _clip_positions(n: int) -> Callable[[Path, Path], None]:
    def setup(p: Path, r: Path) -> None:
        path = p / "text_encoder" / "config.json"
        import json

        write_json(path, {**json.loads(path.read_text()), "max_position_embeddings": n})

    return setup


def _lenient(*names: str) -> Expect:
    """A valid input: exit 0 bounded, or a one-line error naming ``names``."""
    return Expect(codes=(0, 2), names=names, quiet=False)


ARGS = [
    # sizes from the command line (fuzz 5: real CPU memory in proportion to them)
    ArgCase(
        "flops-prompt-length-1e8",
        _report("--flops", "--prompt-length", "100000000", "--json"),
        error("--prompt-length"),
    ),
    ArgCase(
        "flops-prompt-length-1e9",
        _report("--flops", "--prompt-length", "1000000000", "--json"),
        error("--prompt-length"),
    ),
    ArgCase(
        "flops-prompt-length-1e23",
        _report("--flops", "--prompt-length", "1" + "0" * 23, "--json"),
        error("--prompt-length"),
    ),
    ArgCase("flops-batch-1e9", _report("--flops", "--batch", "1000000000", "--json"), error("--batch")),
    ArgCase("memory-batch-1e9", _report("--memory", "--batch", "1000000000", "--json"), error("--batch")),
    ArgCase(
        "flops-height-width-1e9",
        _report("--flops", "--height", "1000000000", "--width", "1000000000"),
        error("--height"),
    ),
    ArgCase("flops-steps-1e12", _report("--flops", "--steps", "1000000000000", "--json"), _lenient("--steps")),
    ArgCase(
        "flops-clip-max-positions-1e8",
        _report("--flops", "--json"),
        _lenient("max_position_embeddings"),
        _clip_positions(100_000_000),
    ),
    ArgCase(
        "flops-clip-max-positions-1e9",
        _report("--flops", "--json"),
        _lenient("max_position_embeddings"),
        _clip_positions(1_000_000_000),
    ),
    ArgCase("flops-height-7", _report("--flops", "--height", "7"), error("--height")),
    ArgCase("flops-unknown-gpu", _report("--flops", "--gpu", "No Such GPU"), error("No Such GPU")),
    ArgCase("batch-zero", _report("--batch", "0"), error("--batch", usage=True)),
    ArgCase("batch-negative", _report("--batch", "-1"), error("--batch", usage=True)),
    ArgCase("batch-float", _report("--batch", "1.5"), error("--batch", usage=True)),
    ArgCase("batch-empty", _report("--batch", ""), error("--batch", usage=True)),
    ArgCase("batch-exponent", _report("--batch", "1e3"), error("--batch", usage=True)),
    ArgCase("dtype-unknown", _report("--dtype", "int3"), error("--dtype", usage=True)),
    ArgCase("lang-unknown", _report("--lang", "fr"), error("--lang", usage=True)),
    # options that would be silently ignored (issue 13: make them errors)
    ArgCase(
        "output-without-json", lambda p, r: ["report", str(p), "-o", str(r / "work" / "out.json")], error("--json")
    ),
    ArgCase("filter-without-layers", _report("--filter", "attn"), error("--layers")),
    ArgCase("depth-without-layers", _report("--depth", "2"), error("--layers")),
    ArgCase("top-without-layers", _report("--top", "3"), error("--layers")),
    ArgCase("no-fold-without-layers", _report("--no-fold"), error("--layers")),
    ArgCase(
        "frames-on-an-image-model",
        _report("--flops", "--frames", "8", "--json"),
        error("--frames", accept_notes=(r"--frames",)),
    ),
    ArgCase("revision-on-a-folder", _report("--revision", "main"), error("--revision")),
    ArgCase("compare-one-model", lambda p, r: ["compare", str(p)], error("compare", usage=True)),
    ArgCase("no-command", lambda p, r: [], error("COMMAND", usage=True)),
    ArgCase("unknown-command", lambda p, r: ["count", str(p)], error("count", usage=True)),
    # output files
    ArgCase(
        "output-in-missing-folder",
        lambda p, r: ["report", str(p), "--json", "-o", str(r / "nope" / "out.json")],
        error("out.json"),
    ),
    ArgCase("output-is-a-folder", lambda p, r: ["report", str(p), "--json", "-o", str(r / "work")], error("work")),
    ArgCase("output-dev-full", lambda p, r: ["report", str(p), "--json", "-o", "/dev/full"], error("/dev/full")),
    ArgCase("output-with-nul", lambda p, r: ["report", str(p), "--json", "-o", "out\x00.json"], error("--output")),
    ArgCase(
        "output-fifo",
        lambda p, r: ["report", str(p), "--json", "-o", str(r / "work" / "out.fifo")],
        error("out.fifo"),
        lambda p, r: fifo(r / "work" / "out.fifo"),
    ),
    ArgCase(
        "html-in-missing-folder", lambda p, r: ["report", str(p), "--html", str(r / "nope" / "r.html")], error("r.html")
    ),
    ArgCase("plot-in-missing-folder", lambda p, r: ["plot", str(p), "-o", str(r / "nope" / "p.png")], error("p.png")),
    ArgCase("plot-unknown-extension", lambda p, r: ["plot", str(p), "-o", str(r / "work" / "p.txt")], error("p.txt")),
    # model arguments (fuzz 10: misleading errors)
    ArgCase(
        "symlink-loop-is-a-path-not-a-hub-id",
        lambda p, r: ["report", "cli/loop1"],
        error("loop1", avoid=("unreachable", "offline", "hub:"), avoid_class="message"),
        _loop,
    ),
    ArgCase("missing-relative-folder", lambda p, r: ["report", "nosuch/model"], error("nosuch/model")),
    ArgCase("path-with-newline", lambda p, r: ["report", str(r / "a\nb")], error("b")),
    ArgCase("path-with-nul", lambda p, r: ["report", str(r / "a\x00b")], error("a")),
    ArgCase("path-too-long", lambda p, r: ["report", "/".join(["x" * 250] * 20)], error("xxxx")),
    ArgCase("path-is-a-file", lambda p, r: ["report", str(p / "model_index.json")], error("model_index.json")),
    ArgCase("path-is-dev-zero", lambda p, r: ["report", "/dev/zero"], error("/dev/zero")),
    ArgCase("path-is-root", lambda p, r: ["report", "/"], error("/")),
    ArgCase("empty-model-argument", lambda p, r: ["report", ""], error()),
    ArgCase("id-with-rtl-override", lambda p, r: ["report", "flux\u202e.1-dev"], error("flux")),
    ArgCase("bundled-id-with-trailing-space", lambda p, r: ["report", "flux.1-dev "], error("flux.1-dev")),
    ArgCase("compare-with-missing-second", lambda p, r: ["compare", str(p), str(r / "nope")], error("nope")),
]


@pytest.mark.parametrize("case", ARGS, ids=[c.id for c in ARGS])
def test_arguments(case: ArgCase, pipeline: Path, root: Path) -> None:
    if case.setup is not None:
        case.setup(pipeline, root)
    tree = watch(root)
    args = case.args(pipeline, root)
    extra = {"deadline": 15.0, **case.extra} if {"--flops", "--memory", "--html"} & set(args) else case.extra
    outcome = cli(args, cwd=root / "work", **extra)
    assert_contract(outcome, case.expect, extra=tree.changes())


# --- stdout that cannot take the output: a real interpreter, since the failure happens at its exit ------------------


@pytest.mark.parametrize(
    ("name", "args", "suffix", "env", "expect"),
    [
        (
            "stdout-ascii-only",
            "report",
            "",
            {"PYTHONIOENCODING": "ascii"},
            Expect(codes=(0, 2), names=("stdout",), quiet=False),
        ),
        ("stdout-closed", "list", ">&-", {}, error("stdout", quiet=False)),
        ("stdout-full", "list", ">/dev/full", {}, error("stdout", quiet=False)),
        (
            "stdout-broken-pipe",
            "list",
            "| head -c 10 >/dev/null; exit ${PIPESTATUS[0]}",
            {},
            Expect(codes=(0, 2, 141), quiet=False),
        ),
    ],
)
def test_stdout(
    name: str, args: str, suffix: str, env: dict[str, str], expect: Expect, pipeline: Path, root: Path
) -> None:
    argv = ["report", str(pipeline)] if args == "report" else ["list", "--no-totals"]
    outcome = python_m(argv, cwd=root / "work", env=env, shell_suffix=suffix)
    avoid = [f"[traceback] {line}" for line in outcome.stderr.splitlines() if "Exception ignored" in line]
    assert_contract(outcome, expect, extra=avoid)


def test_report_runs_no_code_from_the_working_directory(pipeline: Path, root: Path) -> None:
    """``python -m paramcheck`` (the README's invocation) puts the working directory on sys.path (fuzz 2)."""
    import json

    marker = root / "work" / "evil-ran"
    (pipeline / "evil_helper.py").write_text(f"open({str(marker)!r}, 'w').write('x')\nclass Model: pass\n")
    index = json.loads((pipeline / "model_index.json").read_text())
    index["vae"] = ["evil_helper", "Model"]
    (pipeline / "model_index.json").write_text(json.dumps(index))
    outcome = python_m(["report", "."], cwd=pipeline)
    extra = ["[security] evil_helper.py next to the model ran"] if marker.exists() else []
    assert_contract(outcome, error("vae", klass="security"), extra=extra)


def test_valid_report_is_clean(pipeline: Path, root: Path, tiny_totals: dict[str, int]) -> None:
    """The baseline every hostile case departs from: exit 0, nothing on stderr, the torch-counted total."""
    outcome = cli(["report", str(pipeline), "--json"], cwd=root / "work")
    assert_contract(outcome, ok(), extra=[] if outcome.stderr == "" else ["[lines] stderr is not empty"])
    assert str(tiny_totals["total"]) in outcome.stdout
