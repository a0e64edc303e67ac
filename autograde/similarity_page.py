"""The similarity report's table (CSV, printed), pages (HTML) and command, from :mod:`autograde.similarity`.

Everything a student wrote (code, answers, even ids and file names) reaches a page as escaped text
(``inert.text``), and every page carries the feedback pages' Content-Security-Policy: no script, no
request anywhere. Page names come from the rank only, never from a student id.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from autograde import inert, sheets, similarity
from autograde.report import CSP_META
from autograde.roster import shown
from autograde.similarity import REPO, Doc, Pair, covered

e = inert.text
HEADER = [
    "rank", "student_a", "student_b", "shared", "share_a", "share_b",
    "code_a", "code_b", "text_a", "text_b", "page",
]  # fmt: skip
_CSS = """body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
.two{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);
gap:1rem}pre{background:#f6f8fa;padding:.4rem;overflow-x:auto;margin:.2rem 0 1rem}pre span{display:block}
.m{background:#ffe08a}.r{color:#999}.note{color:#555}h3{margin:.6rem 0 0;font-size:1rem}"""


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def rows(pairs: list[Pair], pages: int) -> list[list[object]]:
    """The CSV's rows (header first): numbers as numbers, shares as fractions."""
    out: list[list[object]] = [HEADER]
    for r, p in enumerate(pairs, 1):
        page = f"pair-{r:04d}.html" if r <= pages else ""
        out.append(
            [r, p.a.student, p.b.student, p.score, round(p.share("a"), 3), round(p.share("b"), 3),
             p.a_code, p.b_code, p.a_text, p.b_text, page]
        )  # fmt: skip
    return out


def table(pairs: list[Pair]) -> str:
    """The best-ranked pairs as plain text for the terminal (ids as ``roster.shown`` prints them)."""
    from autograde.roster import shown

    if not pairs:
        return "No two submissions share anything beyond the released notebook."
    w = max(12, *(len(shown(p.a.student, 40)) for p in pairs), *(len(shown(p.b.student, 40)) for p in pairs))
    lines = [f"{'rank':>4}  {'student':<{w}}  {'student':<{w}}  {'shared':>7}  {'of a':>5}  {'of b':>5}"]
    for r, p in enumerate(pairs, 1):
        lines.append(
            f"{r:>4}  {shown(p.a.student, 40):<{w}}  {shown(p.b.student, 40):<{w}}  {p.score:>7g}  "
            f"{_pct(p.share('a')):>5}  {_pct(p.share('b')):>5}"
        )
    return "\n".join(lines)


def _page(title: str, body: str) -> str:
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'>{CSP_META}<title>{e(title)}</title>"
        f"<style>{_CSS}</style></head><body>{body}</body></html>\n"
    )


def index_html(assignment: str, docs: list[Doc], bad: list[tuple[str, str]], pairs: list[Pair], pages: int) -> str:
    """The ranked table, each pair linking to its page, and the submissions that could not be read."""
    trs = []
    for r, p in enumerate(pairs, 1):
        who = f"{e(p.a.student)} &amp; {e(p.b.student)}"
        link = f"<a href='pair-{r:04d}.html'>{who}</a>" if r <= pages else who
        trs.append(
            f"<tr><td>{r}</td><td>{link}</td><td>{p.score:g}</td><td>{_pct(p.share('a'))}</td>"
            f"<td>{_pct(p.share('b'))}</td><td>{p.a_code} / {p.b_code}</td><td>{p.a_text} / {p.b_text}</td></tr>"
        )
    body = [
        f"<h1>{e(assignment)}: similarity of {len(docs)} submissions</h1>",
        "<p class='note'>Shared: characters of their own work (tokens for code, letters for written answers) "
        "in passages both hand in, the mean of both sides; released code and passages common to many "
        "submissions are left out. A high rank is a reason to look, not a verdict; grades are untouched.</p>",
        "<table><tr><th>rank</th><th>pair</th><th>shared</th><th>of a</th><th>of b</th><th>code a / b</th>"
        "<th>text a / b</th></tr>" + "".join(trs) + "</table>"
        if trs
        else "<p>No two submissions share anything beyond the released notebook.</p>",
    ]
    if bad:
        body.append("<h2>Unreadable submissions (not compared)</h2><ul>")
        body += [f"<li>{e(s)}: {e(why)}</li>" for s, why in bad]
        body.append("</ul>")
    notes = [(d.student, n) for d in docs for n in d.notes]
    if notes:
        body.append("<ul class='note'>" + "".join(f"<li>{e(s)}: {e(n)}</li>" for s, n in notes) + "</ul>")
    return _page(f"{assignment} similarity", "".join(body))


def _blocks(doc: Doc, mask: np.ndarray) -> dict[tuple[int, int], int]:
    """{(piece, line): block number} of the matching lines, a block being a run of consecutive lines."""
    lines = sorted({(int(a), int(b)) for a, b in zip(doc.piece[mask], doc.line[mask], strict=True)})
    out, n, last = {}, 0, None
    for pl in lines:
        if last is None or pl != (last[0], last[1] + 1):
            n += 1
        out[pl], last = n, pl
    return out


def _links(p: Pair, shared: set[int], ba: dict, bb: dict) -> list[tuple[int, int]]:
    """(block of a, block of b) pairs that share a fingerprint."""
    out = set()
    for h in shared:
        xs = {ba[(int(p.a.piece[s]), int(p.a.line[s]))] for s in p.a.prints[h]}
        ys = {bb[(int(p.b.piece[s]), int(p.b.line[s]))] for s in p.b.prints[h]}
        out.update((x, y) for x in xs for y in ys)
    return sorted(out)


def _side(side: str, doc: Doc, blocks: dict[tuple[int, int], int]) -> str:
    firsts = {}
    for pl, n in blocks.items():
        firsts.setdefault(n, pl)
    starts = {pl: n for n, pl in firsts.items()}
    out = [f"<div><h2>{e(doc.student)}</h2><p class='note'>{e(doc.origin)}</p>"]
    for j, piece in enumerate(doc.pieces):
        out.append(f"<h3>cell {piece.index + 1} ({'code' if piece.kind == 'code' else 'written'})</h3><pre>")
        for i, ln in enumerate(piece.source.split("\n")):
            cls = "m" if (j, i) in blocks else "" if piece.own[i] else "r"
            anchor = f" id='{side}{starts[(j, i)]}'" if (j, i) in starts else ""
            out.append(f"<span class='{cls}'{anchor}>{e(ln) or ' '}</span>")
        out.append("</pre>")
    return "".join(out) + "</div>"


def pair_html(assignment: str, r: int, p: Pair) -> str:
    """Both submissions of a pair side by side, the matching lines marked, each block linked to its match."""
    shared = set(p.a.prints.keys() & p.b.prints.keys())
    ma = covered(p.a, np.concatenate([p.a.prints[h] for h in shared]))
    mb = covered(p.b, np.concatenate([p.b.prints[h] for h in shared]))
    ba, bb = _blocks(p.a, ma), _blocks(p.b, mb)
    links = "".join(
        f"<li><a href='#a{x}'>{e(p.a.student)} block {x}</a> &#8596; <a href='#b{y}'>{e(p.b.student)} block {y}</a>"
        "</li>"
        for x, y in _links(p, shared, ba, bb)
    )
    body = (
        f"<p><a href='index.html'>all pairs</a></p><h1>{e(assignment)} #{r}: {e(p.a.student)} &amp; "
        f"{e(p.b.student)}</h1><p>shared {p.score:g} (code {p.a_code} / {p.b_code}, written {p.a_text} / "
        f"{p.b_text}): {_pct(p.share('a'))} of {e(p.a.student)}'s own work, {_pct(p.share('b'))} of "
        f"{e(p.b.student)}'s. Marked: matching lines; grey: released lines.</p>"
        f"<ul>{links}</ul><div class='two'>{_side('a', p.a, ba)}{_side('b', p.b, bb)}</div>"
    )
    return _page(f"{assignment} similarity #{r}", body)


def write(
    out: Path, assignment: str, docs: list[Doc], bad: list[tuple[str, str]], pairs: list[Pair], pages: int
) -> tuple[Path, Path]:
    """Write ``similarity_ASSIGNMENT.csv`` and the folder ``similarity_ASSIGNMENT/`` (index and pair pages)
    under ``out``; return (CSV, index page)."""
    out = Path(out)
    folder = out / f"similarity_{assignment}"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("pair-*.html"):
        old.unlink()
    csv_path = out / f"similarity_{assignment}.csv"
    sheets.write_rows(csv_path, rows(pairs, pages))
    for r, p in enumerate(pairs[:pages], 1):
        (folder / f"pair-{r:04d}.html").write_text(pair_html(assignment, r, p), encoding="utf-8")
    index = folder / "index.html"
    index.write_text(index_html(assignment, docs, bad, pairs, pages), encoding="utf-8")
    return csv_path, index


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("assignment")
    p.add_argument("submissions", type=Path)
    p.add_argument("--out", type=Path, default=REPO / "autograde", help="output folder (default autograde/)")
    p.add_argument("--roster", type=Path, help="CSV id,name,email,lms_id: who is who (as for make grade)")
    p.add_argument("--common", type=int, help="ignore passages in more than this many submissions")
    p.add_argument("--pages", type=int, default=50, help="pairs that get a page (default 50)")
    p.add_argument("--show", type=int, default=20, help="pairs printed (default 20)")
    a = p.parse_args(argv)
    t0 = time.monotonic()
    docs, bad = similarity.load(a.assignment, a.submissions, a.roster)
    dropped = similarity.drop_common(docs, a.common)
    pairs = similarity.rank(docs)
    csv_path, index = write(a.out, a.assignment, docs, bad, pairs, a.pages)
    print(table(pairs[: a.show]))
    for student, why in bad:
        print(f"unreadable: {shown(student)}: {shown(why, 300)}")
    print(
        f"{len(docs)} submission(s) compared ({len(docs) * (len(docs) - 1) // 2} pairs, {len(pairs)} share "
        f"something; {dropped} passage(s) common to many left out), {len(bad)} unreadable, "
        f"{time.monotonic() - t0:.1f} s\nTable: {csv_path}\nPage:  {index}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
