"""The final grade, computed in one place: autograded + hand points, minus the late penalty taken from
that total, never below 0.

Everything is read from nbgrader's gradebook, which ``make grade`` writes and formgrader edits: each
cell's score (a TA's manual score replaces the autograded one), the hand-in time, the deadline
(the assignment's ``duedate``) and each student's extension (the submission's ``extension``, from
the roster). Only the late policy is kept beside it, in ``OUT/late_ASSIGNMENT.json``, written by
``make grade``. :func:`settle` takes the penalty from the total and writes it back into the gradebook
(``late_submission_penalty``), so nbgrader's own feedback page and ``nbgrader export`` show the same
figure; ``make grade`` (its CSV and feedback pages), ``make export`` and ``make feedback`` all call it.

Example:
    >>> final_score(31.0, 2.0, 6.6)      # autograded 31 + by hand 2 - 20% of 33 (two started days)
    26.4
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

from autograde.late import LatePolicy


@dataclass
class FinalGrade:
    student: str
    score: float = 0.0  # nbgrader's submission score: autograded + manual
    manual: float = 0.0  # the part of it entered by hand
    penalty: float = 0.0  # late penalty, in points, taken from ``score``
    max_score: float = 0.0
    needs_manual_grade: bool = False
    submitted: bool = True
    seconds_late: float = 0.0
    unreadable: bool = False  # no autograded notebook: formgrader does not show it
    by_hand: bool = False  # a TA entered a score or a comment in formgrader

    @property
    def final(self) -> float:
        return final_score(self.score - self.manual, self.manual, self.penalty)


def final_score(auto: float, manual: float, penalty: float) -> float:
    """What the student gets: autograded + manual - late penalty, never below 0."""
    return round(max(0.0, auto + manual - penalty), 6)


def policy_path(out: Path, assignment: str) -> Path:
    return Path(out) / f"late_{assignment}.json"


def save_policy(out: Path, assignment: str, policy: LatePolicy) -> None:
    """Keep the late policy of ``make grade`` for the exports and later regrades."""
    policy_path(out, assignment).write_text(json.dumps({"late_policy": policy.spec()}) + "\n")


def load_policy(out: Path | None, assignment: str) -> LatePolicy | None:
    """The late policy ``make grade`` last used for ``assignment`` (None: it never saved one)."""
    p = policy_path(out, assignment) if out is not None else None
    if p is None or not p.is_file():
        return None
    return LatePolicy.parse(json.loads(p.read_text())["late_policy"])


def keep_policy(out: Path, assignment: str, text: str | None) -> LatePolicy:
    """The policy ``text`` (then kept for later grading), or without one the last kept, else none.

    Example:
        >>> # keep_policy(Path("autograde"), "hw", "10%/day").spec() == "10%/day"
    """
    if not text:
        return load_policy(out, assignment) or LatePolicy()
    policy = LatePolicy.parse(text)
    save_policy(out, assignment, policy)
    return policy


def settle(sub, policy: LatePolicy | None, graded: bool = True) -> FinalGrade:
    """The final grade of one nbgrader ``SubmittedAssignment``; with a ``policy``, its late penalty is
    taken from the whole score (autograded + manual) and written into the gradebook's notebooks
    (``late_submission_penalty``; the caller commits). Without one the recorded penalty stands.
    ``graded``: whether formgrader shows it (its autograded notebook exists)."""
    grades = [g for nb in sub.notebooks for g in nb.grades]  # read here: the session may hold fresh edits
    score = float(sum(g.manual_score if g.manual_score is not None else g.auto_score or 0.0 for g in grades))
    manual = sum(g.manual_score for g in grades if g.manual_score is not None)
    late = float(sub.total_seconds_late or 0.0)
    if policy is not None:
        penalty = policy.penalty(score, late)
        for i, nb in enumerate(sorted(sub.notebooks, key=lambda n: n.name)):
            nb.late_submission_penalty = (penalty or None) if i == 0 else None
    else:
        penalty = float(sub.late_submission_penalty or 0.0)
    return FinalGrade(
        sub.student.id,
        score,
        float(manual),
        penalty,
        float(sub.max_score),
        any(g.needs_manual_grade for g in grades) and graded,
        seconds_late=late,
        unreadable=not graded,
        by_hand=manual_entered(sub),
    )


def manual_entered(sub) -> bool:
    """Whether a TA entered any score or comment for this submission (formgrader's hand grading)."""
    return any(g.manual_score is not None for nb in sub.notebooks for g in nb.grades) or any(
        c.manual_comment for nb in sub.notebooks for c in nb.comments
    )


def final_grades(db_url: str, assignment: str, out: Path | None = None) -> dict[str, FinalGrade]:
    """{student: FinalGrade} of everyone with a submission of ``assignment`` in the gradebook, the late
    penalties retaken from today's scores, deadline and extensions (``out``: ``make grade``'s folder,
    holding the policy and the autograded notebooks formgrader shows).

    Example:
        >>> # final_grades("sqlite:///autograde/gradebook.db", "04_hw1_layer_sizes", Path("autograde"))
    """
    from nbgrader.api import Gradebook, MissingEntry

    policy = load_policy(out, assignment)
    grades = {}
    with warnings.catch_warnings(), Gradebook(db_url) as gb:
        warnings.simplefilter("ignore")  # nbgrader's own SQLAlchemy warnings
        try:
            a = gb.find_assignment(assignment)
        except MissingEntry:
            raise SystemExit(f"the gradebook {db_url} has no assignment {assignment}: run make grade first") from None
        for sub in a.submissions:
            shown = out is None or all(
                (Path(out) / "autograded" / sub.student.id / assignment / f"{nb.name}.ipynb").is_file()
                for nb in sub.notebooks
            )
            grades[sub.student.id] = settle(sub, policy, shown)
        gb.db.commit()
    return grades
