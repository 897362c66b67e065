"""Mutation score per module from the last ``mutmut run`` (``tox -e mutation``; docs/testing.md).

score = killed / (mutants run - equivalent): a mutant no test covers counts as a survivor, a timeout as killed (the
mutant made a test hang: the suite noticed). "run" of "of": how many of the module's mutants have a result (a sampled
run, benchmarks/mutation_sample.py, runs some of them). Equivalent mutants (the mutated code behaves the same) are
listed with their reason in ``benchmarks/mutation_equivalent.json`` ({"mutant name": "why it is equivalent"}) and
left out.

    python benchmarks/mutation_scores.py            # table of every module mutmut has results for
    python benchmarks/mutation_scores.py --survivors
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from mutmut.__main__ import SourceFileMutationData, walk_mutatable_files
from mutmut.stats import status_by_exit_code

EQUIVALENT = Path(__file__).with_name("mutation_equivalent.json")
KILLED = {"killed", "timeout", "caught by type check", "segfault"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--survivors", action="store_true", help="list the surviving mutants by name")
    args = parser.parse_args()
    equivalent: dict[str, str] = json.loads(EQUIVALENT.read_text()) if EQUIVALENT.is_file() else {}
    print(f"{'module':44} {'run':>5} {'of':>5} {'killed':>7} {'survived':>9} {'equiv.':>7} {'score':>7}")
    survivors: list[str] = []
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        if not (Path("mutants") / f"{path}.meta").exists():
            continue
        data.load()
        statuses = {name: status_by_exit_code[code] for name, code in data.exit_code_by_key.items()}
        checked = {n: s for n, s in statuses.items() if s != "not checked"}
        if not checked:
            continue
        counts = Counter(
            "equivalent" if n in equivalent else ("killed" if s in KILLED else "survived") for n, s in checked.items()
        )
        survivors += [n for n, s in checked.items() if s not in KILLED and n not in equivalent]
        scored = counts["killed"] + counts["survived"]
        score = f"{100 * counts['killed'] / scored:.1f}%" if scored else "-"
        print(
            f"{path!s:44} {len(checked):5} {len(statuses):5} {counts['killed']:7} {counts['survived']:9} "
            f"{counts['equivalent']:7} {score:>7}"
        )
    if args.survivors:
        print("\n".join(sorted(survivors)))


if __name__ == "__main__":
    main()
