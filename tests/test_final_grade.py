"""Final grades, hand grades and feedback on a small gradebook (nbgrader's, on SQLite): the late penalty
is taken from autograded + hand points once, and every output agrees; a written answer left as released
scores 0 and needs no hand grade; a submission that could not be read is listed as such; a regrade
keeps a feedback page with hand scores. No batch is graded here (tests/test_formgrader.py does it all
in a browser)."""

from __future__ import annotations

import copy
import csv
import dataclasses
import re
import shutil
from datetime import UTC, datetime, timedelta

import pytest

from autograde import export, report
from autograde.collect import Submission
from autograde.final import final_grades, save_policy
from autograde.job import Assignment, GradedCell, Job
from autograde.late import Late, LatePolicy
from autograde.report import Result

DUE = datetime(2026, 12, 1, 23, 59, tzinfo=UTC)
MSG = "AssertionError: conv2d_output_size(i=16, ...): expected 16, got 18"
TEST, WHY, SIZE = "layers_tests", "why_answer", "size_tests"
COMMENT = "Right about the downsample path (comment 0815)."


def _meta(gid, points, solution=False):
    return {"nbgrader": {"grade": True, "solution": solution, "locked": not solution, "grade_id": gid,
                         "points": points, "schema_version": 3}}  # fmt: skip


def _assignment() -> Assignment:
    cells = [
        {"cell_type": "code", "metadata": _meta(TEST, 31), "source": "assert layers() == 3", "outputs": []},
        {"cell_type": "code", "metadata": _meta(SIZE, 3), "source": "assert size(16) == 16", "outputs": []},
        {"cell_type": "markdown", "metadata": _meta(WHY, 4, solution=True), "source": "YOUR ANSWER HERE"},
    ]
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    graded = {
        TEST: GradedCell(TEST, "test", 31.0, cells[0]["source"], cells[0]["source"], None),
        SIZE: GradedCell(SIZE, "test", 3.0, cells[1]["source"], cells[1]["source"], None),
        WHY: GradedCell(WHY, "written", 4.0, "model answer", "YOUR ANSWER HERE", None),
    }
    return Assignment("hw", "hw.ipynb", nb, nb, graded, [TEST, SIZE, WHY], "")


@pytest.fixture(scope="module")
def empty_gradebook(tmp_path_factory):
    """A gradebook holding the assignment's cells, as after ``nbgrader generate_assignment`` (made once:
    nbgrader's schema set-up takes seconds; each test gets a copy)."""
    from nbgrader.api import Gradebook

    a, path = _assignment(), tmp_path_factory.mktemp("gradebook") / "gradebook.db"
    with Gradebook(f"sqlite:///{path}") as gb:
        gb.add_assignment("hw")
        gb.add_notebook("hw", "hw")
        for gid, c in a.cells.items():
            kind = "markdown" if c.kind == "written" else "code"
            gb.add_grade_cell(gid, "hw", "hw", max_score=c.points, cell_type=kind)
            gb.add_source_cell(gid, "hw", "hw", cell_type=kind, locked=c.kind == "test", source=c.release)
        gb.add_solution_cell(WHY, "hw", "hw")
    return path


@pytest.fixture
def course(tmp_path, empty_gradebook):
    """(assignment, gradebook URL, output folder)."""
    shutil.copy(empty_gradebook, tmp_path / "gradebook.db")
    out = tmp_path / "out"
    out.mkdir()
    return _assignment(), f"sqlite:///{tmp_path / 'gradebook.db'}", out


def _result(a: Assignment, student: str, hours_late: float, answer: str | None = "An answer (marker 4711).") -> tuple:
    """(Submission, Result) of a student who passed the 31-point test, failed the 3-point one and
    wrote ``answer`` (None: left as released)."""
    nb = copy.deepcopy(a.release_nb)
    if answer is not None:
        nb["cells"][2]["source"] = answer
    job = Job(
        [
            {"kind": "test", "grade_id": TEST, "nb": 0, "src": a.cells[TEST].source},
            {"kind": "test", "grade_id": SIZE, "nb": 1, "src": a.cells[SIZE].source},
        ]
    )
    res = Result(
        student,
        f"{student}.ipynb",
        scores={TEST: 31.0, SIZE: 0.0},
        messages={SIZE: MSG},
        job=job,
        submitted=DUE + timedelta(hours=hours_late),
        unanswered=report.unanswered(nb, a),
    )
    return Submission(student, res.origin, nb=nb), res


def _write(course, s, res, due=DUE, policy="10%/day", extension=None):
    a, db, out = course
    save_policy(out, a.name, LatePolicy.parse(policy))
    res = dataclasses.replace(res, extension=extension)
    return report.write_student(s, res, a, out, db, out / "downloads", Late(due, LatePolicy.parse(policy), None))


def _hand_grade(db, student, score, comment=None):
    from nbgrader.api import Gradebook

    with Gradebook(db) as gb:  # what formgrader writes when a TA grades by hand
        gb.find_grade(WHY, "hw", "hw", student).manual_score = score
        gb.find_grade(WHY, "hw", "hw", student).needs_manual_grade = False
        if comment:
            gb.find_comment(WHY, "hw", "hw", student).manual_comment = comment
        gb.db.commit()


def _gradebook_penalty(db, student) -> tuple[float, float]:
    """(score, late_submission_penalty) as nbgrader export and nbgrader's feedback read them."""
    from nbgrader.api import Gradebook

    with Gradebook(db) as gb:
        sub = gb.find_submission("hw", student)
        return sub.score, sub.late_submission_penalty


def test_penalty_is_taken_from_autograded_plus_hand_points_and_every_output_agrees(course):
    """31 autograded + 2 by hand, 30 h late at 10%/day: two started days, 20% of 33 = 6.6, final 26.4."""
    a, db, out = course
    s, res = _result(a, "ann", hours_late=30)
    res = _write(course, s, res)
    assert res.penalty == pytest.approx(6.2)  # before the hand grade: 20% of 31
    _hand_grade(db, "ann", 2.0)
    grades = final_grades(db, "hw", out)
    assert (grades["ann"].penalty, grades["ann"].final) == (pytest.approx(6.6), pytest.approx(26.4))
    score, penalty = _gradebook_penalty(db, "ann")  # nbgrader export: score - late_submission_penalty
    assert (score, penalty) == (33.0, pytest.approx(6.6)) and score - penalty == pytest.approx(26.4)
    export.write_grades(out / "canvas.csv", "hw", grades, "canvas")
    assert list(csv.reader(open(out / "canvas.csv")))[1][5] == "26.4"
    report.write_csv(out / "grades.csv", a, [res], finals=grades)  # make grade's CSV reads the same
    row = next(csv.DictReader(open(out / "grades.csv")))
    assert (row["manual"], row["late_penalty"], row["final_score"]) == ("2", "6.6", "26.4")


def test_a_changed_deadline_or_extension_gives_the_new_penalty(course):
    from nbgrader.api import Gradebook

    a, db, out = course
    s, res = _result(a, "ben", hours_late=30)
    _write(course, s, res)
    assert final_grades(db, "hw", out)["ben"].penalty == pytest.approx(6.2)  # two started days
    _write(course, *_result(a, "ben", hours_late=30), extension=timedelta(hours=24))  # regrade, roster extension
    assert final_grades(db, "hw", out)["ben"].penalty == pytest.approx(3.1)  # one started day
    _write(course, *_result(a, "ben", hours_late=30), due=None)  # regrade without the deadline: both stay
    assert final_grades(db, "hw", out)["ben"].penalty == pytest.approx(3.1)
    _write(course, *_result(a, "ben", hours_late=30), due=DUE + timedelta(hours=8), extension=timedelta())
    assert final_grades(db, "hw", out)["ben"].penalty == pytest.approx(3.1)  # 22 h late: one day
    with Gradebook(db) as gb:
        gb.grant_extension("hw", "ben", hours=30)  # an extension given with nbgrader's own tools
    assert final_grades(db, "hw", out)["ben"].penalty == 0
    assert _gradebook_penalty(db, "ben")[1] == 0


def test_a_written_answer_left_as_released_scores_zero_and_says_so(course):
    from nbgrader.api import Gradebook

    a, db, out = course
    s, res = _result(a, "cy", hours_late=-1, answer=None)
    assert set(res.unanswered) == {WHY} and "left as released" in res.unanswered[WHY]
    assert report.unanswered(s.nb | {"cells": s.nb["cells"][:2]}, a)[WHY].startswith("No response")  # deleted
    assert _result(a, "x", 0, answer="YOUR ANSWER HERE, and mine")[1].unanswered == {}
    _write(course, s, res)
    with Gradebook(db) as gb:
        g = gb.find_grade(WHY, "hw", "hw", "cy")
        assert (g.score, g.needs_manual_grade) == (0, False)
        assert "left as released" in gb.find_comment(WHY, "hw", "hw", "cy").comment  # nbgrader's feedback shows it
    grades = final_grades(db, "hw", out)
    assert not grades["cy"].needs_manual_grade and export.pending(grades) == []
    page = (out / "feedback" / "cy" / "hw" / "hw.html").read_text()
    assert "0 / 4" in page and "left as released" in page


def test_hand_grade_lists_name_only_what_formgrader_shows_and_unreadable_ones_as_such(course):
    a, db, out = course
    s, res = _result(a, "dee", hours_late=0)  # answered: waits for a hand grade
    _write(course, s, res)
    why = "eve.ipynb is not a valid notebook"
    unanswered = report.unanswered(None, a, why)
    bad = Result("eve", "eve.ipynb", scores={TEST: 0.0, SIZE: 0.0}, problem=why, unanswered=unanswered)
    _write(course, Submission("eve", "eve.ipynb", problem=bad.problem), bad)
    assert not (out / "autograded" / "eve").exists()  # so formgrader does not list her
    grades = final_grades(db, "hw", out)
    assert grades["dee"].needs_manual_grade and not grades["eve"].needs_manual_grade and grades["eve"].unreadable
    todo, unreadable = export.pending(grades)
    assert "by hand" in todo and "dee" in todo and "eve" not in todo
    assert "could not be graded" in unreadable and "eve" in unreadable and "dee" not in unreadable
    export.write_grades(out / "plain.csv", "hw", grades, "plain")
    assert {r["id"]: r["status"] for r in csv.DictReader(open(out / "plain.csv"))} == {
        "dee": "needs manual grade",
        "eve": "could not be graded",
    }


def test_feedback_keeps_failed_messages_adds_hand_scores_and_a_regrade_keeps_them(course):
    a, db, out = course
    s, res = _result(a, "fay", hours_late=30)
    _write(course, s, res)
    page = out / "feedback" / "fay" / "hw" / "hw.html"
    assert "expected 16, got 18" in page.read_text()  # make grade's own page
    _hand_grade(db, "fay", 2.0, COMMENT)
    export.feedback(out, "hw", db, zips=False)  # make feedback: nbgrader's page
    for text in (page.read_text(), None):
        if text is None:  # a regrade after the hand grade: the page keeps the hand score and comment
            _write(course, *_result(a, "fay", hours_late=30))
            text = page.read_text()
        assert "expected 16, got 18" in text and "comment 0815" in text and "marker 4711" in text
        score = re.search(r"Score: ([\d.]+) / ([\d.]+)", text)
        assert score and (float(score[1]), float(score[2])) == (26.4, 38.0), score  # 33 - 20% of 33


def test_a_regrade_without_a_late_policy_keeps_the_last_one(tmp_path):
    from autograde.final import keep_policy

    assert keep_policy(tmp_path, "hw", None).spec() == "none"  # never given: no penalty
    assert keep_policy(tmp_path, "hw", "10%/day").spec() == "10%/day"
    assert keep_policy(tmp_path, "hw", None).penalty(33.0, 30 * 3600) == pytest.approx(6.6)  # kept
    assert keep_policy(tmp_path, "other", None).spec() == "none"


def test_a_result_is_built_once_and_writing_it_returns_a_new_one(course):
    """No step changes a grading result: its fields and tables are read-only, pickling (to and from a
    Dask worker) keeps it so, and writing the gradebook returns a new result with the final grade."""
    import pickle

    a, db, out = course
    s, res = _result(a, "gus", hours_late=30)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.problem = "forged"
    for table in (res.scores, res.messages, res.unanswered):
        with pytest.raises(TypeError):
            table[TEST] = 99.0
    back = pickle.loads(pickle.dumps(res))
    assert back == res and back.scores == {TEST: 31.0, SIZE: 0.0}
    with pytest.raises(TypeError):
        back.scores[TEST] = 99.0
    written = _write(course, s, res)
    assert (res.grade, res.penalty) == (None, 0.0)  # the result handed in is unchanged
    assert written.penalty == pytest.approx(6.2) and written.scores == res.scores
