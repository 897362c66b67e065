"""A hub-like HTTP server on 127.0.0.1 for the hub tests: the endpoints the unmodified huggingface_hub client calls.

- ``GET /api/models/{repo}[/revision/{rev}][?blobs=true]``: repo info (``sha``, ``siblings``, with ``blobs`` their
  sizes), as ``model_info`` and ``resolve_revision`` read it.
- ``HEAD|GET /{repo}/resolve/{rev}/{path}``: ``X-Repo-Commit``, ``ETag`` (git blob sha1), ``Content-Length``,
  ``Accept-Ranges``; safetensors files are LFS files: ``X-Linked-Etag``/``X-Linked-Size`` and a redirect to
  ``/cdn/{sha256}`` on a second server (another origin, like the hub's CDN), as the hub does.
- ``GET /cdn/{sha256}``: the blob, with ``Range: bytes=a-b`` answered ``206`` + ``Content-Range``.

Errors carry the hub's ``X-Error-Code`` headers (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo), which
huggingface_hub turns into its exception classes. Every response is logged with the bytes of body it sent, so tests
can prove what was (not) downloaded. Paths in ``interrupt`` are cut off after half their body.

A hostile hub, for tests/hostile (every behaviour off by default): a repo may answer the API with any ``api_sha``
(a path, a non-hex string) and resolve ``any_revision`` to main, or answer with a raw ``api_body``; ``delays``
hold answers back, ``drip`` sends bodies one byte at a time, ``status`` answers a forced HTTP status, and
``redirect_loop`` sends paths to themselves. A fragment matches the decoded request path when its ``*``-separated
parts appear in it in order (``/org/name/resolve/*/config.json``).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Repo:
    """One repository: commits (sha -> repo path -> bytes), branches, and who may read it."""

    commits: dict[str, dict[str, bytes]]
    refs: dict[str, str]
    access: str = "public"  # public | private | gated
    token: str | None = None  # the token that may read a private or gated repo
    api_sha: str | None = None  # what the API answers as the commit sha (a hostile hub lies)
    any_revision: bool = False  # every revision resolves to main (a hub that accepts anything)
    api_body: bytes | None = None  # the raw API answer, instead of the repository's info

    def resolve(self, revision: str) -> str | None:
        if revision in self.refs:
            return self.refs[revision]
        if revision in self.commits:
            return revision
        if (self.api_sha is not None and revision == self.api_sha) or self.any_revision:
            return self.refs.get("main")
        return None


@dataclass(frozen=True)
class Served:
    method: str
    path: str
    file: str | None  # the repo path or blob the response carried
    range: str | None
    status: int
    body_bytes: int
    authorization: bool = False  # whether the request carried an Authorization header
    host: str = ""  # the server (host:port) that answered


@dataclass
class HubState:
    repos: dict[str, Repo]
    interrupt: set[str] = field(default_factory=set)  # repo paths whose bodies are cut off
    log: list[Served] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    delays: dict[str, float] = field(default_factory=dict)  # path fragment -> seconds before answering
    drip: dict[str, float] = field(default_factory=dict)  # path fragment -> seconds between body bytes
    status: dict[str, int] = field(default_factory=dict)  # path fragment -> HTTP status answered instead
    redirect_loop: set[str] = field(default_factory=set)  # path fragments answered with a redirect to themselves
    stop: threading.Event = field(default_factory=threading.Event)  # wakes delayed and dripping answers at shutdown

    def blob(self, sha256: str) -> tuple[str, bytes] | None:
        for repo in self.repos.values():
            for files in repo.commits.values():
                for path, data in files.items():
                    if hashlib.sha256(data).hexdigest() == sha256:
                        return path, data
        return None

    def served(self, suffix: str = "") -> list[Served]:
        with self.lock:
            return [s for s in self.log if s.file is not None and s.file.endswith(suffix)]


def matches(fragment: str, path: str) -> bool:
    """Whether the ``*``-separated parts of ``fragment`` appear in ``path`` in order."""
    position = 0
    for part in fragment.split("*"):
        found = path.find(part, position)
        if found < 0:
            return False
        position = found + len(part)
    return True


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def commit_sha(files: Mapping[str, bytes], salt: str = "") -> str:
    digest = hashlib.sha1(salt.encode())
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + hashlib.sha1(files[path]).digest())
    return digest.hexdigest()


def read_tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` keyed by its posix path relative to it."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _sibling(path: str, data: bytes, blobs: bool) -> dict[str, object]:
    """A file as the repo info lists it; with ``?blobs=true`` (``files_metadata=True``) its size and LFS details."""
    if not blobs:
        return {"rfilename": path}
    sibling: dict[str, object] = {"rfilename": path, "size": len(data), "blobId": git_blob_sha1(data)}
    if path.endswith(".safetensors"):
        sibling["lfs"] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "pointerSize": 134}
    return sibling


API = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?$")
RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")  # matched before unquoting
CDN = re.compile(r"^/cdn/(?P<sha256>[0-9a-f]{64})$")
RANGE = re.compile(r"^bytes=(?P<start>\d+)-(?P<end>\d*)$")


class HubHandler(BaseHTTPRequestHandler):
    server: HubServer

    def log_message(self, format: str, *args: object) -> None:  # silence the default stderr access log
        pass

    # -- plumbing --

    def _send(
        self,
        status: int,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        *,
        file: str | None = None,
        cut: bool = False,
    ) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        payload = b"" if self.command == "HEAD" else body[: len(body) // 2] if cut else body
        # logged before the body goes out, so a client that has read it finds it in the log
        state = self.server.state
        address = self.server.server_address
        host = f"{address[0]!s}:{address[1]}"
        served = Served(
            self.command,
            self.path,
            file,
            self.headers.get("Range"),
            status,
            len(payload),
            authorization=self.headers.get("Authorization") is not None,
            host=host,
        )
        with state.lock:
            state.log.append(served)
        self.end_headers()
        interval = next((t for f, t in state.drip.items() if matches(f, unquote(self.path))), None)
        if interval is not None and payload:
            for i in range(len(payload)):  # one byte at a time: no read ever waits long, the whole never ends
                if state.stop.wait(interval):
                    return
                self.wfile.write(payload[i : i + 1])
                self.wfile.flush()
            return
        self.wfile.write(payload)
        if cut:
            self.wfile.flush()
            self.close_connection = True

    def _error(self, status: int, code: str | None, message: str, extra: Mapping[str, str] | None = None) -> None:
        headers = {"Content-Type": "application/json", "X-Error-Message": message, **(extra or {})}
        if code is not None:
            headers["X-Error-Code"] = code
        self._send(status, json.dumps({"error": message}).encode(), headers)

    def _authorized(self, repo: Repo) -> bool:
        if repo.access == "public":
            return True
        if self.headers.get("Authorization") == f"Bearer {repo.token}":
            return True
        if repo.access == "gated" and self.headers.get("Authorization"):
            self._error(403, "GatedRepo", "Access to this model is restricted; you must accept its conditions")
        elif repo.access == "gated":
            self._error(401, "GatedRepo", "Access to this model is restricted; you must be authenticated")
        else:
            self._error(401, "RepoNotFound", "Invalid username or password.")
        return False

    # -- routes --

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        raw = url.path
        path = unquote(raw)
        state = self.server.state
        for fragment, seconds in state.delays.items():
            if matches(fragment, path) and state.stop.wait(seconds):
                return
        forced = next((code for fragment, code in state.status.items() if matches(fragment, path)), None)
        if forced is not None:
            self._error(forced, None, f"forced HTTP {forced}")
            return
        if any(matches(fragment, path) for fragment in state.redirect_loop):
            self._send(302, b"", {"Location": self.path})
            return
        if match := API.match(raw):
            self._api(unquote(match["repo"]), unquote(match["rev"] or "main"), blobs="blobs" in parse_qs(url.query))
        elif match := RESOLVE.match(raw):
            self._resolve(unquote(match["repo"]), unquote(match["rev"]), unquote(match["path"]))
        elif match := CDN.match(path):
            self._cdn(match["sha256"])
        else:
            self._error(404, None, "not found")

    def _repo(self, name: str) -> Repo | None:
        repo = self.server.state.repos.get(name)
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found")
            return None
        return repo if self._authorized(repo) else None

    def _api(self, name: str, revision: str, *, blobs: bool = False) -> None:
        repo = self._repo(name)
        if repo is None:
            return
        sha = repo.resolve(revision)
        if sha is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return
        if repo.api_body is not None:
            self._send(200, repo.api_body, {"Content-Type": "application/json"})
            return
        info = {
            "_id": hashlib.md5(name.encode()).hexdigest()[:24],
            "id": name,
            "modelId": name,
            "sha": repo.api_sha if repo.api_sha is not None else sha,
            "private": repo.access == "private",
            "gated": "auto" if repo.access == "gated" else False,
            "disabled": False,
            "library_name": "diffusers",
            "tags": [],
            "siblings": [_sibling(p, data, blobs) for p, data in sorted(repo.commits[sha].items())],
        }
        if name + "/api" in self.server.state.interrupt:
            self._send(200, json.dumps(info).encode(), {"Content-Type": "application/json"}, file=None, cut=True)
            return
        self._send(200, json.dumps(info).encode(), {"Content-Type": "application/json"})

    def _resolve(self, name: str, revision: str, filename: str) -> None:
        repo = self._repo(name)
        if repo is None:
            return
        sha = repo.resolve(revision)
        if sha is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return
        data = repo.commits[sha].get(filename)
        if data is None:
            self._error(404, "EntryNotFound", f"{filename} does not exist", {"X-Repo-Commit": sha})
            return
        headers = {"X-Repo-Commit": sha, "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
        if filename.endswith(".safetensors"):  # an LFS file: the hub redirects to its CDN
            sha256 = hashlib.sha256(data).hexdigest()
            headers |= {
                "ETag": f'"{sha256}"',
                "X-Linked-Etag": f'"{sha256}"',
                "X-Linked-Size": str(len(data)),
                "Location": f"{self.server.cdn}/cdn/{sha256}",
            }
            self._send(302, b"", headers, file=f"{name}/{filename}")
            return
        headers["ETag"] = f'"{git_blob_sha1(data)}"'
        self._ranged(data, headers, file=f"{name}/{filename}")

    def _cdn(self, sha256: str) -> None:
        found = self.server.state.blob(sha256)
        if found is None:
            self._error(404, None, "no such blob")
            return
        path, data = found
        self._ranged(data, {"ETag": f'"{sha256}"', "Accept-Ranges": "bytes"}, file=path)

    def _ranged(self, data: bytes, headers: dict[str, str], *, file: str) -> None:
        cut = any(file.endswith(p) for p in self.server.state.interrupt)
        requested = self.headers.get("Range")
        if requested is None:
            self._send(200, data, headers, file=file, cut=cut)
            return
        match = RANGE.match(requested.strip())
        if match is None or int(match["start"]) >= len(data):
            self._send(416, b"", {**headers, "Content-Range": f"bytes */{len(data)}"}, file=file)
            return
        start = int(match["start"])
        end = min(int(match["end"]) if match["end"] else len(data) - 1, len(data) - 1)
        headers = {**headers, "Content-Range": f"bytes {start}-{end}/{len(data)}"}
        self._send(206, data[start : end + 1], headers, file=file, cut=cut)


class HubServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up (a killed case, a timeout) is not the server's error: stay quiet about it."""
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)  # type: ignore[arg-type]

    def __init__(self, state: HubState, cdn: str | None = None, host: str = "127.0.0.1") -> None:
        super().__init__((host, 0), HubHandler)
        self.state = state
        self.cdn = cdn or self.endpoint

    @property
    def endpoint(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


@contextmanager
def serve(state: HubState, cdn_host: str = "127.0.0.1") -> Iterator[HubServer]:
    """The hub and its CDN (another origin, as on huggingface.co) running in threads for the duration of the block.

    ``cdn_host="127.0.0.2"`` puts the CDN on another host, as a redirect to another domain would.
    """
    cdn = HubServer(state, host=cdn_host)
    hub = HubServer(state, cdn=cdn.endpoint)
    threads = [
        threading.Thread(target=server.serve_forever, args=(0.05,), name="hub-server", daemon=True)
        for server in (hub, cdn)
    ]
    for thread in threads:
        thread.start()
    try:
        yield hub
    finally:
        state.stop.set()
        for server in (hub, cdn):
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join(timeout=5)
