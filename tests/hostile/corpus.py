"""Shared machinery of the hostile corpus: a bounded runner, the contract every case must meet, input generators.

The runner forks the test process (torch, diffusers and transformers already imported, so a case costs a fraction
of a second instead of the ~15 s of a fresh interpreter) and runs ``paramcheck.cli.main(argv)`` or
``pytest.main(args)`` in the child, as a fresh process would: its own stdout/stderr files, no logging handlers of
the outer pytest, the default warning filters, huggingface_hub pointed at a loopback (or closed) endpoint and a
private HF_HOME, ``RLIMIT_AS`` at the current size plus ``ADDRESS_SPACE`` and a deadline after which the child's
whole process group is killed. A handful of cases that need a real interpreter (``python -m paramcheck`` puts the
working directory on ``sys.path``; stdout closed, full or ASCII) use ``python_m``.

The contract (issue 13): exit 2 (1 for a genuine mismatch in ``check``) with exactly one stderr line
``paramcheck: error: ...`` naming the file/key/model at fault; never a traceback; nothing written outside the
expected places; bounded time and memory; for inputs that would give a wrong number, a non-zero exit or a note,
never the wrong total with exit 0. A failed check says which class it breaks: ``[traceback]``, ``[hang]``,
``[memory]``, ``[silent]``, ``[security]``, ``[lines]``, ``[message]``, ``[exit]``, ``[stdout]``.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import io
import json
import os
import re
import resource
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEADLINE = 8.0  # seconds a case may run; every correct answer here takes well under 2 s
ADDRESS_SPACE = 3 << 30  # RLIMIT_AS headroom above the forked child's starting size
MEMORY_GROWTH = 512 << 20  # peak RSS growth allowed to one case (the fuzz saw 760 MB for --prompt-length 1e8)
FILE_SIZE = 512 << 20  # RLIMIT_FSIZE: no case writes a file this large
SUBPROCESS_DEADLINE = 180.0  # a fresh interpreter imports torch, diffusers and transformers (~15 s on 2 cores)
CLOSED_ENDPOINT = "http://127.0.0.1:9"  # the discard port: nothing listens; no case ever reaches huggingface.co
LOG_ENV = "PARAMCHECK_HOSTILE_LOG"  # when set, every verified case appends one JSON line to this file
ERROR_PREFIX = "paramcheck: error: "
USAGE_LAST = re.compile(r"^paramcheck(?: [\w-]+)?: error: \S")
EXCEPTION_LINE = re.compile(r"^E\s+(?:[\w.]+\.)?\w*(?:Error|Exception|Interrupt)\b", re.MULTILINE)


# --- outcomes -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one run did: exit code (None when killed at the deadline), both streams, time and memory."""

    argv: tuple[str, ...]
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    deadline: float
    growth: int  # peak RSS above the parent's RSS at fork time (bytes); 0 for subprocesses
    signal: int | None = None

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    @property
    def stderr_lines(self) -> list[str]:
        return self.stderr.splitlines()

    def describe(self) -> str:
        err = self.stderr if len(self.stderr) < 2000 else self.stderr[:600] + "\n[...]\n" + self.stderr[-1200:]
        out = self.stdout if len(self.stdout) < 600 else self.stdout[:600] + "[...]"
        return (
            f"argv: {list(self.argv)!r}\nexit: {self.returncode} (signal {self.signal}) after {self.seconds:.1f}s, "
            f"RSS growth {self.growth >> 20} MB\n--- stderr ---\n{err}\n--- stdout ---\n{out}"
        )


# --- the forked runner ----------------------------------------------------------------------------------------------


def _resident_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _virtual_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")


_CAP_DAC = (1 << 1) | (1 << 2)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH


def drop_file_capabilities() -> None:
    """Make root obey file modes (tests run as root here): clear CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH."""
    if os.geteuid() != 0:
        return

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    libc = ctypes.CDLL(None, use_errno=True)
    header, data = Header(0x20080522, 0), (Data * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    data[0].effective &= ~_CAP_DAC
    data[0].permitted &= ~_CAP_DAC
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")
    for cap in (1, 2):  # and from the bounding set, so children that exec (pytest -n) stay bound too
        libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP


def _point_huggingface_hub() -> None:
    """huggingface_hub reads its environment into ``constants`` at import (done in the parent): read it again.

    Every path constant under the parent's HF_HOME moves under the case's; the endpoint constants follow HF_ENDPOINT.
    """
    from huggingface_hub import constants

    env = os.environ
    endpoint = env.get("HF_ENDPOINT", CLOSED_ENDPOINT).rstrip("/")
    env["HF_ENDPOINT"] = endpoint
    old_home, hf_home = str(constants.HF_HOME), env["HF_HOME"]
    for name in dir(constants):
        value = getattr(constants, name)
        if name.isupper() and isinstance(value, str) and value.startswith(old_home):
            setattr(constants, name, hf_home + value[len(old_home) :])
    cache = env.setdefault("HF_HUB_CACHE", str(Path(hf_home) / "hub"))
    constants.HF_HUB_CACHE = constants.HUGGINGFACE_HUB_CACHE = cache
    constants.ENDPOINT = endpoint
    constants.HUGGINGFACE_CO_URL_HOME = endpoint + "/"
    constants.HUGGINGFACE_CO_URL_TEMPLATE = endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    constants.HF_HUB_OFFLINE = env.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}
    for name in ("HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT"):
        if name in env:
            setattr(constants, name, int(env[name]))


def _fresh_process_state(argv0: str, argv: Sequence[str]) -> None:
    """What a new interpreter would have: no pytest logging handlers, default warning filters, plain argv."""
    import logging
    import warnings

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    warnings.resetwarnings()
    for action, category in (
        ("default", DeprecationWarning),  # only for __main__ in a fresh interpreter; harmless here
        ("ignore", DeprecationWarning),
        ("ignore", PendingDeprecationWarning),
        ("ignore", ImportWarning),
        ("ignore", ResourceWarning),
    ):
        warnings.simplefilter(action, category)  # type: ignore[arg-type]
    original = getattr(warnings, "_showwarning_orig", None)
    if original is not None:
        warnings.showwarning = original
    sys.argv = [argv0, *argv]
    sys.path[:] = [p for p in sys.path if p not in ("", ".")]


def _child(
    entry: Callable[[list[str]], Any],
    argv: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str | None],
    files: tuple[str, str],
    memory: int,
    drop_dac: bool,
    sys_path: Sequence[str],
    drop_modules: Sequence[str],
    argv0: str,
) -> None:
    code = 1
    try:
        import gc

        gc.freeze()  # what the parent built is never collected here: pytest's gc.collect() stays cheap
        os.setpgid(0, 0)
        limit = _virtual_bytes() + memory
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE, FILE_SIZE))
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, name in zip((1, 2), files, strict=True):
            os.dup2(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", line_buffering=True)
        sys.stderr = io.TextIOWrapper(
            io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace", line_buffering=True
        )
        sys.__stdout__, sys.__stderr__ = sys.stdout, sys.stderr
        for key in [k for k in os.environ if k.startswith(("HF_", "HUGGING", "TRANSFORMERS_OFFLINE", "PYTEST_"))]:
            del os.environ[key]  # the outer cache, token, endpoint and pytest-xdist worker never reach a case
        os.environ["HF_HOME"] = str(cwd / ".hf-home")
        os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _point_huggingface_hub()
        _fresh_process_state(argv0, argv)
        sys.path[:0] = list(sys_path)
        for prefix in drop_modules:
            for name in [m for m in sys.modules if m == prefix or m.startswith(prefix + ".")]:
                del sys.modules[name]
        os.chdir(cwd)
        if drop_dac:
            drop_file_capabilities()
        try:
            result = entry(argv)
            code = int(result) if result is not None else 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if e.code is not None and not isinstance(e.code, int):
                print(e.code, file=sys.stderr)
        except BaseException:  # exactly what the interpreter prints for an uncaught exception
            traceback.print_exc()
            code = 1
        try:
            sys.stdout.flush()
        except Exception:  # as the interpreter reports a failed flush at exit
            print("Exception ignored on flushing sys.stdout:", file=sys.stderr)
            traceback.print_exc()
            code = 120
        sys.stderr.flush()
    finally:
        os._exit(code)


@dataclass
class Launched:
    """A forked case still running: ``wait()`` enforces its deadline and returns its ``Outcome``."""

    pid: int
    argv: tuple[str, ...]
    scratch: tempfile.TemporaryDirectory[str]
    files: tuple[str, str]
    baseline: int
    start: float
    deadline: float

    def wait(self) -> Outcome:
        returncode: int | None = None
        signum: int | None = None
        while True:
            done, status, usage = os.wait4(self.pid, os.WNOHANG)
            if done:
                if os.WIFSIGNALED(status):
                    signum = os.WTERMSIG(status)
                    returncode = -signum
                else:
                    returncode = os.WEXITSTATUS(status)
                break
            if time.monotonic() - self.start > self.deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                _, _, usage = os.wait4(self.pid, 0)
                break
            time.sleep(0.01)
        seconds = time.monotonic() - self.start
        with contextlib.suppress(ProcessLookupError):  # nothing the case started may outlive it
            os.killpg(self.pid, signal.SIGKILL)
        stdout = Path(self.files[0]).read_bytes().decode("utf-8", "backslashreplace")
        stderr = Path(self.files[1]).read_bytes().decode("utf-8", "backslashreplace")
        self.scratch.cleanup()
        return Outcome(
            argv=self.argv,
            returncode=returncode,
            stdout=stdout,
            stderr=stderr,
            seconds=seconds,
            deadline=self.deadline,
            growth=max(0, usage.ru_maxrss * 1024 - self.baseline),
            signal=signum,
        )


def launch_forked(
    entry: Callable[[list[str]], Any],
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str | None] | None = None,
    deadline: float = DEADLINE,
    memory: int = ADDRESS_SPACE,
    drop_dac: bool = False,
    sys_path: Sequence[str] = (),
    drop_modules: Sequence[str] = (),
    argv0: str = "paramcheck",
) -> Launched:
    """Start ``entry(argv)`` in a forked child; several may run at once (``wait()`` on each)."""
    args = [str(a) for a in argv]
    scratch = tempfile.TemporaryDirectory(prefix="hostile-run-")
    files = (str(Path(scratch.name) / "stdout"), str(Path(scratch.name) / "stderr"))
    for name in files:
        Path(name).touch()
    sys.stdout.flush()
    sys.stderr.flush()
    baseline = _resident_bytes()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        _child(
            entry,
            args,
            cwd=cwd,
            env=dict(env or {}),
            files=files,
            memory=memory,
            drop_dac=drop_dac,
            sys_path=sys_path,
            drop_modules=drop_modules,
            argv0=argv0,
        )
    return Launched(pid, tuple(args), scratch, files, baseline, start, deadline)


def run_forked(entry: Callable[[list[str]], Any], argv: Sequence[str], **kwargs: Any) -> Outcome:
    """``entry(argv)`` in a forked child, bounded in time and address space, as a fresh process would run it."""
    return launch_forked(entry, argv, **kwargs).wait()


def _main(argv: list[str]) -> int:
    from paramcheck.cli import main

    return main(argv)


def cli(argv: Sequence[str], *, cwd: Path, **kwargs: Any) -> Outcome:
    """``paramcheck ARGV`` (``paramcheck.cli.main``) in a bounded forked child."""
    return run_forked(_main, argv, cwd=cwd, **kwargs)


def _pytest_main(args: list[str]) -> int:
    import pytest

    return int(pytest.main(args))


PYTEST_DROP = ("conftest", "audits", "test_snapshots", "test_invariants", "test_weights", "test_checkpoint")


def pytest_launch(args: Sequence[str], *, cwd: Path, deadline: float = 90.0, **kwargs: Any) -> Launched:
    """Start ``python -m pytest ARGS`` in a project folder (``pytest.main`` in a bounded forked child).

    conftest and audit modules of the outer session are dropped from ``sys.modules`` in the child so the project's
    own are imported, as in a fresh interpreter.
    """
    return launch_forked(
        _pytest_main,
        ["-p", "no:cacheprovider", *args],
        cwd=cwd,
        deadline=deadline,
        drop_modules=PYTEST_DROP,
        argv0="pytest",
        **kwargs,
    )


def pytest_run(args: Sequence[str], *, cwd: Path, **kwargs: Any) -> Outcome:
    return pytest_launch(args, cwd=cwd, **kwargs).wait()


def _limits(memory: int, drop_dac: bool) -> Callable[[], None]:
    def apply() -> None:
        os.setpgid(0, 0)
        resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE, FILE_SIZE))
        if drop_dac:
            drop_file_capabilities()

    return apply


def python_m(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str | None] | None = None,
    shell_suffix: str = "",
    deadline: float = SUBPROCESS_DEADLINE,
    module: str = "paramcheck",
) -> Outcome:
    """``python -m paramcheck ARGS`` in a real interpreter (6 GB address space); ``shell_suffix`` is appended to
    the command line run by ``bash`` (e.g. ``>&-`` to close stdout, ``>/dev/full``)."""
    import shlex

    base = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "PYTEST_", "PYTHONIOENC"))}
    base |= {"HF_ENDPOINT": CLOSED_ENDPOINT, "HF_HOME": str(cwd / ".hf-home"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    for key, value in (env or {}).items():
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    command = " ".join(shlex.quote(a) for a in (sys.executable, "-m", module, *args)) + " " + shell_suffix
    start = time.monotonic()
    process = subprocess.Popen(
        ["bash", "-c", command],
        cwd=cwd,
        env=base,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        preexec_fn=_limits(6 << 30, False),
    )
    try:
        out, err = process.communicate(timeout=deadline)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        code = None
    return Outcome(
        argv=tuple(args),
        returncode=code,
        stdout=out.decode("utf-8", "backslashreplace"),
        stderr=err.decode("utf-8", "backslashreplace"),
        seconds=time.monotonic() - start,
        deadline=deadline,
        growth=0,
    )


# --- the contract ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """What a case must do.

    ``codes``: accepted exit codes (2 = a one-line error). ``names``: text the error line must contain (the file,
    key or model at fault). ``avoid``: text neither stream may contain (leaked bytes, a misleading word).
    ``accept_notes``: regexes; exit 0 is accepted too when stdout matches all of them (a note that reports the
    problem). ``accept_total``: exit 0 is accepted too when stdout holds this number (the right count).
    ``usage``: argparse's usage block before its error line is accepted. ``quiet``: nothing on stdout on error.
    """

    codes: tuple[int, ...] = (2,)
    names: tuple[str, ...] = ()
    avoid: tuple[str, ...] = ()
    accept_notes: tuple[str, ...] = ()
    accept_total: int | None = None
    usage: bool = False
    quiet: bool = True
    klass: str = "silent"  # the class an unexpected exit 0 belongs to: silent or security
    avoid_class: str = "security"  # the class of a forbidden text: leaked bytes (security) or a misleading word


def error(*names: str, **kwargs: Any) -> Expect:
    """A one-line error (exit 2) naming each of ``names``."""
    return Expect(codes=(2,), names=tuple(names), **kwargs)


def ok(**kwargs: Any) -> Expect:
    """A valid (if odd) input: exit 0, bounded, no traceback."""
    return Expect(codes=(0,), quiet=False, **kwargs)


def _traceback_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    after = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    tail = lines[after[-1] + 1 :] if after else lines
    exc = [line for line in tail if not line.startswith((" ", "\t", "Traceback"))]
    return (exc[0] if exc else tail[-1] if tail else "?")[:240]


def problems(outcome: Outcome, expect: Expect) -> list[str]:
    """Every way ``outcome`` breaks the contract, each tagged with its class."""
    found: list[str] = []
    if outcome.timed_out:
        found.append(f"[hang] still running after {outcome.deadline:.0f}s (killed)")
    if outcome.growth > MEMORY_GROWTH:
        found.append(f"[memory] peak RSS grew {outcome.growth >> 20} MB (limit {MEMORY_GROWTH >> 20} MB)")
    both = outcome.stdout + "\n" + outcome.stderr
    if "Traceback (most recent call last)" in both:
        found.append(f"[traceback] {_traceback_line(outcome.stderr or outcome.stdout)}")
    elif outcome.signal is not None and not outcome.timed_out:
        found.append(f"[memory] killed by signal {outcome.signal}")
    for token in expect.avoid:
        if token in both:
            found.append(f"[{expect.avoid_class}] output contains {token!r}")
    if outcome.timed_out or outcome.returncode is None:
        return found
    code = outcome.returncode
    if code not in expect.codes:
        accepted = code == 0 and (
            (expect.accept_notes and all(re.search(p, outcome.stdout) for p in expect.accept_notes))
            or (expect.accept_total is not None and _holds_number(outcome.stdout, expect.accept_total))
        )
        if accepted:
            return found
        if code == 0:
            found.append(f"[{expect.klass}] exit 0 where {expect.codes} was expected")
        elif not any(f.startswith("[traceback]") for f in found):
            found.append(f"[exit] exit {code} where {expect.codes} was expected")
        return found
    if code == 2:
        found += _error_line_problems(outcome, expect)
    return found


def _holds_number(text: str, number: int) -> bool:
    return re.search(rf"(?<![\d,.]){number}(?![\d])|(?<![\d,.]){number:,}(?![\d,])", text) is not None


def _error_line_problems(outcome: Outcome, expect: Expect) -> list[str]:
    found = []
    lines = outcome.stderr_lines
    if expect.usage and lines and lines[0].startswith("usage: ") and USAGE_LAST.match(lines[-1]):
        line = lines[-1]
    elif len(lines) != 1:
        found.append(f"[lines] {len(lines)} stderr lines, expected exactly one")
        line = next((x for x in lines if x.startswith(ERROR_PREFIX)), lines[-1] if lines else "")
    else:
        line = lines[0]
    if not line.startswith(ERROR_PREFIX) and not (expect.usage and USAGE_LAST.match(line)):
        found.append(f"[message] the error line does not start with {ERROR_PREFIX!r}: {line[:160]!r}")
    for name in expect.names:
        if name not in line:
            found.append(f"[message] the error does not name {name!r}: {line[:300]!r}")
    if expect.quiet and outcome.stdout.strip():
        found.append(f"[stdout] stdout is not empty on error: {outcome.stdout.strip()[:160]!r}")
    return found


FRAME = re.compile(r'File "[^"]*/(paramcheck/[\w/]+\.py)", line (\d+), in (\w+)')


def paramcheck_frame(text: str) -> str:
    """The innermost paramcheck frame of the last traceback in ``text`` (``paramcheck/x.py:12 func``), or ``""``."""
    frames = FRAME.findall(text.rpartition("Traceback (most recent call last)")[2])
    return f"{frames[-1][0]}:{frames[-1][1]} {frames[-1][2]}" if frames else ""


def log_case(outcome: Outcome, found: Sequence[str], **extra: Any) -> None:
    """One JSON line per verified case in ``$PARAMCHECK_HOSTILE_LOG`` (``python -m tests.hostile.summary`` reads it)."""
    path = os.environ.get(LOG_ENV)
    if not path:
        return
    nodeid = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" (", 1)[0]
    record = {
        "case": nodeid,
        "argv": list(outcome.argv),
        "exit": outcome.returncode,
        "seconds": round(outcome.seconds, 2),
        "growth_mb": outcome.growth >> 20,
        "stderr": outcome.stderr_lines[-1][:300] if outcome.stderr_lines else "",
        "stderr_lines": len(outcome.stderr_lines),
        "problems": list(found),
        "where": paramcheck_frame(outcome.stderr + "\n" + outcome.stdout),
        **extra,
    }
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def assert_contract(outcome: Outcome, expect: Expect, *, extra: Iterable[str] = ()) -> None:
    """Fail with every broken clause, tagged by class, and the outcome."""
    found = [*problems(outcome, expect), *extra]
    log_case(outcome, found)
    assert not found, "\n".join(found) + "\n" + outcome.describe()


# --- what must not change: victims and trees ------------------------------------------------------------------------


def _digest(path: Path) -> tuple[int, str]:
    st = path.lstat()
    if path.is_symlink():
        return st.st_mode, "link:" + os.readlink(path)
    if path.is_file():
        return st.st_mode, hashlib.sha1(path.read_bytes()).hexdigest()
    return st.st_mode, "dir" if path.is_dir() else "other"


@dataclass
class Tree:
    """Every file and folder under ``root`` (modes and contents) but the ``allowed`` subtrees; compare later."""

    root: Path
    allowed: tuple[Path, ...] = ()
    before: dict[str, tuple[int, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.before = self.state()

    def _allowed(self, path: Path) -> bool:
        return any(path == a or a in path.parents for a in self.allowed) or "__pycache__" in path.parts

    def state(self) -> dict[str, tuple[int, str]]:
        out: dict[str, tuple[int, str]] = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            for name in [*dirnames, *filenames]:
                path = Path(dirpath) / name
                if not self._allowed(path):
                    out[str(path.relative_to(self.root))] = _digest(path)
        return out

    def changes(self) -> list[str]:
        after = self.state()
        found = []
        for name in sorted(after.keys() - self.before.keys()):
            found.append(f"[security] written outside the allowed places: {name}")
        for name in sorted(self.before.keys() - after.keys()):
            found.append(f"[security] deleted: {name}")
        for name in sorted(self.before.keys() & after.keys()):
            (m0, d0), (m1, d1) = self.before[name], after[name]
            if d0 != d1:
                found.append(f"[security] modified: {name}")
            elif m0 != m1:
                found.append(f"[security] mode changed {oct(m0 & 0o7777)} -> {oct(m1 & 0o7777)}: {name}")
        return found


def victim(path: Path, text: str = '{"reviewed": true}\n', mode: int = 0o644) -> Path:
    """A file that no case may touch (a reviewed snapshot, a config of another checkout)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


# --- input generators -----------------------------------------------------------------------------------------------


def deep_json(depth: int = 100_000, *, key: str | None = None) -> str:
    """``[[[...]]]`` nested ``depth`` times (inside ``{key: ...}`` when a key is given)."""
    body = "[" * depth + "]" * depth
    return body if key is None else json.dumps({key: 0}).replace("0", body, 1)


def huge_int(digits: int = 5000) -> str:
    """An integer literal longer than Python's int/str conversion limit (4,300 digits)."""
    return "1" + "0" * (digits - 1)


NON_UTF8 = b"\xff\xfe\xfa not utf-8 \xc3\x28"


def with_raw(data: Mapping[str, Any], key: str, raw: str) -> str:
    """JSON of ``data`` with ``key``'s value replaced by the raw literal ``raw`` (a huge int, NaN...)."""
    marker = "__HOSTILE_RAW__"
    text = json.dumps({**data, key: marker})
    return text.replace(f'"{marker}"', raw)


def fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def safetensors_bytes(
    header: Mapping[str, Any] | bytes | str, data: bytes = b"", *, length: int | None = None
) -> bytes:
    """``<u64 N><N header bytes><data>``; ``length`` overrides N (a lie)."""
    raw = header if isinstance(header, bytes) else (header if isinstance(header, str) else json.dumps(header)).encode()
    if not isinstance(raw, bytes):
        raw = raw.encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


DTYPE_BYTES = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8, "U8": 1, "BOOL": 1}


def tensors_file(tensors: Mapping[str, tuple[str, Sequence[int]]], metadata: Mapping[str, str] | None = None) -> bytes:
    """A valid safetensors file holding zero-filled tensors of these dtypes and shapes."""
    header: dict[str, Any] = {}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        size = DTYPE_BYTES[dtype]
        for d in shape:
            size *= d
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    if metadata is not None:
        header["__metadata__"] = dict(metadata)
    return safetensors_bytes(header, b"\0" * offset)


def read_header(path: Path) -> tuple[dict[str, Any], bytes]:
    """A safetensors file's header (a dict) and its data section, read with plain struct/json."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def rewrite_header(path: Path, change: Callable[[dict[str, Any]], Any], *, data: bytes | None = None) -> None:
    """Apply ``change`` to the file's header (in place) and write it back with its data."""
    header, body = read_header(path)
    change(header)
    path.write_bytes(safetensors_bytes(header, body if data is None else data))


CANARY_MODULE = '''
"""A module that must never be imported by paramcheck: it records each thing done to it."""
import os
from pathlib import Path

import torch

MARKS = Path(os.environ.get("HOSTILE_CANARY_DIR", "{marks}"))
(MARKS / "imported").write_text("x")


class Canary(torch.nn.Module):
    config_name = "config.json"

    def __init__(self, *args, **kwargs):
        super().__init__()
        (MARKS / "constructed").write_text("x")
        self.weight = torch.nn.Parameter(torch.zeros(3))

    @classmethod
    def from_config(cls, config, **kwargs):
        (MARKS / "from_config").write_text("x")
        return cls()


class Model:
    pass
'''


def canary_package(folder: Path, name: str, marks: Path) -> Path:
    """``folder/name.py``: importing it, building its ``Canary`` or calling ``from_config`` leaves marks."""
    folder.mkdir(parents=True, exist_ok=True)
    marks.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(CANARY_MODULE.replace("{marks}", str(marks)), encoding="utf-8")
    return folder / f"{name}.py"


def marks(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def canary_problems(folder: Path) -> list[str]:
    found = marks(folder)
    return [f"[security] untrusted code ran: the canary was {', '.join(found)}"] if found else []


def evil_pickle(marker: Path) -> bytes:
    """A pickle that creates ``marker`` when unpickled (what a malicious ``*.bin`` checkpoint does)."""
    import pickle

    class Payload:
        def __reduce__(self) -> tuple[Any, ...]:
            return (open, (str(marker), "w"))

    return pickle.dumps({"weight": Payload()}, protocol=2)


# --- tiny configs beyond tests/tiny.py, and the library's own count -------------------------------------------------

TINY_SD3_TRANSFORMER: dict[str, Any] = {
    "sample_size": 16,
    "patch_size": 2,
    "in_channels": 4,
    "num_layers": 1,
    "attention_head_dim": 8,
    "num_attention_heads": 2,
    "joint_attention_dim": 32,
    "caption_projection_dim": 16,
    "pooled_projection_dim": 32,
    "out_channels": 4,
    "pos_embed_max_size": 16,
}


def library_count(library: str, class_name: str, config: Mapping[str, Any]) -> int:
    """Parameters of ``class_name`` built from ``config`` by diffusers/transformers themselves, on meta."""
    import importlib

    import torch

    cls = getattr(importlib.import_module(library), class_name)
    with torch.device("meta"):
        if library == "diffusers":
            module = cls.from_config(dict(config))
        else:
            from transformers import AutoConfig

            cfg = dict(config)
            module = cls(AutoConfig.for_model(cfg.pop("model_type"), **cfg))
    return sum(p.numel() for p in module.parameters())


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2), encoding="utf-8")
    return path


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def watch(root: Path, *allowed: Path) -> Tree:
    """Start watching ``root`` (call it after the inputs are written); the ``allowed`` subtrees may change."""
    return Tree(root, allowed=(root / "work" / ".hf-home", *allowed))
