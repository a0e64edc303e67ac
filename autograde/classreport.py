"""After a batch: how the class did, and the feedback to hand back.

:func:`class_report` writes ``report_ASSIGNMENT.png`` (the score distribution and each test's pass
rate) and ``report_ASSIGNMENT.md`` (the same as tables: which tests most students fail, which
submissions failed to run and why). :func:`feedback_zips` writes one zip per student,
``feedback_zips/ASSIGNMENT/STUDENT_feedback.zip``, and one per LMS for its feedback upload
(``canvas_feedback.zip``, ``moodle_feedback.zip``), each page named as that LMS matches it to the student.

Example (after ``make grade``):
    >>> # class_report(a, results, Path("autograde"))
"""

from __future__ import annotations

import json
import re
import zipfile
from collections import Counter
from pathlib import Path

from autograde.job import Assignment
from autograde.report import Result
from autograde.roster import CANVAS_IDS, lms_name, shown

# Markdown's and HTML's markup characters; ``_`` only where it can start or end emphasis (not in erin_k).
_MD_SPECIAL = re.compile(r"([\\`*{}\[\]<>()#+!|~&$]|(?<![^\W_])_|_(?![^\W_]))")


def md_text(text: str) -> str:
    """``text`` (a student id, a problem naming a file) as literal Markdown text: one line, every
    character Markdown or HTML would read as markup backslash-escaped, so a name like
    ``<img src=x onerror=...>`` or ``[x](javascript:...)`` shows as typed.

    Example:
        >>> print(md_text("a_b _c <i>"))
        a_b \\_c \\<i\\>
    """
    return _MD_SPECIAL.sub(r"\\\1", shown(" ".join(text.split()), limit=1000))


def pass_rates(a: Assignment, results: list[Result]) -> dict[str, float]:
    """Share of the graded submissions (those that ran) earning each test's full points."""
    ran = [r for r in results if not r.problem]
    return {g: (sum(r.scores.get(g, 0) >= a.cells[g].points for r in ran) / len(ran) if ran else 0.0) for g in a.tests}


def failure_kind(r: Result) -> str:
    """Why a submission could not be graded, without the file it names, so that alike failures group.

    Example:
        >>> failure_kind(Result("s1", "s1.ipynb", problem="s1.ipynb is not a valid notebook: invalid JSON (line 3)"))
        'is not a valid notebook'
    """
    text = r.problem or ""
    for name in {r.origin, shown(r.origin)} - {""}:
        text = text.replace(name, "")
    return re.split(r"[:(]", text, maxsplit=1)[0].strip(" .;,-") or "other"


def class_report(a: Assignment, results: list[Result], out: Path) -> tuple[Path, Path]:
    """Write the PNG and the Markdown report; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    rates = pass_rates(a, results)
    totals = [r.final for r in results]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.hist(totals, bins=min(20, max(5, int(a.auto_points) + 1)), range=(0, a.auto_points), color="#4c72b0")
    ax1.set_xlabel(f"autograded score (after late penalties), out of {a.auto_points:g}")
    ax1.set_ylabel("students")
    ax1.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # whole students only
    ax1.set_title(f"{a.name}: {len(results)} submissions")
    order = sorted(rates, key=rates.get)
    ax2.barh(order, [100 * rates[g] for g in order], color="#dd8452")
    ax2.set_xlim(0, 100)
    ax2.set_xlabel("% of submissions that ran and passed")
    ax2.set_title("each test")
    fig.tight_layout()
    png = out / f"report_{a.name}.png"
    fig.savefig(png, dpi=100)
    plt.close(fig)
    md = out / f"report_{a.name}.md"
    lines = [
        f"# {md_text(a.name)}: how the class did",
        "",
        f"![scores and pass rates]({png.name})",
        "",
        f"{len(results)} submissions; mean {sum(totals) / max(len(totals), 1):.2f} / {a.auto_points:g} "
        f"(autograded, after late penalties)",
        "",
        f"Formgrader's mean differs: it counts only the {len(results) - len([r for r in results if r.problem])} "
        f"submissions in its gradebook (not those that could not be graded), out of {a.auto_points:g} autograded + "
        f"{a.manual_points:g} hand-graded points, before late penalties.",
        "",
        "| test | points | passed |",
        "|---|---|---|",
    ]
    lines += [f"| {md_text(g)} | {a.cells[g].points:g} | {100 * rates[g]:.0f}% |" for g in order]
    failed = [r for r in results if r.problem]
    reasons = Counter(failure_kind(r) for r in failed)
    lines += ["", f"## Submissions that could not be graded ({len(failed)})", ""]
    lines += [f"- {md_text(r.student)}: {md_text(r.problem)}" for r in sorted(failed, key=lambda r: r.student)] or [
        "none"
    ]
    if reasons:
        lines += ["", "Most common: " + "; ".join(f"{md_text(k)} ({n})" for k, n in reasons.most_common(3))]
    md.write_text("\n".join(lines) + "\n")
    return png, md


def feedback_zips(a: Assignment, results: list[Result], out: Path) -> list[Path]:
    """Record where each graded student's submission came from (``origins_ASSIGNMENT.json``: the LMS
    names the uploads need), then zip the feedback pages (:func:`zip_feedback`)."""
    path = out / f"origins_{a.name}.json"
    origins = json.loads(path.read_text()) if path.is_file() else {}
    origins.update({r.student: r.origin for r in results})
    path.write_text(json.dumps(origins, indent=1, sort_keys=True) + "\n")
    return zip_feedback(out, a.name, [r.student for r in results])


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
