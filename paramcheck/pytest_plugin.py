"""The pytest plugin behind ``pytest audits``: options, session fixtures, parametrization, JSON-report metadata.

Registered by the ``pytest11`` entry point ``paramcheck.pytest_plugin``; a repository's top-level ``conftest.py`` may
list the same name. Only wiring lives here: sources, builds and counts come from the library, snapshots from
``paramcheck.snapshot``. torch, diffusers and syrupy's extension are imported when a fixture first needs them, so the
plugin costs nothing to test suites that do not audit models.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .errors import ParamcheckError
from .registry import bundled_ids, suggest

if TYPE_CHECKING:
    import torch
    from syrupy.assertion import SnapshotAssertion

    from .conformance import CheckReport
    from .load import LoadResult
    from .model import BuiltModel
    from .results import ComponentCounts, ModelReport
    from .sources import ModelSource

__all__ = [
    "AuditCase",
    "AuditOptions",
    "ModelCache",
    "parse_device",
    "parse_dtype",
    "parse_model",
    "parse_models",
]

CASE_FIXTURE = "paramcheck_case"  # every component with a config, of every selected model
WEIGHTS_FIXTURE = "paramcheck_weights_case"  # every component with weight files
SNAPSHOT_FIXTURE = "paramcheck_snapshot"
SNAPSHOT_DIR_INI = "paramcheck_snapshot_dir"
DEVICE_RE = re.compile(r"auto|cpu|meta|cuda(:\d+)?")
CONFIG_ONLY = "config only: counted on the meta device, no weights read"


# Option parsers: pure and cheap (every xdist worker parses again); device availability is checked in the fixture.


def parse_device(text: str) -> str:
    if not DEVICE_RE.fullmatch(text):
        raise pytest.UsageError(f"--device {text!r}: unknown device; use auto, cpu, cuda, cuda:N or meta")
    return text


def parse_dtype(text: str) -> str:
    from .dtypes import canonical_dtype

    loadable = ("fp32", "fp16", "bf16")
    try:
        name = canonical_dtype(text)
    except ParamcheckError:
        name = ""
    if name not in loadable:
        raise pytest.UsageError(f"--dtype {text!r}: weights load at {', '.join(loadable)} only; use one of them")
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


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("paramcheck", "paramcheck audits")
    group.addoption(
        "--device",
        dest="paramcheck_device",
        default="auto",
        type=parse_device,
        help="where weights go when a source has them: auto (cuda if present, else cpu), cpu, cuda, cuda:N, meta. "
        "Config-only sources are counted on meta.",
    )
    group.addoption(
        "--dtype", dest="paramcheck_dtype", default="fp32", type=parse_dtype, help="dtype weights load at: fp32."
    )
    group.addoption(
        "--model",
        dest="paramcheck_model",
        action="append",
        default=[],
        type=parse_model,
        metavar="ID=SOURCE",
        help="audit SOURCE (a pipeline or model folder, with or without weights) against the snapshots of ID; "
        "repeatable. Without --models only these models are audited.",
    )
    group.addoption(
        "--models",
        dest="paramcheck_models",
        default=None,
        type=parse_models,
        metavar="ID,...",
        help="audit only these models (default: every bundled model).",
    )
    parser.addini(SNAPSHOT_DIR_INI, "folder under rootdir that holds the audits' snapshots", default="snapshots")


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
            from .sources import resolve

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


PLAN_KEY = pytest.StashKey[AuditPlan]()
CHECKED_KEY = pytest.StashKey[dict[str, Any]]()
CACHE_KEY = pytest.StashKey["ModelCache"]()


def _plan(config: pytest.Config) -> AuditPlan:
    if PLAN_KEY not in config.stash:
        config.stash[PLAN_KEY] = AuditPlan(AuditOptions.from_config(config))
    return config.stash[PLAN_KEY]


def _refuse_update_with_node_ids(config: pytest.Config) -> None:
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


LOADGROUP_KEY = "paramcheck_loadgroup"


def _keep_models_on_one_worker(config: pytest.Config) -> None:
    """``-n N`` alone means ``--dist load``: make it ``loadgroup`` so each model is built once and its snapshot file
    written by one worker. An explicit ``--dist`` is left alone. Workers parse the command line again, so they learn
    of the switch through ``workerinput`` (see ``pytest_configure_node``)."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        if workerinput.get(LOADGROUP_KEY):
            config.option.loadgroup = True
        return
    given = (*config.invocation_params.args, *config.getini("addopts"))
    if getattr(config.option, "dist", None) == "load" and not any(arg.startswith("--dist") for arg in given):
        config.option.dist = "loadgroup"


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist, on the controller: tell each worker whether this run groups by model."""
    node.workerinput[LOADGROUP_KEY] = node.config.getoption("dist", None) == "loadgroup"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "xdist_group(name): run these tests on one pytest-xdist worker (loadgroup)")
    _refuse_update_with_node_ids(config)
    _keep_models_on_one_worker(config)
    options = AuditOptions.from_config(config)
    known = options.known()
    for model in options.models or ():
        if model not in known:
            raise pytest.UsageError(f"--models: unknown model {model!r}; {suggest(model, known)}")
    plan = _plan(config)
    for model, location in options.overrides:  # fail before collection on a bad folder, naming it
        try:
            plan.source(model)
        except ParamcheckError as e:
            raise pytest.UsageError(f"--model {model}={location}: {e}") from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for name, weights in ((CASE_FIXTURE, False), (WEIGHTS_FIXTURE, True)):
        if name not in metafunc.fixturenames:
            continue
        try:
            cases = _plan(metafunc.config).cases(weights=weights)
        except ParamcheckError as e:
            raise pytest.UsageError(str(e)) from None
        params = [pytest.param(case, id=case.id, marks=pytest.mark.xdist_group(case.model)) for case in cases]
        if not params:
            reason = "no source has weights: config-only sources are counted on the meta device"
            params = [pytest.param(None, id="config-only", marks=pytest.mark.skip(reason=reason))]
        metafunc.parametrize(name, params)


def _case_of(item: pytest.Item) -> AuditCase | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    for name in (CASE_FIXTURE, WEIGHTS_FIXTURE):
        case = callspec.params.get(name)
        if isinstance(case, AuditCase):
            return case
    return None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the models not selected, after syrupy has seen every item.

    Not collecting them would make syrupy call their snapshot files unused (and delete them on --snapshot-update).
    """
    selected = set(_plan(config).options.selected())
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        case = _case_of(item)
        (drop if case is not None and case.model not in selected else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_report_header(config: pytest.Config) -> str | None:
    if PLAN_KEY not in config.stash:
        return None
    options = config.stash[PLAN_KEY].options
    return f"paramcheck: --device {options.device} (weights only; {CONFIG_ONLY}), --dtype {options.dtype}"


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
            from .devices import resolve_device

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
            from . import model as _model

            try:
                self._built[model] = _model.build_model(self.source(model))
            except ParamcheckError as e:
                pytest.fail(f"{model}: {e}", pytrace=False)
        return self._built[model]

    def report(self, model: str) -> ModelReport:
        """The counts of the one build; counted once."""
        if model not in self._reports:
            from .model import count_model

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
            from .conformance import check_checkpoint

            spec = self.source(case.model).component(case.component)
            try:
                self._checked[key] = check_checkpoint(spec.folder or spec.location)
            except ParamcheckError as e:
                pytest.fail(f"{case.model}: {e}", pytrace=False)
        return self._checked[key]


@pytest.fixture(scope="session")
def paramcheck_models(request: pytest.FixtureRequest) -> ModelCache:
    """The session's models: each built (and loaded) once per process however many audits use it."""
    cache = ModelCache(_plan(request.config))
    request.config.stash[CACHE_KEY] = cache
    return cache


@pytest.fixture
def paramcheck_checked(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Counts an audit checked, as plain numbers; they reach the JSON report's per-test metadata."""
    checked: dict[str, Any] = {}
    request.node.stash[CHECKED_KEY] = checked
    return checked


@pytest.fixture
def paramcheck_counts(
    paramcheck_case: AuditCase, paramcheck_models: ModelCache, paramcheck_checked: dict[str, Any]
) -> ComponentCounts:
    """The current component's counts from the config build, recorded as checked."""
    counts = paramcheck_models.counts(paramcheck_case)
    paramcheck_checked.update(
        parameters=counts.parameters,
        persistent_buffers=counts.persistent_buffers,
        non_persistent_buffers=counts.non_persistent_buffers,
        stored=counts.stored,
        tied_parameters=counts.tied_parameters,
    )
    return counts


@pytest.fixture
def paramcheck_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """syrupy's ``snapshot`` storing into ``snapshots/<audit module>/<model id>.json``."""
    from .snapshot import ParamcheckSnapshotExtension

    return snapshot.use_extension(ParamcheckSnapshotExtension)


def _metadata(item: pytest.Item) -> Iterator[tuple[str, Any]]:
    case = _case_of(item)
    if case is None:
        return
    from .envelope import library_versions

    options = _plan(item.config).options
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
        yield "note", CONFIG_ONLY


@pytest.hookimpl(optionalhook=True)
def pytest_json_runtest_metadata(item: pytest.Item, call: pytest.CallInfo[None]) -> dict[str, Any]:
    """The common fields of every audit, as plain JSON values, in pytest-json-report's per-test metadata."""
    return dict(_metadata(item))
