"""Similarity report: which submissions share code or written answers (``make similarity``).

Every pair of submissions is compared with copydetect's winnowing (the fingerprints MOSS uses): code is
tokenized by Pygments with names, strings and comments left out (renamed variables and reformatting do
not hide a copy), written answers (markdown cells) are compared letter by letter, case, spaces and
punctuation left out. What a student did not write is never counted:

- the released notebook is the boilerplate: an unchanged cell is skipped, a line that is in the released
  notebook is not the student's, and a fingerprint that is also the released notebook's is dropped;
- a fingerprint is kept only when it lies wholly in the student's own lines of one cell, so a short
  formula (``return n_in * n_out``) under the fingerprint length, beside released code, matches nothing;
- a passage found in more than ``--common`` submissions (default: 10, or 5 % of a large class) is the
  way everyone writes it and is dropped, as MOSS does with its ``-m``.

A pair's score is how many characters (tokens, for code) of their own work they share, the mean of both
sides; the table also says which share of each student's own work that is. Each of the best-ranked pairs
gets a page with both submissions side by side, the matching lines marked and linked to each other.
Outputs (``--out``, default ``autograde/``): ``similarity_ASSIGNMENT.csv`` (``sheets.py``: no cell is a
formula) and ``similarity_ASSIGNMENT/index.html``. It reads submissions only: no gradebook, no grade.

    python -m autograde.similarity_page 04_hw1_layer_sizes ~/Downloads/hw1 --roster roster.csv
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

try:
    from copydetect import defaults as _cd_defaults
    from copydetect.utils import filter_code, hashed_kgrams, winnow
except ImportError as e:  # pragma: no cover -- the environment is pinned; say what to install
    raise ImportError("copydetect is not installed: pip install -r requirements.txt") from e

from autograde.collect import collect
from autograde.roster import Roster
from autograde.rules import LIMIT

REPO = Path(__file__).resolve().parent.parent
# Fingerprint length: twice copydetect's noise threshold, 50 characters of filtered code (about two lines) or
# letters of text, so that one line written the natural way matches nothing. The guarantee threshold is the
# same (a winnowing window of 1): every fingerprint is kept, and the report is the same on every run.
K = 2 * _cd_defaults.NOISE_THRESHOLD
WINDOW = 1
MAX_CHARS = LIMIT["similarity_chars"]  # of one submission's own cells: the rest is left out, with a note


@dataclass
class Piece:
    """One cell holding something the student wrote: its source and which of its lines are theirs."""

    index: int  # cell number in the notebook
    kind: str  # "code" or "text"
    source: str
    own: list[bool]  # per line: not in the released notebook


@dataclass
class Doc:
    """One submission, fingerprinted: the filtered text of its pieces, end to end, and where each
    character came from."""

    student: str
    origin: str
    pieces: list[Piece]
    chars: str = ""  # filtered text of all pieces
    piece: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # piece of each character
    line: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # line in its piece
    own: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # from one of the student's lines
    code: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # from a code cell
    prints: dict[int, np.ndarray] = field(default_factory=dict)  # fingerprint -> start positions
    notes: list[str] = field(default_factory=list)

    @property
    def written(self) -> int:
        return int(self.own.sum())


@dataclass
class Pair:
    a: Doc
    b: Doc
    a_code: int
    a_text: int
    b_code: int
    b_text: int

    @property
    def score(self) -> float:
        return (self.a_code + self.a_text + self.b_code + self.b_text) / 2

    def share(self, side: str) -> float:
        d = self.a if side == "a" else self.b
        n = self.a_code + self.a_text if side == "a" else self.b_code + self.b_text
        return n / max(d.written, 1)


def _text(v: object) -> str:
    s = "".join(x for x in v if isinstance(x, str)) if isinstance(v, list) else v if isinstance(v, str) else ""
    return s.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")


def _norm(line: str, kind: str) -> str:
    return " ".join(line.split()) if kind == "code" else re.sub(r"\W+", "", line.lower())


def _kind(c: dict) -> str | None:
    return {"code": "code", "markdown": "text", "raw": "text"}.get(c.get("cell_type"))


class Released:
    """The released notebook as boilerplate: its cells, its lines and its fingerprints."""

    def __init__(self, nb: dict):
        cells = [c for c in nb.get("cells", []) if isinstance(c, dict) and _kind(c)]
        self.cells = {(_kind(c), _text(c.get("source"))) for c in cells}
        self.lines = {(_kind(c), _norm(ln, _kind(c))) for c in cells for ln in _text(c.get("source")).split("\n")}
        pieces = [Piece(i, k, s, [True] * (s.count("\n") + 1)) for i, (k, s) in enumerate(sorted(self.cells))]
        self.prints = set(fingerprint(Doc("", "", pieces)).prints)

    def pieces(self, nb: dict) -> list[Piece]:
        """The cells of ``nb`` with something of the student's own, each line marked own or released."""
        out = []
        for i, c in enumerate(nb.get("cells", [])):
            kind = _kind(c) if isinstance(c, dict) else None
            src = _text(c.get("source")) if kind else ""
            if not kind or (kind, src) in self.cells:
                continue
            own = [bool(n := _norm(ln, kind)) and (kind, n) not in self.lines for ln in src.split("\n")]
            if any(own):
                out.append(Piece(i, kind, src, own))
        return out


def _filtered(p: Piece) -> tuple[str, np.ndarray]:
    """The piece's text as fingerprints see it, and the position in ``p.source`` of each character."""
    if p.kind == "text":
        keep = [(i, ch.lower() if len(ch.lower()) == 1 else ch) for i, ch in enumerate(p.source) if ch.isalnum()]
        return "".join(ch for _, ch in keep), np.array([i for i, _ in keep], dtype=int)
    lead = len(p.source) - len(p.source.lstrip("\n"))  # Pygments drops leading newlines
    chars, offsets = filter_code(p.source[lead:], "cell.py", "python")
    at = np.arange(len(chars))
    if len(offsets) == 0:
        return chars, at + lead
    removed = np.maximum.accumulate(offsets[:, 1])  # characters left out before each entry, never fewer
    return chars, at + lead + removed[np.clip(np.searchsorted(offsets[:, 0], at), 0, len(offsets) - 1)]


def fingerprint(doc: Doc) -> Doc:
    """Fill in ``doc``'s filtered text and its fingerprints (those lying in the student's own lines of
    one piece only)."""
    parts, piece, line, own, code = [], [], [], [], []
    for j, p in enumerate(doc.pieces):
        chars, pos = _filtered(p)
        pos = np.clip(pos, 0, max(len(p.source) - 1, 0))
        newlines = np.array([i for i, ch in enumerate(p.source) if ch == "\n"], dtype=int)
        ln = np.searchsorted(newlines, pos) if len(pos) else np.zeros(0, int)
        parts.append(chars)
        piece.append(np.full(len(chars), j))
        line.append(ln)
        own.append(np.array(p.own, dtype=bool)[ln] if len(ln) else np.zeros(0, bool))
        code.append(np.full(len(chars), p.kind == "code"))
    doc.chars = "".join(parts)
    if not parts:
        return doc
    doc.piece, doc.line, doc.own, doc.code = map(np.concatenate, (piece, line, own, code))
    n = len(doc.chars) - K + 1
    if n <= 0:
        return doc
    starts = np.arange(n)
    not_own = np.concatenate([[0], np.cumsum(~doc.own)])
    good = (not_own[starts + K] == not_own[starts]) & (doc.piece[starts] == doc.piece[starts + K - 1])
    hashes, idx = hashed_kgrams(doc.chars, K)[good], starts[good]
    if not len(hashes):  # nothing of the student's own is a fingerprint long
        return doc
    hashes, sel = winnow(hashes, WINDOW, remove_duplicates=False)
    idx = idx[sel]
    order = np.argsort(hashes, kind="stable")
    hashes, idx = hashes[order], idx[order]
    cuts = np.flatnonzero(np.diff(hashes)) + 1
    doc.prints = {int(h[0]): i for h, i in zip(np.split(hashes, cuts), np.split(idx, cuts), strict=True)}
    return doc


def load(assignment: str, submissions: Path, roster: Path | None = None) -> tuple[list[Doc], list[tuple[str, str]]]:
    """(fingerprinted submissions, [(student, why unreadable)]) of a submissions folder, found as
    ``make grade`` finds them (``collect.py``)."""
    nbs = sorted((REPO / "notebooks" / assignment).glob("*.ipynb"))
    if len(nbs) != 1:
        raise SystemExit(f"{assignment}: expected one released notebook in notebooks/{assignment}/")
    import json

    released = Released(json.loads(nbs[0].read_text()))
    people = Roster.read(Path(roster)) if roster else None
    docs, bad = [], []
    for sub in collect(Path(submissions), assignment, nbs[0].name, people):
        sub.discard()  # the other files handed in are not compared
        if sub.nb is None:
            bad.append((sub.student, sub.problem or "no notebook"))
            continue
        try:
            pieces, notes, size = [], [], 0
            for p in released.pieces(sub.nb):
                size += len(p.source)
                if size > MAX_CHARS:
                    notes.append(f"over {MAX_CHARS} characters of own cells: cell {p.index} and later left out")
                    break
                pieces.append(p)
            docs.append(fingerprint(Doc(sub.student, sub.origin, pieces, notes=notes)))
        except Exception as e:  # one odd notebook is listed, never stops the others
            bad.append((sub.student, f"{sub.origin}: unreadable ({type(e).__name__}: {str(e)[:160]})"))
    for d in docs:  # released code, even moved or respaced, is not the student's own work
        gone = [h for h in d.prints if h in released.prints]
        if gone:
            d.own &= ~covered(d, np.concatenate([d.prints.pop(h) for h in gone]))
    return docs, bad


def drop_common(docs: list[Doc], most: int | None = None) -> int:
    """Drop fingerprints found in more than ``most`` submissions (default: 10, or 5 % of a large class);
    return how many distinct ones were dropped."""
    most = most if most is not None else max(10, len(docs) // 20)
    seen = Counter(h for d in docs for h in d.prints)
    common = {h for h, n in seen.items() if n > most}
    for d in docs:
        for h in common.intersection(d.prints):
            del d.prints[h]
    return len(common)


def covered(doc: Doc, starts: np.ndarray) -> np.ndarray:
    """Which characters of ``doc`` the fingerprints starting at ``starts`` cover."""
    mask = np.zeros(len(doc.chars), dtype=bool)
    for o in range(K):
        mask[starts + o] = True
    return mask


def compare(a: Doc, b: Doc) -> Pair | None:
    """What ``a`` and ``b`` share, or None when nothing."""
    shared = a.prints.keys() & b.prints.keys()
    if not shared:
        return None
    ma = covered(a, np.concatenate([a.prints[h] for h in shared]))
    mb = covered(b, np.concatenate([b.prints[h] for h in shared]))
    return Pair(
        a, b, int((ma & a.code).sum()), int((ma & ~a.code).sum()), int((mb & b.code).sum()), int((mb & ~b.code).sum())
    )


def rank(docs: list[Doc]) -> list[Pair]:
    """Every pair that shares something, most shared first."""
    pairs = [p for i, a in enumerate(docs) for b in docs[i + 1 :] if (p := compare(a, b)) is not None]
    pairs.sort(key=lambda p: (-p.score, -max(p.share("a"), p.share("b")), p.a.student, p.b.student))
    return pairs
