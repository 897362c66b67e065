"""A hostile hub (tests/hub_server.py on 127.0.0.1, its CDN on 127.0.0.2) answering ``report``/``check hub:``
(fuzz.md surface 5, findings 1, 2, 3, 6, 7, 10).

Each case publishes its own repository ``evil/<case>`` (the tiny FLUX pipeline with weights, then broken) on one
server per test process; the forked case gets its own HF_HOME under ``work/.hf-home``. Besides the contract, a case
fails when a file outside HF_HOME changed, when a request left the repository (another repository's path) or when
a body larger than any config was downloaded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from tests.hostile.corpus import (
    NON_UTF8,
    Expect,
    assert_contract,
    canary_package,
    canary_problems,
    cli,
    deep_json,
    error,
    huge_int,
    ok,
    read_json,
    safetensors_bytes,
    tensors_file,
    watch,
)
from tests.hub_server import HubServer, HubState, Repo, commit_sha, read_tree, serve

DEADLINE = 12.0  # a correct answer takes ~1-3 s; every wait on the hub must end well before this
TIMEOUTS = {"HF_HUB_ETAG_TIMEOUT": "3", "HF_HUB_DOWNLOAD_TIMEOUT": "3"}
ZEN = "Beautiful is better than ugly"
VAE = "vae/diffusion_pytorch_model.safetensors"
ESCAPE = "../../../../../victims/reviewed"  # from HF_HOME/paramcheck/hub/models--evil--x/ to the case's victims


@dataclass
class Hub:
    server: HubServer
    state: HubState
    files: dict[str, bytes]

    def publish(self, name: str, files: dict[str, bytes] | None = None, **repo: Any) -> str:
        files = dict(self.files if files is None else files)
        sha = commit_sha(files, salt=name)
        self.state.repos[name] = Repo(commits={sha: files}, refs={"main": sha}, **repo)
        return name

    def env(self, **extra: str) -> dict[str, str]:
        return {"HF_ENDPOINT": self.server.endpoint, **TIMEOUTS, **extra}


@pytest.fixture(scope="session")
def hub(tiny_pipeline: Path) -> Iterator[Hub]:
    state = HubState(repos={})
    with serve(state, cdn_host="127.0.0.2") as server:
        yield Hub(server=server, state=state, files=read_tree(tiny_pipeline))


# --- what a hostile repository holds ----------------------------------------------------------------------------------


def _json_file(files: dict[str, bytes], path: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(files[path])
    return data


def _with_json(path: str, **changes: Any) -> Callable[[dict[str, bytes]], dict[str, bytes]]:
    def change(files: dict[str, bytes]) -> dict[str, bytes]:
        return {**files, path: json.dumps({**_json_file(files, path), **changes}).encode()}

    return change


def _with_bytes(
    path: str, data: bytes | Callable[[dict[str, bytes]], bytes]
) -> Callable[[dict[str, bytes]], dict[str, bytes]]:
    return lambda files: {**files, path: data(files) if callable(data) else data}


def _with_component(
    name: str, entry: Any = ("diffusers", "AutoencoderKL")
) -> Callable[[dict[str, bytes]], dict[str, bytes]]:
    """model_index.json lists ``name``, and the repository holds ``name/config.json`` (a copy of the VAE's)."""

    def change(files: dict[str, bytes]) -> dict[str, bytes]:
        index = {**_json_file(files, "model_index.json"), name: list(entry)}
        return {
            **files,
            "model_index.json": json.dumps(index).encode(),
            f"{name}/config.json": files["vae/config.json"],
        }

    return change


def _header(
    change: Callable[[dict[str, Any]], Any], data: bool = True
) -> Callable[[dict[str, bytes]], dict[str, bytes]]:
    """The VAE's safetensors header rewritten by ``change`` (in place); without ``data`` the file holds no data."""

    def rewrite(files: dict[str, bytes]) -> dict[str, bytes]:
        raw = files[VAE]
        n = int.from_bytes(raw[:8], "little")
        header = json.loads(raw[8 : 8 + n])
        change(header)
        return {**files, VAE: safetensors_bytes(header, raw[8 + n :] if data else b"")}

    return rewrite


def _each_tensor(**entry: Any) -> Callable[[dict[str, Any]], None]:
    def change(header: dict[str, Any]) -> None:
        for name, value in header.items():
            if name != "__metadata__":
                value.update(entry)

    return change


def _first_tensor(**entry: Any) -> Callable[[dict[str, Any]], None]:
    def change(header: dict[str, Any]) -> None:
        name = sorted(k for k in header if k != "__metadata__")[0]
        header[name].update(entry)

    return change


def _sharded_vae(shard_name: str) -> Callable[[dict[str, bytes]], dict[str, bytes]]:
    """The VAE behind an index whose weight_map names ``shard_name`` for every tensor."""

    def change(files: dict[str, bytes]) -> dict[str, bytes]:
        raw = files[VAE]
        n = int.from_bytes(raw[:8], "little")
        names = [k for k in json.loads(raw[8 : 8 + n]) if k != "__metadata__"]
        index = {"metadata": {"total_size": len(raw)}, "weight_map": dict.fromkeys(names, shard_name)}
        out = {k: v for k, v in files.items() if k != VAE}
        out["vae/diffusion_pytorch_model.safetensors.index.json"] = json.dumps(index).encode()
        return out

    return change


def _many_tensors(count: int) -> Callable[[dict[str, bytes]], dict[str, bytes]]:
    return _with_bytes(VAE, tensors_file({f"t{i}": ("F32", [0]) for i in range(count)}))


def _big_weights(files: dict[str, bytes]) -> dict[str, bytes]:
    """A 4 MB VAE file: only its header may be read (one ranged request of ~100 kB)."""
    raw = files[VAE]
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    header.setdefault("__metadata__", {})["pad"] = "x"
    pad = 4_000_000
    data = raw[8 + n :]
    header["pad.weight"] = {"dtype": "U8", "shape": [pad], "data_offsets": [len(data), len(data) + pad]}
    return {**files, VAE: safetensors_bytes(header, data + b"\0" * pad)}


# --- the cases --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HubCase:
    id: str
    args: Callable[[str, Path], list[str]]  # (repo, case root) -> argv
    expect: Expect
    files: Callable[[dict[str, bytes]], dict[str, bytes]] | None = None
    repo: Callable[[Path], dict[str, Any]] = lambda r: {}  # (case root) -> Repo fields
    state: Callable[[HubState, str], Any] | None = None  # (state, repo) -> hostile behaviour
    canary: bool = False
    env: dict[str, str] = field(default_factory=dict)
    max_body: int | None = None  # no single response body may be larger than this


def _report(*options: str) -> Callable[[str, Path], list[str]]:
    return lambda repo, r: ["report", f"hub:{repo}", *options]


def _check(repo: str, r: Path) -> list[str]:
    return ["check", f"hub:{repo}"]


API = "/api/models/{repo}"  # request-path fragments of hub_server (``*``: anything), {repo} filled in per case
FILES = "/{repo}/resolve/"
CONFIG = "/{repo}/resolve/*/transformer/config.json"


def _delay(fragment: str, seconds: float = 60.0) -> Callable[[HubState, str], None]:
    return lambda state, repo: state.delays.update({fragment.format(repo=repo): seconds})


def _status(fragment: str, code: int) -> Callable[[HubState, str], None]:
    return lambda state, repo: state.status.update({fragment.format(repo=repo): code})


def _drip(fragment: str, interval: float = 2.0) -> Callable[[HubState, str], None]:
    return lambda state, repo: state.drip.update({fragment.format(repo=repo): interval})


def _loop(fragment: str) -> Callable[[HubState, str], None]:
    return lambda state, repo: state.redirect_loop.add(fragment.format(repo=repo))


CASES = [
    HubCase("baseline-report", _report("--json"), ok()),
    HubCase("baseline-check", _check, ok()),
    # fuzz 1: the commit sha the hub answers becomes a file path (security + data loss)
    HubCase("sha-path-escape", _report(), error("sha", klass="security"), repo=lambda r: {"api_sha": ESCAPE}),
    HubCase(
        "sha-absolute-path",
        _report(),
        error("sha", klass="security"),
        repo=lambda r: {"api_sha": str(r / "victims" / "reviewed")},
    ),
    HubCase("sha-not-hex", _report("--json"), error("abc"), repo=lambda r: {"api_sha": "abc"}),
    HubCase("sha-39-hex", _report("--json"), error("sha"), repo=lambda r: {"api_sha": "a" * 39}),
    HubCase("sha-with-newline", _report("--json"), error("sha"), repo=lambda r: {"api_sha": "a" * 40 + "\nb"}),
    HubCase("sha-empty", _report("--json"), error("sha"), repo=lambda r: {"api_sha": ""}),
    HubCase(
        "revision-path-escape",
        lambda repo, r: ["report", f"hub:{repo}@{ESCAPE}"],
        error("revision", klass="security"),
        repo=lambda r: {"any_revision": True},
    ),
    HubCase(
        "revision-option-path-escape",
        lambda repo, r: ["report", repo, "--revision", ESCAPE],
        error("revision", klass="security"),
        repo=lambda r: {"any_revision": True},
    ),
    HubCase(
        "revision-absolute-path",
        lambda repo, r: ["report", f"hub:{repo}@{r / 'victims' / 'reviewed'}"],
        error("revision", klass="security"),
        repo=lambda r: {"any_revision": True},
    ),
    HubCase("revision-with-newline", lambda repo, r: ["report", f"hub:{repo}@ma\nin"], error("revision")),
    HubCase("revision-with-nul", lambda repo, r: ["report", f"hub:{repo}@ma\x00in"], error("revision")),
    HubCase("revision-10k-chars", lambda repo, r: ["report", f"hub:{repo}@{'a' * 10_000}"], error("revision")),
    HubCase(
        "revision-percent-encoded-escape",
        lambda repo, r: ["report", f"hub:{repo}@..%2F..%2F..%2Fx"],
        error("revision", klass="security"),
        repo=lambda r: {"any_revision": True},
    ),
    # fuzz 2: model_index.json's [library, class] from a hub repository
    HubCase(
        "model_index-this",
        _report(),
        error("vae", avoid=(ZEN,), klass="security"),
        _with_json("model_index.json", vae=["this", "X"]),
    ),
    HubCase(
        "model_index-canary-module",
        _report(),
        error("vae", klass="security"),
        _with_json("model_index.json", vae=["pc_canary", "Canary"]),
        canary=True,
    ),
    HubCase(
        "model_index-subprocess-Popen",
        _report(),
        error("vae", klass="security"),
        _with_json("model_index.json", vae=["subprocess", "Popen"]),
    ),
    HubCase(
        "model_index-torch.nn-Identity",
        _report(),
        error("vae"),
        _with_json("model_index.json", vae=["torch.nn", "Identity"]),
    ),
    # component names that leave the repository (fuzz 9: a traceback)
    HubCase("component-name-dotdot", _report(), error("../../../../x"), _with_component("../../../../x")),
    HubCase("component-name-absolute", _report(), error("/etc"), _with_component("/etc")),
    HubCase("component-name-parent", _report(), error(".."), _with_component("..")),
    # configs from the hub (fuzz 6, 9)
    HubCase(
        "config-num_layers-10**6",
        _report(),
        error("num_layers"),
        _with_json("transformer/config.json", num_layers=10**6),
    ),
    HubCase(
        "config-200MB",
        _report(),
        error("config.json"),
        _with_json("transformer/config.json", _pad="x" * 200_000_000),
        max_body=50_000_000,
    ),
    HubCase(
        "config-100k-deep",
        _report(),
        error("config.json"),
        _with_bytes("transformer/config.json", deep_json(key="_class_name").encode()),
    ),
    HubCase(
        "config-5000-digit-int",
        _report(),
        error("config.json"),
        _with_bytes(
            "transformer/config.json", ('{"_class_name": "FluxTransformer2DModel", "x": ' + huge_int() + "}").encode()
        ),
    ),
    HubCase("config-non-utf8", _report(), error("config.json"), _with_bytes("transformer/config.json", NON_UTF8)),
    HubCase(
        "config-architectures-int",  # model_index.json names the class: a clean error, or exit 0 with the count
        _report("--json"),
        Expect(codes=(0, 2), names=("config.json",), quiet=False),
        _with_json("text_encoder/config.json", architectures=5),
    ),
    HubCase(
        "config-typo-num_layer",
        _report("--json"),
        error("num_layer", accept_notes=(r"\bnum_layer\b",)),
        _with_json("transformer/config.json", num_layer=1),
    ),
    HubCase("model_index-non-utf8", _report(), error("model_index.json"), _with_bytes("model_index.json", NON_UTF8)),
    HubCase(
        "model_index-100k-deep",
        _report(),
        error("model_index.json"),
        _with_bytes("model_index.json", deep_json(key="vae").encode()),
    ),
    # fuzz 3: check hub: must validate headers as local check does
    HubCase(
        "header-offsets-all-zero",
        _check,
        Expect(codes=(1, 2), names=("safetensors",)),
        _header(_each_tensor(data_offsets=[0, 0]), data=False),
    ),
    HubCase("header-dtype-WAT", _check, Expect(codes=(1, 2), names=("WAT",)), _header(_first_tensor(dtype="WAT"))),
    HubCase(
        "header-shape-negative",
        _check,
        Expect(codes=(1, 2), names=("safetensors",)),
        _header(_first_tensor(shape=[-4])),
    ),
    HubCase(
        "header-shape-1e30", _check, Expect(codes=(1, 2), names=("safetensors",)), _header(_first_tensor(shape=[1e30]))
    ),
    HubCase(
        "header-overlapping-offsets",
        _check,
        Expect(codes=(1, 2), names=("safetensors",)),
        _header(_each_tensor(data_offsets=[0, 16])),
    ),
    HubCase(
        "header-shape-negative-report", _report("--json"), error("safetensors"), _header(_first_tensor(shape=[-4]))
    ),
    HubCase(
        "header-260k-tensors", _check, Expect(codes=(1, 2), names=("safetensors",), quiet=False), _many_tensors(260_000)
    ),
    HubCase("header-not-json", _check, error("safetensors"), _with_bytes(VAE, safetensors_bytes(b"not json at all"))),
    # fuzz 7: shard names in a hub index leave the repository or the pinned commit
    HubCase(
        "weight_map-other-repository",
        _check,
        error("safetensors", klass="security"),
        _sharded_vae("../../../../../other-org/other-repo/resolve/main/x.safetensors"),
    ),
    HubCase(
        "weight_map-dotdot",
        _check,
        error("outside.safetensors", klass="security"),
        _sharded_vae("../outside.safetensors"),
    ),
    HubCase("weight_map-absolute", _check, error("/etc/passwd", klass="security"), _sharded_vae("/etc/passwd")),
    HubCase(
        "weight_map-percent-encoded",
        _check,
        error("x.safetensors", klass="security"),
        _sharded_vae("%2e%2e/%2e%2e/x.safetensors"),
    ),
    # fuzz 6 and 10: the hub's failures and delays
    HubCase("api-http-500", _report(), error("HTTP 500"), state=_status(API, 500)),
    HubCase("files-http-500", _report(), error("HTTP 500", "model_index.json"), state=_status(FILES, 500)),
    HubCase("api-delayed-60s", _report(), error("time"), state=_delay(API)),
    HubCase("config-delayed-60s", _report(), error("transformer/config.json", "time"), state=_delay(CONFIG)),
    HubCase("config-one-byte-every-2s", _report(), error("transformer/config.json", "time"), state=_drip(CONFIG)),
    HubCase("config-redirect-loop", _report(), error("config.json"), state=_loop(CONFIG)),
    HubCase("api-not-json", _report(), error("evil"), repo=lambda r: {"api_body": b"<html>hello</html>"}),
    HubCase("api-json-list", _report(), error("evil"), repo=lambda r: {"api_body": b"[]"}),
    HubCase(
        "api-sha-null",
        _report(),
        error("evil"),
        repo=lambda r: {"api_body": b'{"id": "x", "sha": null, "siblings": []}'},
    ),
    HubCase(
        "api-100k-siblings",
        _report("--json"),
        Expect(codes=(0, 2), quiet=False),
        repo=lambda r: {"api_body": None},
        files=lambda f: {**f, **{f"junk/{i}.txt": b"" for i in range(100_000)}},
    ),
    # held up in the fuzz: weights never downloaded, the token stays on the hub's host
    HubCase("weights-only-headers-read", _report("--json"), ok(), _big_weights, max_body=200_000),
    HubCase("token-not-sent-to-another-host", _report("--json"), ok(), env={"HF_TOKEN": "hf_secret_token"}),
]


def _slug(case_id: str) -> str:
    """A repository name that shares no word with the case id, so an error naming it names nothing expected."""
    return "evil/r" + hashlib.sha1(case_id.encode()).hexdigest()[:12]


CLIENT_OWN = ("/api/agent-harnesses",)  # huggingface_hub's own registry fetch, about no repository


def _hub_problems(hub: Hub, start: int, repo: str, case: HubCase) -> list[str]:
    found = []
    served = hub.state.log[start:]
    for s in served:
        path = s.path.split("?")[0]
        decoded = unquote(path)
        inside = decoded.startswith((f"/api/models/{repo}", f"/{repo}/resolve/", "/cdn/", *CLIENT_OWN))
        if not inside or "/../" in decoded[len(repo) + 1 :]:
            found.append(f"[security] a request left the repository: {s.method} {path[:160]}")
        if case.max_body is not None and s.body_bytes > case.max_body:
            found.append(f"[memory] downloaded {s.body_bytes:,} bytes of {s.file} (more than {case.max_body:,})")
        if s.authorization and not s.host.startswith("127.0.0.1:"):
            found.append(f"[security] the token was sent to another host: {s.host}")
    return found


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hub(case: HubCase, hub: Hub, root: Path) -> None:
    files = case.files(dict(hub.files)) if case.files is not None else None
    repo = hub.publish(_slug(case.id), files, **case.repo(root))
    if case.state is not None:
        case.state(hub.state, repo)
    kwargs: dict[str, Any] = {}
    marks = root / "canary-marks"
    if case.canary:
        canary_package(root / "site", "pc_canary", marks)
        kwargs["sys_path"] = [str(root / "site")]
    start = len(hub.state.log)
    tree = watch(root)
    outcome = cli(case.args(repo, root), cwd=root / "work", env=hub.env(**case.env), deadline=DEADLINE, **kwargs)
    extra = [*tree.changes(), *canary_problems(marks), *_hub_problems(hub, start, repo, case)]
    assert_contract(outcome, case.expect, extra=extra)


def test_repository_ids_are_refused_before_any_request(hub: Hub, root: Path) -> None:
    """Held up in the fuzz: ``../../x``, ``good/..`` and ``a..b/c`` never reach the hub."""
    for spec in ("hub:../../x", "hub:good/..", "hub:a..b/c", "hub:evil/x/../../y", "hub:%2e%2e/x"):
        start = len(hub.state.log)
        outcome = cli(["report", spec], cwd=root / "work", env=hub.env(), deadline=DEADLINE)
        extra = [f"[security] {spec} reached the hub"] if hub.state.log[start:] else []
        assert_contract(outcome, error(spec.removeprefix("hub:")), extra=extra)


# --- the caches paramcheck and huggingface_hub keep: corrupted between an online and an offline run -------------------


def _manifests(home: Path) -> list[Path]:
    return sorted((home / "paramcheck" / "hub").rglob("*.json"))


def _tamper_shape(path: Path) -> None:
    data = read_json(path)
    data["weights"][0]["headers"][0]["tensors"][0][2] = ["abc"]  # manifest format 2: weights -> headers -> tensors
    path.write_text(json.dumps(data))


def _tamper_negative(path: Path) -> None:
    data = read_json(path)
    data["weights"][0]["headers"][0]["tensors"][0][2] = [-4]
    path.write_text(json.dumps(data))


def _tamper_files(path: Path) -> None:
    data = read_json(path)
    data["files"] = ["../../../../../x/config.json", *data["files"]]
    data["weights"][0]["headers"][0]["file"] = "../../../../etc/passwd"
    path.write_text(json.dumps(data))


def _tamper_refs(home: Path) -> None:
    for ref in (home / "hub").rglob("refs/main"):
        ref.write_text(ESCAPE)


def _tamper_snapshot_config(home: Path) -> None:
    for path in (home / "hub").rglob("snapshots/*/transformer/config.json"):
        target = path.resolve()
        path.unlink()
        path.write_text(deep_json(key="_class_name"))
        target.unlink(missing_ok=True)


OFFLINE: list[Any] = [
    pytest.param(
        "report", lambda home: [_tamper_shape(p) for p in _manifests(home)], error("json"), id="manifest-shape-abc"
    ),
    pytest.param(
        "check", lambda home: [_tamper_shape(p) for p in _manifests(home)], error("json"), id="manifest-shape-abc-check"
    ),
    pytest.param(
        "check",
        lambda home: [_tamper_negative(p) for p in _manifests(home)],
        Expect(codes=(1, 2), names=("json",)),
        id="manifest-negative-shape-check",
    ),
    pytest.param(
        "check",
        lambda home: [_tamper_files(p) for p in _manifests(home)],
        Expect(codes=(0, 1, 2), names=("json",)),
        id="manifest-files-escape",
    ),
    pytest.param(
        "report",
        lambda home: [p.write_text(deep_json()) for p in _manifests(home)],
        Expect(codes=(0, 2), names=("json",), quiet=False),
        id="manifest-100k-deep",
    ),
    pytest.param(
        "report",
        lambda home: [p.write_bytes(NON_UTF8) for p in _manifests(home)],
        Expect(codes=(0, 2), names=("json",), quiet=False),
        id="manifest-non-utf8",
    ),
    pytest.param("report", _tamper_refs, error("hub:evil/", klass="security"), id="hf-cache-refs-main-escape"),
    pytest.param("report", _tamper_snapshot_config, error("config.json"), id="hf-cache-config-100k-deep"),
]


@pytest.mark.parametrize(("command", "tamper", "expect"), OFFLINE)
def test_offline_cache(
    command: str, tamper: Callable[[Path], Any], expect: Expect, hub: Hub, root: Path, request: pytest.FixtureRequest
) -> None:
    repo = hub.publish(_slug("offline-" + request.node.callspec.id))
    args = ["report", f"hub:{repo}"] if command == "report" else ["check", f"hub:{repo}"]
    online = cli(args, cwd=root / "work", env=hub.env(), deadline=DEADLINE)
    assert online.returncode == 0, online.describe()
    home = root / "work" / ".hf-home"
    tamper(home)
    tree = watch(root)
    outcome = cli(args, cwd=root / "work", env=hub.env(HF_HUB_OFFLINE="1"), deadline=DEADLINE)
    assert_contract(outcome, expect, extra=tree.changes())
