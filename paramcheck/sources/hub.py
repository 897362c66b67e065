"""Models straight from the Hugging Face Hub: configs and safetensors headers only, pinned to one commit.

``hub_source("org/name@rev")`` resolves the revision to the commit the hub answers with, fetches ``model_index.json``
and each component's ``config.json`` with ``hf_hub_download`` (so HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE and the
standard cache apply) and reads each component's safetensors headers with huggingface_hub's own
``parse_safetensors_file_metadata`` (HTTP range requests of the first 100 kB), validated as local headers are
(``paramcheck.sources.headers``): the weight files are never downloaded.

The headers are not part of huggingface_hub's cache, so after an online fetch they are kept, per commit, in a small
JSON manifest under ``$HF_HOME/paramcheck/hub/``; with HF_HUB_OFFLINE=1 the configs come from the hub cache and the
headers from that manifest.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import CheckpointError, ConfigError, ParamcheckError, SourceError, first_line
from ..fileio import read_json, write_atomic
from ..limits import MAX_FILE_BYTES
from ..results import SourceInfo, SourceKind
from ..silence import silenced
from .headers import Header, check_shard, hub_header, index_shards, validated
from .spec import (
    CONFIG,
    INDEX_SUFFIX,
    MODEL_INDEX,
    WEIGHT_STEMS,
    ComponentSpec,
    ModelSource,
    index_entries,
    model_class,
    pipeline_name,
)

__all__ = ["REPO_ID", "HubModel", "HubWeights", "fetch_hub_model", "hub_source", "parse_hub_spec"]

logger = logging.getLogger(__name__)

REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
# a branch, tag, commit sha or hub pull-request ref (refs/pr/1): git's ref characters, no '..' nor '//', no leading
# '/' or '-'. huggingface_hub writes the revision as a path under its cache (refs/<revision>), so nothing else passes.
REVISION = re.compile(r"(?!.*\.\.)(?!.*//)[A-Za-z0-9_][A-Za-z0-9._/+-]{0,254}(?<![/.])")
SHA = re.compile(r"[0-9a-f]{40}")  # the only commit id paramcheck accepts from a hub: it becomes a path too
MANIFEST_FORMAT = 2
OFFLINE_HINT = "use a bundled id (paramcheck list) or a local folder, or run once with network access to fill the cache"


@dataclass(frozen=True, slots=True, kw_only=True)
class HubWeights:
    """The safetensors headers of one component, read remotely and validated (shards in order)."""

    component: str
    headers: tuple[Header, ...]

    @property
    def parameters(self) -> int:
        """Elements stored in the files (parameters and persistent buffers, each stored tensor once)."""
        return sum(t.elements for h in self.headers for t in h.tensors)

    def note(self) -> str:
        tensors = [t for h in self.headers for t in h.tensors]
        elements: dict[str, int] = {}
        for t in tensors:
            elements[t.dtype] = elements.get(t.dtype, 0) + t.elements
        kind = f"{len(self.headers)} shards" if len(self.headers) > 1 else "1 file"
        dtypes = ", ".join(sorted(elements, key=lambda d: (-elements[d], d))) or "no tensors"
        return (
            f"{self.component}: safetensors headers ({kind}): {len(tensors):,} tensors, "
            f"{self.parameters:,} elements ({dtypes})"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class HubModel:
    """A hub repository at one commit: the source to build and the headers of its safetensors weights."""

    repo: str
    revision: str
    source: ModelSource
    weights: tuple[HubWeights, ...]
    from_cache: bool


def parse_hub_spec(spec: str) -> tuple[str, str | None]:
    """``org/name[@revision]`` -> (repo, revision); a one-line ``SourceError`` when it is no repository id."""
    repo, _, revision = spec.partition("@")
    if not REPO_ID.fullmatch(repo) or repo.endswith((".", "-")) or ".." in repo:
        shown = f"hub:{spec}" if spec.isprintable() and len(spec) < 300 else _short(f"hub:{spec}")
        raise SourceError(f"{shown}: not a hub repository id; write hub:ORG/NAME or hub:ORG/NAME@REVISION")
    if "@" in spec and not revision:
        raise SourceError(f"hub:{spec}: empty revision after '@'; give a branch, tag or commit sha, or drop the '@'")
    return repo, check_revision(repo, revision) if revision else None


def check_revision(repo: str, revision: str) -> str:
    """``revision`` when it has the shape of a branch, tag, commit sha or ``refs/pr/N`` (it becomes a cache path)."""
    if not REVISION.fullmatch(revision) or revision.endswith(".lock"):
        raise SourceError(
            f"hub:{repo}: revision {_short(revision)} is not a branch, tag or commit sha (letters, digits, '._-+/', "
            "no '..', at most 255 characters); check the revision"
        )
    return revision


def _short(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters: a message quotes what it was given on one line, never all of it."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pinned_sha(answer: object, where: str) -> str:
    """The commit the hub answered with, when it is 40 hex digits: it names files in the caches."""
    if not isinstance(answer, str) or not SHA.fullmatch(answer):
        raise SourceError(
            f"{where}: the hub answered commit {_short(answer)}, not a 40-hex-digit sha; refusing it (it would name "
            "files in the cache): check HF_ENDPOINT"
        )
    return answer


def hub_source(spec: str) -> ModelSource:
    """``org/name[@revision]`` as a ``ModelSource``: configs in memory, revision pinned, header totals in the notes."""
    repo, revision = parse_hub_spec(spec)
    return fetch_hub_model(repo, revision).source


def fetch_hub_model(repo: str, revision: str | None = None) -> HubModel:
    """Configs and safetensors headers of ``repo`` at ``revision`` (default: the main branch); no weight data."""
    from huggingface_hub import HfApi, constants

    if revision is not None:
        check_revision(repo, revision)
    where = f"hub:{repo}" + (f"@{revision}" if revision else "")
    api = HfApi()
    offline = constants.is_offline_mode()
    with _quiet_hub(), _translated(where, MODEL_INDEX):
        try:
            answer = api.resolve_revision(repo, revision=revision, local_files_only=offline).resolved
        except (AssertionError, AttributeError, KeyError, TypeError) as e:  # a body that is no repository info
            raise SourceError(
                f"{where}: malformed answer from the hub for the repository's commit; check HF_ENDPOINT"
            ) from e
    sha = _pinned_sha(answer, where)
    pinned = f"hub:{repo}@{sha}"
    listing = None if offline else _remote_listing(api, repo, sha, pinned)
    manifest = _read_manifest(repo, sha) if listing is None else None
    if listing is None:
        listing = _manifest_listing(manifest) or _snapshot_listing(repo, sha)
    pipeline_class, components = _components(repo, sha, listing, pinned)
    notes = [f"hub: {repo} at commit {sha}" + (f" (requested {revision!r})" if revision and revision != sha else "")]
    weights: tuple[HubWeights, ...]
    if listing.from_cache:
        cached = _manifest_weights(manifest, _manifest_path(repo, sha)) if manifest is not None else None
        if cached is None:
            notes.append("hub: offline, configs from the huggingface_hub cache")
            notes.append("hub: no safetensors headers cached for this commit; run once online to read them")
        else:
            notes.append("hub: offline, configs from the huggingface_hub cache, headers from paramcheck's cache")
        weights = cached or ()
    else:
        found = [_remote_weights(api, repo, sha, spec, listing, pinned) for spec in components]
        weights = tuple(w for w in found if w is not None)
        _write_manifest(repo, sha, listing.files, weights)
    for spec in components:
        header = next((w for w in weights if w.component == spec.name), None)
        if header is not None:
            notes.append(header.note())
        elif spec.config is not None and not listing.from_cache:
            notes.append(f"{spec.name}: no safetensors weights in the repository; no header read")
    source = ModelSource(
        model=repo,
        info=SourceInfo(kind=SourceKind.HUB, location=repo, revision=sha, weights=False),
        components=components,
        pipeline_class=pipeline_class,
        notes=tuple(notes),
    )
    return HubModel(repo=repo, revision=sha, source=source, weights=weights, from_cache=listing.from_cache)


def _location(repo: str, sha: str, filename: str) -> str:
    return f"hf://{repo}@{sha}/{filename}"


# --- listing: which files the commit holds ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Listing:
    files: tuple[str, ...]
    from_cache: bool
    sizes: Mapping[str, int] | None = None  # bytes per file, as the hub reports them


def _remote_listing(api: Any, repo: str, sha: str, where: str) -> _Listing | None:
    """The commit's files and their sizes from the hub, or ``None`` when the hub cannot be reached (then the cache
    serves)."""
    import httpx2
    from huggingface_hub.errors import OfflineModeIsEnabled

    try:
        with _quiet_hub(), _translated(where, "the file list"):
            info = api.model_info(repo, revision=sha, files_metadata=True)
    except SourceError as e:
        if isinstance(e.__cause__, (httpx2.ConnectError, httpx2.ConnectTimeout, OfflineModeIsEnabled)):
            return None
        raise
    siblings = info.siblings or ()
    sizes = {s.rfilename: s.size for s in siblings if isinstance(s.size, int)}
    return _Listing(files=tuple(sorted(s.rfilename for s in siblings)), from_cache=False, sizes=sizes)


def _snapshot_listing(repo: str, sha: str) -> _Listing:
    """Offline without a manifest: the files huggingface_hub's cache holds for the commit."""
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    snapshot = Path(constants.HF_HUB_CACHE) / repo_folder_name(repo_id=repo, repo_type="model") / "snapshots" / sha
    if not snapshot.is_dir():
        raise SourceError(f"hub:{repo}@{sha}: offline and not in the cache; {OFFLINE_HINT}")
    files = tuple(sorted(p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if not p.is_dir()))
    return _Listing(files=files, from_cache=True)


# --- configs ---------------------------------------------------------------------------------------------------------


def _read_json(repo: str, sha: str, filename: str, where: str, listing: _Listing) -> dict[str, Any]:
    """A JSON file of the commit, through huggingface_hub's cache; one the listing says is larger than
    ``PARAMCHECK_MAX_FILE_BYTES`` is refused before it is downloaded (``read_json`` bounds the rest)."""
    from huggingface_hub import hf_hub_download

    size = (listing.sizes or {}).get(filename)
    if size is not None and size > MAX_FILE_BYTES.value():
        raise ConfigError(
            f"{_location(repo, sha, filename)}: {MAX_FILE_BYTES.exceeded(f'{size:,} bytes (not downloaded)')}"
        )

    with _quiet_hub(), _translated(where, filename):
        path = Path(hf_hub_download(repo, filename, revision=sha, tqdm_class=_silent_tqdm()))
    return read_json(path)


def _weight_files(folder: str, files: tuple[str, ...]) -> tuple[str, ...]:
    """The safetensors weights of one component folder ("" for the repo root): its index, or its one file."""
    present = set(files)
    for stem in WEIGHT_STEMS:
        for name in (f"{folder}{stem}{INDEX_SUFFIX}", f"{folder}{stem}.safetensors"):
            if name in present:
                return (name,)
    return ()


def _components(repo: str, sha: str, listing: _Listing, where: str) -> tuple[str | None, tuple[ComponentSpec, ...]]:
    """The pipeline class and the components of the commit (one ``model`` for a single-model repository)."""
    files = set(listing.files)
    if MODEL_INDEX not in files and CONFIG in files:
        return None, (_single_model(repo, sha, listing, where),)
    if MODEL_INDEX not in files and not listing.from_cache:
        raise SourceError(f"{where}: holds neither {MODEL_INDEX} nor {CONFIG}; is it a diffusers or transformers repo?")
    index = _read_json(repo, sha, MODEL_INDEX, where, listing)
    specs: list[ComponentSpec] = []
    location = _location(repo, sha, MODEL_INDEX)
    for name, library, class_name in index_entries(index, location, lambda n: f"{n}/{CONFIG}" in files):
        filename = f"{name}/{CONFIG}"
        config = (
            _read_json(repo, sha, filename, where, listing) if class_name is not None and filename in files else None
        )
        specs.append(
            ComponentSpec(
                name=name,
                library=library,
                class_name=class_name,
                config=config,
                hub_weights=_weight_files(f"{name}/", listing.files) if config is not None else (),
                config_file=_location(repo, sha, filename) if config is not None else None,
            )
        )
    if not specs:
        raise ConfigError(
            f"{_location(repo, sha, MODEL_INDEX)}: lists no components; is it a diffusers model_index.json?"
        )
    return pipeline_name(index), tuple(specs)


def _single_model(repo: str, sha: str, listing: _Listing, where: str) -> ComponentSpec:
    config = _read_json(repo, sha, CONFIG, where, listing)
    location = _location(repo, sha, CONFIG)
    library, class_name = model_class(config, location)
    return ComponentSpec(
        name="model",
        library=library,
        class_name=class_name,
        config=config,
        hub_weights=_weight_files("", listing.files),
        config_file=location,
    )


# --- safetensors headers ---------------------------------------------------------------------------------------------


def _remote_weights(
    api: Any, repo: str, sha: str, spec: ComponentSpec, listing: _Listing, where: str
) -> HubWeights | None:
    headers: list[Header] = []
    for filename in spec.hub_weights:
        if not filename.endswith(INDEX_SUFFIX):
            headers.append(_remote_header(api, repo, sha, filename, listing, where))
            continue
        location = _location(repo, sha, filename)
        folder = filename.rpartition("/")[0]
        for shard, names in index_shards(_read_json(repo, sha, filename, where, listing), location).items():
            header = _remote_header(api, repo, sha, f"{folder}/{shard}" if folder else shard, listing, where)
            headers.append(check_shard(header, shard, names, location))
    return HubWeights(component=spec.name, headers=tuple(headers)) if headers else None


def _remote_header(api: Any, repo: str, sha: str, filename: str, listing: _Listing, where: str) -> Header:
    """One file's header, parsed by huggingface_hub from range requests, validated as a local one is."""
    with _quiet_hub(), _translated(where, filename):
        try:
            parsed = api.parse_safetensors_file_metadata(repo, filename, revision=sha)
        except (AttributeError, TypeError) as e:  # its parser assumes a JSON object of objects
            raise SourceError(_malformed(where, filename)) from e
    return hub_header(_location(repo, sha, filename), parsed, (listing.sizes or {}).get(filename))


# --- paramcheck's header cache (the manifest) ------------------------------------------------------------------------


def _manifest_path(repo: str, sha: str) -> Path:
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    folder = str(repo_folder_name(repo_id=repo, repo_type="model"))
    return Path(constants.HF_HOME) / "paramcheck" / "hub" / folder / f"{sha}.json"


def _write_manifest(repo: str, sha: str, files: tuple[str, ...], weights: tuple[HubWeights, ...]) -> None:
    data = {
        "format": MANIFEST_FORMAT,
        "repo": repo,
        "revision": sha,
        "files": list(files),
        "weights": [
            {
                "component": w.component,
                "headers": [
                    {
                        "file": h.file,
                        "metadata": dict(h.metadata),
                        "tensors": [[t.name, t.dtype, list(t.shape), [t.begin, t.end]] for t in h.tensors],
                    }
                    for h in w.headers
                ],
            }
            for w in weights
        ],
    }
    path = _manifest_path(repo, sha)
    try:
        write_atomic(path, json.dumps(data))
    except OSError as e:  # a read-only cache costs only the offline headers
        logger.warning("cannot cache the safetensors headers of %s@%s in %s: %s", repo, sha, path, e)


def _read_manifest(repo: str, sha: str) -> dict[str, Any] | None:
    path = _manifest_path(repo, sha)
    if not path.is_file():
        return None
    try:
        data = read_json(path)
    except ParamcheckError as e:
        logger.warning("ignoring the unreadable header cache %s: %s", path, e)
        return None
    if data.get("format") != MANIFEST_FORMAT or data.get("revision") != sha:
        return None
    return data


def _manifest_listing(manifest: Mapping[str, Any] | None) -> _Listing | None:
    if manifest is None or not isinstance(manifest.get("files"), list):
        return None
    return _Listing(files=tuple(str(f) for f in manifest["files"]), from_cache=True)


def _manifest_weights(manifest: Mapping[str, Any], path: Path) -> tuple[HubWeights, ...]:
    """The cached headers, validated again (the file sizes are not cached: the end of the data is not checked)."""
    try:
        return tuple(
            HubWeights(
                component=w["component"],
                headers=tuple(
                    validated(h["file"], map(tuple, h["tensors"]), h["metadata"], data_bytes=None) for h in w["headers"]
                ),
            )
            for w in manifest["weights"]
        )
    except (KeyError, TypeError, ValueError, CheckpointError) as e:
        raise SourceError(
            f"{path}: paramcheck's header cache is damaged ({_short(first_line(e), 120)}); delete the file, or run "
            "once with network access to rewrite it"
        ) from e


# --- the boundary: huggingface_hub's exceptions -> one line ----------------------------------------------------------


def _quiet_hub() -> contextlib.AbstractContextManager[None]:
    """huggingface_hub logs a warning before falling back on its cache; the result's notes say so instead."""
    return silenced("huggingface_hub")


def _silent_tqdm() -> Any:
    from huggingface_hub.utils import tqdm

    class Silent(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return Silent


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


class _Deadline(BaseException):
    """Raised by the request deadline's alarm: a BaseException, so that no ``except Exception`` of a library on the
    way swallows it."""


def request_seconds() -> float:
    """The most one hub request may take in all: twice huggingface_hub's per-read download timeout
    (HF_HUB_DOWNLOAD_TIMEOUT, default 10 s), so that a server that drips one byte at a time, delays its answer or
    retries cannot hold paramcheck forever."""
    from huggingface_hub import constants

    return 2.0 * max(float(constants.HF_HUB_DOWNLOAD_TIMEOUT), float(constants.HF_HUB_ETAG_TIMEOUT), 1.0)


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise ``_Deadline`` in the main thread after ``seconds`` (a no-op in other threads or under an outer alarm)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or signal.getitimer(signal.ITIMER_REAL)[0] > 0:
        yield
        return

    def alarm(signum: int, frame: object) -> None:
        raise _Deadline

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def _translated(where: str, what: str) -> Iterator[None]:
    """Turn huggingface_hub's and httpx's exceptions into one ``SourceError`` line naming the repo and the file; a
    request that takes longer than ``request_seconds()`` in all is cut off."""
    seconds = request_seconds()
    try:
        with _deadline(seconds):
            yield
    except _Deadline as e:
        status = _retried_status(e.__traceback__)
        if status is not None:  # huggingface_hub was backing off from a 5xx when the deadline came
            raise SourceError(
                f"{where}: the hub answered HTTP {status} (a server error) for {what}, still after retrying for "
                f"{seconds:g} s; retry later"
            ) from None
        raise SourceError(_timed_out(where, what, seconds)) from None
    except (SourceError, ConfigError):
        raise
    except Exception as e:
        message = _message(e, where, what)
        if message is None:
            raise
        raise SourceError(message) from e


def _retried_status(trace: TracebackType | None) -> int | None:
    """The HTTP status of the failed answer huggingface_hub was retrying when the deadline came, if any: its backoff
    loop holds that answer in a local variable (``response``) or in the error it caught (``head_call_error``)."""
    from huggingface_hub.errors import HfHubHTTPError

    status = None
    while trace is not None:
        for value in trace.tb_frame.f_locals.values():
            response = value.response if isinstance(value, HfHubHTTPError) else value
            code = getattr(response, "status_code", None)
            if isinstance(code, int) and code >= 500:
                status = code
        trace = trace.tb_next
    return status


def _timed_out(where: str, what: str, seconds: float) -> str:
    return (
        f"{where}: no complete answer for {what} within {seconds:g} s (timed out; the limit is twice "
        "HF_HUB_DOWNLOAD_TIMEOUT); retry later, or raise HF_HUB_DOWNLOAD_TIMEOUT"
    )


def _malformed(where: str, what: str) -> str:
    return f"{where}: {what}: malformed safetensors header; the file on the hub may be broken"


def _message(e: Exception, where: str, what: str) -> str | None:
    import httpx2
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        FileMetadataError,
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
        RevisionResolutionError,
        SafetensorsParsingError,
    )

    status = e.response.status_code if isinstance(e, HfHubHTTPError) and e.response is not None else None
    if isinstance(e, GatedRepoError):
        return (
            f"{where}: gated repository (HTTP {status}); accept its conditions on the hub, "
            "then set HF_TOKEN to a token of that account"
        )
    if isinstance(e, RepositoryNotFoundError):
        if status == 401:
            return (
                f"{where}: not found or private (HTTP 401); check the id, or set HF_TOKEN to a token that can read it"
            )
        return f"{where}: repository not found (HTTP {status}); check the id (ORG/NAME) on the hub"
    if isinstance(e, RevisionNotFoundError):
        return f"{where}: revision not found on the hub; give a branch, tag or full commit sha of this repository"
    if isinstance(e, RemoteEntryNotFoundError):
        return f"{where}: {what} not found (HTTP 404); is this a diffusers or transformers repository?"
    if status is None:  # huggingface_hub wraps a failed request (LocalEntryNotFoundError...): the status is inside
        status = next(
            (c.response.status_code for c in _chain(e) if isinstance(c, HfHubHTTPError) and c.response is not None),
            None,
        )
        if status is not None and status >= 500:
            return f"{where}: the hub answered HTTP {status} (a server error) for {what}; retry later"
    if isinstance(e, HfHubHTTPError):
        if status in (401, 403):
            return f"{where}: access denied to {what} (HTTP {status}); check HF_TOKEN and the repository's access"
        return f"{where}: the hub answered HTTP {status} for {what}; retry later, or check HF_ENDPOINT"
    if isinstance(e, SafetensorsParsingError):
        return _malformed(where, what)
    if isinstance(e, HFValidationError):
        return f"{where}: not a valid repository id or revision ({str(e).splitlines()[0]})"
    chain = list(_chain(e))
    if any(isinstance(c, (httpx2.ReadTimeout, httpx2.WriteTimeout, httpx2.PoolTimeout)) for c in chain):
        return (
            f"{where}: the hub did not answer {what} in time (timed out); retry later, or raise HF_HUB_DOWNLOAD_TIMEOUT"
        )
    if any(isinstance(c, FileMetadataError) for c in chain):
        return (
            f"{where}: {constants.ENDPOINT} does not answer like a Hugging Face Hub (no X-Repo-Commit or ETag); "
            "check HF_ENDPOINT"
        )
    if any(isinstance(c, (httpx2.RemoteProtocolError, httpx2.ReadError, httpx2.ReadTimeout)) for c in chain) or (
        isinstance(e, OSError) and "Consistency check failed" in str(e)
    ):
        return f"{where}: the hub's response for {what} was interrupted; retry"
    if isinstance(e, (RevisionResolutionError, LocalEntryNotFoundError, OfflineModeIsEnabled)) or any(
        isinstance(c, (httpx2.ConnectError, httpx2.ConnectTimeout)) for c in chain
    ):
        reason = "offline (HF_HUB_OFFLINE=1)" if constants.is_offline_mode() else f"{constants.ENDPOINT} unreachable"
        return f"{where}: {reason} and {what} is not in the cache; {OFFLINE_HINT}"
    if isinstance(e, httpx2.HTTPError):
        return f"{where}: network error while fetching {what} ({type(e).__name__}); retry"
    if isinstance(e, ValueError) and "JSON" in type(e).__name__ + str(e):
        return f"{where}: malformed response from the hub for {what}; retry, or check HF_ENDPOINT"
    return None
