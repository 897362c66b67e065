"""Parameters, FLOPs, latency estimate and memory advice of one model, from one meta build."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..build import build_model
from ..count import count_model
from ..errors import ConfigError
from ..results import ModelReport
from ..sources import ModelSource, resolve
from .flops import FlopReport, count_flops, workload_for
from .latency import LatencyReport, gpu, latency_report
from .memory import MemoryReport, memory_report

__all__ = ["Analysis", "analyse"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Analysis:
    report: ModelReport
    memory: MemoryReport
    flops: FlopReport | None = None
    latency: LatencyReport | None = None

    def to_dict(self, *, flops: bool = True, memory: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {"report": self.report.to_dict()}
        if flops and self.flops is not None:
            data["flops"] = self.flops.to_dict()
            if self.latency is not None:
                data["latency"] = self.latency.to_dict()
        if memory:
            data["memory"] = self.memory.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Analysis:
        return cls(
            report=ModelReport.from_dict(data["report"]),
            memory=MemoryReport.from_dict(data["memory"]),
            flops=FlopReport.from_dict(data["flops"]) if "flops" in data else None,
            latency=LatencyReport.from_dict(data["latency"]) if "latency" in data else None,
        )


def analyse(
    model: str | ModelSource,
    *,
    flops: bool = True,
    require_flops: bool = True,
    gpu_name: str = "H100 SXM",
    height: int | None = None,
    width: int | None = None,
    steps: int | None = None,
    prompt_length: int | None = None,
    batch: int = 1,
    cfg: bool | None = None,
    frames: int | None = None,
) -> Analysis:
    """Resolve, build on meta once, count parameters and (with ``flops``) FLOPs, then derive the rest.

    Without ``require_flops`` a model with no compute defaults still gets memory advice, without activations.
    """
    device = gpu(gpu_name)  # fail on a bad name before building anything
    source = resolve(model) if isinstance(model, str) else model
    built = build_model(source)
    report = count_model(built)
    flop_report = None
    latency = None
    if flops:
        try:
            workload = workload_for(
                source,
                height=height,
                width=width,
                steps=steps,
                prompt_length=prompt_length,
                batch=batch,
                cfg=cfg,
                frames=frames,
            )
        except ConfigError:
            if require_flops:
                raise
            return Analysis(report=report, memory=memory_report(report))  # memory advice without activations
        flop_report = count_flops(built, workload)
        latency = latency_report(flop_report, device)
    return Analysis(report=report, memory=memory_report(report, flop_report), flops=flop_report, latency=latency)
