"""Helpers for tests that run nbgrader for real in a scratch course folder.

A :class:`Course` is a temporary nbgrader course root with a copy of ``solutions/``;
its methods run the real ``nbgrader`` commands (generate_assignment, validate,
autograde) through the course's configuration and read scores back from the
gradebook. Graded-homework tests use it like this::

    course = Course(tmp_path)
    release = course.release("04_hw1_layer_sizes")          # path of the released notebook(s)
    course.submit("alice", "04_hw1_layer_sizes", {"04_hw1_layer_sizes.ipynb": some_notebook_path})
    course.autograde("04_hw1_layer_sizes")
    cells = course.cell_scores("04_hw1_layer_sizes", "alice")   # {grade_id: (score, max)}
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from course_utils.nbcells import cell_kind, cell_source, grade_id, points

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"
RELEASED = REPO / "notebooks"


def make(*args: str, env: dict | None = None) -> str:
    """Run a course command (``make grade ...``) as a TA does, without re-checking the installation;
    fail with its output unless it succeeds; return that output."""
    run = subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.course-installed", *args],
        cwd=REPO,
        text=True,
        capture_output=True,
        env=dict(os.environ, **(env or {})),
        timeout=900,
    )
    assert run.returncode == 0, f"make {' '.join(args)} failed:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    return run.stdout + run.stderr


def graded_assignments() -> list[str]:
    """Assignments in solutions/ with at least one autograded test cell."""
    out = []
    for d in sorted(p for p in SOLUTIONS.iterdir() if p.is_dir()):
        for nb_path in d.glob("*.ipynb"):
            nb = nbformat.read(nb_path, as_version=4)
            if any(c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code" for c in nb.cells):
                out.append(d.name)
                break
    return out


def autograded_cells(nb_path: Path) -> dict[str, float]:
    """{grade_id: points} of the autograded (code test) cells of a notebook."""
    nb = nbformat.read(nb_path, as_version=4)
    return {
        c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"].get("points", 0))
        for c in nb.cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
    }


class Course:
    """A scratch nbgrader course root: ``root/solutions``, ``root/notebooks``, ``root/autograde/...``."""

    def __init__(self, root: Path, assignments: list[str] | None = None):
        self.root = Path(root)
        names = assignments or [p.name for p in SOLUTIONS.iterdir() if p.is_dir()]
        for name in names:
            shutil.copytree(
                SOLUTIONS / name,
                self.root / "solutions" / name,
                ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
            )
        (self.root / "autograde").mkdir(parents=True, exist_ok=True)
        self.env = dict(
            os.environ,
            COURSE_NBGRADER_ROOT=str(self.root),
            PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        )

    def nbgrader(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        """Run ``nbgrader ARGS`` from the repository root (so the course config applies) on this root."""
        r = subprocess.run(
            [sys.executable, "-m", "nbgrader", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and r.returncode != 0:
            raise AssertionError(f"nbgrader {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
        return r

    def release(self, assignment: str) -> Path:
        """``nbgrader generate_assignment``; return the released assignment folder."""
        self.nbgrader("generate_assignment", assignment, "--force")
        return self.root / "notebooks" / assignment

    def validate(self, nb_path: Path, invert: bool = False) -> tuple[bool, str]:
        """``nbgrader validate [--invert]``; (passed, output). nbgrader's exit status does not tell
        (jupyter/nbgrader#1908), so its report is read instead."""
        args = ["validate", str(nb_path)] + (["--invert"] if invert else [])
        r = self.nbgrader(*args, check=False)
        out = r.stdout + r.stderr
        if invert:
            passed = "Success!" in out and "NOTEBOOK PASSED ON" not in out
        else:
            passed = "Success! Your notebook passes all the tests." in out
        return passed, out

    def submit(self, student: str, assignment: str, notebooks: dict[str, Path | nbformat.NotebookNode]) -> Path:
        """Place a submission in ``autograde/submitted/STUDENT/ASSIGNMENT/``."""
        dest = self.root / "autograde" / "submitted" / student / assignment
        dest.mkdir(parents=True, exist_ok=True)
        for name, nb in notebooks.items():
            if isinstance(nb, (str, Path)):
                shutil.copy(nb, dest / name)
            else:
                nbformat.write(nb, dest / name)
        return dest

    def autograde(self, assignment: str, *extra: str) -> subprocess.CompletedProcess:
        """``nbgrader autograde ASSIGNMENT --force`` (every submitted student)."""
        return self.nbgrader("autograde", assignment, "--force", *extra)

    def cell_scores(self, assignment: str, student: str) -> dict[str, tuple[float, float]]:
        """{grade_id: (score, max_score)} of the autograded cells, read from the gradebook."""
        from nbgrader.api import Gradebook

        url = "sqlite:///" + str(self.root / "autograde" / "gradebook.db")
        out: dict[str, tuple[float, float]] = {}
        with Gradebook(url) as gb:
            sub = gb.find_submission(assignment, student)
            for nb in sub.notebooks:
                for g in nb.grades:
                    if g.auto_score is not None or g.cell.cell_type == "code":
                        out[g.name] = (float(g.score), float(g.max_score))
        return out


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def deserved(source: dict, unsolved: set[str]) -> float:
    """Autograded points of the tests whose code names nothing defined by an ``unsolved`` cell."""
    names: dict[str, list[str]] = {}
    total = 0.0
    for c in source["cells"]:
        kind, src = cell_kind(c), cell_source(c)
        if kind == "solution" and c["cell_type"] == "code":
            names[grade_id(c)] = [a or b for a, b in re.findall(r"^(?:def|class) (\w+)|^(\w+) =", src, re.M)]
        elif kind == "test":
            broken = any(re.search(rf"\b{n}\b", src) for g in unsolved for n in names.get(g, []))
            total += 0 if broken else points(c)
    return total
