"""Feedback zips for the LMS: one per student, and one per LMS for its feedback upload, each page named
the way that LMS matches a file to its student.

Under ``feedback_zips/ASSIGNMENT/``: ``STUDENT_feedback.zip`` (the course's id), ``canvas_feedback.zip``
(Canvas's *Re-Upload Submissions*: the download's own ``<name>[_LATE]_<user id>_<file id>_`` prefix) and
``moodle_feedback.zip`` (Moodle's *Upload multiple feedback files in a zip*: folders
``Full Name_<participant id>_assignsubmission_file_``). Where a submission came from is in
``origins_ASSIGNMENT.json``, written by ``make grade``.

Example:
    >>> lms_upload_name("Jane Smith_4711_assignsubmission_file_/hw0.ipynb", "hw0_feedback.html")
    ('moodle', 'Jane Smith_4711_assignsubmission_file_/hw0_feedback.html')
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from autograde.roster import CANVAS_IDS, lms_name


def lms_upload_name(origin: str, page: str) -> tuple[str, str] | None:
    """(LMS, path in its feedback zip) of a feedback ``page`` for the student who handed in ``origin``
    (a file or folder of an LMS download, as ``collect`` names it), named as that LMS matches uploads to
    students; None for a submission that came from no LMS. Canvas (Re-Upload Submissions) takes the
    first two all-digit ``_`` parts of a file name as the user id and the id of a file in that student's
    submission: the download's own prefix is kept. Moodle (Upload multiple feedback files in a zip)
    reads the participant id from a folder ``Full Name_<participant id>_assignsubmission_file_``.

    Example:
        >>> lms_upload_name("smithjane_LATE_12345_67890_hw0.ipynb", "hw0_feedback.html")
        ('canvas', 'smithjane_LATE_12345_67890_hw0_feedback.html')
        >>> lms_upload_name("Jane Smith_4711_assignsubmission_file_/hw0.ipynb", "hw0_feedback.html")
        ('moodle', 'Jane Smith_4711_assignsubmission_file_/hw0_feedback.html')
    """
    first, slash, _ = origin.partition("/")
    head, colon, _ = first.partition(":")
    first = head if colon and head.lower().endswith(".zip") else first  # a notebook inside a handed-in zip
    who = lms_name(first, folder=bool(slash))
    if who is None:
        return None
    if who.lms == "moodle":
        return "moodle", f"{who.name}_{who.lms_id}_assignsubmission_file_/{page}"
    for m in CANVAS_IDS.finditer(first):
        prefix = f"{first[: m.start()]}_{m[1]}_{m[2]}_".lstrip("_")
        if m[1] == who.lms_id and [p for p in prefix.split("_") if p.isdigit()][:2] == [m[1], m[2]]:
            return "canvas", prefix + page
    return None


def zip_feedback(out: Path, assignment: str, students: list[str]) -> list[Path]:
    """Zip each student's ``feedback/STUDENT/ASSIGNMENT/*.html`` into ``feedback_zips/ASSIGNMENT/``
    (``STUDENT_feedback.zip``), and every page of the class whose submission came from an LMS into
    that LMS's one upload: ``canvas_feedback.zip`` and ``moodle_feedback.zip`` (:func:`lms_upload_name`)."""
    folder = out / "feedback_zips" / assignment
    folder.mkdir(parents=True, exist_ok=True)
    made = []

    def pages_of(student: str) -> list[tuple[Path, str]]:
        pages = sorted((out / "feedback" / student / assignment).glob("*.html"))
        return [(p, f"{assignment}_{p.name}" if len(pages) > 1 else f"{assignment}_feedback.html") for p in pages]

    for student in students:
        pages = pages_of(student)
        if not pages:
            continue
        z = folder / f"{student}_feedback.zip"
        with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as f:
            for page, name in pages:
                f.write(page, name)
        made.append(z)
    origins_file = out / f"origins_{assignment}.json"
    origins = json.loads(origins_file.read_text()) if origins_file.is_file() else {}
    uploads: dict[str, list[tuple[Path, str]]] = {}
    for student, origin in sorted(origins.items()):
        for page, name in pages_of(student):
            where = lms_upload_name(origin, name)
            if where:
                uploads.setdefault(where[0], []).append((page, where[1]))
    for lms in ("canvas", "moodle"):
        z = folder / f"{lms}_feedback.zip"
        z.unlink(missing_ok=True)
        if uploads.get(lms):
            with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as f:
                for page, name in uploads[lms]:
                    f.write(page, name)
            made.append(z)
    return made
