"""Tables of FLOPs, latency and memory results, as ``render.Grid``s (terminal or HTML). Formatting only.

One scale per table: FLOPs all in TFLOPs (GFLOPs for a small model), milliseconds for every time. Weights
in decimal GB as checkpoints are sized; the card table in GiB, because a card's memory is what it is about.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.table import Table

from ..render import NOTES_ZH, ByteScale, Grid, RenderOptions, compact, percent, to_rich
from .analysis import Analysis
from .flops import FLOP_NOTE, LENGTH_NOTE, FlopReport
from .latency import ESTIMATE_NOTE, LatencyReport
from .memory import GIB, MEMORY_NOTE, WEIGHT_FORMATS, MemoryReport, WeightFormat
from .predict import ModelPrediction

__all__ = [
    "compute_compare_grid",
    "flops_grids",
    "flops_table",
    "latency_notes",
    "memory_fit_grid",
    "memory_fit_table",
    "memory_weights_grid",
    "memory_weights_table",
]

NOTES_ZH.update(
    {
        FLOP_NOTE: "FLOPs 由 torch.utils.flop_counter 在 meta 张量上统计: 矩阵乘、卷积与注意力 (每次乘加计 2 FLOPs; "
        "MACs = FLOPs / 2); 归一化、激活与 softmax 计 0",
        LENGTH_NOTE: "文本按完整提示长度计 (CLIP 为 77 个位置): 对补齐到 max_sequence_length 的管线是精确值, "
        "对补齐到最长提示的管线是上界",
        ESTIMATE_NOTE: "估计值, 非实测: 按数据手册峰值 (稠密 bf16) 逐算子取 max(FLOPs/峰值, 字节/带宽) 求和; "
        "实际 eager 运行更慢 (核函数效率, 启动开销)",
        "no activation estimate: run with --flops for it": "无激活估计: 加 --flops 以获得",
    }
)
for _dtype in ("bf16", "fp16", "fp32"):
    NOTES_ZH[MEMORY_NOTE.format(dtype=_dtype)] = (
        f"权重: 每个参数按该格式存储; 激活: 单次前向在 meta 上 {_dtype} 精度的活跃张量峰值 (融合注意力); "
        "另留 1 GiB 给 CUDA 上下文; 卸载的文本编码器不在卡上"
    )

ZH = {
    "FLOPs per generation call": "每次生成调用的 FLOPs",
    "inputs of one forward": "单次前向输入",
    "forwards": "前向次数",
    "attention": "注意力",
    "linear": "线性",
    "conv": "卷积",
    "where the FLOPs go": "FLOPs 分布",
    "per image": "每张图",
    "weights by storage format": "按存储格式的权重",
    "activations, 1 forward": "激活 (单次前向)",
    "which cards fit": "哪些显卡放得下",
    "format": "格式",
    "needed, all on GPU": "所需 (全部在 GPU)",
    "smallest card": "最小显卡",
    "needed, text encoders offloaded": "所需 (文本编码器卸载)",
    "none": "无",
    "side by side": "并列对比",
    "est.": "估计",
}


def _t(options: RenderOptions, word: str) -> str:
    return ZH.get(word, options.t(word)) if options.lang == "zh" else word


class _Scale:
    """One unit for a whole table: ``(base, unit)`` chosen by the largest value."""

    def __init__(self, largest: float, units: Sequence[tuple[float, str]]) -> None:
        self.base, self.unit = next(((b, u) for b, u in units if largest >= b), units[-1])

    def __call__(self, value: float, digits: int = 2) -> str:
        return f"{value / self.base:,.{digits}f}"


def _flop_scale(values: Iterable[int]) -> _Scale:
    return _Scale(max(values, default=0), ((1e12, "TFLOPs"), (1e9, "GFLOPs"), (1e6, "MFLOPs"), (1, "FLOPs")))


def _time_scale(seconds: Iterable[float]) -> _Scale:
    """Milliseconds for every time: a text encoder's 0.3 ms and a call's 3,135.4 ms side by side, no 0.000 s."""
    return _Scale(max(seconds, default=0), ((1e-3, "ms"),))


def flops_grids(
    report: FlopReport,
    latency: LatencyReport | None = None,
    options: RenderOptions | None = None,
    prediction: ModelPrediction | None = None,
) -> tuple[Grid, ...]:
    """The FLOPs of one call per component forward, with the latency: ``prediction`` (its profile and stated error
    in the title) or else the datasheet estimate; wide, with the inputs and the split by op kind, narrow, the split
    as a second table and the inputs as caption lines."""
    o = options or RenderOptions()
    w = report.workload
    cfg = "CFG" if w.cfg else o.t("no CFG")
    scale = _flop_scale([report.total_flops])
    title = (
        f"{report.model} — {_t(o, 'FLOPs per generation call')}: {w.width}×{w.height}, {w.steps} {o.t('steps')}, "
        f"{w.prompt_length} {o.t('prompt tokens')}, {o.t('batch')} {w.batch}, {cfg}"
    )
    if prediction is not None:
        latency = None  # one latency column: the prediction
        name = prediction.profile.removeprefix("profile ").split(" (")[0]
        title += f"; latency predicted from profile {name} ({prediction.error} per forward)"
    predicted = {c.component: c.prediction.seconds for c in prediction.components} if prediction else {}
    times = _time_scale(
        [latency.total_seconds, *(f.roofline_seconds for f in latency.forwards)]
        if latency is not None
        else [prediction.per_call_seconds, *predicted.values()]
        if prediction is not None
        else []
    )
    gpu = f" ({latency.gpu})" if latency is not None else ""
    split = [_t(o, "attention"), _t(o, "linear"), _t(o, "conv")]
    columns = [(o.t("component"), False)]
    if not o.narrow:
        columns.append((_t(o, "inputs of one forward"), False))
    columns += [(_t(o, "forwards"), True), (f"{scale.unit} {o.t('/ forward')}", True)]
    if not o.narrow:
        columns += [(name, True) for name in split]
    columns += [(f"{scale.unit} {o.t('/ call')}", True), (o.t("share"), True)]
    if latency is not None:
        columns += [
            (f"{_t(o, 'est.')} {times.unit} {o.t('/ forward')}{gpu}", True),
            (f"{_t(o, 'est.')} {times.unit} {o.t('/ call')}", True),
        ]
    elif prediction is not None:
        columns += [
            (f"predicted {times.unit} {o.t('/ forward')} ({name})", True),
            (f"predicted {times.unit} {o.t('/ call')}", True),
        ]
    total = report.total_flops
    rows = []
    split_rows = []
    for f in report.forwards:
        shares = [percent(f.category_flops(c), f.flops, digits=1) for c in ("attention", "linear", "conv")]
        split_rows.append([f.component, *shares])
        row = [f.component]
        if not o.narrow:
            row.append(f.inputs)
        row += [str(f.forwards), scale(f.flops, 3)]
        if not o.narrow:
            row += shares
        row += [scale(f.total_flops), percent(f.total_flops, total, digits=1)]
        if latency is not None:
            lat = next(x for x in latency.forwards if x.component == f.component)
            row += [times(lat.roofline_seconds, 1), times(lat.forwards * lat.roofline_seconds, 1)]
        elif prediction is not None:
            seconds = predicted.get(f.component)
            row += [times(seconds, 1), times(f.forwards * seconds, 1)] if seconds is not None else ["-", "-"]
        rows.append(row)
    whole = [percent(report.category_flops(c), total, digits=1) for c in ("attention", "linear", "conv")]
    footer = [o.t("total")]
    if not o.narrow:
        footer.append(f"{_t(o, 'per image')}: {scale(report.flops_per_image)} {scale.unit}")
    footer += ["", ""]
    if not o.narrow:
        footer += whole
    footer += [scale(total), "100.0%"]
    if latency is not None:
        footer += ["", times(latency.total_seconds, 1)]
    elif prediction is not None:
        footer += ["", times(prediction.per_call_seconds, 1)]
    caption: tuple[str, ...] = ()
    if o.narrow:
        caption = (
            f"{_t(o, 'per image')}: {scale(report.flops_per_image)} {scale.unit}",
            *(f"{f.component}: {f.inputs}" for f in report.forwards),
        )
    main = Grid(
        title=title,
        headers=tuple(h for h, _ in columns),
        numeric=tuple(n for _, n in columns),
        rows=tuple(tuple(r) for r in rows),
        footer=(tuple(footer),),
        caption=caption,
    )
    if not o.narrow:
        return (main,)
    split_grid = Grid(
        title=f"{report.model} — {_t(o, 'where the FLOPs go')}",
        headers=(o.t("component"), *split),
        numeric=(False, True, True, True),
        rows=tuple(tuple(r) for r in split_rows),
        footer=((o.t("total"), *whole),),
    )
    return main, split_grid


def flops_table(
    report: FlopReport,
    latency: LatencyReport | None = None,
    options: RenderOptions | None = None,
    prediction: ModelPrediction | None = None,
) -> Table:
    return to_rich(flops_grids(report, latency, options, prediction)[0])


def latency_notes(prediction: ModelPrediction | None, latency: LatencyReport | None) -> tuple[str, ...]:
    """The words the latency column is shown with: the prediction's stated error and profile, or the estimate's."""
    if prediction is not None:
        return (prediction.error_note,)
    return latency.notes if latency is not None else ()


def _gib(value: int) -> str:
    return f"{value / GIB:,.2f}"


def _formats(narrow: bool) -> tuple[tuple[str, WeightFormat], ...]:
    """The weight formats as columns: narrow, fp8 and int8 (the same 8 bits) share one."""
    named = tuple((f"{f.name} ({f.bits:g} bit)", f) for f in WEIGHT_FORMATS)
    if not narrow:
        return named
    return tuple(("fp8/int8" if f.name == "fp8" else f.name, f) for _, f in named if f.name != "int8")


def memory_weights_grid(report: MemoryReport, options: RenderOptions | None = None) -> Grid:
    """Weights per storage format, decimal GB (one scale for the table), and each forward's activation peak."""
    o = options or RenderOptions()
    formats = _formats(o.narrow)
    scale = ByteScale.of([report.weight_bytes(f) for _, f in formats])
    columns = [(o.t("component"), False)]
    if not o.narrow:
        columns.append((o.t("parameters"), True))
    columns += [(name, True) for name, _ in formats]
    columns.append((_t(o, "activations, 1 forward"), True))
    rows = []
    for c in report.components:
        row = [c.component]
        if not o.narrow:
            row.append(f"{c.parameters:,}")
        row += [scale(f.bytes(c.parameters)) for _, f in formats]
        row.append(scale(c.peak_activation_bytes) if c.peak_activation_bytes else "-")
        rows.append(row)
    footer = [o.t("total")]
    if not o.narrow:
        footer.append(f"{sum(c.parameters for c in report.components):,}")
    footer += [scale(report.weight_bytes(f)) for _, f in formats]
    footer.append("")
    return Grid(
        title=f"{report.model} — {_t(o, 'weights by storage format')} ({scale.unit}, 1 GB = 10^9 bytes)",
        headers=tuple(h for h, _ in columns),
        numeric=tuple(n for _, n in columns),
        rows=tuple(tuple(r) for r in rows),
        footer=(tuple(footer),),
    )


def memory_weights_table(report: MemoryReport, options: RenderOptions | None = None) -> Table:
    return to_rich(memory_weights_grid(report, options))


def memory_fit_grid(report: MemoryReport, options: RenderOptions | None = None) -> Grid:
    """Per format: GiB needed with everything on the card and with the text encoders offloaded, and the smallest
    card of ``cards_gib`` that holds it. GiB here, as cards are sized."""
    o = options or RenderOptions()
    cards = "/".join(str(g) for g in report.cards_gib)
    columns = [
        (_t(o, "format"), False),
        (f"{_t(o, 'needed, all on GPU')} (GiB)", True),
        (_t(o, "smallest card"), True),
        (f"{_t(o, 'needed, text encoders offloaded')} (GiB)", True),
        (_t(o, "smallest card"), True),
    ]
    rows = []
    for fmt in WEIGHT_FORMATS:
        row = [fmt.name]
        for offload in (False, True):
            card = report.smallest_card(fmt, offload_text=offload)
            row += [_gib(report.needed_bytes(fmt, offload_text=offload)), f"{card} GiB" if card else _t(o, "none")]
        rows.append(row)
    return Grid(
        title=f"{report.model} — {_t(o, 'which cards fit')} (card memory in GiB = 2^30 bytes: {cards}; needed = "
        f"weights + largest activation peak + {_gib(report.reserve_bytes)} GiB reserve)",
        headers=tuple(h for h, _ in columns),
        numeric=tuple(n for _, n in columns),
        rows=tuple(tuple(r) for r in rows),
    )


def memory_fit_table(report: MemoryReport, options: RenderOptions | None = None) -> Table:
    return to_rich(memory_fit_grid(report, options))


def compute_compare_grid(
    analyses: Sequence[Analysis], options: RenderOptions | None = None, *, flops: bool = True, memory: bool = True
) -> Grid:
    """``compare --flops --memory``: one row per figure, one column per model (what each report's JSON holds)."""
    o = options or RenderOptions()
    models = [a.report.model for a in analyses]
    rows: list[list[str]] = []
    counts = [a.flops for a in analyses]
    if flops and any(f is not None for f in counts):
        scale = _flop_scale([f.flops_per_image for f in counts if f is not None])
        rows.append([f"{scale.unit} / image", *(scale(f.flops_per_image) if f is not None else "—" for f in counts)])
        rows.append(
            [
                "workload",
                *(f"{f.workload.width}×{f.workload.height}, {f.workload.steps} steps" if f else "—" for f in counts),
            ]
        )
        lats = [a.latency for a in analyses]
        times = _time_scale([lat.total_seconds for lat in lats if lat is not None])
        gpu = next((lat.gpu for lat in lats if lat is not None), "")
        rows.append(
            [
                f"{_t(o, 'est.')} {times.unit} / call ({gpu})",
                *(times(lat.total_seconds, 1) if lat else "—" for lat in lats),
            ]
        )
    memories = [a.memory for a in analyses]
    if memory:
        scale_gb = ByteScale.of([m.weight_bytes(WEIGHT_FORMATS[0]) for m in memories])
        for fmt in WEIGHT_FORMATS:
            if fmt.name in {"int8"}:
                continue
            rows.append([f"weights {fmt.name} ({scale_gb.unit})", *(scale_gb(m.weight_bytes(fmt)) for m in memories)])
        for fmt in WEIGHT_FORMATS[1:]:
            if fmt.name == "int8":
                continue
            for offload in (False, True):
                where = "text encoders offloaded" if offload else "all on GPU"
                cells = []
                for m in memories:
                    card = m.smallest_card(fmt, offload_text=offload)
                    cells.append(f"{card} GiB" if card else _t(o, "none"))
                rows.append([f"smallest card, {fmt.name}, {where}", *cells])
    rows.append([o.t("parameters"), *(compact(a.report.parameters) for a in analyses)])
    return Grid(
        title=f"{_t(o, 'side by side')}: {' vs '.join(models)}",
        headers=("", *models),
        numeric=(False, *(True for _ in models)),
        rows=tuple(tuple(r) for r in rows),
    )
