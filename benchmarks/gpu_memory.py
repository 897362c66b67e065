"""Measured against predicted memory on a GPU: materialize a component in bf16, save it, load it back.

    python -m benchmarks.gpu_memory [--model flux.1-dev] [--component transformer] [--dtype bf16]
                                    [--workdir /tmp/paramcheck-gpu] [--output result.json]

Needs CUDA. Steps, each measured by paramcheck.load (CUDA allocator figures, wall time):
1. materialize: random weights built from the bundled config straight on cuda:0 at --dtype;
2. save_pretrained of that module to --workdir (safetensors), then a from_pretrained load of it onto cuda:0.
Prints predicted bytes, allocated bytes and their ratio for both, and the load times. The saved file is read back
while it is still in the host page cache: the load time is a warm-cache figure.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import time
from pathlib import Path

import torch

from paramcheck.load import LoadResult, load_component
from paramcheck.sources import read_folder, resolve


def _row(label: str, r: LoadResult) -> dict[str, object]:
    allocated = r.cuda_allocated
    return {
        "step": label,
        "device": torch.cuda.get_device_name(0),
        "parameters": r.counts.parameters,
        "predicted_bytes": r.predicted_bytes,
        "cuda_allocated_bytes": allocated,
        "cuda_reserved_bytes": sum(d.reserved for d in r.cuda),
        "cuda_peak_allocated_bytes": sum(d.peak_allocated for d in r.cuda),
        "allocated_over_predicted": allocated / r.predicted_bytes,
        "seconds": r.seconds,
        "mismatches": list(r.mismatches),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="flux.1-dev")
    parser.add_argument("--component", default="transformer")
    parser.add_argument("--dtype", default="bf16")
    parser.add_argument("--workdir", default="/tmp/paramcheck-gpu")
    parser.add_argument("--output")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("benchmarks.gpu_memory: needs CUDA; run it on a GPU machine")

    spec = resolve(args.model).component(args.component)
    rows = []
    result, module = load_component(spec, device="cuda", dtype=args.dtype, materialize=True)
    rows.append(_row("materialize", result))

    workdir = Path(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    target = workdir / args.component
    start = time.perf_counter()
    module.save_pretrained(target)
    save_seconds = time.perf_counter() - start
    del module
    gc.collect()
    torch.cuda.empty_cache()
    saved = read_folder(target).components[0]
    result, module = load_component(saved, device="cuda", dtype=args.dtype)
    rows.append(_row("from_pretrained (warm page cache)", result))
    del module
    shutil.rmtree(workdir, ignore_errors=True)

    print(f"{args.model} {args.component} in {args.dtype} on {torch.cuda.get_device_name(0)}")
    print(f"{'step':36}{'predicted GB':>14}{'allocated GB':>14}{'ratio':>10}{'seconds':>10}")
    for row in rows:
        print(
            f"{row['step']:36}{row['predicted_bytes'] / 1e9:>14.3f}{row['cuda_allocated_bytes'] / 1e9:>14.3f}"
            f"{row['allocated_over_predicted']:>10.5f}{row['seconds']:>10.2f}"
        )
    print(f"save_pretrained: {save_seconds:.1f} s")
    if args.output:
        payload = {"rows": rows, "save_seconds": save_seconds, "torch": torch.__version__}
        Path(args.output).write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
