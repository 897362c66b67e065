"""The machinery behind the audits: options as given, the plan of cases, and one build per model per process.

``paramcheck.pytest_plugin`` wires these into pytest (hooks and fixtures); nothing here registers anything. The
modules that import torch (build, count, load, checkpoint) are imported inside the methods that first need them: the
plugin loads in every pytest run of a project that installs paramcheck and must stay light.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .devices import DEVICES, META_NOTE, resolve_device
from .devices import parse_device as _parse_device
from .dtypes import LOADABLE_DTYPES, canonical_dtype
from .envelope import library_versions
from .errors import ParamcheckError, suggest
from .sources import resolve
from .sources.bundled import bundled_ids

if TYPE_CHECKING:
    import torch
    from _pytest.mark import ParameterSet

    from .build import BuiltModel
    from .checkpoint.check import CheckReport
    from .load import LoadResult
    from .results import ComponentCounts, ModelReport
    from .sources import ModelSource

__all__ = [
    "CASE_FIXTURE",
    "SNAPSHOT_DIR_INI",
    "SNAPSHOT_FIXTURE",
    "WEIGHTS_FIXTURE",
    "AuditCase",
    "AuditOptions",
    "AuditPlan",
    "ModelCache",
    "case_of",
    "metadata",
    "parse_device",
    "parse_dtype",
    "parse_model",
    "parse_models",
    "plan_of",
    "refuse_update_with_node_ids",
]

CASE_FIXTURE = "paramcheck_case"  # every component with a config, of every selected model
WEIGHTS_FIXTURE = "paramcheck_weights_case"  # every component with weight files
SNAPSHOT_FIXTURE = "paramcheck_snapshot"
SNAPSHOT_DIR_INI = "paramcheck_snapshot_dir"
PLAN_KEY = pytest.StashKey["AuditPlan"]()
CHECKED_KEY = pytest.StashKey[dict[str, Any]]()
CACHE_KEY = pytest.StashKey["ModelCache"]()


# Option parsers: pure and cheap (every xdist worker parses again); device availability is checked in the fixture.


def parse_device(text: str) -> str:
    try:
        return _parse_device(text)
    except ParamcheckError:
        choices = f"{', '.join(DEVICES[:-1])} or {DEVICES[-1]}"
        raise pytest.UsageError(f"--device {text!r}: unknown device; use {choices}") from None


def parse_dtype(text: str) -> str:
    try:
        name = canonical_dtype(text)
    except ParamcheckError:
        name = ""
    if name not in LOADABLE_DTYPES:
        raise pytest.UsageError(f"--dtype {text!r}: weights load at {', '.join(LOADABLE_DTYPES)} only; use one of them")
    return name


def parse_model(text: str) -> tuple[str, str]:
    model, sep, source = text.partition("=")
    if not sep or not model or not source:
        raise pytest.UsageError(f"--model {text!r}: expected ID=SOURCE; e.g. --model flux.1-dev=./FLUX.1-dev-new")
    return model, source


def parse_models(text: str) -> tuple[str, ...]:
    ids = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not ids:
        raise pytest.UsageError(f"--models {text!r}: no model ids; give a comma-separated list, e.g. flux.1-dev")
    return ids


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AuditOptions:
    """The options as given; ``device`` is resolved (``auto`` -> cuda or cpu) by the session fixture."""

    device: str = "auto"
    dtype: str = "fp32"
    overrides: tuple[tuple[str, str], ...] = ()
    models: tuple[str, ...] | None = None

    @classmethod
    def from_config(cls, config: pytest.Config) -> AuditOptions:
        return cls(
            device=config.getoption("paramcheck_device"),
            dtype=config.getoption("paramcheck_dtype"),
            overrides=tuple(config.getoption("paramcheck_model")),
            models=config.getoption("paramcheck_models"),
        )

    @property
    def override_map(self) -> dict[str, str]:
        return dict(self.overrides)

    def known(self) -> tuple[str, ...]:
        """Every model an audit is collected for: the bundled ones and the overridden ones, sorted."""
        return tuple(sorted({*bundled_ids(), *self.override_map}))

    def selected(self) -> tuple[str, ...]:
        """``--models``, else the ``--model`` ids, else every bundled model."""
        if self.models is not None:
            return self.models
        if self.overrides:
            return tuple(self.override_map)
        return bundled_ids()


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AuditCase:
    """One audited component: its id ``<model>-<component>`` is what ``-k`` matches."""

    model: str
    component: str
    source: str

    @property
    def id(self) -> str:
        return f"{self.model}-{self.component}"


class AuditPlan:
    """Options plus each model's source, resolved once per process (collection reads only JSON files)."""

    def __init__(self, options: AuditOptions) -> None:
        self.options = options
        self._sources: dict[str, ModelSource] = {}

    def source(self, model: str) -> ModelSource:
        if model not in self._sources:
            location = self.options.override_map.get(model, model)
            source = resolve(location)
            self._sources[model] = dataclasses.replace(source, model=model)
        return self._sources[model]

    def cases(self, *, weights: bool) -> list[AuditCase]:
        cases = []
        for model in self.options.known():
            source = self.source(model)
            for spec in source.components:
                if spec.config is None or (weights and not spec.weights):
                    continue
                cases.append(AuditCase(model=model, component=spec.name, source=source.info.location))
        return sorted(cases, key=lambda case: case.id)

    def parameters(self, *, weights: bool) -> list[ParameterSet]:
        """The cases as pytest parameters marked ``xdist_group(model)``; a skipped placeholder when there are none."""
        try:
            cases = self.cases(weights=weights)
        except ParamcheckError as e:
            raise pytest.UsageError(str(e)) from None
        params = [pytest.param(case, id=case.id, marks=pytest.mark.xdist_group(case.model)) for case in cases]
        if not params:
            reason = "no source has weights: config-only sources are counted on the meta device"
            params = [pytest.param(None, id="config-only", marks=pytest.mark.skip(reason=reason))]
        return params

    def validate(self) -> None:
        """Fail before collection, naming the option at fault: an unknown ``--models`` id, a bad ``--model`` folder."""
        known = self.options.known()
        for model in self.options.models or ():
            if model not in known:
                raise pytest.UsageError(f"--models: unknown model {model!r}; {suggest(model, known)}")
        for model, location in self.options.overrides:
            try:
                self.source(model)
            except ParamcheckError as e:
                raise pytest.UsageError(f"--model {model}={location}: {e}") from None

    def split_selected(self, items: Sequence[pytest.Item]) -> tuple[list[pytest.Item], list[pytest.Item]]:
        """``items`` as (kept, dropped): audits of models outside ``--models``/``--model`` are dropped."""
        selected = set(self.options.selected())
        keep: list[pytest.Item] = []
        drop: list[pytest.Item] = []
        for item in items:
            case = case_of(item)
            (drop if case is not None and case.model not in selected else keep).append(item)
        return keep, drop


def refuse_update_with_node_ids(config: pytest.Config) -> None:
    """``--snapshot-update a.py::test`` rewrites each model's file with only that test's entries: refuse it."""
    if not getattr(config.option, "update_snapshots", False):
        return
    for arg in config.args:
        path, sep, _ = arg.partition("::")
        if not sep:
            continue
        module = Path(config.invocation_params.dir, path)
        try:
            uses_snapshots = SNAPSHOT_FIXTURE in module.read_text(encoding="utf-8")
        except OSError:
            continue
        if uses_snapshots:
            raise pytest.UsageError(
                f"--snapshot-update with node id {arg!r} would drop the other audits' entries from each model's "
                f"snapshot file; select with -k instead (e.g. -k 'flux and transformer')"
            )


def plan_of(config: pytest.Config) -> AuditPlan:
    """The session's plan, made on first use and kept in ``config.stash``."""
    if PLAN_KEY not in config.stash:
        config.stash[PLAN_KEY] = AuditPlan(AuditOptions.from_config(config))
    return config.stash[PLAN_KEY]


def case_of(item: pytest.Item) -> AuditCase | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    for name in (CASE_FIXTURE, WEIGHTS_FIXTURE):
        case = callspec.params.get(name)
        if isinstance(case, AuditCase):
            return case
    return None


class ModelCache:
    """One build (and one count) per model per process, one load per component, whatever the number of audits."""

    def __init__(self, plan: AuditPlan) -> None:
        self.plan = plan
        self._device: str | None = None
        self._built: dict[str, BuiltModel] = {}
        self._reports: dict[str, ModelReport] = {}
        self._loaded: dict[tuple[str, str], LoadResult] = {}
        self._checked: dict[tuple[str, str], CheckReport] = {}

    @property
    def options(self) -> AuditOptions:
        return self.plan.options

    @property
    def resolved_device(self) -> str | None:
        """The device once an audit has resolved it, else ``None`` (no resolution here: metadata must not fail)."""
        return self._device

    @property
    def device(self) -> str:
        """``--device`` resolved on first use; a one-line failure when it is not available."""
        if self._device is None:
            try:
                self._device = resolve_device(self.options.device)
            except ParamcheckError as e:
                pytest.fail(str(e), pytrace=False)
        return self._device

    def source(self, model: str) -> ModelSource:
        return self.plan.source(model)

    def built(self, model: str) -> BuiltModel:
        """The model built on meta from its configs; built once."""
        if model not in self._built:
            from .build import build_model

            try:
                self._built[model] = build_model(self.source(model), strict=True)  # a typo fails the audit
            except ParamcheckError as e:
                pytest.fail(f"{model}: {e}", pytrace=False)
        return self._built[model]

    def report(self, model: str) -> ModelReport:
        """The counts of the one build; counted once."""
        if model not in self._reports:
            from .count import count_model

            self._reports[model] = count_model(self.built(model))
        return self._reports[model]

    def counts(self, case: AuditCase) -> ComponentCounts:
        counts = self.report(case.model).component(case.component)
        if counts is None:
            pytest.fail(f"{case.model}: no component {case.component!r} in the built model", pytrace=False)
        return counts

    def module(self, case: AuditCase) -> torch.nn.Module | None:
        """The component's meta-device module from the one build."""
        return self.built(case.model).module(case.component)

    def loaded(self, case: AuditCase) -> ComponentCounts:
        """Counts of the component loaded with ``from_pretrained`` on ``--device`` at ``--dtype``; loaded once."""
        return self.load_result(case).counts

    def load_result(self, case: AuditCase) -> LoadResult:
        """The whole load: counts, and the tensors ``from_pretrained`` found missing, unexpected or mis-shaped."""
        key = (case.model, case.component)
        if key not in self._loaded:
            from .load import load_component

            spec = self.source(case.model).component(case.component)
            if self.device == "meta":
                pytest.skip(f"--device meta: {case.model} weights not loaded; its counts come from configs")
            try:
                result, module = load_component(
                    spec, device=self.device, dtype=self.options.dtype, reference=self.module(case)
                )
            except ParamcheckError as e:
                pytest.fail(f"{case.model}: {e}", pytrace=False)
            self._loaded[key] = result
            del module
        return self._loaded[key]

    def checkpoint(self, case: AuditCase) -> CheckReport:
        """The component's safetensors headers against its architecture (``paramcheck check``); checked once."""
        key = (case.model, case.component)
        if key not in self._checked:
            from .checkpoint.check import check_checkpoint

            spec = self.source(case.model).component(case.component)
            try:
                self._checked[key] = check_checkpoint(spec.folder or spec.location)
            except ParamcheckError as e:
                pytest.fail(f"{case.model}: {e}", pytrace=False)
        return self._checked[key]


def metadata(item: pytest.Item) -> Iterator[tuple[str, Any]]:
    """The common fields of an audit's JSON-report metadata; nothing for a test that is not an audit."""
    case = case_of(item)
    if case is None:
        return
    options = plan_of(item.config).options
    weights = item.callspec.params.get(WEIGHTS_FIXTURE) is case  # type: ignore[attr-defined]
    device = "meta"
    if weights:
        cache = item.config.stash.get(CACHE_KEY, None)
        device = cache.resolved_device or options.device if cache is not None else options.device
    yield "model", case.model
    yield "component", case.component
    yield "source", case.source
    yield "device", device
    yield "dtype", options.dtype if weights else None
    checked: dict[str, Any] = item.stash.get(CHECKED_KEY, {})
    yield "checked", dict(checked)
    yield "versions", library_versions()
    if not weights:
        yield "note", META_NOTE
