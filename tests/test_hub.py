"""Hub sources against a real HTTP server on 127.0.0.1 (tests/hub_server.py) and the unmodified huggingface_hub.

The server is started and stopped by the ``hub`` fixture for every test; huggingface_hub reads HF_ENDPOINT, HF_HOME,
HF_HUB_CACHE and HF_HUB_OFFLINE into ``huggingface_hub.constants`` at import time, so in-process tests set both the
environment and those constants (monkeypatch undoes both); the CLI tests run ``python -m paramcheck`` in a
subprocess with the environment alone, which proves the variables themselves are honoured.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from paramcheck.cli import main
from paramcheck.count import audit
from paramcheck.errors import SourceError
from paramcheck.sources import model_spec
from paramcheck.sources.hub import fetch_hub_model, parse_hub_spec
from tests.hub_server import HubServer, HubState, Repo, commit_sha, read_tree, serve
from tests.tiny import TINY_FLUX_TRANSFORMER, TINY_VAE, save_pipeline, tiny_flux_modules

REPO = "tiny-org/tiny-flux"
PRIVATE = "tiny-org/private-flux"
GATED = "tiny-org/gated-flux"
BROKEN = "tiny-org/broken-flux"
TOKEN = "hf_test_token_that_can_read"
RANGE_BYTES = 100_001  # huggingface_hub's first range request: bytes=0-100000
# a transformer wide enough that its shards are far bigger than one range request
WIDE_TRANSFORMER = {
    **TINY_FLUX_TRANSFORMER,
    "attention_head_dim": 64,
    "num_attention_heads": 4,
    "joint_attention_dim": 256,
    "pooled_projection_dim": 256,
    "axes_dims_rope": [16, 16, 32],
}


@dataclass(frozen=True)
class Commit:
    sha: str
    folder: Path
    files: dict[str, bytes]


@dataclass(frozen=True)
class Layout:
    old: Commit  # pinned by sha
    new: Commit  # main


def _save(folder: Path) -> Path:
    from diffusers import FluxTransformer2DModel

    modules: dict[str, torch.nn.Module] = tiny_flux_modules()
    torch.manual_seed(1)
    modules["transformer"] = FluxTransformer2DModel(**WIDE_TRANSFORMER)
    save_pipeline(folder, modules, max_shard_size="5MB")
    # a sharded transformers component too (model.safetensors.index.json)
    for path in (folder / "text_encoder_2").iterdir():
        path.unlink()
    modules["text_encoder_2"].save_pretrained(folder / "text_encoder_2", max_shard_size="100KB")
    return folder


@pytest.fixture(scope="session")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    """Two commits: ``old`` (pinned by sha) and ``new`` (main), whose vae has two layers per block."""
    from diffusers import AutoencoderKL

    root = tmp_path_factory.mktemp("hub")
    old = _save(root / "old")
    new = root / "new"
    shutil.copytree(old, new)
    shutil.rmtree(new / "vae")
    AutoencoderKL(**{**TINY_VAE, "layers_per_block": 2}).save_pretrained(new / "vae")
    commits = [Commit(sha=commit_sha(read_tree(f), salt=f.name), folder=f, files=read_tree(f)) for f in (old, new)]
    return Layout(old=commits[0], new=commits[1])


@dataclass
class Hub:
    server: HubServer
    state: HubState
    env: dict[str, str]
    monkeypatch: pytest.MonkeyPatch

    def offline(self) -> None:
        from huggingface_hub import constants

        self.monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
        self.monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        self.env["HF_HUB_OFFLINE"] = "1"


def _broken(layout: Layout) -> dict[str, bytes]:
    """The old commit with a transformer shard missing and the vae's header not JSON."""
    files = dict(layout.old.files)
    shard = next(p for p in files if p.startswith("transformer/") and p.endswith("-00002-of-00004.safetensors"))
    del files[shard]
    vae = "vae/diffusion_pytorch_model.safetensors"
    files[vae] = (12).to_bytes(8, "little") + b"not json at." + files[vae][20:]
    return files


@pytest.fixture
def hub(layout: Layout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    from huggingface_hub import constants

    def repo(access: str = "public", files: dict[str, bytes] | None = None) -> Repo:
        commits = {layout.old.sha: files or layout.old.files, layout.new.sha: layout.new.files}
        return Repo(commits=commits, refs={"main": layout.new.sha}, access=access, token=TOKEN)

    state = HubState(
        repos={
            REPO: repo(),
            PRIVATE: repo("private"),
            GATED: repo("gated"),
            BROKEN: Repo(commits={layout.old.sha: _broken(layout)}, refs={"main": layout.old.sha}),
        }
    )
    with serve(state) as server:
        home = tmp_path / "hf-home"
        env = {
            "HF_ENDPOINT": server.endpoint,
            "HF_HOME": str(home),
            "HF_HUB_CACHE": str(home / "hub"),
            "HF_HUB_DISABLE_TELEMETRY": "1",
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        for key in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
            monkeypatch.delenv(key, raising=False)
        monkeypatch.setattr(constants, "ENDPOINT", server.endpoint)
        monkeypatch.setattr(
            constants, "HUGGINGFACE_CO_URL_TEMPLATE", server.endpoint + "/{repo_id}/resolve/{revision}/{filename}"
        )
        monkeypatch.setattr(constants, "HF_HOME", str(home))
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))
        monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))
        yield Hub(server=server, state=state, env=env, monkeypatch=monkeypatch)


def _header_elements(folder: Path) -> int:
    """Elements in every safetensors file of a component folder, read with the safetensors library."""
    total = 0
    for path in sorted(folder.glob("*.safetensors")):
        with safe_open(path, "pt") as f:
            for name in f.keys():  # noqa: SIM118 - safe_open is not a mapping
                shape = f.get_slice(name).get_shape()
                n = 1
                for d in shape:
                    n *= d
                total += n
    return total


# --- the source -------------------------------------------------------------------------------------------------------


def test_sharded_pipeline_counts_match_the_local_folder(hub: Hub, layout: Layout) -> None:
    model = fetch_hub_model(REPO, layout.old.sha)
    remote = audit(model.source)
    local = audit(str(layout.old.folder))
    assert remote.source.kind == "hub"
    assert remote.source.revision == layout.old.sha
    assert remote.source.weights is False
    assert [(c.name, c.parameters) for c in remote.components] == [(c.name, c.parameters) for c in local.components]
    # shards as the index files name them
    index = json.loads((layout.old.folder / "transformer/diffusion_pytorch_model.safetensors.index.json").read_text())
    shards = {f"transformer/{f}" for f in index["weight_map"].values()}
    assert model.weights_of("transformer").files == tuple(sorted(shards))
    assert len(model.weights_of("transformer").files) == 4
    assert len(model.weights_of("text_encoder_2").files) >= 2
    # header totals: the safetensors library's reading of the same files, and the notes say so
    for name in ("text_encoder", "text_encoder_2", "transformer", "vae"):
        expected = _header_elements(layout.old.folder / name)
        assert model.weights_of(name).parameters == expected
        assert any(n.startswith(f"{name}: safetensors headers") and f"{expected:,} elements" in n for n in remote.notes)
    assert model.weights_of("scheduler") is None
    assert f"hub: {REPO} at commit {layout.old.sha}" in remote.notes


def test_no_weight_is_downloaded(hub: Hub, layout: Layout) -> None:
    fetch_hub_model(REPO, layout.old.sha)
    weights = {p: len(d) for p, d in layout.old.files.items() if p.endswith(".safetensors")}
    served = hub.state.served(".safetensors")
    assert {s.file for s in served if s.status == 206} == set(weights)  # every header read, each file
    for s in served:
        assert s.method == "GET"
        assert s.range is not None, f"{s.file} was requested without a Range header"
        if s.status == 206:
            assert s.body_bytes <= min(RANGE_BYTES, weights[s.file])
    big = [p for p, n in weights.items() if n > 10 * RANGE_BYTES]
    assert len(big) >= 3
    for path in big:
        assert sum(s.body_bytes for s in served if s.file == path) == RANGE_BYTES
    total_served = sum(s.body_bytes for s in hub.state.log)
    assert total_served < sum(weights.values()) / 10, (total_served, sum(weights.values()))


def test_revision_pin_and_main(hub: Hub, layout: Layout) -> None:
    old = audit(f"hub:{REPO}@{layout.old.sha}")
    new = audit(f"hub:{REPO}")
    assert old.source.revision == layout.old.sha
    assert new.source.revision == layout.new.sha
    assert old.component("vae").parameters == audit(str(layout.old.folder)).component("vae").parameters
    assert new.component("vae").parameters == audit(str(layout.new.folder)).component("vae").parameters
    assert old.component("vae").parameters != new.component("vae").parameters
    assert old.component("transformer").parameters == new.component("transformer").parameters
    branch = audit(f"hub:{REPO}@main")
    assert f"hub: {REPO} at commit {layout.new.sha} (requested 'main')" in branch.notes


def test_offline_cache_hit_sends_no_request(hub: Hub, layout: Layout) -> None:
    online = {rev: fetch_hub_model(REPO, rev) for rev in (layout.old.sha, "main")}
    hub.offline()
    hub.state.log.clear()
    for rev, first in online.items():
        again = fetch_hub_model(REPO, rev)
        assert again.from_cache
        assert not first.from_cache
        assert again.revision == first.revision
        assert again.weights == first.weights
        assert [c.config for c in again.source.components] == [c.config for c in first.source.components]
        counts = audit(again.source)
        assert [c.parameters for c in counts.components] == [c.parameters for c in audit(first.source).components]
    assert hub.state.log == []


def test_offline_without_cache(hub: Hub) -> None:
    hub.offline()
    with pytest.raises(SourceError, match=r"^hub:tiny-org/tiny-flux: offline \(HF_HUB_OFFLINE=1\) and .*bundled id"):
        fetch_hub_model(REPO)
    assert hub.state.log == []


def test_offline_with_a_configs_only_cache_warns_about_headers(hub: Hub, layout: Layout) -> None:
    from huggingface_hub import hf_hub_download

    for name in ("model_index.json", "transformer/config.json"):
        hf_hub_download(REPO, name, revision=layout.old.sha)
    hub.offline()
    model = fetch_hub_model(REPO, layout.old.sha)
    assert model.weights == ()
    assert model.source.component("transformer").config is not None
    assert model.source.component("vae").config is None  # not cached, not invented
    assert any("no safetensors headers cached" in n for n in model.source.notes)


def test_unreachable_hub_without_cache(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    closed = "http://127.0.0.1:9"  # discard port: nothing listens
    monkeypatch.setattr(constants, "ENDPOINT", closed)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", closed + "/{repo_id}/resolve/{revision}/{filename}")
    with pytest.raises(SourceError, match=r"http://127\.0\.0\.1:9 unreachable and .* not in the cache; use a bundled"):
        fetch_hub_model(REPO)


def test_missing_repository_is_404(hub: Hub) -> None:
    with pytest.raises(SourceError, match=r"^hub:tiny-org/nothing-here: repository not found \(HTTP 404\)"):
        fetch_hub_model("tiny-org/nothing-here")


def test_missing_revision(hub: Hub) -> None:
    with pytest.raises(SourceError, match=r"^hub:tiny-org/tiny-flux@v9: revision not found on the hub"):
        fetch_hub_model(REPO, "v9")
    with pytest.raises(SourceError, match=r"revision not found on the hub"):
        fetch_hub_model(REPO, "0" * 40)


def test_missing_shard_is_404(hub: Hub, layout: Layout) -> None:
    with pytest.raises(SourceError, match=r"-00002-of-00004\.safetensors not found \(HTTP 404\)"):
        fetch_hub_model(BROKEN)


def test_private_repository_is_401_until_hf_token(hub: Hub, layout: Layout, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SourceError, match=r"^hub:tiny-org/private-flux: not found or private \(HTTP 401\).*HF_TOKEN"):
        fetch_hub_model(PRIVATE)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert fetch_hub_model(PRIVATE).revision == layout.new.sha


def test_gated_repository(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SourceError, match=r"gated repository \(HTTP 401\); accept its conditions"):
        fetch_hub_model(GATED)
    monkeypatch.setenv("HF_TOKEN", "hf_a_token_without_access")
    with pytest.raises(SourceError, match=r"^hub:tiny-org/gated-flux: gated repository \(HTTP 403\)"):
        fetch_hub_model(GATED)


def test_interrupted_header_response(hub: Hub, layout: Layout) -> None:
    hub.state.interrupt.add("transformer/diffusion_pytorch_model-00003-of-00004.safetensors")
    with pytest.raises(SourceError, match=r"-00003-of-00004\.safetensors was interrupted; retry$"):
        fetch_hub_model(REPO, layout.old.sha)
    cut = [s for s in hub.state.log if s.file and s.file.endswith("-00003-of-00004.safetensors") and s.status == 206]
    assert [s.body_bytes for s in cut] == [RANGE_BYTES // 2]


def test_interrupted_api_response(hub: Hub) -> None:
    hub.state.interrupt.add(f"{REPO}/api")
    with pytest.raises(SourceError, match=r"^hub:tiny-org/tiny-flux: the hub's response for model_index\.json was"):
        fetch_hub_model(REPO)


def test_malformed_header(hub: Hub, layout: Layout) -> None:
    files = dict(layout.old.files)
    shard = "transformer/diffusion_pytorch_model-00002-of-00004.safetensors"
    files[shard] = (12).to_bytes(8, "little") + b"not json at." + files[shard][20:]
    hub.state.repos[BROKEN] = Repo(commits={layout.old.sha: files}, refs={"main": layout.old.sha})
    with pytest.raises(SourceError, match=r"-00002-of-00004\.safetensors: malformed safetensors header"):
        fetch_hub_model(BROKEN)


# --- specs and the command line ---------------------------------------------------------------------------------------


def test_parse_hub_spec() -> None:
    assert parse_hub_spec("org/name") == ("org/name", None)
    assert parse_hub_spec("org/name@abc") == ("org/name", "abc")
    for bad in ("name", "org/na/me", "org/", "/name", "org/name@", "org/../x"):
        with pytest.raises(SourceError, match=r"hub:"):
            parse_hub_spec(bad)


def test_model_spec(tmp_path: Path) -> None:
    assert model_spec("org/name") == "hub:org/name"
    assert model_spec("org/name", "abc") == "hub:org/name@abc"
    assert model_spec("hub:org/name", "abc") == "hub:org/name@abc"
    assert model_spec("flux.1-dev") == "flux.1-dev"
    assert model_spec(str(tmp_path)) == str(tmp_path)
    with pytest.raises(SourceError, match=r"--revision applies to hub repositories only"):
        model_spec("flux.1-dev", "abc")
    with pytest.raises(SourceError, match=r"give only one"):
        model_spec("hub:org/name@x", "abc")


def test_cli_report_in_process(hub: Hub, layout: Layout, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", REPO, "--revision", layout.old.sha]) == 0
    out = capsys.readouterr().out
    assert f"commit {layout.old.sha}" in out
    assert "transformer: safetensors headers (4 shards)" in out
    assert main(["report", "tiny-org/nothing-here"]) == 2
    assert capsys.readouterr().err == (
        "paramcheck: error: hub:tiny-org/nothing-here: repository not found (HTTP 404); check the id (ORG/NAME) on "
        "the hub\n"
    )


def _cli(hub: Hub, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    return subprocess.run(
        [sys.executable, "-m", "paramcheck", *args],
        capture_output=True,
        text=True,
        env={**keep, **hub.env, **env},
        cwd=Path(__file__).resolve().parents[1],
        timeout=120,
    )


def test_cli_environment_alone_points_huggingface_hub(hub: Hub, layout: Layout, tmp_path: Path) -> None:
    """Fresh processes with only the environment set: HF_ENDPOINT, HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE."""
    missing = _cli(hub, "report", "tiny-org/nothing-here")
    assert missing.returncode == 2
    assert missing.stderr == (
        "paramcheck: error: hub:tiny-org/nothing-here: repository not found (HTTP 404); check the id (ORG/NAME) on "
        "the hub\n"
    )
    assert any("/api/models/tiny-org/nothing-here" in s.path for s in hub.state.log)  # HF_ENDPOINT was used

    online = fetch_hub_model(REPO, layout.old.sha)  # in-process, into the same HF_HOME
    served = len(hub.state.log)
    offline = _cli(hub, "report", REPO, "--revision", layout.old.sha, "--json", HF_HUB_OFFLINE="1")
    assert offline.returncode == 0, offline.stderr
    report = json.loads(offline.stdout)["report"]
    assert report["source"] == {"kind": "hub", "location": REPO, "revision": layout.old.sha, "weights": False}
    assert report["components"] == [c.to_dict() for c in audit(online.source).components]
    assert len(hub.state.log) == served  # the cache served everything

    home = tmp_path / "empty"
    empty = _cli(hub, "report", REPO, HF_HUB_OFFLINE="1", HF_HOME=str(home), HF_HUB_CACHE=str(home / "hub"))
    assert empty.returncode == 2
    assert empty.stderr.startswith("paramcheck: error: hub:tiny-org/tiny-flux: offline (HF_HUB_OFFLINE=1)")
    assert empty.stderr.count("\n") == 1


# --- paramcheck check hub:ORG/NAME ------------------------------------------------------------------------------------


def test_check_a_hub_repository_like_a_local_folder(hub: Hub, layout: Layout) -> None:
    from paramcheck.checkpoint.check import check_checkpoint

    remote = check_checkpoint(f"hub:{REPO}@{layout.old.sha}")
    local = check_checkpoint(layout.old.folder)
    assert remote.ok
    assert remote.checkpoint.location == f"hub:{REPO}@{layout.old.sha}"
    assert [(c.name, c.checkpoint_parameters, c.architecture_parameters) for c in remote.components] == [
        (c.name, c.checkpoint_parameters, c.architecture_parameters) for c in local.components
    ]


def test_check_catches_weights_that_do_not_fit_the_hub_config(hub: Hub, layout: Layout) -> None:
    from paramcheck.checkpoint.check import check_checkpoint

    # main's vae config has two layers per block; this commit ships the old one-layer vae weights with it
    files = dict(layout.new.files)
    vae = "vae/diffusion_pytorch_model.safetensors"
    files[vae] = layout.old.files[vae]
    sha = commit_sha(files, salt="mixed")
    hub.state.repos["tiny-org/mixed-flux"] = Repo(commits={sha: files}, refs={"main": sha})
    check = check_checkpoint("hub:tiny-org/mixed-flux")
    assert not check.ok
    assert [c.name for c in check.components if not c.ok] == ["vae"]
    assert main(["check", "hub:tiny-org/mixed-flux"]) == 1
