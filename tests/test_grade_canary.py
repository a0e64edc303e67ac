"""The canary: before any student, the instructor's solution is graded in the same sandbox; a broken
grader grades no one, and a process checks each batch key once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autograde import grade as G
from autograde.mock_submissions import filled, load

REPO = Path(__file__).resolve().parent.parent


def test_a_broken_grader_grades_no_one(tmp_path):
    """The solution needs a module the sandbox cannot see (it lies in the instructor's folder only): the
    canary fails and the batch stops before any grade is written."""
    import shutil

    sols = tmp_path / "solutions"
    shutil.copytree(REPO / "solutions" / "01_hw0_warmup", sols / "01_hw0_warmup")
    (sols / "01_hw0_warmup" / "helper_only_here.py").write_text("X = 1\n")
    p = sols / "01_hw0_warmup" / "01_hw0_warmup.ipynb"
    nb = json.loads(p.read_text())
    for c in nb["cells"]:
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "relu_impl":
            c["source"] = ["import helper_only_here\n"] + c["source"]
    p.write_text(json.dumps(nb))
    source, release = load("01_hw0_warmup")
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "full.ipynb").write_text(json.dumps(filled(source, release)))
    with pytest.raises(G.CanaryFailed, match="instructor's solution.*helper_only_here"):
        G.grade("01_hw0_warmup", tmp_path / "subs", out=tmp_path / "out", workers=1, quiet=True, solutions=sols)
    assert not (tmp_path / "out" / "grades_01_hw0_warmup.csv").exists()
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///" + str(tmp_path / "out" / "gradebook.db")) as gb:
        assert gb.assignment_submissions("01_hw0_warmup") == []


def test_the_canary_is_checked_once_per_batch_key(tmp_path):
    """A long-lived process (a Dask worker, a test run) grades the solution once per batch key; a key
    whose canary failed, another solution, sandbox or limit is checked again."""
    import dataclasses

    from autograde.job import prepare
    from autograde.report import Result
    from autograde.worker import batch_key, canary

    a = prepare("01_hw0_warmup", "sqlite:///" + str(tmp_path / "gb.db"))

    class Solver:  # grades the solution: every point, or none when broken
        def __init__(self):
            self.graded, self.broken, self.log = 0, False, tmp_path / "log"

        def grade(self, sub):
            self.graded += 1
            return Result(
                sub.student, sub.origin, scores={g: 0.0 if self.broken else a.cells[g].points for g in a.tests}
            )

    w, key = Solver(), batch_key(a, "bwrap", {"cell": 60}, None, False)
    w.broken = True
    with pytest.raises(G.CanaryFailed):
        canary(w, a, key)
    w.broken = False
    canary(w, a, key)
    canary(w, a, key)
    assert w.graded == 2  # the failed check counted for nothing; the passed one is kept
    cell = next(iter(a.cells))
    other_solution = dataclasses.replace(a, cells={**a.cells, cell: dataclasses.replace(a.cells[cell], source="x")})
    others = [
        batch_key(other_solution, "bwrap", {"cell": 60}, None, False),
        batch_key(a, "podman", {"cell": 60}, None, False),
        batch_key(a, "bwrap", {"cell": 61}, None, False),
        batch_key(a, "bwrap", {"cell": 60}, None, True),
    ]
    assert len({key, *others}) == 5
    for k in others:
        canary(w, a, k)
    assert w.graded == 6
    canary(w, a)  # without a key: always
    assert w.graded == 7
