"""Reporting: scores from verdicts, the gradebook, the autograded notebook, feedback and the CSV.

Everything here runs in the host and reads only the trusted runner's verdicts (``host.Outcome``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path

from autograde import inert
from autograde.job import Assignment, Job
from autograde.sheets import number_or_text, text_cell, write_rows
from course_utils.nbcells import cell_source, grade_id, nbgrader_meta, visible_part


@dataclass
class Result:
    student: str
    origin: str
    scores: dict[str, float] = field(default_factory=dict)  # grade_id -> points scored
    messages: dict[str, str] = field(default_factory=dict)  # grade_id -> why it failed
    hidden: dict[str, bool] = field(default_factory=dict)  # grade_id -> failed in the hidden tests
    notes: list[str] = field(default_factory=list)
    problem: str | None = None
    seconds: float = 0.0
    job: Job | None = None
    outcome: object = None
    late_seconds: float = 0.0
    penalty: float = 0.0  # late penalty, in points
    submitted: object = None  # when it was handed in (datetime)

    @property
    def total(self) -> float:
        return sum(self.scores.values())

    @property
    def final(self) -> float:
        return max(0.0, self.total - self.penalty)


def score(res: Result, a: Assignment) -> None:
    """Fill ``res.scores`` from the trusted runner's verdicts (nothing else counts)."""
    out = res.outcome
    verdicts = out.verdicts if out is not None else {}
    for k, cell in enumerate(res.job.cells if res.job else []):
        if cell["kind"] != "test":
            continue
        gid = cell["grade_id"]
        v = verdicts.get(k)
        if v is not None and v.get("passed") is True:
            res.scores[gid] = a.cells[gid].points
            continue
        res.scores[gid] = 0.0
        if v is not None:
            res.messages[gid] = str(v.get("message", "failed"))[:2000]
            res.hidden[gid] = v.get("hidden") is True
        else:
            stopped = out.stopped if out is not None and out.stopped else "the notebook stopped before this test"
            res.messages[gid] = f"not run: {stopped}"
    if out is not None and out.stopped:
        where = f" at cell {out.stopped_at + 1}" if out.stopped_at is not None else ""
        res.notes.append(f"stopped{where}: {out.stopped}")
    if out is not None:
        res.notes += out.notes
    for gid in a.tests:
        res.scores.setdefault(gid, 0.0)


def write_gradebook(db_url: str, a: Assignment, res: Result, deadline=None) -> None:
    import warnings

    from nbgrader.api import Gradebook

    nb_id = Path(a.notebook).stem
    utc = lambda t: t.astimezone(UTC).replace(tzinfo=None) if t is not None else None
    with warnings.catch_warnings(), Gradebook(db_url) as gb:
        warnings.simplefilter("ignore")  # nbgrader's own SQLAlchemy session warnings
        if deadline is not None:
            gb.update_or_create_assignment(a.name, duedate=utc(deadline))
        gb.update_or_create_student(res.student)
        sub = gb.update_or_create_submission(a.name, res.student, timestamp=utc(res.submitted))
        for nb in sub.notebooks:
            nb.late_submission_penalty = res.penalty or None
        for gid, cell in a.cells.items():
            if cell.kind not in ("test", "written"):
                continue
            g = gb.find_grade(gid, nb_id, a.name, res.student)
            if cell.kind == "test":
                g.auto_score = res.scores.get(gid, 0.0)
                g.needs_manual_grade = g.manual_score is not None
            else:
                g.auto_score = None
                g.needs_manual_grade = g.manual_score is None
        gb.db.commit()


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
    for gid in a.order:
        c = a.cells[gid]
        if c.kind == "test":
            s = res.scores.get(gid, 0.0)
            cls = "ok" if s == c.points else "bad"
            rows.append(
                f"<tr><td>{e(gid)}</td><td class='{cls}'>{s:g} / {c.points:g}</td>"
                f"<td>{e(_feedback_message(res, gid, s == c.points))}</td></tr>"
            )
        elif c.kind == "written":
            rows.append(f"<tr><td>{e(gid)}</td><td>? / {c.points:g}</td><td>graded by hand</td></tr>")
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'>{CSP_META}"
        f"<title>{e(a.name)} feedback: {e(res.student)}</title>"
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{e(a.name)}: feedback for {e(res.student)}</h1>",
        f"<p><b>Autograded score: {res.total:g} / {a.auto_points:g}</b>"
        + (f" (plus {a.manual_points:g} points graded by hand)" if a.manual_points else "")
        + "</p>"
        + (
            f"<p class='bad'>Handed in {res.late_seconds / 3600:.1f} hours late: {res.penalty:g} points off "
            f"(score after the penalty: {res.final:g})</p>"
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


def write_csv(path: Path, a: Assignment, results: list[Result], keep_others: bool = False) -> None:
    """One row per student; ``keep_others`` (regrading some students) keeps the other rows of ``path``.
    Every text cell is escaped against spreadsheet formulas, every figure stays a number (``sheets.py``).

    Example:
        >>> # write_csv(Path("autograde/grades_01_hw0_warmup.csv"), a, results)
    """
    tests = a.tests
    header = (
        ["student", "assignment", "score", "max_score", "late_hours", "late_penalty", "final_score", "status"]
        + tests
        + ["problems"]
    )
    figures = {2, 3, 4, 5, 6, *range(8, 8 + len(tests))}  # the columns holding numbers
    rows: dict[str, list] = {}
    if keep_others and path.exists():
        with open(path, newline="", encoding="utf-8") as f:
            old = list(csv.reader(f))
        if old and old[0] == [text_cell(h) for h in header]:
            rows = {r[0]: [number_or_text(c) if i in figures else c for i, c in enumerate(r)] for r in old[1:] if r}
    for r in results:
        status = "failed" if r.problem else "graded"
        rows[text_cell(r.student)] = (
            [
                r.student,
                a.name,
                r.total,
                a.auto_points,
                round(max(0.0, r.late_seconds) / 3600, 2),
                r.penalty,
                r.final,
                status,
            ]
            + [float(r.scores.get(g, 0)) for g in tests]
            + ["; ".join(([r.problem] if r.problem else []) + r.notes)]
        )
    write_rows(path, [header] + [rows[k] for k in sorted(rows)])
