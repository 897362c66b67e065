"""The HTML page (issue 17): a real <table> for every table the terminal shows, the plot, a summary header, no FLOPs
unless asked; opened in a real headless Chromium at 1000 and 1400 px, where no table may overflow, and a screenshot
kept as an artifact (``artifacts/`` at the repository root, or ``$PARAMCHECK_ARTIFACTS``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from paramcheck.cli import main
from paramcheck.compute.analysis import Analysis, analyse
from paramcheck.compute.html import render_html
from paramcheck.listing import fold, merge_views
from paramcheck.render import RenderOptions
from tests.tiny import scale_counts

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


class Tables(HTMLParser):
    """The page's tables as lists of rows of cell texts, and its captions."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.captions: list[str] = []
        self._cell: list[str] | None = None
        self._in_caption = False
        self.tags: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in {"td", "th"}:
            self._cell = []
        elif tag == "caption":
            self._in_caption = True
            self.captions.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in {"td", "th"} and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "caption":
            self._in_caption = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        elif self._in_caption:
            self.captions[-1] += data


def _parse(text: str) -> Tables:
    parser = Tables()
    parser.feed(text)
    return parser


@pytest.fixture(scope="module")
def analysis(tiny_pipeline_configs_only: Path) -> Analysis:
    """The tiny pipeline's analysis, every count x 10**5 so that the numbers are as wide as FLUX's."""
    result = analyse(str(tiny_pipeline_configs_only), height=64, width=64, steps=2, layers=True)
    keys = frozenset({"parameters", "flops", "peak_activation_bytes"})
    return Analysis.from_dict(scale_counts(result.to_dict(), keys, 10**5))


def _page(result: Analysis, **more: Any) -> str:
    report = result.report
    listings = {c.name: fold(c.layers) for c in report.components}
    return render_html(
        report, merge_views(report.components), options=RenderOptions(width=200), listings=listings, **more
    )


def test_every_table_is_a_table(analysis: Analysis) -> None:
    page = _parse(_page(analysis, analysis=analysis, flops=True, memory=True))
    report = analysis.report
    with_views = [c for c in report.components if c.views and c.parameters]
    with_layers = [c for c in report.components if c.layers]
    # components, a layer-type table per component and the whole model, a listing per component, FLOPs and where
    # they go, weights and cards
    expected = 1 + len(with_views) + 1 + len(with_layers) + 2 + 2
    assert len(page.tables) == expected, [c[:40] for c in page.captions]
    assert page.tags.get("pre", 0) == 0  # no terminal text pasted in
    assert page.tags["svg"] == 1  # the plot, inline
    assert page.tags.get("script", 0) == 0
    components = page.tables[0]
    assert components[0][:3] == ["component", "class", "parameters"]
    cells = {row[0]: row for row in components[1:]}
    for c in report.components:  # exact counts, as the wide terminal table shows them
        assert cells[c.name][2] == f"{c.parameters:,}"
    assert cells["total"][2] == f"{report.parameters:,}"
    assert any("whole model" in caption for caption in page.captions)


def test_no_flops_unless_asked(analysis: Analysis) -> None:
    text = _page(analysis)
    assert "FLOPs" not in text
    assert "GiB" not in text  # no memory tables either


def test_cli_html_runs_no_flops_without_flops(
    tiny_pipeline_configs_only: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("--html alone ran the FLOPs")

    monkeypatch.setattr("paramcheck.compute.analysis.analyse", refuse)
    page = tmp_path / "r.html"
    assert main(["report", str(tiny_pipeline_configs_only), "--html", str(page), "--views"]) == 0
    assert "<table>" in page.read_text()
    assert "FLOPs" not in page.read_text()


def _chromium(*args: str) -> str:
    assert CHROMIUM is not None
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


MEASURE = """<script>
const wraps = [...document.querySelectorAll('.wrap')];
const over = wraps.filter(w => w.scrollWidth > w.clientWidth + 1).map(w => w.querySelector('caption').textContent);
const root = document.documentElement;
document.body.setAttribute('data-page', root.scrollWidth + 'x' + root.scrollHeight);
document.body.setAttribute('data-inner', String(window.innerWidth));
document.body.setAttribute('data-over', JSON.stringify(over));
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here: apt-get install chromium")
@pytest.mark.parametrize("width", [1000, 1400])
def test_page_fits_1000_to_1400_px_in_chromium(analysis: Analysis, tmp_path: Path, width: int) -> None:
    import json

    text = _page(analysis, analysis=analysis, flops=True, memory=True)
    page = tmp_path / "report.html"
    page.write_text(text, encoding="utf-8")
    probe = tmp_path / "probe.html"  # a copy with a measuring script; the page itself has none
    probe.write_text(text.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    dom = _chromium(f"--window-size={width},900", "--virtual-time-budget=2000", "--dump-dom", probe.as_uri())
    found = dict(re.findall(r'data-(page|inner|over)="([^"]*)"', dom))
    page_width, page_height = (int(v) for v in found["page"].split("x"))
    assert page_width <= int(found["inner"]), "the page scrolls sideways"
    assert json.loads(found["over"].replace("&quot;", '"')) == [], "tables wider than the page"
    shots = Path(os.environ.get("PARAMCHECK_ARTIFACTS", ROOT / "artifacts"))
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / f"html-report-{width}px.png"
    _chromium(f"--window-size={width},{min(page_height, 16000)}", f"--screenshot={shot}", page.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
