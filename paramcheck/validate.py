"""Config values checked against the class before a build, and the config keys the class does not take.

A config is somebody else's file. The libraries build whatever it says: ``num_layers: -1`` builds no block
(``range(-1)``), ``true`` one block, ``0`` heads an empty attention, ``10**12`` layers loops until memory runs out,
and a misspelt key is ignored so that the class default is counted. Before a build, ``check_values`` refuses, with a
one-line ``ConfigError`` naming the key:

- numbers that are not finite (``NaN``, ``Infinity``) anywhere, and lists longer than ``PARAMCHECK_MAX_LAYERS``;
- a value of another type where the class declares an integer (its ``__init__`` annotation for diffusers, the
  config class's field for transformers): ``true``, ``1.5``, ``1e30``, ``"4"``;
- layer counts (``num_layers``, ``depth``, ``layers_per_block``, ...) below 0 or above ``PARAMCHECK_MAX_LAYERS``;
- widths, sizes and numbers of heads or groups (``*_dim``, ``*_channels``, ``*_size``, ``*_heads``, ...) below 1.

Zero layers is a model one can build and is counted as the library builds it. ``unused_keys`` names the keys the
class does not take, by the libraries' own rules (diffusers' ``extract_init_dict``; for transformers, keys the config
class keeps only as loose attributes), less the legacy keys published configs carry (``IGNORED_KEYS``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
import re
import types
import typing
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from .errors import ConfigError
from .limits import MAX_LAYERS

__all__ = [
    "IGNORED_KEYS",
    "LAYER_KEY",
    "WIDTH_KEY",
    "check_values",
    "declared_int_keys",
    "null_int_keys",
    "unused_diffusers_keys",
    "unused_transformers_keys",
]

# Counts of repeated blocks: what the model classes loop over.
LAYER_KEY = re.compile(r"(?:^|_)(?:layers|blocks|depth)$|layers_per_block$")
# Widths, sizes and numbers of heads/groups/buckets: a Linear/Conv/Embedding/GroupNorm dimension each.
WIDTH_KEY = re.compile(r"(?:^|_)(?:dim|dims|channels|size|heads|groups|buckets|embeddings)$|^d_(?:model|kv|ff)$")
NOT_A_WIDTH = re.compile(r"window")  # e.g. a sliding window may be -1 or 0 for "none"

# Keys that published configs carry but the class no longer takes; none of them changes a parameter count, so they
# are not reported. Keyed by the diffusers model class or the transformers config class.
IGNORED_KEYS: Mapping[str, frozenset[str]] = {
    # Qwen/Qwen-Image transformer/config.json: a FLUX-style key QwenImageTransformer2DModel has no use for
    "QwenImageTransformer2DModel": frozenset({"pooled_projection_dim"}),
    # openai/clip-vit-large-patch14 and the SD/SDXL/SD3/FLUX text encoders (written by transformers 4.x)
    "CLIPTextConfig": frozenset({"dropout"}),
    # google/umt5-xxl (AuraFlow, Wan)
    "UMT5Config": frozenset({"scalable_attention"}),
    # the Chinese BERT of HunyuanDiT: Google's original BERT release keys
    "BertConfig": frozenset(
        {
            "directionality",
            "pooler_fc_size",
            "pooler_num_attention_heads",
            "pooler_num_fc_layers",
            "pooler_size_per_head",
            "pooler_type",
            "position_embedding_type",
        }
    ),
    # google/gemma-2b and gemma-2-2b: the activation under its other name (the count is the same)
    "GemmaConfig": frozenset({"hidden_activation"}),
    "Gemma2Config": frozenset({"hidden_act"}),
    # Qwen/Qwen2.5-VL-7B-Instruct: a token id for inputs only
    "Qwen2_5_VLConfig": frozenset({"vision_token_id"}),
}

# Keys transformers 4's PretrainedConfig took for every model (and ``output_past``, transformers 2's); configs
# saved then carry them.
GENERAL_TRANSFORMERS_KEYS = frozenset(
    {
        "add_cross_attention",
        "architectures",
        "bad_words_ids",
        "begin_suppress_tokens",
        "bos_token_id",
        "chunk_size_feed_forward",
        "cross_attention_hidden_size",
        "decoder_start_token_id",
        "diversity_penalty",
        "do_sample",
        "early_stopping",
        "encoder_no_repeat_ngram_size",
        "eos_token_id",
        "exponential_decay_length_penalty",
        "finetuning_task",
        "forced_bos_token_id",
        "forced_eos_token_id",
        "gradient_checkpointing",
        "id2label",
        "is_decoder",
        "is_encoder_decoder",
        "label2id",
        "length_penalty",
        "max_length",
        "min_length",
        "model_type",
        "no_repeat_ngram_size",
        "num_beam_groups",
        "num_beams",
        "num_labels",
        "num_return_sequences",
        "output_attentions",
        "output_hidden_states",
        "output_past",
        "output_scores",
        "pad_token_id",
        "prefix",
        "problem_type",
        "pruned_heads",
        "remove_invalid_values",
        "repetition_penalty",
        "return_dict",
        "return_dict_in_generate",
        "sep_token_id",
        "suppress_tokens",
        "task_specific_params",
        "temperature",
        "tf_legacy_loss",
        "tie_encoder_decoder",
        "tie_word_embeddings",
        "tokenizer_class",
        "top_k",
        "top_p",
        "torch_dtype",
        "torchscript",
        "transformers_version",
        "typical_p",
        "use_bfloat16",
    }
)


# --- what a class declares --------------------------------------------------------------------------------------------


def _int_kind(annotation: Any, default: Any) -> bool:
    """Whether a declaration says "an integer" (``int``, ``int | None``): by annotation, else by its default."""
    if annotation is int or annotation in ("int", "int | None", "Optional[int]"):
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return set(typing.get_args(annotation)) == {int, type(None)}
    if annotation is inspect.Parameter.empty or annotation is dataclasses.MISSING:
        return isinstance(default, int) and not isinstance(default, bool)
    return False


@cache
def _declarations(cls: type) -> tuple[frozenset[str], frozenset[str]]:
    """``(every key, the integer keys)`` ``cls`` declares: a transformers config class's fields (with their
    ``attribute_map`` aliases), or a diffusers model's ``__init__`` parameters."""
    every: dict[str, bool] = {}
    if dataclasses.is_dataclass(cls):
        every = {f.name: _int_kind(f.type, f.default) for f in dataclasses.fields(cls)}
        aliases: Mapping[str, str] = getattr(cls, "attribute_map", None) or {}
        every |= {alias: every[target] for alias, target in aliases.items() if target in every}
    else:
        try:
            parameters = inspect.signature(cls.__init__).parameters  # type: ignore[misc]
        except (TypeError, ValueError):
            parameters = {}  # type: ignore[assignment]
        every = {name: _int_kind(p.annotation, p.default) for name, p in parameters.items() if name != "self"}
    return frozenset(every), frozenset(k for k, is_int in every.items() if is_int)


def declared_int_keys(cls: type) -> frozenset[str]:
    """The keys ``cls`` declares as integers (``int`` or ``int | None``)."""
    return _declarations(cls)[1]


def _sub_configs(cls: type) -> Mapping[str, type]:
    """A composite transformers config's nested config classes (``text_config``, ``vision_config``, ...)."""
    sub = getattr(cls, "sub_configs", None)
    return {k: v for k, v in sub.items() if isinstance(v, type)} if isinstance(sub, Mapping) else {}


# --- the checks -------------------------------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _walk(value: Any, key: str) -> Iterator[tuple[str, Any]]:
    """Every ``(dotted key, value)`` in nested dicts and lists, without recursion."""
    stack: list[tuple[str, Any]] = [(key, value)]
    while stack:
        path, item = stack.pop()
        yield path, item
        if isinstance(item, Mapping):
            stack.extend((f"{path}.{k}" if path else str(k), v) for k, v in item.items())
        elif isinstance(item, list | tuple):
            stack.extend((f"{path}[{i}]", v) for i, v in enumerate(item))


def _check_numbers(config: Mapping[str, Any], where: str) -> None:
    limit = MAX_LAYERS.value()
    for path, value in _walk(config, ""):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{where}: {path} is {value!r}, not a finite number; fix the config")
        if isinstance(value, list | tuple) and len(value) > limit:
            raise ConfigError(f"{where}: {path} {MAX_LAYERS.exceeded(f'has {len(value):,} items, which')}")


def _ints(value: Any) -> Iterator[Any]:
    """The items of a possibly nested list (``transformer_layers_per_block`` may be a list of lists), or the value."""
    if isinstance(value, list | tuple):
        for item in value:
            yield from _ints(item)
    else:
        yield value


def _check_structure(key: str, path: str, value: Any, where: str) -> None:
    """A layer count or width (an integer, or a list of them) within its bounds."""
    layer = bool(LAYER_KEY.search(key))
    width = bool(WIDTH_KEY.search(key)) and not NOT_A_WIDTH.search(key)
    if not (layer or width):
        return
    for item in _ints(value):
        if item is None:
            continue
        if not isinstance(item, int) or isinstance(item, bool):
            raise ConfigError(f"{where}: {path} is {_shown(value)}, not an integer; fix the config")
        if layer and item < 0:
            raise ConfigError(f"{where}: {path} is {item}; a layer count cannot be negative; fix the config")
        if layer and item > MAX_LAYERS.value():
            raise ConfigError(f"{where}: {path} {MAX_LAYERS.exceeded(f'is {item:,}, which')}")
        if width and item < 1:
            raise ConfigError(
                f"{where}: {path} is {item}; a width, size or number of heads must be at least 1; fix the config"
            )


def _check_types(config: Mapping[str, Any], declared: type, where: str, prefix: str = "") -> None:
    every, ints = _declarations(declared)
    subs = _sub_configs(declared)
    name = getattr(declared, "__name__", "the class")
    for key, value in config.items():
        if not isinstance(key, str) or key.startswith("_"):
            continue
        path = f"{prefix}{key}"
        if key in subs and isinstance(value, Mapping):
            _check_types(value, subs[key], where, prefix=f"{path}.")
        elif key in every:
            if key in ints and value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise ConfigError(
                    f"{where}: {path} is {_shown(value)} but {name} takes an integer there; fix the config"
                )
            if isinstance(value, int | list | tuple) and not isinstance(value, bool):  # not tie_word_embeddings
                _check_structure(key, path, value, where)


def check_values(config: Mapping[str, Any], declared: type, where: str) -> None:
    """Refuse, naming the key, values no model can have (see the module docstring); ``declared`` is the diffusers
    model class or the transformers config class whose declarations say which keys are integers."""
    _check_numbers(config, where)
    _check_types(config, declared, where)


def null_int_keys(config: Mapping[str, Any], declared: type) -> tuple[str, ...]:
    """Keys declared as integers whose value is ``null``: named when a build fails (the library's text rarely does)."""
    ints = declared_int_keys(declared)
    return tuple(sorted(k for k, v in config.items() if v is None and k in ints))


# --- keys the class does not take -------------------------------------------------------------------------------------


def unused_diffusers_keys(cls: Any, config: Mapping[str, Any]) -> tuple[str, ...]:
    """Keys diffusers' ``extract_init_dict`` would pass over for ``cls`` (its "not expected and will be ignored"
    warning), judged as if the config were written for ``cls`` (its own ``_class_name`` aside)."""
    own = {k: v for k, v in config.items() if k != "_class_name"}
    _, unused, _ = cls.extract_init_dict(own)
    ignored = IGNORED_KEYS.get(cls.__name__, frozenset())
    return tuple(sorted(k for k in unused if isinstance(k, str) and not k.startswith("_") and k not in ignored))


@cache
def _transformers_known(config_class: type) -> frozenset[str]:
    known = {f.name for f in dataclasses.fields(config_class)} if dataclasses.is_dataclass(config_class) else set()
    for klass in config_class.__mro__:
        known |= set(getattr(klass, "__annotations__", {}) or {})
        known |= set(getattr(klass, "attribute_map", {}) or {})
    with contextlib.suppress(Exception):  # a config class without defaults for all: its fields are what it knows
        known |= set(vars(config_class()))
    from transformers import GenerationConfig  # generation settings (cache_implementation): moved out of configs

    known |= set(vars(GenerationConfig()))
    known |= GENERAL_TRANSFORMERS_KEYS | IGNORED_KEYS.get(config_class.__name__, frozenset())
    return frozenset(known)


def unused_transformers_keys(built_config: Any, config: Mapping[str, Any]) -> tuple[str, ...]:
    """Keys the config class kept only as loose attributes: neither a field, an alias, a default attribute, a key
    it consumed (``rope_theta`` into ``rope_parameters``, ``torch_dtype`` into ``dtype``), nor a general key."""
    config_class: type = type(built_config)
    known = _transformers_known(config_class)
    attributes = vars(built_config)
    return tuple(
        sorted(
            k
            for k in config
            if isinstance(k, str) and not k.startswith("_") and k not in known and k in attributes  # kept as given
        )
    )
