"""Every CSV a TA opens, written one way: text that a spreadsheet would run as a formula is shown as text.

A spreadsheet (Excel, LibreOffice, Google Sheets) runs a cell that starts with ``=``, ``+``, ``-`` or
``@`` as a formula (``=HYPERLINK(...)``, ``+cmd|' /C calc'!A0``, ``@SUM(1)``, ``-2+3``), and some also
after a leading tab or carriage return. Student ids, names, file names and problem messages all reach
the grades CSV and the LMS exports, so every **text** cell goes through :func:`text_cell`: when its first
character after any leading whitespace is one of those (or its full-width form, ``＝ ＋ － ＠``, which
some spreadsheets read as the ASCII one), the cell gets a leading ``'`` (OWASP's advice), which a
spreadsheet shows as text and never runs. **Numbers** (``int``/``float``, a negative late penalty too)
are written as numbers, never escaped: only ``str`` values are text. Escaping is idempotent: an escaped
cell starts with ``'`` and is left alone when written again.

Example:
    >>> [cell(x) for x in ("=2+5", " =1", "-2+3", "alice", -2.5, 8.0)]
    ["'=2+5", "' =1", "'-2+3", 'alice', '-2.5', '8']
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

FORMULA_START = frozenset("=+-@\t\r\n＝＋－＠")


def text_cell(text: str) -> str:
    """``text`` as a cell a spreadsheet shows and never runs (see the module docstring).

    Example:
        >>> text_cell("@SUM(1)"), text_cell("Ann Lee")
        ("'@SUM(1)", 'Ann Lee')
    """
    stripped = text.lstrip(" \u00a0\u3000\f\v")
    if text[:1] in FORMULA_START or stripped[:1] in FORMULA_START:
        return "'" + text
    return text


def cell(value: object) -> str:
    """One CSV cell: numbers as numbers (``%g``), ``None`` empty, anything else as escaped text.

    Example:
        >>> cell(-1.6), cell(None), cell("=1")
        ('-1.6', '', "'=1")
    """
    if isinstance(value, bool):
        return text_cell(str(value))
    if isinstance(value, int | float):
        return f"{value:g}"
    if value is None:
        return ""
    return text_cell(str(value))


def number_or_text(text: str) -> float | str:
    """A cell read back from a CSV this module wrote: a number where it is one, else the text as it is.

    Example:
        >>> number_or_text("-1.6"), number_or_text("'=1")
        (-1.6, "'=1")
    """
    try:
        return float(text) if text.strip() == text and text else text
    except ValueError:
        return text


def write_rows(path: Path, rows: Iterable[Iterable[object]]) -> None:
    """Write ``rows`` (header first) to ``path`` as UTF-8 CSV, every cell through :func:`cell`; the file
    is replaced in one step, so a reader never sees half of it.

    Example:
        >>> # write_rows(Path("grades.csv"), [["student", "score"], ["=2+5", 8.0]])
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        for row in rows:
            w.writerow([cell(v) for v in row])
    tmp.replace(path)
