"""The ``paramcheck`` command, laid out as accelerate's: one module per subcommand, its parser beside its handler.

``X_command_parser(subparsers)`` adds subcommand X; ``X_command(args)`` gathers results, then renders them (tables, or
the JSON envelope with ``--json``). ``main`` turns a ``ParamcheckError`` into one line, ``paramcheck: error: ...``,
and exit code 2.

The modules that build, count, load or render models (``count``, ``build``, ``load``, ``render``, ``taxonomy``,
``checkpoint``, ``compute``) import torch, diffusers or transformers: seconds. The handlers import them in their
bodies, so that ``paramcheck --help`` and a mistyped option answer at once; everything else is imported at the top.
"""

from __future__ import annotations

import argparse
import errno
import io
import os
import sys
from collections.abc import Sequence

from ..errors import ParamcheckError
from .bench import bench_command_parser
from .calibrate import calibrate_command_parser
from .check import check_command_parser
from .common import refuse_idle_options
from .compare import compare_command_parser
from .init import init_command_parser
from .list import list_command_parser
from .load import load_command_parser
from .plot import plot_command_parser
from .report import report_command_parser

__all__ = ["build_parser", "main"]

# in the order ``paramcheck --help`` lists them
COMMANDS = (
    list_command_parser,
    report_command_parser,
    plot_command_parser,
    compare_command_parser,
    load_command_parser,
    check_command_parser,
    init_command_parser,
    bench_command_parser,
    calibrate_command_parser,
)


def _version() -> str:
    """The installed distribution's version (``importlib.metadata``), or ``unknown`` when run from a bare tree."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("paramcheck")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paramcheck",
        description="Where do a model's parameters go? Exact counts per component and layer type.",
    )
    parser.add_argument("--version", action="version", version=f"paramcheck {_version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_command in COMMANDS:
        add_command(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "compare" and len(args.models) < 2:
        parser.error("compare needs at least two models")
    if sys.stdout is None:  # started with stdout closed (>&-)
        print("paramcheck: error: stdout is closed; run with an open stdout, or --json -o FILE", file=sys.stderr)
        return 2
    _tolerant(sys.stdout)
    try:
        refuse_idle_options(args)
        code = int(args.func(args))
        sys.stdout.flush()  # a full disk or a closed pipe shows here, not in the interpreter's exit
        return code
    except ParamcheckError as e:
        print(f"paramcheck: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("paramcheck: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `paramcheck list | head`: the reader is gone; nothing left to say
        _discard_stdout()
        return 141
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EIO, errno.EFBIG, errno.EDQUOT, errno.EBADF):
            raise
        _discard_stdout()
        print(f"paramcheck: error: cannot write to stdout ({e.strerror}); free space or write with -o", file=sys.stderr)
        return 2


def _tolerant(stream: object) -> None:
    """A terminal or pipe that cannot encode a character (LANG=C: ASCII) prints '?' for it, not a traceback."""
    if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
        stream.reconfigure(errors="replace")


def _discard_stdout() -> None:
    """Point stdout's descriptor at /dev/null, so the interpreter's flush at exit does not fail a second time."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):
        pass
