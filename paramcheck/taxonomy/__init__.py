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

from .classify import Classification, classify
from .config import find_config, load_taxonomy
from .rules import CATEGORIES, RULES, VIEWS, Category, Rule, Taxonomy, default_taxonomy

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
