"""A failed test's message is in the autograded notebook where nbconvert (and formgrader, which uses
nbconvert's templates) shows it: the error output's traceback, not only its evalue."""

from __future__ import annotations

import nbformat
from nbconvert import HTMLExporter

from autograde.job import Assignment, GradedCell, Job
from autograde.report import Result, autograded_notebook

MSG = "AssertionError: conv2d_output_size(i=16, ...): expected 16, got 18"


def test_failed_message_is_in_nbconvert_html():
    test = GradedCell("size_tests", "test", 3.0, "assert size(16) == 16", "assert size(16) == 16", None)
    meta = {"nbgrader": {"grade": True, "grade_id": "size_tests", "points": 3, "schema_version": 3}}
    nb = {"cells": [{"cell_type": "code", "metadata": meta, "source": test.source, "outputs": []}], "metadata": {}}
    a = Assignment("hw", "hw.ipynb", nb, nb, {"size_tests": test}, ["size_tests"], "")
    job = Job([{"kind": "test", "grade_id": "size_tests", "nb": 0, "src": test.source}])
    res = Result("ann", "ann.ipynb", scores={"size_tests": 0.0}, messages={"size_tests": MSG}, job=job)
    graded = autograded_notebook(nb, a, res)
    graded.setdefault("nbformat", 4)
    graded.setdefault("nbformat_minor", 5)
    body, _ = HTMLExporter().from_notebook_node(nbformat.from_dict(graded))
    assert "expected 16, got 18" in body


def test_cells_that_ran_have_execution_counts():
    """Formgrader shows ``In [n]:`` for cells that ran, in the order they ran; ``In [ ]:`` for one that did not."""
    from autograde.host import Outcome

    test = GradedCell("size_tests", "test", 3.0, "assert size(16) == 16", "assert size(16) == 16", None)
    meta = {"nbgrader": {"grade": True, "grade_id": "size_tests", "points": 3, "schema_version": 3}}
    code = [{"cell_type": "code", "metadata": {}, "source": f"x{i} = {i}", "outputs": []} for i in range(3)]
    test_cell = {"cell_type": "code", "metadata": meta, "source": test.source, "outputs": []}
    nb = {"cells": [code[0], test_cell, code[1], code[2]], "metadata": {}}
    a = Assignment("hw", "hw.ipynb", nb, nb, {"size_tests": test}, ["size_tests"], "")
    job = Job(
        [
            {"kind": "student", "nb": 0, "src": "x0 = 0"},
            {"kind": "test", "grade_id": "size_tests", "nb": 1, "src": test.source},
            {"kind": "student", "nb": 2, "src": "x1 = 1"},
            {"kind": "student", "nb": 3, "src": "x2 = 2"},
        ]
    )
    outcome = Outcome()
    outcome.outputs = {0: [], 2: []}  # the last cell never ran (the notebook's time was up)
    res = Result("ann", "ann.ipynb", scores={"size_tests": 3.0}, messages={}, job=job, outcome=outcome)
    graded = autograded_notebook(nb, a, res)
    counts = [c.get("execution_count") for c in graded["cells"] if c["cell_type"] == "code"]
    assert counts == [1, 2, 3, None], f"execution counts {counts}, expected [1, 2, 3, None]"
