"""What a probed forward is made of, without torch: the aten ops as ``OpCount`` results and their layer types.

Kept apart from ``probe`` (which runs forwards, and imports torch) so that a stored FLOP report reads back, and
renders, without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..results import Result

__all__ = ["CATEGORIES", "CATEGORY_RULES", "OpCount", "op_category"]

# Ordered (first match wins) rules from aten op name to layer type, fvcore-style: users may extend the tuple.
# A Linear on a (batch, tokens, features) input reaches aten as mm/addmm; attention scores and their weighted sum
# are bmm (eager attention) or one fused scaled_dot_product op.
CATEGORY_RULES: tuple[tuple[str, str], ...] = (
    ("_scaled_dot_product", "attention"),
    ("scaled_dot_product", "attention"),
    ("bmm", "attention"),
    ("baddbmm", "attention"),
    ("mm", "linear"),
    ("addmm", "linear"),
    ("convolution", "conv"),
    ("_convolution", "conv"),
)
CATEGORIES = ("attention", "linear", "conv", "other")


def op_category(op: str) -> str:
    """The layer type of an aten op name (``addmm`` -> ``linear``), by ``CATEGORY_RULES``."""
    for prefix, category in CATEGORY_RULES:
        if op == prefix or op.startswith(prefix + "."):
            return category
    for prefix, category in CATEGORY_RULES:
        if op.startswith(prefix):
            return category
    return "other"


@dataclass(frozen=True, slots=True, kw_only=True)
class OpCount(Result):
    """Calls of one aten op of equal cost within one forward; ``flops`` and ``bytes`` (in and out) are per call."""

    op: str
    category: str = field(init=False)
    calls: int
    flops: int
    bytes: int

    def __post_init__(self) -> None:
        self._derive(category=op_category(self.op))
