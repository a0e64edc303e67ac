"""Who is who: student ids from LMS bulk downloads, and a roster that maps them to the course's ids.

LMS downloads name files after the student's *name* plus numeric ids, so two students with the
same name differ only in those ids. The patterns (as nbgrader's ``zip_collect`` takes a named
regular expression per LMS):

=========  =====================================================  ===================================
LMS        file or folder name                                    groups
=========  =====================================================  ===================================
Canvas     ``smithjane_LATE_12345_67890_hw0.ipynb``               name, LATE (optional), user id
                                                                  (``lms_id``), submission id, file
Moodle     ``Jane Smith_12345_assignsubmission_file_`` (folder)   name, participant id (``lms_id``)
           or ``Jane Smith_12345_assignsubmission_file_hw0.ipynb``
=========  =====================================================  ===================================

A roster (CSV with the columns ``id,name,email,lms_id``, optionally ``extension_hours``) maps an
``lms_id`` to the course's student id (nbgrader's). Without a roster the id is the name and the
LMS id (``smithjane-12345``), so two Jane Smiths are two students. With a roster, a file whose
LMS id is not in it is reported ("matches no one in the roster") instead of graded under a guess.

Example:
    >>> lms_name("smithjane_LATE_12345_67890_01_hw0_warmup.ipynb")
    ('canvas', 'smithjane', '12345', True)
    >>> lms_name("Jane Smith_4711_assignsubmission_file_")
    ('moodle', 'Jane Smith', '4711', False)
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

CANVAS = re.compile(r"^(?P<name>[A-Za-z0-9\-]+?)(?P<late>_LATE)?_(?P<lms_id>\d+)_(?P<sub_id>\d+)_(?P<file>.+)$")
MOODLE = re.compile(r"^(?P<name>[^_/]+?)_(?P<lms_id>\d+)_assignsubmission_(?:file|onlinetext)_(?P<file>.*)$")


def lms_name(name: str) -> tuple[str, str, str, bool] | None:
    """(lms, student's name, lms id, marked late) of an LMS download's file or folder name, or None."""
    m = CANVAS.match(name)
    if m:
        return "canvas", m["name"], m["lms_id"], bool(m["late"])
    m = MOODLE.match(name)
    if m:
        return "moodle", m["name"], m["lms_id"], False
    return None


def slug(name: str) -> str:
    """A student's name as an id nbgrader accepts (letters, digits, . - _)."""
    return re.sub(r"[^A-Za-z0-9.\-]+", "-", name).strip("-").lower() or "student"


@dataclass
class Person:
    id: str
    name: str = ""
    email: str = ""
    lms_id: str = ""
    extension_hours: float = 0.0


class Roster:
    """The course's students (see the module docstring for the CSV)."""

    def __init__(self, people: list[Person]):
        self.people = people
        self.by_lms = {p.lms_id: p for p in people if p.lms_id}
        self.by_id = {p.id: p for p in people}

    @classmethod
    def read(cls, path: Path) -> Roster:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
        if rows and "id" not in rows[0]:
            raise ValueError(f"{path}: a roster needs the columns id,name,email,lms_id (found {', '.join(rows[0])})")
        people = []
        for r in rows:
            ext = (r.get("extension_hours") or "0").strip() or "0"
            people.append(
                Person(
                    r["id"].strip(),
                    (r.get("name") or "").strip(),
                    (r.get("email") or "").strip(),
                    (r.get("lms_id") or "").strip(),
                    float(ext),
                )
            )
        return cls(people)


def student_for(entry: str, roster: Roster | None) -> tuple[str, list[str], str | None]:
    """(student id, notes, problem) of a top-level entry of the submissions folder."""
    found = lms_name(entry)
    if found is None:
        sid = Path(entry).stem.split("_")[0] if "." in entry else entry
        if roster is not None and sid not in roster.by_id:
            return sid, [], f"{entry} matches no one in the roster"
        return sid, [], None
    lms, name, lms_id, late = found
    notes = [f"marked LATE by {lms.title()}"] if late else []
    if roster is None:
        return f"{slug(name)}-{lms_id}", notes, None
    person = roster.by_lms.get(lms_id)
    if person is None:
        return f"{slug(name)}-{lms_id}", notes, f"{entry} ({lms.title()} id {lms_id}) matches no one in the roster"
    return person.id, notes, None
