"""Layer types: each parameter of a built module placed in three views, by an ordered table of rules.

Three views, each an exact partition of a component's distinct parameters: ``leaf`` (the class of the module
holding a parameter), ``role`` (its function: attention, feed-forward, modulation, ...) and ``container`` (the
block it sits in). ``rules`` holds the data (categories, the rule table and how a rule matches), ``config`` the
user's rules from ``[tool.paramcheck]``, ``classify`` how the rules place parameters and count layers.
"""

from __future__ import annotations

from .classify import Classification, classify
from .config import find_config, load_taxonomy, trusted_libraries
from .rules import CATEGORIES, RULES, Category, Rule, Taxonomy, View, default_taxonomy

__all__ = [
    "CATEGORIES",
    "RULES",
    "Category",
    "Classification",
    "Rule",
    "Taxonomy",
    "View",
    "classify",
    "default_taxonomy",
    "find_config",
    "load_taxonomy",
    "trusted_libraries",
]
