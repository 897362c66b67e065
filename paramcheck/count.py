"""Module -> counts: every distinct parameter once, ties named, buffers apart. Pure functions."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .results import TiedGroup

__all__ = ["BufferCounts", "buffer_counts", "parameter_count", "tied_groups"]


def parameter_count(module: torch.nn.Module) -> int:
    """Elements of every distinct parameter tensor (a tied tensor once)."""
    return sum(p.numel() for p in module.parameters())  # parameters() yields each tensor once


def tied_groups(module: torch.nn.Module) -> tuple[TiedGroup, ...]:
    """Groups of parameter names that share one tensor, in module order; the first name is the one counted."""
    names: dict[int, list[str]] = {}
    sizes: dict[int, int] = {}
    for name, param in module.named_parameters(remove_duplicate=False):
        names.setdefault(id(param), []).append(name)
        sizes[id(param)] = param.numel()
    return tuple(TiedGroup(names=tuple(group), parameters=sizes[key]) for key, group in names.items() if len(group) > 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class BufferCounts:
    """Buffer elements, each distinct tensor once, split by whether checkpoints hold them."""

    persistent: int
    non_persistent: int


def buffer_counts(module: torch.nn.Module) -> BufferCounts:
    """Buffer elements split by whether ``state_dict`` (and so a checkpoint) holds them."""
    seen: set[int] = set()
    persistent = non_persistent = 0
    for sub in module.modules():
        for name, buffer in sub._buffers.items():
            if buffer is None or id(buffer) in seen:
                continue
            seen.add(id(buffer))
            if name in sub._non_persistent_buffers_set:
                non_persistent += buffer.numel()
            else:
                persistent += buffer.numel()
    return BufferCounts(persistent=persistent, non_persistent=non_persistent)
