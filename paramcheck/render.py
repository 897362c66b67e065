"""Tables of counts: the summary, reports, comparisons, layer-type views, the per-layer listing, loads. No counting.

Every table is built as a ``Grid`` (data: title, columns, rows) and then drawn, by ``to_rich`` for the terminal or by
``to_html`` for the HTML page, so both show the same numbers. A grid is built for a terminal ``width``: below
``WIDE`` columns it uses compact units (``11.90 B``), fewer columns and a caption instead; numeric columns never wrap
or shrink, text columns (names, classes) wrap instead.

Units, one system: parameters as exact counts, or compact with decimal suffixes (k, M, B = 10**9); weights in
decimal bytes as checkpoints are sized (kB, MB, GB = 10**9 bytes), one scale per column; GiB only where a card's
memory is the subject (the memory advice), and labelled so.

The formatters (percent, signed, mb, compact, ...) are the package's one set; checkpoint and compute use them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from .devices import META_NOTE
from .dtypes import dtype_bytes
from .listing import LayerRow, align_by_role
from .results import LayerView, ModelReport, View
from .taxonomy import Taxonomy, default_taxonomy

if TYPE_CHECKING:
    from rich.console import Console

    from .load import LoadResult

__all__ = [
    "FOLD_NOTE",
    "NOTES_ZH",
    "UNITS_NOTE",
    "WIDE",
    "ByteScale",
    "Grid",
    "RenderOptions",
    "compact",
    "compare_grids",
    "compare_table",
    "component_grid",
    "component_table",
    "count_text",
    "listing_grid",
    "listing_table",
    "load_grid",
    "load_table",
    "mb",
    "note_text",
    "percent",
    "show",
    "signed",
    "summary_lines",
    "text",
    "to_html",
    "to_rich",
    "views_compare_grid",
    "views_compare_table",
    "views_grid",
    "views_table",
]

WIDE = 120  # terminal columns from which the full tables are drawn; below, the narrow ones (tested at 80)


# --- formatters -------------------------------------------------------------------------------------------------------


def percent(part: float, whole: float, *, digits: int = 2) -> str:
    """``part`` as a share of ``whole``, ``"12.34%"``; ``"-"`` when ``whole`` is 0."""
    return f"{100 * part / whole:.{digits}f}%" if whole else "-"


def signed(value: int) -> str:
    """A difference with its sign, ``"+1,024"``; a plain ``"0"`` for none."""
    return f"{value:+,}" if value else "0"


def mb(nbytes: float) -> str:
    """Decimal megabytes (10**6 bytes), ``"1,234.57"``."""
    return f"{nbytes / 1e6:,.2f}"


COUNT_SUFFIXES = ((10**9, "B"), (10**6, "M"), (10**3, "k"))


def compact(value: int, *, sign: bool = False) -> str:
    """A count in decimal suffixes, ``"11.90 B"``, ``"123.06 M"``, ``"83.82 k"``; below 1,000 exact (``"512"``)."""
    head = ("+" if value > 0 else "-" if value < 0 else "") if sign else ("-" if value < 0 else "")
    size = abs(value)
    for base, suffix in COUNT_SUFFIXES:
        if size >= base:
            return f"{head}{size / base:.2f} {suffix}"
    return f"{head}{size:,}" if size else "0"


def count_text(value: int, *, narrow: bool, sign: bool = False) -> str:
    """Exact (``"11,901,408,320"``) in a wide table, compact (``"11.90 B"``) in a narrow one."""
    if narrow:
        return compact(value, sign=sign)
    return signed(value) if sign else f"{value:,}"


@dataclass(frozen=True, slots=True)
class ByteScale:
    """One decimal unit for a column of byte sizes, chosen by its largest value: GB, MB or kB (10**9, 10**6, 10**3)."""

    unit: str
    base: int

    @classmethod
    def of(cls, values: Iterable[float]) -> ByteScale:
        largest = max(values, default=0)
        for base, unit in ((10**9, "GB"), (10**6, "MB"), (10**3, "kB")):
            if largest >= base:
                return cls(unit, base)
        return cls("kB", 10**3)

    def __call__(self, nbytes: float) -> str:
        return f"{nbytes / self.base:,.2f}"


def _bytes_at(elements: int, dtype: str) -> float:
    return elements * dtype_bytes(dtype)


# --- words: English and Chinese ---------------------------------------------------------------------------------------

WORDS: dict[str, dict[str, str]] = {
    "component": {"zh": "组件"},
    "class": {"zh": "类"},
    "parameters": {"zh": "参数量"},
    "share": {"zh": "占比"},
    "buffers (stored / not)": {"zh": "缓冲区 (保存 / 不保存)"},
    "tied": {"zh": "共享参数"},
    "total": {"zh": "合计"},
    "view": {"zh": "视图"},
    "category": {"zh": "类别"},
    "layers": {"zh": "层数"},
    "layer": {"zh": "层"},
    "per copy": {"zh": "每份"},
    "model": {"zh": "模型"},
    "role": {"zh": "角色"},
    "note": {"zh": "注"},
    "difference": {"zh": "差值"},
    "parameters per component": {"zh": "各组件参数量"},
    "layer types": {"zh": "层类型"},
    "parameters by role": {"zh": "按角色的参数量"},
    "components by role": {"zh": "按角色的组件"},
    "whole model": {"zh": "整个模型"},
    "text encoder": {"zh": "文本编码器"},
    "denoiser": {"zh": "去噪网络"},
    "autoencoder": {"zh": "自编码器 (VAE)"},
    "safety checker": {"zh": "安全检查器"},
    "other": {"zh": "其他"},
    "no parameters": {"zh": "无参数"},
    "stored at": {"zh": "存储大小"},
    "largest": {"zh": "最大组件"},
    "top layer types": {"zh": "主要层类型"},
    "source": {"zh": "来源"},
    "more": {"zh": "更多"},
    "vs": {"zh": "对比"},
    "defaults": {"zh": "默认值"},
    "steps": {"zh": "步"},
    "prompt tokens": {"zh": "个提示 token"},
    "batch": {"zh": "批量"},
    "no CFG": {"zh": "无 CFG"},
    "/ forward": {"zh": "/ 次前向"},
    "/ call": {"zh": "/ 次调用"},
}


def text(word: str, lang: str = "en") -> str:
    """``word`` in ``lang``: the English itself, or its Chinese where the table above has one."""
    return WORDS.get(word, {}).get(lang, word) if lang != "en" else word


VIEW_TITLES: dict[str, dict[str, str]] = {
    "en": {View.LEAF: "leaf (module class)", View.ROLE: "role (function)", View.CONTAINER: "container (block)"},
    "zh": {View.LEAF: "叶子模块 (类)", View.ROLE: "功能角色", View.CONTAINER: "容器 (块)"},
}
VIEW_SHORT: dict[str, dict[str, str]] = {
    "en": {View.LEAF: "leaf", View.ROLE: "role", View.CONTAINER: "block"},
    "zh": {View.LEAF: "叶子", View.ROLE: "角色", View.CONTAINER: "容器"},
}

UNITS_NOTE = "sizes in decimal units as checkpoints are sized: 1 GB = 10^9 bytes; B = 10^9 parameters, M = 10^6"
FOLD_NOTE = "×N: N identical copies folded into one row; its parameters and size are the total of all copies"

# Chinese for the fixed notes (the compute package adds its own); a note not found here is shown in English.
NOTES_ZH: dict[str, str] = {
    UNITS_NOTE: "大小按十进制单位 (与检查点文件一致): 1 GB = 10^9 字节; B = 10^9 个参数, M = 10^6",
    FOLD_NOTE: "×N: N 个相同副本折叠为一行; 其参数量与大小为所有副本之和",
    META_NOTE: "仅配置: 在 meta 设备上计数, 未读取权重",
}


def note_text(note: str, lang: str = "en") -> str:
    """A note in ``lang``: its Chinese from ``NOTES_ZH`` (registered by the package's modules), else itself."""
    return NOTES_ZH.get(note, note) if lang == "zh" else note


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderOptions:
    """How tables are drawn: sizes at ``dtype``, words in ``lang`` (``en`` or ``zh``), category labels from
    ``taxonomy``, laid out for a terminal ``width`` columns wide (narrow below ``WIDE``)."""

    dtype: str = "bf16"
    lang: str = "en"
    taxonomy: Taxonomy = field(default_factory=default_taxonomy)
    width: int = 200

    @property
    def narrow(self) -> bool:
        return self.width < WIDE

    def t(self, word: str) -> str:
        return text(word, self.lang)

    def size_header(self, scale: ByteScale) -> str:
        return f"{scale.unit} ({self.dtype})"


# --- grids: tables as data, drawn for the terminal or the HTML page ---------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Grid:
    """A table as data. ``numeric[i]``: column i is a number (right-aligned, never wrapped). ``sections``: indexes of
    the rows that start a new section (a rule above them). ``footer``: bold rows after a rule (totals). ``caption``:
    lines under the table (what a folded row means, what a narrow table left out)."""

    title: str
    headers: tuple[str, ...]
    numeric: tuple[bool, ...]
    rows: tuple[tuple[str, ...], ...]
    sections: tuple[int, ...] = ()
    footer: tuple[tuple[str, ...], ...] = ()
    caption: tuple[str, ...] = ()

    def column(self, header: str) -> tuple[str, ...]:
        i = self.headers.index(header)
        return tuple(row[i] for row in (*self.rows, *self.footer))


def _grid(title: str, columns: Sequence[tuple[str, bool]], rows: Iterable[Sequence[str]], **more: object) -> Grid:
    return Grid(
        title=title,
        headers=tuple(h for h, _ in columns),
        numeric=tuple(n for _, n in columns),
        rows=tuple(tuple(r) for r in rows),
        **more,  # type: ignore[arg-type]
    )


def to_rich(grid: Grid, *, titles: bool = True, header_width: int = 8) -> Table:
    """The grid as a rich table: numbers never wrap or shrink, names fold onto more lines when the terminal is
    narrow, so no digit is ever cut. ``titles=False``: without title and caption (``show`` prints them as lines).
    A numeric column's header wraps to its longest number, or ``header_width`` cells if wider."""
    table = Table(
        title=grid.title if titles else None,
        title_justify="left",
        caption=("\n".join(grid.caption) or None) if titles else None,
        caption_justify="left",
        caption_style="dim",
    )
    for i, (header, numeric) in enumerate(zip(grid.headers, grid.numeric, strict=True)):
        cells = [_cells(row[i]) for row in (*grid.rows, *grid.footer)]
        longest = max(cells, default=0)
        if numeric:  # as wide as its longest number, never less; the header wraps to that width instead
            table.add_column(
                _wrap(header, max(longest, header_width)), justify="right", no_wrap=True, min_width=longest
            )
        else:  # names fold onto more lines, down to 10 cells
            table.add_column(header, overflow="fold", min_width=min(longest, 10))
    starts = set(grid.sections)
    for i, row in enumerate(grid.rows):
        if i in starts and i:
            table.add_section()
        table.add_row(*(Text(cell) for cell in row))  # as text: a "[" in a name is no markup
    if grid.footer:
        table.add_section()
        for row in grid.footer:
            table.add_row(*(Text(cell) for cell in row), style="bold")
    return table


def _wrap(header: str, width: int) -> str:
    """A numeric column's header on lines of at most ``width`` cells (words kept whole)."""
    import textwrap

    return "\n".join(textwrap.wrap(header, width=width, break_long_words=False)) or header


def show(console: Console, grid: Grid) -> None:
    """Print ``grid``: its title as a plain line (rich pads a table's title and caption with spaces to the table's
    width), the table, the caption lines."""
    console.print(grid.title, style="bold", highlight=False, markup=False)
    console.print(to_rich(grid, titles=False, header_width=8 if console.width < WIDE else 32))
    for line in grid.caption:
        console.print(line, style="dim", highlight=False, markup=False)


def to_html(grid: Grid) -> str:
    """The grid as an HTML ``<table>`` (classes ``num`` on numbers, ``section`` on section starts, ``total`` rows)."""
    cls = ['class="num"' if n else "" for n in grid.numeric]
    head = "".join(f"<th {c}>{escape(h)}</th>" for h, c in zip(grid.headers, cls, strict=True))
    starts = set(grid.sections)
    lines = [f"<table>\n<caption>{escape(grid.title)}</caption>", f"<thead><tr>{head}</tr></thead>", "<tbody>"]
    for i, row in enumerate(grid.rows):
        tr = '<tr class="section">' if i in starts and i else "<tr>"
        lines.append(tr + "".join(f"<td {c}>{escape(v)}</td>" for v, c in zip(row, cls, strict=True)) + "</tr>")
    lines.append("</tbody>")
    if grid.footer:
        lines.append("<tfoot>")
        for row in grid.footer:
            cells = "".join(f"<td {c}>{escape(v)}</td>" for v, c in zip(row, cls, strict=True))
            lines.append(f'<tr class="total">{cells}</tr>')
        lines.append("</tfoot>")
    lines.append("</table>")
    if grid.caption:
        lines.append("".join(f'<p class="note">{escape(c)}</p>' for c in grid.caption))
    return "\n".join(lines)


def _in_order(groups: Iterable[Iterable[str]]) -> list[str]:
    """Every name of ``groups`` once, in order of first appearance."""
    return list(dict.fromkeys(name for group in groups for name in group))


def _cells(text: str) -> int:
    """Terminal cells of ``text`` (a CJK character takes two)."""
    from rich.cells import cell_len

    return cell_len(text)


# --- the summary ------------------------------------------------------------------------------------------------------


def summary_lines(report: ModelReport, views: Sequence[LayerView], options: RenderOptions | None = None) -> list[str]:
    """At most 12 lines: the model, its total, its size at the dtype, the largest component, the tied parameters
    counted once, where it came from, the top four layer types of the role view."""
    o = options or RenderOptions()
    total = report.parameters
    nbytes = _bytes_at(total, o.dtype)
    scale = ByteScale.of([nbytes])
    pairs = [(o.t("parameters"), f"{total:,}  ({compact(total)})")]
    pairs.append((f"{o.t('stored at')} {o.dtype}", f"{scale(nbytes)} {scale.unit}"))
    counted = [c for c in report.components if c.parameters]
    if counted:
        big = max(counted, key=lambda c: c.parameters)
        share = percent(big.parameters, total, digits=1)
        pairs.append((o.t("largest"), f"{big.name} ({big.class_name or '-'}): {compact(big.parameters)}, {share}"))
    tied = sum(c.tied_parameters for c in report.components)
    if tied:
        pairs.append((o.t("tied"), f"{tied:,}" + (" (shared tensors, counted once)" if o.lang == "en" else "")))
    pairs.append((o.t("source"), f"{report.source.kind}: {report.source.location}"))
    width = max(_cells(label) for label, _ in pairs) + 2
    lines = [report.model]
    lines += [f"  {label}{' ' * (width - _cells(label))}{value}" for label, value in pairs]
    role = next((v for v in views if v.view == View.ROLE), views[0] if views else None)
    if role is not None:
        lines.append(f"  {o.t('top layer types')} ({VIEW_SHORT[o.lang].get(role.view, role.view)} {o.t('view')}):")
        top = [(o.taxonomy.label(r.category, o.lang), r.parameters) for r in role.rows if r.parameters][:4]
        wide = max((_cells(name) for name, _ in top), default=0)
        for name, parameters in top:
            pad = " " * (wide - _cells(name))
            lines.append(f"    {name}{pad}  {compact(parameters):>9}  {percent(parameters, total, digits=1):>6}")
    return lines


# --- reports ----------------------------------------------------------------------------------------------------------


def component_grid(report: ModelReport, options: RenderOptions | None = None) -> Grid:
    """Component, class, parameters, size at the dtype, share; wide: buffers and tied too."""
    o = options or RenderOptions()
    total = report.parameters
    scale = ByteScale.of([_bytes_at(total, o.dtype)])
    columns = [
        (o.t("component"), False),
        (o.t("class"), False),
        (o.t("parameters"), True),
        (o.size_header(scale), True),
        (o.t("share"), True),
    ]
    if not o.narrow:
        columns += [(o.t("buffers (stored / not)"), True), (o.t("tied"), True)]

    def cells(name: str, cls: str, parameters: int, stored: int, not_stored: int, tied: str) -> list[str]:
        row = [
            name,
            cls,
            count_text(parameters, narrow=o.narrow),
            scale(_bytes_at(parameters, o.dtype)),
            percent(parameters, total),
        ]
        return row if o.narrow else [*row, f"{stored:,} / {not_stored:,}", tied]

    rows = [
        cells(
            c.name,
            c.class_name or "-",
            c.parameters,
            c.persistent_buffers,
            c.non_persistent_buffers,
            f"{c.tied_parameters:,}" if c.tied else "-",
        )
        for c in report.components
    ]
    stored = sum(c.persistent_buffers for c in report.components)
    not_stored = sum(c.non_persistent_buffers for c in report.components)
    tied = sum(c.tied_parameters for c in report.components)
    footer = cells(o.t("total"), "", total, stored, not_stored, f"{tied:,}")
    caption: list[str] = []
    if o.narrow:
        zh = o.lang == "zh"
        tied_text = "个共享参数 (共享张量, 只计一次)" if zh else "tied parameters (shared, counted once)"
        caption += [f"{c.name}: {c.tied_parameters:,} {tied_text}" for c in report.components if c.tied]
        if stored or not_stored:
            caption.append(
                f"缓冲区: {stored:,} 个保存, {not_stored:,} 个不保存 (不是参数)"
                if zh
                else f"buffers: {stored:,} stored, {not_stored:,} not stored (not parameters)"
            )
    return _grid(
        f"{report.model} — {o.t('parameters per component')}",
        columns,
        rows,
        footer=(tuple(footer),),
        caption=tuple(caption),
    )


def component_table(report: ModelReport, *, dtype: str = "bf16", options: RenderOptions | None = None) -> Table:
    """The component table as rich draws it (``options`` for width and language, else ``dtype`` and English)."""
    return to_rich(component_grid(report, options or RenderOptions(dtype=dtype)))


# --- layer types and the per-layer listing ----------------------------------------------------------------------------


def views_grid(title: str, views: Sequence[LayerView], total: int, options: RenderOptions | None = None) -> Grid:
    """A section per view: category, parameters, layers, size, share; each sums to ``total``."""
    o = options or RenderOptions()
    scale = ByteScale.of([_bytes_at(total, o.dtype)])
    columns = [(o.t("view"), False), (o.t("category"), False), (o.t("parameters"), True), (o.t("layers"), True)]
    if not o.narrow:
        columns.append((o.size_header(scale), True))
    columns.append((o.t("share"), True))
    titles = VIEW_SHORT if o.narrow else VIEW_TITLES
    rows: list[list[str]] = []
    sections: list[int] = []
    for view in views:
        sections.append(len(rows))
        for j, row in enumerate(view.rows):
            cells = [
                titles[o.lang].get(view.view, view.view) if j == 0 else "",
                o.taxonomy.label(row.category, o.lang),
                count_text(row.parameters, narrow=o.narrow),
                f"{row.layers:,}",
            ]
            if not o.narrow:
                cells.append(scale(_bytes_at(row.parameters, o.dtype)))
            rows.append([*cells, percent(row.parameters, total)])
    return _grid(title, columns, rows, sections=tuple(sections))


def views_table(title: str, views: Sequence[LayerView], total: int, options: RenderOptions | None = None) -> Table:
    return to_rich(views_grid(title, views, total, options))


def listing_grid(title: str, rows: Sequence[LayerRow], options: RenderOptions | None = None) -> Grid:
    """The per-layer listing: name, class, copies (xN), parameters (per copy and all copies), size, category.

    Narrow: name, copies, parameters of all copies (compact), category; the class and per-copy count are left out."""
    o = options or RenderOptions()
    scale = ByteScale.of([_bytes_at(max((r.parameters for r in rows), default=0), o.dtype)])
    folded = any(r.count > 1 for r in rows)
    all_copies = o.t("parameters") + ((" (所有副本)" if o.lang == "zh" else " (all copies)") if folded else "")
    if o.narrow:
        columns = [(o.t("layer"), False), ("×N", True), (all_copies, True), (o.t("category"), False)]
    else:
        columns = [
            (o.t("layer"), False),
            (o.t("class"), False),
            ("×N", True),
            (o.t("per copy"), True),
            (all_copies, True),
            (o.size_header(scale), True),
            (o.t("category"), False),
        ]
    out = []
    for row in rows:
        times = f"×{row.count}" if row.count > 1 else ""
        category = o.taxonomy.label(row.category, o.lang) if row.category else "-"
        total = count_text(row.parameters, narrow=o.narrow)
        if o.narrow:
            out.append([row.name, times, total, category])
        else:
            per_copy = f"{row.parameters // row.count:,}" if row.count > 1 else ""
            size = scale(_bytes_at(row.parameters, o.dtype))
            out.append([row.name, row.class_name, times, per_copy, total, size, category])
    caption = (note_text(FOLD_NOTE, o.lang),) if folded else ()
    return _grid(title, columns, out, caption=caption)


def listing_table(title: str, rows: Sequence[LayerRow], options: RenderOptions | None = None) -> Table:
    return to_rich(listing_grid(title, rows, options))


# --- comparisons: aligned by role, a column per model -----------------------------------------------------------------


def _role_label(role: str, lang: str) -> str:
    return text(role, lang) if role in WORDS else role


def compare_grids(reports: Sequence[ModelReport], options: RenderOptions | None = None) -> tuple[Grid, Grid]:
    """Two grids: parameters by role, a column per model (wide: and the difference to the first); then every
    component with parameters by role: model, component, class, parameters, size, share of its model."""
    o = options or RenderOptions()
    models = [r.model for r in reports]
    aligned = align_by_role(reports)
    roles = list(dict.fromkeys(r.role for r in aligned))
    by = {(r.role, r.column): r for r in aligned}
    columns = [(o.t("role"), False), *((m, True) for m in models)]
    if not o.narrow:
        columns += [(f"{m} − {models[0]}", True) for m in models[1:]]

    def cells(values: Sequence[int | None]) -> list[str]:
        shown = [count_text(v, narrow=o.narrow) if v is not None else "—" for v in values]
        if o.narrow:
            return shown
        base = values[0] or 0
        return [*shown, *(count_text((v or 0) - base, narrow=False, sign=True) for v in values[1:])]

    rows = []
    for role in roles:
        values = [by[(role, i)].parameters if (role, i) in by else None for i in range(len(models))]
        rows.append([_role_label(role, o.lang), *cells(values)])
    footer = (tuple([o.t("total"), *cells([r.parameters for r in reports])]),)
    caption = (
        ()
        if not o.narrow
        else (
            f"{o.t('difference')}: "
            + ", ".join(
                f"{m} {compact(r.parameters - reports[0].parameters, sign=True)}"
                for m, r in zip(models[1:], reports[1:], strict=True)
            ),
        )
    )
    roles_grid = _grid(
        f"{o.t('parameters by role')}: {' vs '.join(models)}", columns, rows, footer=footer, caption=caption
    )

    scale = ByteScale.of([_bytes_at(r.parameters, o.dtype) for r in aligned])
    totals = [r.parameters for r in reports]
    numbers = [(o.t("parameters"), True), (o.size_header(scale), True), (o.t("share"), True)]
    lead = [(o.t("model"), False)] if o.narrow else [(o.t("role"), False), (o.t("model"), False)]
    columns = [*lead, (o.t("component") + ": " + o.t("class"), False), *numbers]
    rows = []
    sections = []
    for role in roles:
        sections.append(len(rows))
        if o.narrow:  # the role on a line of its own, the models below it
            rows.append([_role_label(role, o.lang) + ":", "", "", "", ""])
        first = True
        for i, model in enumerate(models):
            row = by.get((role, i))
            if row is None:
                continue
            for name, cls, parameters in zip(row.components, row.classes, row.parameters_each, strict=True):
                head = [model] if o.narrow else [_role_label(role, o.lang) if first else "", model]
                rows.append(
                    [
                        *head,
                        f"{name}: {cls}",
                        count_text(parameters, narrow=o.narrow),
                        scale(_bytes_at(parameters, o.dtype)),
                        percent(parameters, totals[i], digits=1),
                    ]
                )
                first = False
    caption = ("占比: 占所属模型参数量的比例",) if o.lang == "zh" else ("share: of its model's parameters",)
    components_grid = _grid(o.t("components by role"), columns, rows, sections=tuple(sections), caption=caption)
    return roles_grid, components_grid


def compare_table(reports: Sequence[ModelReport], options: RenderOptions | None = None) -> Table:
    """The parameters-by-role comparison as rich draws it."""
    return to_rich(compare_grids(reports, options)[0])


def views_compare_grid(
    reports: Sequence[ModelReport], views: Sequence[Sequence[LayerView]], options: RenderOptions | None = None
) -> Grid:
    """Whole-model parameters per view and category, a column per model (wide: and the difference to the first)."""
    o = options or RenderOptions()
    models = [r.model for r in reports]
    columns = [(o.t("view"), False), (o.t("category"), False), *((m, True) for m in models)]
    if not o.narrow:
        columns += [(f"{m} − {models[0]}", True) for m in models[1:]]
    titles = VIEW_SHORT if o.narrow else VIEW_TITLES
    rows: list[list[str]] = []
    sections: list[int] = []
    for name in _in_order([v.view for v in model_views] for model_views in views):
        sections.append(len(rows))
        per_model = [next((v for v in model_views if v.view == name), None) for model_views in views]
        categories = _in_order([row.category for row in view.rows] for view in per_model if view is not None)
        for j, category in enumerate(categories):
            found = [view.row(category) if view is not None else None for view in per_model]
            values = [row.parameters if row is not None else 0 for row in found]
            cells = [count_text(v, narrow=o.narrow) for v in values]
            if not o.narrow:
                cells += [count_text(v - values[0], narrow=False, sign=True) for v in values[1:]]
            rows.append(
                [
                    titles[o.lang].get(name, name) if j == 0 else "",
                    o.taxonomy.label(category, o.lang),
                    *cells,
                ]
            )
    return _grid(f"{o.t('layer types')}: {' vs '.join(models)}", columns, rows, sections=tuple(sections))


def views_compare_table(
    reports: Sequence[ModelReport], views: Sequence[Sequence[LayerView]], options: RenderOptions | None = None
) -> Table:
    return to_rich(views_compare_grid(reports, views, options))


# --- loads ------------------------------------------------------------------------------------------------------------


def load_grid(
    model: str, expected: ModelReport, results: Sequence[LoadResult], options: RenderOptions | None = None
) -> Grid:
    """Loaded against configured counts, and predicted against measured memory (decimal MB), per component. Narrow:
    the loaded count only (compact), and the CUDA column only where CUDA was used."""
    o = options or RenderOptions()
    first = results[0] if results else None
    where = f"{first.mode} on {first.device_map or first.device} in {first.dtype}" if first else ""
    cuda = any(r.cuda for r in results)
    counts = (
        [("parameters (loaded)", True)] if o.narrow else [("parameters (config)", True), ("parameters (loaded)", True)]
    )
    columns = [("component", False), *counts, ("match", False), ("predicted MB", True), ("tensors MB", True)]
    if cuda or not o.narrow:
        columns.append(("CUDA allocated MB", True))
    columns += [("host RSS +MB", True), ("seconds", True)]
    rows = []
    for r in results:
        config = expected.component(r.component)
        configured = config.parameters if config is not None else 0
        same = configured == r.counts.parameters and not r.mismatches
        row = [r.component]
        if not o.narrow:
            row.append(f"{configured:,}")
        row += [count_text(r.counts.parameters, narrow=o.narrow), "yes" if same else "NO", mb(r.predicted_bytes)]
        row.append(mb(r.tensor_bytes))
        if cuda or not o.narrow:
            row.append(mb(r.cuda_allocated) if r.cuda else "-")
        row += [mb(r.host_rss_growth), f"{r.seconds:.2f}"]
        rows.append(row)
    return _grid(f"{model} — {where}", columns, rows)


def load_table(model: str, expected: ModelReport, results: Sequence[LoadResult]) -> Table:
    return to_rich(load_grid(model, expected, results))
