"""Output of checkpoint audits: what the headers store, and the verdict against the architecture (rich tables);
single files, LoRA adapters and GGUF files as plain lines."""

from __future__ import annotations

from rich.table import Table

from ..render import ByteScale, Grid, RenderOptions, count_text, to_rich
from .check import CheckReport, ComponentCheck, Layout
from .gguf import GgufReport
from .lora import LoraReport
from .singlefile import PartCheck, SingleFileReport
from .summary import CheckpointReport

__all__ = [
    "gguf_lines",
    "issue_lines",
    "lora_lines",
    "lora_verdict",
    "single_file_lines",
    "single_file_verdict",
    "stored_grid",
    "stored_table",
    "verdict_grid",
    "verdict_line",
    "verdict_table",
]


def stored_grid(
    report: CheckpointReport, options: RenderOptions | None = None, check: CheckReport | None = None
) -> Grid:
    """Tensors, elements and size per dtype per component (decimal units, one scale), then each component's logical
    parameters; narrow: counts compact. With ``check``: the stored tensors the loader ignores (buffers older
    libraries saved) on a row of their own, not counted as parameters."""
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
        verdict = check.component(c.name) if check is not None else None
        ignored = verdict.ignored_elements if verdict is not None else 0
        if verdict is not None and verdict.ignored:
            elements = count_text(ignored, narrow=o.narrow)
            rows.append(["", "ignored buffers", f"{len(verdict.ignored):,}", elements, "", "not counted"])
        label = "total" + (f" ({c.quantization})" if c.quantization else "")
        aux = f", {c.auxiliary_tensors:,} auxiliary" if c.auxiliary_tensors else ""
        rows.append(
            [
                "",
                label,
                f"{c.tensors:,}{aux}",
                count_text(c.elements, narrow=o.narrow),
                scale(c.bytes),
                count_text(c.parameters - ignored, narrow=o.narrow),
            ]
        )
    return Grid(
        title=f"{report.location} — stored, from safetensors headers",
        headers=tuple(h for h, _ in columns),
        numeric=tuple(n for _, n in columns),
        rows=tuple(tuple(r) for r in rows),
        sections=tuple(sections),
    )


def stored_table(
    report: CheckpointReport, options: RenderOptions | None = None, check: CheckReport | None = None
) -> Table:
    return to_rich(stored_grid(report, options, check))


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


# --- single files, LoRA adapters, GGUF files (plain lines: ``paramcheck report FILE`` / ``check FILE``) --------------


def _some(items: tuple[str, ...] | list[str], limit: int | None) -> str:
    shown = items if limit is None else items[:limit]
    more = f", … {len(items) - len(shown):,} more" if len(items) > len(shown) else ""
    return ", ".join(shown) + more


def single_file_lines(report: SingleFileReport, *, limit: int | None = 3, title: bool = True) -> list[str]:
    """What a single file holds and each part's verdict."""
    lines: list[str] = []
    if title:
        lines.append(f"{report.location}: single file, {report.tensors:,} tensors, {report.bytes:,} bytes")
    i = report.identity
    model = f" = {i.model}" if i.model else " (the sizes of no release paramcheck knows)"
    lines.append(f"  architecture: {i.family}{model}" + (f"; bundled: {i.bundled}" if i.bundled else ""))
    if i.facts:
        lines.append("    " + "; ".join(i.facts))
    lines.append("  parts:")
    for p in report.parts:
        mix = ", ".join(f"{d.dtype} {d.tensors}" for d in p.dtypes)
        quant = f" ({p.quantization})" if p.quantization else ""
        label = f"{p.kind}:{p.prefix or '(bare)'}"
        lines.append(f"    {label:42s} {p.tensors:5,} tensors {p.parameters:>16,} parameters  [{mix}]{quant}")
    for e in report.extras:
        lines.append(f"  extra: {e.tensors:,} tensors, {e.elements:,} elements: {e.what}")
    if report.ema:
        lines.append(f"  ema: {report.ema}")
    if report.unknown:
        lines.append(f"  unknown: {len(report.unknown):,} tensors, e.g. {_some(report.unknown, limit)}")
    if report.against:
        lines.append(f"  against {report.against}:")
    for name in report.absent:
        lines.append(f"    {name:15s} ABSENT: the file holds no part for it")
    for part in report.unchecked:
        lines.append(f"    {part}: not checked (no component of {report.against} takes it)")
    for c in report.checks:
        lines += _part_lines(c, limit)
    lines += [f"  note: {note}" for note in report.notes]
    return lines


def _part_lines(c: PartCheck, limit: int | None) -> list[str]:
    verdict = "MATCH" if c.ok else "MISMATCH"
    loader = f" (diffusers {c.loader.status})" if c.loader else ""
    lines = [
        f"    {c.component:15s} {verdict}{loader}: {c.parameters:,} parameters in the file, "
        f"architecture {c.architecture_parameters:,}"
    ]
    lines += [f"      note: {note}" for note in c.notes]
    for label, count, items in (
        ("missing", len(c.missing), _fold_under(c.prefix, c.missing)),
        ("extra", len(c.extra), _fold_under(c.prefix, c.extra)),
        (
            "shape",
            len(c.shapes),
            [f"{s.name}: file {_shape(s.found)}, architecture {_shape(s.expected)}" for s in c.shapes],
        ),
    ):
        if items:
            lines.append(f"      {label} {count:,}: {_some(items, limit)}")
    v = c.loader
    if v is None:
        return lines
    if v.error:
        lines.append(f"      diffusers' converter ({v.converter}): {v.error[:200]}")
    for label, total, shown in (
        ("from_single_file leaves uninitialised", len(v.missing), _fold(v.missing)),
        ("from_single_file finds unexpected", len(v.unexpected), _fold(v.unexpected)),
        ("diffusers' converter drops without a word", len(v.dropped), _fold_under(c.prefix, v.dropped)),
        (
            "from_single_file shape",
            len(v.shapes),
            [f"{s.name}: {_shape(s.found)} vs {_shape(s.expected)}" for s in v.shapes],
        ),
    ):
        if shown:
            lines.append(f"      {label} {total:,}: {_some(shown, limit)}")
    return lines


def _fold_under(prefix: str, names: tuple[str, ...]) -> list[str]:
    """``_fold`` below a part's prefix (whose own numbers, e.g. ``conditioner.embedders.1.``, are no block)."""
    inside = tuple(n.removeprefix(prefix) for n in names)
    return [prefix + item for item in _fold(inside)]


def single_file_verdict(report: SingleFileReport) -> str:
    bad = [c.component for c in report.checks if not c.ok]
    if bad:
        return f"MISMATCH: {', '.join(bad)} {'does' if len(bad) == 1 else 'do'} not match {report.against}"
    return f"OK: every part matches {report.against}" if report.checks else "not checked: no architecture to compare"


def lora_lines(report: LoraReport, *, limit: int | None = 3) -> list[str]:
    """A LoRA's targets, ranks, alphas and parameters; against a base, what it hits and what diffusers would do."""
    ranks = "/".join(str(r) for r in report.ranks)
    lines = [
        f"{report.location}: LoRA ({report.format}), {len(report.targets):,} targets, "
        f"{report.parameters:,} parameters added, rank {ranks}"
    ]
    alphas: dict[str, set[float | None]] = {}
    for t in report.targets:
        alphas.setdefault(t.alpha_source, set()).add(t.alpha)
    for source, values in alphas.items():
        shown = ", ".join("?" if v is None else f"{v:g}" for v in sorted(values, key=lambda x: (x is None, x or 0.0)))
        lines.append(f"  alpha {shown} ({source})")
    per_component: dict[str, list[int]] = {}
    for t in report.targets:
        row = per_component.setdefault(t.component or "model", [0, 0])
        row[0] += 1
        row[1] += t.parameters
    for name, (n, p) in per_component.items():
        lines.append(f"  {name:16s} {n:5,} targets {p:>14,} parameters")
    if report.unknown:
        lines.append(f"  not LoRA pairs: {len(report.unknown):,}: {_some(report.unknown, limit)}")
    if report.against is None:
        return lines
    by_key = {t.key: t for t in report.targets}
    hitting = [h for h in report.hits if h.modules and not h.problem]
    lines.append(f"  against {report.against}: {report.layers_hit:,} base layers hit by {len(hitting):,} targets")
    types: dict[str, list[int]] = {}
    for h in hitting:
        row = types.setdefault(h.category or "?", [0, 0])
        row[0] += len(h.modules)
        row[1] += by_key[h.target].parameters
    for category, (n, p) in sorted(types.items(), key=lambda kv: -kv[1][1]):
        lines.append(f"    {category:24s} {n:5,} layers {p:>14,} parameters")
    fused = [h for h in hitting if len(h.modules) > 1]
    if fused:
        lines.append(f"    fused targets: {len(fused):,}, e.g. {fused[0].target} -> {', '.join(fused[0].modules)}")
    for label, hits in (("HIT NOTHING", report.hit_nothing), ("SHAPE MISMATCH", report.shape_mismatches)):
        if hits:
            items = [f"{h.target} ({h.problem})" for h in hits]
            lines.append(f"    {label}: {len(hits):,} targets: {_some(items, limit)}")
    v = report.loader
    if v is not None:
        if v.error:
            lines.append(f"  diffusers ({v.pipeline}.lora_state_dict) cannot convert it: {v.error}")
        else:
            lines.append(f"  diffusers ({v.pipeline}) converts it to LoRA layers on {len(v.loaded):,} modules")
    lines += [f"  note: {note}" for note in report.notes]
    return lines


def lora_verdict(report: LoraReport) -> str:
    if report.ok:
        return f"OK: every target hits {report.against} ({report.layers_hit:,} layers)"
    return (
        f"MISMATCH: {report.layers_hit:,} layers hit; {len(report.hit_nothing):,} targets hit nothing, "
        f"{len(report.shape_mismatches):,} shape mismatches against {report.against}"
    )


def gguf_lines(report: GgufReport, *, limit: int | None = 3) -> list[str]:
    """A GGUF file's totals per ggml type, then its single-file view."""
    bits = 8 * report.bytes / report.parameters if report.parameters else 0.0
    lines = [
        f"{report.location}: GGUF, {sum(t.tensors for t in report.types):,} tensors, {report.parameters:,} "
        f"parameters in {report.bytes:,} bytes of tensor data ({bits:.2f} bits per parameter)"
    ]
    if report.fields:
        lines.append("  " + "; ".join(f"{k} = {v}" for k, v in report.fields))
    for t in report.types:
        per = 8 * t.bytes / t.parameters if t.parameters else 0.0
        lines.append(
            f"  {t.qtype:6s} {t.tensors:5,} tensors {t.parameters:>16,} parameters {t.bytes:>16,} bytes "
            f"{per:6.2f} bits/parameter"
        )
    if report.single_file is not None:
        lines += [line for line in single_file_lines(report.single_file, limit=limit, title=False)]
    return lines
