"""Counts from configs on meta agree with the loaded model, the checkpoint header, and hand calculations."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from paramcheck.count import audit, buffer_counts, parameter_count, tied_groups
from paramcheck.sources import read_folder


def _loaded(folder: Path, library: str, class_name: str) -> torch.nn.Module:
    import diffusers
    import transformers

    cls = getattr(diffusers if library == "diffusers" else transformers, class_name)
    return cls.from_pretrained(folder)


def _header_elements(folder: Path) -> int:
    total = 0
    for path in folder.glob("*.safetensors"):
        with safe_open(path, framework="pt") as f:
            for key in f.keys():  # noqa: SIM118 - safe_open has no __iter__
                shape = f.get_slice(key).get_shape()
                n = 1
                for dim in shape:
                    n *= dim
                total += n
    return total


COMPONENTS = ["text_encoder", "text_encoder_2", "transformer", "vae"]


@pytest.mark.parametrize("name", COMPONENTS)
def test_config_count_equals_loaded_model(tiny_pipeline: Path, name: str) -> None:
    report = audit(str(tiny_pipeline))
    counted = report.component(name)
    assert counted is not None
    loaded = _loaded(tiny_pipeline / name, counted.library or "", counted.class_name or "")
    # the loaded model's own count: unique parameter tensors of the from_pretrained model
    assert counted.parameters == sum(p.numel() for p in loaded.parameters())
    # a second method: the state_dict's tensors, tied ones (same memory) once
    distinct = {(t.data_ptr(), tuple(t.shape)): t.numel() for t in loaded.state_dict().values()}
    assert counted.persistent_buffers + counted.parameters == sum(distinct.values())


@pytest.mark.parametrize("name", COMPONENTS)
def test_stored_equals_checkpoint_header(tiny_pipeline: Path, name: str) -> None:
    counted = audit(str(tiny_pipeline)).component(name)
    assert counted is not None
    assert counted.stored == _header_elements(tiny_pipeline / name)


def test_configs_only_folder_counts_the_same(tiny_pipeline: Path, tiny_pipeline_configs_only: Path) -> None:
    with_weights = audit(str(tiny_pipeline))
    configs_only = audit(str(tiny_pipeline_configs_only))
    assert [c.parameters for c in configs_only.components] == [c.parameters for c in with_weights.components]
    assert not read_folder(tiny_pipeline_configs_only).info.weights
    assert read_folder(tiny_pipeline).info.weights


def test_non_modules_listed_with_zero(tiny_pipeline: Path) -> None:
    report = audit(str(tiny_pipeline))
    zero = {c.name: c.parameters for c in report.components if c.parameters == 0}
    assert zero == {"scheduler": 0, "tokenizer": 0, "tokenizer_2": 0}


def test_t5_tie_counted_once_and_reported(tiny_pipeline: Path) -> None:
    t5 = audit(str(tiny_pipeline)).component("text_encoder_2")
    assert t5 is not None
    # tiny T5: vocab 1000 x d_model 32 shared between `shared` and `encoder.embed_tokens`
    assert [set(g.names) for g in t5.tied] == [{"shared.weight", "encoder.embed_tokens.weight"}]
    assert t5.tied_parameters == 1000 * 32


def test_clip_position_ids_are_a_non_persistent_buffer(tiny_pipeline: Path) -> None:
    clip = audit(str(tiny_pipeline)).component("text_encoder")
    assert clip is not None
    # CLIPTextEmbeddings registers position_ids (1, max_position_embeddings=77) with persistent=False
    assert (clip.persistent_buffers, clip.non_persistent_buffers) == (0, 77)


class _Toy(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Linear(4, 3)  # 4*3 + 3 = 15
        self.b = torch.nn.Linear(3, 4, bias=False)  # 12
        self.b.weight = torch.nn.Parameter(torch.zeros(4, 3))
        self.c = torch.nn.Linear(3, 4, bias=False)
        self.c.weight = self.b.weight  # tied: 12 counted once
        self.scale = torch.nn.Parameter(torch.ones(5))  # held by a non-leaf module: 5
        self.register_buffer("table", torch.zeros(2, 3))  # persistent: 6
        self.register_buffer("cache", torch.zeros(7), persistent=False)  # 7


def test_hand_counted_toy() -> None:
    toy = _Toy()
    assert parameter_count(toy) == 15 + 12 + 5
    groups = tied_groups(toy)
    assert [(g.names, g.parameters) for g in groups] == [(("b.weight", "c.weight"), 12)]
    buffers = buffer_counts(toy)
    assert (buffers.persistent, buffers.non_persistent) == (6, 7)


def test_bundled_flux_transformer_known_fact() -> None:
    pytest.importorskip("diffusers")
    from paramcheck.sources.bundled import bundled_ids

    if "flux.1-dev" not in bundled_ids():
        pytest.fail("flux.1-dev must be bundled", pytrace=False)
    transformer = audit("flux.1-dev", components=["transformer"]).component("transformer")
    assert transformer is not None
    # published: the FLUX.1-dev transformer checkpoint holds 23,802,816,640 bytes of bf16
    assert transformer.stored * 2 == 23_802_816_640


def _bert_folder(folder: Path) -> Path:
    """A one-component folder by hand: a BERT text encoder whose config has a key BertConfig does not take."""
    import json

    (folder / "text_encoder").mkdir(parents=True)
    index = {"_class_name": "StableDiffusionPipeline", "text_encoder": ["transformers", "BertModel"]}
    (folder / "model_index.json").write_text(json.dumps({**index, "scheduler": [None, None]}))
    config = {"model_type": "bert", "architectures": ["BertModel"], "vocab_size": 50, "hidden_size": 8}
    config |= {"num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16}
    config |= {"max_position_embeddings": 16, "type_vocab_size": 2, "bogus_key": 3}
    (folder / "text_encoder" / "config.json").write_text(json.dumps(config))
    return folder


# BERT by hand: embeddings 50*8 + 16*8 + 2*8 + LayerNorm 16 = 560; one layer: q, k, v and the attention output
# 4 * (8*8 + 8) = 288, LayerNorm 16, intermediate 8*16 + 16 = 144, output 16*8 + 8 = 136, LayerNorm 16 = 600;
# pooler 8*8 + 8 = 72. Total 1,232, of which the Linear layers (leaf "linear") are 288 + 144 + 136 + 72 = 640.
BERT_TOTAL, BERT_LINEAR = 1_232, 640


def test_audit_passes_its_options_on(tmp_path: Path) -> None:
    from paramcheck.errors import ConfigError
    from paramcheck.taxonomy import RULES, Rule, Taxonomy, View

    folder = _bert_folder(tmp_path / "bert")
    built: list[str] = []
    # a user rule puts every Linear under "attention" in the leaf view
    taxonomy = Taxonomy(rules=(Rule(view=View.LEAF, category="attention", cls="Linear"), *RULES))
    report = audit(str(folder), components=["text_encoder"], layers=True, progress=built.append, taxonomy=taxonomy)
    assert built == ["text_encoder"]  # the progress callback hears each component built, only those asked for
    assert [c.name for c in report.components] == ["text_encoder"]
    encoder = report.components[0]
    assert (encoder.parameters, encoder.library, encoder.class_name) == (BERT_TOTAL, "transformers", "BertModel")
    assert encoder.layers  # records were asked for
    leaf = next(v for v in encoder.views if v.view == "leaf")
    assert leaf.row("linear") is None
    assert leaf.row("attention").parameters == BERT_LINEAR  # type: ignore[union-attr]
    assert encoder.unused_config_keys == ("bogus_key",)
    assert report.notes == (
        "config only: counted on the meta device, no weights read",
        "text_encoder: BertModel does not take config key(s) bogus_key; they were ignored "
        "(a misspelling counts the class default instead)",
    )
    plain = audit(str(folder))
    assert [(c.name, c.parameters, bool(c.layers)) for c in plain.components] == [
        ("text_encoder", BERT_TOTAL, False),  # no records unless asked
        ("scheduler", 0, False),
    ]
    assert next(v for v in plain.components[0].views if v.view == "leaf").row("linear").parameters == BERT_LINEAR  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="BertModel does not take config key 'bogus_key'"):
        audit(str(folder), strict=True)
