"""Parameters, FLOPs, latency (predicted from a measured profile, or a datasheet roofline) and memory advice of one
model, from one meta build and one recorded pass per forward (or none: with a result cache, the counts, FLOPs and
predictions already stored are read back and torch is not imported)."""

from __future__ import annotations

import hashlib
import json
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
from .predict import ModelPrediction
from .profile import Profile, profile_arg
from .workload import Workload, check_sizes, workload_for

__all__ = ["Analysis", "analyse"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Analysis(Result):
    """Parameters, FLOPs (with their latency estimate) and memory advice of one model."""

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
    profile: Profile | None = profile_arg(gpu_name, datasheet_ok=True)
    device = gpu(gpu_name) if profile is None else None  # fail on a bad name or size before building anything
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
    prediction = None
    if profile is not None:
        profile_hash = hashlib.sha1(json.dumps(profile.to_dict(), sort_keys=True).encode()).hexdigest()
        predicted_key = model_key("prediction", source, {**workload.to_dict(), "profile": profile_hash})
        prediction = cache.get("prediction", predicted_key, ModelPrediction) if cache is not None else None
    if flop_report is None or (profile is not None and prediction is None):
        from ..build import build_model
        from .flops import probe_model
        from .predict import predict_flops
        from .trace import torch_dtype_of

        # built at the run's dtype, as a GPU run builds it: the op trace then sees its casts and fp32 islands
        dtype = torch_dtype_of(workload.activation_dtype)
        built = build_model(source, trusted_libraries=trusted_libraries, dtype=dtype)
        report = cached_report(
            source, cache=cache, layers=layers, taxonomy=taxonomy, built=built, trusted_libraries=trusted_libraries
        )
        counted, traces = probe_model(built, workload, trace=profile is not None)  # one pass: counts and traces
        if flop_report is None:
            flop_report = counted
            if cache is not None:
                cache.put("flops", key, flop_report)
        if profile is not None:
            prediction = predict_flops(source, counted, traces, profile)
            if cache is not None:
                cache.put("prediction", predicted_key, prediction)
    else:
        report = cached_report(
            source, cache=cache, layers=layers, taxonomy=taxonomy, trusted_libraries=trusted_libraries
        )
    latency = latency_report(flop_report, device) if device is not None else None
    return Analysis(
        report=report,
        memory=memory_report(report, flop_report),
        flops=flop_report,
        latency=latency,
        prediction=prediction,
    )
