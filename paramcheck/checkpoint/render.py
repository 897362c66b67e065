"""Rich output of checkpoint audits: what the headers store, and the verdict against the architecture."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from ..render import mb
from .check import CheckReport, ComponentCheck, Layout
from .summary import CheckpointReport

__all__ = ["issue_lines", "stored_table", "verdict_line", "verdict_table"]


def stored_table(report: CheckpointReport) -> Table:
    """Tensors, elements and MB per dtype per component, then each component's logical parameters."""
    table = Table(title=f"{report.location} — stored, from safetensors headers", title_justify="left")
    for column, justify in (
        ("component", "left"),
        ("dtype", "left"),
        ("tensors", "right"),
        ("elements", "right"),
        ("MB", "right"),
        ("parameters", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for c in report.components:
        for i, row in enumerate(c.dtypes):
            name = c.name if i == 0 else ""
            table.add_row(name, row.dtype, f"{row.tensors:,}", f"{row.elements:,}", mb(row.bytes), "")
        label = "total" + (f" ({c.quantization})" if c.quantization else "")
        aux = f", {c.auxiliary_tensors:,} auxiliary" if c.auxiliary_tensors else ""
        table.add_row(
            "",
            label,
            f"{c.tensors:,}{aux}",
            f"{c.elements:,}",
            mb(c.bytes),
            f"{c.parameters:,}",
            style="bold",
            end_section=True,
        )
    return table


def _verdict(c: ComponentCheck) -> Text:
    if c.layout is Layout.UNCHECKED:
        return Text("not checked", style="yellow")
    return Text("match", style="green") if c.ok else Text("MISMATCH", style="bold red")


def verdict_table(check: CheckReport) -> Table:
    table = Table(title="checkpoint vs architecture (config built on meta)", title_justify="left")
    for column in ("component", "class", "layout", "matched", "missing", "unexpected", "shape", "dtype"):
        table.add_column(column, justify="left" if column in {"component", "class", "layout"} else "right")
    table.add_column("architecture", justify="right")
    table.add_column("checkpoint", justify="right")
    table.add_column("verdict")
    for c in check.components:
        table.add_row(
            c.name,
            c.class_name or "-",
            c.layout,
            f"{c.matched:,} / {c.expected_tensors:,}" if c.layout in {Layout.MATCHING, Layout.OTHER} else "-",
            f"{len(c.missing):,}",
            f"{len(c.unexpected):,}",
            f"{len(c.shapes):,}",
            f"{len(c.dtypes):,}",
            f"{c.architecture_parameters:,}" if c.layout is not Layout.UNCHECKED else "-",
            f"{c.checkpoint_parameters:,}",
            _verdict(c),
        )
    return table


def _shape(dims: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(d) for d in dims) + "]"


def _block(name: str) -> str | None:
    """``a.b.3`` for ``a.b.3.c.weight``: the first numbered block a tensor sits in."""
    parts = name.split(".")
    for i, part in enumerate(parts[:-1]):
        if part.isdigit():
            return ".".join(parts[: i + 1])
    return None


def _fold(names: tuple[str, ...], *, least: int = 4) -> list[str]:
    """Names, with each numbered block of ``least`` or more of them folded into one item."""
    blocks: dict[str, list[str]] = {}
    for name in names:
        blocks.setdefault(_block(name) or name, []).append(name)
    items: list[str] = []
    for name in names:
        key = _block(name) or name
        group = blocks.get(key)
        if group is None:
            continue
        if len(group) >= least:
            items.append(f"{key}.* ({len(group)} tensors)")
            del blocks[key]
        else:
            items.append(name)
    return items


def issue_lines(check: CheckReport, *, limit: int | None = 10) -> list[str]:
    """One line per problem, at most ``limit`` per kind and component (``None``: all)."""
    lines: list[str] = []
    for c in check.components:
        kinds: list[tuple[str, list[str]]] = [
            ("missing", _fold(c.missing)),
            ("unexpected", _fold(c.unexpected)),
            ("shape", [f"{s.name}: expected {_shape(s.expected)}, found {_shape(s.found)}" for s in c.shapes]),
            ("dtype", [f"{d.name}: expected {d.expected}, found {d.found}" for d in c.dtypes]),
        ]
        for kind, items in kinds:
            shown = items if limit is None else items[:limit]
            lines += [f"{c.name}: {kind} {item}" for item in shown]
            if len(items) > len(shown):
                lines.append(f"{c.name}: … {len(items) - len(shown):,} more {kind} (--all shows them)")
        if c.layout is Layout.OTHER:
            diff = c.checkpoint_parameters - c.architecture_parameters
            lines.append(
                f"{c.name}: other key layout; totals {c.checkpoint_parameters:,} (checkpoint) vs "
                f"{c.architecture_parameters:,} (architecture), difference {diff:+,}"
            )
        if c.layout is Layout.NO_WEIGHTS:
            lines.append(f"{c.name}: no safetensors weights for {c.class_name}")
    return lines


def verdict_line(check: CheckReport) -> str:
    bad = [c.name for c in check.components if not c.ok]
    if bad:
        verb = "does" if len(bad) == 1 else "do"
        return f"MISMATCH: {', '.join(bad)} {verb} not match the architecture"
    if all(c.layout is Layout.UNCHECKED for c in check.components):
        return "counted by header only: no architecture to compare with"
    return "OK: the checkpoint matches the architecture"
