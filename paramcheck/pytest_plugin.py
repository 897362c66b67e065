"""The pytest plugin behind the gate: hooks and fixtures only, the switchboard between pytest and the audits.

Registered by the ``pytest11`` entry point ``paramcheck.pytest_plugin`` (a repository's top-level ``conftest.py`` may
list the same name). It acts only in a project that declares models, in pyproject.toml's ``[tool.paramcheck.models]``
(``paramcheck init`` writes it) or with ``--paramcheck-model``: elsewhere it prints nothing, collects nothing and
imports neither torch nor syrupy. What the hooks do lives in ``paramcheck.audit_session`` (options, the plan of
cases, one build per model) and ``paramcheck.snapshot`` (the syrupy extension); the session's state lives in
``config.stash``.

Options are ``--paramcheck-device``, ``--paramcheck-dtype``, ``--paramcheck-model``, ``--paramcheck-models`` and
``--paramcheck-components``; each also answers to its short name (``--device``, ...) unless the project's conftest or
another plugin already defines that name.

The shipped audits (``paramcheck.audits``) ask for one of two parameters, filled by ``pytest_generate_tests`` with an
``AuditCase`` per component (its id ``<model>-<component>`` is what ``-k`` matches):

- ``paramcheck_case``: every component with a config, of every declared model;
- ``paramcheck_weights_case``: every component with weight files.

Hand-written audits use ``paramcheck_report`` and ``paramcheck_snapshot``::

    def test_my_flux(paramcheck_report, paramcheck_snapshot):
        assert paramcheck_report("my-flux") == paramcheck_snapshot
"""

from __future__ import annotations

import datetime as _dt
import importlib.util
import os
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from .audit_session import (
    CACHE_KEY,
    CASE_FIXTURE,
    CHECKED_KEY,
    PLAN_KEY,
    SNAPSHOT_DIR_INI,
    SNAPSHOT_KEY,
    WEIGHTS_FIXTURE,
    AuditCase,
    Checked,
    ModelCache,
    case_of,
    check_writable,
    metadata,
    parse_components,
    parse_device,
    parse_dtype,
    parse_model,
    parse_models,
    plan_of,
    project_file,
    refuse_update_with_node_ids,
    snapshot_paths,
    snapshot_root,
)
from .devices import META_NOTE

if TYPE_CHECKING:
    from syrupy.assertion import SnapshotAssertion

    from .results import ComponentCounts

# the shipped audits' asserts explain themselves (syrupy's diff comes through pytest_assertrepr_compare) as a test
# module's do: rewrite them when a project's test module imports them
pytest.register_assert_rewrite("paramcheck.audits")

# (short name, dest, argparse keywords): registered as --paramcheck-<short>, and as --<short> where it is free
OPTIONS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    (
        "device",
        "paramcheck_device",
        dict(
            default="auto",
            type=parse_device,
            help="where the load audits put weights: auto (cuda if present, else cpu), cpu, cuda, cuda:N, meta. "
            "Counts always come from configs on the meta device; cuda without a GPU is a usage error.",
        ),
    ),
    ("dtype", "paramcheck_dtype", dict(default="fp32", type=parse_dtype, help="dtype weights load at: fp32.")),
    (
        "model",
        "paramcheck_model",
        dict(
            action="append",
            default=[],
            type=parse_model,
            metavar="ID=SOURCE",
            help="audit SOURCE (a folder, bundled id or hub:ORG/NAME@REV) as ID, in place of or besides "
            "[tool.paramcheck.models]; repeatable. Without --paramcheck-models only these models are audited.",
        ),
    ),
    (
        "models",
        "paramcheck_models",
        dict(
            default=None,
            type=parse_models,
            metavar="ID,...",
            help="audit only these models (default: those of [tool.paramcheck.models]).",
        ),
    ),
    (
        "components",
        "paramcheck_components",
        dict(
            default=None,
            type=parse_components,
            metavar="NAME,...",
            help="audit only these components (e.g. transformer,vae): a big checkpoint's other parts are not loaded.",
        ),
    ),
)
GROUP = "paramcheck"


def _taken(parser: pytest.Parser) -> set[str]:
    """Every option string registered so far, by pytest, plugins and conftests."""
    groups = getattr(parser, "_groups", [])
    return {name for group in groups for option in group.options for name in option.names()}


def _add_short_names(parser: pytest.Parser) -> None:
    """``--device`` etc. as aliases of the ``--paramcheck-`` options, each only where nobody has taken it."""
    taken = _taken(parser)
    group = parser.getgroup(GROUP)
    for short, dest, kwargs in OPTIONS:
        if f"--{short}" not in taken:
            alias = {**kwargs, "help": f"same as --paramcheck-{short} (paramcheck registers it when free)"}
            group.addoption(f"--{short}", dest=dest, **alias)


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """The ``paramcheck`` option group and the snapshot folder's ini key.

    The short names wait until the initial conftests have added theirs (``pytest_load_initial_conftests``); when a
    conftest lists this plugin, that conftest's options are already there.
    https://docs.pytest.org/en/latest/reference/reference.html#pytest.hookspec.pytest_addoption
    """
    group = parser.getgroup(GROUP, "paramcheck audits ([tool.paramcheck.models] in pyproject.toml)")
    for short, dest, kwargs in OPTIONS:
        group.addoption(f"--paramcheck-{short}", dest=dest, **kwargs)
    group.addoption(  # no short alias: a bare --cache reads as pytest's own cache options
        "--paramcheck-cache",
        dest="paramcheck_cache",
        action="store_true",
        help="read counts from paramcheck's result cache where it holds them (fast local runs; a library upgrade "
        "is a miss). Default: build every model from its configs, the gate's purpose.",
    )
    parser.addini(SNAPSHOT_DIR_INI, "folder under rootdir that holds the audits' snapshots", default="snapshots")
    if any(str(getattr(p, "__file__", "")).endswith("conftest.py") for p in pluginmanager.get_plugins()):
        _add_short_names(parser)


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> Any:
    """After the initial conftests have added their options, add the short names nobody took.
    https://docs.pytest.org/en/latest/reference/reference.html#pytest.hookspec.pytest_load_initial_conftests
    """
    result = yield
    _add_short_names(parser)
    return result


def pytest_configure(config: pytest.Config) -> None:
    """For a project that declares models: register the ``xdist_group`` marker, the xdist and JSON-report hooks, and
    refuse bad options before collection with one line that names the option at fault.
    https://docs.pytest.org/en/latest/reference/reference.html#pytest.hookspec.pytest_configure
    """
    config.addinivalue_line("markers", "xdist_group(name): run these tests on one pytest-xdist worker (loadgroup)")
    plan = plan_of(config)
    if not plan.options.active:
        return
    if importlib.util.find_spec("syrupy") is None:
        raise pytest.UsageError(
            f"paramcheck: {project_file(config).name} declares models but syrupy is not installed; "
            "pip install 'paramcheck[pytest]'"
        )
    refuse_update_with_node_ids(config)
    snapshot_root(config)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XDistHooks(), "paramcheck-xdist")
    config.pluginmanager.register(JsonReportHooks(config), "paramcheck-json-report")
    plan.validate()


class XDistHooks:
    """pytest-xdist's hooks, registered only when xdist is loaded: keep each model's audits on one worker.

    ``-n N`` alone means ``--dist load``; it becomes ``loadgroup``, so each model is built once and its snapshot file
    written by one worker (an explicit ``--dist`` is left alone). Workers parse the command line again, so they learn
    of the switch through ``workerinput``.
    """

    LOADGROUP_KEY = "paramcheck_loadgroup"

    def pytest_configure(self, config: pytest.Config) -> None:
        """On the controller, ``load`` -> ``loadgroup``; on a worker, the controller's choice.
        https://docs.pytest.org/en/latest/reference/reference.html#pytest.hookspec.pytest_configure
        """
        workerinput = getattr(config, "workerinput", None)
        if workerinput is not None:
            if workerinput.get(self.LOADGROUP_KEY):
                config.option.loadgroup = True
            return
        given = (*config.invocation_params.args, *config.getini("addopts"))
        if getattr(config.option, "dist", None) == "load" and not any(arg.startswith("--dist") for arg in given):
            config.option.dist = "loadgroup"

    def pytest_configure_node(self, node: Any) -> None:
        """On the controller: tell each worker whether this run groups by model.
        https://pytest-xdist.readthedocs.io/en/stable/how-to.html#creating-one-log-file-for-each-worker
        """
        node.workerinput[self.LOADGROUP_KEY] = node.config.getoption("dist", None) == "loadgroup"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``paramcheck_case`` and ``paramcheck_weights_case`` with the plan's cases, sorted by id so every
    xdist worker collects the same list, each marked ``xdist_group(model)``.
    https://docs.pytest.org/en/latest/reference/reference.html#pytest.hookspec.pytest_generate_tests
    """
    for name, weights in ((CASE_FIXTURE, False), (WEIGHTS_FIXTURE, True)):
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, plan_of(metafunc.config).parameters(weights=weights))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the models not selected, after syrupy has seen every item.

    Not collecting them would make syrupy call their snapshot files unused (and delete them on --snapshot-update).
    https://docs.pytest.org/en/latest/reference/reference.html#pytest.hookspec.pytest_collection_modifyitems
    """
    plan = plan_of(config)
    if not plan.options.active:
        return
    plan.check_components(items)
    keep, drop = plan.split_selected(items)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    paths = snapshot_paths(config, items)
    if paths:  # before any audit runs: an update must never start a broken file again from nothing
        from .snapshot import snapshot_file_problem

        for path in sorted(paths):
            problem = snapshot_file_problem(path)
            if problem is not None:
                raise pytest.UsageError(problem)
        if getattr(config.option, "update_snapshots", False):
            check_writable(paths)
    if plan.options.device_given and any(case_of(i) for i in keep) and not plan.weights_models():
        warnings.warn(
            pytest.PytestWarning(
                f"paramcheck: --paramcheck-device {plan.options.device} has no effect: no audited source has "
                "weights, and counts come from configs on the meta device"
            ),
            stacklevel=1,
        )


def pytest_report_header(config: pytest.Config) -> str | None:
    """One header line in a project that declares models: which models, that their counts are taken on meta from
    configs, and where weights load (or that no source has any).
    https://docs.pytest.org/en/latest/reference/reference.html#pytest.hookspec.pytest_report_header
    """
    if PLAN_KEY not in config.stash or not config.stash[PLAN_KEY].options.active:
        return None
    plan = config.stash[PLAN_KEY]
    options = plan.options
    try:
        weights = plan.weights_models()
    except Exception:  # a source that cannot be read fails its audits with one line; the header stays short
        weights = ()
    where = (
        f"weights of {', '.join(weights)} load on {options.device} at {options.dtype}"
        if weights
        else "no source has weights (--paramcheck-device applies to weights only)"
    )
    return f"paramcheck: {', '.join(options.selected())}: counts from configs on the meta device; {where}"


class JsonReportHooks:
    """pytest-json-report's hooks (optional: they do nothing without it), registered in a project that declares
    models. Every audit's metadata has the same keys (``paramcheck/schemas/audit-metadata.schema.json``); the run's
    facts are said once, in the report's ``environment``."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(optionalhook=True)
    def pytest_json_runtest_metadata(self, item: pytest.Item, call: pytest.CallInfo[None]) -> dict[str, Any]:
        """The audit's model, component, source, device, dtype, and the ``expected`` and ``received`` values.
        https://github.com/numirias/pytest-json-report#modifying-the-report
        """
        return dict(metadata(item))

    @pytest.hookimpl(optionalhook=True)
    def pytest_json_modifyreport(self, json_report: dict[str, Any]) -> None:
        """``environment``: paramcheck's and the libraries' versions, the device asked for and the one used, the
        dtype, that counts are taken on meta, the models, and an ISO timestamp (``created`` is an epoch float).
        https://github.com/numirias/pytest-json-report#modifying-the-report
        """
        json_report.setdefault("environment", {}).update(environment(self.config))


def environment(config: pytest.Config) -> dict[str, Any]:
    """The run's facts for the JSON report (``paramcheck/schemas/audit-metadata.schema.json#/$defs/environment``)."""
    from .envelope import library_versions

    plan = plan_of(config)
    cache = config.stash.get(CACHE_KEY, None)
    versions = library_versions()
    return {
        "paramcheck": versions.get("paramcheck"),
        "versions": versions,
        "timestamp": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "models": {model: plan.options.location(model) for model in plan.options.selected()},
        "counted_on": "meta",
        "note": META_NOTE,
        "device": plan.options.device,
        "resolved_device": cache.resolved_device if cache is not None else None,
        "dtype": plan.options.dtype,
    }


@pytest.fixture(scope="session")
def paramcheck_models(request: pytest.FixtureRequest) -> ModelCache:
    """The session's models, each built on meta from its configs once per process however many audits use it.

    ``counts(case)`` gives the component's ``ComponentCounts``, ``module(case)`` its meta-device module,
    ``load_result(case)`` the component loaded with ``from_pretrained`` on ``--device`` at ``--dtype`` (loaded once;
    skipped on ``--device meta``), ``checkpoint(case)`` its safetensors headers checked against the architecture.
    A source that fails to build fails the audit with one line, not a traceback.
    """
    cache = ModelCache(plan_of(request.config))
    request.config.stash[CACHE_KEY] = cache
    return cache


@pytest.fixture
def paramcheck_checked(request: pytest.FixtureRequest) -> Checked:
    """What the audit compared: ``paramcheck_checked.compare(name, expected=..., received=...)`` with plain values;
    the pairs reach the JSON report's per-test metadata as ``expected`` and ``received`` (``pytest --json-report``)."""
    checked = Checked()
    request.node.stash[CHECKED_KEY] = checked
    return checked


@pytest.fixture
def paramcheck_counts(
    paramcheck_case: AuditCase, paramcheck_models: ModelCache, paramcheck_checked: Checked
) -> ComponentCounts:
    """The current component's counts from the config build on meta."""
    return paramcheck_models.counts(paramcheck_case)


@pytest.fixture
def paramcheck_report(paramcheck_models: ModelCache) -> Callable[[str], dict[str, Any]]:
    """``paramcheck_report(model)``: a model's counts, ready for a snapshot, as ``{component: {parameters, buffers,
    stored, tied, views, ...}}`` (components with a config, in pipeline order).

    ``model`` is an id of ``[tool.paramcheck.models]`` or ``--paramcheck-model``, a bundled id, a folder, or
    ``hub:ORG/NAME@REV``; each is built on meta once per session. A complete gate::

        def test_my_flux(paramcheck_report, paramcheck_snapshot):
            assert paramcheck_report("my-flux") == paramcheck_snapshot
    """
    from .snapshot import report_entry

    def report(model: str) -> dict[str, Any]:
        return report_entry(paramcheck_models.report(model))

    return report


def _running_on_ci() -> bool:
    """As pytest decides it (``CI`` or ``BUILD_NUMBER`` set): there a missing snapshot fails instead of being
    recorded."""
    return any(os.environ.get(name) for name in ("CI", "BUILD_NUMBER"))


@pytest.fixture
def paramcheck_snapshot(snapshot: SnapshotAssertion, request: pytest.FixtureRequest) -> SnapshotAssertion:
    """syrupy's ``snapshot`` storing into ``<rootdir>/snapshots/<test module>/<model id>.json`` (the folder is the
    ini key ``paramcheck_snapshot_dir``): one readable JSON file per model (per test for a hand-written test), diffs
    as ``old -> new (+change, +%)``.

    Outside CI (``CI``/``BUILD_NUMBER`` unset) a snapshot that does not exist yet is recorded and passes, so the
    first ``pytest`` records the gate; on CI it fails, as syrupy's does. ``--snapshot-update`` accepts a change."""
    from .snapshot import ParamcheckSnapshotExtension

    assertion = snapshot.use_extension(ParamcheckSnapshotExtension)
    if not _running_on_ci():
        assertion.update_new_snapshots_only = True
    request.node.stash[SNAPSHOT_KEY] = assertion
    return assertion
