"""How fast is `paramcheck report flux.1-dev --json` against its floor and its peers?

    python -m benchmarks.report_speed [--model flux.1-dev] [--repeats 3]

Measured in one run, each as a fresh process (median wall time, peak RSS):
- the import floor: importing torch and exactly the classes the model names;
- paramcheck: the whole `paramcheck report MODEL --json` process;
- torchinfo.summary and fvcore.parameter_count_table on the same meta-built modules (their totals are printed too,
  next to paramcheck's, so a difference from the checkpoint shows).
Targets (issue 2): paramcheck within 1.3x the import floor, peak RSS under 1 GB.
"""

from __future__ import annotations

import argparse
import json
import sys

from benchmarks._measure import python, run

IMPORT_FLOOR = """
import importlib, json, sys
import torch
from paramcheck.sources import resolve
source = resolve({model!r})
for spec in source.components:
    if spec.library and spec.class_name:
        getattr(importlib.import_module(spec.library), spec.class_name)
"""

PEER = """
import json
from paramcheck.build import build_model
from paramcheck.sources import resolve
built = build_model(resolve({model!r}))
totals = {{}}
for name, module in built.modules.items():
    if module is None:
        continue
{body}
print(json.dumps(totals))
"""

TORCHINFO = """    import torchinfo
    totals[name] = torchinfo.summary(module, verbose=0, depth=2).total_params
"""

FVCORE = """    from fvcore.nn import parameter_count, parameter_count_table
    parameter_count_table(module, max_depth=2)
    totals[name] = parameter_count(module)[""]
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="flux.1-dev")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    floor = run("import floor", python(IMPORT_FLOOR.format(model=args.model)), repeats=args.repeats)
    ours = run(
        "paramcheck report --json",
        [sys.executable, "-m", "paramcheck", "report", args.model, "--json"],
        repeats=args.repeats,
    )
    torchinfo = run("torchinfo.summary", python(PEER.format(model=args.model, body=TORCHINFO)), repeats=args.repeats)
    fvcore = run(
        "fvcore.parameter_count_table", python(PEER.format(model=args.model, body=FVCORE)), repeats=args.repeats
    )

    print(f"model: {args.model}   (median of {args.repeats} fresh processes each)")
    print(f"{'':32}{'seconds':>10}{'x floor':>10}{'peak RSS MiB':>15}")
    for m in (floor, ours, torchinfo, fvcore):
        print(f"{m.label:32}{m.seconds:>10.2f}{m.seconds / floor.seconds:>10.2f}{m.peak_rss_mb:>15.0f}")
    ratio = ours.seconds / floor.seconds
    print(f"target: paramcheck within 1.3x the import floor -> {ratio:.2f}x {'PASS' if ratio <= 1.3 else 'MISS'}")
    print(f"target: peak RSS under 1 GB -> {ours.peak_rss_mb:.0f} MiB {'PASS' if ours.peak_rss_mb < 1000 else 'MISS'}")

    report = json.loads(ours.output)["report"]
    stored = {c["name"]: (c["parameters"], c["stored"]) for c in report["components"] if c["parameters"]}
    peers = {"torchinfo": json.loads(torchinfo.output), "fvcore": json.loads(fvcore.output)}
    print("\ntotals per component (paramcheck parameters / checkpoint-stored elements vs the peers):")
    print(f"{'component':18}{'paramcheck':>16}{'stored':>16}{'torchinfo':>16}{'fvcore':>16}")
    for name, (params, kept) in stored.items():
        row = [peers[p].get(name) for p in ("torchinfo", "fvcore")]
        print(f"{name:18}{params:>16,}{kept:>16,}" + "".join(f"{v:>16,}" for v in row))
        for peer, value in zip(("torchinfo", "fvcore"), row, strict=True):
            if value is not None and value != params:
                print(f"  note: {peer} counts {value - params:+,} against paramcheck for {name}")


if __name__ == "__main__":
    main()
