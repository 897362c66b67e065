"""The pytest plugin behind ``pytest audits``: hooks and fixtures only, the switchboard between pytest and the audits.

Registered by the ``pytest11`` entry point ``paramcheck.pytest_plugin``; a repository's top-level ``conftest.py`` may
list the same name. What the hooks do lives in ``paramcheck.audit_session`` (options, the plan of cases, one build
per model) and ``paramcheck.snapshot`` (the syrupy extension); the session's state lives in ``config.stash``.

An audit asks for one of two parameters, filled by ``pytest_generate_tests`` with an ``AuditCase`` per component
(its id ``<model>-<component>`` is what ``-k`` matches):

- ``paramcheck_case``: every component with a config, of every selected model;
- ``paramcheck_weights_case``: every component with weight files.

torch, diffusers and syrupy's extension are imported when a fixture first needs them, so the plugin costs nothing to
test suites that do not audit models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from .audit_session import (
    CACHE_KEY,
    CASE_FIXTURE,
    CHECKED_KEY,
    PLAN_KEY,
    SNAPSHOT_DIR_INI,
    WEIGHTS_FIXTURE,
    AuditCase,
    ModelCache,
    metadata,
    parse_device,
    parse_dtype,
    parse_model,
    parse_models,
    plan_of,
    refuse_update_with_node_ids,
)
from .devices import META_NOTE

if TYPE_CHECKING:
    from syrupy.assertion import SnapshotAssertion

    from .results import ComponentCounts


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ``paramcheck`` option group and the snapshot folder's ini key.
    https://docs.pytest.org/en/latest/reference/reference.html#pytest.hookspec.pytest_addoption
    """
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


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``xdist_group`` marker, the xdist hooks when xdist is loaded, and refuse bad options before
    collection with one line that names the option at fault.
    https://docs.pytest.org/en/latest/reference/reference.html#pytest.hookspec.pytest_configure
    """
    config.addinivalue_line("markers", "xdist_group(name): run these tests on one pytest-xdist worker (loadgroup)")
    refuse_update_with_node_ids(config)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XDistHooks(), "paramcheck-xdist")
    plan_of(config).validate()


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
    keep, drop = plan_of(config).split_selected(items)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_report_header(config: pytest.Config) -> str | None:
    """One header line: where weights load, and that config-only counts are made on meta.
    https://docs.pytest.org/en/latest/reference/reference.html#pytest.hookspec.pytest_report_header
    """
    if PLAN_KEY not in config.stash:
        return None
    options = config.stash[PLAN_KEY].options
    return f"paramcheck: --device {options.device} (weights only; {META_NOTE}), --dtype {options.dtype}"


@pytest.hookimpl(optionalhook=True)
def pytest_json_runtest_metadata(item: pytest.Item, call: pytest.CallInfo[None]) -> dict[str, Any]:
    """pytest-json-report: the common fields of every audit (model, component, source, device, dtype, the counts it
    checked, library versions), as plain JSON values, in the per-test metadata.
    https://github.com/numirias/pytest-json-report#modifying-the-report
    """
    return dict(metadata(item))


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
def paramcheck_checked(request: pytest.FixtureRequest) -> dict[str, Any]:
    """A dict the audit fills with the numbers it checked (plain ints and strings); they reach the JSON report's
    per-test metadata under ``checked`` (``pytest --json-report``)."""
    checked: dict[str, Any] = {}
    request.node.stash[CHECKED_KEY] = checked
    return checked


@pytest.fixture
def paramcheck_counts(
    paramcheck_case: AuditCase, paramcheck_models: ModelCache, paramcheck_checked: dict[str, Any]
) -> ComponentCounts:
    """The current component's counts from the config build on meta, recorded in ``paramcheck_checked``."""
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
    """syrupy's ``snapshot``, storing into ``<rootdir>/snapshots/<audit module>/<model id>.json`` (the folder is the
    ini key ``paramcheck_snapshot_dir``): one readable JSON file per model, diffs as ``old -> new (+change, +%)``.
    Compare it with ``paramcheck.snapshot.snapshot_entry(counts, part)``; ``--snapshot-update`` accepts a change."""
    from .snapshot import ParamcheckSnapshotExtension

    return snapshot.use_extension(ParamcheckSnapshotExtension)
