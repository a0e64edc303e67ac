"""The roster's names and emails reach nbgrader's gradebook, where formgrader lists the students."""

from __future__ import annotations

from nbgrader.api import Gradebook

from autograde.roster import Person, Roster, name_in_gradebook


def test_formgrader_gets_the_rosters_names_and_emails(tmp_path):
    db = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(db) as gb:
        gb.add_student("s01")
        gb.add_student("s02")
    roster = Roster(
        [
            Person("s01", "Ana Maria Lopez", "ana@uni.example"),
            Person("s02", "Kim", ""),
            Person("s03", "Not Graded", "n@uni.example"),
        ]
    )
    assert name_in_gradebook(db, roster, ["s01", "s02", "s03"]) == 2
    with Gradebook(db) as gb:
        ana, kim = gb.find_student("s01"), gb.find_student("s02")
        assert (ana.first_name, ana.last_name, ana.email) == ("Ana Maria", "Lopez", "ana@uni.example")
        assert (kim.first_name, kim.last_name, kim.email) == ("Kim", None, None)
        assert sorted(s.id for s in gb.students) == ["s01", "s02"], "no one formgrader would list without a submission"


def test_the_grading_manual_says_what_formgrader_shows_and_where_the_rubric_is():
    from pathlib import Path

    text = " ".join((Path(__file__).resolve().parent.parent / "docs" / "grading.md").read_text().split())
    for said in (
        "*Nbgrader > Formgrader*",
        "*Formgrader (local)*",
        "exchange directory does not exist",
        "`**Rubric (TAs):**`",
        "`solutions/ASSIGNMENT/ASSIGNMENT.ipynb`",
        "Its mean is not the class report's",
    ):
        assert said in text, said
