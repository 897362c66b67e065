"""A reproducible random sample of the mutants mutmut generated, for a run that fits in minutes (docs/testing.md).

Every mutant of a module with at most ``--per-module`` mutants is taken; a larger module gives a random sample of
that size: the first names of a seeded shuffle (``random.Random(seed)`` over the sorted names), so one seed names the
same mutants on every machine and a smaller sample is part of a larger one.
The score of a sampled module is then an estimate of the whole module's score.

    python -m mutmut run "paramcheck.compute.ops*"  # once, if mutants/ does not exist yet: generates every mutant
    python -m mutmut run $(python benchmarks/mutation_sample.py --per-module 60)
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path


def sample(mutants: Path, per_module: int, seed: int) -> list[str]:
    """The sampled mutant names, module by module, read from mutmut's ``mutants/**/*.meta`` files."""
    names: list[str] = []
    for meta in sorted(mutants.rglob("*.py.meta")):
        keys = sorted(json.loads(meta.read_text())["exit_code_by_key"])
        random.Random(seed).shuffle(keys)
        names += sorted(keys[:per_module])
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-module", type=int, default=60, help="mutants sampled from each larger module")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mutants", type=Path, default=Path("mutants"), help="mutmut's folder")
    args = parser.parse_args()
    if not args.mutants.is_dir():
        parser.error(f"{args.mutants}: no such folder; generate the mutants first (see this script's help)")
    print("\n".join(sample(args.mutants, args.per_module, args.seed)))


if __name__ == "__main__":
    main()
