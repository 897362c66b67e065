"""One generation call: a pipeline's defaults (a data table, ``DEFAULTS``) with the user's values in their place.

A ``Workload`` is one row of ``DEFAULTS`` after ``Workload.with_values(overrides)``; what one component's forward
sees follows from it by ``forward_shape`` (the denoiser's batch doubles under batched CFG, some encoders see a token
count the pipeline fixes, the latents follow the VAE's downsampling). The defaults are the pipelines' own
(``__call__`` signatures in diffusers 0.42, model cards where the checkpoint is meant to run otherwise).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..limits import WORKLOAD_LIMITS
from ..results import Result, pairs

if TYPE_CHECKING:
    from ..sources import ModelSource

__all__ = ["DEFAULTS", "ForwardShape", "Role", "Workload", "check_sizes", "defaults_for", "workload_for"]


class Role(StrEnum):
    """How a component takes part in one call, in the order the roles run."""

    TEXT_ENCODER = "text_encoder"  # once per prompt, once more per negative prompt under CFG
    DENOISER = "denoiser"  # each step, twice under CFG (or once at twice the batch)
    VAE_DECODER = "vae_decoder"  # once per call
    SAFETY_CHECKER = "safety_checker"  # once per call, on the decoded images
    OTHER = "other"  # no forward recipe: it takes part in the memory advice only


@dataclass(frozen=True, slots=True, kw_only=True)
class ForwardShape:
    """What one forward of one component sees: image size, its text tokens, batch, frames, the VAE's downsampling."""

    height: int
    width: int
    prompt_length: int
    batch: int
    frames: int = 1
    latent_scale: int = 8
    temporal_scale: int = 1

    @property
    def latent_frames(self) -> int:
        """WanPipeline.prepare_latents: ``(num_frames - 1) // vae_scale_factor_temporal + 1``."""
        return (self.frames - 1) // self.temporal_scale + 1

    def latent_hw(self, multiple: int, what: str = "transformer") -> tuple[int, int]:
        """Latent height and width; a one-line error unless the image is a multiple of scale * ``multiple``."""
        step = self.latent_scale * multiple
        h, w = self.height // self.latent_scale, self.width // self.latent_scale
        if self.height % step or self.width % step or h <= 0 or w <= 0:
            raise ConfigError(
                f"image size {self.height}x{self.width}: must be a positive multiple of {step} "
                f"for this {what}; choose another --height/--width"
            )
        return h, w


# Values a call may override that must be at least 1 and at most their limit (``limits.WORKLOAD_LIMITS``), in the
# order they are checked.
POSITIVE = ("height", "width", "steps", "prompt_length", "batch", "frames")


def check_sizes(values: Mapping[str, Any]) -> None:
    """A one-line ``ConfigError`` naming the option (``--prompt-length``) for a size of ``values`` below 1 or above
    its documented limit; other keys are left alone. Called before anything is built."""
    for name in POSITIVE:
        value = values.get(name)
        if value is None or isinstance(value, bool) or not isinstance(value, int):
            continue
        option = f"--{name.replace('_', '-')}"
        if value < 1:
            raise ConfigError(f"{option} {value}: must be at least 1")
        limit = WORKLOAD_LIMITS[name]
        if value > limit.value():
            raise ConfigError(f"{option} {value}: {limit.exceeded(f'{value:,} {limit.what}')}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload(Result):
    """One generation call: image size, denoising steps, prompt tokens, images per call, CFG, activation dtype.

    ``cfg``: classifier-free guidance, i.e. a second denoiser forward per step (conditional and unconditional) and
    the negative prompt encoded too. ``cfg_batched``: both halves run as one forward of twice the batch (activation
    memory doubles) rather than two forwards; false without CFG. ``frames``: video frames (1 for an image).
    ``encode_negative``: under CFG the text encoders also run on the negative prompt (SDXL skips that and uses zeros
    when no negative prompt is given). ``text_tokens``: components whose token count the pipeline fixes whatever
    ``prompt_length`` is, as (component name, tokens). ``defaults``: the ``DEFAULTS`` row the values start from,
    ``"<model id or pipeline class>: <where they are written>"``.
    """

    height: int
    width: int
    steps: int
    prompt_length: int
    batch: int = 1
    cfg: bool = False
    cfg_batched: bool = False
    activation_dtype: str = "bf16"
    frames: int = 1
    encode_negative: bool = True
    text_tokens: tuple[tuple[str, int], ...] = pairs(default=())
    defaults: str = ""

    def __post_init__(self) -> None:
        self._derive(cfg_batched=self.cfg and self.cfg_batched)  # batching halves means nothing without CFG

    @property
    def key(self) -> str:
        """The model id or pipeline class of the ``DEFAULTS`` row."""
        return self.defaults.partition(": ")[0]

    def with_values(self, overrides: Mapping[str, int | bool | str]) -> Workload:
        """This workload with ``overrides`` (field name -> value) in place; one-line errors for bad values."""
        values: dict[str, Any] = dict(overrides)
        if "frames" in values and self.frames == 1 and self.key:
            raise ConfigError(
                f"--frames {values['frames']}: {self.key} makes images, not video (the option would change nothing); "
                "drop --frames"
            )
        workload = dataclasses.replace(self, **values)
        check_sizes({name: getattr(workload, name) for name in POSITIVE})
        return workload

    def tokens(self, component: str) -> int:
        """The text tokens a component sees: fixed by the pipeline for some, else ``prompt_length``."""
        return dict(self.text_tokens).get(component, self.prompt_length)

    def forwards(self, role: Role) -> int:
        """How often a component of ``role`` runs in one call."""
        guided = 2 if self.cfg else 1
        if role == Role.TEXT_ENCODER:
            return guided if self.encode_negative else 1
        if role == Role.DENOISER:
            return self.steps * (1 if self.cfg_batched else guided)
        return 1

    def forward_shape(self, component: str, role: Role, scales: tuple[int, int]) -> ForwardShape:
        """What one forward of ``component`` sees, with the VAE's (spatial, temporal) downsampling ``scales``."""
        doubled = role == Role.DENOISER and self.cfg_batched
        return ForwardShape(
            height=self.height,
            width=self.width,
            prompt_length=self.tokens(component),
            batch=self.batch * (2 if doubled else 1),
            frames=self.frames,
            latent_scale=scales[0],
            temporal_scale=scales[1],
        )


def _defaults(key: str, *, source: str, **values: Any) -> Workload:
    """A row of ``DEFAULTS``: the workload of a model id or pipeline class, and where its values are written."""
    return Workload(defaults=f"{key}: {source}", **values)


# Ordered: the first row whose key is the model id, else the first whose key is the pipeline class, applies.
DEFAULTS: tuple[Workload, ...] = (
    _defaults(
        "flux.1-schnell",
        height=1024,
        width=1024,
        steps=4,
        prompt_length=256,
        cfg=False,
        source="model card of black-forest-labs/FLUX.1-schnell: 4 steps, guidance_scale=0, max_sequence_length=256",
    ),
    _defaults(
        "FluxPipeline",
        height=1024,
        width=1024,
        steps=28,
        prompt_length=512,
        cfg=False,
        source="FluxPipeline.__call__: num_inference_steps=28, max_sequence_length=512, guidance_scale=3.5 is "
        "a distilled guidance embedding (one forward per step), true_cfg_scale=1.0 (no CFG)",
    ),
    _defaults(
        "Lumina2Pipeline",
        height=1024,
        width=1024,
        steps=30,
        prompt_length=256,
        cfg=True,
        source="Lumina2Pipeline.__call__: num_inference_steps=30, guidance_scale=4.0 (CFG, conditional and "
        "unconditional forwards run one after the other), max_sequence_length=256",
    ),
    _defaults(
        "Lumina2Text2ImgPipeline",
        height=1024,
        width=1024,
        steps=30,
        prompt_length=256,
        cfg=True,
        source="Lumina2Pipeline.__call__ (the old name of the same pipeline): 30 steps, guidance_scale=4.0 (CFG)",
    ),
    _defaults(
        "StableDiffusion3Pipeline",
        height=1024,
        width=1024,
        steps=28,
        prompt_length=256,
        cfg=True,
        cfg_batched=True,
        source="StableDiffusion3Pipeline.__call__: num_inference_steps=28, guidance_scale=7.0 (CFG: "
        "latents concatenated twice, one forward of twice the batch), max_sequence_length=256 (T5; the transformer "
        "sees 77 CLIP + 256 T5 tokens), height = default_sample_size 128 × vae_scale_factor 8",
    ),
    _defaults(
        "StableDiffusionXLPipeline",
        height=1024,
        width=1024,
        steps=50,
        prompt_length=77,
        cfg=True,
        cfg_batched=True,
        encode_negative=False,
        source="StableDiffusionXLPipeline.__call__: num_inference_steps=50, guidance_scale=5.0 (CFG, batched), "
        "CLIP prompts padded to 77; force_zeros_for_empty_prompt=True: no negative prompt is encoded, zeros are "
        "used; height = unet sample_size 128 × vae_scale_factor 8",
    ),
    _defaults(
        "StableDiffusionPipeline",
        height=512,
        width=512,
        steps=50,
        prompt_length=77,
        cfg=True,
        cfg_batched=True,
        source="StableDiffusionPipeline.__call__: num_inference_steps=50, guidance_scale=7.5 (CFG, batched), "
        "CLIP prompts padded to 77, the negative prompt '' encoded; height = unet sample_size 64 × "
        "vae_scale_factor 8; the safety checker runs once per call on the decoded images",
    ),
    _defaults(
        "PixArtSigmaPipeline",
        height=1024,
        width=1024,
        steps=20,
        prompt_length=300,
        cfg=True,
        cfg_batched=True,
        source="PixArtSigmaPipeline.__call__: num_inference_steps=20, guidance_scale=4.5 (CFG, batched), "
        "negative_prompt='' encoded, max_sequence_length=300; height = transformer sample_size 128 × 8",
    ),
    _defaults(
        "LuminaText2ImgPipeline",
        height=1024,
        width=1024,
        steps=30,
        prompt_length=256,
        cfg=True,
        cfg_batched=True,
        source="LuminaPipeline.__call__ (LuminaText2ImgPipeline is its old name): num_inference_steps=30, "
        "guidance_scale=4.0 (CFG, batched), max_sequence_length=256; height = sample_size 128 × 8",
    ),
    _defaults(
        "LuminaPipeline",
        height=1024,
        width=1024,
        steps=30,
        prompt_length=256,
        cfg=True,
        cfg_batched=True,
        source="LuminaPipeline.__call__: num_inference_steps=30, guidance_scale=4.0 (CFG, batched), "
        "max_sequence_length=256; height = sample_size 128 × 8",
    ),
    _defaults(
        "QwenImagePipeline",
        height=1024,
        width=1024,
        steps=50,
        prompt_length=512,
        cfg=False,
        source="QwenImagePipeline.__call__: num_inference_steps=50, max_sequence_length=512, true_cfg_scale=4.0 "
        "but negative_prompt=None, and true CFG runs only with a negative prompt (--cfg counts it: two "
        "forwards per step); height = default_sample_size 128 × vae_scale_factor 8; the encoder's 34 template "
        "tokens are not counted",
    ),
    _defaults(
        "WanPipeline",
        height=480,
        width=832,
        steps=50,
        prompt_length=512,
        cfg=True,
        frames=81,
        source="WanPipeline.__call__: height=480, width=832, num_frames=81 (21 latent frames), "
        "num_inference_steps=50, guidance_scale=5.0 (CFG: conditional and unconditional forwards one after "
        "the other), max_sequence_length=512",
    ),
    _defaults(
        "SanaPipeline",
        height=1024,
        width=1024,
        steps=20,
        prompt_length=300,
        cfg=True,
        cfg_batched=True,
        source="SanaPipeline.__call__: height=width=1024, num_inference_steps=20, guidance_scale=4.5 (CFG, "
        "batched), max_sequence_length=300; the default complex_human_instruction lengthens the Gemma forward "
        "by its own tokens (not counted: no tokenizer here)",
    ),
    _defaults(
        "AuraFlowPipeline",
        height=1024,
        width=1024,
        steps=50,
        prompt_length=256,
        cfg=True,
        cfg_batched=True,
        source="AuraFlowPipeline.__call__: height=width=1024, num_inference_steps=50, guidance_scale=3.5 (CFG, "
        "batched), max_sequence_length=256",
    ),
    _defaults(
        "HunyuanDiTPipeline",
        height=1024,
        width=1024,
        steps=50,
        prompt_length=256,
        cfg=True,
        cfg_batched=True,
        text_tokens=(("text_encoder", 77), ("text_encoder_2", 256)),
        source="HunyuanDiTPipeline.__call__: num_inference_steps=50, guidance_scale=5.0 (CFG, batched); "
        "encode_prompt pads Bert to 77 and T5 to 256 tokens (fixed: the transformer's T5 pooler takes exactly "
        "text_len_t5 = 256); height = default_sample_size 128 × 8",
    ),
    _defaults(
        "CogView4Pipeline",
        height=1024,
        width=1024,
        steps=50,
        prompt_length=1024,
        cfg=True,
        source="CogView4Pipeline.__call__: num_inference_steps=50, guidance_scale=5.0 (CFG: two forwards one "
        "after the other), max_sequence_length=1024 (prompts pad to the longest, a multiple of 16: an upper "
        "bound); height = transformer sample_size 128 × vae_scale_factor 8",
    ),
    _defaults(
        "DiTPipeline",
        height=256,
        width=256,
        steps=50,
        prompt_length=1,
        cfg=True,
        cfg_batched=True,
        source="DiTPipeline.__call__: num_inference_steps=50, guidance_scale=4.0 (CFG, batched); class-conditional, "
        "no text encoder (prompt length unused); height = transformer sample_size 32 × 8",
    ),
)


def defaults_for(source: ModelSource) -> Workload:
    """The defaults row for a model; a one-line error naming the pipeline class when there is none."""
    cls = source.pipeline_class
    for row in DEFAULTS:
        if row.key == source.model:
            return row
    for row in DEFAULTS:
        if row.key == cls:
            return row
    known = ", ".join(dict.fromkeys(r.key for r in DEFAULTS if r.key[0].isupper()))
    raise ConfigError(
        f"{source.model}: no compute defaults for pipeline {cls or '(none: not a pipeline folder)'}; "
        f"FLOPs are known for {known} (add a row to paramcheck.compute.recipes.DEFAULTS)"
    )


def workload_for(source: ModelSource, overrides: Mapping[str, int | bool | str]) -> Workload:
    """The model's defaults row with ``overrides`` (``Workload`` field -> value) in place."""
    return defaults_for(source).with_values(overrides)
