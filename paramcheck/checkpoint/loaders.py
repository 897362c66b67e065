"""What ``from_pretrained`` would decide about a checkpoint, computed from its safetensors headers alone.

The stored names and shapes become meta tensors (``torch.empty(shape, device="meta")``: no data is read) and go
through the libraries' own loading logic:

- transformers 5: the model built as ``from_pretrained`` builds it (``cls.get_init_context``: meta, ties not yet
  applied), its key conversions from ``conversion_mapping.get_model_conversion_mapping`` (renames, MoE expert
  merges, the legacy ``gamma``/``beta`` names), the loading loop ``core_model_loading.
  convert_and_load_state_dict_in_model`` on ``device_map={"": "meta"}`` (base-model prefix added or stripped, shapes
  compared, merge errors caught), then the two steps of ``_finalize_model_loading`` that decide the verdict:
  ``tie_weights(missing_keys=...)`` (symmetric: a tied pair stored under either name is complete; an untied
  head is missing) and ``_adjust_missing_and_unexpected_keys`` (the class's ignore patterns and the legacy
  ``rotary_emb.inv_freq``/``position_ids`` buffers).
- diffusers: ``LegacyModelMixin`` classes remapped by ``_fetch_remapped_cls_from_config``; a single file's names
  through ``model._fix_state_dict_keys_on_load`` (the deprecated VAE attention names; not for sharded sets, as in
  diffusers); missing = expected - stored, unexpected = stored - expected less ``_keys_to_ignore_on_load_unexpected``
  (``ModelMixin._load_pretrained_model``), shapes compared.

These functions are module-level and undocumented in transformers; the corpus test (tests/test_loaders.py) pins
them against ``from_pretrained(..., output_loading_info=True)``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from ..build import quiet, resolve_class
from ..errors import ConfigError, first_line
from ..sources import ComponentSpec
from .traced import TORCH_DTYPES

__all__ = ["LoaderVerdict", "as_loaded", "base_class_fits", "loader_verdict"]

# safetensors dtype -> torch dtype of the meta tensor standing for it (the loaders compare shapes, not dtypes)
Stored = Mapping[str, tuple[str, tuple[int, ...]]]  # stored name -> (safetensors dtype, shape)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoaderVerdict:
    """The loader's verdict on stored names and shapes, in the model's names (``renamed`` maps a stored name to the
    model name the loader gives it).

    ``ignored``: stored names the loader drops without complaint (buffers older libraries saved); ``not_stored``:
    model names the class tells the loader not to expect (e.g. Marian's sinusoidal ``embed_positions``); ``raises``:
    a default ``from_pretrained`` raises (a shape mismatch, a merge that fails).
    """

    class_name: str
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    mismatched: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...]  # (name, stored shape, expected shape)
    ignored: tuple[str, ...]
    not_stored: tuple[str, ...] = ()
    renamed: Mapping[str, str] = field(default_factory=dict)
    conversion_errors: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched or self.conversion_errors)

    @property
    def raises(self) -> bool:
        return bool(self.mismatched or self.conversion_errors)


def meta_tensors(stored: Stored) -> dict[str, torch.Tensor]:
    """One meta tensor per stored name, of the stored shape (unknown dtypes as bytes: only shapes matter)."""
    return {
        name: torch.empty(shape, dtype=TORCH_DTYPES.get(dtype, torch.uint8), device="meta")
        for name, (dtype, shape) in stored.items()
    }


def loader_verdict(spec: ComponentSpec, stored: Stored, *, sharded: bool) -> LoaderVerdict | None:
    """What ``from_pretrained`` of ``spec``'s class would report for these stored tensors; ``None`` when the class
    loads through neither library's model loader."""
    if spec.library in (None, "sentence_transformers") or spec.class_name is None or spec.config is None:
        return None  # sentence-transformers loads its Dense modules strictly: the name rules are its verdict
    cls = resolve_class(spec.library, spec.class_name, where=spec.location)
    try:
        with quiet():
            if _is_diffusers_model(cls):
                return _diffusers_verdict(cls, spec.config, stored, sharded=sharded)
            if _is_transformers_model(cls):
                return _transformers_verdict(cls, spec.config, stored)
    except ConfigError:
        raise
    except Exception as e:  # the libraries raise anything on a config they cannot build
        raise ConfigError(f"{spec.location}: cannot build {spec.class_name} from its config ({first_line(e)})") from e
    return None


def _is_diffusers_model(cls: type) -> bool:
    from diffusers import ModelMixin

    return issubclass(cls, ModelMixin)


def _is_transformers_model(cls: type) -> bool:
    from transformers import PreTrainedModel

    return issubclass(cls, PreTrainedModel)


# ---------------------------------------------------------------------------------------------------- transformers


def transformers_model(cls: Any, config: Mapping[str, Any]) -> Any:
    """The model as ``from_pretrained`` builds it before loading: its config class, meta, ties not yet applied."""
    from transformers.utils.generic import ContextManagers

    with ContextManagers(cls.get_init_context(torch.float32, False, False, None)):
        return cls(cls.config_class.from_dict(dict(config)))


def _transformers_mapping(model: Any) -> list[Any]:
    from transformers.conversion_mapping import get_model_conversion_mapping

    return list(get_model_conversion_mapping(model, None, None))  # a fresh copy: the transforms keep state


def _renamed(model: Any, names: list[str]) -> dict[str, str]:
    """stored name -> the model name the loader gives it (``rename_source_key``, the loader's own renaming)."""
    from transformers.core_model_loading import WeightConverter, WeightRenaming, rename_source_key

    mapping = _transformers_mapping(model)
    renamings = [t for t in mapping if isinstance(t, WeightRenaming)]
    converters = [t for t in mapping if isinstance(t, WeightConverter)]
    state = model.state_dict()
    return {n: rename_source_key(n, renamings, converters, model.base_model_prefix, state)[0] for n in names}


def _transformers_verdict(cls: Any, config: Mapping[str, Any], stored: Stored) -> LoaderVerdict:
    from transformers.core_model_loading import convert_and_load_state_dict_in_model
    from transformers.modeling_utils import LoadStateDictConfig

    model = transformers_model(cls, config)
    renamed = _renamed(model, sorted(stored))
    load_config = LoadStateDictConfig(
        device_map={"": "meta"}, ignore_mismatched_sizes=True, weight_mapping=_transformers_mapping(model)
    )
    info, _ = convert_and_load_state_dict_in_model(model, meta_tensors(stored), load_config)
    model.mark_tied_weights_as_initialized(info)
    model.tie_weights(missing_keys=info.missing_keys, recompute_mapping=False)
    missing_before, unexpected_before = set(info.missing_keys), set(info.unexpected_keys)
    model._adjust_missing_and_unexpected_keys(info)
    dropped = unexpected_before - set(info.unexpected_keys)
    lacking = set(info.missing_keys) | set(info.conversion_errors) | {k for k, _, _ in info.mismatched_keys}
    return LoaderVerdict(
        class_name=cls.__name__,
        missing=tuple(sorted(info.missing_keys)),
        unexpected=tuple(sorted(info.unexpected_keys)),
        mismatched=tuple(sorted((k, tuple(s), tuple(e)) for k, s, e in info.mismatched_keys)),
        ignored=tuple(sorted(n for n in stored if n in dropped or renamed[n] in dropped)),
        not_stored=tuple(sorted(missing_before - set(info.missing_keys))),
        renamed={n: m for n, m in renamed.items() if m != n},
        conversion_errors=tuple(sorted(info.conversion_errors)),
        notes=(
            *_odd_shapes(sorted(info.conversion_errors), renamed, stored),
            *_stored_names_lacking(cls, config, sorted(lacking), set(stored)),
            *_stored_as(sorted({k for k, _, _ in info.mismatched_keys} | set(info.unexpected_keys)), renamed),
        ),
    )


def _stored_as(keys: list[str], renamed: Mapping[str, str]) -> tuple[str, ...]:
    """The stored names behind model names in the verdict, where the loader renamed them."""
    notes = []
    for key in keys:
        sources = sorted(n for n, m in renamed.items() if m == key and n != key)
        if sources:
            notes.append(f"{key}: stored as {', '.join(sources[:4])}{' ...' if len(sources) > 4 else ''}")
    return tuple(notes)


def _odd_shapes(keys: list[str], renamed: Mapping[str, str], stored: Stored) -> tuple[str, ...]:
    """For merges that failed: the stored tensors whose shape is the odd one out among those merged together."""
    notes = []
    for key in keys:
        groups: dict[str, list[str]] = {}
        for name in sorted(n for n, m in renamed.items() if m == key):
            groups.setdefault(re.sub(r"\.\d+\.", ".N.", name), []).append(name)
        for names in groups.values():
            shapes = [stored[n][1] for n in names]
            common = max(set(shapes), key=shapes.count)
            odd = [f"{n} {list(stored[n][1])}" for n in names if stored[n][1] != common]
            if odd:
                notes.append(f"{key}: cannot merge {', '.join(odd)} with the others' {list(common)}")
    return tuple(notes)


def _stored_names_lacking(cls: Any, config: Mapping[str, Any], keys: list[str], stored: set[str]) -> tuple[str, ...]:
    """For model names the loader could not fill from renamed or merged tensors: the stored names it wanted and
    the file lacks, as ``save_pretrained`` would name them (``revert_weight_conversion`` on a fresh meta model)."""
    from transformers.core_model_loading import revert_weight_conversion

    if not keys:
        return ()
    fresh = transformers_model(cls, config)
    state = fresh.state_dict()
    prefix = fresh.base_model_prefix + "."
    held = stored | {prefix + n for n in stored} | {n.removeprefix(prefix) for n in stored}
    notes = []
    for key in keys:
        if key not in state:
            continue
        wanted = sorted(set(revert_weight_conversion(fresh, {key: state[key]})) - held)
        if wanted and wanted != [key]:
            notes.append(f"{key}: the file lacks {', '.join(wanted[:4])}{' ...' if len(wanted) > 4 else ''}")
    return tuple(notes)


def as_loaded(spec: ComponentSpec) -> tuple[ComponentSpec, str | None]:
    """``spec`` with the class its loader builds, and a note when that is not the class its config names: in a
    sentence-transformers folder (``modules.json``) the model is loaded with ``AutoModel``, i.e. the base model of
    the config, whatever ``architectures`` says (all-mpnet-base-v2 names ``MPNetForMaskedLM``)."""
    from transformers.models.auto.modeling_auto import MODEL_MAPPING

    if spec.library != "transformers" or spec.class_name is None or spec.config is None or spec.folder is None:
        return spec, None
    if not any((f / "modules.json").is_file() for f in (spec.folder, spec.folder.parent)):  # 0_Transformer/ too
        return spec, None
    cls: Any = resolve_class(spec.library, spec.class_name, where=spec.location)
    base = MODEL_MAPPING.get(cls.config_class, None) if _is_transformers_model(cls) else None
    if base is None or base is cls:
        return spec, None
    note = f"a sentence-transformers folder: checked as {base.__name__}, the class its loader (AutoModel) builds; "
    note += f"config.json names {spec.class_name}"
    return dataclasses.replace(spec, class_name=base.__name__), note


def base_class_fits(spec: ComponentSpec, stored: Stored) -> str | None:
    """The base model class (``AutoModel``'s for this config) when the file fits it exactly and the named class does
    not: how sentence-transformers ships a ``BertModel`` under a config naming ``BertForMaskedLM``."""
    from transformers.models.auto.modeling_auto import MODEL_MAPPING

    if spec.library != "transformers" or spec.class_name is None or spec.config is None:
        return None
    cls: Any = resolve_class(spec.library, spec.class_name, where=spec.location)
    if not _is_transformers_model(cls):
        return None
    config_class = cls.config_class
    base = MODEL_MAPPING.get(config_class, None)
    if base is None or base is cls:
        return None
    with quiet():
        verdict = _transformers_verdict(base, spec.config, stored)
    return base.__name__ if verdict.ok else None


# ------------------------------------------------------------------------------------------------------- diffusers


def _diffusers_verdict(cls: Any, config: Mapping[str, Any], stored: Stored, *, sharded: bool) -> LoaderVerdict:
    from diffusers.models.model_loading_utils import _fetch_remapped_cls_from_config
    from diffusers.models.modeling_utils import LegacyModelMixin

    if issubclass(cls, LegacyModelMixin):
        cls = _fetch_remapped_cls_from_config(dict(config), cls)
    with torch.device("meta"):
        model = cls.from_config(dict(config))
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    names: dict[str, str] = {n: n for n in stored}  # model name -> stored name
    if not sharded:  # diffusers renames deprecated attention blocks of single files only
        model._fix_state_dict_keys_on_load(names)
    ignore = [re.compile(p) for p in cls._keys_to_ignore_on_load_unexpected or ()]
    unexpected = [n for n in names.keys() - expected.keys() if not any(p.search(n) for p in ignore)]
    ignored = [names[n] for n in names.keys() - expected.keys() if any(p.search(n) for p in ignore)]
    mismatched = [
        (n, stored[names[n]][1], expected[n])
        for n in names.keys() & expected.keys()
        if stored[names[n]][1] != expected[n]
    ]
    return LoaderVerdict(
        class_name=cls.__name__,
        missing=tuple(sorted(expected.keys() - names.keys())),
        unexpected=tuple(sorted(unexpected)),
        mismatched=tuple(sorted(mismatched)),
        ignored=tuple(sorted(ignored)),
        renamed={s: m for m, s in names.items() if m != s},
    )
