"""What several commands share: argparse types, the ``--json``/``--output`` pair, the layer-type options,
``--no-cache``, output."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console

from ..cache import ResultCache, open_cache
from ..devices import parse_device
from ..dtypes import canonical_dtype
from ..errors import ParamcheckError

if TYPE_CHECKING:
    from rich.progress import Progress

    from ..taxonomy import Taxonomy

    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]  # what add_subparsers returns

__all__ = [
    "WORKLOAD_OPTIONS",
    "add_cache_option",
    "add_compute_options",
    "add_json_options",
    "add_layer_options",
    "add_trust_option",
    "add_workload_options",
    "argtype",
    "check_output",
    "device_arg",
    "dtype_arg",
    "library_name",
    "positive",
    "progress",
    "refuse",
    "refuse_idle_compute_options",
    "refuse_idle_options",
    "result_cache",
    "rich_console",
    "taxonomy_of",
    "trusted_of",
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
    parser.add_argument(
        "--lang", choices=("en", "zh"), default="en", help="language of the tables: headings, columns, names, notes"
    )
    parser.add_argument(
        "--config",
        metavar="PYPROJECT",
        help="pyproject.toml with [tool.paramcheck] layer-type rules (default: the nearest one upwards)",
    )


def add_cache_option(parser: argparse.ArgumentParser) -> None:
    """``--no-cache``: see ``result_cache``."""
    parser.add_argument(
        "--no-cache",
        dest="cache",
        action="store_false",
        help="count afresh, neither reading nor writing the result cache ($PARAMCHECK_CACHE, default "
        "~/.cache/paramcheck; see docs/cache.md)",
    )


def result_cache(args: argparse.Namespace) -> ResultCache | None:
    """The result cache, unless ``--no-cache``: counts stored there are read back instead of built (no torch)."""
    return open_cache(enabled=args.cache)


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


# --- compute options: report and compare ---------------------------------------------------------------------------


# The options of add_compute_options that set a value of the workload (compute.workload.Workload) by its name.
WORKLOAD_OPTIONS = ("height", "width", "steps", "prompt_length", "batch", "cfg", "frames")


def add_compute_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("compute and memory (defaults: the pipeline's own, see paramcheck.compute.recipes)")
    g.add_argument("--flops", action="store_true", help="FLOPs/MACs per component and per image, predicted latency")
    g.add_argument("--memory", action="store_true", help="weights per format, cards that fit, activation memory")
    g.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page (FILE.html) of the tables")
    add_workload_options(g, note="with --flops/--memory: ")
    g.add_argument(
        "--gpu",
        help="with --flops: GPU of the latency: a measured profile (H200, the default, or a file from paramcheck "
        "calibrate) gives a calibrated prediction, a datasheet GPU (H100 SXM, A100 80GB SXM, L40S, L4, RTX 4090) a "
        "roofline estimate",
    )


def add_workload_options(group: argparse._ActionsContainer, *, note: str = "") -> None:
    """``--height --width --steps --prompt-length --batch --frames --cfg``: the workload's values by name
    (``WORKLOAD_OPTIONS``); ``note`` prefixes each help (``report`` takes them only with ``--flops/--memory``)."""
    group.add_argument("--height", type=positive, help=f"{note}image height in pixels")
    group.add_argument("--width", type=positive, help=f"{note}image width in pixels")
    group.add_argument("--steps", type=positive, help=f"{note}denoising steps")
    group.add_argument("--prompt-length", type=positive, help=f"{note}prompt tokens seen by the text encoders")
    group.add_argument("--batch", type=positive, help=f"{note}images per call (default 1)")
    group.add_argument(
        "--frames", type=positive, help=f"{note}video frames (video pipelines; default the pipeline's own)"
    )
    group.add_argument(
        "--cfg", action=argparse.BooleanOptionalAction, default=None, help=f"{note}classifier-free guidance on/off"
    )


def workload_values(args: argparse.Namespace) -> dict[str, int | bool]:
    """The workload options given (``WORKLOAD_OPTIONS``), by workload field name."""
    return {name: value for name in WORKLOAD_OPTIONS if (value := getattr(args, name)) is not None}


def refuse_idle_compute_options(args: argparse.Namespace) -> None:
    """Workload options need ``--flops`` or ``--memory``, ``--gpu`` needs ``--flops``: else they would do nothing."""
    if not (args.flops or args.memory):
        for name in WORKLOAD_OPTIONS:
            if getattr(args, name) is not None:
                option = "--" + name.replace("_", "-")
                raise refuse(option, "sets the workload of --flops/--memory; add --flops or --memory, or drop it")
    if args.gpu is not None and not args.flops:
        raise refuse("--gpu", "picks the GPU of the --flops latency; add --flops, or drop --gpu")


# --- output -----------------------------------------------------------------------------------------------------------


def rich_console() -> Console:
    """The terminal's width; piped, ``COLUMNS`` when set, else 160. Tables are laid out for that width
    (``render.RenderOptions.width``): narrow below ``render.WIDE``."""
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit() else 160
    return Console(soft_wrap=False, width=width)


def refuse(option: str, reason: str) -> ParamcheckError:
    """The error for an option that would do nothing in the combination given: ``--top: only with --layers; ...``."""
    return ParamcheckError(f"{option}: {reason}")


def check_output(path: str, option: str, suffixes: tuple[str, ...] = ()) -> None:
    """Refuse, before any work, an output file that cannot be written: a wrong suffix, a folder, a missing or
    read-only parent folder. ``-`` (stdout) is fine."""
    if path == "-":
        return
    target = Path(path)
    if suffixes and target.suffix.lower() not in suffixes:
        kind = target.suffix or "(none)"
        raise ParamcheckError(f"{path}: unknown file type {kind!r}; name the {option} file {' or '.join(suffixes)}")
    parent = target.parent
    if target.is_dir():
        raise ParamcheckError(f"{path}: is a folder; choose a file name for {option}")
    if not parent.is_dir():
        raise ParamcheckError(f"{path}: no such folder {str(parent)!r}; create it or choose another {option}")
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise ParamcheckError(f"{path}: not writable; choose another {option}")


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
    shown = output if output.isprintable() else repr(output)
    try:
        # O_NONBLOCK: a FIFO nobody reads is an error (ENXIO) at once, not a wait forever
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK, 0o666)
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
    except ValueError as e:  # a NUL byte in the name
        raise ParamcheckError(f"--output {shown}: not a valid file name ({e}); choose another --output") from e
    except OSError as e:
        raise ParamcheckError(f"{shown}: cannot write the JSON report ({e.strerror}); choose another --output") from e


# options that only mean something next to another: (option, attribute, the option it needs, its attribute)
DEPENDENT_OPTIONS = (
    ("--output", "output", "--json", "json"),
    ("--depth", "depth", "--layers", "layers"),
    ("--top", "top", "--layers", "layers"),
    ("--filter", "filter", "--layers", "layers"),
    ("--no-fold", "no_fold", "--layers", "layers"),
)


def refuse_idle_options(args: argparse.Namespace) -> None:
    """An option that would do nothing in this combination (``-o`` without ``--json``, ``--filter`` without
    ``--layers``) is a usage error, never silently ignored."""
    for option, attribute, needs, needed in DEPENDENT_OPTIONS:
        value = getattr(args, attribute, None)
        if value not in (None, False) and hasattr(args, needed) and not getattr(args, needed):
            raise ParamcheckError(
                f"{option} needs {needs} (without it {option} does nothing); add {needs} or drop {option}"
            )
