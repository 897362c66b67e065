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
    "add_json_options",
    "add_layer_options",
    "add_trust_option",
    "argtype",
    "device_arg",
    "dtype_arg",
    "positive",
    "progress",
    "rich_console",
    "taxonomy_of",
    "trusted_of",
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


def taxonomy_of(args: argparse.Namespace) -> Taxonomy:
    """The layer-type rules of ``--config``, else of the nearest pyproject.toml upwards, else the built-in ones."""
    from ..taxonomy import find_config, load_taxonomy

    path = Path(args.config) if args.config else find_config()
    if args.config and path is not None and not path.is_file():
        raise ParamcheckError(f"{path}: no such file; pass the pyproject.toml that holds [tool.paramcheck]")
    return load_taxonomy(path)


def library_name(value: str) -> str:
    """A ``--trust-library`` value: a module name (``mypkg``, ``mypkg.models``)."""
    if not value or not all(part.isascii() and part.isidentifier() for part in value.split(".")):
        raise argparse.ArgumentTypeError(f"{value!r} is not a module name; pass e.g. mypkg or mypkg.models")
    return value


def add_trust_option(parser: argparse.ArgumentParser) -> None:
    """``--trust-library NAME`` (repeatable): see ``trusted_of``."""
    parser.add_argument(
        "--trust-library",
        action="append",
        default=[],
        type=library_name,
        metavar="NAME",
        help="also build classes of library NAME that a model names (imports and runs its code, like "
        "trust_remote_code; repeatable; [tool.paramcheck] trusted_libraries too). Default: diffusers and "
        "transformers only",
    )


def trusted_of(args: argparse.Namespace) -> tuple[str, ...]:
    """The libraries whose classes a model may name besides diffusers and transformers: ``--trust-library`` and
    ``trusted_libraries`` of ``[tool.paramcheck]`` in ``--config`` (where the command has it), else in the nearest
    pyproject.toml upwards from the working directory."""
    from ..taxonomy import find_config, trusted_libraries

    config = getattr(args, "config", None)
    path = Path(config) if config else find_config()
    return tuple(dict.fromkeys([*args.trust_library, *trusted_libraries(path)]))


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
