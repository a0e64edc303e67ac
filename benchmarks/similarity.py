"""Time of the similarity report (``make similarity``) on a generated class.

Generates N submissions of an assignment: each student solves most exercises from the solution, changed
in their own way (numbers, extra lines, some exercises left out), and writes an answer of their own; a few
pairs hand in the same notebook with its variables renamed. Then runs the report as ``make similarity``
does (collect, fingerprints, every pair, CSV and pages) and prints the seconds it took, and again with
``--common`` so high that no passage is dropped as common (every pair sharing the solution is compared
in full: the slowest case). The load average is printed with it (the machine may be shared).

    python benchmarks/similarity.py                    # 200 submissions of HW1
    python benchmarks/similarity.py 01_hw0_warmup -n 500

Results are also written to benchmarks/results/similarity.json.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograde import similarity_page  # noqa: E402
from autograde.mock_submissions import filled, load, solution_code  # noqa: E402

WORDS = (
    "the layer kernel stride padding output channel parameter bias batch norm shortcut convolution table "
    "slide count missing adds every first block input size weight running mean variance projection because "
    "since which each model network number total difference torchvision resnet downsample learned buffer"
).split()


def _own(code: str, rng: random.Random) -> str:
    """The solution as one student writes it: other numbers here and there, a line of their own."""
    out = []
    for line in code.split("\n"):
        line = re.sub(r"\b\d+\b", lambda m: str(int(m.group()) + rng.choice([0, 0, 1, 2])), line)
        out.append(line)
        if line.strip() and rng.random() < 0.25:
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}check_{rng.randrange(10**6)} = {rng.randrange(1000)} * {rng.randrange(1000)}")
    return "\n".join(out)


def batch(assignment: str, folder: Path, n: int, copies: int = 5, seed: int = 0) -> None:
    """Write ``n`` submissions into ``folder``; the last ``2 * copies`` are pairs of one notebook."""
    source, release = load(assignment)
    sol = solution_code(source)
    rng = random.Random(seed)
    for i in range(n - 2 * copies):
        mine = {g: _own(s, rng) for g, s in sol.items() if rng.random() < 0.85}
        nb = filled(source, release, set(mine), mine)
        for c in nb["cells"]:
            if c["cell_type"] == "markdown" and c.get("metadata", {}).get("nbgrader", {}).get("solution"):
                c["source"] = " ".join(rng.choice(WORDS) for _ in range(80))
        (folder / f"student{i:03d}_{assignment}.ipynb").write_text(json.dumps(nb))
    for j in range(copies):
        nb = filled(source, release, None, {g: _own(s, rng) for g, s in sol.items()})
        other = copy.deepcopy(nb)
        for c in other["cells"]:
            if c["cell_type"] == "code":
                c["source"] = re.sub(r"\b(shape|rows|out|params|n|s|k|p|d|i)\b", r"\1_x", "".join(c["source"]))
        for k, x in enumerate((nb, other)):
            (folder / f"copy{j}{'ab'[k]}_{assignment}.ipynb").write_text(json.dumps(x))


def _run(assignment: str, subs: Path, out: Path, extra: list[str]) -> tuple[float, str]:
    t0 = time.monotonic()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        similarity_page.main([assignment, str(subs), "--out", str(out), *extra])
    return time.monotonic() - t0, buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("assignment", nargs="?", default="04_hw1_layer_sizes")
    p.add_argument("-n", type=int, default=200, help="submissions (default 200)")
    args = p.parse_args(argv)
    result = {"assignment": args.assignment, "n": args.n, "load_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="course-similarity-") as tmp:
        subs = Path(tmp) / "subs"
        subs.mkdir()
        batch(args.assignment, subs, args.n)
        for key, extra in (("default", []), ("nothing_common", ["--common", str(args.n)])):
            seconds, text = _run(args.assignment, subs, Path(tmp) / key, extra)
            top = [ln.split()[1:3] for ln in text.splitlines()[1:6] if ln.strip()[:1].isdigit()]
            result[key] = {"seconds": round(seconds, 2), "top5": top, "summary": text.strip().splitlines()[-3]}
            print(f"{key}: {seconds:.1f} s for {args.n} submissions; top pairs {top}")
            print(f"  {result[key]['summary']}")
    result["load_after"] = os.getloadavg()[0]
    print(f"load average {result['load_before']:.2f} before, {result['load_after']:.2f} after")
    (REPO / "benchmarks" / "results").mkdir(parents=True, exist_ok=True)
    (REPO / "benchmarks" / "results" / "similarity.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
