"""After hand grading: final grades for the LMS, and feedback back to students.

    make export ASSIGNMENT=04_hw1_layer_sizes FORMAT=canvas [EXPORT_ARGS="--roster roster.csv --db URL"]
    make feedback ASSIGNMENT=04_hw1_layer_sizes

Both read nbgrader's gradebook, the one ``make grade`` wrote and formgrader edits, so the manual
scores and comments TAs entered there are in what comes out:

- **grades** (:func:`final_grades`, :func:`write_grades`): per student, autograded + manual points
  (nbgrader's submission score: a TA's manual score replaces a cell's autograded one) minus the late
  penalty taken from that total (``final.py``, the one computation every output reads; it writes the
  penalty back into the gradebook), never below 0. Formats: ``plain`` (every figure, for the course's
  records), ``canvas`` (Canvas's gradebook import: ``Student,ID,SIS User ID,SIS Login ID,Section``,
  then one column per assignment; ``ID`` is the Canvas user id, the roster's ``lms_id``) and
  ``moodle`` (Moodle's grade import: map ``Email address`` to the user's email, the assignment
  column to the grade item, and its ``(feedback)`` column to feedback). Students of the roster
  without a submission get an empty cell (the LMS leaves their grade alone) and are listed.
- **feedback** (:func:`feedback`): nbgrader's own ``generate_feedback`` on the autograded notebooks
  (the whole notebook, outputs, every cell's score, the TAs' comments, the late penalty), with
  nbgrader's ``ClearHiddenTests`` so no hidden test reaches a student, and ``inert.InertNotebook``
  first so that what the student wrote reaches the page only inert, then one zip per student for
  the LMS's feedback upload (``feedback_zips/ASSIGNMENT/``: ``canvas_feedback.zip`` and
  ``moodle_feedback.zip`` named as each LMS matches a page to its student, ``STUDENT_feedback.zip``).

Example:
    >>> final_score(31.0, 3.0, 6.8)      # autograded 31 + manual 3 - 20% of 34 (two started days late)
    27.2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograde.final import FinalGrade, final_grades, final_score  # noqa: F401 (the one computation)
from autograde.roster import Person, Roster, shown
from autograde.sheets import write_rows

REPO = Path(__file__).resolve().parent.parent
FORMATS = ("plain", "canvas", "moodle")


def _rows(fmt: str, assignment: str, grades: dict[str, FinalGrade], people: list[Person]) -> list[list[object]]:
    """The export's rows, header first: figures as numbers, everything else as text (``sheets.write_rows``
    escapes the text and leaves the numbers alone)."""
    if fmt == "plain":
        header = ["id", "name", "email", "lms_id", "assignment", "autograded", "manual", "late_penalty", "final"]
        rows: list[list[object]] = [header + ["max_score", "status"]]
        for p in people:
            g = grades.get(p.id)
            status = (
                "no submission"
                if g is None
                else "could not be graded"
                if g.unreadable
                else "needs manual grade"
                if g.needs_manual_grade
                else "graded"
            )
            figures = [g.score - g.manual, g.manual, g.penalty, g.final, g.max_score] if g else [None] * 5
            rows.append([p.id, p.name, p.email, p.lms_id, assignment, *figures, status])
        return rows
    if fmt == "canvas":
        rows = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", assignment]]
        return rows + [
            [p.name or p.id, p.lms_id, "", "", "", grades[p.id].final if p.id in grades else None] for p in people
        ]
    rows = [["Full name", "Email address", "ID number", assignment, f"{assignment} (feedback)"]]
    for p in people:
        g = grades.get(p.id)
        note = (
            ""
            if g is None
            else f"autograded {g.score - g.manual:g}, by hand {g.manual:g}"
            + (f", late -{g.penalty:g}" if g.penalty else "")
        )
        rows.append([p.name or p.id, p.email, p.id, g.final if g else None, note])
    return rows


def write_grades(
    path: Path, assignment: str, grades: dict[str, FinalGrade], fmt: str = "plain", roster: Roster | None = None
) -> list[str]:
    """Write the CSV (text cells escaped against spreadsheet formulas, grades as numbers); return warnings
    (students still to grade by hand, without a submission, ...).

    Example:
        >>> # write_grades(Path("final.csv"), "hw", final_grades(url, "hw"), "canvas", Roster.read(path))
    """
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: choose one of {', '.join(FORMATS)}")
    people = list(roster.people) if roster else []
    known = {p.id for p in people}
    people += [Person(s) for s in sorted(grades) if s not in known]
    said = []
    if fmt != "plain" and roster is None:
        said.append(f"no --roster: the {fmt} file has the course's ids only (the LMS needs its ids or emails)")
    said += pending(grades)
    missing = [shown(p.id) for p in people if p.id not in grades]
    if missing:
        said.append(f"{len(missing)} on the roster without a submission (left empty): {', '.join(missing[:20])}")
    write_rows(Path(path), _rows(fmt, assignment, grades, people))
    return said


def pending(grades: dict[str, FinalGrade]) -> list[str]:
    """Warnings: the submissions formgrader shows that still wait for a hand grade, and those it does
    not show because they could not be graded (they score 0 and need nothing by hand).

    Example:
        >>> pending({"ann": FinalGrade("ann", needs_manual_grade=True)})[0]
        '1 still need grading by hand in formgrader (their final grade lacks those points): ann'
    """
    todo = sorted(shown(s) for s, g in grades.items() if g.needs_manual_grade and not g.unreadable)
    bad = sorted(shown(s) for s, g in grades.items() if g.unreadable)
    said = []
    for names, what in (
        (todo, "still need grading by hand in formgrader (their final grade lacks those points)"),
        (bad, "could not be graded and are not in formgrader (0 points; why: grades_ASSIGNMENT.csv)"),
    ):
        if names:
            said.append(f"{len(names)} {what}: {', '.join(names[:20])}" + (" ..." if len(names) > 20 else ""))
    return said


def _nbgrader_api(out: Path, db_url: str):
    """nbgrader's API on the layout ``make grade`` writes under ``out``."""
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.preprocessors import ClearHiddenTests, GetGrades
    from traitlets.config import Config

    from autograde.inert import InertNotebook

    cfg = Config()
    cfg.CourseDirectory.root = str(out)
    cfg.CourseDirectory.autograded_directory = "autograded"
    cfg.CourseDirectory.feedback_directory = "feedback"
    cfg.CourseDirectory.submitted_directory = "submitted"
    cfg.CourseDirectory.db_url = db_url
    # the notebook inert first (sanitized markdown, text and checked images), then nbgrader's own steps
    cfg.GenerateFeedback.preprocessors = [InertNotebook, GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
    return NbGraderAPI(CourseDirectory(config=cfg), config=cfg)


def feedback(
    out: Path, assignment: str, db_url: str, students: list[str] | None = None, zips: bool = True
) -> list[Path]:
    """Regenerate every student's feedback page from the gradebook (manual scores and comments
    included, the late penalty retaken from that total: ``final.final_grades``) with nbgrader, then
    (``zips``) the zips for the LMS; return the zips."""
    import logging

    from autograde.lmszip import zip_feedback

    final_grades(db_url, assignment, out)  # the penalties in the gradebook are those of today's scores
    api = _nbgrader_api(out, db_url)
    api.log.setLevel(logging.ERROR)
    done = []
    for student in students or sorted(p.name for p in (out / "autograded").glob("*") if (p / assignment).is_dir()):
        r = api.generate_feedback(assignment, student_id=student, force=True)
        if not r["success"]:
            raise RuntimeError(f"nbgrader could not make {student}'s feedback: {r.get('error', '')[-2000:]}")
        done.append(student)
    return zip_feedback(out, assignment, done) if zips else []


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["grades", "feedback"])
    p.add_argument("assignment")
    p.add_argument("--out", type=Path, default=REPO / "autograde", help="make grade's output folder")
    p.add_argument("--db", help="gradebook URL (default sqlite:///OUT/gradebook.db)")
    p.add_argument("--format", choices=FORMATS, default="plain")
    p.add_argument("--roster", type=Path, help="CSV id,name,email,lms_id: names, emails and LMS ids")
    p.add_argument("--student", action="append", dest="students", metavar="ID", help="feedback for this student only")
    p.add_argument("--to", type=Path, help="CSV to write (default OUT/final_ASSIGNMENT_FORMAT.csv)")
    args = p.parse_args(argv)
    db_url = args.db or "sqlite:///" + str((args.out / "gradebook.db").resolve())
    if args.what == "feedback":
        zips = feedback(args.out, args.assignment, db_url, args.students)
        for line in pending(final_grades(db_url, args.assignment, args.out)):
            print(f"warning: {line}", file=sys.stderr)
        print(
            f"Feedback with the hand-graded scores and comments: {args.out / 'feedback'}/STUDENT/{args.assignment}/"
            f"\n{len(zips)} zip(s) for the LMS: {args.out / 'feedback_zips' / args.assignment}/"
        )
        return 0
    roster = Roster.read(args.roster) if args.roster else None
    grades = final_grades(db_url, args.assignment, args.out)
    path = args.to or args.out / f"final_{args.assignment}_{args.format}.csv"
    for line in write_grades(path, args.assignment, grades, args.format, roster):
        print(f"warning: {line}", file=sys.stderr)
    print(f"{len(grades)} final grade(s) (autograded + manual - late penalty) in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
