"""The layer-type data: categories (en/zh labels) and the ordered table of rules, one block per view.

A rule names one category in one view and says what it matches; every field it sets must match (globs are
``fnmatch`` patterns, case-insensitive):

- ``cls``: the module's class or any of its ``nn.Module`` bases (mixins left out: ``AttentionMixin`` is no
  attention layer), e.g. ``Conv3d`` matches ``WanCausalConv3d``;
- ``attr``: the module's attribute name in its parent (``to_q``, ``0``); ``path``: its qualified name in the
  component (``transformer_blocks.*.attn``);
- ``library``: the top package of the class (``torch``, ``diffusers``, ``transformers``);
- ``within``: the class (or a base) of any enclosing module; ``children``: the classes of the first direct
  children, in order (``("SiLU", "Linear")``); ``leaf``: only modules without children;
- ``parameter``: a parameter's own name. A rule with ``parameter`` places the parameters of that name held
  directly by a module the other fields match; a rule without it names a module.

Order decides: for each module (and each directly held parameter) the first matching rule of a view gives its
category. Rules from ``[tool.paramcheck]`` come before these built-in ones, so a user rule wins. How a named
module places the parameters below it is ``classify``'s part (``paramcheck.taxonomy.classify``).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from ..errors import ConfigError
from ..results import View

__all__ = ["CATEGORIES", "RULES", "Category", "Node", "Rule", "Taxonomy", "View", "default_taxonomy"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Category:
    """A layer type: id, English and Chinese names, and the seed category it maps to (itself for the 13)."""

    id: str
    en: str
    zh: str
    seed: str

    def label(self, lang: str = "en") -> str:
        return self.zh if lang == "zh" else self.en


def _category(id: str, en: str, zh: str, seed: str | None = None) -> Category:
    """A category whose seed category is itself unless ``seed`` names another."""
    return Category(id=id, en=en, zh=zh, seed=seed or id)


# The seed's 13 categories in its order, then those the views need, each mapped to its nearest seed one.
CATEGORIES: tuple[Category, ...] = (
    _category("attention", "attention", "Attention层"),
    _category("linear", "linear/conv", "线性/卷积层"),
    _category("normalization", "normalization", "归一化层"),
    _category("activation", "activation", "激活函数"),
    _category("embedding", "embedding", "嵌入层"),
    _category("positional", "positional encoding", "位置编码"),
    _category("timestep", "timestep embedding", "时间步编码"),
    _category("feed_forward", "feed-forward", "前馈网络"),
    _category("transformer_block", "transformer block", "Transformer块"),
    _category("residual_block", "residual block", "残差连接"),
    _category("vae", "VAE encoder/decoder", "VAE层"),
    _category("text_encoder", "text-encoder layer", "文本编码器"),
    _category("other", "other", "其他层"),
    _category("modulation", "modulation/conditioning", "调制/条件层", "normalization"),
    _category("direct", "direct parameters", "直接参数", "other"),
    _category("outside", "outside containers", "容器外层", "other"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One row of the table: ``category`` in ``view`` for what every field given matches (see the module)."""

    view: View
    category: str
    cls: str | None = None  # the module's class or any base class (e.g. 'Conv3d' for WanCausalConv3d)
    attr: str | None = None  # the module's attribute name in its parent ('to_q', '0')
    path: str | None = None  # the qualified name within the component ('transformer_blocks.*.attn')
    parameter: str | None = None  # a parameter's own name ('scale_shift_table')
    library: str | None = None  # top package of the class: 'torch', 'diffusers', 'transformers'
    within: str | None = None  # the class of any enclosing module
    children: tuple[str, ...] = ()  # the classes of the direct children, in order
    leaf: bool = False  # only modules without children
    note: str = ""

    def matches(self, node: Node, parameter: str | None = None) -> bool:
        if (self.parameter is None) != (parameter is None):
            return False
        if self.parameter is not None and not _glob(self.parameter, parameter or ""):
            return False
        if self.leaf and not node.is_leaf:
            return False
        if self.cls is not None and not any(_glob(self.cls, name) for name in node.classes):
            return False
        if self.attr is not None and not _glob(self.attr, node.attr):
            return False
        if self.path is not None and not _glob(self.path, node.path):
            return False
        if self.library is not None and node.library != self.library:
            return False
        if self.within is not None and not any(_glob(self.within, name) for name in node.enclosing):
            return False
        if self.children:
            kinds = node.child_classes
            if len(kinds) < len(self.children) or not all(
                _glob(pattern, kind) for pattern, kind in zip(self.children, kinds, strict=False)
            ):
                return False
        return True


@cache
def _pattern(glob: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(glob), re.IGNORECASE)


def _glob(glob: str, text: str) -> bool:
    return _pattern(glob).match(text) is not None


def _leaf(category: str, **match: Any) -> Rule:
    return Rule(view=View.LEAF, category=category, **match)


def _role(category: str, **match: Any) -> Rule:
    return Rule(view=View.ROLE, category=category, **match)


def _container(category: str, **match: Any) -> Rule:
    return Rule(view=View.CONTAINER, category=category, **match)


# fmt: off
RULES: tuple[Rule, ...] = (
    # leaf: the class of the module holding a parameter
    _leaf("linear", cls="Linear"), _leaf("linear", cls="*Linear"), _leaf("linear", cls="Conv*d"),
    _leaf("linear", cls="ConvTranspose*d"),
    _leaf("normalization", cls="*Norm*"),
    _leaf("embedding", cls="Embedding"), _leaf("embedding", cls="EmbeddingBag"),
    _leaf("activation", cls="*GELU*"), _leaf("activation", cls="*SiLU*"), _leaf("activation", cls="*ReLU*"),
    _leaf("activation", cls="*Activation*"), _leaf("activation", cls="Tanh"),
    _leaf("activation", cls="Sigmoid"),
    _leaf("activation", cls="Mish"), _leaf("activation", cls="Softmax"), _leaf("activation", cls="PReLU"),
    # role: parameters held directly by a module, by their name
    _role("modulation", parameter="*scale_shift_table*", note="PixArt/Sana/Wan adaLN-single tables"),
    _role("positional", parameter="*pos_embed*"), _role("positional", parameter="*position*"),
    _role("embedding", parameter="*token*", note="learned register/pad tokens"),
    _role("embedding", parameter="*padding*"), _role("embedding", parameter="*embed*"),
    # role: modulation / conditioning (adaptive norms: their Linear is modulation, their affine norm is not)
    _role("modulation", cls="*AdaLayerNorm*"), _role("modulation", cls="AdaGroupNorm"),
    _role("modulation", cls="*AdaLN*"), _role("modulation", cls="*NormZero*"),
    _role("modulation", cls="*NormContinuous"), _role("modulation", cls="*ModulatedNorm*"),
    _role("modulation", cls="*NormSingle"),
    _role("modulation", cls="Sequential", children=("SiLU", "Linear"), note="DiT-style adaLN_modulation"),
    _role("modulation", attr="time_emb_proj", note="timestep conditioning of UNet/VAE resnets"),
    _role("modulation", cls="AuraFlowPreFinalBlock", note="AuraFlow's continuous adaLN before proj_out"),
    # role: normalization (a norm leaf, also inside attention or an adaptive norm)
    _role("normalization", cls="*Norm*", leaf=True), _role("normalization", cls="*_norm", leaf=True),
    # role: timestep embeddings (before embedding: their classes are also '*Embedding*')
    _role("timestep", cls="*Timestep*"), _role("timestep", cls="*TimeText*Embedding*"),
    # role: embeddings, positional encodings (patch embedding before the 'pos_embed' attribute that holds it)
    _role("embedding", cls="*PatchEmbed*"),
    _role("positional", cls="*PosEmbed*"), _role("positional", cls="*Rotary*"),
    _role("positional", cls="*Rope*"),
    _role("positional", cls="*Positional*"),
    _role("positional", attr="*position*"), _role("positional", attr="*pos_embed*"),
    _role("positional", attr="relative_attention_bias", note="T5 relative position buckets"),
    _role("embedding", cls="*Embedding*"), _role("embedding", cls="*Embeddings"),
    _role("embedding", cls="*TextProjection"), _role("embedding", attr="*embedder"),
    # role: attention and feed-forward
    _role("feed_forward", attr="proj_mlp", within="*SingleTransformerBlock",
       note="single-stream blocks run attention and MLP in parallel: proj_mlp is the MLP's up projection"),
    _role("feed_forward", attr="proj_out", within="*SingleTransformerBlock",
       note="the fused output projection: 4/5 of its inputs are the MLP's hidden units, 1/5 the attention's"),
    _role("attention", cls="*SelfOutput", library="transformers", note="Bert: attention output dense"),
    _role("attention", cls="*Attention*"),
    _role("feed_forward", cls="*FeedForward*"), _role("feed_forward", cls="*MLP"),
    _role("feed_forward", cls="*Mlp"),
    _role("feed_forward", cls="*FFN*"), _role("feed_forward", cls="*DenseActDense"),
    _role("feed_forward", cls="*DenseGatedActDense"), _role("feed_forward", cls="*LayerFF"),
    _role("feed_forward", cls="GLUMBConv"),
    _role("feed_forward", cls="*Intermediate", library="transformers"),
    _role("feed_forward", cls="*Output", library="transformers", within="*Layer"),
    _role("feed_forward", attr="mlp"), _role("feed_forward", attr="ff"), _role("feed_forward", attr="ffn"),
    _role("feed_forward", attr="feed_forward"),
    # role: activations without parameters of their own (diffusers' GELU/GEGLU hold a Linear: not leaves)
    _role("activation", cls="*GELU*", leaf=True), _role("activation", cls="*SiLU*", leaf=True),
    _role("activation", cls="*ReLU*", leaf=True), _role("activation", cls="*Activation*", leaf=True),
    _role("activation", cls="Tanh", leaf=True), _role("activation", cls="Sigmoid", leaf=True),
    _role("activation", cls="Mish", leaf=True), _role("activation", cls="Softmax", leaf=True),
    # container: the nearest enclosing block
    _container("transformer_block", cls="*Vision*Block", library="transformers"),
    _container("transformer_block", cls="*Layer", library="transformers", within="*Vision*"),
    _container("text_encoder", cls="*Layer", library="transformers"),
    _container("text_encoder", cls="*Block", library="transformers"),
    _container("transformer_block", cls="*TransformerBlock"), _container("transformer_block", cls="*DiTBlock"),
    _container("transformer_block", cls="*ViTBlock"),
    _container("residual_block", cls="Resnet*"), _container("residual_block", cls="*ResnetBlock*"),
    _container("residual_block", cls="*ResidualBlock*"), _container("residual_block", cls="*ResBlock*"),
    _container("vae", cls="Encoder"), _container("vae", cls="Decoder"), _container("vae", cls="*Encoder3d"),
    _container("vae", cls="*Decoder3d"), _container("vae", cls="*Encoder", library="diffusers", within="Autoencoder*"),
    _container("vae", cls="*Decoder", library="diffusers", within="Autoencoder*"),
)
# fmt: on


@dataclass(frozen=True, slots=True, kw_only=True)
class Taxonomy:
    """Categories and the ordered rules (configuration rules first)."""

    categories: tuple[Category, ...] = CATEGORIES
    rules: tuple[Rule, ...] = RULES
    source: str | None = None  # where configuration rules came from

    def category(self, id: str) -> Category:
        for category in self.categories:
            if category.id == id:
                return category
        raise ConfigError(f"unknown layer category {id!r}; use one of {', '.join(c.id for c in self.categories)}")

    def label(self, id: str, lang: str = "en") -> str:
        return self.category(id).label(lang)

    def view_rules(self, view: View, *, parameters: bool) -> tuple[Rule, ...]:
        """The rules of ``view`` that name parameters (``parameters``) or modules, in order."""
        return tuple(r for r in self.rules if r.view == view and (r.parameter is not None) == parameters)


def default_taxonomy() -> Taxonomy:
    return Taxonomy()


@dataclass(frozen=True, slots=True)
class Node:
    """What a rule can see of one module."""

    path: str
    attr: str
    classes: tuple[str, ...]
    library: str
    is_leaf: bool
    child_classes: tuple[str, ...]
    enclosing: tuple[str, ...]
