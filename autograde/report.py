"""Reporting: scores from verdicts, the gradebook, the autograded notebook, feedback and the CSV.

Everything here runs in the host and reads only the trusted runner's verdicts (``host.Outcome``).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from autograde import inert
from autograde.job import Assignment, Job
from autograde.rules import LIMIT
from autograde.sheets import number_or_text, text_cell, write_rows
from course_utils.nbcells import cell_checksum, cell_source, grade_id, nbgrader_meta, visible_part

if TYPE_CHECKING:
    from autograde.final import FinalGrade
    from autograde.host import Outcome


@dataclass(frozen=True)
class Result:
    """One student's grading result, built once (``worker.Worker.grade``, from the trusted runner's
    verdicts: :func:`verdicts`) and never changed: the steps after it (lateness, the gradebook) each
    return a new one (``dataclasses.replace``). Its tables are read-only views."""

    student: str
    origin: str
    scores: Mapping[str, float] = field(default_factory=dict)  # grade_id -> points scored
    messages: Mapping[str, str] = field(default_factory=dict)  # grade_id -> why it failed
    hidden: Mapping[str, bool] = field(default_factory=dict)  # grade_id -> failed in the hidden tests
    notes: tuple[str, ...] = ()
    problem: str | None = None
    seconds: float = 0.0
    job: Job | None = None
    outcome: Outcome | None = None
    submitted: datetime | None = None  # when it was handed in
    extension: timedelta | None = None  # the roster's extension; None keeps the gradebook's
    grade: FinalGrade | None = None  # from the gradebook once written (final.settle)
    unanswered: Mapping[str, str] = field(default_factory=dict)  # written grade_id -> why it scores 0

    def __post_init__(self):
        for name in ("scores", "messages", "hidden", "unanswered"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))
        object.__setattr__(self, "notes", tuple(self.notes))

    def __reduce__(self):  # to a Dask client and back: plain tables, frozen again on arrival
        plain = {f.name: getattr(self, f.name) for f in fields(self)}
        return _rebuild, ({k: dict(v) if isinstance(v, MappingProxyType) else v for k, v in plain.items()},)

    @property
    def total(self) -> float:
        return sum(self.scores.values())

    @property
    def manual(self) -> float:
        return self.grade.manual if self.grade is not None else 0.0

    @property
    def penalty(self) -> float:
        """The late penalty in points (``final.settle``: of autograded + manual); 0 until written."""
        return self.grade.penalty if self.grade is not None else 0.0

    @property
    def late_seconds(self) -> float:
        return self.grade.seconds_late if self.grade is not None else 0.0

    @property
    def final(self) -> float:
        """The final grade (``final.FinalGrade.final``) once written, else autograded - penalty."""
        return self.grade.final if self.grade is not None else max(0.0, self.total - self.penalty)


def _rebuild(values: dict) -> Result:
    return Result(**values)


def verdicts(job: Job | None, out: Outcome | None, a: Assignment) -> dict:
    """The scores, messages and notes of one student from the trusted runner's verdicts (nothing else
    counts): the fields of a :class:`Result`.

    Example:
        >>> # Result(student, origin, **verdicts(job, outcome, a))
    """
    given = out.verdicts if out is not None else {}
    scores, messages, hidden, notes = dict.fromkeys(a.tests, 0.0), {}, {}, []
    for k, cell in enumerate(job.cells if job else []):
        if cell["kind"] != "test":
            continue
        gid = cell["grade_id"]
        v = given.get(k)
        if v is not None and v.get("passed") is True:
            scores[gid] = a.cells[gid].points
            continue
        scores[gid] = 0.0
        if v is not None:
            messages[gid] = str(v.get("message", "failed"))[: LIMIT["message_chars"]]
            hidden[gid] = v.get("hidden") is True
        else:
            stopped = out.stopped if out is not None and out.stopped else "the notebook stopped before this test"
            messages[gid] = f"not run: {stopped}"
    if out is not None and out.stopped:
        where = f" at cell {out.stopped_at + 1}" if out.stopped_at is not None else ""
        notes.append(f"stopped{where}: {out.stopped}")
    if out is not None:
        notes += out.notes
    return dict(scores=scores, messages=messages, hidden=hidden, notes=notes)


def unanswered(nb: dict | None, a: Assignment, problem: str | None = None) -> dict[str, str]:
    """{grade_id: why it scores 0} of the written answers that need no hand grade: left exactly as
    released (nbgrader's checksum of the cell, as nbgrader's own autograde judges "unchanged"), missing
    from the notebook, or a notebook that could not be read.

    Example:
        >>> # unanswered(student_nb, a) == {"resnet_table_why": "No response: ..."}
    """
    written = [g for g in a.order if a.cells[g].kind == "written"]
    if nb is None:
        why = f"Your submission could not be graded ({problem}): 0 points." if problem else "Nothing was handed in."
        return dict.fromkeys(written, why)
    released = {grade_id(c): c for c in a.release_nb["cells"] if grade_id(c)}
    cells = {grade_id(c): c for c in nb.get("cells", []) if isinstance(c, dict) and grade_id(c)}
    out = {}
    for gid in written:
        c, rel = cells.get(gid), released.get(gid)
        if c is None:
            out[gid] = "No response: this answer's cell is not in the notebook (0 points)."
        elif rel is not None and cell_checksum(dict(rel, source=cell_source(c))) == cell_checksum(rel):
            out[gid] = "No response: the answer was left as released (0 points)."
    return out


def write_gradebook(db_url: str, a: Assignment, res: Result, deadline=None, policy=None, graded: bool = True):
    """Write one student's autograded scores, hand-in time, deadline and extension into nbgrader's
    gradebook (manual scores entered in formgrader stay), then the final grade (``final.settle``: the
    late penalty of ``policy`` taken from autograded + manual), returned (``final.FinalGrade``).
    ``graded``: formgrader will show it (its autograded notebook is written)."""
    import warnings

    from nbgrader.api import Gradebook

    from autograde.final import settle

    nb_id = Path(a.notebook).stem
    utc = lambda t: t.astimezone(UTC).replace(tzinfo=None) if t is not None else None
    with warnings.catch_warnings(), Gradebook(db_url) as gb:
        warnings.simplefilter("ignore")  # nbgrader's own SQLAlchemy session warnings
        if deadline is not None:
            gb.update_or_create_assignment(a.name, duedate=utc(deadline))
        gb.update_or_create_student(res.student)
        sub = gb.update_or_create_submission(a.name, res.student, timestamp=utc(res.submitted))
        if res.extension is not None:
            sub.extension = res.extension or None
        for gid, cell in a.cells.items():
            if cell.kind not in ("test", "written"):
                continue
            g = gb.find_grade(gid, nb_id, a.name, res.student)
            if cell.kind == "test":
                g.auto_score = res.scores.get(gid, 0.0)
                g.needs_manual_grade = g.manual_score is not None
                continue
            why = res.unanswered.get(gid)  # no answer: 0, as nbgrader scores an unchanged cell
            g.auto_score = 0.0 if why else None
            g.needs_manual_grade = g.manual_score is None and not why
            gb.find_comment(gid, nb_id, a.name, res.student).auto_comment = why
        gb.db.commit()
        grade = settle(sub, policy, graded)
        gb.db.commit()
    return grade


def write_student(s, res: Result, a: Assignment, out: Path, db_url: str, submissions: Path, late) -> Result:
    """Write one student's results (``collect.Submission`` ``s``, graded as ``res``; ``late``: a
    ``late.Late``): the gradebook, the notebooks as handed in and as graded, the feedback page. Once a TA
    gave a hand score or comment the page is nbgrader's (``export.feedback``), with them, never one without.
    Returns ``res`` with its final grade."""
    import json

    res = replace(res, grade=write_gradebook(db_url, a, res, late.due, late.policy, graded=s.nb is not None))
    if s.nb is not None:
        for d, nb in (("submitted", s.nb), ("autograded", autograded_notebook(s.nb, a, res))):
            if d == "submitted" and (out / d).resolve() == Path(submissions).resolve():
                continue  # grading nbgrader's own submitted/ folder in place
            p = out / d / res.student / a.name
            p.mkdir(parents=True, exist_ok=True)
            (p / a.notebook).write_text(json.dumps(nb, indent=1))
    if s.nb is not None and res.grade.by_hand:
        from autograde.export import feedback

        feedback(out, a.name, db_url, [res.student], zips=False)
        return res
    fb = out / "feedback" / res.student / a.name
    fb.mkdir(parents=True, exist_ok=True)
    (fb / (Path(a.notebook).stem + ".html")).write_text(feedback_html(a, res))
    return res


def autograded_notebook(nb: dict | None, a: Assignment, res: Result) -> dict:
    """The student's whole notebook as graded: their markdown (written answers) and code with the
    outputs it produced, the instructor's test cells in place with their results; all of it inert
    (``inert.notebook``: sanitized markdown, text and checked images only), as formgrader shows it."""
    src_meta = {grade_id(c): nbgrader_meta(c) for c in a.source_nb["cells"] if grade_id(c)}
    cells_in = nb["cells"] if nb is not None else []
    cells, emitted = [], -1

    def markdown_until(i: int) -> None:
        nonlocal emitted
        for j in range(emitted + 1, i):
            c = cells_in[j]
            if isinstance(c, dict) and c.get("cell_type") in ("markdown", "raw"):
                meta = {"nbgrader": dict(src_meta[grade_id(c)])} if grade_id(c) in src_meta else {}
                cells.append({"cell_type": c["cell_type"], "id": f"m-{j}", "metadata": meta, "source": cell_source(c)})
        emitted = max(emitted, i)

    outputs = res.outcome.outputs if res.outcome is not None else {}
    ran = 0  # execution counts in the order the cells ran; a cell that never ran keeps In [ ]

    def count(did_run: bool) -> int | None:
        nonlocal ran
        ran += did_run
        return ran if did_run else None

    for k, cell in enumerate(res.job.cells if res.job else []):
        if isinstance(cell.get("nb"), int):
            markdown_until(cell["nb"])
        gid = cell.get("grade_id")
        meta = {"nbgrader": dict(src_meta[gid])} if gid in src_meta else {}
        if cell["kind"] == "test":
            ok = res.scores.get(gid, 0) > 0
            outs = (
                []
                if ok
                else [
                    {
                        "output_type": "error",
                        "ename": "TestFailed",
                        "evalue": _feedback_message(res, gid, False),
                        # nbconvert and formgrader render an error output's traceback only
                        "traceback": [f"TestFailed: {_feedback_message(res, gid, False)}"],
                    }
                ]
            )
            cells.append(
                {
                    "cell_type": "code",
                    "id": f"t-{k}",
                    "metadata": meta,
                    "source": a.cells[gid].source,
                    "outputs": outs,
                    "execution_count": count(gid in res.scores),
                }
            )
        else:
            cells.append(
                {
                    "cell_type": "code",
                    "id": f"c-{k}",
                    "metadata": meta,
                    "source": cell.get("shown", cell["src"]),
                    "outputs": outputs.get(k, []),
                    "execution_count": count(k in outputs),
                }
            )
    markdown_until(len(cells_in))
    return inert.notebook({"cells": cells, "metadata": a.release_nb.get("metadata", {})})


_CSS = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;border-radius:4px}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}.ok{color:#176f2c}.bad{color:#b00020}
.result{border-left:4px solid #ccc;padding:.3rem .8rem;margin:.3rem 0 1.2rem}.result.ok{border-color:#2da44e}
.result.bad{border-color:#cf222e}.note{color:#555}"""


# No script, frame, form, base or request to anywhere: the page is text, styles and data images.
CSP_META = (
    "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'\">"
)


def feedback_html(a: Assignment, res: Result) -> str:
    """Feedback for the student: score per graded cell, visible test code and messages, no hidden tests."""
    e = inert.text
    rows = []
    by_hand = sum(c.points for g, c in a.cells.items() if c.kind == "written" and g not in res.unanswered)
    for gid in a.order:
        c = a.cells[gid]
        if c.kind == "test":
            s = res.scores.get(gid, 0.0)
            cls = "ok" if s == c.points else "bad"
            rows.append(
                f"<tr><td>{e(gid)}</td><td class='{cls}'>{s:g} / {c.points:g}</td>"
                f"<td>{e(_feedback_message(res, gid, s == c.points))}</td></tr>"
            )
        elif c.kind == "written" and gid in res.unanswered:
            rows.append(
                f"<tr><td>{e(gid)}</td><td class='bad'>0 / {c.points:g}</td><td>{e(res.unanswered[gid])}</td></tr>"
            )
        elif c.kind == "written":
            rows.append(f"<tr><td>{e(gid)}</td><td>? / {c.points:g}</td><td>graded by hand</td></tr>")
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'>{CSP_META}"
        f"<title>{e(a.name)} feedback: {e(res.student)}</title>"
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{e(a.name)}: feedback for {e(res.student)}</h1>",
        f"<p><b>Autograded score: {res.total:g} / {a.auto_points:g}</b>"
        + (f" (plus {by_hand:g} points graded by hand)" if by_hand else "")
        + "</p>"
        + (
            f"<p class='bad'>Handed in {res.late_seconds / 3600:.1f} hours late: {res.penalty:g} points off, "
            f"taken from the whole score (score after the penalty: {res.final:g}"
            + ("; taken again from the whole score once the written answers are graded)" if by_hand else ")")
            + "</p>"
            if res.late_seconds > 0
            else ""
        ),
        "<table><tr><th>cell</th><th>score</th><th>result</th></tr>" + "".join(rows) + "</table>",
    ]
    if res.problem:
        parts.append(f"<p class='bad'>{e(res.problem)}</p>")
    if res.notes:
        parts.append("<ul class='note'>" + "".join(f"<li>{e(n)}</li>" for n in res.notes) + "</ul>")
    if res.job is not None:
        parts.append("<h2>Your notebook as graded</h2>")
        for cell in res.job.cells:
            if cell["kind"] == "test":
                gid = cell["grade_id"]
                c = a.cells[gid]
                ok = res.scores.get(gid, 0.0) == c.points
                parts.append(
                    f"<h3>Test {e(gid)} ({res.scores.get(gid, 0.0):g} / {c.points:g})</h3>"
                    f"<pre>{e(visible_part(c.release))}</pre>"
                )
                parts.append(
                    f"<div class='result {'ok' if ok else 'bad'}'>"
                    f"{'passed' if ok else e(_feedback_message(res, gid, ok))}</div>"
                )
            else:
                parts.append(f"<pre>{e(cell.get('shown', cell['src']))}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _feedback_message(res: Result, gid: str, ok: bool) -> str:
    if ok:
        return "passed"
    msg = res.messages.get(gid, "failed")
    if res.hidden.get(gid):
        short = msg if ":" in msg and msg.split(":", 1)[1].strip() else ""
        return "a hidden test failed" + (f": {short}" if short else " (its code is not shown)")
    return msg


def write_csv(
    path: Path, a: Assignment, results: list[Result], keep_others: bool = False, finals: dict | None = None
) -> None:
    """One row per student; ``keep_others`` (regrading some students) keeps the other rows of ``path``.
    ``finals`` ({student: final.FinalGrade}, from the gradebook) gives every row its hand points, late
    penalty and final grade, the figures ``make export`` writes. Every text cell is escaped against
    spreadsheet formulas, every figure stays a number (``sheets.py``).

    Example:
        >>> # write_csv(Path("autograde/grades_01_hw0_warmup.csv"), a, results, finals=final_grades(url, a.name))
    """
    tests = a.tests
    header = ["student", "assignment", "score", "max_score", "manual", "late_hours", "late_penalty", "final_score"]
    header += ["status"] + tests + ["problems"]
    figures = {2, 3, 4, 5, 6, 7, *range(9, 9 + len(tests))}  # the columns holding numbers
    rows: dict[str, list] = {}
    if keep_others and path.exists():
        with open(path, newline="", encoding="utf-8") as f:
            old = list(csv.reader(f))
        if old and old[0] == [text_cell(h) for h in header]:
            rows = {r[0]: [number_or_text(c) if i in figures else c for i, c in enumerate(r)] for r in old[1:] if r}
    for r in results:
        status = "failed" if r.problem else "graded"
        late = [round(max(0.0, r.late_seconds) / 3600, 2), r.penalty, r.final]
        rows[text_cell(r.student)] = (
            [r.student, a.name, r.total, a.auto_points, r.manual, *late, status]
            + [float(r.scores.get(g, 0)) for g in tests]
            + ["; ".join(([r.problem] if r.problem else []) + list(r.notes))]
        )
    for student, g in (finals or {}).items():
        row = rows.get(text_cell(student))
        if row is not None:
            row[4:8] = [g.manual, round(g.seconds_late / 3600, 2), g.penalty, g.final]
    write_rows(path, [header] + [rows[k] for k in sorted(rows)])
