"""Check a homework notebook before submitting it (Colab or JupyterLab; nbgrader is not needed).

Taught in ``01_hw0_warmup`` ("Before you submit"). Two checks:

- :func:`protected_cell_problems` -- test cells and other locked cells carry a checksum (nbgrader's)
  in their metadata; a cell whose checksum no longer matches was edited, a grade id that appears
  twice was copied, and, given the released notebook, a missing grade id was deleted. The
  autograder puts the original test cells back either way, but a student should know.
- :func:`run_visible_tests` -- runs the whole notebook in a fresh kernel (like *Restart and Run All*)
  and reports, for every test cell, whether its visible checks pass.

From a notebook cell (save the notebook first)::

    from course_utils.submit_check import check_before_submit
    check_before_submit("01_hw0_warmup.ipynb")

or from a terminal: ``python -m course_utils.submit_check 01_hw0_warmup.ipynb``.

Example:
    >>> cell = {"cell_type": "code", "source": "assert 1 + 1 == 2", "metadata": {"nbgrader": {
    ...     "grade": True, "grade_id": "t", "locked": True, "points": 1, "solution": False}}}
    >>> cell["metadata"]["nbgrader"]["checksum"] = cell_checksum(cell)
    >>> protected_cell_problems({"cells": [cell]})
    []
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

__all__ = ["cell_checksum", "protected_cell_problems", "run_visible_tests", "check_before_submit"]


def cell_source(cell: dict) -> str:
    """A notebook cell's source as one string (nbformat stores a string or a list of lines)."""
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else str(s)


def nbgrader_meta(cell: dict) -> dict:
    """A cell's nbgrader metadata, or {} when it has none (or it is malformed)."""
    md = cell.get("metadata") or {}
    n = md.get("nbgrader") if isinstance(md, dict) else None
    return n if isinstance(n, dict) else {}


def cell_checksum(cell: dict) -> str:
    """nbgrader's checksum of a cell (``nbgrader.utils.compute_checksum``): md5 of source, type, flags, points.

    Example:
        >>> cell_checksum({"cell_type": "code", "source": "x = 1", "metadata": {"nbgrader": {"grade_id": "a",
        ...     "solution": True}}})
        '3952363144b9625d080fedd1f7d073ce'
    """
    n = nbgrader_meta(cell)
    grade, solution = bool(n.get("grade", False)), bool(n.get("solution", False))
    locked = False if solution else (True if grade else bool(n.get("locked", False)))
    m = hashlib.md5()
    for part in (cell_source(cell), cell.get("cell_type", ""), str(n.get("grade", False)), str(n.get("solution", False)),
                 str(locked), n.get("grade_id", "")):
        m.update(str(part).encode("utf-8"))
    if grade:
        m.update(str(float(n.get("points", 0))).encode("utf-8"))
    return m.hexdigest()


def protected_cell_problems(nb: dict, release: dict | None = None) -> list[str]:
    """Warnings about edited, copied or (given the released notebook) deleted protected cells."""
    problems, seen = [], {}
    for i, cell in enumerate(nb.get("cells", []), 1):
        n = nbgrader_meta(cell)
        gid = n.get("grade_id")
        if not gid:
            continue
        seen[gid] = seen.get(gid, 0) + 1
        if seen[gid] == 2:
            problems.append(f"cell {i} ({gid}) is a copy of another cell: delete the copy")
        locked = n.get("locked") or (n.get("grade") and not n.get("solution"))
        if locked and n.get("checksum") and n["checksum"] != cell_checksum(cell):
            problems.append(f"cell {i} ({gid}) is protected but was edited: the grader uses the original")
    ids = [c.get("id") for c in nb.get("cells", []) if c.get("id")]
    if len(ids) != len(set(ids)):
        problems.append("some cells share the same id (copied cells): delete the copies")
    if release is not None:
        for cell in release.get("cells", []):
            gid = nbgrader_meta(cell).get("grade_id")
            if gid and gid not in seen:
                problems.append(f"the cell {gid} of the released notebook is missing (deleted?)")
    return problems


def run_visible_tests(path: str | Path, timeout: int = 300) -> list[tuple[str, float, str | None]]:
    """Run the notebook in a fresh kernel; (grade_id, points, error or None) for every test cell."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    client = NotebookClient(nb, timeout=timeout, allow_errors=True, kernel_name="python3",
                            resources={"metadata": {"path": str(Path(path).resolve().parent)}})
    client.execute()
    out = []
    for cell in nb.cells:
        n = nbgrader_meta(cell)
        if cell.cell_type == "code" and n.get("grade") and not n.get("solution"):
            err = next((f"{o.get('ename')}: {o.get('evalue')}" for o in cell.get("outputs", [])
                        if o.get("output_type") == "error"), None)
            out.append((n.get("grade_id", "?"), float(n.get("points", 0)), err))
    return out


def check_before_submit(path: str | Path, release: str | Path | None = None, run: bool = True) -> bool:
    """Print the protected-cell warnings and the visible-test results; True when all is well."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    rel = json.loads(Path(release).read_text(encoding="utf-8")) if release else None
    problems = protected_cell_problems(nb, rel)
    for p in problems:
        print("WARNING:", p)
    ok = not problems
    if run:
        results = run_visible_tests(path)
        got = sum(p for _, p, e in results if e is None)
        for gid, pts, err in results:
            print(f"{'PASS' if err is None else 'FAIL'}  {gid} ({pts:g} pt){'' if err is None else ': ' + err}")
        print(f"Visible tests: {got:g} / {sum(p for _, p, _ in results):g} points "
              "(the grader also runs hidden tests)")
        ok = ok and all(e is None for _, _, e in results)
    print("Ready to submit." if ok else "Fix the problems above before submitting.")
    return ok


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="Check a homework notebook before submitting it.")
    ap.add_argument("notebook")
    ap.add_argument("--release", help="the notebook as released, to detect deleted cells")
    ap.add_argument("--no-run", action="store_true", help="only check the protected cells")
    a = ap.parse_args()
    sys.exit(0 if check_before_submit(a.notebook, a.release, not a.no_run) else 1)
