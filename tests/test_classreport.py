"""The class report: whole students in its histogram, alike failures grouped, a broken file's full place."""

from __future__ import annotations

import re

from autograde.classreport import class_report, failure_kind
from autograde.collect import load_notebook
from autograde.job import Assignment, GradedCell
from autograde.report import Result


def _assignment() -> Assignment:
    cells = {g: GradedCell(g, "test", 3.0, "", "", None) for g in ("t1", "t2")}
    return Assignment("HW", "hw.ipynb", {}, {}, cells, ["t1", "t2"], "")


def test_a_broken_notebook_names_its_line_and_column():
    _, why = load_notebook(b'{"cells": [\n  {"a": 1,,}]}', "jane_1234_hw.ipynb")
    assert re.search(r"line 2, column \d+", why), why


def test_failures_group_without_the_file_name(tmp_path):
    broken = [Result(s, f"{s}_1234_hw.ipynb", problem=load_notebook(b"{oops", f"{s}_1234_hw.ipynb")[1]) for s in "abc"]
    assert {failure_kind(r) for r in broken} == {"is not a valid notebook"}
    ran = [Result("d", "d.ipynb", scores={"t1": 3.0, "t2": 0.0}), Result("e", "e.ipynb", scores={"t1": 3.0})]
    _, md = class_report(_assignment(), broken + ran, tmp_path)
    assert "Most common: is not a valid notebook (3)" in md.read_text()
    assert "Formgrader's mean differs: it counts only the 2 submissions in its gradebook" in md.read_text()


def test_the_histogram_counts_whole_students(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    real_savefig = plt.Figure.savefig

    def keep(fig, *args, **kwargs):
        made.append([t for t in fig.axes[0].get_yticks() if t >= 0])
        return real_savefig(fig, *args, **kwargs)

    plt.Figure.savefig = keep
    try:
        class_report(_assignment(), [Result("d", "d.ipynb", scores={"t1": 3.0}), Result("e", "e.ipynb")], tmp_path)
    finally:
        plt.Figure.savefig = real_savefig
    assert made and all(float(t).is_integer() for t in made[0]), made
