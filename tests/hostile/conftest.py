"""Fixtures of the hostile corpus: a warm process to fork from, tiny pipelines to break, a case folder with victims."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from pathlib import Path

import pytest
import torch

from tests.hostile.corpus import victim
from tests.hostile.tiers import DEFAULT

TIER_ENV = "PARAMCHECK_HOSTILE"  # "full": every case; otherwise the default tier (tests/hostile/tiers.py)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without ``PARAMCHECK_HOSTILE=full`` only the default tier runs: each root cause's representative cases."""
    if os.environ.get(TIER_ENV, "").strip().lower() == "full":
        return
    keep, drop = [], []
    for item in items:
        if "tests/hostile/" not in item.nodeid:
            keep.append(item)
            continue
        case = item.nodeid.split("tests/hostile/", 1)[1]
        (keep if case in DEFAULT or case.partition("[")[0] in DEFAULT else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session", autouse=True)
def warm(tiny_pipeline_configs_only: Path, tiny_pipeline: Path) -> None:
    """Import what paramcheck imports and run one valid report, once per process, so that forked cases are cheap.

    Only ``paramcheck.cli.main`` is driven; the libraries are imported by name.
    """
    import accelerate  # noqa: F401
    import huggingface_hub.hf_api  # noqa: F401
    import hypothesis  # noqa: F401 - its pytest plugin imports it at session end, assertion-rewritten: ~5 s
    import safetensors.torch  # noqa: F401
    import syrupy  # noqa: F401
    from diffusers import AutoencoderKL, FluxTransformer2DModel, SD3Transformer2DModel  # noqa: F401
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, T5EncoderModel  # noqa: F401

    from paramcheck.cli import main

    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        assert main(["report", str(tiny_pipeline_configs_only), "--flops", "--memory", "--json"]) == 0, sink.getvalue()
        assert main(["check", str(tiny_pipeline), "--json"]) == 0, sink.getvalue()
        plot = tiny_pipeline.parent / "warm.png"  # matplotlib builds its font cache on first use (~30 s)
        assert main(["plot", str(tiny_pipeline_configs_only), "-o", str(plot)]) == 0, sink.getvalue()


@pytest.fixture(scope="session")
def tiny_totals(tiny_modules: dict[str, torch.nn.Module]) -> dict[str, int]:
    """Each tiny component's parameters, counted by torch itself, and the pipeline's total under ``"total"``."""
    counts = {name: sum(p.numel() for p in m.parameters()) for name, m in tiny_modules.items()}
    return {**counts, "total": sum(counts.values())}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The case's folder: inputs under ``model/``, victims under ``victims/``; the working directory is ``work/``."""
    (tmp_path / "work").mkdir()
    victim(tmp_path / "victims" / "reviewed.json")
    victim(tmp_path / "victims" / "snapshots" / "test_snapshots" / "model.json", '{"entries": 12}\n')
    return tmp_path


@pytest.fixture
def pipeline(root: Path, tiny_pipeline_configs_only: Path) -> Path:
    """A private copy of the tiny FLUX pipeline (configs only) to break."""
    return Path(shutil.copytree(tiny_pipeline_configs_only, root / "model"))


@pytest.fixture
def weighted(root: Path, tiny_pipeline: Path) -> Path:
    """A private copy of the tiny FLUX pipeline with its safetensors weights."""
    return Path(shutil.copytree(tiny_pipeline, root / "model"))
