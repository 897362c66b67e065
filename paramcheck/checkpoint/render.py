"""Rich output of checkpoint audits: what the headers store, and the verdict against the architecture."""

from __future__ import annotations

from rich.table import Table

from ..render import ByteScale, Grid, RenderOptions, count_text, to_rich
from .check import CheckReport, ComponentCheck, Layout
from .summary import CheckpointReport

__all__ = ["issue_lines", "stored_grid", "stored_table", "verdict_grid", "verdict_line", "verdict_table"]


def stored_grid(report: CheckpointReport, options: RenderOptions | None = None) -> Grid:
    """Tensors, elements and size per dtype per component (decimal units, one scale), then each component's logical
    parameters; narrow: counts compact."""
    o = options or RenderOptions()
    scale = ByteScale.of([c.bytes for c in report.components])
    columns = [("component", False), ("dtype", False), ("tensors", True), ("elements", True)]
    columns += [(scale.unit, True), ("parameters", True)]
    rows: list[list[str]] = []
    sections: list[int] = []
    for c in report.components:
        sections.append(len(rows))
        for i, row in enumerate(c.dtypes):
            rows.append(
                [
                    c.name if i == 0 else "",
                    row.dtype,
                    f"{row.tensors:,}",
                    count_text(row.elements, narrow=o.narrow),
                    scale(row.bytes),
                    "",
                ]
            )
        label = "total" + (f" ({c.quantization})" if c.quantization else "")
        aux = f", {c.auxiliary_tensors:,} auxiliary" if c.auxiliary_tensors else ""
        rows.append(
            [
                "",
                label,
                f"{c.tensors:,}{aux}",
                count_text(c.elements, narrow=o.narrow),
                scale(c.bytes),
                count_text(c.parameters, narrow=o.narrow),
            ]
        )
    return Grid(
        title=f"{report.location} — stored, from safetensors headers",
        headers=tuple(h for h, _ in columns),
        numeric=tuple(n for _, n in columns),
        rows=tuple(tuple(r) for r in rows),
        sections=tuple(sections),
    )


def stored_table(report: CheckpointReport, options: RenderOptions | None = None) -> Table:
    return to_rich(stored_grid(report, options))


def _verdict(c: ComponentCheck) -> str:
    if c.layout is Layout.UNCHECKED:
        return "not checked"
    return "match" if c.ok else "MISMATCH"


def verdict_grid(check: CheckReport, options: RenderOptions | None = None) -> Grid:
    """Per component: class, key layout, matched tensors, problems by kind, parameters of the architecture and the
    checkpoint, verdict. Narrow: the problems in one column, the class and the counts left out of it, compact."""
    o = options or RenderOptions()
    if o.narrow:
        columns = [("component", False), ("layout", False), ("matched", True), ("problems", False)]
        columns += [("parameters: arch. / ckpt.", True), ("verdict", False)]
    else:
        columns = [("component", False), ("class", False), ("layout", False), ("matched", True)]
        columns += [(kind, True) for kind in ("missing", "unexpected", "shape", "dtype")]
        columns += [("architecture", True), ("checkpoint", True), ("verdict", False)]
    rows = []
    for c in check.components:
        matched = f"{c.matched:,} / {c.expected_tensors:,}" if c.layout in {Layout.MATCHING, Layout.OTHER} else "-"
        kinds = [("missing", len(c.missing)), ("unexpected", len(c.unexpected))]
        kinds += [("shape", len(c.shapes)), ("dtype", len(c.dtypes))]
        architecture = count_text(c.architecture_parameters, narrow=o.narrow)
        architecture = architecture if c.layout is not Layout.UNCHECKED else "-"
        checkpoint = count_text(c.checkpoint_parameters, narrow=o.narrow)
        if o.narrow:
            problems = ", ".join(f"{n:,} {kind}" for kind, n in kinds if n) or "none"
            rows.append([c.name, c.layout, matched, problems, f"{architecture} / {checkpoint}", _verdict(c)])
        else:
            counts = [f"{n:,}" for _, n in kinds]
            rows.append(
                [c.name, c.class_name or "-", c.layout, matched, *counts, architecture, checkpoint, _verdict(c)]
            )
    return Grid(
        title="checkpoint vs architecture (config built on meta)",
        headers=tuple(h for h, _ in columns),
        numeric=tuple(n for _, n in columns),
        rows=tuple(tuple(r) for r in rows),
    )


def verdict_table(check: CheckReport, options: RenderOptions | None = None) -> Table:
    return to_rich(verdict_grid(check, options))


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
