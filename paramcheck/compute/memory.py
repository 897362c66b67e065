"""Memory advice: weights per storage format, which cards they fit with and without the text encoders, activations.

Weights: every parameter at the format (norms and embeddings that quantizers keep in bf16 add a little).
Activations: the peak of one forward's live tensors, measured on meta (``ForwardCount.peak_activation_bytes``).
A card fits when resident weights + the largest peak of the components run on it + ``reserve_bytes`` (CUDA
context and allocator slack, assumed 1 GiB) is at most its memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..results import ModelReport, Result, pairs
from .flops import FlopReport
from .workload import Role

__all__ = [
    "CARDS_GIB",
    "WEIGHT_FORMATS",
    "Advice",
    "ComponentMemory",
    "MemoryReport",
    "WeightFormat",
    "memory_report",
]

GIB = 1024**3


@dataclass(frozen=True, slots=True, kw_only=True)
class WeightFormat(Result):
    """A way to store weights: bits per parameter, scale overhead included, and what that overhead is."""

    name: str
    bits: float
    overhead: str

    def bytes(self, parameters: int) -> int:
        return -(-int(parameters * self.bits * 8) // 64)  # ceil(parameters * bits / 8), exact for bits in 1/8ths


WEIGHT_FORMATS: tuple[WeightFormat, ...] = (
    WeightFormat(name="fp32", bits=32, overhead="none"),
    WeightFormat(name="bf16", bits=16, overhead="none (fp16 the same)"),
    WeightFormat(name="fp8", bits=8, overhead="one fp32 scale per tensor: negligible"),
    WeightFormat(name="int8", bits=8, overhead="one scale per output row: under 0.1% for rows of 1024+ inputs"),
    WeightFormat(
        name="nf4",
        bits=4.5,
        overhead="4-bit NF4, blocks of 64 with one fp32 absmax each: +0.5 bit/param (double quantization: +0.127)",
    ),
)

# Card sizes as sold: a "24 GB" RTX 4090 or an "80 GB" H100 holds that many GiB.
CARDS_GIB: tuple[int, ...] = (12, 16, 24, 48, 80)


@dataclass(frozen=True, slots=True, kw_only=True)
class ComponentMemory(Result):
    """One component's parameters and the activation peak of its forward (0 when it was not counted)."""

    component: str
    role: Role
    parameters: int
    peak_activation_bytes: int
    weight_bytes: tuple[tuple[str, int], ...] = pairs(init=False)

    def __post_init__(self) -> None:
        self._derive(weight_bytes=tuple((f.name, f.bytes(self.parameters)) for f in WEIGHT_FORMATS))


@dataclass(frozen=True, slots=True, kw_only=True)
class Advice(Result):
    """What one weight format needs with or without the text encoders on the card, and the cards it fits."""

    format: str
    bits_per_parameter: float
    offload_text_encoders: bool
    weight_bytes: int
    activation_bytes: int
    needed_bytes: int
    fits_gib: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryReport(Result):
    """Weights and activations of one model's components, and what follows for cards of ``cards_gib`` GiB."""

    model: str
    components: tuple[ComponentMemory, ...]
    cards_gib: tuple[int, ...] = CARDS_GIB
    reserve_bytes: int = GIB
    formats: tuple[WeightFormat, ...] = field(init=False)
    advice: tuple[Advice, ...] = field(init=False)
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self._derive(
            formats=WEIGHT_FORMATS,
            advice=tuple(self._advice(fmt, offload) for fmt in WEIGHT_FORMATS for offload in (False, True)),
        )

    def _advice(self, fmt: WeightFormat, offload_text: bool) -> Advice:
        return Advice(
            format=fmt.name,
            bits_per_parameter=fmt.bits,
            offload_text_encoders=offload_text,
            weight_bytes=self.weight_bytes(fmt, offload_text=offload_text),
            activation_bytes=self.activation_bytes(offload_text=offload_text),
            needed_bytes=self.needed_bytes(fmt, offload_text=offload_text),
            fits_gib=tuple(g for g in self.cards_gib if self.fits(fmt, g, offload_text=offload_text)),
        )

    def weight_bytes(self, fmt: WeightFormat, *, offload_text: bool = False) -> int:
        return sum(fmt.bytes(c.parameters) for c in self._resident(offload_text))

    def _resident(self, offload_text: bool) -> tuple[ComponentMemory, ...]:
        return tuple(c for c in self.components if not (offload_text and c.role == Role.TEXT_ENCODER))

    def activation_bytes(self, *, offload_text: bool = False) -> int:
        """The largest single-forward peak among the components on the card (they run one after another)."""
        return max((c.peak_activation_bytes for c in self._resident(offload_text)), default=0)

    def needed_bytes(self, fmt: WeightFormat, *, offload_text: bool = False) -> int:
        return (
            self.weight_bytes(fmt, offload_text=offload_text)
            + self.activation_bytes(offload_text=offload_text)
            + self.reserve_bytes
        )

    def fits(self, fmt: WeightFormat, card_gib: int, *, offload_text: bool = False) -> bool:
        return self.needed_bytes(fmt, offload_text=offload_text) <= card_gib * GIB

    def smallest_card(self, fmt: WeightFormat, *, offload_text: bool = False) -> int | None:
        return next((g for g in sorted(self.cards_gib) if self.fits(fmt, g, offload_text=offload_text)), None)


MEMORY_NOTE = (
    "weights: every parameter at the format; activations: peak of one forward's live tensors on meta at "
    "{dtype}, fused attention; +1 GiB reserve for the CUDA context; offloaded text encoders are off the card "
    "(prompts encoded on the CPU or before the transformer is loaded)"
)


def memory_report(report: ModelReport, flops: FlopReport | None = None) -> MemoryReport:
    """Memory advice from a parameter report and, for activations, a FLOP report of the same model."""
    components = []
    for c in report.components:
        if c.parameters == 0:
            continue
        forward = flops.forward(c.name) if flops is not None else None
        role = forward.role if forward is not None else _role_guess(c.name)
        peak = forward.peak_activation_bytes if forward is not None else 0
        components.append(
            ComponentMemory(component=c.name, role=role, parameters=c.parameters, peak_activation_bytes=peak)
        )
    dtype = flops.workload.activation_dtype if flops is not None else "bf16"
    notes = [MEMORY_NOTE.format(dtype=dtype)]
    if flops is None:
        notes.append("no activation estimate: run with --flops for it")
    return MemoryReport(model=report.model, components=tuple(components), notes=tuple(notes))


def _role_guess(name: str) -> Role:
    return Role.TEXT_ENCODER if name.startswith("text_encoder") else Role.OTHER
