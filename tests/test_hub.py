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
from typing import Any

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
    index_name = "diffusion_pytorch_model.safetensors.index.json"
    index = json.loads((layout.old.folder / "transformer" / index_name).read_text())
    shards = {f"transformer/{f}" for f in index["weight_map"].values()}
    weights = {w.component: w for w in model.weights}
    files = [h.file for h in weights["transformer"].headers]
    assert files == [f"hf://{REPO}@{layout.old.sha}/{shard}" for shard in sorted(shards)]
    assert len(files) == 4
    assert len(weights["text_encoder_2"].headers) >= 2
    assert model.source.component("transformer").hub_weights == ("transformer/" + index_name,)
    # header totals: the safetensors library's reading of the same files, and the notes say so
    for name in ("text_encoder", "text_encoder_2", "transformer", "vae"):
        expected = _header_elements(layout.old.folder / name)
        assert weights[name].parameters == expected
        assert any(n.startswith(f"{name}: safetensors headers") and f"{expected:,} elements" in n for n in remote.notes)
    assert "scheduler" not in weights
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
    # every shard named, as the hub names it (the local files' names, relative to the pipeline folder)
    for stored, saved in zip(remote.checkpoint.components, local.checkpoint.components, strict=True):
        shards = [Path(f).relative_to(layout.old.folder).as_posix() for f in saved.files]
        assert stored.files == tuple(f"hf://{REPO}@{layout.old.sha}/{shard}" for shard in shards)


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


# --- one source record: the pipeline class, load and --against (issue 12) -------------------------------------------


def _json_of(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(args) == 0, capsys.readouterr().err
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def test_report_flops_of_a_hub_pipeline(hub: Hub, layout: Layout, capsys: pytest.CaptureFixture[str]) -> None:
    index = json.loads((layout.old.folder / "model_index.json").read_text())
    assert fetch_hub_model(REPO, layout.old.sha).source.pipeline_class == index["_class_name"] == "FluxPipeline"
    workload = ["--flops", "--height", "256", "--width", "256", "--json"]
    remote = _json_of(["report", f"hub:{REPO}@{layout.old.sha}", *workload], capsys)["flops"]
    local = _json_of(["report", str(layout.old.folder), *workload], capsys)["flops"]
    assert remote["workload"]["defaults"].startswith("FluxPipeline: ")
    assert (remote["workload"], remote["forwards"]) == (local["workload"], local["forwards"])


def test_load_a_hub_model_materializes_and_never_downloads_weights(
    hub: Hub, layout: Layout, capsys: pytest.CaptureFixture[str]
) -> None:
    loaded = _json_of(["load", f"{REPO}@{layout.old.sha}", "--materialize", "--components", "vae", "--json"], capsys)
    (vae,) = loaded["loads"]
    assert (vae["component"], vae["mode"]) == ("vae", "materialized")
    assert vae["counts"]["parameters"] == audit(str(layout.old.folder)).component("vae").parameters
    assert main(["load", REPO, "--components", "vae"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"paramcheck: error: hub:{REPO}@{layout.new.sha}: paramcheck never downloads weights")
    assert err.count("\n") == 1
    assert all(s.status == 206 for s in hub.state.served(".safetensors") if s.body_bytes)  # headers only


def test_check_a_lone_file_against_a_hub_model(hub: Hub, layout: Layout, tmp_path: Path) -> None:
    from paramcheck.checkpoint.check import Layout as CheckLayout
    from paramcheck.checkpoint.check import check_checkpoint

    lone = tmp_path / "vae.safetensors"
    shutil.copy(layout.old.folder / "vae" / "diffusion_pytorch_model.safetensors", lone)
    for against in (f"{REPO}@{layout.old.sha}:vae", f"hub:{REPO}@{layout.old.sha}:vae"):
        (c,) = check_checkpoint(lone, against=against).components
        assert (c.layout, c.ok, c.class_name) == (CheckLayout.MATCHING, True, "AutoencoderKL"), against
    (c,) = check_checkpoint(lone, against=f"{REPO}:vae").components  # main's vae has two layers per block
    assert not c.ok
    assert c.missing


# --- hub headers are validated like local ones (issue 12) -------------------------------------------------------------


def _safetensors(header: dict[str, Any], data_bytes: int) -> bytes:
    raw = json.dumps(header, separators=(",", ":")).encode()
    return len(raw).to_bytes(8, "little") + raw + b"\0" * data_bytes


def _hostile(layout: Layout, case: str) -> dict[str, bytes]:
    """The old commit's configs with the vae's weights replaced by a file (or index) that no loader accepts."""
    files = {p: d for p, d in layout.old.files.items() if not p.startswith("vae/diffusion_pytorch_model")}
    vae = "vae/diffusion_pytorch_model.safetensors"
    if case == "zero-offsets":  # the real header, every tensor at [0, 0]
        with safe_open(layout.old.folder / vae, "pt") as f:
            names = list(f.keys())
            header = {n: {"dtype": "F32", "shape": f.get_slice(n).get_shape(), "data_offsets": [0, 0]} for n in names}
        files[vae] = _safetensors(header, 0)
    elif case == "index-outside":
        weight_map = {"x": "../../secret.safetensors"}
        files[vae.replace(".safetensors", ".safetensors.index.json")] = json.dumps({"weight_map": weight_map}).encode()
    else:
        entry = {
            "unknown-dtype": {"dtype": "WAT", "shape": [2], "data_offsets": [0, 8]},
            "negative-shape": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 8]},
            "huge-shape": {"dtype": "F32", "shape": [1e30], "data_offsets": [0, 8]},
            "past-the-end": {"dtype": "F32", "shape": [64], "data_offsets": [0, 256]},
        }[case]
        files[vae] = _safetensors({"x": entry}, 4 if case == "past-the-end" else 8)
    return files


HOSTILE = {
    "zero-offsets": r"tensor '[^']+': shape \[.*\] of F32 needs [\d.]+ bytes but its offsets span 0",
    "unknown-dtype": r"tensor 'x' has unknown dtype 'WAT'",
    "negative-shape": r"tensor 'x' has a bad shape \[-4\]",
    "huge-shape": r"tensor 'x' has a bad shape \[1e\+30\]",
    "past-the-end": r"tensor 'x' runs past the end: ends at data byte 256 but the file holds at most 4; truncated\?$",
    "index-outside": r"names shard '\.\./\.\./secret\.safetensors', which is not a file in the index's folder",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hub_headers_are_validated_like_local_ones(
    case: str, hub: Hub, layout: Layout, capsys: pytest.CaptureFixture[str]
) -> None:
    from paramcheck.checkpoint.check import check_checkpoint
    from paramcheck.errors import CheckpointError

    files = _hostile(layout, case)
    sha = commit_sha(files, salt=case)
    hub.state.repos["tiny-org/hostile"] = Repo(commits={sha: files}, refs={"main": sha})
    vae = "vae/diffusion_pytorch_model.safetensors" + (".index.json" if case == "index-outside" else "")
    with pytest.raises(CheckpointError, match=rf"^hf://tiny-org/hostile@{sha}/{vae}: {HOSTILE[case]}"):
        check_checkpoint("hub:tiny-org/hostile")
    assert main(["check", "hub:tiny-org/hostile"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    if case != "index-outside":  # safetensors itself refuses the same bytes
        with pytest.raises(Exception, match=r"^Error while deserializing"):
            _load_with_safetensors(files[vae])
    assert not any(s.file and s.file.endswith("secret.safetensors") for s in hub.state.log)


@pytest.mark.parametrize(
    "header", [b"[1, 2]", b'{"x": "flux"}', b'{"x": {"dtype": [1], "shape": [1], "data_offsets": 1}}']
)
def test_hub_header_its_parser_chokes_on_is_one_line(
    header: bytes, hub: Hub, layout: Layout, capsys: pytest.CaptureFixture[str]
) -> None:
    # huggingface_hub's parser raises AttributeError/TypeError on these (a list, non-object entries, odd values)
    files = {p: d for p, d in layout.old.files.items() if not p.startswith("vae/diffusion_pytorch_model")}
    files["vae/diffusion_pytorch_model.safetensors"] = len(header).to_bytes(8, "little") + header
    sha = commit_sha(files, salt="choke")
    hub.state.repos["tiny-org/hostile"] = Repo(commits={sha: files}, refs={"main": sha})
    assert main(["check", "hub:tiny-org/hostile"]) == 2
    assert capsys.readouterr().err == (
        f"paramcheck: error: hub:tiny-org/hostile@{sha}: vae/diffusion_pytorch_model.safetensors: malformed "
        "safetensors header; the file on the hub may be broken\n"
    )


def _load_with_safetensors(data: bytes) -> None:
    from safetensors.torch import load

    load(data)
