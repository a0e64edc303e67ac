"""nbgrader's cells, read the same way everywhere: release, grading, mock submissions, the student-side check.

A notebook cell's nbgrader metadata says what it is (:func:`cell_kind`): a ``test`` cell
(autograded code), a ``solution`` cell (the student's code), a ``written`` answer (graded by hand),
a ``locked`` cell (given, read-only), or ``given`` (anything else). Source notebooks mark the
instructor's solution with ``### BEGIN SOLUTION`` / ``### END SOLUTION`` and hidden tests with
``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``.

Example:
    >>> cell = {"cell_type": "code", "source": ["x = 1\\n", "### BEGIN HIDDEN TESTS\\n", "y = 2\\n",
    ...         "### END HIDDEN TESTS\\n"], "metadata": {"nbgrader": {"grade": True, "grade_id": "t"}}}
    >>> cell_kind(cell), visible_part(cell_source(cell))
    ('test', 'x = 1')
"""

from __future__ import annotations

import hashlib

SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


def cell_source(cell: dict) -> str:
    """A notebook cell's source as one string (nbformat stores a string or a list of lines)."""
    s = cell.get("source", "") if isinstance(cell, dict) else ""
    if isinstance(s, list):
        return "".join(x for x in s if isinstance(x, str))
    return s if isinstance(s, str) else ""


def nbgrader_meta(cell: dict) -> dict:
    """A cell's nbgrader metadata, or {} when it has none (or it is malformed)."""
    md = cell.get("metadata") if isinstance(cell, dict) else None
    n = md.get("nbgrader") if isinstance(md, dict) else None
    return n if isinstance(n, dict) else {}


def grade_id(cell: dict) -> str | None:
    """The cell's nbgrader grade id when it is a non-empty string, else None."""
    g = nbgrader_meta(cell).get("grade_id")
    return g if isinstance(g, str) and g else None


def points(cell: dict) -> float:
    """The cell's points (0 when missing or not a small number)."""
    p = nbgrader_meta(cell).get("points", 0)
    if type(p) not in (int, float) or isinstance(p, bool) or not 0 <= p <= 1e6:
        return 0.0
    return float(p)


def cell_kind(cell: dict) -> str:
    """``test``, ``solution``, ``written``, ``locked`` or ``given`` (see the module docstring)."""
    n = nbgrader_meta(cell)
    if not grade_id(cell):
        return "given"
    if n.get("grade") is True and cell.get("cell_type") == "code" and not n.get("solution"):
        return "test"
    if n.get("grade") is True:
        return "written"
    if n.get("solution") is True:
        return "solution"
    return "locked"


def cell_checksum(cell: dict) -> str:
    """nbgrader's checksum of a cell (``nbgrader.utils.compute_checksum``): md5 of source, type, flags, points.

    Example:
        >>> cell_checksum({"cell_type": "code", "source": "x = 1", "metadata": {"nbgrader": {"grade_id": "a",
        ...     "solution": True}}})
        '3952363144b9625d080fedd1f7d073ce'
    """
    n = nbgrader_meta(cell)
    grade, solution = bool(n.get("grade", False)), bool(n.get("solution", False))
    locked = False if solution else (True if grade else bool(n.get("locked", False)))
    m = hashlib.md5()
    for part in (
        cell_source(cell),
        cell.get("cell_type", ""),
        str(n.get("grade", False)),
        str(n.get("solution", False)),
        str(locked),
        n.get("grade_id", ""),
    ):
        m.update(str(part).encode("utf-8"))
    if grade:
        m.update(str(float(n.get("points", 0))).encode("utf-8"))
    return m.hexdigest()


def strip_solution_markers(source: str) -> str:
    """The instructor's solution without the BEGIN/END SOLUTION marker lines."""
    return "\n".join(line for line in source.splitlines() if line.strip() not in (SOLUTION_BEGIN, SOLUTION_END))


def visible_part(source: str) -> str:
    """A test cell without its hidden tests (what students were given)."""
    out, inside = [], False
    for line in source.splitlines():
        if HIDDEN_BEGIN in line:
            inside = True
        elif HIDDEN_END in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def in_hidden(source: str, line: int) -> bool:
    """Whether 1-based ``line`` of a test cell lies between the hidden-test markers."""
    inside = False
    for i, text in enumerate(source.splitlines(), 1):
        if HIDDEN_BEGIN in text:
            inside = True
        elif HIDDEN_END in text:
            inside = False
        if i == line:
            return inside
    return False


def is_homework(nb: dict) -> bool:
    """Whether a notebook (a dict, or nbformat's node) is graded: it has nbgrader test cells. Lectures have none."""
    return any(nbgrader_meta(c).get("grade") for c in nb["cells"] if c["cell_type"] == "code")
