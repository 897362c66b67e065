"""Output a person can read (issue 17): every table at 80 and 200 columns with no digit cut, one unit system, the
summary first, compare lined up by role, Chinese headings, options that would do nothing refused before any work.

The tiny pipeline's counts are scaled up (every parameter count x 10**5: the FLUX-sized 16.45 B) so that the
numbers are as wide as a real model's; what a number must look like is written here by hand, not taken from the
formatters under test.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from rich.cells import cell_len
from rich.console import Console

from paramcheck.cli import main
from paramcheck.cli.compare import print_compare
from paramcheck.cli.report import _print_compute, _print_report
from paramcheck.compute.analysis import Analysis, analyse
from paramcheck.count import audit
from paramcheck.listing import component_role, fold, merge_views
from paramcheck.render import RenderOptions
from paramcheck.results import ModelReport
from tests.tiny import scale_counts

SCALE = 10**5
WIDTHS = (80, 200)


@pytest.fixture(scope="module")
def big_analysis(tiny_pipeline_configs_only: Path) -> Analysis:
    """The tiny pipeline's analysis (64x64, 2 steps) with layers, every count x 10**5."""
    analysis = analyse(str(tiny_pipeline_configs_only), height=64, width=64, steps=2, layers=True)
    keys = frozenset({"parameters", "flops", "peak_activation_bytes"})
    return Analysis.from_dict(scale_counts(analysis.to_dict(), keys, SCALE))


@pytest.fixture(scope="module")
def big_reports(big_analysis: Analysis) -> list[ModelReport]:
    """Three models to compare: the scaled report, a copy without text_encoder_2, a copy renamed."""
    data = big_analysis.report.to_dict()
    second = data | {"model": "second-model", "components": [c for c in data["components"] if c["name"] != "vae"]}
    third = data | {"model": "a-third-model-with-a-long-name"}
    return [big_analysis.report, ModelReport.from_dict(second), ModelReport.from_dict(third)]


def _render(width: int, draw: Callable[[Console, RenderOptions], None], lang: str = "en") -> str:
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None, soft_wrap=False)
    draw(console, RenderOptions(width=width, lang=lang))
    return console.export_text()


def _args(**given: Any) -> Any:
    import argparse

    return argparse.Namespace(**({"views": False, "layers": False, "flops": False, "memory": False} | given))


def _compact(n: int) -> str:
    """By hand: 16.45 B, 123.06 M, 48.11 k, below 1,000 as is."""
    for base, suffix in ((10**9, "B"), (10**6, "M"), (10**3, "k")):
        if n >= base:
            return f"{n / base:.2f} {suffix}"
    return str(n)


def _counts(data: Any) -> Iterator[int]:
    """Every parameter count in a report's JSON."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            if key == "parameters" and isinstance(value, int):
                yield value
            else:
                yield from _counts(value)
    elif isinstance(data, list):
        for value in data:
            yield from _counts(value)


def _assert_readable(out: str, width: int, numbers: list[int]) -> None:
    assert "…" not in out, "a cell was cut"
    assert max(cell_len(line) for line in out.splitlines()) <= width
    ends = {"┏": "┓", "┃": "┃", "┡": "┩", "│": "│", "├": "┤", "└": "┘"}
    for line in out.splitlines():  # a table wider than the terminal is cropped: its right border goes missing
        if line[:1] in ends:
            assert line.endswith(ends[line[0]]), f"cropped: {line}"
    tokens = set(re.findall(r"[\d,.]+(?: [kMB]\b)?", out))
    for n in numbers:  # whole: exact with separators, or compact with its unit; never a cut prefix
        assert f"{n:,}" in tokens or _compact(n) in tokens, f"{n:,} ({_compact(n)}) not shown whole"


def _shown(report: ModelReport) -> list[int]:
    """The counts the default tables show: each component's, the total, each whole-model view row."""
    views = merge_views(report.components)
    return [report.parameters, *(c.parameters for c in report.components), *_counts([v.to_dict() for v in views])]


@pytest.mark.parametrize("width", WIDTHS)
def test_report_at_80_and_200_columns_cuts_no_digit(big_analysis: Analysis, width: int) -> None:
    report = big_analysis.report
    views = merge_views(report.components)
    out = _render(width, lambda c, o: _print_report(c, _args(views=True), report, views, {}, o))
    _assert_readable(out, width, _shown(report))
    lines = out.splitlines()
    assert lines[0] == "tiny-flux-configs"  # the summary first: model, total exact, size, largest
    assert lines[1].split() == ["parameters", f"{report.parameters:,}", *f"({_compact(report.parameters)})".split()]
    # bf16: 2 bytes per parameter, in decimal GB
    assert lines[2].split() == ["stored", "at", "bf16", f"{report.parameters * 2 / 1e9:.2f}", "GB"]
    assert lines[3].split()[1] == "transformer"
    assert "1 GB = 10^9 bytes" in out  # the unit said once
    assert "GiB" not in out  # no GiB for weights


@pytest.mark.parametrize("width", WIDTHS)
def test_flops_and_memory_tables_one_scale_no_cut(big_analysis: Analysis, width: int) -> None:
    report = big_analysis.report
    args = _args(flops=True, memory=True)
    out = _render(
        width, lambda c, o: (_print_report(c, args, report, (), {}, o), _print_compute(c, args, big_analysis, o))
    )
    assert big_analysis.flops is not None
    _assert_readable(out, width, [report.parameters])
    assert f"{big_analysis.flops.total_flops / 1e12:,.2f}" in out  # TFLOPs, the table's one scale
    assert "GFLOPs" not in out
    assert "ms /" in out  # one time unit in the table: ms, never s
    assert re.search(r"\bs /", out) is None
    assert "GiB" in out  # the card table, and only it, in GiB
    weights = out[out.index("weights by storage format") :]
    assert "GiB" not in weights.split("which cards fit")[0]


@pytest.mark.parametrize("width", WIDTHS)
def test_layers_fold_rows_say_total_of_all_copies(big_analysis: Analysis, width: int) -> None:
    report = big_analysis.report
    listings = {c.name: fold(c.layers) for c in report.components}
    rows = [row for component_rows in listings.values() for row in component_rows]
    folded = [r for r in rows if r.count > 1]
    assert folded  # the tiny model has repeated blocks
    out = _render(width, lambda c, o: _print_report(c, _args(layers=True), report, (), listings, o))
    _assert_readable(out, width, [r.parameters for r in rows])
    assert "total of all copies" in out
    assert f"×{folded[0].count}" in out
    if width >= 120:  # wide: the count of one copy too, the total divided by the copies
        assert f"{folded[0].parameters // folded[0].count:,}" in out


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_three_models_by_role_no_cut(big_reports: list[ModelReport], width: int) -> None:
    views = [merge_views(r.components) for r in big_reports]
    out = _render(width, lambda c, o: print_compare(c, big_reports, views, [], o, flops=False, memory=False))
    numbers = [r.parameters for r in big_reports] + [c.parameters for r in big_reports for c in r.components]
    _assert_readable(out, width, numbers)
    if width >= 120:  # a class column (at 80 long names fold onto two lines)
        for cls in ("CLIPTextModel", "T5EncoderModel", "FluxTransformer2DModel"):
            assert cls in out


def test_roles_line_up_text_encoders_whatever_the_slot(tiny_modules: dict[str, torch.nn.Module]) -> None:
    assert component_role("text_encoder_2", "T5EncoderModel") == "text encoder"
    assert component_role("text_encoder", "Gemma2Model") == "text encoder"
    assert component_role("unet", "UNet2DConditionModel") == "denoiser"
    assert component_role("transformer", "Lumina2Transformer2DModel") == "denoiser"
    assert component_role("vae", "AutoencoderKL") == "autoencoder"


def test_compare_json_has_the_numbers_of_the_tables(
    tiny_pipeline_configs_only: Path,
    tiny_modules: dict[str, torch.nn.Module],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "c.json"
    folder = str(tiny_pipeline_configs_only)
    assert main(["compare", folder, folder, "--json", "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    roles = {(r["role"], r["column"]): r["parameters"] for r in data["roles"]}
    # the tiny modules' own counts (parameters() yields a tied tensor once): the text encoders are one row
    text = sum(p.numel() for name in ("text_encoder", "text_encoder_2") for p in tiny_modules[name].parameters())
    assert roles[("text encoder", 0)] == roles[("text encoder", 1)] == text
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["compare", folder, folder]) == 0
    table = capsys.readouterr().out
    for value in roles.values():
        assert f"{value:,}" in table


def test_lang_zh_covers_headings_columns_and_notes(big_analysis: Analysis) -> None:
    report = big_analysis.report
    views = merge_views(report.components)
    out = _render(200, lambda c, o: _print_report(c, _args(views=True), report, views, {}, o), lang="zh")
    for word in ("参数量", "组件", "占比", "合计", "各组件参数量", "层类型", "注:", "仅配置"):
        assert word in out
    for word in ("component", "share", "note:", "parameters per component", "config only"):
        assert word not in out


# --- usage: refused before any work -----------------------------------------------------------------------------------


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counting or analysing anything fails the test: the error must come first."""

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("work started before the usage error")

    monkeypatch.setattr("paramcheck.count.audit", refuse)
    monkeypatch.setattr("paramcheck.compute.analysis.analyse", refuse)


@pytest.mark.usefixtures("no_work")
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report", "flux.1-dev", "--top", "5"], "--layers"),  # the words differ on fix13b, which refuses it too
        (["report", "flux.1-dev", "--no-fold"], "--layers"),
        (["report", "flux.1-dev", "--height", "512"], "--height: sets the workload of --flops/--memory"),
        (["report", "flux.1-dev", "--memory", "--gpu", "A100"], "--gpu: picks the GPU of the --flops latency"),
        (["report", "flux.1-dev", "--json", "--lang", "zh"], "--lang: the JSON holds category ids"),
        (["report", "flux.1-dev", "--json", "--views"], "--views: the JSON always holds the layer types"),
        (["compare", "flux.1-dev", "sd-1.5", "--steps", "4"], "--steps: sets the workload of --flops/--memory"),
        (["plot", "flux.1-dev", "-o", "x.pdf"], "x.pdf: unknown file type '.pdf'; name the --output file .png or .svg"),
        (["report", "flux.1-dev", "--html", "page.txt"], "page.txt: unknown file type '.txt'"),
        (["report", "flux.1-dev", "--html", "/no/such/dir/p.html"], "no such folder '/no/such/dir'"),
        (["report", "flux.1-dev", "--json", "-o", "/"], "/: is a folder"),
    ],
)
def test_idle_options_and_bad_outputs_fail_at_once(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    start = time.perf_counter()
    assert main(argv) == 2
    assert time.perf_counter() - start < 2.0
    err = capsys.readouterr().err
    assert err.startswith("paramcheck: error: ")
    assert argv[-1] in err or argv[-2] in err  # names the option or file at fault
    assert message in err
    assert len(err.splitlines()) == 1


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"paramcheck {version('paramcheck')}\n"


def test_report_json_keeps_its_keys_with_flops(tiny_pipeline_configs_only: Path, tmp_path: Path) -> None:
    plain, compute = tmp_path / "a.json", tmp_path / "b.json"
    folder = str(tiny_pipeline_configs_only)
    assert main(["report", folder, "--json", "-o", str(plain)]) == 0
    assert main(["report", folder, "--json", "-o", str(compute), "--memory", "--height", "64", "--width", "64"]) == 0
    without, with_memory = json.loads(plain.read_text()), json.loads(compute.read_text())
    assert set(without) == set(with_memory)  # one key set whatever the flags: the views do not vanish with --memory
    assert without["views"] == with_memory["views"]
    assert without["memory"] is None
    assert with_memory["memory"] is not None
    assert audit(folder).parameters == json.loads(compute.read_text())["report"]["parameters"]


@pytest.mark.parametrize("width", WIDTHS)
def test_check_tables_cut_no_digit(tiny_pipeline: Path, width: int) -> None:
    from paramcheck.checkpoint.check import check_checkpoint
    from paramcheck.checkpoint.render import stored_grid, verdict_grid
    from paramcheck.render import show

    check = check_checkpoint(str(tiny_pipeline))
    out = _render(width, lambda c, o: (show(c, stored_grid(check.checkpoint, o)), show(c, verdict_grid(check, o))))
    # the layout under test, not the counts: each component's parameters from its headers appear whole
    _assert_readable(out, width, [c.parameters for c in check.checkpoint.components])
    assert "match" in out


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_flops_and_memory_side_by_side(big_analysis: Analysis, width: int) -> None:
    other = Analysis.from_dict(big_analysis.to_dict() | {"report": big_analysis.report.to_dict() | {"model": "other"}})
    analyses = [big_analysis, other]
    reports = [a.report for a in analyses]
    views = [merge_views(r.components) for r in reports]
    out = _render(width, lambda c, o: print_compare(c, reports, views, analyses, o, flops=True, memory=True))
    assert big_analysis.flops is not None
    _assert_readable(out, width, [r.parameters for r in reports])
    per_image = f"{big_analysis.flops.flops_per_image / 1e12:,.2f}"  # TFLOPs, by hand
    row = next(line for line in out.splitlines() if line.startswith("│ TFLOPs / image"))
    assert row.count(per_image) == 2
    bf16 = f"{big_analysis.report.parameters * 2 / 1e9:,.2f}"  # 2 bytes a parameter, decimal GB
    assert any(line.startswith("│ weights bf16 (GB)") and line.count(bf16) == 2 for line in out.splitlines())


def test_compare_json_with_memory(tiny_pipeline_configs_only: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    folder = str(tiny_pipeline_configs_only)
    argv = ["compare", folder, folder, "--memory", "--height", "64", "--width", "64", "--json", "-o", str(out)]
    assert main(argv) == 0
    data = json.loads(out.read_text())
    assert [c["model"] for c in data["compute"]] == ["tiny-flux-configs"] * 2
    assert all(set(c) == {"model", "memory"} for c in data["compute"])  # no flops without --flops
    parameters = data["reports"][0]["parameters"]
    bf16 = next(a for a in data["compute"][0]["memory"]["advice"] if a["format"] == "bf16")
    assert bf16["weight_bytes"] == 2 * parameters  # every parameter at 2 bytes
