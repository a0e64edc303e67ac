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


def _canvas_reads(name: str) -> tuple[str, str] | None:
    """(user id, file id) as Canvas's Re-Upload Submissions reads a file name: its first two all-digit
    ``_`` parts (``Assignment#infer_comment_context_from_filename``)."""
    ids = [p for p in name.split("_") if p.isdigit()][:2]
    return (ids[0], ids[1]) if len(ids) == 2 else None


def _moodle_reads(path: str) -> str | None:
    """The participant id Moodle's "Upload multiple feedback files in a zip" reads from a path: the first
    part split at ``_`` into ``fullname_id_assignsubmission_file_...`` (``assignfeedback_file`` importer)."""
    for part in path.split("/")[:-1]:
        info = part.split("_", 4)
        if len(info) >= 4 and info[1].isdigit() and info[2:4] == ["assignsubmission", "file"]:
            return info[1]
    return None


def test_feedback_zips_are_named_the_way_canvas_and_moodle_match_them(tmp_path):
    import json
    import zipfile

    from autograde.lmszip import zip_feedback

    origins = {
        "jsmith2": "smithjane_LATE_23456_78901_01_hw0_warmup.ipynb",
        "carol": "carolking_34567_89012_hw0.zip:hw0/01_hw0_warmup.ipynb",
        "odiaz": "Omar Diaz_4711_assignsubmission_file_/01_hw0_warmup.ipynb",
        "alice": "alice.ipynb",  # not from an LMS: her own zip only
    }
    for student in origins:
        page = tmp_path / "feedback" / student / "hw" / "hw.html"
        page.parent.mkdir(parents=True)
        page.write_text(f"feedback of {student}")
    (tmp_path / "origins_hw.json").write_text(json.dumps(origins))
    made = zip_feedback(tmp_path, "hw", list(origins))
    folder = tmp_path / "feedback_zips" / "hw"
    assert {p.name for p in made} == {f"{s}_feedback.zip" for s in origins} | {
        "canvas_feedback.zip",
        "moodle_feedback.zip",
    }
    with zipfile.ZipFile(folder / "canvas_feedback.zip") as z:
        canvas = {_canvas_reads(n): z.read(n).decode() for n in z.namelist()}
        assert all("/" not in n for n in z.namelist())  # Canvas takes the files at the top of the zip
    assert canvas == {("23456", "78901"): "feedback of jsmith2", ("34567", "89012"): "feedback of carol"}
    with zipfile.ZipFile(folder / "moodle_feedback.zip") as z:
        assert {_moodle_reads(n): z.read(n).decode() for n in z.namelist()} == {"4711": "feedback of odiaz"}
