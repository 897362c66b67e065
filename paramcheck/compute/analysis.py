"""Parameters, FLOPs, latency (predicted from a measured profile, or a datasheet roofline) and memory advice of one
model, from one meta build and one recorded pass per forward."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..build import build_model
from ..count import count_model
from ..errors import ConfigError
from ..results import ModelReport, Result, json_field
from ..sources import ModelSource, resolve
from ..taxonomy import Taxonomy
from .flops import FlopReport, probe_model
from .latency import LatencyReport, gpu, latency_report
from .memory import MemoryReport, memory_report
from .predict import ModelPrediction, predict_flops
from .profile import Profile, profile_arg
from .recipes import workload_for
from .trace import torch_dtype_of

__all__ = ["Analysis", "analyse"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Analysis(Result):
    """Parameters, FLOPs (with their latency: ``prediction`` from a measured profile, else the datasheet ``latency``
    estimate) and memory advice of one model."""

    report: ModelReport
    flops: FlopReport | None = json_field(omit_empty=True, default=None)
    latency: LatencyReport | None = json_field(omit_empty=True, default=None)
    prediction: ModelPrediction | None = json_field(omit_empty=True, default=None)
    memory: MemoryReport

    def to_dict(self, *, flops: bool = True, memory: bool = True) -> dict[str, Any]:
        """The JSON of every part, without the FLOPs and latency (``flops=False``) or the memory advice."""
        data = Result.to_dict(self)
        if not flops:
            data.pop("flops", None)
            data.pop("latency", None)
            data.pop("prediction", None)
        if not memory:
            del data["memory"]
        return data


def analyse(
    model: str | ModelSource,
    *,
    flops: bool = True,
    require_flops: bool = True,
    gpu_name: str = "H200",
    layers: bool = False,
    taxonomy: Taxonomy | None = None,
    **overrides: int | bool | str,
) -> Analysis:
    """Resolve, build on meta once, count parameters and (with ``flops``) FLOPs, then derive the rest.

    ``overrides``: values of the ``Workload`` in place of the pipeline's defaults (``height=768, cfg=False``).
    Without ``require_flops`` a model with no compute defaults still gets memory advice, without activations.
    ``layers`` and ``taxonomy``: as ``count.count_model`` takes them, for the parameter report.
    """
    profile: Profile | None = profile_arg(gpu_name, datasheet_ok=True)
    device = gpu(gpu_name) if profile is None else None  # fail on a bad name before building anything
    source = resolve(model) if isinstance(model, str) else model
    workload = None
    if flops:
        try:
            workload = workload_for(source, overrides)
        except ConfigError:
            if require_flops:
                raise
    # built at the run's dtype, as a GPU run builds it: the op trace then sees its casts and fp32 islands
    built = build_model(source, dtype=torch_dtype_of(workload.activation_dtype) if workload else None)
    report = count_model(built, layers=layers, taxonomy=taxonomy)
    if workload is None:
        return Analysis(report=report, memory=memory_report(report))  # memory advice without activations
    flop_report, traces = probe_model(built, workload, trace=profile is not None)
    latency = latency_report(flop_report, device) if device is not None else None
    prediction = predict_flops(source, flop_report, traces, profile) if profile is not None else None
    return Analysis(
        report=report,
        memory=memory_report(report, flop_report),
        flops=flop_report,
        latency=latency,
        prediction=prediction,
    )
