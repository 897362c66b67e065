"""Layer types: the seed's categories (en/zh), an ordered table of rules, and ``classify`` into three views.

Three views, each an exact partition of a component's distinct parameters (a tied tensor once, under its first
name; a parameter held directly by a non-leaf module is placed too):

- ``leaf``: the class of the module that holds the parameter (linear/conv, normalization, embedding, ...).
- ``role``: the functional role of the nearest enclosing module that a role rule names (attention,
  feed-forward, modulation, timestep, positional, embedding, normalization); a parameter under no role falls
  back to its leaf category.
- ``container``: the nearest enclosing container (transformer block, residual block, VAE encoder/decoder,
  text-encoder layer); a parameter under none is ``outside``.

The rules are data (fvcore style): the first rule of a view that matches a module (or a parameter) wins,
and the nearest matching module above a parameter decides. Configuration rules come before the built-in ones.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from ..errors import ConfigError

__all__ = ["CATEGORIES", "RULES", "VIEWS", "Category", "Node", "Rule", "Taxonomy", "default_taxonomy"]

VIEWS = ("leaf", "role", "container")


@dataclass(frozen=True, slots=True, kw_only=True)
class Category:
    """A layer type: id, English and Chinese names, and the seed category it maps to (itself for the 13)."""

    id: str
    en: str
    zh: str
    seed: str

    def label(self, lang: str = "en") -> str:
        return self.zh if lang == "zh" else self.en


def _c(id: str, en: str, zh: str, seed: str | None = None) -> Category:
    return Category(id=id, en=en, zh=zh, seed=seed or id)


# The seed's 13 categories in its order, then those the views need, each mapped to its nearest seed one.
CATEGORIES: tuple[Category, ...] = (
    _c("attention", "attention", "Attention层"),
    _c("linear", "linear/conv", "线性/卷积层"),
    _c("normalization", "normalization", "归一化层"),
    _c("activation", "activation", "激活函数"),
    _c("embedding", "embedding", "嵌入层"),
    _c("positional", "positional encoding", "位置编码"),
    _c("timestep", "timestep embedding", "时间步编码"),
    _c("feed_forward", "feed-forward", "前馈网络"),
    _c("transformer_block", "transformer block", "Transformer块"),
    _c("residual_block", "residual block", "残差连接"),
    _c("vae", "VAE encoder/decoder", "VAE层"),
    _c("text_encoder", "text-encoder layer", "文本编码器"),
    _c("other", "other", "其他层"),
    _c("modulation", "modulation/conditioning", "调制/条件层", "normalization"),
    _c("direct", "direct parameters", "直接参数", "other"),
    _c("outside", "outside containers", "容器外层", "other"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One row of the table. Every field given must match; globs are case-insensitive (``fnmatch``).

    A rule with ``parameter`` places the parameters of that name held directly by a matching module; the
    others place a module and everything below it that no nearer rule places.
    """

    view: str
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


def _r(view: str, category: str, **kwargs: Any) -> Rule:
    return Rule(view=view, category=category, **kwargs)


L, R, C = "leaf", "role", "container"

# fmt: off
RULES: tuple[Rule, ...] = (
    # leaf: the class of the module holding a parameter
    _r(L, "linear", cls="Linear"), _r(L, "linear", cls="*Linear"), _r(L, "linear", cls="Conv*d"),
    _r(L, "linear", cls="ConvTranspose*d"),
    _r(L, "normalization", cls="*Norm*"),
    _r(L, "embedding", cls="Embedding"), _r(L, "embedding", cls="EmbeddingBag"),
    _r(L, "activation", cls="*GELU*"), _r(L, "activation", cls="*SiLU*"), _r(L, "activation", cls="*ReLU*"),
    _r(L, "activation", cls="*Activation*"), _r(L, "activation", cls="Tanh"),
    _r(L, "activation", cls="Sigmoid"),
    _r(L, "activation", cls="Mish"), _r(L, "activation", cls="Softmax"), _r(L, "activation", cls="PReLU"),
    # role: parameters held directly by a module, by their name
    _r(R, "modulation", parameter="*scale_shift_table*", note="PixArt/Sana/Wan adaLN-single tables"),
    _r(R, "positional", parameter="*pos_embed*"), _r(R, "positional", parameter="*position*"),
    _r(R, "embedding", parameter="*token*", note="learned register/pad tokens"),
    _r(R, "embedding", parameter="*padding*"), _r(R, "embedding", parameter="*embed*"),
    # role: modulation / conditioning (adaptive norms: their Linear is modulation, their affine norm is not)
    _r(R, "modulation", cls="*AdaLayerNorm*"), _r(R, "modulation", cls="AdaGroupNorm"),
    _r(R, "modulation", cls="*AdaLN*"), _r(R, "modulation", cls="*NormZero*"),
    _r(R, "modulation", cls="*NormContinuous"), _r(R, "modulation", cls="*ModulatedNorm*"),
    _r(R, "modulation", cls="*NormSingle"),
    _r(R, "modulation", cls="Sequential", children=("SiLU", "Linear"), note="DiT-style adaLN_modulation"),
    _r(R, "modulation", attr="time_emb_proj", note="timestep conditioning of UNet/VAE resnets"),
    _r(R, "modulation", cls="AuraFlowPreFinalBlock", note="AuraFlow's continuous adaLN before proj_out"),
    # role: normalization (a norm leaf, also inside attention or an adaptive norm)
    _r(R, "normalization", cls="*Norm*", leaf=True), _r(R, "normalization", cls="*_norm", leaf=True),
    # role: timestep embeddings (before embedding: their classes are also '*Embedding*')
    _r(R, "timestep", cls="*Timestep*"), _r(R, "timestep", cls="*TimeText*Embedding*"),
    # role: embeddings, positional encodings (patch embedding before the 'pos_embed' attribute that holds it)
    _r(R, "embedding", cls="*PatchEmbed*"),
    _r(R, "positional", cls="*PosEmbed*"), _r(R, "positional", cls="*Rotary*"),
    _r(R, "positional", cls="*Rope*"),
    _r(R, "positional", cls="*Positional*"),
    _r(R, "positional", attr="*position*"), _r(R, "positional", attr="*pos_embed*"),
    _r(R, "positional", attr="relative_attention_bias", note="T5 relative position buckets"),
    _r(R, "embedding", cls="*Embedding*"), _r(R, "embedding", cls="*Embeddings"),
    _r(R, "embedding", cls="*TextProjection"), _r(R, "embedding", attr="*embedder"),
    # role: attention and feed-forward
    _r(R, "feed_forward", attr="proj_mlp", within="*SingleTransformerBlock",
       note="single-stream blocks run attention and MLP in parallel: proj_mlp is the MLP's up projection"),
    _r(R, "feed_forward", attr="proj_out", within="*SingleTransformerBlock",
       note="the fused output projection: 4/5 of its inputs are the MLP's hidden units, 1/5 the attention's"),
    _r(R, "attention", cls="*SelfOutput", library="transformers", note="Bert: attention output dense"),
    _r(R, "attention", cls="*Attention*"),
    _r(R, "feed_forward", cls="*FeedForward*"), _r(R, "feed_forward", cls="*MLP"),
    _r(R, "feed_forward", cls="*Mlp"),
    _r(R, "feed_forward", cls="*FFN*"), _r(R, "feed_forward", cls="*DenseActDense"),
    _r(R, "feed_forward", cls="*DenseGatedActDense"), _r(R, "feed_forward", cls="*LayerFF"),
    _r(R, "feed_forward", cls="GLUMBConv"),
    _r(R, "feed_forward", cls="*Intermediate", library="transformers"),
    _r(R, "feed_forward", cls="*Output", library="transformers", within="*Layer"),
    _r(R, "feed_forward", attr="mlp"), _r(R, "feed_forward", attr="ff"), _r(R, "feed_forward", attr="ffn"),
    _r(R, "feed_forward", attr="feed_forward"),
    # role: activations without parameters of their own (diffusers' GELU/GEGLU hold a Linear: not leaves)
    _r(R, "activation", cls="*GELU*", leaf=True), _r(R, "activation", cls="*SiLU*", leaf=True),
    _r(R, "activation", cls="*ReLU*", leaf=True), _r(R, "activation", cls="*Activation*", leaf=True),
    _r(R, "activation", cls="Tanh", leaf=True), _r(R, "activation", cls="Sigmoid", leaf=True),
    _r(R, "activation", cls="Mish", leaf=True), _r(R, "activation", cls="Softmax", leaf=True),
    # container: the nearest enclosing block
    _r(C, "transformer_block", cls="*Vision*Block", library="transformers"),
    _r(C, "transformer_block", cls="*Layer", library="transformers", within="*Vision*"),
    _r(C, "text_encoder", cls="*Layer", library="transformers"),
    _r(C, "text_encoder", cls="*Block", library="transformers"),
    _r(C, "transformer_block", cls="*TransformerBlock"), _r(C, "transformer_block", cls="*DiTBlock"),
    _r(C, "transformer_block", cls="*ViTBlock"),
    _r(C, "residual_block", cls="Resnet*"), _r(C, "residual_block", cls="*ResnetBlock*"),
    _r(C, "residual_block", cls="*ResidualBlock*"), _r(C, "residual_block", cls="*ResBlock*"),
    _r(C, "vae", cls="Encoder"), _r(C, "vae", cls="Decoder"), _r(C, "vae", cls="*Encoder3d"),
    _r(C, "vae", cls="*Decoder3d"), _r(C, "vae", cls="*Encoder", library="diffusers", within="Autoencoder*"),
    _r(C, "vae", cls="*Decoder", library="diffusers", within="Autoencoder*"),
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

    def view_rules(self, view: str, *, parameters: bool) -> tuple[Rule, ...]:
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
