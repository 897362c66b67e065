"""The machinery behind the audits: options as given, the plan of cases, and one build per model per process.

``paramcheck.pytest_plugin`` wires these into pytest (hooks and fixtures); nothing here registers anything. The
modules that import torch (build, count, load, checkpoint) are imported inside the methods that first need them: the
plugin loads in every pytest run of a project that installs paramcheck and must stay light. A project that declares
no models (``[tool.paramcheck.models]`` in pyproject.toml, or ``--paramcheck-model``) has an inactive plan: no header,
no cases, no import of torch.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .devices import DEVICES, resolve_device
from .devices import parse_device as _parse_device
from .dtypes import LOADABLE_DTYPES, canonical_dtype
from .errors import FitError, ParamcheckError, suggest
from .project import PYPROJECT, declared_models
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
    "Checked",
    "ModelCache",
    "case_of",
    "check_writable",
    "metadata",
    "parse_components",
    "parse_device",
    "parse_dtype",
    "parse_model",
    "parse_models",
    "plan_of",
    "refuse_update_with_node_ids",
    "snapshot_paths",
    "snapshot_root",
]

CASE_FIXTURE = "paramcheck_case"  # every component with a config, of every selected model
WEIGHTS_FIXTURE = "paramcheck_weights_case"  # every component with weight files
SNAPSHOT_FIXTURE = "paramcheck_snapshot"
SNAPSHOT_DIR_INI = "paramcheck_snapshot_dir"
PLAN_KEY = pytest.StashKey["AuditPlan"]()
CHECKED_KEY = pytest.StashKey["Checked"]()
CACHE_KEY = pytest.StashKey["ModelCache"]()
SNAPSHOT_KEY = pytest.StashKey[Any]()  # the test's SnapshotAssertion: its executions hold expected and received


# Option parsers: pure and cheap (every xdist worker parses again); device availability is checked in the fixture.


def parse_device(text: str) -> str:
    try:
        return _parse_device(text)
    except ParamcheckError:
        choices = f"{', '.join(DEVICES[:-1])} or {DEVICES[-1]}"
        raise pytest.UsageError(f"--paramcheck-device {text!r}: unknown device; use {choices}") from None


def parse_dtype(text: str) -> str:
    try:
        name = canonical_dtype(text)
    except ParamcheckError:
        name = ""
    if name not in LOADABLE_DTYPES:
        loadable = ", ".join(LOADABLE_DTYPES)
        raise pytest.UsageError(f"--paramcheck-dtype {text!r}: weights load at {loadable} only; use one of them")
    return name


# a model id names its snapshot file (<snapshot dir>/<audit module>/<id>.json): one plain file name
MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")


def parse_model(text: str) -> tuple[str, str]:
    model, sep, source = text.partition("=")
    if not sep or not model or not source:
        raise pytest.UsageError(
            f"--paramcheck-model {text!r}: expected ID=SOURCE; e.g. --paramcheck-model flux.1-dev=./FLUX.1-dev-new"
        )
    if not MODEL_ID.fullmatch(model) or ".." in model:
        raise pytest.UsageError(
            f"--paramcheck-model {text!r}: the id {model!r} names the model's snapshot file, so it must be a plain "
            "name (letters, digits, '._+-'; no '/', '..' or spaces); e.g. --paramcheck-model flux.1-dev=./new"
        )
    return model, source


def _id_list(option: str, text: str, example: str) -> tuple[str, ...]:
    ids = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not ids:
        raise pytest.UsageError(f"{option} {text!r}: no names; give a comma-separated list, e.g. {example}")
    return ids


def parse_models(text: str) -> tuple[str, ...]:
    return _id_list("--paramcheck-models", text, "flux.1-dev")


def parse_components(text: str) -> tuple[str, ...]:
    return _id_list("--paramcheck-components", text, "transformer,vae")


def project_file(config: pytest.Config) -> Path:
    """The pyproject.toml that declares the models: the ini file when it is one, else the rootdir's."""
    inipath = config.inipath
    if inipath is not None and inipath.name == PYPROJECT:
        return inipath
    return config.rootpath / PYPROJECT


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AuditOptions:
    """The options as given and the models the project declares; ``device`` is resolved (``auto`` -> cuda or cpu)
    by the session fixture."""

    device: str = "auto"
    dtype: str = "fp32"
    declared: tuple[tuple[str, str], ...] = ()
    overrides: tuple[tuple[str, str], ...] = ()
    models: tuple[str, ...] | None = None
    components: tuple[str, ...] | None = None
    device_given: bool = False
    cache: bool = False

    @classmethod
    def from_config(cls, config: pytest.Config) -> AuditOptions:
        path = project_file(config)
        try:
            declared = tuple(declared_models(path).items())
        except ParamcheckError as e:
            raise pytest.UsageError(str(e)) from None
        return cls(
            device=config.getoption("paramcheck_device"),
            dtype=config.getoption("paramcheck_dtype"),
            declared=declared,
            overrides=tuple(config.getoption("paramcheck_model")),
            models=config.getoption("paramcheck_models"),
            components=config.getoption("paramcheck_components"),
            device_given=any(
                arg.split("=")[0] in ("--paramcheck-device", "--device")
                for arg in (*config.invocation_params.args, *config.getini("addopts"))
            ),
            cache=bool(config.getoption("paramcheck_cache", False)),
        )

    @property
    def active(self) -> bool:
        """Whether this run audits anything: models declared in pyproject.toml, or named on the command line."""
        return bool(self.declared or self.overrides or self.models)

    @property
    def override_map(self) -> dict[str, str]:
        return dict(self.overrides)

    def location(self, model: str) -> str:
        """What ``resolve`` reads for ``model``: ``--paramcheck-model``, else the table, else the id itself."""
        return self.override_map.get(model) or dict(self.declared).get(model) or model

    def known(self) -> tuple[str, ...]:
        """Every model an audit is collected for, sorted: the declared ones, the ``--paramcheck-model`` ones, and the
        bundled ids named by ``--paramcheck-models``."""
        named = {m for m in self.models or () if m in bundled_ids()}
        return tuple(sorted({*dict(self.declared), *self.override_map, *named}))

    def selected(self) -> tuple[str, ...]:
        """``--paramcheck-models``, else the ``--paramcheck-model`` ids, else the declared models."""
        if self.models is not None:
            return self.models
        if self.overrides:
            return tuple(self.override_map)
        return tuple(dict(self.declared))


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
            source = resolve(self.options.location(model))
            self._sources[model] = dataclasses.replace(source, model=model)
        return self._sources[model]

    def cases(self, *, weights: bool) -> list[AuditCase]:
        cases: list[AuditCase] = []
        if not self.options.active:
            return cases
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
            if not self.options.active:
                reason = f"no models declared: add them to [tool.paramcheck.models] in {PYPROJECT} (paramcheck init)"
            else:
                reason = "no source has weights: config-only sources are counted on the meta device"
            params = [
                pytest.param(
                    None,
                    id="no-models" if not self.options.active else "config-only",
                    marks=pytest.mark.skip(reason=reason),
                )
            ]
        return params

    def check_components(self, items: Sequence[pytest.Item]) -> None:
        """Refuse a ``--paramcheck-components`` name that no collected audit has (a typo would audit nothing)."""
        names = tuple(sorted({case.component for item in items if (case := case_of(item)) is not None}))
        for component in self.options.components or ():
            if names and component not in names:
                hint = suggest(component, names, hint="components: " + ", ".join(names))
                raise pytest.UsageError(f"--paramcheck-components: no model has a component {component!r}; {hint}")

    def weights_models(self) -> tuple[str, ...]:
        """The selected models whose sources have weight files (reads each source once)."""
        return tuple(
            model for model in self.options.selected() if any(spec.weights for spec in self.source(model).components)
        )

    def validate(self) -> None:
        """Fail before collection, naming the option at fault: an unknown ``--paramcheck-models`` id, a bad
        ``--paramcheck-model`` folder, a CUDA device that is not there."""
        known = self.options.known()
        for model in self.options.models or ():
            if model not in known:
                hint = f"{suggest(model, (*known, *bundled_ids()))}; declare it in [tool.paramcheck.models]"
                raise pytest.UsageError(f"--paramcheck-models: unknown model {model!r}; {hint}")
        for model, location in self.options.overrides:
            try:
                self.source(model)
            except ParamcheckError as e:
                raise pytest.UsageError(f"--paramcheck-model {model}={location}: {e}") from None
        if self.options.active and self.options.device.startswith("cuda"):
            try:
                resolve_device(self.options.device)  # imports torch: only for a project that audits on cuda
            except ParamcheckError as e:
                raise pytest.UsageError(f"--paramcheck-device {e}") from None

    def split_selected(self, items: Sequence[pytest.Item]) -> tuple[list[pytest.Item], list[pytest.Item]]:
        """``items`` as (kept, dropped): audits of models outside ``--paramcheck-models``/``--paramcheck-model``, or
        of components outside ``--paramcheck-components``, are dropped."""
        selected = set(self.options.selected())
        components = set(self.options.components) if self.options.components is not None else None
        keep: list[pytest.Item] = []
        drop: list[pytest.Item] = []
        for item in items:
            case = case_of(item)
            dropped = case is not None and (
                case.model not in selected or (components is not None and case.component not in components)
            )
            (drop if dropped else keep).append(item)
        return keep, drop


def refuse_update_with_node_ids(config: pytest.Config) -> None:
    """``--snapshot-update a.py::test`` rewrites each model's file with only that test's entries: refuse it."""
    if not getattr(config.option, "update_snapshots", False):
        return
    deselected = [("--deselect ", arg) for arg in getattr(config.option, "deselect", None) or ()]
    for option, arg in [("", arg) for arg in config.args] + deselected:
        path, sep, rest = arg.partition("::")
        if not sep or (option and "[" not in rest):  # a whole function deselected: syrupy keeps its entries
            continue
        module = Path(config.invocation_params.dir, path)
        try:
            text = module.read_text(encoding="utf-8")
        except OSError:
            continue
        uses_snapshots = SNAPSHOT_FIXTURE in text or "paramcheck.audits" in text
        if uses_snapshots:
            raise pytest.UsageError(
                f"--snapshot-update with {option}node id {arg!r} would drop the other audits' entries from each "
                f"model's snapshot file; select with -k instead (e.g. -k 'flux and transformer')"
            )


def snapshot_root(config: pytest.Config) -> Path:
    """``<rootdir>/<paramcheck_snapshot_dir>``, refused when the ini value leads outside the rootdir."""
    root = Path(config.rootpath)
    value = str(config.getini(SNAPSHOT_DIR_INI))
    folder = root / value
    if not folder.resolve().is_relative_to(root.resolve()):
        raise pytest.UsageError(
            f"{SNAPSHOT_DIR_INI} = {value!r}: leads outside the rootdir {root}; snapshots live under the rootdir "
            "(e.g. snapshots)"
        )
    return folder


def snapshot_paths(config: pytest.Config, items: Sequence[pytest.Item]) -> set[Path]:
    """The snapshot files the selected audits read and write (where ``ParamcheckSnapshotExtension`` puts them)."""
    root = snapshot_root(config)
    paths: set[Path] = set()
    for item in items:
        case = case_of(item)
        if case is not None and SNAPSHOT_FIXTURE in getattr(item, "fixturenames", ()):
            paths.add(root / Path(str(item.path)).stem / f"{case.model}.json")
    return paths


def check_writable(paths: Iterable[Path]) -> None:
    """On ``--snapshot-update``: the folders the snapshot files go to can be written (else one line, before any
    audit runs, instead of an error at the end of the session)."""
    for folder in sorted({p.parent for p in paths}):
        _check_writable(folder)


def _check_writable(folder: Path) -> None:
    existing = next((f for f in (folder, *folder.parents) if f.exists()), folder)
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        raise pytest.UsageError(
            f"{existing}: cannot write snapshots there ({e.strerror}); make the folder writable, or run without "
            "--snapshot-update"
        ) from None


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
        """The counts of the one build; counted once. With ``--paramcheck-cache``, read from the result cache where
        it holds them (``paramcheck.cache``: a library upgrade is a miss), and built only where it does not."""
        if model not in self._reports:
            if self.options.cache:
                from .cache import cached_report, open_cache

                try:
                    self._reports[model] = cached_report(self.source(model), cache=open_cache())
                except ParamcheckError as e:
                    pytest.fail(f"{model}: {e}", pytrace=False)
            else:
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
        """The whole load: counts, and the tensors ``from_pretrained`` found missing, unexpected or mis-shaped.

        A load that would not fit in memory is skipped with the numbers and the options that make it fit."""
        key = (case.model, case.component)
        if key not in self._loaded:
            from .load import load_component

            spec = self.source(case.model).component(case.component)
            if self.device == "meta":
                pytest.skip(f"--paramcheck-device meta: {case.model} weights not loaded; its counts come from configs")
            failure: str | None = None
            too_big: FitError | None = None
            try:
                result, module = load_component(
                    spec, device=self.device, dtype=self.options.dtype, reference=self.module(case)
                )
            except FitError as e:
                too_big = e
            except ParamcheckError as e:
                failure = f"{case.model}: {e}"
            if too_big is not None:
                pytest.skip(
                    f"{case.id}: needs {too_big.needed / 1e9:.2f} GB on {too_big.where} at {self.options.dtype}, "
                    f"{too_big.free / 1e9:.2f} GB free; not loaded (--paramcheck-dtype bf16 halves it, "
                    "--paramcheck-components narrows the audit, --paramcheck-device meta loads nothing)"
                )
            if failure is not None:
                pytest.fail(failure, pytrace=False)
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


class Checked:
    """What an audit compared: ``expected`` and ``received`` values (plain JSON), for the JSON report's metadata.

    ``compare(name, expected, received)`` records one pair; a dashboard plots one against the other."""

    __slots__ = ("expected", "received")

    def __init__(self) -> None:
        self.expected: dict[str, Any] = {}
        self.received: dict[str, Any] = {}

    def compare(self, name: str, *, expected: Any, received: Any) -> None:
        self.expected[name] = expected
        self.received[name] = received


def _snapshot_values(item: pytest.Item) -> tuple[Any, Any] | None:
    """``(expected, received)`` of the test's last snapshot assertion, parsed from the serialized JSON."""
    import json

    assertion = item.stash.get(SNAPSHOT_KEY, None)
    executions = getattr(assertion, "executions", None)
    if not executions:
        return None
    last = executions[max(executions)]

    def parsed(data: Any) -> Any:
        try:
            return json.loads(str(data)) if data is not None else None
        except json.JSONDecodeError:
            return str(data)

    return parsed(last.recalled_data), parsed(last.asserted_data)


def metadata(item: pytest.Item) -> Iterator[tuple[str, Any]]:
    """The fields of an audit's JSON-report metadata, the same keys for every audit (see
    ``paramcheck/schemas/audit-metadata.schema.json``); nothing for a test that is not an audit.

    ``expected``/``received``: a snapshot audit's stored entry and the entry it computed (``expected`` is ``null``
    before the first record); the other audits' pairs from ``Checked``. The run's common facts (versions, device,
    that configs are counted on meta) are in the report's ``environment``, once."""
    case = case_of(item)
    if case is None:
        return
    options = plan_of(item.config).options
    weights = item.callspec.params.get(WEIGHTS_FIXTURE) is case  # type: ignore[attr-defined]
    device = "meta"
    if weights:
        cache = item.config.stash.get(CACHE_KEY, None)
        device = cache.resolved_device or options.device if cache is not None else options.device
    checked = item.stash.get(CHECKED_KEY, None)
    expected: Any = dict(checked.expected) if checked is not None else {}
    received: Any = dict(checked.received) if checked is not None else {}
    snapshot = _snapshot_values(item)
    if snapshot is not None:
        expected, received = snapshot
    yield "model", case.model
    yield "component", case.component
    yield "source", case.source
    yield "device", device
    yield "dtype", options.dtype if weights else None
    yield "expected", expected
    yield "received", received
