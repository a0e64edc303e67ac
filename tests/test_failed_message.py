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
    res = Result("ann", "ann.ipynb", scores={"size_tests": 0.0}, messages={"size_tests": MSG})
    res.job = Job([{"kind": "test", "grade_id": "size_tests", "nb": 0, "src": test.source}])
    graded = autograded_notebook(nb, a, res)
    graded.setdefault("nbformat", 4)
    graded.setdefault("nbformat_minor", 5)
    body, _ = HTMLExporter().from_notebook_node(nbformat.from_dict(graded))
    assert "expected 16, got 18" in body
