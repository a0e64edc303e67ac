"""Deadlines and late penalties, applied the way nbgrader's late-submission plugins do.

A submission's time is the file's modification time (Canvas and Moodle downloads keep it; nbgrader's
own folders carry a ``timestamp.txt``, read when present). It is late by
``time - (deadline + the student's extension)``. The hand-in time, the deadline and the extension go
into nbgrader's gradebook; the penalty, in points, is taken from the whole score, autograded + by
hand, by ``final.settle`` (never below 0), and recorded there too (``late_submission_penalty``), so
``nbgrader export`` and nbgrader's feedback show it.

Policies (``--late-policy``): ``none``; ``zero`` (any lateness scores 0); ``P%/hour`` or
``P%/day`` (P percent of the score per *started* hour or day: 30 hours late is two days).

Example:
    >>> policy = LatePolicy.parse("10%/day")
    >>> policy.penalty(8.0, seconds_late=26 * 3600)       # two started days: 20% of 8
    1.6
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autograde.collect import Submission
    from autograde.report import Result
    from autograde.roster import Roster


@dataclass
class LatePolicy:
    kind: str = "none"  # none | zero | percent
    percent: float = 0.0
    unit_seconds: float = 3600.0

    @classmethod
    def parse(cls, text: str) -> LatePolicy:
        text = text.strip().lower()
        if text in ("none", "zero"):
            return cls(text)
        m = re.fullmatch(r"(\d+(?:\.\d+)?)%/(hour|day)", text)
        if not m:
            raise ValueError(f"late policy {text!r}: use none, zero, P%/hour or P%/day")
        return cls("percent", float(m[1]), 3600.0 if m[2] == "hour" else 86400.0)

    def penalty(self, score: float, seconds_late: float) -> float:
        """Points taken off ``score`` for ``seconds_late`` (0 when on time)."""
        if seconds_late <= 0 or self.kind == "none":
            return 0.0
        if self.kind == "zero":
            return score
        units = math.ceil(seconds_late / self.unit_seconds)
        return round(min(score, score * self.percent / 100 * units), 6)

    def spec(self) -> str:
        """The text :meth:`parse` reads back (``10%/day``)."""
        if self.kind == "percent":
            return f"{self.percent:g}%/{'hour' if self.unit_seconds == 3600 else 'day'}"
        return self.kind

    def describe(self) -> str:
        if self.kind == "percent":
            return f"{self.percent:g}% per {'hour' if self.unit_seconds == 3600 else 'day'} late"
        return {"none": "no penalty", "zero": "0 points when late"}[self.kind]


def parse_time(text: str) -> datetime:
    """An ISO date and time (``2026-12-01T23:59``, with or without a zone; local time without)."""
    t = datetime.fromisoformat(text.strip())
    return t if t.tzinfo else t.astimezone()


def submitted_at(origin: Path) -> datetime:
    """When a file was handed in: nbgrader's ``timestamp.txt`` beside it, else its modification time."""
    stamp = origin.parent / "timestamp.txt" if origin.is_file() else origin / "timestamp.txt"
    if stamp.is_file():
        try:
            return parse_time(stamp.read_text()[:64])
        except ValueError:
            pass
    return datetime.fromtimestamp(origin.stat().st_mtime, tz=UTC)


class Late:
    """The deadline, each student's extension and the policy: a result's hand-in time and extension
    (the roster's, or None to keep the gradebook's). The lateness and the penalty come from the
    gradebook (``final.settle``), so a later hand grade or a changed deadline counts."""

    def __init__(self, due, policy: LatePolicy, people: Roster | None):
        self.due, self.policy, self.people = due, policy, people

    def apply(self, s: Submission, res: Result) -> Result:
        """``res`` with its hand-in time and the roster's extension."""
        submitted = submitted_at(s.path) if s.path is not None and s.path.exists() else res.submitted
        person = self.people.by_id.get(res.student) if self.people else None
        extension = timedelta(hours=person.extension_hours) if person else None
        return replace(res, submitted=submitted, extension=extension)

    def note(self, res: Result) -> Result:
        """``res`` with the note a late submission gets, once its penalty is known."""
        if res.late_seconds <= 0:
            return res
        note = f"{res.late_seconds / 3600:.1f} h late ({self.policy.describe()}): -{res.penalty:g}"
        return replace(res, notes=(*res.notes, note))
