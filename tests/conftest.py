"""Fixtures shared by the library's tests: tiny real pipelines built and saved once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from paramcheck.cache import CACHE_ENV
from tests.tiny import save_pipeline, tiny_flux_modules


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
