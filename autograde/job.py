"""Building a job: the assignment as the instructor wrote it, and one student's cells to run.

:func:`prepare` runs ``nbgrader generate_assignment`` (which fills the gradebook with the
assignment's cells and checksums) in a scratch course and reads back, per grade id, the
instructor's source and the released version. :func:`build_job` turns one submission into the
list of cells to run in notebook order: the student's code cells as they are, locked cells as
released, and the instructor's test cells (hidden tests included) where the submission has them;
deleted test cells are put back after the nearest earlier graded cell, edited ones replaced.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from autograde.release import nbgrader_env
from course_utils.nbcells import cell_checksum, cell_kind, cell_source, grade_id, points

REPO = Path(__file__).resolve().parent.parent


@dataclass
class GradedCell:
    grade_id: str
    kind: str  # "test", "solution", "written", "locked"
    points: float
    source: str  # instructor's version (hidden tests included)
    release: str  # what students got
    checksum: str | None


@dataclass
class Assignment:
    name: str
    notebook: str  # file name of the (single) notebook
    source_nb: dict
    release_nb: dict
    cells: dict[str, GradedCell]
    order: list[str]  # grade_ids in notebook order
    prelude: str  # the instructor's imports and locked cells: the test runner's set-up

    @property
    def tests(self) -> list[str]:
        return [g for g in self.order if self.cells[g].kind == "test"]

    @property
    def auto_points(self) -> float:
        return sum(self.cells[g].points for g in self.tests)

    @property
    def manual_points(self) -> float:
        return sum(c.points for c in self.cells.values() if c.kind == "written")


# (assignment, digest of its solution folder and nbgrader's config) -> (Assignment, the new sqlite
# gradebook generate_assignment left): a process that grades the same assignment into another new
# gradebook (a test run, a Dask worker) copies that file instead of running nbgrader again.
_prepared: dict[tuple[str, str], tuple[Assignment, bytes]] = {}
_IGNORE = (".ipynb_checkpoints", "__pycache__", "checkpoints", "data")


def _new_sqlite(db_url: str) -> Path | None:
    """The file of a ``sqlite:////absolute/path`` gradebook that does not exist yet, else None."""
    path = Path(db_url.removeprefix("sqlite:///")) if db_url.startswith("sqlite:///") else None
    return path if path is not None and path.is_absolute() and not path.exists() else None


def _solution_digest(folder: Path) -> str:
    """A digest of what ``generate_assignment`` reads: the solution folder and the course's nbgrader config."""
    h = hashlib.sha256()
    files = [p for p in sorted(folder.rglob("*")) if p.is_file() and not set(p.relative_to(folder).parts) & {*_IGNORE}]
    for p in [*files, REPO / "nbgrader_config.py", REPO / "autograde" / "nbgrader_config.py"]:
        h.update(str(p).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def prepare(name: str, db_url: str, solutions: Path = REPO / "solutions") -> Assignment:
    """Run ``nbgrader generate_assignment`` (fills the gradebook at ``db_url``) in a scratch course.

    Into a new sqlite gradebook, the second time in a process for the same solution and config, the
    file nbgrader wrote the first time is copied (what nbgrader would write again, but its times)."""
    key = (name, _solution_digest(solutions / name))
    fresh = _new_sqlite(db_url)
    if fresh is not None and key in _prepared:
        a, db = _prepared[key]
        fresh.write_bytes(db)
        return copy.deepcopy(a)
    a = _generate(name, db_url, solutions)
    if fresh is not None and fresh.is_file():
        _prepared[key] = (copy.deepcopy(a), fresh.read_bytes())
    return a


def _generate(name: str, db_url: str, solutions: Path) -> Assignment:
    with tempfile.TemporaryDirectory(prefix="course-grade-") as tmp:
        root = Path(tmp)
        shutil.copytree(
            solutions / name,
            root / "solutions" / name,
            ignore=shutil.ignore_patterns(*_IGNORE),
        )
        (root / "autograde").mkdir()
        cmd = [
            sys.executable,
            "-m",
            "nbgrader",
            "generate_assignment",
            name,
            "--force",
            "--log-level=WARN",
            f"--CourseDirectory.db_url={db_url}",
        ]
        r = subprocess.run(cmd, cwd=REPO, env=nbgrader_env(root), capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment {name} failed:\n{r.stdout}\n{r.stderr}")
        nbs = sorted((root / "notebooks" / name).glob("*.ipynb"))
        if len(nbs) != 1:
            raise RuntimeError(f"{name}: expected one notebook, found {[p.name for p in nbs]}")
        release = json.loads(nbs[0].read_text())
        source = json.loads((root / "solutions" / name / nbs[0].name).read_text())
    rel_by_id = {grade_id(c): c for c in release["cells"] if grade_id(c)}
    cells, order, prelude = {}, [], []
    for c in source["cells"]:
        gid, kind = grade_id(c), cell_kind(c)
        if kind == "locked" and c.get("cell_type") == "code":
            prelude.append(cell_source(c))
        elif kind == "given" and c.get("cell_type") == "code":
            prelude.extend(_imports(cell_source(c)))
        if not gid:
            continue
        rel = rel_by_id.get(gid, {})
        cells[gid] = GradedCell(
            gid,
            kind,
            points(c),
            cell_source(c),
            cell_source(rel),
            (rel.get("metadata") or {}).get("nbgrader", {}).get("checksum"),
        )
        order.append(gid)
    return Assignment(name, nbs[0].name, source, release, cells, order, "\n".join(prelude) + "\n")


def _imports(src: str) -> list[str]:
    try:
        tree = ast.parse(transform(src))
    except SyntaxError:
        return []
    return [
        ast.unparse(n)
        for n in tree.body
        if isinstance(n, ast.Import) or (isinstance(n, ast.ImportFrom) and not n.level)
    ]


_transformer = None


def transform(src: str) -> str:
    """IPython syntax (magics, ``!cmd``) to plain Python calling ``get_ipython()``."""
    global _transformer
    if "%" not in src and "!" not in src:
        return src
    try:
        if _transformer is None:
            from IPython.core.inputtransformer2 import TransformerManager

            _transformer = TransformerManager()
        return _transformer.transform_cell(src)
    except Exception:
        return src


@dataclass
class Job:
    cells: list[dict]  # {"kind": "student"|"test", "src", "grade_id", "shown", "nb": index in the notebook}
    notes: list[str] = field(default_factory=list)


def build_job(nb: dict, a: Assignment) -> Job:
    """The cells to execute: the student's code, with the instructor's test cells in place."""
    notes: list[str] = []
    out: list[dict] = []
    anchor: dict[str, int] = {}  # grade_id -> index in out after which it was last seen
    seen_tests: set[str] = set()
    seen_solutions: set[str] = set()
    foreign = 0
    for i, c in enumerate(nb["cells"]):
        if not isinstance(c, dict):
            continue
        gid = grade_id(c)
        info = a.cells.get(gid) if gid else None
        if gid and info is None:
            foreign += 1
        ctype = c.get("cell_type")
        if info is not None and info.kind == "test":
            if gid in seen_tests:
                notes.append(f"copy of test cell {gid} ignored")
                continue
            seen_tests.add(gid)
            if info.checksum and (ctype != "code" or cell_checksum(c) != info.checksum):
                notes.append(f"test cell {gid} was edited: graded with the original")
            out.append({"kind": "test", "grade_id": gid, "nb": i})
            anchor[gid] = len(out)
        elif info is not None and info.kind == "locked" and ctype == "code":
            out.append({"kind": "student", "src": info.release, "grade_id": gid, "nb": i})
            anchor[gid] = len(out)
        elif info is not None and info.kind == "solution" and ctype == "code":
            if gid in seen_solutions:
                notes.append(f"solution cell {gid} appears twice (both run, in order)")
            seen_solutions.add(gid)
            out.append({"kind": "student", "src": cell_source(c), "grade_id": gid, "nb": i})
            anchor[gid] = len(out)
        elif ctype == "code":
            out.append({"kind": "student", "src": cell_source(c), "nb": i})
        elif info is not None:
            anchor[gid] = len(out)
    _put_back_tests(out, anchor, seen_tests, seen_solutions, foreign, notes, a)
    for cell in out:
        if cell["kind"] == "test":
            cell["src"] = a.cells[cell["grade_id"]].source
        else:
            cell["shown"] = cell["src"]  # as the student wrote it (feedback)
            cell["src"] = transform(cell["src"])
    return Job(out, notes)


def _put_back_tests(out, anchor, seen_tests, seen_solutions, foreign, notes, a: Assignment) -> None:
    missing = [g for g in a.tests if g not in seen_tests]
    solutions = [g for g in a.order if a.cells[g].kind == "solution"]
    if foreign and not (seen_tests or seen_solutions):
        notes.append(f"none of {a.name}'s graded cells found (wrong assignment?)")
    elif not (seen_tests or seen_solutions):
        notes.append(f"no graded cells of {a.name} found: all tests added at the end")
    else:
        notes += [f"solution cell {g} is missing" for g in solutions if g not in seen_solutions]
        if missing:
            notes.append(f"test cell(s) {', '.join(missing)} were missing: the originals were put back")
    for g in missing:
        i = a.order.index(g)
        pos = len(out)
        if seen_tests or seen_solutions:
            for prev in reversed(a.order[:i]):
                if prev in anchor:
                    pos = anchor[prev]
                    break
        out.insert(pos, {"kind": "test", "grade_id": g})
        for k, v in anchor.items():
            if v >= pos and k != g:
                anchor[k] = v + 1
        anchor[g] = pos + 1
