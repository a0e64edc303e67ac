"""Who is who: student ids from LMS bulk downloads, and a roster that maps them to the course's ids.

An LMS names each file or folder of a download after the student's *name* (which the student can
often choose) plus numeric ids (which only the LMS writes). Only the ids say who handed a file in, so
the patterns anchor on what the LMS writes, never on what a student can type:

=========  ============================================================  ===============================
LMS        what it writes                                                read as
=========  ============================================================  ===============================
Canvas     ``<name>[_LATE]_<user id>_<attachment id>_<file name>``,       name, LATE, user id
           e.g. ``smithjane_LATE_12345_67890_hw0.ipynb``                  (``lms_id``), file
Moodle     ``<full name>_<participant id>_assignsubmission_<plugin>``     name, participant id
           (a folder, ``_`` at the end in older Moodles) or the same       (``lms_id``)
           plus ``_<file name>`` (a file)
=========  ============================================================  ===============================

What the LMS guarantees, and what is read from it:

- Canvas (``ContentZipper``) keeps only letters, digits and ``_`` of the lower-cased sortable name
  (``Smith, Jane`` -> ``smithjane``), then ``LATE`` if late, the user id, the attachment id and the
  original file name (``/ \\ : * ? " < > |`` replaced by ``_``). Ids are ASCII digits with no leading
  zero. The name and the file name are the student's: both can hold ``_12345_67890_``, so every place
  where ``_<user id>_<attachment id>_`` can stand is tried. When all readings agree on the user id the
  file is that user's; when they name different users (a student who uploads
  ``smithjane_LATE_12345_67890_hw0.ipynb``, or whose name reads ``smithjane_12345_67890_x``), the file
  is **unclear**: graded for no one and reported for the TA, whoever the roster knows.
- Moodle replaces ``_`` by a space in the full name; the folder ends with the fixed
  ``_<participant id>_assignsubmission_<plugin>``, so a folder is read from its **end** (the last
  occurrence, which a name cannot fake). A file (Moodle's older "all in one folder" download) is
  ``..._assignsubmission_<plugin>_<file name>``: every occurrence is tried, as for Canvas.
- Ids are ASCII digits only: ``١٢٣٤٥`` or ``１２３４５`` (which Python's ``int`` would read as 12345)
  never match.

A roster (CSV with the columns ``id,name,email,lms_id``, optionally ``extension_hours``) maps an
``lms_id`` to the course's student id (nbgrader's); only the LMS id is looked up, never a name. Without
a roster the id is the name and the LMS id (``smithjane-12345``), so two Jane Smiths are two students.
With a roster, a file whose LMS id is not in it is reported ("matches no one in the roster") instead of
graded under a guess.

Example:
    >>> lms_name("smithjane_LATE_12345_67890_01_hw0_warmup.ipynb")
    LmsName(lms='canvas', name='smithjane', lms_id='12345', late=True)
    >>> lms_name("Jane Smith_4711_assignsubmission_file_", folder=True)
    LmsName(lms='moodle', name='Jane Smith', lms_id='4711', late=False)
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

# Canvas: _<user id>_<attachment id>_ (ASCII digits, no leading zero), tried at every place.
CANVAS_IDS = re.compile(r"(?=_([1-9][0-9]*)_([1-9][0-9]*)_(.))", re.S)
CANVAS_NAME = re.compile(r"\w*")  # what Canvas keeps of a name: letters, digits (any script) and _
# Moodle: a folder ends with the fixed suffix; a file holds it somewhere before the file name.
MOODLE_FOLDER = re.compile(r"^(?P<name>.*)_(?P<lms_id>[0-9]+)_assignsubmission_[a-z][a-z0-9]*_?$", re.S)
MOODLE_IDS = re.compile(r"(?=_([0-9]+)_assignsubmission_[a-z][a-z0-9]*_(.))", re.S)


@dataclass(frozen=True)
class LmsName:
    """One reading of a download's name: which LMS, the student's name, the LMS's id, marked late."""

    lms: str
    name: str
    lms_id: str
    late: bool = False


def lms_names(entry: str, folder: bool = False) -> list[LmsName]:
    """Every reading of ``entry`` (a file or, with ``folder``, a folder name) as an LMS download, left to
    right; one for an ordinary download, several when text a student typed looks like ids, none when it
    is no LMS's.

    Example:
        >>> [r.lms_id for r in lms_names("evil_555_999_smithjane_LATE_12345_67890_hw0.ipynb")]
        ['555', '12345']
    """
    m = MOODLE_FOLDER.match(entry) if folder else None
    if m:
        return [LmsName("moodle", m["name"], m["lms_id"])]
    out = []
    for m in CANVAS_IDS.finditer(entry):
        head = entry[: m.start()]
        late = head.lower() == "late" or head[-5:].lower() == "_late"  # Canvas wrote LATE, older ones late
        name = head[:-5] if late and len(head) > 4 else "" if late else head
        if CANVAS_NAME.fullmatch(name):
            out.append(LmsName("canvas", name, m[1], late))
    if not out and not folder:
        for m in MOODLE_IDS.finditer(entry):
            out.append(LmsName("moodle", entry[: m.start()], m[1]))
    return out


def lms_name(entry: str, folder: bool = False) -> LmsName | None:
    """The one reading of ``entry`` as an LMS download; None when it is none, or unclear (readings that
    name different ids).

    Example:
        >>> lms_name("bob_hw0_final.ipynb") is None
        True
    """
    found = lms_names(entry, folder)
    return found[0] if found and len({r.lms_id for r in found}) == 1 else None


def slug(name: str) -> str:
    """A student's name as an id nbgrader accepts (letters, digits, . - _).

    Example:
        >>> slug("Jane Smith")
        'jane-smith'
    """
    return re.sub(r"[^A-Za-z0-9.\-]+", "-", name).strip("-.").lower() or "student"


def shown(text: str, limit: int = 160) -> str:
    """``text`` (a file name, an id) as it is safe to print: control and invisible characters (escape
    sequences, carriage returns, right-to-left overrides) written as ``\\xNN``/``\\uNNNN``, cut at ``limit``.

    Example:
        >>> print(shown("a\\rb"))
        a\\x0db
    """
    out = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}" for c in text)
    return out if len(out) <= limit else out[: limit - 3] + "..."


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


NOT_LMS = ("nbgrader folder", "files named by student")  # the sources of entries no LMS named


@dataclass
class Who:
    """Whose an entry of the submissions folder is: the student id, where it came from (``source``: two
    entries of one student from different sources are never ranked against each other), notes, the
    problem that stops it from being graded, and the ids of students an unclear entry may belong to."""

    student: str
    source: str
    notes: list[str] = field(default_factory=list)
    problem: str | None = None
    maybe: list[str] = field(default_factory=list)
    name: str | None = None  # the student's name in the LMS download, if it is one


def student_for(entry: str, roster: Roster | None, folder: bool = False) -> Who:
    """Whose ``entry`` (a top-level file or folder of the submissions folder) is.

    Example:
        >>> student_for("smithjane_12345_67890_hw0.ipynb", None).student
        'smithjane-12345'
    """
    readings = lms_names(entry, folder)
    if not readings:
        sid = entry if folder else Path(entry).stem.split("_")[0]
        problem = (
            f"{shown(entry)} matches no one in the roster" if roster is not None and sid not in roster.by_id else None
        )
        return Who(sid, "nbgrader folder" if folder else "files named by student", problem=problem)
    lms = readings[0].lms.title()
    ids = sorted({r.lms_id for r in readings}, key=int)
    if len(ids) > 1:
        people = [roster.by_lms[i].id for i in ids if roster is not None and i in roster.by_lms]
        return Who(
            "unclear-" + "-".join(ids),
            f"{lms} (unclear)",
            problem=f"{shown(entry)}: cannot tell whose file this is: its name reads as {lms} id "
            + " or ".join(ids)
            + (f" (in the roster: {', '.join(people)})" if people else "")
            + "; graded for no one (a name or file name a student typed holds ids): check with the LMS",
            maybe=people,
        )
    r = next(x for x in readings if x.late) if any(x.late for x in readings) else readings[0]
    notes = [f"marked LATE by {lms}"] if r.late else []
    source = f"{lms} id {r.lms_id}"
    if roster is None:
        return Who(f"{slug(r.name)}-{r.lms_id}", source, notes, name=r.name)
    person = roster.by_lms.get(r.lms_id)
    if person is None:
        why = f"{shown(entry)} ({lms} id {r.lms_id}) matches no one in the roster"
        return Who(f"{slug(r.name)}-{r.lms_id}", source, notes, why, name=r.name)
    return Who(person.id, source, notes, name=r.name)


def name_in_gradebook(db_url: str, roster: Roster | None, students: list[str]) -> int:
    """Give formgrader the roster's names and emails: nbgrader's Student first_name, last_name and email
    for each of ``students`` in the gradebook whom the roster knows (the name split at its last space).
    Returns how many.

    Example:
        >>> name_in_gradebook("sqlite://", None, ["s1"])  # no roster: nothing to name
        0
    """
    if roster is None:
        return 0
    import warnings

    from nbgrader.api import Gradebook, Student

    named = 0
    with warnings.catch_warnings(), Gradebook(db_url) as gb:
        warnings.simplefilter("ignore")  # nbgrader's own SQLAlchemy session warnings
        for sid in students:
            p = roster.by_id.get(sid)
            if p is None or not gb.db.query(Student).filter(Student.id == sid).count():
                continue  # only students formgrader lists (a submission that could not be read has none)
            first, _, last = p.name.strip().rpartition(" ")
            first, last = (first, last) if first else (last, "")
            gb.update_or_create_student(sid, first_name=first or None, last_name=last or None, email=p.email or None)
            named += 1
    return named
