"""After a batch: how the class did, and the feedback to hand back.

:func:`class_report` writes ``report_ASSIGNMENT.png`` (the score distribution and each test's pass
rate) and ``report_ASSIGNMENT.md`` (the same as tables: which tests most students fail, which
submissions failed to run and why). :func:`feedback_zips` records where each submission came from and
writes the feedback zips (``lmszip.py``).

Example (after ``make grade``):
    >>> # class_report(a, results, Path("autograde"))
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from autograde.job import Assignment
from autograde.lmszip import zip_feedback
from autograde.report import Result
from autograde.roster import shown

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
    totals = [r.final for r in results]  # autograded + hand points entered so far, after late penalties
    top = a.auto_points + a.manual_points
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.hist(totals, bins=min(20, max(5, int(top) + 1)), range=(0, top), color="#4c72b0")
    ax1.set_xlabel(f"final grade (autograded + hand points so far, after late penalties), out of {top:g}")
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
        f"{len(results)} submissions; mean final grade {sum(totals) / max(len(totals), 1):.2f} / {top:g} "
        f"(autograded + hand points entered so far, after late penalties)",
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
