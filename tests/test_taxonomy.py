"""Layer types: exact partitions, hand-computed views, configuration rules, folding and the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from paramcheck.cli import main
from paramcheck.errors import ConfigError
from paramcheck.listing import fold, merge_views, select
from paramcheck.results import ComponentCounts, LayerView
from paramcheck.taxonomy import CATEGORIES, Taxonomy, classify, load_taxonomy
from tests.tiny import save_pipeline, tiny_flux_modules


class TinyAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.to_q, self.to_k, self.to_v, self.to_out = (nn.Linear(4, 4) for _ in range(4))


class TinyMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 4)


class TinyTransformerBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm1, self.attn, self.norm2, self.mlp = (
            nn.LayerNorm(4),
            TinyAttention(),
            nn.LayerNorm(4),
            TinyMLP(),
        )
        self.scale_shift_table = nn.Parameter(torch.zeros(6, 4))


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.blocks = nn.ModuleList([TinyTransformerBlock(), TinyTransformerBlock()])
        self.norm_out = nn.Sequential(nn.SiLU(), nn.Linear(4, 8))
        self.proj_out = nn.Linear(4, 2)
        self.head = nn.Linear(4, 10, bias=False)
        self.head.weight = self.embed.weight  # tied: counted once, under embed.weight


# By hand. Linear(4, 4): 4*4 + 4 = 20, so attention = 4 * 20 = 80 per block.
# Linear(4, 8): 32 + 8 = 40 and Linear(8, 4): 32 + 4 = 36, so the MLP = 76 per block.
# LayerNorm(4): 4 + 4 = 8; scale_shift_table 6*4 = 24; block = 8 + 80 + 8 + 76 + 24 = 196.
# Embedding(10, 4) = 40 (head ties it: +0); norm_out Linear(4, 8) = 40; proj_out Linear(4, 2) = 8 + 2 = 10.
TINY_TOTAL = 40 + 2 * 196 + 40 + 10  # 482
TINY_VIEWS = {
    "leaf": {"linear": 2 * (80 + 76) + 40 + 10, "normalization": 2 * 16, "embedding": 40, "direct": 2 * 24},
    "role": {
        "attention": 2 * 80,
        "feed_forward": 2 * 76,
        "modulation": 2 * 24 + 40,
        "embedding": 40,
        "normalization": 2 * 16,
        "linear": 10,
    },
    "container": {"transformer_block": 2 * 196, "outside": 40 + 40 + 10},
}


def as_dict(view: LayerView) -> dict[str, int]:
    return {row.category: row.parameters for row in view.rows if row.parameters}


def views_of(module: nn.Module, taxonomy: Taxonomy | None = None) -> dict[str, LayerView]:
    return {view.view: view for view in classify(module, taxonomy).views}


def test_tiny_model_by_hand() -> None:
    model = Tiny()
    assert sum(p.numel() for p in model.parameters()) == TINY_TOTAL
    views = views_of(model)
    for name, expected in TINY_VIEWS.items():
        assert as_dict(views[name]) == expected, name
        assert views[name].parameters == TINY_TOTAL


def test_tiny_model_layer_counts() -> None:
    views = views_of(Tiny())
    role, leaf, container = views["role"], views["leaf"], views["container"]
    assert (role.row("attention").layers, role.row("feed_forward").layers) == (2, 2)  # type: ignore[union-attr]
    assert role.row("modulation").layers == 3  # two tables and the Sequential  # type: ignore[union-attr]
    assert leaf.row("activation").layers == 3  # two GELU, one SiLU: layers without parameters still count  # type: ignore[union-attr]
    assert leaf.row("activation").parameters == 0  # type: ignore[union-attr]
    assert container.row("transformer_block").layers == 2  # type: ignore[union-attr]


# The tiny FLUX transformer (tests/tiny.py: inner dim 2*16 = 32, one double and one single block), by hand:
# double block: norm1 and norm1_context Linear(32, 6*32): 2 * (32*192 + 192) = 12,672 modulation;
#   attention: 8 Linear(32, 32) = 8 * 1,056 = 8,448 and four RMSNorm(16) = 64 normalization;
#   ff and ff_context: Linear(32, 128) 4,224 + Linear(128, 32) 4,128 = 8,352 each, 16,704.
# single block: norm Linear(32, 96) = 3,168 modulation; attention 3 * 1,056 = 3,168 and RMSNorm(16)*2 = 32;
#   proj_mlp Linear(32, 128) = 4,224 and the fused proj_out Linear(160, 32) = 5,152 are its parallel MLP.
# top: x_embedder Linear(4, 32) = 160, context_embedder Linear(32, 32) = 1,056, text_embedder 2*1,056 = 2,112
#   embedding; timestep_embedder Linear(256, 32) 8,224 + Linear(32, 32) 1,056 = 9,280; norm_out Linear(32, 64)
#   = 2,112 modulation; proj_out Linear(32, 4) = 132 linear.
FLUX_ROLE = {
    "modulation": 12_672 + 3_168 + 2_112,
    "attention": 8_448 + 3_168,
    "feed_forward": 16_704 + 4_224 + 5_152,
    "linear": 132,
    "normalization": 64 + 32,
    "embedding": 160 + 1_056 + 2_112,
    "timestep": 9_280,
}


@pytest.fixture(scope="session")
def tiny_flux() -> dict[str, nn.Module]:
    return tiny_flux_modules()


def test_tiny_flux_transformer_roles_by_hand(tiny_flux: dict[str, nn.Module]) -> None:
    transformer = tiny_flux["transformer"]
    assert sum(FLUX_ROLE.values()) == sum(p.numel() for p in transformer.parameters())
    assert as_dict(views_of(transformer)["role"]) == FLUX_ROLE


def _tiny_real_modules() -> dict[str, nn.Module]:
    from diffusers import UNet2DConditionModel
    from transformers import BertConfig, BertModel, Gemma2Config, Gemma2Model

    torch.manual_seed(0)
    return {
        "unet": UNet2DConditionModel(
            block_out_channels=(8, 16),
            layers_per_block=1,
            norm_num_groups=4,
            cross_attention_dim=8,
            attention_head_dim=2,
            sample_size=8,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        ),
        "bert": BertModel(
            BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=2, num_attention_heads=2, intermediate_size=16)
        ),
        "gemma2": Gemma2Model(
            Gemma2Config(
                vocab_size=50,
                hidden_size=8,
                intermediate_size=16,
                num_hidden_layers=2,
                num_attention_heads=2,
                num_key_value_heads=1,
                head_dim=4,
            )
        ),
    }


@pytest.fixture(scope="session")
def tiny_real(tiny_flux: dict[str, nn.Module]) -> dict[str, nn.Module]:
    return {**tiny_flux, **_tiny_real_modules()}


@pytest.mark.parametrize("name", ["text_encoder", "text_encoder_2", "transformer", "vae", "unet", "bert", "gemma2"])
def test_tiny_real_classes_partition_exactly(tiny_real: dict[str, nn.Module], name: str) -> None:
    module = tiny_real[name]
    total = sum(p.numel() for p in module.parameters())  # the module's own count, ties once
    views = views_of(module)
    assert sorted(views) == ["container", "leaf", "role"]
    for view in views.values():
        assert view.parameters == total, view.view
        other = view.row("other")
        assert other is None or other.parameters == 0, view.view


def _bundled() -> list[str]:
    from paramcheck.sources.bundled import bundled_ids

    return sorted(bundled_ids())


@pytest.mark.parametrize("model_id", _bundled())
def test_bundled_views_partition_exactly(model_id: str) -> None:
    from paramcheck.build import build_model
    from paramcheck.sources import resolve

    built = build_model(resolve(model_id))
    for name, module in built.modules.items():
        if module is None:
            continue
        total = sum(p.numel() for p in module.parameters())
        for view in classify(module).views:
            assert view.parameters == total, (name, view.view)
            other = view.row("other")
            assert other is None or other.parameters * 100 < total, (name, view.view, "other >= 1%")


def test_config_rule_moves_parameters(tmp_path: Path, tiny_flux: dict[str, nn.Module]) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[[tool.paramcheck.rules]]\nview = "role"\ncategory = "attention"\nattr = "proj_mlp"\n',
        encoding="utf-8",
    )
    taxonomy = load_taxonomy(pyproject)
    role = as_dict(views_of(tiny_flux["transformer"], taxonomy)["role"])
    # the single block's proj_mlp Linear(32, 128) = 4,224 moves from feed-forward to attention
    assert role["attention"] == FLUX_ROLE["attention"] + 4_224
    assert role["feed_forward"] == FLUX_ROLE["feed_forward"] - 4_224


def test_config_category_and_class_rule(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        "[tool.paramcheck.categories]\n"
        'head = { en = "output head", zh = "输出头", seed = "linear" }\n'
        "[[tool.paramcheck.rules]]\n"
        'view = "role"\ncategory = "head"\npath = "proj_out"\n',
        encoding="utf-8",
    )
    taxonomy = load_taxonomy(pyproject)
    assert taxonomy.label("head", "zh") == "输出头"
    role = as_dict(views_of(Tiny(), taxonomy)["role"])
    assert role["head"] == 10  # proj_out Linear(4, 2) = 8 + 2
    assert "linear" not in role


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            '[[tool.paramcheck.rules]]\nview = "role"\ncategory = "feed_forward"\nclas = "X"\n',
            "unknown key 'clas'",
        ),
        ('[[tool.paramcheck.rules]]\nview = "roles"\ncategory = "attention"\nclass = "X"\n', "view 'roles'"),
        (
            '[[tool.paramcheck.rules]]\nview = "role"\ncategory = "atention"\nclass = "X"\n',
            "unknown layer category",
        ),
        ('[[tool.paramcheck.rules]]\nview = "role"\ncategory = "attention"\n', "matches everything"),
        ("[tool.paramcheck\n", "not valid TOML"),
    ],
)
def test_config_errors_are_one_line(tmp_path: Path, text: str, match: str) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=match) as info:
        load_taxonomy(pyproject)
    assert "\n" not in str(info.value)
    assert str(pyproject) in str(info.value)


def test_categories_have_the_seed_names() -> None:
    by_id = {c.id: c for c in CATEGORIES}
    assert len([c for c in CATEGORIES if c.seed == c.id]) == 13
    assert by_id["feed_forward"].zh == "前馈网络"
    assert by_id["linear"].zh == "线性/卷积层"
    assert by_id["modulation"].seed == "normalization"


def test_fold_repeated_blocks() -> None:
    records = classify(Tiny(), records=True).records
    rows = {row.name: row for row in fold(records)}
    assert "blocks.0" not in rows
    folded = rows["blocks.0..1"]
    assert (folded.count, folded.parameters, folded.category) == (2, 2 * 196, "transformer_block")
    assert rows["blocks.0..1.attn"].parameters == 2 * 80
    assert rows["embed"].parameters == 40  # head.weight is tied to it
    assert rows["head"].parameters == 0
    top = select(fold(records), top=1)
    assert [row.name for row in top] == ["blocks", "blocks.0..1"][:1]
    assert [row.name for row in select(fold(records), depth=1, pattern="*out")] == ["norm_out", "proj_out"]


def test_merge_views_sums_components(tiny_flux: dict[str, nn.Module]) -> None:
    components = [
        ComponentCounts(
            name=name,
            library=None,
            class_name=None,
            parameters=sum(p.numel() for p in m.parameters()),
            views=classify(m).views,
        )
        for name, m in tiny_flux.items()
    ]
    total = sum(c.parameters for c in components)
    for view in merge_views(components):
        assert view.parameters == total
    restored = ComponentCounts.from_dict(json.loads(json.dumps(components[2].to_dict())))
    assert restored.views == components[2].views


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory, tiny_flux: dict[str, nn.Module]) -> Path:
    return save_pipeline(tmp_path_factory.mktemp("tiny-flux"), tiny_flux, weights=False)


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, Any]:
    assert main(argv) == 0
    return dict(json.loads(capsys.readouterr().out))


def test_cli_report_json_views_and_layers(tiny_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, ["report", str(tiny_folder), "--json", "--layers", "--depth", "1"])
    transformer = next(c for c in data["report"]["components"] if c["name"] == "transformer")
    role = next(v for v in transformer["views"] if v["view"] == "role")
    assert {r["category"]: r["parameters"] for r in role["rows"] if r["parameters"]} == FLUX_ROLE
    assert all(r["depth"] == 1 for r in transformer["layers"])
    assert sum(r["parameters"] for r in transformer["layers"]) == transformer["parameters"]
    whole = {v["view"]: sum(r["parameters"] for r in v["rows"]) for v in data["views"]}
    assert whole == dict.fromkeys(("leaf", "role", "container"), data["report"]["parameters"])
    plain = _json(capsys, ["report", str(tiny_folder), "--json"])
    assert all("layers" not in c for c in plain["report"]["components"])


def test_cli_report_tables(tiny_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tiny_folder), "--layers", "--lang", "zh", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "前馈网络" in out
    assert "调制/条件层" in out
    assert main(["report", str(tiny_folder), "--layers", "--filter", "single_transformer_blocks*"]) == 0
    out = capsys.readouterr().out
    assert "single_transformer_blocks.0.proj_mlp" in out
    assert "modulation/conditioning" in out


def test_cli_config_rule_and_error(tiny_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[[tool.paramcheck.rules]]\nview = "role"\ncategory = "attention"\nattr = "proj_mlp"\n')
    data = _json(capsys, ["report", str(tiny_folder), "--json", "--config", str(good)])
    transformer = next(c for c in data["report"]["components"] if c["name"] == "transformer")
    role = next(v for v in transformer["views"] if v["view"] == "role")
    assert next(r for r in role["rows"] if r["category"] == "attention")["parameters"] == 11_616 + 4_224
    bad = tmp_path / "bad.toml"
    bad.write_text('[[tool.paramcheck.rules]]\nview = "leaf"\ncategory = "nope"\nclass = "Linear"\n')
    assert main(["report", str(tiny_folder), "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("paramcheck: error: ")
    assert "unknown layer category 'nope'" in err
    assert err.count("\n") == 1


def test_cli_compare_layer_types(tiny_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(tiny_folder), str(tiny_folder)]) == 0
    out = capsys.readouterr().out
    assert "layer types:" in out
    assert "feed-forward" in out
    data = _json(capsys, ["compare", str(tiny_folder), str(tiny_folder), "--json"])
    assert [len(entry["views"]) for entry in data["views"]] == [3, 3]


def test_vae_encoder_and_decoder_classes_named_by_their_model() -> None:
    """Stable Audio's VAE (AutoencoderOobleck) names its halves OobleckEncoder/OobleckDecoder: the container view puts
    both halves under "vae", whatever their class is called (expected: the halves' own parameter sums)."""
    from diffusers import AutoencoderOobleck

    vae = AutoencoderOobleck(
        encoder_hidden_size=4,
        downsampling_ratios=[2],
        channel_multiples=[1],
        decoder_channels=4,
        decoder_input_channels=2,
        audio_channels=1,
    )
    blocks = ("Resnet", "ResBlock", "ResidualBlock", "TransformerBlock")
    inner = {type(m).__name__ for m in vae.modules()}
    assert not any(b in name for b in blocks for name in inner)  # no nested container takes a share first
    encoder = sum(p.numel() for p in vae.encoder.parameters())
    decoder = sum(p.numel() for p in vae.decoder.parameters())
    assert encoder + decoder == sum(p.numel() for p in vae.parameters())
    container = as_dict(views_of(vae)["container"])
    assert container == {"vae": encoder + decoder}


# --- [tool.paramcheck] taxonomy config: every one-line error, written by hand (the messages are the UI) -------------

RULE_KEYS_TEXT = "view, category, class, attr, path, parameter, library, within, children, leaf"
SEED_IDS = (
    "activation, attention, direct, embedding, feed_forward, linear, modulation, normalization, other, outside, "
    "positional, residual_block, text_encoder, timestep, transformer_block, vae"
)
CATEGORY_IDS = (
    "attention, linear, normalization, activation, embedding, positional, timestep, feed_forward, "
    "transformer_block, residual_block, vae, text_encoder, other, modulation, direct, outside"
)
GOOD_RULE = '[[tool.paramcheck.rules]]\nview = "leaf"\ncategory = "linear"\nclass = "Linear"\n'
RULE_2 = "{p}: [[tool.paramcheck.rules]] #2"  # the bad rule comes second: the message counts from 1


def _config_error(pyproject: Path, text: str, read: Callable[[Path], object]) -> str:
    """The one-line ConfigError ``read`` raises for a pyproject.toml holding ``text``."""
    pyproject.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        read(pyproject)
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tool = 3\n", "{p}: tool is a int, not a table; write [tool.paramcheck]"),
        ("[tool]\nparamcheck = 3\n", "{p}: [tool.paramcheck] is a int, not a table; write it as a table"),
        (
            "[tool.paramcheck]\nzoo = 1\nfoo = 2\n",
            "{p}: [tool.paramcheck] has unknown key 'foo'; use categories, rules, trusted_libraries, models",
        ),
        (
            "[tool.paramcheck]\nrules = 3\n",
            "{p}: [tool.paramcheck] rules is a int, not a list of tables; write each rule as [[tool.paramcheck.rules]]",
        ),
        (
            "[tool.paramcheck]\ncategories = 3\n",
            "{p}: [tool.paramcheck.categories] is not a table; write id = { en = ..., zh = ... }",
        ),
        ("[tool.paramcheck.categories]\nhead = 3\n", "{p}: category 'head' needs at least en = \"...\"; add it"),
        (
            '[tool.paramcheck.categories]\nhead = { zh = "x" }\n',
            "{p}: category 'head' needs at least en = \"...\"; add it",
        ),
        (
            '[tool.paramcheck.categories]\nhead = { en = "h", zoo = 1, extra = 2 }\n',
            "{p}: category 'head' has unknown key 'extra'; use en, zh and seed",
        ),
        (
            '[tool.paramcheck.categories]\nhead = { en = "h", zh = 3 }\n',
            "{p}: category 'head': zh must be a string; write zh = \"...\"",
        ),
        (
            '[tool.paramcheck.categories]\nhead = { en = "h", seed = "nope" }\n',
            f"{{p}}: category 'head' has unknown seed 'nope'; use one of {SEED_IDS}",
        ),
        (
            '[tool.paramcheck.categories]\nhead = { en = "h", seed = 3 }\n',
            f"{{p}}: category 'head' has unknown seed 3; use one of {SEED_IDS}",
        ),
        (
            "[tool.paramcheck]\nrules = [3]\n",
            "{p}: [[tool.paramcheck.rules]] #1 is not a table; write view = ..., category = ..., and a match key",
        ),
        (
            GOOD_RULE + '[[tool.paramcheck.rules]]\nview = "role"\ncategory = "attention"\nzoo = 1\nclas = "X"\n',
            f"{RULE_2}: unknown key 'clas'; use {RULE_KEYS_TEXT}",
        ),
        (
            GOOD_RULE + '[[tool.paramcheck.rules]]\nview = "roles"\ncategory = "attention"\nclass = "X"\n',
            f"{RULE_2}: view 'roles' is not one of leaf, role, container; set view",
        ),
        (
            GOOD_RULE + '[[tool.paramcheck.rules]]\ncategory = "attention"\nclass = "X"\n',
            f"{RULE_2}: view None is not one of leaf, role, container; set view",
        ),
        (
            GOOD_RULE + '[[tool.paramcheck.rules]]\nview = "role"\nclass = "X"\n',
            f'{RULE_2}: category must be a string; write category = "attention"',
        ),
        (
            '[tool.paramcheck.categories]\nhead = { en = "h" }\n'
            + GOOD_RULE
            + '[[tool.paramcheck.rules]]\nview = "role"\ncategory = "atention"\nclass = "X"\n',
            f"{RULE_2}: unknown layer category 'atention'; use one of head, {CATEGORY_IDS}",
        ),
        *(
            (
                GOOD_RULE
                + f'[[tool.paramcheck.rules]]\nview = "role"\ncategory = "attention"\nclass = "X"\n{key} = 3\n',
                f'{RULE_2}: {key} must be a string (a glob); write {key} = "..."',
            )
            for key in ("attr", "path", "parameter", "within", "library")
        ),
        (
            GOOD_RULE + '[[tool.paramcheck.rules]]\nview = "role"\ncategory = "attention"\nclass = 3\n',
            f'{RULE_2}: class must be a string (a glob); write class = "..."',
        ),
        (
            GOOD_RULE + '[[tool.paramcheck.rules]]\nview = "role"\ncategory = "attention"\nlibrary = "torch"\n',
            f"{RULE_2}: matches everything; add class, attr, path, parameter or children",
        ),
        (
            GOOD_RULE + '[[tool.paramcheck.rules]]\nview = "role"\ncategory = "attention"\nchildren = "SiLU"\n',
            f'{RULE_2}: children must be a list of class globs; write children = ["SiLU", "Linear"]',
        ),
        (
            GOOD_RULE + '[[tool.paramcheck.rules]]\nview = "role"\ncategory = "attention"\nchildren = ["SiLU", 3]\n',
            f'{RULE_2}: children must be a list of class globs; write children = ["SiLU", "Linear"]',
        ),
        (
            GOOD_RULE + '[[tool.paramcheck.rules]]\nview = "role"\ncategory = "attention"\nclass = "X"\nleaf = "yes"\n',
            f"{RULE_2}: leaf must be true or false; write leaf = true",
        ),
    ],
)
def test_config_message_table(tmp_path: Path, text: str, message: str) -> None:
    pyproject = tmp_path / "pyproject.toml"
    assert _config_error(pyproject, text, load_taxonomy) == message.replace("{p}", str(pyproject))


def test_config_file_messages(tmp_path: Path) -> None:
    folder = tmp_path / "pyproject.toml"
    folder.mkdir()
    with pytest.raises(ConfigError) as info:
        load_taxonomy(folder)
    assert str(info.value) == f"{folder}: is a folder; point at a pyproject.toml"
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"[tool]\n\xff\n")
    with pytest.raises(ConfigError) as info:
        load_taxonomy(binary)
    assert str(info.value) == f"{binary}: not UTF-8 (byte 0xff at offset 7); fix it, or pass another file with --config"


def test_config_rule_keeps_every_field(tmp_path: Path) -> None:
    from paramcheck.taxonomy import RULES, Rule, View

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        "[[tool.paramcheck.rules]]\n"
        'view = "role"\ncategory = "attention"\nclass = "A*"\nattr = "b"\npath = "c.*"\nparameter = "w*"\n'
        'library = "torch"\nwithin = "W*"\nchildren = ["SiLU", "Linear"]\nleaf = true\n'
        "[[tool.paramcheck.rules]]\n"
        'view = "container"\ncategory = "vae"\nchildren = ["Conv*"]\n'
        "[[tool.paramcheck.rules]]\n"
        'view = "leaf"\ncategory = "linear"\nclass = "Lin*"\n',
        encoding="utf-8",
    )
    taxonomy = load_taxonomy(pyproject)
    note = f"from {pyproject}"
    assert taxonomy.rules[:3] == (
        Rule(
            view=View.ROLE,
            category="attention",
            cls="A*",
            attr="b",
            path="c.*",
            parameter="w*",
            library="torch",
            within="W*",
            children=("SiLU", "Linear"),
            leaf=True,
            note=note,
        ),
        Rule(view=View.CONTAINER, category="vae", children=("Conv*",), note=note),
        Rule(view=View.LEAF, category="linear", cls="Lin*", note=note),
    )
    assert taxonomy.rules[3:] == RULES
    assert taxonomy.source == str(pyproject)
    assert taxonomy.categories == CATEGORIES


def test_config_categories_kept(tmp_path: Path) -> None:
    from paramcheck.taxonomy import Category

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        "[tool.paramcheck.categories]\n"
        'head = { en = "output head" }\n'
        'lora = { en = "LoRA adapter", zh = "LoRA层", seed = "linear" }\n',
        encoding="utf-8",
    )
    taxonomy = load_taxonomy(pyproject)
    assert taxonomy.categories == (
        Category(id="head", en="output head", zh="output head", seed="other"),
        Category(id="lora", en="LoRA adapter", zh="LoRA层", seed="linear"),
        *CATEGORIES,
    )
    assert taxonomy.source is None  # no rules came from it
    assert taxonomy.label("lora", "zh") == "LoRA层"
    assert taxonomy.label("lora") == "LoRA adapter"


def test_find_config_walks_up(tmp_path: Path) -> None:
    from paramcheck.taxonomy import find_config

    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_config(deep) is None or not str(find_config(deep)).startswith(str(tmp_path))
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    assert find_config(deep) == tmp_path / "pyproject.toml"
    (tmp_path / "a" / "pyproject.toml").mkdir()  # a folder of that name is no config
    assert find_config(deep) == tmp_path / "pyproject.toml"


TRUSTED_LIST = (
    '{p}: [tool.paramcheck] trusted_libraries must be a list of module names; write trusted_libraries = ["mypkg"]'
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[tool.paramcheck]\ntrusted_libraries = "mypkg"\n',
            TRUSTED_LIST,
        ),
        (
            '[tool.paramcheck]\ntrusted_libraries = ["mypkg", 3]\n',
            TRUSTED_LIST,
        ),
        (
            '[tool.paramcheck]\ntrusted_libraries = ["mypkg", "my-pkg"]\n',
            "{p}: [tool.paramcheck] trusted_libraries: 'my-pkg' is not a module name; "
            "write e.g. 'mypkg' or 'mypkg.models'",
        ),
    ],
)
def test_trusted_libraries_messages(tmp_path: Path, text: str, message: str) -> None:
    from paramcheck.taxonomy import trusted_libraries

    pyproject = tmp_path / "pyproject.toml"
    assert _config_error(pyproject, text, trusted_libraries) == message.replace("{p}", str(pyproject))
    pyproject.write_text('[tool.paramcheck]\ntrusted_libraries = ["mypkg", "b.models"]\n', encoding="utf-8")
    assert trusted_libraries(pyproject) == ("mypkg", "b.models")
    assert trusted_libraries(None) == ()


# --- the rule table's helpers and how one rule matches (Node fields written by hand) ---------------------------------


def test_rule_helpers_build_the_row_they_name() -> None:
    from paramcheck.taxonomy import Category, Rule, View, rules

    # called here, not only at import: each helper builds the row with its own view and the category it is given
    assert rules._leaf("linear", cls="Linear") == Rule(view=View.LEAF, category="linear", cls="Linear")
    assert rules._role("positional", parameter="*pos*", note="n") == Rule(
        view=View.ROLE, category="positional", parameter="*pos*", note="n"
    )
    assert rules._container("vae", cls="Encoder") == Rule(view=View.CONTAINER, category="vae", cls="Encoder")
    assert rules._category("head", "output head", "输出头") == Category(
        id="head", en="output head", zh="输出头", seed="head"
    )
    assert rules._category("lora", "LoRA", "LoRA层", "linear") == Category(
        id="lora", en="LoRA", zh="LoRA层", seed="linear"
    )


def _node(**fields: Any) -> Any:
    from paramcheck.taxonomy.rules import Node

    attention = {
        "path": "blocks.0.attn",
        "attr": "attn",
        "classes": ("FluxAttention", "Attention"),
        "library": "diffusers",
        "is_leaf": False,
        "child_classes": ("Linear", "SiLU"),
        "enclosing": ("FluxTransformer2DModel", "ModuleList", "FluxTransformerBlock"),
    }
    return Node(**{**attention, **fields})


LEAF_NODE = {"path": "blocks.0.attn.to_q", "attr": "to_q", "classes": ("Linear",), "library": "torch"}
LEAF_NODE |= {"is_leaf": True, "child_classes": ()}


@pytest.mark.parametrize(
    ("match", "node", "parameter", "expected"),
    [
        ({"cls": "attention"}, {}, None, True),  # a base class, any case
        ({"cls": "Flux*"}, {}, None, True),
        ({"cls": "Linear"}, {}, None, False),
        ({"attr": "att*"}, {}, None, True),
        ({"attr": "to_q"}, {}, None, False),
        ({"path": "blocks.*.attn"}, {}, None, True),
        ({"path": "blocks"}, {}, None, False),  # the whole path, not a prefix
        ({"library": "diffusers"}, {}, None, True),
        ({"library": "torch"}, {}, None, False),
        ({"within": "*TransformerBlock"}, {}, None, True),
        ({"within": "Autoencoder*"}, {}, None, False),
        ({"children": ("Linear",)}, {}, None, True),  # the first children, in order
        ({"children": ("Linear", "SiLU")}, {}, None, True),
        ({"children": ("SiLU",)}, {}, None, False),
        ({"children": ("Linear", "SiLU", "GELU")}, {}, None, False),  # more than it has
        ({"cls": "*Attention", "leaf": True}, {}, None, False),
        ({"cls": "Linear", "leaf": True}, LEAF_NODE, None, True),
        ({"cls": "Linear", "attr": "to_q"}, LEAF_NODE, None, True),
        ({"cls": "Linear", "attr": "to_k"}, LEAF_NODE, None, False),
        ({"parameter": "weight"}, LEAF_NODE, "weight", True),
        ({"parameter": "*table*"}, LEAF_NODE, "scale_shift_table", True),
        ({"parameter": "bias"}, LEAF_NODE, "weight", False),
        ({"parameter": "weight"}, LEAF_NODE, None, False),  # a parameter rule names no module
        ({"cls": "Linear"}, LEAF_NODE, "weight", False),  # a module rule names no parameter
    ],
)
def test_rule_matches_by_hand(
    match: dict[str, Any], node: dict[str, Any], parameter: str | None, expected: bool
) -> None:
    from paramcheck.taxonomy import Rule, View

    rule = Rule(view=View.ROLE, category="attention", **match)
    assert rule.matches(_node(**node), parameter) is expected


def test_category_labels() -> None:
    from paramcheck.taxonomy import default_taxonomy

    taxonomy = default_taxonomy()
    assert (taxonomy.label("modulation"), taxonomy.label("modulation", "zh")) == (
        "modulation/conditioning",
        "调制/条件层",
    )
    assert taxonomy.label("feed_forward", "en") == "feed-forward"
    with pytest.raises(ConfigError, match=r"^unknown layer category 'nope'; use one of attention, linear, "):
        taxonomy.category("nope")


# --- classify: the root's attribute name, and the per-module records (by hand) ---------------------------------------


class _Rooted(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 3)  # 2*3 + 3 = 9
        self.scale = nn.Parameter(torch.zeros(5))  # held directly by the root: 5


def test_the_root_has_no_attribute_name() -> None:
    from paramcheck.taxonomy import RULES, Rule, View

    # a user rule for every module with a (non-empty) attribute name: the root has none, so it stays unnamed
    taxonomy = Taxonomy(rules=(Rule(view=View.ROLE, category="attention", attr="?*"), *RULES))
    assert as_dict(views_of(_Rooted(), taxonomy)["role"]) == {"attention": 9, "direct": 5}


class _Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(2, 3), nn.GELU())])  # 2*3 + 3 = 9
        self.head = nn.Linear(3, 1)  # 3 + 1 = 4


def test_records_by_hand() -> None:
    rows = [(r.name, r.class_name, r.parameters, r.category, r.depth) for r in classify(_Small(), records=True).records]
    assert rows == [
        ("blocks", "ModuleList", 9, "", 1),  # no rule names a plain list: no category
        ("blocks.0", "Sequential", 9, "", 2),
        ("blocks.0.0", "Linear", 9, "linear", 3),
        ("blocks.0.1", "GELU", 0, "activation", 3),
        ("head", "Linear", 4, "linear", 1),
    ]
