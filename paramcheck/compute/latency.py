"""Latency ESTIMATE for GPUs known only by their datasheet: a roofline of each forward from its FLOPs and bytes.

GPUs with a measured profile get a calibrated prediction instead (``predict``).

Each recorded op takes max(FLOPs / peak, bytes / bandwidth); a forward takes the sum over its ops. This assumes
every matmul reaches the datasheet's dense bf16 peak and every byte moves at full bandwidth, with no launch
overhead and no fusion: a lower bound on an eager bf16 run, not a measurement.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError, suggest
from ..results import Result
from .flops import FlopReport, ForwardCount

__all__ = ["ESTIMATE_NOTE", "GPU", "GPUS", "ForwardLatency", "LatencyReport", "gpu", "latency_report"]


@dataclass(frozen=True, slots=True, kw_only=True)
class GPU:
    """Vendor datasheet peaks: dense (no sparsity) bf16 tensor FLOP/s and memory bandwidth in bytes/s."""

    name: str
    bf16_flops: float
    bandwidth: float
    source: str


# Dense bf16 = the datasheets' "with sparsity" figure halved where only that one is printed.
GPUS: tuple[GPU, ...] = (
    GPU(
        name="H100 SXM",
        bf16_flops=989.4e12,
        bandwidth=3.35e12,
        source="NVIDIA H100 Tensor Core GPU datasheet: BF16 1,979 TFLOPS with sparsity, 3.35 TB/s "
        "(https://resources.nvidia.com/en-us-tensor-core/nvidia-tensor-core-gpu-datasheet)",
    ),
    GPU(
        name="H100 PCIe",
        bf16_flops=756.0e12,
        bandwidth=2.0e12,
        source="NVIDIA H100 datasheet, PCIe column: BF16 1,513 TFLOPS with sparsity, 2 TB/s (same URL)",
    ),
    GPU(
        name="H200 SXM",
        bf16_flops=989.4e12,
        bandwidth=4.8e12,
        source="NVIDIA H200 datasheet: BF16 1,979 TFLOPS with sparsity, 4.8 TB/s "
        "(https://www.nvidia.com/en-us/data-center/h200/)",
    ),
    GPU(
        name="A100 80GB SXM",
        bf16_flops=312e12,
        bandwidth=2.039e12,
        source="NVIDIA A100 datasheet: BF16 312 TFLOPS dense, 2,039 GB/s (80GB SXM) "
        "(https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/"
        "nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf)",
    ),
    GPU(
        name="L40S",
        bf16_flops=362.05e12,
        bandwidth=864e9,
        source="NVIDIA L40S datasheet: BF16 362.05 TFLOPS dense (733 with sparsity), 864 GB/s "
        "(https://resources.nvidia.com/en-us-l40s/l40s-datasheet-28413)",
    ),
    GPU(
        name="L4",
        bf16_flops=121e12,
        bandwidth=300e9,
        source="NVIDIA L4 datasheet: BF16 242 TFLOPS with sparsity, 300 GB/s "
        "(https://resources.nvidia.com/en-us-data-center-overview/l4-gpu-datasheet)",
    ),
    GPU(
        name="RTX 4090",
        bf16_flops=165.2e12,
        bandwidth=1008e9,
        source="NVIDIA Ada GPU Architecture whitepaper, appendix A: peak BF16 tensor TFLOPS with FP32 accumulate "
        "165.2 dense, 1008 GB/s (https://images.nvidia.com/aem-dam/Solutions/geforce/ada/"
        "nvidia-ada-gpu-architecture.pdf)",
    ),
)

ESTIMATE_NOTE = (
    "ESTIMATE from the datasheet only (no measured profile for this GPU): per-op roofline max(FLOPs/peak, "
    "bytes/bandwidth) at datasheet peaks (dense bf16), summed; a lower bound: on an H200, eager bf16 forwards over "
    "5 ms took a median 5.0x it (1.5x to 245x), per image 2.1x (1.6x to 55x); use --gpu H200 or a profile from "
    "paramcheck calibrate for a prediction"
)


def gpu(name: str) -> GPU:
    """The GPU of that name (case and spaces ignored); a one-line error with suggestions otherwise."""
    key = name.lower().replace(" ", "").replace("-", "")
    for g in GPUS:
        if g.name.lower().replace(" ", "").replace("-", "") == key:
            return g
    names = tuple(g.name for g in GPUS)
    raise ConfigError(f"unknown GPU {name!r}; {suggest(name, names, hint='known: ' + ', '.join(names))}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ForwardLatency(Result):
    """Seconds for one forward: compute-bound (FLOPs/peak), memory-bound (bytes/bandwidth), per-op roofline."""

    component: str
    forwards: int
    compute_seconds: float
    memory_seconds: float
    roofline_seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class LatencyReport(Result):
    """The estimated seconds of one call on one GPU, per component forward; ``estimate`` is always true."""

    model: str
    gpu: str
    estimate: bool = field(init=False, default=True)
    total_seconds: float = field(init=False)
    forwards: tuple[ForwardLatency, ...]
    notes: tuple[str, ...] = (ESTIMATE_NOTE,)

    def __post_init__(self) -> None:
        self._derive(total_seconds=sum(f.forwards * f.roofline_seconds for f in self.forwards))


def forward_latency(forward: ForwardCount, device: GPU) -> ForwardLatency:
    roofline = sum(o.calls * max(o.flops / device.bf16_flops, o.bytes / device.bandwidth) for o in forward.ops)
    return ForwardLatency(
        component=forward.component,
        forwards=forward.forwards,
        compute_seconds=forward.flops / device.bf16_flops,
        memory_seconds=forward.bytes_moved / device.bandwidth,
        roofline_seconds=roofline,
    )


def latency_report(flops: FlopReport, device: GPU) -> LatencyReport:
    return LatencyReport(
        model=flops.model, gpu=device.name, forwards=tuple(forward_latency(f, device) for f in flops.forwards)
    )
