"""``paramcheck calibrate``: this GPU's per-op costs measured (a few minutes) and written as a latency profile, which
``report --flops --gpu FILE`` and ``bench --profile FILE`` predict from."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from ..errors import DeviceError
from .common import device_arg, write_json

if TYPE_CHECKING:
    from .common import Subparsers


def calibrate_command_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser("calibrate", help="measure this GPU's per-op costs and write a latency profile")
    p.add_argument("--device", type=device_arg, default="cuda", help="cuda or cuda:N (default cuda)")
    p.add_argument("--output", "-o", metavar="FILE", required=True, help="the profile to write (JSON)")
    p.add_argument("--name", help="the profile's name (default: the GPU's name)")
    p.add_argument("--catalog", metavar="FILE", help="layers to calibrate (default: the bundled models')")
    p.add_argument("--deadline", type=float, metavar="SECONDS", help="skip per-layer lines still to do after this")
    p.add_argument("--quick", action="store_true", help="smoke-test sizes, seconds long (not for predictions)")
    p.add_argument("--no-host", action="store_true", help="skip fitting the host scale on small bundled forwards")
    p.set_defaults(func=calibrate_command)


def calibrate_command(args: argparse.Namespace) -> int:
    from ..devices import resolve_device

    device = resolve_device(args.device)
    if not device.startswith("cuda") and not args.quick:
        raise DeviceError(f"--device {args.device}: calibration measures a CUDA GPU; use --device cuda")
    import torch

    from ..compute.bench.calibrate import HOST_CASES, calibrate, calibrate_host, load_catalog

    name = args.name or (torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu smoke test")
    catalog = load_catalog(args.catalog)
    deadline = time.monotonic() + args.deadline if args.deadline else None

    def log(line: str) -> None:
        print(f"calibrate: {line}", file=sys.stderr, flush=True)

    profile = calibrate(
        name=name,
        catalog=catalog,
        device=device,
        quick=args.quick,
        deadline=deadline,
        log=log,
        command="paramcheck " + " ".join(sys.argv[1:]) if sys.argv[1:] else "paramcheck calibrate",
    )
    if not args.no_host:
        profile = calibrate_host(profile, device=device, cases=HOST_CASES[:1] if args.quick else HOST_CASES, log=log)
    write_json(profile.to_dict(), args.output)
    print(f"wrote {args.output}: {profile.describe()}", file=sys.stderr)
    return 0
