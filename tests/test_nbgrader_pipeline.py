"""End to end through real nbgrader: release, validate, autograde, read the gradebook.

For every graded assignment: the solution gets full marks on every autograded cell and
the untouched release gets zero on every autograded cell. One scratch course holds every graded
assignment: nbgrader releases them in one run and autogrades them in another (its assignment
argument is a pattern: ``"*"``).
"""

import pytest

from harness import Course, autograded_cells, graded_assignments

GRADED = graded_assignments()


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    """Every graded assignment released and autograded: the solution and the untouched release."""
    c = Course(tmp_path_factory.mktemp("pipeline") / "course", GRADED)
    c.nbgrader("generate_assignment", "*", "--force")
    for assignment in GRADED:
        released = c.root / "notebooks" / assignment
        notebooks = sorted(p.name for p in released.glob("*.ipynb"))
        source = c.root / "solutions" / assignment
        c.submit("solution", assignment, {n: source / n for n in notebooks})
        c.submit("untouched", assignment, {n: released / n for n in notebooks})
    c.autograde("*")
    return c


def test_there_is_graded_work():
    assert "01_hw0_warmup" in GRADED


@pytest.mark.parametrize("assignment", GRADED)
def test_solution_full_marks_release_zero(graded_course, assignment):
    released = graded_course.root / "notebooks" / assignment
    notebooks = sorted(p.name for p in released.glob("*.ipynb"))
    assert notebooks, f"nothing released for {assignment}"
    source = graded_course.root / "solutions" / assignment
    full = graded_course.cell_scores(assignment, "solution")
    zero = graded_course.cell_scores(assignment, "untouched")
    expected = {}
    for n in notebooks:
        expected.update(autograded_cells(source / n))
    assert expected, f"{assignment} has no autograded cells"
    for grade_id, points in expected.items():
        assert full[grade_id] == (points, points), f"solution: {grade_id} scored {full[grade_id]}, expected {points}"
        assert zero[grade_id][0] == 0, f"untouched release: {grade_id} scored {zero[grade_id][0]}, expected 0"


def test_validate_hw0(graded_course):
    """`nbgrader validate` passes on the solution and, with --invert, on the release (every test fails)."""
    released = graded_course.root / "notebooks" / "01_hw0_warmup" / "01_hw0_warmup.ipynb"
    ok, out = graded_course.validate(graded_course.root / "solutions" / "01_hw0_warmup" / "01_hw0_warmup.ipynb")
    assert ok, out
    ok, out = graded_course.validate(released, invert=True)
    assert ok, out
    ok, out = graded_course.validate(released)
    assert not ok, "the untouched release must not validate:\n" + out
