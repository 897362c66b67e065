"""Header-only checkpoint reading vs safetensors' own loaders, on a sparse 24 GB FLUX-transformer-shaped file.

    python benchmarks/checkpoint_header.py [--dir DIR] [--repeats N] [--dtype BF16|F8_E4M3]

The file gets a real header (every tensor of FluxTransformer2DModel with FLUX.1-dev's config, bf16) and is then
``truncate``d to its full size: sparse, so it takes a few KB of disk; it is deleted at the end. Each method runs in
its own child process; wall time and peak RSS (the child's ``VmHWM``) are of that child. Reading a hole costs no disk
I/O and maps shared zero pages, so the loaders' times and RSS are lower bounds for a real file; the last row copies
every tensor into RAM, as loading into a model does (skipped when the file does not fit in free memory).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# black-forest-labs/FLUX.1-dev transformer/config.json (the fields that shape the tensors)
FLUX_DEV = {
    "patch_size": 1,
    "in_channels": 64,
    "num_layers": 19,
    "num_single_layers": 38,
    "attention_head_dim": 128,
    "num_attention_heads": 24,
    "joint_attention_dim": 4096,
    "pooled_projection_dim": 768,
    "guidance_embeds": True,
    "axes_dims_rope": [16, 56, 56],
}

METHODS = {
    "python startup, no imports": "pass",
    "paramcheck read_header": (
        "import paramcheck.sources.headers as c\n"
        "h = c.read_header(PATH); print(len(h.tensors), sum(t.elements for t in h.tensors))"
    ),
    "import safetensors.torch only": "import safetensors.torch",
    "safe_open: keys + shapes": (
        "import math, safetensors, safetensors.torch\n"
        "with safetensors.safe_open(PATH, framework='pt') as f:\n"
        "    print(len(f.keys()), sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys()))"
    ),
    "safe_open: get_tensor each": (
        "import safetensors, safetensors.torch\n"
        "n = 0\n"
        "with safetensors.safe_open(PATH, framework='pt') as f:\n"
        "    for k in f.keys():\n"
        "        n += f.get_tensor(k).numel()\n"
        "print(n)"
    ),
    "safetensors.torch.load_file": (
        "import safetensors.torch\n"
        "sd = safetensors.torch.load_file(PATH); print(len(sd), sum(t.numel() for t in sd.values()))"
    ),
    "load_file + copy into RAM": (
        "import safetensors.torch\n"
        "sd = {k: v.clone() for k, v in safetensors.torch.load_file(PATH).items()}\n"
        "print(len(sd), sum(t.numel() for t in sd.values()))"
    ),
}
DTYPES = {"BF16": 2, "F8_E4M3": 1}  # bytes per element; F8_E4M3 makes a 12 GB file that load_file fits in 23 GB
HWM = "print(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')))"


def flux_header(dtype: str) -> tuple[bytes, int]:
    """The safetensors header of FLUX.1-dev's transformer in ``dtype``, and the size of its data section."""
    import torch
    from diffusers import FluxTransformer2DModel

    with torch.device("meta"):
        model = FluxTransformer2DModel(**FLUX_DEV)
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, tensor in sorted(model.state_dict().items()):
        size = tensor.numel() * DTYPES[dtype]
        header[name] = {"dtype": dtype, "shape": list(tensor.shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # safetensors pads its header to 8 bytes
    return raw, offset


def measure(code: str, path: Path, repeats: int) -> tuple[float, float, str]:
    """Median seconds, largest peak RSS (MiB) and output of ``repeats`` runs of ``code`` in a child python.

    Peak RSS is the child's own ``VmHWM`` at exit: ``ru_maxrss`` would carry over the parent's (torch-sized)
    resident set from before ``exec``.
    """
    argv = [sys.executable, "-c", f"PATH = {str(path)!r}\n{code}\n{HWM}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times, peaks, out = [], [], ""
    for _ in range(repeats):
        with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
            start = time.perf_counter()
            proc = subprocess.Popen(argv, stdout=stdout, stderr=stderr, env=env)
            _, status, _ = os.wait4(proc.pid, 0)
            times.append(time.perf_counter() - start)
            stdout.seek(0)
            stderr.seek(0)
            if os.waitstatus_to_exitcode(status) != 0:
                return float("nan"), float("nan"), "failed: " + stderr.read().decode(errors="replace")[-300:]
            *lines, hwm = stdout.read().decode().strip().splitlines()
            peaks.append(int(hwm) / 1024)  # KiB
            out = " ".join(lines)
    return statistics.median(times), max(peaks), out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()), help="where the sparse file goes")
    parser.add_argument("--repeats", type=int, default=5, help="runs of the header readers (loaders run once)")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="BF16", help="stored dtype (BF16: 23.8 GB)")
    parser.add_argument("--save-header", type=Path, help="write the header to this file and stop")
    parser.add_argument("--header", type=Path, help="use a header saved by --save-header (no diffusers needed)")
    args = parser.parse_args()
    if args.header is not None:
        raw = args.header.read_bytes()
        data_bytes = max(entry["data_offsets"][1] for k, entry in json.loads(raw).items() if k != "__metadata__")
    else:
        raw, data_bytes = flux_header(args.dtype)
    if args.save_header is not None:
        args.save_header.write_bytes(raw)
        return 0
    path = args.dir / "paramcheck-bench-flux-transformer.safetensors"
    try:
        with path.open("wb") as f:
            f.write(struct.pack("<Q", len(raw)) + raw)
        os.truncate(path, 8 + len(raw) + data_bytes)
        stat = path.stat()
        print(f"file: {path}")
        print(f"  size {stat.st_size / 1e9:.2f} GB, on disk {stat.st_blocks * 512 / 1e3:.0f} KB (sparse)")
        print(f"  header {len(raw):,} bytes, {raw.count(b'data_offsets'):,} tensors, {sys.version.split()[0]}")
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        available = 1024 * int(next(line.split()[1] for line in meminfo if line.startswith("MemAvailable")))
        rows = []
        for label, code in METHODS.items():
            loader = label.startswith(("safe_open: get_tensor", "safetensors.torch.load_file", "load_file"))
            if label == "load_file + copy into RAM" and available < 1.2 * stat.st_size:
                rows.append((label, float("nan"), float("nan"), f"skipped: {available / 2**30:.0f} GiB RAM free"))
                continue
            rows.append((label, *measure(code, path, 1 if loader else args.repeats)))
        print(f"\n{'method':<30} {'seconds':>9} {'peak RSS MiB':>13}  output")
        for label, seconds, rss, out in rows:
            print(f"{label:<30} {seconds:>9.3f} {rss:>13,.0f}  {out}")
        header = next(r for r in rows if r[0] == "paramcheck read_header")
        print("\nratios to paramcheck read_header (time, peak RSS):")
        for label, seconds, rss, _ in rows:
            if label != header[0] and seconds == seconds:  # not NaN
                print(f"  {label:<30} {seconds / header[1]:>8.1f}x {rss / header[2]:>8.1f}x")
    finally:
        path.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
