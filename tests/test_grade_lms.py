"""Who is who and when: Canvas and Moodle downloads, a roster, two students with the same name,
a file that matches no one, a deadline with an extension and a late policy."""

from __future__ import annotations

import csv
import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from autograde import grade as G
from autograde.late import LatePolicy
from autograde.mock_submissions import filled, load
from autograde.roster import LmsName, lms_name

A = "01_hw0_warmup"
DUE = datetime(2026, 12, 1, 23, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    "name,expected",
    [
        ("smithjane_12345_67890_01_hw0_warmup.ipynb", ("canvas", "smithjane", "12345", False)),
        ("smithjane_LATE_23456_78901_hw0.zip", ("canvas", "smithjane", "23456", True)),
        ("LATE_23456_78901_hw0.zip", ("canvas", "", "23456", True)),  # a name Canvas kept nothing of
        ("jänesmith_23456_78901_hw0.zip", ("canvas", "jänesmith", "23456", False)),
        ("Jane Smith_4711_assignsubmission_file_/", ("moodle", "Jane Smith", "4711", False)),
        ("Jane Smith_4711_assignsubmission_onlinetext/", ("moodle", "Jane Smith", "4711", False)),
        ("Jane Smith_4711_assignsubmission_file_hw0.ipynb", ("moodle", "Jane Smith", "4711", False)),
        (
            "Jane_Smith_1_assignsubmission_file_x_4711_assignsubmission_file_/",
            ("moodle", "Jane_Smith_1_assignsubmission_file_x", "4711", False),
        ),
        ("alice.ipynb", None),
        ("bob_hw0_final.ipynb", None),
        ("smithjane_012345_67890_hw0.ipynb", None),  # Canvas ids have no leading zero
        ("smithjane_１２３４５_67890_hw0.ipynb", None),  # full-width digits are no id
        ("x_555_999_smithjane_LATE_12345_67890_hw0.ipynb", None),  # two users: unclear
        ("smithjane_12345_67890_x_555_999_hw0.ipynb", None),
        ("Jane Smith_4711_assignsubmission_file_x_5_assignsubmission_file_hw0.ipynb", None),
    ],
)
def test_lms_names(name, expected):
    folder = name.endswith("/")
    assert lms_name(name.rstrip("/"), folder=folder) == (LmsName(*expected) if expected else None)


def test_late_policies():
    assert LatePolicy.parse("none").penalty(8, 10**6) == 0
    assert LatePolicy.parse("zero").penalty(8, 1) == 8 and LatePolicy.parse("zero").penalty(8, 0) == 0
    assert LatePolicy.parse("5%/hour").penalty(8, 90 * 60) == pytest.approx(0.8)  # two started hours
    assert LatePolicy.parse("50%/day").penalty(8, 5 * 86400) == 8  # never below 0
    with pytest.raises(ValueError):
        LatePolicy.parse("ten percent")


def test_lms_download_with_roster_and_deadline(tmp_path):
    source, release = load(A)
    subs = tmp_path / "subs"
    subs.mkdir()
    full, relu = json.dumps(filled(source, release)), json.dumps(filled(source, release, {"relu_impl"}))
    files = {  # name -> (content, hours after the deadline)
        "smithjane_12345_67890_01_hw0_warmup.ipynb": (full, -1),  # on time
        "smithjane_LATE_23456_78901_01_hw0_warmup.ipynb": (full, 30),  # the other Jane Smith: 30 h late
        "leeli_34567_89012_01_hw0_warmup.ipynb": (relu, 20),  # 20 h late, 24 h extension
        "nobody_99999_11111_01_hw0_warmup.ipynb": (full, 0),  # not in the roster
    }
    for name, (text, hours) in files.items():
        p = subs / name
        p.write_text(text)
        t = (DUE + timedelta(hours=hours)).timestamp()
        os.utime(p, (t, t))
    moodle = subs / "Omar Diaz_4711_assignsubmission_file_"
    moodle.mkdir()
    (moodle / f"{A}.ipynb").write_text(full)
    t = (DUE + timedelta(hours=2)).timestamp()
    os.utime(moodle, (t, t))
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "id,name,email,lms_id,extension_hours\njsmith1,Jane Smith,j1@uni.edu,12345,0\n"
        "jsmith2,Jane Smith,j2@uni.edu,23456,0\nlli,Li Lee,l@uni.edu,34567,24\n"
        "odiaz,Omar Diaz,o@uni.edu,4711,0\n"
    )
    results = {
        r.student: r
        for r in G.grade(
            A,
            subs,
            out=tmp_path / "out",
            workers=2,
            quiet=True,
            roster=roster,
            deadline=DUE.isoformat(),
            late_policy="10%/day",
        )
    }
    assert set(results) == {"jsmith1", "jsmith2", "lli", "odiaz", "nobody-99999"}
    assert (results["jsmith1"].total, results["jsmith1"].penalty) == (8, 0)
    assert (results["jsmith2"].total, results["jsmith2"].penalty) == (8, pytest.approx(1.6))  # 2 started days
    assert (results["lli"].total, results["lli"].penalty) == (2, 0)  # within the extension
    assert (results["odiaz"].total, results["odiaz"].penalty) == (8, pytest.approx(0.8))
    assert "matches no one in the roster" in results["nobody-99999"].problem
    assert "same name" in " ".join(results["jsmith1"].notes) and "same name" in " ".join(results["jsmith2"].notes)
    rows = {r["student"]: r for r in csv.DictReader(open(tmp_path / "out" / f"grades_{A}.csv"))}
    assert rows["jsmith2"]["final_score"] == "6.4" and rows["jsmith2"]["late_penalty"] == "1.6"
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///" + str(tmp_path / "out" / "gradebook.db")) as gb:
        sub = gb.find_submission(A, "jsmith2")
        assert sub.late_submission_penalty == pytest.approx(1.6) and sub.score == 8
        who = gb.find_student("jsmith2")  # formgrader lists the roster's name and email
        assert (who.first_name, who.last_name, who.email) == ("Jane", "Smith", "j2@uni.edu")
    page = (tmp_path / "out" / "feedback" / "jsmith2" / A / f"{A}.html").read_text()
    assert "hours late" in page and "1.6 points off" in page
    from autograde import export

    finals = export.final_grades("sqlite:///" + str(tmp_path / "out" / "gradebook.db"), A, tmp_path / "out")
    assert finals["jsmith2"].final == float(rows["jsmith2"]["final_score"])  # make export reads the same figure
    import zipfile

    with zipfile.ZipFile(tmp_path / "out" / "feedback_zips" / A / "canvas_feedback.zip") as z:
        assert f"smithjane_LATE_23456_78901_{A}_feedback.html" in z.namelist()  # Canvas's own prefix
    with zipfile.ZipFile(tmp_path / "out" / "feedback_zips" / A / "moodle_feedback.zip") as z:
        assert z.namelist() == [f"Omar Diaz_4711_assignsubmission_file_/{A}_feedback.html"]
