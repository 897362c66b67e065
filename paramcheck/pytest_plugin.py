"""The pytest plugin behind ``pytest audits``: options, session fixtures, parametrization, JSON-report metadata.

Registered by the ``pytest11`` entry point ``paramcheck.pytest_plugin``; a repository's top-level ``conftest.py`` may
list the same name. Only wiring lives here: sources, builds and counts come from the library, snapshots from
``paramcheck.snapshot``. torch, diffusers and syrupy's extension are imported when a fixture first needs them, so the
plugin costs nothing to test suites that do not audit models.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .audit_session import (
    CACHE_KEY,
    CASE_FIXTURE,
    CHECKED_KEY,
    PLAN_KEY,
    SNAPSHOT_DIR_INI,
    SNAPSHOT_FIXTURE,
    WEIGHTS_FIXTURE,
    AuditCase,
    AuditOptions,
    ModelCache,
    case_of,
    metadata,
    parse_device,
    parse_dtype,
    parse_model,
    parse_models,
    plan_of,
)
from .devices import META_NOTE
from .errors import ParamcheckError, suggest

if TYPE_CHECKING:
    from syrupy.assertion import SnapshotAssertion

    from .results import ComponentCounts


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
    plan = plan_of(config)
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
            cases = plan_of(metafunc.config).cases(weights=weights)
        except ParamcheckError as e:
            raise pytest.UsageError(str(e)) from None
        params = [pytest.param(case, id=case.id, marks=pytest.mark.xdist_group(case.model)) for case in cases]
        if not params:
            reason = "no source has weights: config-only sources are counted on the meta device"
            params = [pytest.param(None, id="config-only", marks=pytest.mark.skip(reason=reason))]
        metafunc.parametrize(name, params)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the models not selected, after syrupy has seen every item.

    Not collecting them would make syrupy call their snapshot files unused (and delete them on --snapshot-update).
    """
    selected = set(plan_of(config).options.selected())
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        case = case_of(item)
        (drop if case is not None and case.model not in selected else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_report_header(config: pytest.Config) -> str | None:
    if PLAN_KEY not in config.stash:
        return None
    options = config.stash[PLAN_KEY].options
    return f"paramcheck: --device {options.device} (weights only; {META_NOTE}), --dtype {options.dtype}"


@pytest.fixture(scope="session")
def paramcheck_models(request: pytest.FixtureRequest) -> ModelCache:
    """The session's models: each built (and loaded) once per process however many audits use it."""
    cache = ModelCache(plan_of(request.config))
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


@pytest.hookimpl(optionalhook=True)
def pytest_json_runtest_metadata(item: pytest.Item, call: pytest.CallInfo[None]) -> dict[str, Any]:
    """The common fields of every audit, as plain JSON values, in pytest-json-report's per-test metadata."""
    return dict(metadata(item))
