"""``paramcheck check`` against ``from_pretrained(..., output_loading_info=True)`` on a bigger corpus than CI runs.

    PYTHONPATH=. python benchmarks/loader_agreement.py [--out DIR] [--only SUBSTRING] [--markdown TABLE.md]

Every tiny model of tests/test_loaders.py is saved by the installed library in 4 layouts (single, sharded, fp16
variant, sharded fp16 variant), and its single file mutated every way the tests know (a dropped tensor, a transposed
shape, a renamed key, a dropped untied head, the buffers older libraries stored, diffusers' old attention names).
For each folder: the loader's verdict (missing, unexpected, mismatched, whether a default load raises) and
paramcheck's, and whether they agree. Exit 1 on any disagreement.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_loaders import (  # noqa: E402 - the repository root first
    MODELS,
    MUTATIONS,
    Lists,
    load_class,
    loader_lists,
    paramcheck_lists,
    read_all,
    rewrite,
    save,
)

LAYOUTS = ("single", "sharded", "fp16", "sharded-fp16")


def short(lists: Lists) -> str:
    if lists.ok:
        return "OK"
    parts = [
        f"{kind} {len(names)}"
        for kind, names in (
            ("missing", lists.missing),
            ("unexpected", lists.unexpected),
            ("mismatched", lists.mismatched),
        )
        if names
    ]
    return ", ".join(parts + (["raises"] if lists.raises else []))


def cases(out: Path, only: str | None) -> list[tuple[str, str, str, Path]]:
    """(model, layout, mutation, folder) for every case written."""
    written = []
    for model, tiny in MODELS.items():
        if only and only not in model:
            continue
        module = tiny.build()
        for layout in LAYOUTS:
            folder = out / f"{model}__{layout}"
            save(module, folder, layout)
            written.append((model, layout, "none", folder))
        for mutation, mutate in MUTATIONS.items():
            folder = out / f"{model}__single__{mutation}"
            save(module, folder, "single")
            tensors = read_all(folder)
            before = {k: tuple(v.shape) for k, v in tensors.items()}
            try:
                mutate(tensors)
            except (StopIteration, IndexError):
                continue  # nothing to mutate that way (no head, no 2-D tensor)
            if {k: tuple(v.shape) for k, v in tensors.items()} == before:
                continue  # nothing of that kind in this model (no old buffers, no old attention names)
            rewrite(folder, tensors)
            written.append((model, "single", mutation, folder))
    return written


def main(argv: list[str] | None = None) -> int:
    from paramcheck.build import quiet
    from paramcheck.checkpoint.check import check_checkpoint

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="where to write the corpus (default: a temporary folder)")
    parser.add_argument("--only", help="only models whose name contains this")
    parser.add_argument("--markdown", type=Path, help="write the table here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        start = time.perf_counter()
        with quiet():
            written = cases(out, args.only)
        rows = ["| model | layout | mutation | paramcheck | from_pretrained | agree |", "|---|---|---|---|---|---|"]
        disagreements = 0
        for model, layout, mutation, folder in written:
            library, cls_name = load_class(model, folder)
            with quiet():
                want = loader_lists(library, cls_name, folder, "fp16" if layout.endswith("fp16") else None)
            try:
                (check,) = check_checkpoint(folder).components
                got, text = paramcheck_lists(check), short(paramcheck_lists(check))
            except Exception as e:
                traceback.print_exc()
                got, text = None, f"crash: {type(e).__name__}"
            agree = got == want
            disagreements += not agree
            rows.append(f"| {model} | {layout} | {mutation} | {text} | {short(want)} | {'yes' if agree else 'NO'} |")
            print(rows[-1], flush=True)
        seconds = time.perf_counter() - start
    summary = f"{len(written)} folders, {disagreements} disagreements, {seconds:.0f} s"
    print(summary)
    if args.markdown:
        args.markdown.write_text("\n".join([*rows, "", summary, ""]), encoding="utf-8")
    return 1 if disagreements else 0


if __name__ == "__main__":
    raise SystemExit(main())
