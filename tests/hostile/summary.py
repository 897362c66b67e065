"""Summarize a corpus run: ``PARAMCHECK_HOSTILE_LOG=log.jsonl pytest tests/hostile -n 2; python -m
tests.hostile.summary log.jsonl`` prints cases, passing, and failing cases by class and by module (markdown)."""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

# a failing case counts once, in the first class of this order that its problems show
ORDER = ("security", "lost", "traceback", "hang", "memory", "silent", "lines", "message", "stdout", "exit")
CLASS = {
    "security": "security",
    "lost": "lost data",
    "traceback": "traceback",
    "hang": "bounded work",
    "memory": "bounded work",
    "silent": "silent wrong",
    "lines": "error message",
    "message": "error message",
    "stdout": "error message",
    "exit": "error message",
}


def main(path: str) -> None:
    cases: dict[str, list[str]] = defaultdict(list)
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        cases[record["case"]] += record["problems"]
    by_class: Counter[str] = Counter()
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for case, found in cases.items():
        module = case.split("::")[0].rsplit("/", 1)[-1]
        tags = {p[1 : p.index("]")] for p in found if p.startswith("[")}
        primary = next((CLASS[t] for t in ORDER if t in tags), "pass")
        by_class[primary] += 1
        by_module[module][primary] += 1
    failing = sum(n for k, n in by_class.items() if k != "pass")
    print(f"{len(cases)} cases, {by_class['pass']} pass, {failing} fail\n")
    columns = ["pass", *dict.fromkeys(CLASS.values())]
    print("| module | cases | " + " | ".join(columns) + " |")
    print("|---|---:|" + "---:|" * len(columns))
    for module, counts in sorted(by_module.items()):
        row = [str(counts[c]) for c in columns]
        print(f"| {module} | {sum(counts.values())} | " + " | ".join(row) + " |")
    row = [str(by_class[c]) for c in columns]
    print(f"| **total** | {len(cases)} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
