"""A latency profile: what one GPU, with one software stack, achieves per op, measured by ``paramcheck calibrate``.

Tables hold throughput (FLOP/s for matmuls, convolutions and attention; seconds for memory-bound ops, by bytes) on
grids of log-spaced sizes; a lookup interpolates in log space and clamps outside the grid, so a matmul larger than
any measured runs at the largest one's throughput and one smaller at the smallest one's. ``dispatch`` holds the
host's cost per op and per module call (eager PyTorch), ``kernel_floor`` the shortest a kernel takes in a stream.

Profiles are JSON files (``PROFILE_SCHEMA``); the ones paramcheck ships live in ``paramcheck/compute/profiles/``.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..fileio import read_json
from ..results import Result

__all__ = [
    "PROFILE_SCHEMA",
    "Grid",
    "Profile",
    "Table1D",
    "architecture_key",
    "bundled_profiles",
    "load_profile",
    "profile_arg",
    "profile_for",
]

PROFILE_SCHEMA = "paramcheck-latency-profile/1"


def _log(x: float) -> float:
    return math.log(max(x, 1e-30))


def _bracket(axis: Sequence[float], value: float) -> tuple[int, int, float]:
    """Indices around ``value`` on a sorted ``axis`` and the weight of the upper one, in log space, clamped."""
    if len(axis) == 1 or value <= axis[0]:
        return 0, 0, 0.0
    if value >= axis[-1]:
        return len(axis) - 1, len(axis) - 1, 0.0
    hi = bisect.bisect_right(axis, value)
    lo = hi - 1
    w = (_log(value) - _log(axis[lo])) / (_log(axis[hi]) - _log(axis[lo]))
    return lo, hi, w


@dataclass(frozen=True, slots=True, kw_only=True)
class Table1D(Result):
    """Values on one log-spaced axis; ``at`` interpolates log(value) linearly in log(x), clamped at the ends."""

    x: tuple[float, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        _check_axis(self.x, "x")
        if len(self.values) != len(self.x) or not all(v > 0 and math.isfinite(v) for v in self.values):
            raise ValueError("a table needs one positive finite value per axis point")

    def at(self, x: float) -> float:
        lo, hi, w = _bracket(self.x, x)
        return math.exp((1 - w) * _log(self.values[lo]) + w * _log(self.values[hi]))


@dataclass(frozen=True, slots=True, kw_only=True)
class Grid(Result):
    """Values on a product of log-spaced axes (row-major, last axis fastest); multilinear in log space."""

    axes: tuple[tuple[float, ...], ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        size = 1
        for i, axis in enumerate(self.axes):
            _check_axis(axis, f"axis {i}")
            size *= len(axis)
        if len(self.values) != size or not all(v > 0 and math.isfinite(v) for v in self.values):
            raise ValueError(f"a grid of {size} points needs {size} positive finite values, got {len(self.values)}")

    def at(self, *point: float) -> float:
        if len(point) != len(self.axes):
            raise ValueError(f"a {len(self.axes)}-D grid looked up at {len(point)} coordinates")
        brackets = [_bracket(axis, p) for axis, p in zip(self.axes, point, strict=True)]
        strides = []
        stride = 1
        for axis in reversed(self.axes):
            strides.append(stride)
            stride *= len(axis)
        strides.reverse()
        total = 0.0
        for corner in range(2 ** len(self.axes)):
            weight, index = 1.0, 0
            for d, (lo, hi, w) in enumerate(brackets):
                upper = corner >> d & 1
                weight *= w if upper else 1 - w
                index += (hi if upper else lo) * strides[d]
            if weight:
                total += weight * _log(self.values[index])
        return math.exp(total)


def _tables(cls: type[Table1D] | type[Grid]) -> Any:
    """A field holding ``{name: table}``, written as a JSON object of tables."""

    def encode(value: Mapping[str, Result]) -> dict[str, Any]:
        return {str(k): v.to_dict() for k, v in value.items()}

    def decode(value: Mapping[str, Any]) -> dict[str, Any]:
        return {str(k): cls.from_dict(v) for k, v in value.items()}

    return field(default_factory=dict, metadata={"encode": encode, "decode": decode})


def _numbers() -> Any:
    """A field holding ``{name: float}``."""
    return field(default_factory=dict, metadata={"decode": lambda d: {str(k): float(v) for k, v in d.items()}})


def _check_axis(axis: Sequence[float], what: str) -> None:
    if not axis or any(b <= a for a, b in itertools.pairwise(axis)) or axis[0] <= 0:
        raise ValueError(f"{what} must be positive and strictly increasing")


@dataclass(frozen=True, slots=True, kw_only=True)
class Validation(Result):
    """How the profile's predictions compared with ``paramcheck bench`` on shapes it was not calibrated on."""

    cases: int
    median_abs_error: float
    worst_abs_error: float
    image_cases: int = 0
    image_median_abs_error: float = 0.0
    image_worst_abs_error: float = 0.0
    description: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile(Result):
    """Measured costs of one GPU and software stack (see the module docstring).

    ``matmul``: per dtype, FLOP/s on a (M, N, K) grid; ``matmul_lines``: per (dtype, N, K) of a known layer,
    FLOP/s along M. ``conv_lines``: per layer signature (``TracedOp.key``) and dtype, FLOP/s along output pixels
    (batch x output volume); ``conv``: per dtype, FLOP/s of dense convolutions on an implicit-GEMM (pixels, Cout,
    Cin x kernel) grid. ``attention``: per ``attention_key``, FLOP/s on a (B x H x Sq, Skv) grid. ``memory``: per
    op class, seconds by bytes moved. ``dispatch``: host seconds per op class. ``host_scale``: multiplies the
    host costs (Python glue the op counts do not see), fitted on small-shape forwards; ``host_scales`` the same
    per component architecture (``architecture_key``) where one was measured. ``factors``: measured ratios
    (``depthwise_channels_last``: an NHWC depthwise convolution's time over the NCHW one's). ``aliases``: other
    names of the GPU.
    """

    schema: str = PROFILE_SCHEMA
    name: str
    device: str
    software: Mapping[str, str] = field(default_factory=dict)
    created: str = ""
    command: str = ""
    dispatch: Mapping[str, float] = _numbers()
    kernel_floor: float
    host_scale: float = 1.0
    host_scales: Mapping[str, float] = _numbers()
    factors: Mapping[str, float] = _numbers()
    aliases: tuple[str, ...] = ()
    matmul: Mapping[str, Grid] = _tables(Grid)
    matmul_lines: Mapping[str, Table1D] = _tables(Table1D)
    conv: Mapping[str, Grid] = _tables(Grid)
    conv_lines: Mapping[str, Table1D] = _tables(Table1D)
    attention: Mapping[str, Grid] = _tables(Grid)
    memory: Mapping[str, Table1D] = _tables(Table1D)
    validation: Validation | None = None
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        stack = ", ".join(f"{k} {v}" for k, v in self.software.items() if k in {"torch", "cuda", "diffusers"})
        return f"profile {self.name} ({self.device}; {stack})"


# Keys a profile file must have (the others have defaults).
REQUIRED = ("name", "device", "dispatch", "kernel_floor", "matmul", "memory")
REQUIRED_DISPATCH = ("op", "view", "module")


def parse_profile(data: Any, where: str) -> Profile:
    """A profile from decoded JSON; a one-line ``ConfigError`` naming ``where`` and the fault otherwise."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: not a latency profile (expected a JSON object); run paramcheck calibrate")
    if data.get("schema") != PROFILE_SCHEMA:
        raise ConfigError(
            f"{where}: schema {data.get('schema')!r} is not {PROFILE_SCHEMA!r}; re-run paramcheck calibrate"
        )
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        raise ConfigError(f"{where}: the profile has no {missing[0]!r}; re-run paramcheck calibrate")
    try:
        profile = Profile.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ConfigError(f"{where}: a malformed table ({e}); re-run paramcheck calibrate") from None
    missing = [k for k in REQUIRED_DISPATCH if k not in profile.dispatch]
    if missing:
        raise ConfigError(f"{where}: no host dispatch cost for {', '.join(missing)}; re-run paramcheck calibrate")
    if not profile.kernel_floor > 0 or not all(v >= 0 and math.isfinite(v) for v in profile.dispatch.values()):
        raise ConfigError(f"{where}: dispatch costs must be finite and not negative; re-run paramcheck calibrate")
    if "bf16" not in profile.matmul:
        raise ConfigError(f"{where}: no bf16 matmul table; re-run paramcheck calibrate")
    if "pointwise" not in profile.memory:
        raise ConfigError(f"{where}: no 'pointwise' memory table; re-run paramcheck calibrate")
    return profile


def load_profile(path: str | Path) -> Profile:
    """A profile file written by ``paramcheck calibrate``."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such profile; run paramcheck calibrate -o {path}, or name a shipped one")
    return parse_profile(read_json(path), str(path))  # bounded reading, one-line errors for any unreadable file


def bundled_profiles() -> dict[str, Profile]:
    """The profiles paramcheck ships (``paramcheck/profiles/*-profile.json``), by name."""
    found = {}
    for entry in resources.files("paramcheck.compute.profiles").iterdir():
        if entry.name.endswith("-profile.json"):
            profile = parse_profile(
                json.loads(entry.read_text(encoding="utf-8")), f"paramcheck/compute/profiles/{entry.name}"
            )
            found[profile.name] = profile
    return found


def _key(name: str) -> str:
    return name.lower().replace(" ", "").replace("-", "").replace("_", "")


def profile_for(name: str) -> Profile | None:
    """A shipped profile whose name (or device name) matches ``name`` (case, spaces and dashes ignored)."""
    key = _key(name)
    for profile in bundled_profiles().values():
        if key in {_key(profile.name), _key(profile.device), *(_key(a) for a in profile.aliases)}:
            return profile
    return None


def profile_arg(value: str, *, datasheet_ok: bool = False) -> Profile | None:
    """A shipped profile by name (``H200``) or a profile file (``*.json`` or an existing path). ``None`` for any other
    name when ``datasheet_ok`` (the caller looks it up among the datasheet GPUs), else a one-line error."""
    found = profile_for(value)
    if found is not None:
        return found
    if value.endswith(".json") or Path(value).is_file() or not datasheet_ok:
        return load_profile(value)
    return None


def architecture_key(class_name: str, config: Mapping[str, Any]) -> str:
    """``Class:hash`` of a component's config: which per-architecture host scale applies."""
    import hashlib

    text = json.dumps(dict(config), sort_keys=True, default=str)
    return f"{class_name}:{hashlib.sha1(text.encode()).hexdigest()[:12]}"


def datasheet_profile(name: str, bf16_flops: float, bandwidth: float) -> Profile:
    """A roofline as a profile: every matmul, convolution and attention at ``bf16_flops``, every byte at
    ``bandwidth``, no host cost and no kernel floor to speak of. Predictions from it are what paramcheck's
    datasheet estimate gives (a lower bound), which is how its error is measured against ``bench``."""
    flat = Grid(axes=((1.0,), (1.0,), (1.0,)), values=(bf16_flops,))
    linear = Table1D(x=(1.0, 1e15), values=(1.0 / bandwidth, 1e15 / bandwidth))
    return Profile(
        name=f"{name} (datasheet)",
        device=name,
        software={},
        created="",
        command="",
        dispatch={"op": 0.0, "view": 0.0, "module": 0.0},
        kernel_floor=1e-12,
        matmul={"bf16": flat, "fp32": flat},
        memory={"pointwise": linear},
    )
