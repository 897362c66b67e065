"""Hostile model_index.json and config.json files, read by ``paramcheck report`` (fuzz.md surface 2, findings 2, 8, 9).

Three tables: the pipeline's model_index.json and component folders (``PIPELINE``), one model's config.json
(``CONFIG``), and every integer setting of the FLUX, SD3, T5, CLIP and VAE configs set to values no model can have
(``matrix``). Expected numbers come from torch (the tiny modules' own parameters) or from diffusers/transformers
building the same config themselves (``library_count``), never from paramcheck.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.corpus import (
    NON_UTF8,
    TINY_SD3_TRANSFORMER,
    Expect,
    assert_contract,
    canary_package,
    canary_problems,
    cli,
    deep_json,
    error,
    fifo,
    huge_int,
    library_count,
    ok,
    read_json,
    watch,
    with_raw,
    write_json,
)
from tests.tiny import TINY_CLIP, TINY_FLUX_TRANSFORMER, TINY_T5, TINY_VAE

ZEN = "Beautiful is better than ugly"


def _index(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = read_json(folder / "model_index.json")
    return data


def _set_index(folder: Path, **entries: Any) -> None:
    write_json(folder / "model_index.json", {**_index(folder), **entries})


def _config(folder: Path, component: str) -> dict[str, Any]:
    data: dict[str, Any] = read_json(folder / component / "config.json")
    return data


def _set_config(folder: Path, component: str, **changes: Any) -> None:
    write_json(folder / component / "config.json", {**_config(folder, component), **changes})


def _rename_key(folder: Path, component: str, old: str, new: str) -> None:
    data = _config(folder, component)
    data[new] = data.pop(old)
    write_json(folder / component / "config.json", data)


def _outside_model(root: Path, name: str = "outside_model") -> Path:
    """A model folder next to (not inside) the pipeline: a config that must never be counted as the pipeline's."""
    write_json(root / name / "config.json", {"_class_name": "AutoencoderKL", **TINY_VAE, "block_out_channels": [8]})
    return root / name


# --- the pipeline: model_index.json and its component folders ---------------------------------------------------------


@dataclass(frozen=True)
class PipelineCase:
    id: str
    mutate: Callable[[Path, Path], Any]  # (pipeline folder, case root)
    expect: Expect
    canary: bool = False  # put the canary module on sys.path (an installed module)
    args: tuple[str, ...] = ("--json",)
    extra: dict[str, Any] = field(default_factory=dict)


def _vae(entry: Any) -> Callable[[Path, Path], None]:
    return lambda p, r: _set_index(p, vae=entry)


def _component_named(name: str, *, make: Callable[[Path, Path], Any] | None = None) -> Callable[[Path, Path], None]:
    def mutate(p: Path, r: Path) -> None:
        if make is not None:
            make(p, r)
        _set_index(p, **{name: ["diffusers", "AutoencoderKL"]})

    return mutate


def _symlinked_component(p: Path, r: Path) -> None:
    outside = _outside_model(r)
    shutil.rmtree(p / "vae")
    (p / "vae").symlink_to(outside, target_is_directory=True)


def _config_symlink(target: str) -> Callable[[Path, Path], None]:
    def mutate(p: Path, r: Path) -> None:
        (p / "vae" / "config.json").unlink()
        (p / "vae" / "config.json").symlink_to(target)

    return mutate


def _hf_cache_layout(p: Path, r: Path) -> None:
    """The huggingface_hub cache layout: snapshot files are symlinks to ../../blobs (must keep working)."""
    blobs = r / "model" / ".." / "blobs"
    blobs.mkdir(exist_ok=True)
    for path in sorted(p.rglob("*.json")):
        blob = blobs / f"{abs(hash(str(path))):x}"
        blob.write_bytes(path.read_bytes())
        path.unlink()
        path.symlink_to(os.path.relpath(blob, path.parent))


PIPELINE = [
    # encodings and sizes of model_index.json (fuzz 9: tracebacks)
    PipelineCase(
        "model_index-non-utf8", lambda p, r: (p / "model_index.json").write_bytes(NON_UTF8), error("model_index.json")
    ),
    PipelineCase(
        "model_index-5000-digit-int",
        lambda p, r: write_json(p / "model_index.json", with_raw(_index(p), "_junk", huge_int())),
        error("model_index.json"),
    ),
    PipelineCase(
        "model_index-100k-deep",
        lambda p, r: write_json(p / "model_index.json", deep_json(key="vae")),
        error("model_index.json"),
    ),
    PipelineCase(
        "model_index-utf8-bom",
        lambda p, r: (p / "model_index.json").write_bytes(b"\xef\xbb\xbf" + (p / "model_index.json").read_bytes()),
        error("model_index.json"),
    ),
    PipelineCase(
        "model_index-invalid-json", lambda p, r: (p / "model_index.json").write_text("{"), error("model_index.json")
    ),
    PipelineCase("model_index-empty", lambda p, r: (p / "model_index.json").write_text(""), error("model_index.json")),
    PipelineCase("model_index-list", lambda p, r: (p / "model_index.json").write_text("[]"), error("model_index.json")),
    PipelineCase(
        "model_index-null", lambda p, r: (p / "model_index.json").write_text("null"), error("model_index.json")
    ),
    PipelineCase(
        "model_index-no-components",
        lambda p, r: write_json(p / "model_index.json", {"_class_name": "FluxPipeline"}),
        error("model_index.json"),
    ),
    PipelineCase(
        "model_index-fifo",
        lambda p, r: ((p / "model_index.json").unlink(), fifo(p / "model_index.json")),
        error("model_index.json"),
    ),
    PipelineCase(
        "model_index-is-a-folder",
        lambda p, r: ((p / "model_index.json").unlink(), (p / "model_index.json").mkdir()),
        error("model_index.json"),
    ),
    PipelineCase(
        "model_index-50k-components",
        lambda p, r: _set_index(p, **{f"c{i}": [None, None] for i in range(50_000)}),
        Expect(codes=(0, 2), quiet=False),
    ),
    # malformed entries must not drop a component (fuzz 8)
    PipelineCase("vae-entry-a-string", _vae("AutoencoderKL"), error("vae")),
    PipelineCase("vae-entry-a-dict", _vae({"library": "diffusers", "class": "AutoencoderKL"}), error("vae")),
    PipelineCase("vae-entry-null-library", _vae([None, "AutoencoderKL"]), error("vae")),
    PipelineCase("vae-entry-null", _vae(None), error("vae")),
    PipelineCase("vae-entry-one-item", _vae(["diffusers"]), error("vae")),
    PipelineCase("vae-entry-three-items", _vae(["diffusers", "AutoencoderKL", "x"]), error("vae")),
    PipelineCase("vae-entry-library-int", _vae([5, "AutoencoderKL"]), error("vae")),
    PipelineCase("vae-entry-empty-list", _vae([]), error("vae")),
    # [library, class]: only diffusers/transformers classes are built (fuzz 2: security)
    PipelineCase("library-this-prints-zen", _vae(["this", "X"]), error("vae", avoid=(ZEN,), klass="security")),
    PipelineCase("library-canary-module", _vae(["pc_canary", "Canary"]), error("vae", klass="security"), canary=True),
    PipelineCase(
        "library-canary-class-not-called", _vae(["pc_canary", "Model"]), error("vae", klass="security"), canary=True
    ),
    PipelineCase("library-subprocess-Popen", _vae(["subprocess", "Popen"]), error("vae", klass="security")),
    PipelineCase("library-builtins-object", _vae(["builtins", "object"]), error("vae")),
    PipelineCase("library-collections-OrderedDict", _vae(["collections", "OrderedDict"]), error("vae")),
    PipelineCase("library-torch.nn-Identity", _vae(["torch.nn", "Identity"]), error("vae")),
    PipelineCase("library-torch.nn-Linear", _vae(["torch.nn", "Linear"]), error("vae")),
    PipelineCase("class-transformers-AutoModel", _vae(["transformers", "AutoModel"]), error("vae")),
    PipelineCase("class-diffusers-DiffusionPipeline", _vae(["diffusers", "DiffusionPipeline"]), error("vae")),
    PipelineCase("class-diffusers-FluxPipeline", _vae(["diffusers", "FluxPipeline"]), error("vae")),
    PipelineCase("class-diffusers-__class__", _vae(["diffusers", "__class__"]), error("vae")),
    PipelineCase("class-diffusers-ModelMixin", _vae(["diffusers", "ModelMixin"]), error("vae")),
    PipelineCase("library-os-system", _vae(["os", "system"]), error("vae")),
    PipelineCase("library-builtins-eval", _vae(["builtins", "eval"]), error("vae")),
    PipelineCase("library-shutil-rmtree", _vae(["shutil", "rmtree"]), error("vae")),
    PipelineCase("library-empty", _vae(["", "AutoencoderKL"]), error("vae")),
    PipelineCase("library-dot", _vae([".", "AutoencoderKL"]), error("vae")),
    PipelineCase("library-dotdot-evil", _vae(["..evil", "AutoencoderKL"]), error("vae")),
    PipelineCase("library-path-escape", _vae(["../../x", "AutoencoderKL"]), error("vae")),
    PipelineCase("library-absolute-path", _vae(["/tmp/x", "AutoencoderKL"]), error("vae")),
    PipelineCase("library-trailing-dots", _vae(["diffusers..", "AutoencoderKL"]), error("vae")),
    PipelineCase("library-nul", _vae(["diff\x00users", "AutoencoderKL"]), error("vae")),
    PipelineCase("library-fullwidth-unicode", _vae(["ｄｉｆｆｕｓｅｒｓ", "AutoencoderKL"]), error("vae")),
    PipelineCase("class-empty", _vae(["diffusers", ""]), error("vae")),
    PipelineCase("class-path-escape", _vae(["diffusers", "../AutoencoderKL"]), error("vae")),
    PipelineCase("class-dunder-init", _vae(["diffusers", "__init__"]), error("vae")),
    PipelineCase("class-with-newline", _vae(["diffusers", "Autoencoder\nKL"]), error("vae")),
    PipelineCase("class-wrong-for-config-vae-as-flux", _vae(["diffusers", "FluxTransformer2DModel"]), error("vae")),
    PipelineCase(
        "class-sd3-on-flux-config",
        lambda p, r: _set_index(p, transformer=["diffusers", "SD3Transformer2DModel"]),
        error("transformer"),
    ),
    PipelineCase(
        "class-t5-on-clip-config",
        lambda p, r: _set_index(p, text_encoder=["transformers", "T5EncoderModel"]),
        error("text_encoder"),
    ),
    # component names that leave the folder (issue 13: security; fuzz 8: a config outside is counted)
    PipelineCase(
        "component-name-dotdot-outside",
        _component_named("../outside_model", make=lambda p, r: _outside_model(r)),
        error("outside_model", klass="security"),
    ),
    PipelineCase(
        "component-name-absolute",
        lambda p, r: _set_index(p, **{str(_outside_model(r)): ["diffusers", "AutoencoderKL"]}),
        error("outside_model", klass="security"),
    ),
    PipelineCase(
        "component-name-parent",
        _component_named(
            "..", make=lambda p, r: write_json(r / "config.json", {"_class_name": "AutoencoderKL", **TINY_VAE})
        ),
        error("'..'", klass="security"),
    ),
    PipelineCase(
        "component-name-inner-dotdot",
        _component_named("vae/../../outside_model", make=lambda p, r: _outside_model(r)),
        error("outside_model", klass="security"),
    ),
    PipelineCase("component-name-dot-slash-duplicate", _component_named("./vae"), error("./vae")),
    PipelineCase("component-name-trailing-slash-duplicate", _component_named("vae/"), error("vae/")),
    PipelineCase("component-name-newline", _component_named("va\ne"), Expect(codes=(0, 2), quiet=False)),
    PipelineCase("component-folder-symlink-outside", _symlinked_component, error("vae", klass="security")),
    PipelineCase(
        "config-symlink-to-etc-passwd", _config_symlink("/etc/passwd"), error("config.json", avoid=("root:x:0",))
    ),
    PipelineCase("config-symlink-loop", lambda p, r: _config_symlink("config.json")(p, r), error("config.json")),
    PipelineCase("config-symlink-to-dev-zero", _config_symlink("/dev/zero"), error("config.json")),
    PipelineCase("hf-cache-layout-symlinked-files", _hf_cache_layout, ok()),
    # a component's config.json (fuzz 9 tracebacks, fuzz 6 FIFO)
    PipelineCase(
        "vae-config-non-utf8", lambda p, r: (p / "vae" / "config.json").write_bytes(NON_UTF8), error("config.json")
    ),
    PipelineCase(
        "vae-config-fifo",
        lambda p, r: ((p / "vae" / "config.json").unlink(), fifo(p / "vae" / "config.json")),
        error("config.json"),
    ),
    PipelineCase(
        "vae-config-unreadable",
        lambda p, r: (p / "vae" / "config.json").chmod(0),
        error("config.json"),
        extra={"drop_dac": True},
    ),
    PipelineCase(
        "vae-folder-unreadable",
        lambda p, r: (p / "vae").chmod(0),
        error("vae"),
        extra={"drop_dac": True},
    ),
    PipelineCase(
        "pipeline-folder-unreadable",
        lambda p, r: p.chmod(0o300),
        error("model"),
        extra={"drop_dac": True},
    ),
]


@pytest.mark.parametrize("case", PIPELINE, ids=[c.id for c in PIPELINE])
def test_pipeline(case: PipelineCase, pipeline: Path, root: Path, tiny_totals: dict[str, int]) -> None:
    case.mutate(pipeline, root)
    kwargs: dict[str, Any] = dict(case.extra)
    marks = root / "canary-marks"
    if case.canary:
        canary_package(root / "site", "pc_canary", marks)
        kwargs["sys_path"] = [str(root / "site")]
    tree = watch(root)
    outcome = cli(["report", str(pipeline), *case.args], cwd=root / "work", **kwargs)
    extra = [*tree.changes(), *canary_problems(marks)]
    if case.expect.codes == (0,):
        extra += (
            [] if str(tiny_totals["total"]) in outcome.stdout else [f"[silent] total {tiny_totals['total']} absent"]
        )
    assert_contract(outcome, case.expect, extra=extra)


# --- a config.json read as a single-model folder --------------------------------------------------------------------

FLUX = {"_class_name": "FluxTransformer2DModel", **TINY_FLUX_TRANSFORMER}
T5 = {"model_type": "t5", "architectures": ["T5EncoderModel"], **TINY_T5}
CLIP = {"model_type": "clip_text_model", "architectures": ["CLIPTextModel"], **TINY_CLIP}


@dataclass(frozen=True)
class ConfigCase:
    id: str
    text: Callable[[], str | bytes]
    expect: Expect


def _json(data: Any) -> Callable[[], str]:
    return lambda: json.dumps(data)


def _without(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != key}


CONFIG = [
    ConfigCase("non-utf8", lambda: NON_UTF8, error("config.json")),
    ConfigCase("5000-digit-int", lambda: with_raw(FLUX, "num_layers", huge_int()), error("config.json")),
    ConfigCase("5000-digit-int-unused-key", lambda: with_raw(FLUX, "_junk", huge_int()), error("config.json")),
    ConfigCase("100k-deep", lambda: deep_json(key="_class_name"), error("config.json")),
    ConfigCase("NaN", lambda: with_raw(FLUX, "num_layers", "NaN"), error("num_layers")),
    ConfigCase("Infinity", lambda: with_raw(FLUX, "num_attention_heads", "Infinity"), error("num_attention_heads")),
    ConfigCase("architectures-int", _json({**T5, "architectures": 5}), error("config.json")),
    ConfigCase("architectures-dict", _json({**T5, "architectures": {"a": 1}}), error("config.json")),
    ConfigCase("architectures-string", _json({**T5, "architectures": "T5EncoderModel"}), error("architectures")),
    ConfigCase("architectures-list-of-int", _json({**T5, "architectures": [5]}), error("config.json")),
    ConfigCase("architectures-empty", _json({**T5, "architectures": []}), error("config.json")),
    ConfigCase("architectures-unknown-class", _json({**T5, "architectures": ["EvilModel"]}), error("EvilModel")),
    ConfigCase("architectures-non-module-class", _json({**T5, "architectures": ["T5Config"]}), error("T5Config")),
    ConfigCase(
        "architectures-tokenizer-class", _json({**T5, "architectures": ["T5TokenizerFast"]}), error("T5TokenizerFast")
    ),
    ConfigCase("model_type-int", _json({**T5, "model_type": 5}), error("model_type")),
    ConfigCase("model_type-unknown", _json({**T5, "model_type": "evil"}), error("evil")),
    ConfigCase("model_type-mismatch-clip-on-t5", _json({**T5, "model_type": "clip_text_model"}), error("config.json")),
    ConfigCase("class_name-int", _json({**FLUX, "_class_name": 5}), error("config.json")),
    ConfigCase("class_name-list", _json({**FLUX, "_class_name": ["FluxTransformer2DModel"]}), error("config.json")),
    ConfigCase("class_name-unknown", _json({**FLUX, "_class_name": "NoSuchModel"}), error("NoSuchModel")),
    ConfigCase(
        "class_name-path-escape", _json({**FLUX, "_class_name": "../FluxTransformer2DModel"}), error("config.json")
    ),
    ConfigCase("class_name-pipeline", _json({**FLUX, "_class_name": "FluxPipeline"}), error("FluxPipeline")),
    ConfigCase(
        "class_name-scheduler", _json({**FLUX, "_class_name": "FlowMatchEulerDiscreteScheduler"}), error("config.json")
    ),
    ConfigCase("empty", lambda: "", error("config.json")),
    ConfigCase("list", lambda: "[]", error("config.json")),
    ConfigCase("string", lambda: '"FluxTransformer2DModel"', error("config.json")),
    ConfigCase("no-class", _json({"num_layers": 1}), error("config.json")),
    # a 200 MB config (fuzz 6): refused by a documented size limit before it is read whole
    ConfigCase("200MB-config", lambda: json.dumps({**FLUX, "_pad": "x" * 200_000_000}), error("config.json")),
    # keys the class does not take: the class default would be counted (fuzz 8: 750,468 instead of 164,519)
    ConfigCase(
        "typo-flux-num_layer",
        _json({**_without(FLUX, "num_layers"), "num_layer": 1}),
        error("num_layer", accept_notes=(r"\bnum_layer\b",)),
    ),
    ConfigCase(
        "typo-flux-extra-key",
        _json({**FLUX, "num_single_layer": 5}),
        error("num_single_layer", accept_notes=(r"\bnum_single_layer\b",)),
    ),
    ConfigCase(
        "typo-clip-num_hidden_layer",
        _json({**_without(CLIP, "num_hidden_layers"), "num_hidden_layer": 2}),
        error("num_hidden_layer", accept_notes=(r"\bnum_hidden_layer\b",)),
    ),
    ConfigCase(
        "typo-t5-num_head",
        _json({**_without(T5, "num_heads"), "num_head": 4}),
        error("num_head", accept_notes=(r"\bnum_head\b",)),
    ),
    ConfigCase(
        "typo-sd3-num_layer",
        _json({"_class_name": "SD3Transformer2DModel", **_without(TINY_SD3_TRANSFORMER, "num_layers"), "num_layer": 1}),
        error("num_layer", accept_notes=(r"\bnum_layer\b",)),
    ),
    ConfigCase(
        "typo-vae-layer_per_block",
        _json({"_class_name": "AutoencoderKL", **_without(TINY_VAE, "layers_per_block"), "layer_per_block": 2}),
        error("layer_per_block", accept_notes=(r"\blayer_per_block\b",)),
    ),
    # 10,000 layers took 100 s and 1.5 GB (fuzz 6): a documented layer limit
    ConfigCase("flux-num_layers-10000", _json({**FLUX, "num_layers": 10_000}), error("num_layers")),
]


@pytest.mark.parametrize("case", CONFIG, ids=[c.id for c in CONFIG])
def test_config(case: ConfigCase, root: Path) -> None:
    text = case.text()
    path = root / "model" / "config.json"
    path.parent.mkdir()
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    tree = watch(root)
    outcome = cli(["report", str(path.parent), "--json"], cwd=root / "work")
    assert_contract(outcome, case.expect, extra=tree.changes())


def test_config_fifo_is_refused_not_waited_on(root: Path) -> None:
    fifo(root / "model" / "config.json")
    outcome = cli(["report", str(root / "model")], cwd=root / "work")
    assert_contract(outcome, error("config.json"))


# --- every integer setting of FLUX, SD3, T5, CLIP and the VAE, set to what no model can have -------------------------

MODELS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "flux": ("diffusers", "FluxTransformer2DModel", FLUX),
    "sd3": ("diffusers", "SD3Transformer2DModel", {"_class_name": "SD3Transformer2DModel", **TINY_SD3_TRANSFORMER}),
    "t5": ("transformers", "T5EncoderModel", T5),
    "clip": ("transformers", "CLIPTextModelWithProjection", {**CLIP, "architectures": ["CLIPTextModelWithProjection"]}),
    "vae": ("diffusers", "AutoencoderKL", {"_class_name": "AutoencoderKL", **TINY_VAE}),
}
LAYERS = {
    "flux": ("num_layers", "num_single_layers"),
    "sd3": ("num_layers",),
    "t5": ("num_layers",),
    "clip": ("num_hidden_layers",),
    "vae": ("layers_per_block",),
}
DIMS = {
    "flux": (
        "patch_size",
        "in_channels",
        "out_channels",
        "attention_head_dim",
        "num_attention_heads",
        "joint_attention_dim",
        "pooled_projection_dim",
    ),
    "sd3": (
        "sample_size",
        "patch_size",
        "in_channels",
        "out_channels",
        "attention_head_dim",
        "num_attention_heads",
        "joint_attention_dim",
        "caption_projection_dim",
        "pooled_projection_dim",
        "pos_embed_max_size",
    ),
    "t5": ("vocab_size", "d_model", "d_kv", "d_ff", "num_heads", "relative_attention_num_buckets"),
    "clip": (
        "vocab_size",
        "hidden_size",
        "intermediate_size",
        "num_attention_heads",
        "max_position_embeddings",
        "projection_dim",
    ),
    "vae": ("in_channels", "out_channels", "latent_channels", "norm_num_groups", "sample_size"),
}
OPTIONAL = {("flux", "out_channels"), ("sd3", "out_channels"), ("sd3", "pos_embed_max_size")}  # null is valid there


@dataclass(frozen=True)
class Value:
    label: str
    value: Any
    kind: str  # impossible | zero | huge-layers | huge-width


IMPOSSIBLE = [
    Value("-1", -1, "impossible"),
    Value("true", True, "impossible"),
    Value("1.5", 1.5, "impossible"),
    Value("str", "4", "impossible"),
    Value("null", None, "impossible"),
    Value("0", 0, "zero"),
]


def _matrix() -> list[Any]:
    cases = []
    for model, keys in LAYERS.items():
        for key in keys:
            values = [*IMPOSSIBLE, Value("100000", 100_000, "huge-layers")]
            if (model, key) == ("flux", "num_layers"):  # fuzz 6: 10**12 and 2**63 grew until killed
                values += [Value("10**12", 10**12, "huge-layers"), Value("2**63", 2**63, "huge-layers")]
            cases += [pytest.param(model, key, v, id=f"{model}-{key}={v.label}") for v in values]
    for model, keys in DIMS.items():
        for key in keys:
            values = [*IMPOSSIBLE, Value("2**63", 2**63, "huge-width")]
            if key == "vocab_size":
                values.append(Value("10**12", 10**12, "huge-width"))
            cases += [
                pytest.param(model, key, v, id=f"{model}-{key}={v.label}")
                for v in values
                if not (v.label == "null" and (model, key) in OPTIONAL)
            ]
    return cases


def _expected(model: str, key: str, value: Value, config: dict[str, Any]) -> Expect:
    library, class_name, _ = MODELS[model]
    if value.kind == "impossible":
        return error(key, "config.json")
    if value.kind == "huge-layers":
        return error(key)
    try:  # what the library itself builds, when it builds anything
        total: int | None = library_count(library, class_name, config)
    except Exception:
        total = None
    if value.kind == "zero":
        if key in LAYERS[model]:  # zero blocks is a model one can build; its count must then be right
            return error(key, accept_total=total, accept_notes=(rf"\b{key}\b",))
        return error(key, accept_notes=(rf"\b{key}\b",))  # zero heads/width: a degenerate model, never silent
    return error("config.json", accept_total=total)  # huge widths: a clean error, or the library's own count


@pytest.mark.parametrize(("model", "key", "value"), _matrix())
def test_config_integer(model: str, key: str, value: Value, root: Path) -> None:
    config = {**MODELS[model][2], key: value.value}
    write_json(root / "model" / "config.json", config)
    expect = _expected(model, key, value, config)
    outcome = cli(["report", str(root / "model"), "--json"], cwd=root / "work")
    assert_contract(outcome, expect)


def test_auto_map_never_runs_code_next_to_the_config(root: Path) -> None:
    """No path from ``auto_map``/``trust_remote_code`` to the folder's own modeling code (held up in the fuzz)."""
    marker = root / "remote-code-ran"
    folder = root / "model"
    (folder / "modeling_evil.py").parent.mkdir(parents=True)
    (folder / "modeling_evil.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    config = {
        **T5,
        "architectures": ["EvilModel"],
        "auto_map": {"AutoConfig": "modeling_evil.EvilConfig", "AutoModel": "modeling_evil.EvilModel"},
        "trust_remote_code": True,
    }
    write_json(folder / "config.json", config)
    outcome = cli(["report", str(folder)], cwd=root / "work")
    extra = ["[security] modeling_evil.py ran"] if marker.exists() else []
    assert_contract(outcome, error("EvilModel"), extra=extra)
