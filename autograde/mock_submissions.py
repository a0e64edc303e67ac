"""Generated submissions for testing and benchmarking the grader (``autograde.grade``).

A *filled* notebook is the released notebook with some solution cells replaced by the instructor's
solution (markers removed): what a student who solved those exercises would hand in.

    python -m autograde.mock_submissions 01_hw0_warmup out/ 60     # 60 mixed submissions
"""

from __future__ import annotations

import copy
import json
import random
import sys
from pathlib import Path

from course_utils.nbcells import cell_kind, grade_id, strip_solution_markers
from course_utils.nbcells import cell_source as _src

REPO = Path(__file__).resolve().parent.parent


def load(assignment: str) -> tuple[dict, dict]:
    """(source notebook, released notebook) of an assignment, as JSON dicts."""
    name = f"{assignment}.ipynb"
    source = json.loads((REPO / "solutions" / assignment / name).read_text())
    release = json.loads((REPO / "notebooks" / assignment / name).read_text())
    return source, release


def solution_code(source: dict) -> dict[str, str]:
    """{grade_id: solution source without the BEGIN/END SOLUTION markers} of the solution code cells."""
    return {
        grade_id(c): strip_solution_markers(_src(c))
        for c in source["cells"]
        if cell_kind(c) == "solution" and c["cell_type"] == "code"
    }


def filled(source: dict, release: dict, fill: set[str] | None = None, replace: dict[str, str] | None = None) -> dict:
    """The release with the solution cells in ``fill`` (default: all) solved; ``replace`` overrides sources."""
    sol = solution_code(source)
    nb = copy.deepcopy(release)
    for c in nb["cells"]:
        gid = grade_id(c)
        if gid in (replace or {}):
            c["source"] = replace[gid]
        elif gid in sol and (fill is None or gid in fill):
            c["source"] = sol[gid]
    return nb


def points(source: dict) -> dict[str, float]:
    """{grade_id: points} of the autograded test cells."""
    return {
        c["metadata"]["nbgrader"]["grade_id"]: float(c["metadata"]["nbgrader"]["points"])
        for c in source["cells"]
        if c["cell_type"] == "code" and c.get("metadata", {}).get("nbgrader", {}).get("grade")
    }


def batch(assignment: str, folder: Path, n: int, seed: int = 0) -> dict[str, float]:
    """Write ``n`` submissions (a third full, a third partial, a third untouched); return expected totals.

    The expected total of a partial submission assumes each solution cell feeds the test cell that
    follows it (true of the course's homework).
    """
    source, release = load(assignment)
    sol = list(solution_code(source))
    rng = random.Random(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tests = points(source)
    order = [
        c["metadata"]["nbgrader"]["grade_id"]
        for c in source["cells"]
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    ]
    expected = {}
    for i in range(n):
        kind = i % 3
        fill = set(sol) if kind == 0 else set(rng.sample(sol, len(sol) // 2)) if kind == 1 else set()
        nb = filled(source, release, fill)
        name = f"student{i:03d}"
        (folder / f"{name}_{assignment}.ipynb").write_text(json.dumps(nb, indent=1))
        total, last_sol = 0.0, None
        for g in order:
            if g in sol:
                last_sol = g
            elif g in tests and last_sol in fill:
                total += tests[g]
        expected[name] = total
    return expected


if __name__ == "__main__":
    exp = batch(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]))
    print(json.dumps(exp))
