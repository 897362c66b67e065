"""``paramcheck load``: load real weights (or materialize random ones), compare the counts with the config's and
measure memory; exit 1 when the weights do not match the config."""

from __future__ import annotations

import argparse
import gc
import sys
from typing import TYPE_CHECKING

from ..devices import resolve_device
from ..envelope import envelope
from ..errors import ConfigError, SourceError
from ..results import SourceKind
from ..sources import resolve
from .common import (
    add_json_options,
    add_trust_option,
    device_arg,
    dtype_arg,
    progress,
    rich_console,
    trusted_of,
    write_json,
)

if TYPE_CHECKING:
    from ..load import LoadResult
    from ..results import ModelReport
    from ..sources import ModelSource
    from .common import Subparsers


def load_command_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser("load", help="load real weights (or materialize random ones) and measure memory")
    p.add_argument("model", help="a local pipeline or model folder with weights (or any model with --materialize)")
    p.add_argument("--components", metavar="A,B", help="only these components")
    p.add_argument("--device", type=device_arg, default="auto", help="auto, cpu, cuda, cuda:N (default: auto)")
    p.add_argument("--dtype", type=dtype_arg, default="fp32", help="fp32, fp16 or bf16 (default: fp32)")
    p.add_argument("--device-map", choices=["balanced", "auto", "cpu"], help="let accelerate place the weights")
    p.add_argument("--variant", metavar="NAME", help="load that weight variant (model.NAME.safetensors), e.g. fp16")
    p.add_argument("--materialize", action="store_true", help="random weights from the config, at full size")
    add_json_options(p)
    add_trust_option(p)
    p.set_defaults(func=load_command)


def _component_names(option: str | None, source: ModelSource) -> tuple[str, ...] | None:
    """The components ``--components`` names (``None``: every component with weights), each one with a config:
    an empty name, an unknown one or a scheduler/tokenizer (nothing to load) is a one-line error, never a load of
    everything or of nothing."""
    if option is None:
        return None
    names = tuple(dict.fromkeys(name.strip() for name in option.split(",")))
    loadable = ", ".join(s.name for s in source.components if s.config is not None)
    for name in names:
        if not name:
            raise ConfigError(f"--components {option!r}: names an empty component; pass e.g. --components {loadable}")
        spec = source.component(name)  # unknown names: one-line error with the list
        if spec.config is None:
            raise ConfigError(
                f"--components: {name!r} ({spec.class_name or 'no class'}) has no weights to load; "
                f"name a model component: {loadable}"
            )
    return names


def _load(args: argparse.Namespace, source: ModelSource) -> tuple[ModelReport, list[LoadResult]]:
    """The counts of one meta build of the chosen components, and each component loaded (then freed) in turn."""
    from ..build import build_model
    from ..count import count_model
    from ..load import load_component

    names = _component_names(args.components, source)
    specs = [s for s in source.components if s.config is not None and (names is None or s.name in names)]
    trusted = trusted_of(args)
    built = build_model(
        source, components=[s.name for s in specs], trusted_libraries=trusted
    )  # one meta build: counted and compared
    expected = count_model(built)
    results: list[LoadResult] = []
    with progress() as bar:
        task = bar.add_task("loading", total=len(specs))
        for spec in specs:
            bar.update(task, description=f"{'materializing' if args.materialize else 'loading'} {spec.name}")
            result, module = load_component(
                spec,
                device=args.device,
                dtype=args.dtype,
                device_map=args.device_map,
                materialize=args.materialize,
                reference=built.module(spec.name),
                variant=args.variant,
                trusted_libraries=trusted,
            )
            results.append(result)
            del module
            gc.collect()
            if result.device.startswith("cuda") or result.cuda:
                import torch

                torch.cuda.empty_cache()
            bar.advance(task)
    return expected, results


def load_command(args: argparse.Namespace) -> int:
    from ..render import RenderOptions, load_grid, show

    resolve_device(args.device)  # fail before any work on a device that is not there
    source = resolve(args.model)
    if source.info.kind is SourceKind.HUB and not args.materialize:
        raise SourceError(
            f"hub:{source.model}@{source.info.revision}: paramcheck never downloads weights from the hub; add "
            "--materialize (random weights of the config's shapes), or download the repository and load its folder"
        )
    expected, results = _load(args, source)
    mismatched = [
        r.component
        for r in results
        if r.mismatches or r.counts.parameters != (expected.component(r.component) or r.counts).parameters
    ]
    if args.json:
        body = {"model": source.model, "expected": expected.to_dict(), "loads": [r.to_dict() for r in results]}
        write_json(envelope("load", body, dtype=args.dtype), args.output)
    else:
        console = rich_console()
        show(console, load_grid(source.model, expected, results, RenderOptions(width=console.width)))
        for r in results:
            for problem in r.mismatches[:20]:
                console.print(f"[red]{r.component}: {problem}[/red]")
    if mismatched:
        print(f"paramcheck: the loaded weights do not match the config for: {', '.join(mismatched)}", file=sys.stderr)
        return 1
    return 0
