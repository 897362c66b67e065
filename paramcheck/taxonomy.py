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
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import torch

from .errors import ConfigError
from .results import CategoryCount, LayerRecord, LayerView

__all__ = [
    "CATEGORIES",
    "RULES",
    "VIEWS",
    "Category",
    "Classification",
    "Rule",
    "Taxonomy",
    "classify",
    "default_taxonomy",
    "find_config",
    "load_taxonomy",
]

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

    def matches(self, node: _Node, parameter: str | None = None) -> bool:
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


# --- configuration: [tool.paramcheck] in pyproject.toml ---

RULE_KEYS = (
    "view",
    "category",
    "class",
    "attr",
    "path",
    "parameter",
    "library",
    "within",
    "children",
    "leaf",
)


def find_config(start: Path | None = None) -> Path | None:
    """The nearest pyproject.toml from ``start`` (default: the working directory) upwards, if any."""
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        path = candidate / "pyproject.toml"
        if path.is_file():
            return path
    return None


def load_taxonomy(path: Path | None) -> Taxonomy:
    """The default taxonomy with the categories and rules of ``[tool.paramcheck]`` in ``path`` put first.

    ```toml
    [tool.paramcheck.categories]
    lora = { en = "LoRA adapter", zh = "LoRA层", seed = "linear" }

    [[tool.paramcheck.rules]]
    view = "role"
    category = "feed_forward"
    attr = "proj_mlp"
    ```
    """
    if path is None:
        return default_taxonomy()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror}); pass an existing pyproject.toml") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e}); fix the file") from e
    table = data.get("tool", {}).get("paramcheck", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{path}: [tool.paramcheck] is not a table; write it as a TOML table")
    categories = _config_categories(path, table.get("categories", {}))
    taxonomy = Taxonomy(categories=(*categories, *CATEGORIES), source=str(path))
    rules = tuple(_config_rule(path, i, raw, taxonomy) for i, raw in enumerate(table.get("rules", ())))
    return Taxonomy(categories=taxonomy.categories, rules=(*rules, *RULES), source=str(path) if rules else None)


def _config_categories(path: Path, raw: Any) -> tuple[Category, ...]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: [tool.paramcheck.categories] is not a table; write id = {{ en = ..., zh = ... }}")
    known = {c.id for c in CATEGORIES}
    out = []
    for id, spec in raw.items():
        if not isinstance(spec, Mapping) or not isinstance(spec.get("en"), str):
            raise ConfigError(f'{path}: category {id!r} needs at least en = "..."; add it')
        seed = spec.get("seed", "other")
        if seed not in known:
            raise ConfigError(f"{path}: category {id!r} has unknown seed {seed!r}; use one of {', '.join(known)}")
        out.append(Category(id=id, en=spec["en"], zh=str(spec.get("zh", spec["en"])), seed=seed))
    return tuple(out)


def _config_rule(path: Path, index: int, raw: Any, taxonomy: Taxonomy) -> Rule:
    where = f"{path}: [[tool.paramcheck.rules]] #{index + 1}"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} is not a table; write view = ..., category = ..., and a match key")
    unknown = sorted(set(raw) - set(RULE_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; use {', '.join(RULE_KEYS)}")
    view = raw.get("view")
    if view not in VIEWS:
        raise ConfigError(f"{where}: view {view!r} is not one of {', '.join(VIEWS)}; set view")
    try:
        taxonomy.category(str(raw.get("category")))
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    if not any(key in raw for key in ("class", "attr", "path", "parameter", "children")):
        raise ConfigError(f"{where}: matches everything; add class, attr, path, parameter or children")
    children = raw.get("children", ())
    if isinstance(children, str) or not all(isinstance(c, str) for c in children):
        raise ConfigError(f'{where}: children must be a list of class globs; write children = ["SiLU", "Linear"]')
    return Rule(
        view=view,
        category=str(raw["category"]),
        cls=raw.get("class"),
        attr=raw.get("attr"),
        path=raw.get("path"),
        parameter=raw.get("parameter"),
        library=raw.get("library"),
        within=raw.get("within"),
        children=tuple(children),
        leaf=bool(raw.get("leaf", False)),
        note=f"from {path}",
    )


# --- classification ---


@dataclass(frozen=True, slots=True)
class _Node:
    """What a rule can see of one module."""

    path: str
    attr: str
    classes: tuple[str, ...]
    library: str
    is_leaf: bool
    child_classes: tuple[str, ...]
    enclosing: tuple[str, ...]


@cache
def _class_names(cls: type) -> tuple[str, ...]:
    """The class and its ``nn.Module`` bases, without mixins (``AttentionMixin`` is no attention layer)."""
    return tuple(
        c.__name__
        for c in cls.__mro__
        if issubclass(c, torch.nn.Module) and c is not torch.nn.Module and not c.__name__.endswith("Mixin")
    )


def _library(cls: type) -> str:
    return cls.__module__.partition(".")[0]


@dataclass(frozen=True, slots=True)
class _Resolved:
    category: str
    unit: str  # the module (or parameter) that counts as one layer of the category


@dataclass(frozen=True, slots=True, kw_only=True)
class Classification:
    """The three views of one module, and (when asked) one record per module below it."""

    views: tuple[LayerView, ...]
    records: tuple[LayerRecord, ...] = ()


@dataclass(slots=True)
class _Tally:
    parameters: dict[str, int] = field(default_factory=dict)
    units: dict[str, set[str]] = field(default_factory=dict)

    def add(self, resolved: _Resolved, count: int) -> None:
        self.parameters[resolved.category] = self.parameters.get(resolved.category, 0) + count
        self.units.setdefault(resolved.category, set()).add(resolved.unit)

    def unit(self, resolved: _Resolved) -> None:
        self.parameters.setdefault(resolved.category, 0)
        self.units.setdefault(resolved.category, set()).add(resolved.unit)

    def view(self, name: str, order: Sequence[str]) -> LayerView:
        rank = {id: i for i, id in enumerate(order)}
        rows = sorted(self.parameters, key=lambda c: (-self.parameters[c], rank.get(c, len(rank))))
        return LayerView(
            view=name,
            rows=tuple(
                CategoryCount(category=c, parameters=self.parameters[c], layers=len(self.units[c])) for c in rows
            ),
        )


def _walk(
    module: torch.nn.Module, path: str, attr: str, enclosing: tuple[str, ...], seen: set[int]
) -> Iterator[tuple[torch.nn.Module, _Node, str]]:
    """Pre-order walk yielding each distinct module once (first path), with its node and parent path."""
    seen.add(id(module))
    children = [(name, child) for name, child in module._modules.items() if child is not None]
    cls = type(module)
    node = _Node(
        path=path,
        attr=attr,
        classes=_class_names(cls),  # type: ignore[arg-type]  # classes hash
        library=_library(cls),
        is_leaf=not children,
        child_classes=tuple(type(child).__name__ for _, child in children),
        enclosing=enclosing,
    )
    yield module, node, path
    inner = (*enclosing, *node.classes)
    for name, child in children:
        if id(child) in seen:
            continue
        yield from _walk(child, f"{path}.{name}" if path else name, name, inner, seen)


def _parent(path: str) -> str:
    return path.rpartition(".")[0]


def classify(module: torch.nn.Module, taxonomy: Taxonomy | None = None, *, records: bool = False) -> Classification:
    """The leaf, role and container views of ``module`` (each sums to its distinct parameter count)."""
    taxonomy = taxonomy or default_taxonomy()
    module_rules = {view: taxonomy.view_rules(view, parameters=False) for view in VIEWS}
    parameter_rules = {view: taxonomy.view_rules(view, parameters=True) for view in VIEWS}
    order = [c.id for c in taxonomy.categories]
    tallies = {view: _Tally() for view in VIEWS}
    resolved: dict[str, dict[str, _Resolved | None]] = {"role": {}, "container": {}}
    seen_parameters: set[int] = set()
    owned: dict[str, int] = {}  # parameters held directly, per module path
    listing: list[tuple[str, str, int]] = []  # (path, class, depth) in pre-order
    categories: dict[str, str] = {}

    def first(view: str, node: _Node, parameter: str | None = None) -> str | None:
        rules = parameter_rules[view] if parameter is not None else module_rules[view]
        return next((r.category for r in rules if r.matches(node, parameter)), None)

    for sub, node, path in _walk(module, "", "", (), set()):
        leaf_category = first("leaf", node) if node.is_leaf else None
        for view in ("role", "container"):
            inherited = resolved[view].get(_parent(path)) if path else None
            own = first(view, node)
            if own is None:
                current = inherited
            elif inherited is not None and inherited.category == own:
                current = inherited  # same kind nested: one layer (T5LayerSelfAttention > T5Attention)
            else:
                current = _Resolved(own, path)
            resolved[view][path] = current
            if own is not None and path and current is not None:
                tallies[view].unit(current)
        if node.is_leaf and leaf_category is not None and leaf_category != "other":
            tallies["leaf"].unit(_Resolved(leaf_category, path))
        own_total = 0
        for name, parameter in sub._parameters.items():
            if parameter is None or id(parameter) in seen_parameters:
                continue
            seen_parameters.add(id(parameter))
            count = parameter.numel()
            own_total += count
            full = f"{path}.{name}" if path else name
            if node.is_leaf:
                leaf = _Resolved(leaf_category or "other", path)
            else:
                leaf = _Resolved(first("leaf", node, name) or "direct", full)
            tallies["leaf"].add(leaf, count)
            role_category = first("role", node, name)
            role = _Resolved(role_category, full) if role_category else resolved["role"][path] or leaf
            tallies["role"].add(role, count)
            container = resolved["container"][path] or _Resolved("outside", path if node.is_leaf else full)
            tallies["container"].add(container, count)
        if records and path:
            owned[path] = own_total
            listing.append((path, type(sub).__name__, path.count(".") + 1))
            own_container = resolved["container"][path]
            role_here = resolved["role"][path]
            if own_container is not None and own_container.unit == path:
                categories[path] = own_container.category
            elif role_here is not None:
                categories[path] = role_here.category
            elif node.is_leaf:
                categories[path] = leaf_category or "other"
            else:
                categories[path] = ""
        elif records:
            owned[""] = own_total

    views = tuple(tallies[view].view(view, order) for view in VIEWS)
    if not records:
        return Classification(views=views)
    totals = _subtree_totals(owned)
    return Classification(
        views=views,
        records=tuple(
            LayerRecord(name=p, class_name=cls, parameters=totals[p], category=categories[p], depth=depth)
            for p, cls, depth in listing
        ),
    )


def _subtree_totals(owned: Mapping[str, int]) -> dict[str, int]:
    """Own parameters plus those of every module below, from per-module own counts keyed by path."""
    totals = dict(owned)
    for path in sorted(owned, key=lambda p: -p.count(".") if p else 1):
        if not path:
            continue
        parent = _parent(path)
        if parent in totals:
            totals[parent] += totals[path]
    return totals
