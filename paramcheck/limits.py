"""Documented limits on what paramcheck reads and builds, each raisable by an environment variable.

Files and configs come from other people (hub repositories, model folders from the internet). A limit keeps a
hostile or broken input from taking unbounded time or memory; it is checked *before* the work it bounds, and the
error names the limit and how to raise it.

- ``MAX_FILE_BYTES`` (``PARAMCHECK_MAX_FILE_BYTES``, 16 MiB): a small file read whole (config.json,
  model_index.json, pyproject.toml); refused unread when larger.
- ``MAX_JSON_DEPTH`` (``PARAMCHECK_MAX_JSON_DEPTH``, 100): nesting of arrays and objects in such a file.
- ``MAX_LAYERS`` (``PARAMCHECK_MAX_LAYERS``, 1,000): a layer count in a config (``num_layers``, ``depth``,
  ``layers_per_block``, ...) and the length of any list in it (block types, channels per block): what the model
  classes loop over while they build.

Sizes of one generation call (``report --flops/--memory``, ``compute.analyse``): the FLOP count runs on meta
tensors, but a few inputs are real CPU tensors (masks whose lengths a model reads) and every size multiplies the
arithmetic, so each has a bound, checked before anything is built:

- ``MAX_PROMPT_LENGTH`` (``PARAMCHECK_MAX_PROMPT_LENGTH``, 65,536 tokens): ``--prompt-length``.
- ``MAX_BATCH`` (``PARAMCHECK_MAX_BATCH``, 1,024): ``--batch``.
- ``MAX_IMAGE_SIDE`` (``PARAMCHECK_MAX_IMAGE_SIDE``, 16,384 pixels): ``--height`` and ``--width``.
- ``MAX_FRAMES`` (``PARAMCHECK_MAX_FRAMES``, 10,000): ``--frames``.
- ``MAX_STEPS`` (``PARAMCHECK_MAX_STEPS``, 100,000): ``--steps``.
- ``MAX_INPUT_ELEMENTS`` (``PARAMCHECK_MAX_INPUT_ELEMENTS``, 16,777,216): elements of one real CPU input tensor
  (batch x tokens of a mask: 128 MiB as int64).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import ConfigError

__all__ = [
    "MAX_BATCH",
    "MAX_FILE_BYTES",
    "MAX_FRAMES",
    "MAX_IMAGE_SIDE",
    "MAX_INPUT_ELEMENTS",
    "MAX_JSON_DEPTH",
    "MAX_LAYERS",
    "MAX_PROMPT_LENGTH",
    "MAX_STEPS",
    "WORKLOAD_LIMITS",
    "Limit",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Limit:
    """A bound with its default and the environment variable that raises it."""

    what: str  # e.g. "layers", for messages: "exceeds the limit of 1,000 layers"
    variable: str
    default: int

    def value(self) -> int:
        """The limit in force: the environment variable when set (a positive integer), else the default."""
        raw = os.environ.get(self.variable)
        if raw is None or not raw.strip():
            return self.default
        try:
            value = int(raw.strip().replace("_", ""))
        except ValueError:
            value = 0
        if value < 1:
            raise ConfigError(f"{self.variable}={raw!r}: not a positive integer; set it to e.g. {self.default}")
        return value

    def exceeded(self, found: str) -> str:
        """The end of an error message: ``<found> exceeds the limit of N <what>; raise it with VAR=N``."""
        limit = self.value()
        return f"{found} exceeds the limit of {limit:,} {self.what}; raise it with {self.variable}={limit * 10}"


MAX_FILE_BYTES = Limit(what="bytes for a file read whole", variable="PARAMCHECK_MAX_FILE_BYTES", default=16 << 20)
MAX_JSON_DEPTH = Limit(what="levels of nesting", variable="PARAMCHECK_MAX_JSON_DEPTH", default=100)
MAX_LAYERS = Limit(what="layers or list items", variable="PARAMCHECK_MAX_LAYERS", default=1_000)
MAX_PROMPT_LENGTH = Limit(what="prompt tokens", variable="PARAMCHECK_MAX_PROMPT_LENGTH", default=65_536)
MAX_BATCH = Limit(what="images per call", variable="PARAMCHECK_MAX_BATCH", default=1_024)
MAX_IMAGE_SIDE = Limit(what="pixels a side", variable="PARAMCHECK_MAX_IMAGE_SIDE", default=16_384)
MAX_FRAMES = Limit(what="frames", variable="PARAMCHECK_MAX_FRAMES", default=10_000)
MAX_STEPS = Limit(what="denoising steps", variable="PARAMCHECK_MAX_STEPS", default=100_000)
MAX_INPUT_ELEMENTS = Limit(what="elements", variable="PARAMCHECK_MAX_INPUT_ELEMENTS", default=1 << 24)

# the workload field each size limit bounds (``compute.workload.Workload``; the CLI option is --<field with dashes>)
WORKLOAD_LIMITS = {
    "height": MAX_IMAGE_SIDE,
    "width": MAX_IMAGE_SIDE,
    "steps": MAX_STEPS,
    "prompt_length": MAX_PROMPT_LENGTH,
    "batch": MAX_BATCH,
    "frames": MAX_FRAMES,
}
