"""Fixtures shared by the library's tests: tiny real pipelines built and saved once per session."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from paramcheck.cache import CACHE_ENV
from tests.tiny import save_pipeline, tiny_flux_modules

if "mutmut" in sys.modules:
    # A mutation run (docs/testing.md) forks one process per mutant from the process that ran the tests once. torch's
    # CPU thread pools do not survive a fork: a forked forward waits for threads it does not have, and the mutant is
    # counted as a timeout (killed). On one thread there is no pool to lose.
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables are laid out for the terminal's width (``COLUMNS`` when piped): one width for every test, whatever
    runs the suite (a terminal, CI, an xdist worker); tests of other widths set their own."""
    monkeypatch.setenv("COLUMNS", "160")


@pytest.fixture(autouse=True)
def _not_an_xdist_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """An outer ``pytest -n N`` leaves ``PYTEST_XDIST_WORKER`` set; a pytest run nested in a test (pytester) is no
    worker, and syrupy reads the variable to decide whether to print its report."""
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)


@pytest.fixture(scope="session", autouse=True)
def _private_result_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The CLI's result cache in a folder of this session, never the user's (subprocesses inherit it)."""
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("result-cache")
        patch.setenv(CACHE_ENV, str(folder))
        yield folder


@pytest.fixture(scope="session")
def tiny_modules() -> dict[str, torch.nn.Module]:
    return tiny_flux_modules()


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory: pytest.TempPathFactory, tiny_modules: dict[str, torch.nn.Module]) -> Path:
    """A FLUX-shaped pipeline folder with weights, saved by save_pretrained."""
    return save_pipeline(tmp_path_factory.mktemp("tiny") / "tiny-flux", tiny_modules)


@pytest.fixture(scope="session")
def tiny_pipeline_configs_only(
    tmp_path_factory: pytest.TempPathFactory, tiny_modules: dict[str, torch.nn.Module]
) -> Path:
    """The same pipeline with only its config files."""
    return save_pipeline(tmp_path_factory.mktemp("tiny") / "tiny-flux-configs", tiny_modules, weights=False)
