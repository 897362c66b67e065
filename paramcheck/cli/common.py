"""What several commands share: argparse types, the ``--json``/``--output`` pair, the layer-type options, output."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console

from ..devices import parse_device
from ..dtypes import canonical_dtype
from ..errors import ParamcheckError

if TYPE_CHECKING:
    from rich.progress import Progress

    from ..taxonomy import Taxonomy

    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]  # what add_subparsers returns

__all__ = [
    "WORKLOAD_OPTIONS",
    "add_json_options",
    "add_layer_options",
    "add_workload_options",
    "argtype",
    "device_arg",
    "dtype_arg",
    "positive",
    "progress",
    "rich_console",
    "taxonomy_of",
    "workload_values",
    "write_json",
]

T = TypeVar("T")


# --- argparse types and options ---------------------------------------------------------------------------------------


def argtype(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse ``type=`` from one of paramcheck's parsers: its one-line ``ParamcheckError`` becomes the usage
    error (``paramcheck report: error: argument --dtype: unknown dtype 'fp7'; ...``)."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ParamcheckError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return convert


dtype_arg = argtype(canonical_dtype)
device_arg = argtype(parse_device)


def positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive integer; pass e.g. 2")
    return number


def add_json_options(parser: argparse.ArgumentParser) -> None:
    """``--json`` and ``--output FILE``: see ``write_json``."""
    parser.add_argument("--json", action="store_true", help="write JSON instead of tables")
    parser.add_argument("--output", "-o", metavar="FILE", help="with --json: write to FILE instead of stdout")


def add_layer_options(parser: argparse.ArgumentParser) -> None:
    """``--lang`` and ``--config``: see ``taxonomy_of``."""
    parser.add_argument("--lang", choices=("en", "zh"), default="en", help="language of the layer-type names")
    parser.add_argument(
        "--config",
        metavar="PYPROJECT",
        help="pyproject.toml with [tool.paramcheck] layer-type rules (default: the nearest one upwards)",
    )


# The options of add_workload_options: each sets the value of the workload (compute.workload.Workload) of its name.
WORKLOAD_OPTIONS = ("height", "width", "steps", "prompt_length", "batch", "cfg", "frames")


def add_workload_options(group: argparse._ActionsContainer) -> None:
    """``--height --width --steps --prompt-length --batch --frames --cfg``: one generation call's values."""
    group.add_argument("--height", type=positive, help="image height in pixels")
    group.add_argument("--width", type=positive, help="image width in pixels")
    group.add_argument("--steps", type=positive, help="denoising steps")
    group.add_argument("--prompt-length", type=positive, help="prompt tokens seen by the text encoders")
    group.add_argument("--batch", type=positive, default=1, help="images per call (default 1)")
    group.add_argument("--frames", type=positive, help="video frames (video pipelines; default the pipeline's own)")
    group.add_argument(
        "--cfg", action=argparse.BooleanOptionalAction, default=None, help="classifier-free guidance on/off"
    )


def workload_values(args: argparse.Namespace) -> dict[str, int | bool]:
    """The workload options given (see ``add_workload_options``), by workload field name."""
    return {name: value for name in WORKLOAD_OPTIONS if (value := getattr(args, name)) is not None}


def taxonomy_of(args: argparse.Namespace) -> Taxonomy:
    """The layer-type rules of ``--config``, else of the nearest pyproject.toml upwards, else the built-in ones."""
    from ..taxonomy import find_config, load_taxonomy

    path = Path(args.config) if args.config else find_config()
    if args.config and path is not None and not path.is_file():
        raise ParamcheckError(f"{path}: no such file; pass the pyproject.toml that holds [tool.paramcheck]")
    return load_taxonomy(path)


# --- output -----------------------------------------------------------------------------------------------------------


def rich_console() -> Console:
    return Console(soft_wrap=False, width=None if sys.stdout.isatty() else 160)


def progress() -> Progress:
    """A transient progress bar on stderr, shown only on a terminal."""
    from rich.progress import Progress

    return Progress(transient=True, console=Console(stderr=True), disable=not sys.stderr.isatty())


def write_json(data: dict[str, Any], output: str | None) -> None:
    """``data`` as indented JSON to ``--output`` (stdout when absent or ``-``)."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if output is None or output == "-":
        sys.stdout.write(text)
        return
    path = Path(output)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise ParamcheckError(f"{path}: cannot write the JSON report ({e.strerror}); choose another --output") from e
