"""Names cannot impersonate, and no cell a TA opens runs as a formula.

One real LMS download (Canvas files, Moodle folders and files, an nbgrader folder, files named by
student) is graded through ``grade.grade`` with a roster. Students attack with what they control: their
display name (Moodle), their sortable name (Canvas keeps its letters, digits and ``_``) and the name of
the file they upload, crafted to read as another student's ids. Alice (Canvas 12345) and Bob (Moodle
1234) hand in full notebooks (8 points) with a marker; every attacker hands in the released notebook
(0 points), newer than the victim's, so "newest wins" would replace the victim's notebook.

Then the CSVs (grades, ``make export`` in every format): ids, names, emails, file names and problem
messages start with ``=``, ``+``, ``-``, ``@``, a tab, a carriage return, a space before ``=``, a
full-width ``＝``; read back with ``csv``, no cell may start like a formula unless escaped, and every
figure must still be a number.
"""

from __future__ import annotations

import csv
import json
import os
import re
from datetime import UTC, datetime, timedelta

import pytest

from autograde import export
from autograde import grade as G
from autograde.collect import collect
from autograde.mock_submissions import filled, load
from autograde.roster import Person, Roster
from autograde.sheets import FORMULA_START

A = "01_hw0_warmup"
NB = f"{A}.ipynb"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ROSTER = [  # id, name, email, lms_id
    ("alice", "Alice Smith", "alice@uni.example", "12345"),  # Canvas
    ("bob", "Bob Jones", "bob@uni.example", "1234"),  # Moodle participant
    ("m1", "Mal One", "m1@uni.example", "555"),
    ("m2", "Mal Two", "m2@uni.example", "556"),
    ("m3", "Mal Three", "m3@uni.example", "557"),
    ("m4", "Mal Four", "m4@uni.example", "5555"),
    ("m5", "Mal Five", "m5@uni.example", "5556"),
    ("m7", "Mal Seven", "m7@uni.example", "559"),
    ("m8", "Mal Eight", "m8@uni.example", "561"),
    ("olate", "O Late", "o@uni.example", "560"),
    ("dotdot", "..", "dd@uni.example", "5557"),
    ("carol", "Carol Carol", "carol@uni.example", "777"),
    ("dave", "Dave Dave", "dave@uni.example", "778"),
    ("erin", "Erin Erin", "erin@uni.example", "779"),
    ("frank", '=HYPERLINK("https://evil.example","Frank")', "-2+3@uni.example", "780"),
]
# Files whose names (and so the fallback ids and the problem messages) start like formulas.
FORMULA_FILES = [
    "=2+5",
    "-2+3",
    "@SUM(1)",
    "+cmd|' -C calc'!A0",
    "\tTAB",
    "\rCR",
    " =1+1",
    "＝1+1",
    '=HYPERLINK("https:evil.example","click")',
    "<img src=x onerror=alert(1)>",
]


def _nb(source, release, full: bool, marker: str) -> str:
    nb = filled(source, release) if full else json.loads(json.dumps(release))
    nb["cells"].append({"cell_type": "markdown", "id": "marker", "metadata": {}, "source": marker})
    return json.dumps(nb)


def _write(path, text: str, hours: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    t = (T0 + timedelta(hours=hours)).timestamp()
    os.utime(path, (t, t))


def _download(subs, source, release) -> None:
    """The LMS download: honest students first, each attack an hour later."""
    full = lambda m: _nb(source, release, True, m)
    empty = lambda m: _nb(source, release, False, m)
    files = {
        f"smithalice_12345_67890_{NB}": (full("ALICE-OWN"), 0),
        # m1 uploads a file named like Alice's Canvas file
        f"mallone_555_999_smithalice_LATE_12345_67890_{NB}": (empty("M1"), 1),
        # m2's sortable name reads "smithalice_12345_67890_x" (Canvas drops the commas of "smithalice,_12345,_...")
        f"smithalice_12345_67890_x_556_998_{NB}": (empty("M2"), 1),
        # m3: full-width digits in the name (Python's int() reads them as 12345)
        f"smithalice_１２３４５_67890_x_557_997_{NB}": (empty("M3"), 1),
        # m5: Moodle's one-folder download, a display name holding Bob's ids
        f"Bob Jones_1234_assignsubmission_file_x_5556_assignsubmission_file_{NB}": (empty("M5"), 1),
        # m7: "_LATE_" and Alice's ids in the name
        f"smithalice_late_12345_67890_x_559_995_{NB}": (empty("M7"), 1),
        # m8 uploads "../../smithalice_12345_67890_<notebook>" (Canvas writes each / as _): a name
        # holding "." is no Canvas name, so the file can only be m8's
        f"maleight_561_994_.._.._smithalice_12345_67890_{NB}": (empty("M8"), 1),
        # an honest name ending in "_late" (Canvas's LATE marker is read, the id stays 560)
        f"o_late_560_996_{NB}": (full("OLATE"), 0),
        # two sources for carol and for dave; two files of one source for erin (the newer is graded)
        f"carolcarol_777_990_{NB}": (full("CAROL-CANVAS"), 0),
        f"davedave_778_989_{NB}": (full("DAVE-CANVAS"), 0),
        f"erinerin_779_988_{NB}": (empty("ERIN-OLD"), 0),
        f"erinerin_779_987_{A}-1.ipynb": (full("ERIN-NEW"), 1),
        f"frankfrank_780_986_{NB}": (full("FRANK"), 0),
    }
    for name, (text, hours) in files.items():
        _write(subs / name, text, hours)
    folders = {
        "Bob Jones_1234_assignsubmission_file_": (full("BOB-OWN"), 0),
        # m4: the display name "Bob Jones_1234_assignsubmission_file_x" (the attack)
        "Bob Jones_1234_assignsubmission_file_x_5555_assignsubmission_file_": (empty("M4"), 1),
        # a display name "..": a hidden-looking folder, still a student's (Moodle without the trailing _)
        ".._5557_assignsubmission_file": (full("DOTDOT"), 0),
        "Dave Dave_778_assignsubmission_file_": (full("DAVE-MOODLE"), 0),
        f"carol/{A}": (_nb(source, release, False, "CAROL-NBGRADER"), 0),
    }
    for folder, (text, hours) in folders.items():
        _write(subs / folder / NB, text, hours)
    for stem in FORMULA_FILES:
        _write(subs / f"{stem}.ipynb", full("FORMULA"), 0)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("lms")
    subs, out = root / "subs", root / "out"
    subs.mkdir()
    source, release = load(A)
    _download(subs, source, release)
    roster = root / "roster.csv"
    with open(roster, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("id", "name", "email", "lms_id"), *ROSTER])
    results = {r.student: r for r in G.grade(A, subs, out=out, workers=2, quiet=True, roster=roster)}
    first_csv = (out / f"grades_{A}.csv").read_text(encoding="utf-8")
    for fmt in export.FORMATS:
        assert export.main(["grades", A, "--out", str(out), "--format", fmt, "--roster", str(roster)]) == 0
    regraded = G.grade(A, subs, out=out, workers=1, quiet=True, roster=roster, students=["frank"])
    return results, out, first_csv, regraded


def _marker(out, student: str) -> str:
    nb = json.loads((out / "submitted" / student / A / NB).read_text())
    return nb["cells"][-1]["source"]


def test_victims_keep_their_notebook_and_score(batch):
    results, out, _, _ = batch
    for victim, marker in (("alice", "ALICE-OWN"), ("bob", "BOB-OWN")):
        r = results[victim]
        assert (r.total, r.problem) == (8, None), (victim, r.problem, r.notes)
        assert _marker(out, victim) == marker


def test_canvas_names_and_file_names_holding_ids_are_graded_for_no_one(batch):
    results, _, _, _ = batch
    for label, attacker in (
        ("unclear-555-12345", "m1"),
        ("unclear-556-12345", "m2"),
        ("unclear-559-12345", "m7"),
    ):
        r = results[label]
        assert r.total == 0 and "cannot tell whose file this is" in r.problem and "alice" in r.problem
        assert attacker in r.problem and attacker not in results
    assert "graded for no one may be theirs" in " ".join(results["alice"].notes)


def test_moodle_display_names_holding_ids(batch):
    results, out, _, _ = batch
    # a folder is read from its end: m4's own folder, m4's own (empty) notebook
    assert (results["m4"].total, results["m4"].problem) == (0, None) and _marker(out, "m4") == "M4"
    # a file of the one-folder download whose name holds two participant ids: graded for no one
    assert results["unclear-1234-5556"].total == 0 and "bob" in results["unclear-1234-5556"].problem
    assert "m5" not in results


def test_lookalike_digits_dots_and_late_in_names_stay_their_owners(batch):
    results, out, _, _ = batch
    assert (results["m3"].total, results["m3"].problem) == (0, None) and _marker(out, "m3") == "M3"
    assert (results["dotdot"].total, results["dotdot"].problem) == (8, None) and _marker(out, "dotdot") == "DOTDOT"
    assert (results["m8"].total, results["m8"].problem) == (0, None) and _marker(out, "m8") == "M8"
    assert results["olate"].total == 8 and "marked LATE by Canvas" in results["olate"].notes


def test_two_sources_are_both_reported_and_none_is_preferred(batch):
    results, out, _, _ = batch
    for student, places in (("carol", ("carolcarol_777", "carol")), ("dave", ("davedave_778", "Dave Dave_778"))):
        r = results[student]
        assert r.total == 0 and "different places" in r.problem, (student, r.problem)
        assert all(p in r.problem for p in places)
        assert not (out / "submitted" / student).exists()  # neither notebook stands as the submission
    # one source, two files: the newer is graded, and the note names both
    assert results["erin"].total == 8 and _marker(out, "erin") == "ERIN-NEW"
    assert "2 submissions found" in " ".join(results["erin"].notes)


def _csvs(out) -> dict[str, list[list[str]]]:
    names = [f"grades_{A}.csv"] + [f"final_{A}_{fmt}.csv" for fmt in export.FORMATS]
    out_ = {}
    for name in names:
        with open(out / name, newline="", encoding="utf-8") as f:
            out_[name] = list(csv.reader(f))
    return out_


def _formula_like(text: str) -> bool:
    return bool(text) and (text[0] in FORMULA_START or text.lstrip(" \u00a0\u3000")[:1] in FORMULA_START)


def test_no_cell_of_any_csv_runs_as_a_formula(batch):
    _, out, _, _ = batch
    for name, rows in _csvs(out).items():
        bad = [c for row in rows for c in row if _formula_like(c)]
        assert not bad, (name, bad)


def test_formula_ids_names_and_messages_are_there_as_text(batch):
    _, out, _, _ = batch
    tables = _csvs(out)
    grades = {r[0]: r for r in tables[f"grades_{A}.csv"][1:]}
    for stem in FORMULA_FILES:
        shown = stem if not _formula_like(stem) else "'" + stem
        assert shown in grades, (stem, sorted(grades))
        assert "matches no one in the roster" in grades[shown][-1]
    plain = {r[0]: r for r in tables[f"final_{A}_plain.csv"][1:]}
    assert plain["frank"][1] == "'" + ROSTER[-1][1] and plain["frank"][2] == "'" + ROSTER[-1][2]
    canvas = {r[1]: r for r in tables[f"final_{A}_canvas.csv"][1:]}
    assert canvas["780"][0] == "'" + ROSTER[-1][1] and canvas["780"][5] == "8"
    moodle = {r[2]: r for r in tables[f"final_{A}_moodle.csv"][1:]}
    assert moodle["frank"][:2] == ["'" + ROSTER[-1][1], "'" + ROSTER[-1][2]] and moodle["frank"][3] == "8"
    assert "'=2+5" in [r[0] for r in tables[f"final_{A}_canvas.csv"][1:]]  # a gradebook id outside the roster


def test_figures_stay_numbers(batch):
    _, out, _, _ = batch
    rows = list(csv.DictReader(open(out / f"grades_{A}.csv", newline="", encoding="utf-8")))
    for r in rows:
        for col in ("score", "max_score", "late_hours", "late_penalty", "final_score", "relu_tests"):
            float(r[col])  # a number, never a quoted text
    assert {r["student"]: r["score"] for r in rows}["alice"] == "8"


def test_regrading_one_student_keeps_the_other_rows_as_they_were(batch):
    _, out, first, regraded = batch
    assert [r.student for r in regraded] == ["frank"] and regraded[0].total == 8
    assert (out / f"grades_{A}.csv").read_text(encoding="utf-8") == first


def test_class_report_shows_names_as_text(batch):
    _, out, _, _ = batch
    md = (out / f"report_{A}.md").read_text(encoding="utf-8")
    assert "\\<img src=x onerror=alert\\(1\\)\\>" in md
    assert not re.search(r"(?<!\\)[<>\[\]]", md.split("## Submissions that could not be graded")[1])
    assert "\r" not in md


def test_without_a_roster_a_name_is_never_another_students_id(tmp_path):
    source, release = load(A)
    _download(tmp_path, source, release)
    subs = {s.student: s for s in collect(tmp_path, A, NB)}
    try:
        assert subs["smithalice-12345"].origin == f"smithalice_12345_67890_{NB}"
        assert "M" not in subs["smithalice-12345"].nb["cells"][-1]["source"]
        assert {"unclear-555-12345", "unclear-556-12345", "unclear-559-12345", "unclear-1234-5556"} <= set(subs)
        m4 = [s for s in subs.values() if s.nb and s.nb["cells"][-1]["source"] == "M4"]
        assert len(m4) == 1 and m4[0].student.endswith("-5555") and m4[0].problem is None  # m4's own id
        assert subs["bob-jones-1234"].nb["cells"][-1]["source"] == "BOB-OWN"
        assert subs["smithalice-67890-x-557"].problem is None  # m3: full-width digits are no id
    finally:
        for s in subs.values():
            s.discard()


def test_a_file_outside_the_roster_never_shares_a_row_with_a_roster_student(tmp_path):
    """Canvas user 42, not on the roster, whose name reads "evil": without a guard the unmatched file's
    label "evil-42" is the roster id of another student, and its newer notebook would replace theirs."""
    source, release = load(A)
    _write(tmp_path / f"someone_1_8_{NB}", _nb(source, release, True, "OWN"), 0)
    _write(tmp_path / f"evil_42_9_{NB}", _nb(source, release, False, "EVIL"), 1)
    roster = Roster([Person("evil-42", "Some One", "s@uni.example", "1")])
    subs = {s.student: s for s in collect(tmp_path, A, NB, roster)}
    try:
        assert subs["evil-42"].problem is None and subs["evil-42"].nb["cells"][-1]["source"] == "OWN"
        assert "matches no one in the roster" in subs["unmatched-evil-42"].problem
    finally:
        for s in subs.values():
            s.discard()


def test_export_keeps_a_negative_figure_a_number_and_escapes_the_same_text(tmp_path):
    grades = {"-2": export.FinalGrade("-2", score=3, manual=0, penalty=-2, max_score=8)}  # a bonus: -2 points off
    export.write_grades(tmp_path / "p.csv", "hw", grades, "plain")
    [header, row] = list(csv.reader(open(tmp_path / "p.csv", newline="", encoding="utf-8")))
    got = dict(zip(header, row, strict=True))
    assert got["id"] == "'-2" and got["late_penalty"] == "-2" and got["final"] == "5"
    export.write_grades(tmp_path / "c.csv", "=SUM(A1)", grades, "canvas")
    assert list(csv.reader(open(tmp_path / "c.csv", newline="", encoding="utf-8")))[0][5] == "'=SUM(A1)"
