"""Real weights: load a component with ``from_pretrained`` (or materialize random weights from its config) onto a
device in a dtype, after checking that the predicted memory fits, and measure what it cost.

Predicted bytes are accelerate's ``compute_module_sizes`` of the meta build at the dtype, told what the loaders do
that it does not know (``_loader_dtypes``). Measured bytes are the loaded module's own tensors, host RSS, and on CUDA
the allocator's figures.
"""

from __future__ import annotations

import contextlib
import resource
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import torch
from accelerate.utils import compute_module_sizes

from .build import build_component, default_dtype, quiet, resolve_class
from .count import count_component
from .devices import DEVICE_MAPS, resolve_device
from .dtypes import LOADABLE_DTYPES, canonical_dtype
from .errors import (
    DeviceError,
    FitError,
    OutOfMemoryError,
    ParamcheckError,
    SourceError,
    first_line,
    is_memory_error,
)
from .results import ComponentCounts, Result
from .sources import ComponentSpec
from .sources.local import choose_variant, variant_files

__all__ = [
    "DeviceMemory",
    "LoadResult",
    "MemoryLimit",
    "available_bytes",
    "available_memory",
    "cgroup_limits",
    "check_fit",
    "host_memory",
    "kept_in_fp32",
    "load_component",
    "predict_bytes",
    "rlimit_limits",
    "torch_dtype",
]

TORCH_DTYPES = dict(zip(LOADABLE_DTYPES, (torch.float32, torch.float16, torch.bfloat16), strict=True))


def torch_dtype(name: str) -> torch.dtype:
    key = canonical_dtype(name)
    if key not in TORCH_DTYPES:
        choices = f"{', '.join(LOADABLE_DTYPES[:-1])} or {LOADABLE_DTYPES[-1]}"
        raise ParamcheckError(f"dtype {name!r} cannot be loaded directly; use {choices}")
    return TORCH_DTYPES[key]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceMemory(Result):
    """CUDA allocator figures for one device, in bytes, taken around one load."""

    device: str
    allocated: int
    reserved: int
    peak_allocated: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadResult(Result):
    """One component loaded (or materialized): its counts, and memory predicted against measured."""

    component: str
    mode: str  # "loaded" or "materialized"
    variant: str | None = None  # the weight variant read (model.fp16.safetensors: "fp16")
    device: str
    device_map: str | None
    dtype: str
    seconds: float
    predicted_bytes: int
    tensor_bytes: int
    host_peak_rss: int
    host_rss_growth: int
    cuda: tuple[DeviceMemory, ...]
    counts: ComponentCounts
    mismatches: tuple[str, ...]

    @property
    def cuda_allocated(self) -> int:
        return sum(d.allocated for d in self.cuda)


def _distinct_tensors(module: torch.nn.Module) -> Iterator[tuple[str, torch.Tensor, bool]]:
    """``(name, tensor, is_parameter)`` for every distinct parameter and buffer, tied ones once."""
    seen: set[int] = set()
    for name, param in module.named_parameters():
        if id(param) not in seen:
            seen.add(id(param))
            yield name, param, True
    for name, buffer in module.named_buffers():
        if id(buffer) not in seen:
            seen.add(id(buffer))
            yield name, buffer, False


def kept_in_fp32(module: torch.nn.Module, dtype: str) -> frozenset[str]:
    """Module names the loaders keep in fp32 at ``dtype`` (the classes' ``_keep_in_fp32_modules``).

    transformers keeps ``_keep_in_fp32_modules`` for fp16 only and ``_keep_in_fp32_modules_strict`` for fp16 and
    bf16; diffusers keeps its ``_keep_in_fp32_modules`` for any floating dtype.
    """
    key = canonical_dtype(dtype)
    if key == "fp32":
        return frozenset()
    names: set[str] = set()
    if type(module).__module__.startswith("transformers"):
        if key == "fp16":
            names |= set(getattr(module, "_keep_in_fp32_modules", None) or ())
        names |= set(getattr(module, "_keep_in_fp32_modules_strict", None) or ())
    else:
        names |= set(getattr(module, "_keep_in_fp32_modules", None) or ())
    return frozenset(names)


def _loader_dtypes(module: torch.nn.Module, dtype: str) -> dict[str, torch.dtype]:
    """The tensors ``from_pretrained`` at ``dtype`` stores in a dtype that ``compute_module_sizes`` would not assume.

    accelerate sizes a floating tensor at the smaller of ``dtype`` and its own dtype and a bool at one bit; the
    loaders keep the ``_keep_in_fp32_modules`` in fp32 (``kept_in_fp32``), cast every other floating tensor to
    ``dtype`` (up too: a text encoder whose config says fp16 is built in fp16 on meta, loaded in fp32 at fp32),
    and torch stores a bool in a byte.
    """
    target = torch_dtype(dtype)
    fp32 = kept_in_fp32(module, dtype)
    special: dict[str, torch.dtype] = {}
    for name, tensor, _ in _distinct_tensors(module):
        if tensor.dtype == torch.bool:
            special[name] = torch.uint8  # one byte, as torch stores it
        elif tensor.is_floating_point():
            loaded = torch.float32 if fp32 and not fp32.isdisjoint(name.split(".")) else target
            if loaded.itemsize != min(target.itemsize, tensor.itemsize):
                special[name] = loaded
    return special


def predict_bytes(module: torch.nn.Module, dtype: str) -> int:
    """Bytes the module takes when loaded at ``dtype``: accelerate's ``compute_module_sizes`` with ``_loader_dtypes``.

    Floating tensors take the dtype's size, except those the loader keeps in fp32; integer tensors (position
    ids) keep their own size.
    """
    sizes = compute_module_sizes(module, dtype=torch_dtype(dtype), special_dtypes=_loader_dtypes(module, dtype))
    return int(sizes[""])


def tensor_bytes(module: torch.nn.Module) -> int:
    """Bytes the module's distinct tensors occupy as loaded (offloaded ones on ``meta`` count zero)."""
    return sum(t.numel() * t.element_size() for _, t, _ in _distinct_tensors(module) if t.device.type != "meta")


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryLimit:
    """Bytes a process may still allocate under one limit, and which limit that is."""

    free: int
    source: str  # "available host memory", "RLIMIT_AS (ulimit -v)", "cgroup memory.max", ...


UNLIMITED = 1 << 60  # cgroup v1 writes "no limit" as 9223372036854771712


def _read_int(path: Path) -> int | None:
    """An integer file of /sys or /proc (``max`` and unreadable files: ``None``)."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def _cgroup_paths(proc_cgroup: Path) -> dict[str, str]:
    """``{"v2": path, "memory": path}`` of this process's cgroups from /proc/self/cgroup."""
    paths: dict[str, str] = {}
    try:
        lines = proc_cgroup.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return paths
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            paths["v2"] = path
        elif "memory" in controllers.split(","):
            paths["memory"] = path
    return paths


def _ancestors(root: Path, path: str) -> list[Path]:
    """The cgroup folder of ``path`` under ``root`` and every folder above it up to ``root`` (a parent's limit
    binds its children too)."""
    folder = root / path.strip("/")
    chain = [folder, *folder.parents]
    return [f for f in chain if f == root or root in f.parents]


def cgroup_limits(
    root: Path = Path("/sys/fs/cgroup"), proc_cgroup: Path = Path("/proc/self/cgroup")
) -> list[MemoryLimit]:
    """What the memory cgroups this process is in leave: v2 ``memory.max - memory.current`` and v1
    ``memory.limit_in_bytes - memory.usage_in_bytes``, for its cgroup and each one above it."""
    paths = _cgroup_paths(proc_cgroup)
    limits: list[MemoryLimit] = []
    if "v2" in paths:
        for mount in (root, root / "unified"):
            for folder in _ancestors(mount, paths["v2"]):
                maximum, current = _read_int(folder / "memory.max"), _read_int(folder / "memory.current")
                if maximum is not None and current is not None:
                    limits.append(MemoryLimit(free=max(maximum - current, 0), source="cgroup memory.max"))
    if "memory" in paths:
        for folder in _ancestors(root / "memory", paths["memory"]):
            limit = _read_int(folder / "memory.limit_in_bytes")
            usage = _read_int(folder / "memory.usage_in_bytes")
            if limit is not None and usage is not None and limit < UNLIMITED:
                limits.append(MemoryLimit(free=max(limit - usage, 0), source="cgroup memory.limit_in_bytes"))
    return limits


def rlimit_limits() -> list[MemoryLimit]:
    """What ``RLIMIT_AS`` (``ulimit -v``, against the address space in use) and ``RLIMIT_DATA`` (against the data
    segment) leave to this process."""
    info = psutil.Process().memory_info()
    limits: list[MemoryLimit] = []
    for which, used, source in (
        (resource.RLIMIT_AS, int(info.vms), "RLIMIT_AS (ulimit -v)"),
        (resource.RLIMIT_DATA, int(getattr(info, "data", 0)), "RLIMIT_DATA (ulimit -d)"),
    ):
        soft, _ = resource.getrlimit(which)
        if soft != resource.RLIM_INFINITY:
            limits.append(MemoryLimit(free=max(soft - used, 0), source=source))
    return limits


def host_memory() -> MemoryLimit:
    """The host memory this process may still allocate: the smallest of the available memory (psutil), its
    ``RLIMIT_AS``/``RLIMIT_DATA`` and its memory cgroups' limits, with the one that decided."""
    limits = [
        MemoryLimit(free=int(psutil.virtual_memory().available), source="available host memory"),
        *rlimit_limits(),
        *cgroup_limits(),
    ]
    return min(limits, key=lambda limit: limit.free)


def available_memory(device: str, device_map: str | None = None) -> MemoryLimit:
    """Free memory where the weights will go: a CUDA device's free bytes, or what the host lets this process
    allocate (``host_memory``). With a device map, every CUDA device's free memory plus the host's."""
    host = host_memory()
    if device_map is not None:
        if not torch.cuda.is_available():
            return host
        cuda = sum(int(torch.cuda.mem_get_info(i)[0]) for i in range(torch.cuda.device_count()))
        return MemoryLimit(free=host.free + cuda, source=f"CUDA devices and {host.source}")
    if device.startswith("cuda"):
        index = int(device.partition(":")[2] or 0)
        return MemoryLimit(free=int(torch.cuda.mem_get_info(index)[0]), source=f"free memory of cuda:{index}")
    return host


def available_bytes(device: str, device_map: str | None = None) -> int:
    """The bytes of ``available_memory``."""
    return available_memory(device, device_map).free


HEADROOM = 0.9  # refuse above 90% of what is free: loaders, the allocator and other processes need the rest


def check_fit(name: str, predicted: int, device: str, device_map: str | None = None) -> MemoryLimit:
    """Refuse, with the numbers and the limit that decided, a load that would not fit in 90% of the free memory
    where it would go; the memory it checked against otherwise."""
    memory = available_memory(device, device_map)
    free = memory.free
    if predicted > HEADROOM * free:
        where = f"device map {device_map!r}" if device_map else device
        if device.startswith("cuda") and device_map is None:
            fallback = "use --device cpu, or --device-map balanced to spread it"
        else:
            fallback = "use a smaller --dtype, fewer --components, or a machine with more memory"
        raise FitError(
            f"{name}: needs {predicted / 1e9:.2f} GB on {where} but only {free / 1e9:.2f} GB is free "
            f"(by {memory.source}; loads may use {HEADROOM:.0%} of it); {fallback}",
            needed=predicted,
            free=free,
            where=where,
        )
    return memory


def _host_rss() -> int:
    return int(psutil.Process().memory_info().rss)


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


@dataclass(slots=True)
class _Cost:
    """What the block of ``_measured`` cost; filled in when the block ends."""

    seconds: float = 0.0
    host_peak_rss: int = 0
    host_rss_growth: int = 0
    cuda: tuple[DeviceMemory, ...] = ()


@contextlib.contextmanager
def _measured() -> Iterator[_Cost]:
    """Wall time, host RSS and every CUDA device's allocator figures around the block (CUDA synchronized)."""
    devices = range(torch.cuda.device_count()) if torch.cuda.is_available() else range(0)
    before: dict[int, tuple[int, int]] = {}
    for index in devices:
        torch.cuda.synchronize(index)
        torch.cuda.reset_peak_memory_stats(index)
        before[index] = (torch.cuda.memory_allocated(index), torch.cuda.memory_reserved(index))
    rss_before = _host_rss()
    start = time.perf_counter()
    cost = _Cost()
    yield cost
    for index in devices:
        torch.cuda.synchronize(index)
    cost.seconds = time.perf_counter() - start
    cost.cuda = tuple(
        DeviceMemory(
            device=f"cuda:{index}",
            allocated=torch.cuda.memory_allocated(index) - before[index][0],
            reserved=torch.cuda.memory_reserved(index) - before[index][1],
            peak_allocated=torch.cuda.max_memory_allocated(index) - before[index][0],
        )
        for index in devices
    )
    cost.host_peak_rss = _peak_rss()
    cost.host_rss_growth = _host_rss() - rss_before


def weight_variant(spec: ComponentSpec, variant: str | None) -> str | None:
    """The ``variant=`` to load ``spec`` with: ``variant`` where its folder has it (a pipeline's other components
    load their default weights, as the pipelines do), else the only variant a folder without default weights holds."""
    if spec.folder is None:
        return None
    if variant is not None and not variant_files(spec.folder, variant) and spec.weights:
        variant = None
    return choose_variant(spec.folder, variant)[0]


def _from_pretrained(
    spec: ComponentSpec,
    device: str,
    dtype: torch.dtype,
    device_map: str | None,
    variant: str | None,
    trusted: Collection[str],
) -> tuple[torch.nn.Module, tuple[str, ...]]:
    """The loaded module and what the loader said was missing, unexpected or mismatched in the weights."""
    if spec.folder is None or not spec.weights:
        raise SourceError(
            f"{spec.location}: no weight files next to the config; use --materialize or a folder with weights"
        )
    where = f"{spec.location}: component {spec.name!r}"
    cls: Any = resolve_class(spec.library or "", spec.class_name or "", where=where, trusted_libraries=trusted)
    placement: Any = device_map if device_map is not None else (None if device == "cpu" else device)
    kwargs: dict[str, Any] = {"output_loading_info": True}
    if variant is not None:
        kwargs["variant"] = variant
    if placement is not None:
        kwargs["device_map"] = placement
    if spec.library == "transformers":
        kwargs["dtype"] = dtype
    else:
        kwargs["torch_dtype"] = dtype
    try:
        with quiet():  # warnings, prints and progress bars off
            module, info = cls.from_pretrained(spec.folder, **kwargs)
    except (OSError, ValueError, RuntimeError, KeyError, MemoryError) as e:
        message = first_line(e)
        if is_memory_error(e):
            raise OutOfMemoryError(f"{spec.location}: from_pretrained ran out of memory ({message})") from e
        raise SourceError(f"{spec.location}: from_pretrained failed ({message})") from e
    problems = [f"missing in the weights: {key}" for key in info.get("missing_keys", ())]
    problems += [f"unexpected in the weights: {key}" for key in info.get("unexpected_keys", ())]
    problems += [f"shape in the weights: {item}" for item in info.get("mismatched_keys", ())]
    return module, tuple(sorted(str(p) for p in problems))


def _materialize(spec: ComponentSpec, device: str, dtype: torch.dtype, trusted: Collection[str]) -> torch.nn.Module:
    with default_dtype(dtype):
        module = build_component(spec, device=device, trusted_libraries=trusted)
    if module is None:
        raise SourceError(f"{spec.location}: {spec.class_name} has no weights to materialize")
    return module


def _mismatches(expected: torch.nn.Module, loaded: torch.nn.Module) -> tuple[str, ...]:
    """Parameter names whose presence or shape differs between the config build and the loaded module."""
    want = {name: tuple(p.shape) for name, p in expected.named_parameters()}
    have = {name: tuple(p.shape) for name, p in loaded.named_parameters()}
    problems = [f"missing {name}" for name in want.keys() - have.keys()]
    problems += [f"unexpected {name}" for name in have.keys() - want.keys()]
    problems += [
        f"shape {name}: {list(want[name])} -> {list(have[name])}"
        for name in want.keys() & have.keys()
        if want[name] != have[name]
    ]
    return tuple(sorted(problems))


def load_component(
    spec: ComponentSpec,
    *,
    device: str = "cpu",
    dtype: str = "fp32",
    device_map: str | None = None,
    materialize: bool = False,
    check: bool = True,
    reference: torch.nn.Module | None = None,
    variant: str | None = None,
    trusted_libraries: Collection[str] = (),
) -> tuple[LoadResult, torch.nn.Module]:
    """Load (or materialize) one component after the fit check; measure it; compare with the config's counts.

    ``reference`` is the component already built on meta from its config (``BuiltModel.module``); without it the
    config is built here. ``variant``: the weight variant to load (``weight_variant``). ``trusted_libraries``: see
    ``build.build_model``. A load that runs out of memory after the fit check passed is an ``OutOfMemoryError`` with
    the numbers, never blamed on the config.
    """
    if device_map is not None and device_map not in DEVICE_MAPS:
        raise DeviceError(f"unknown device map {device_map!r}; use one of {', '.join(DEVICE_MAPS)}")
    target = resolve_device(device)
    if target == "meta":
        raise DeviceError(f"{spec.location}: --device meta loads no weights; use cpu or cuda to load")
    dtype_key = canonical_dtype(dtype)
    wanted = torch_dtype(dtype_key)
    if reference is None:
        reference = build_component(spec, trusted_libraries=trusted_libraries)  # on meta: what the config says
    if reference is None:
        raise SourceError(f"{spec.location}: {spec.class_name} is not a model; nothing to load")
    predicted = predict_bytes(reference, dtype_key)
    memory = check_fit(spec.name, predicted, target, device_map) if check else available_memory(target, device_map)

    loader_problems: tuple[str, ...] = ()
    chosen = None if materialize else weight_variant(spec, variant)
    try:
        with _measured() as cost:
            if materialize:
                module = _materialize(spec, target, wanted, trusted_libraries)
            else:
                module, loader_problems = _from_pretrained(spec, target, wanted, device_map, chosen, trusted_libraries)
    except (OutOfMemoryError, MemoryError) as e:  # the fit check passed, the allocation failed anyway
        raise OutOfMemoryError(
            f"{spec.name}: ran out of memory loading {predicted / 1e9:.2f} GB on {target} "
            f"({memory.free / 1e9:.2f} GB was free by {memory.source}); use a smaller --dtype, fewer --components, "
            "or raise the limit"
        ) from e
    result = LoadResult(
        component=spec.name,
        mode="materialized" if materialize else "loaded",
        variant=chosen,
        device=target,
        device_map=device_map,
        dtype=dtype_key,
        seconds=cost.seconds,
        predicted_bytes=predicted,
        tensor_bytes=tensor_bytes(module),
        host_peak_rss=cost.host_peak_rss,
        host_rss_growth=cost.host_rss_growth,
        cuda=cost.cuda,
        counts=count_component(spec, module),
        mismatches=tuple(sorted(_mismatches(reference, module) + loader_problems)),
    )
    return result, module
