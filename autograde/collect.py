"""Collecting submissions: one :class:`Submission` per student from a folder, whatever is in it.

Accepted layouts of the submissions folder:

  STUDENT.ipynb or STUDENT_anything.ipynb     a folder of notebooks (an LMS download)
  STUDENT.zip or STUDENT_anything.zip         zip files holding the notebook (any depth) and other files
  STUDENT/ASSIGNMENT/*.ipynb                  nbgrader's own submitted/ folder (any id nbgrader allows)

For the flat layouts the student id is the file name up to the first ``_``; Canvas and Moodle
downloads are recognised by their names and mapped to students by LMS id, through the roster when
there is one (``roster.py``). Anything else (a .pdf) is reported as "not a notebook". Hidden files
and ``__MACOSX`` are ignored, unless an LMS named them after a student.

Several entries of one student: from one *source* (one LMS id; the files named by student; nbgrader's
folder) the readable notebook handed in last is graded and a note lists the others (a student who
uploaded twice). From different sources (a Canvas file and a zip named by student, a Canvas and a
Moodle entry mapped to the same roster id, an nbgrader folder and a Moodle folder) none is preferred:
the student's row is "failed", naming every entry, for the TA to decide. An entry whose name reads as
several students' ids (see ``roster.py``) is graded for no one, in a row ``unclear-ID-ID`` of its own,
and the students it may belong to get a note.

Every file is read in its own try/except: a file that cannot be read (invalid JSON, numbers too long,
nesting too deep, a corrupt or encrypted zip) makes that student "failed" with the reason and never
stops the others. A submission's other files (a checkpoint) are streamed to a folder
of their own on disk, capped in size, never held in memory.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from autograde.roster import NOT_LMS, Roster, Who, shown, student_for
from autograde.rules import LIMIT, LIMITS, STUDENT_ID

MAX_ZIP_ENTRIES = LIMIT["zip_entries"]


@dataclass
class Submission:
    student: str
    origin: str  # file the notebook came from (for the summary)
    nb: dict | None = None
    problem: str | None = None  # why it cannot be graded at all
    notes: list[str] = field(default_factory=list)
    files: Path | None = None  # folder of the other files handed in (a checkpoint), or None
    mtime: float = 0.0
    path: Path | None = None  # the file or folder handed in (its time says when)

    def discard(self) -> None:
        if self.files is not None:
            shutil.rmtree(self.files, ignore_errors=True)
            self.files = None


def load_notebook(data: bytes, origin: str) -> tuple[dict | None, str | None]:
    """(notebook, None) or (None, why it is not one)."""
    try:
        nb = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return None, f"{origin} is not a notebook (not text)"
    except json.JSONDecodeError as e:
        return None, f"{origin} is not a valid notebook: invalid JSON (line {e.lineno}, column {e.colno}: {e.msg})"
    except (ValueError, RecursionError, MemoryError) as e:
        return None, f"{origin} is not a valid notebook ({type(e).__name__}: {str(e)[:120]})"
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return None, f"{origin} is not a Jupyter notebook (no list of cells)"
    if not all(isinstance(c, dict) for c in nb["cells"]):
        return None, f"{origin} is not a valid notebook (a cell is not an object)"
    return nb, None


def _safe_rel(rel: str) -> bool:
    parts = Path(rel).parts
    return (
        bool(parts)
        and not rel.startswith("/")
        and ".." not in parts
        and "\\" not in rel
        and not any(p.startswith(".") for p in parts)
        and "__MACOSX" not in parts
        and not rel.endswith(".ipynb")
    )


class _Files:
    """Streams a submission's other files into a folder, stopping at the size cap."""

    def __init__(self, sub: Submission, cap_mb: int):
        self.sub, self.left, self.cut, self.cap_mb = sub, int(cap_mb * 2**20), False, cap_mb

    def add(self, rel: str, stream) -> None:
        if self.cut or not _safe_rel(rel):
            return
        if self.sub.files is None:
            self.sub.files = Path(tempfile.mkdtemp(prefix="course-files-"))
        dest = self.sub.files / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest, "wb") as f:
            while True:
                chunk = stream.read(1 << 20)
                if not chunk:
                    return
                self.left -= len(chunk)
                if self.left < 0:
                    f.close()
                    dest.unlink()
                    self.cut = True
                    self.sub.notes.append(f"other files over {self.cap_mb} MB: {rel} and later ones left out")
                    return
                f.write(chunk)


def _read_capped(stream, cap: int) -> bytes | None:
    data = stream.read(cap + 1)
    return None if len(data) > cap else data


def _from_file(p: Path, root: Path, student: str, nb_name: str, caps: dict) -> Submission:
    origin = str(p.relative_to(root))
    cap = int(caps["notebook_mb"] * 2**20)
    sub = Submission(student, origin, mtime=p.stat().st_mtime)
    with open(p, "rb") as f:
        data = _read_capped(f, cap)
    if data is None:
        sub.problem = f"{origin}: notebook over {caps['notebook_mb']} MB"
        return sub
    sub.nb, sub.problem = load_notebook(data, origin)
    return sub


def _from_zip(p: Path, student: str, nb_name: str, caps: dict) -> Submission:
    sub = Submission(student, p.name, mtime=p.stat().st_mtime)
    with zipfile.ZipFile(p) as z:
        infos = z.infolist()
        if len(infos) > MAX_ZIP_ENTRIES:
            sub.problem = f"{p.name} holds over {MAX_ZIP_ENTRIES} files"
            return sub
        names = [
            i.filename
            for i in infos
            if i.filename.endswith(".ipynb")
            and "/." not in "/" + i.filename
            and "__MACOSX" not in i.filename
            and ".ipynb_checkpoints" not in i.filename
        ]
        pick = [n for n in names if Path(n).name == nb_name] or names
        if not pick:
            sub.problem = f"{p.name} holds no notebook"
            return sub
        with z.open(pick[0]) as f:
            data = _read_capped(f, int(caps["notebook_mb"] * 2**20))
        if data is None:
            sub.problem = f"{p.name}: notebook over {caps['notebook_mb']} MB"
            return sub
        sub.origin = f"{p.name}:{pick[0]}"
        sub.nb, sub.problem = load_notebook(data, sub.origin)
        if len(names) > 1:
            sub.notes.append(f"{len(names)} notebooks in the zip; graded {pick[0]}")
        base = str(Path(pick[0]).parent)
        files = _Files(sub, caps["extra_files_mb"])
        for i in infos:
            if i.is_dir() or not (base == "." or i.filename.startswith(base + "/")):
                continue
            rel = i.filename if base == "." else i.filename[len(base) + 1 :]
            if _safe_rel(rel):
                with z.open(i) as f:
                    files.add(rel, f)
    return sub


def _from_folder(p: Path, root: Path, assignment: str, nb_name: str, caps: dict) -> Submission:
    inner = p / assignment
    nbs = sorted(inner.glob("*.ipynb")) if inner.is_dir() else sorted(p.glob("*.ipynb"))
    if not nbs:
        others = [q.name for q in p.iterdir() if not q.name.startswith(".")]
        return Submission(
            p.name,
            str(p.relative_to(root)),
            problem=f"{p.name}/ holds no notebook for {assignment}" + (f" ({', '.join(others[:3])})" if others else ""),
        )
    q = ([q for q in nbs if q.name == nb_name] or nbs)[0]
    sub = _from_file(q, root, p.name, nb_name, caps)
    files = _Files(sub, caps["extra_files_mb"])
    for f in sorted(q.parent.rglob("*")):
        if f.is_file() and not f.is_symlink():
            with open(f, "rb") as stream:
                files.add(str(f.relative_to(q.parent)), stream)
    if len(nbs) > 1:
        sub.notes.append(f"{len(nbs)} notebooks in the folder; graded {q.name}")
    return sub


def _read_entry(p: Path, folder: Path, who: Who, assignment: str, nb_name: str, caps: dict) -> Submission:
    """The submission in one top-level entry; a file we cannot read fails alone, with its reason."""
    try:
        if p.is_dir():
            return _from_folder(p, folder, assignment, nb_name, caps)
        if p.suffix == ".ipynb":
            return _from_file(p, folder, who.student, nb_name, caps)
        if p.suffix == ".zip":
            return _from_zip(p, who.student, nb_name, caps)
        return Submission(who.student, p.name, problem=f"{shown(p.name)} is not a notebook (.ipynb or .zip)")
    except Exception as e:  # a file we cannot read fails alone
        why = (
            "not a valid zip file"
            if isinstance(e, zipfile.BadZipFile)
            else f"unreadable ({type(e).__name__}: {str(e)[:160]})"
        )
        return Submission(who.student, p.name, problem=f"{shown(p.name)}: {why}")


def _choose(student: str, subs: list[Submission], sources: list[str]) -> Submission:
    """One student's submission. From one source (one LMS id, the files named by student, nbgrader's
    folder): the readable notebook handed in last, the others listed in a note. From several sources:
    none is preferred; the student's row names them all for the TA to decide."""
    if len(set(sources)) > 1:
        for s in subs:
            s.discard()
        places = "; ".join(f"{shown(s.origin)} ({src})" for s, src in zip(subs, sources, strict=True))
        return Submission(
            student,
            ", ".join(s.origin for s in subs),
            problem=f"{len(subs)} submissions from different places ({places}): graded none; "
            f"keep the one that is theirs and grade again (--student {shown(student)})",
            notes=sorted({n for s in subs for n in s.notes}),
        )
    subs.sort(key=lambda s: (s.nb is not None, s.mtime))  # prefer readable notebooks, then the newest
    chosen = subs[-1]
    for s in subs[:-1]:
        s.discard()
    if not re.match(STUDENT_ID, student):
        chosen.problem = chosen.problem or f"{shown(chosen.origin)}: cannot tell the student id from the file name"
    if len(subs) > 1:
        chosen.notes.append(
            f"{len(subs)} submissions found ({', '.join(shown(s.origin) for s in subs)}); graded {shown(chosen.origin)}"
        )
    return chosen


def _entries(folder: Path, roster: Roster | None) -> list[tuple[Path, Who]]:
    """The top-level entries worth reading, each with whose it is. Hidden files, ``__MACOSX`` and links are
    left out, unless an LMS named them (a student whose name starts with ``.`` or ``_``)."""
    out, clean = [], set()
    for p in sorted(folder.iterdir()):
        if p.is_symlink():
            continue
        who = student_for(p.name, roster, folder=p.is_dir())
        if (p.name.startswith(".") or p.name.startswith("__")) and who.source in NOT_LMS:
            continue
        out.append((p, who))
        if who.problem is None:
            clean.add(who.student)
    taken = clean | (set(roster.by_id) if roster is not None else set())
    for _, who in out:  # an entry graded for no one never shares a row with a student's own submission
        if who.problem is not None and who.student in taken:
            who.student = f"unmatched-{who.student}"
    return out


def collect(
    folder: Path, assignment: str, nb_name: str, roster: Roster | None = None, limits: dict | None = None
) -> list[Submission]:
    """Submissions found in ``folder``, one per student (see the module docstring); ``limits``:
    ``notebook_mb`` and ``extra_files_mb`` other than ``rules.LIMITS``'s.

    Example:
        >>> # collect(Path("downloads"), "01_hw0_warmup", "01_hw0_warmup.ipynb", Roster.read(Path("roster.csv")))
    """
    folder, caps = Path(folder), dict(LIMITS, **(limits or {}))
    found: dict[str, list[tuple[Submission, str]]] = {}
    names: dict[str, set[str]] = {}  # a name in the LMS download -> the students it was mapped to
    unclear: dict[str, list[str]] = {}  # a student -> unclear entries that may be theirs
    for p, who in _entries(folder, roster):
        if who.name is not None:
            names.setdefault(who.name.lower(), set()).add(who.student)
        for sid in who.maybe:
            unclear.setdefault(sid, []).append(shown(p.name))
        sub = _read_entry(p, folder, who, assignment, nb_name, caps)
        sub.student, sub.path = who.student, p
        sub.notes = who.notes + sub.notes
        sub.problem = who.problem or sub.problem
        found.setdefault(who.student, []).append((sub, who.source))
    out = [
        _choose(student, [s for s, _ in pairs], [src for _, src in pairs]) for student, pairs in sorted(found.items())
    ]
    for sub in out:
        if sub.student in unclear:
            sub.notes.append(f"a file graded for no one may be theirs too: {', '.join(unclear[sub.student])}")
    for ids in names.values():
        if len(ids) > 1:
            for sub in out:
                if sub.student in ids:
                    sub.notes.append(
                        f"same name as {', '.join(sorted(ids - {sub.student}))} in the LMS download: "
                        "both graded, check who is who"
                    )
    return out
