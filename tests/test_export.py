"""make export's CSV formats, on grades given by hand (the round trip through nbgrader's gradebook
and formgrader is tests/test_formgrader.py)."""

import csv

import pytest

from autograde.export import FinalGrade, write_grades
from autograde.roster import Person, Roster

GRADES = {
    "ann": FinalGrade("ann", score=20, manual=4, penalty=2.5, max_score=35),
    "ben": FinalGrade("ben", score=1, manual=0, penalty=3, max_score=35, needs_manual_grade=True),
}
ROSTER = Roster(
    [
        Person("ann", "Ann Lee", "ann@uni.example", "501"),
        Person("ben", "Ben Ray", "ben@uni.example", "502"),
        Person("cy", "Cy Dow", "cy@uni.example", "503"),
    ]
)


def _read(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_plain_has_every_figure_and_the_penalty_never_goes_below_zero(tmp_path):
    said = write_grades(tmp_path / "g.csv", "hw", GRADES, "plain", ROSTER)
    rows = {r[0]: r for r in _read(tmp_path / "g.csv")[1:]}
    assert rows["ann"][5:11] == ["16", "4", "2.5", "17.5", "35", "graded"]
    assert rows["ben"][8] == "0" and rows["ben"][10] == "needs manual grade"
    assert rows["cy"][5:] == ["", "", "", "", "", "no submission"]
    assert any("ben" in s and "by hand" in s for s in said) and any("cy" in s for s in said)


def test_canvas_and_moodle_columns(tmp_path):
    write_grades(tmp_path / "c.csv", "hw", GRADES, "canvas", ROSTER)
    c = _read(tmp_path / "c.csv")
    assert c[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "hw"]
    assert [(r[0], r[1], r[5]) for r in c[1:]] == [
        ("Ann Lee", "501", "17.5"),
        ("Ben Ray", "502", "0"),
        ("Cy Dow", "503", ""),
    ]
    write_grades(tmp_path / "m.csv", "hw", GRADES, "moodle", ROSTER)
    m = {r["Email address"]: r for r in csv.DictReader(open(tmp_path / "m.csv"))}
    assert m["ann@uni.example"]["hw"] == "17.5" and "late -2.5" in m["ann@uni.example"]["hw (feedback)"]


def test_without_a_roster_or_with_an_unknown_format(tmp_path):
    said = write_grades(tmp_path / "c.csv", "hw", GRADES, "canvas")
    assert any("no --roster" in s for s in said)
    assert [r[0] for r in _read(tmp_path / "c.csv")[1:]] == ["ann", "ben"]
    with pytest.raises(ValueError, match="plain, canvas, moodle"):
        write_grades(tmp_path / "x.csv", "hw", GRADES, "excel")
