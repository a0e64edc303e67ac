"""``job.prepare`` runs nbgrader once per solution in a process: a new sqlite gradebook for the same
solution gets a copy of the one nbgrader wrote, equal to what nbgrader would write again; another
solution, an existing gradebook or another database runs nbgrader."""

import json
import shutil

from autograde import job
from course_utils.nbcells import grade_id

A = "01_hw0_warmup"


def _gradebook(path):
    """What the grader and formgrader read of an assignment: notebooks, cells, points, checksums."""
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///" + str(path)) as gb:
        a = gb.find_assignment(A)
        return {
            nb.name: {
                "graded": sorted((c.name, c.max_score, c.cell_type) for c in nb.grade_cells),
                "source": sorted((c.name, c.checksum, c.locked) for c in nb.source_cells),
            }
            for nb in a.notebooks
        }


def _generate_calls(monkeypatch):
    calls = []
    real = job._generate

    def counting(*args):
        calls.append(args[0])
        return real(*args)

    monkeypatch.setattr(job, "_generate", counting)
    return calls


def test_a_second_new_gradebook_is_nbgraders_own(tmp_path, monkeypatch):
    monkeypatch.setattr(job, "_prepared", {})
    calls = _generate_calls(monkeypatch)
    first = job.prepare(A, f"sqlite:///{tmp_path / 'one.db'}")
    second = job.prepare(A, f"sqlite:///{tmp_path / 'two.db'}")
    assert calls == [A], "the second new gradebook should be the first one's copy"
    monkeypatch.setattr(job, "_prepared", {})
    third = job.prepare(A, f"sqlite:///{tmp_path / 'three.db'}")  # nbgrader again, for comparison
    assert calls == [A, A]
    assert _gradebook(tmp_path / "two.db") == _gradebook(tmp_path / "three.db") != {}
    assert second == third == first


def test_an_existing_gradebook_runs_nbgrader(tmp_path, monkeypatch):
    monkeypatch.setattr(job, "_prepared", {})
    calls = _generate_calls(monkeypatch)
    db = f"sqlite:///{tmp_path / 'gb.db'}"
    job.prepare(A, db)
    job.prepare(A, db)  # a regrade: nbgrader updates its own gradebook
    assert calls == [A, A]


def test_a_changed_solution_is_not_served_from_the_cache(tmp_path, monkeypatch):
    """An instructor edits a hidden test's points between two batches in one process."""
    monkeypatch.setattr(job, "_prepared", {})
    solutions = tmp_path / "solutions"
    shutil.copytree(job.REPO / "solutions" / A, solutions / A)
    job.prepare(A, f"sqlite:///{tmp_path / 'before.db'}", solutions)
    nb_path = next((solutions / A).glob("*.ipynb"))
    nb = json.loads(nb_path.read_text())
    cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade"))
    cell["metadata"]["nbgrader"]["points"] = 7
    nb_path.write_text(json.dumps(nb))
    a = job.prepare(A, f"sqlite:///{tmp_path / 'after.db'}", solutions)
    assert a.cells[grade_id(cell)].points == 7
    points = {name: pts for nb in _gradebook(tmp_path / "after.db").values() for name, pts, _ in nb["graded"]}
    assert points[grade_id(cell)] == 7
