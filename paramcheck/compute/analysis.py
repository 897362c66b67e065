"""Parameters, FLOPs, latency estimate and memory advice of one model, from one meta build (or none: with a result
cache, the counts and FLOPs already stored are read back and torch is not imported)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from ..cache import ResultCache, cached_report, model_key
from ..errors import ConfigError
from ..results import ModelReport, Result, json_field
from ..sources import ModelSource, resolve
from ..taxonomy import Taxonomy
from .flops import FlopReport
from .latency import LatencyReport, gpu, latency_report
from .memory import MemoryReport, memory_report
from .workload import Workload, check_sizes, workload_for

__all__ = ["Analysis", "analyse"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Analysis(Result):
    """Parameters, FLOPs (with their latency estimate) and memory advice of one model."""

    report: ModelReport
    flops: FlopReport | None = json_field(omit_empty=True, default=None)
    latency: LatencyReport | None = json_field(omit_empty=True, default=None)
    memory: MemoryReport

    def to_dict(self, *, flops: bool = True, memory: bool = True) -> dict[str, Any]:
        """The JSON of every part, without the FLOPs and latency (``flops=False``) or the memory advice."""
        data = Result.to_dict(self)
        if not flops:
            data.pop("flops", None)
            data.pop("latency", None)
        if not memory:
            del data["memory"]
        return data


def analyse(
    model: str | ModelSource,
    *,
    flops: bool = True,
    require_flops: bool = True,
    gpu_name: str = "H100 SXM",
    trusted_libraries: Collection[str] = (),
    layers: bool = False,
    taxonomy: Taxonomy | None = None,
    cache: ResultCache | None = None,
    **overrides: int | bool | str,
) -> Analysis:
    """Resolve, build on meta once, count parameters and (with ``flops``) FLOPs, then derive the rest.

    ``overrides``: values of the ``Workload`` in place of the pipeline's defaults (``height=768, cfg=False``).
    ``trusted_libraries``: see ``build.build_model``.
    Without ``require_flops`` a model with no compute defaults still gets memory advice, without activations.
    ``layers`` and ``taxonomy``: as ``count.count_model`` takes them, for the parameter report.
    ``cache``: counts and FLOPs stored there are read back instead of built and counted (``paramcheck.cache``).
    """
    device = gpu(gpu_name)  # fail on a bad name or size before building anything
    check_sizes(overrides)
    source = resolve(model) if isinstance(model, str) else model
    workload: Workload | None = None
    if flops:
        try:
            workload = workload_for(source, overrides)
        except ConfigError:
            if require_flops:
                raise
    if workload is None:  # memory advice without activations
        report = cached_report(
            source, cache=cache, layers=layers, taxonomy=taxonomy, trusted_libraries=trusted_libraries
        )
        return Analysis(report=report, memory=memory_report(report))
    key = model_key("flops", source, workload.to_dict())
    flop_report = cache.get("flops", key, FlopReport) if cache is not None else None
    if flop_report is None:
        from ..build import build_model
        from .flops import count_flops

        built = build_model(source, trusted_libraries=trusted_libraries)
        report = cached_report(
            source, cache=cache, layers=layers, taxonomy=taxonomy, built=built, trusted_libraries=trusted_libraries
        )
        flop_report = count_flops(built, workload)
        if cache is not None:
            cache.put("flops", key, flop_report)
    else:
        report = cached_report(
            source, cache=cache, layers=layers, taxonomy=taxonomy, trusted_libraries=trusted_libraries
        )
    latency = latency_report(flop_report, device)
    return Analysis(report=report, memory=memory_report(report, flop_report), flops=flop_report, latency=latency)
