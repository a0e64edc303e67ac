"""What a test cell compared, counted in the trusted runner: a test that compared nothing fails.

Every ``assert`` statement of an instructor's test cell (an AST rewrite, :func:`compile_test`),
every ``torch.testing.assert_close`` and every ``course_utils.checks.check_*`` counts as one
comparison when it runs; :func:`verdict_if_nothing_compared` fails a test whose hidden part (or the
whole cell, when it has none) made none. Answers that come back in bulk (``call_many``) are checked
to be exactly one per call (:func:`answers_for`), and in a test cell ``zip`` pairs sequences of the
same length only (a missing answer cannot shorten a loop of comparisons).

Example:
    >>> code, counter = compile_test("assert 1 == 1", "<test t>")
    >>> exec(code, {"__compared__": counter})
    >>> counter.total
    1
"""

from __future__ import annotations

import ast
import builtins
import functools
import sys

from course_utils.nbcells import HIDDEN_BEGIN, in_hidden

NAME = "__compared__"  # the counter's name in a test cell's namespace


class BadAnswer(BaseException):
    """What came back is not an answer to what was asked (none, too many, too few, of the wrong kind).

    A ``BaseException``: no ``except Exception`` of a test can take it for an error of the student's code.
    """


class Counter:
    """Comparisons made while one test cell ran: all of them, and those made from its hidden part."""

    def __init__(self, filename: str, src: str):
        self.filename = filename
        self.has_hidden = HIDDEN_BEGIN in src
        self.hidden_lines = (
            {n for n in range(1, src.count("\n") + 2) if in_hidden(src, n)} if self.has_hidden else set()
        )
        self.total = self.hidden = 0

    def __call__(self) -> None:
        self.total += 1
        f = sys._getframe(1)
        while f is not None:
            if f.f_code.co_filename == self.filename and f.f_lineno in self.hidden_lines:
                self.hidden += 1
                return
            f = f.f_back


_current: list[Counter] = []


def count() -> None:
    """One comparison, for the test cell that is running (none running: nothing)."""
    if _current:
        _current[-1]()


class _CountAsserts(ast.NodeTransformer):
    def visit_Assert(self, node: ast.Assert):
        call = ast.Expr(ast.Call(ast.Name(NAME, ast.Load()), [], []))
        return [ast.copy_location(call, node), node]


def compile_test(src: str, filename: str):
    """(code, counter) of a test cell whose ``assert`` statements count themselves; asserts are kept
    whatever ``python -O`` says.

    Example:
        >>> code, counter = compile_test("for i in []:\\n    assert i", "<test t>")
        >>> exec(code, {"__compared__": counter}); counter.total
        0
    """
    tree = _CountAsserts().visit(ast.parse(src, filename))
    ast.fix_missing_locations(tree)
    return compile(tree, filename, "exec", optimize=0), Counter(filename, src)


def run_counted(code, counter: Counter, ns: dict) -> None:
    """Execute a compiled test cell with ``counter`` counting (checks and asserts alike)."""
    ns[NAME] = counter
    _current.append(counter)
    try:
        exec(code, ns)
    finally:
        _current.remove(counter)


def verdict_if_nothing_compared(counter: Counter) -> dict | None:
    """The failing verdict of a test that ran to its end without comparing anything, else None."""
    if counter.has_hidden and counter.hidden == 0:
        why = "its hidden part made no comparison (no assert, check or assert_close ran)"
        return {"passed": False, "message": f"this test compared nothing: {why}", "hidden": True}
    if counter.total == 0:
        why = "no assert, check or assert_close ran"
        return {"passed": False, "message": f"this test compared nothing: {why}", "hidden": False}
    return None


def answers_for(answers, n: int, what: str) -> list:
    """``answers`` if it is a list of exactly ``n`` answers (one per call), else :class:`BadAnswer`.

    Example:
        >>> answers_for([1, 2], 2, "f")
        [1, 2]
    """
    if type(answers) is not list:
        raise BadAnswer(f"{what}: the answers to {n} calls came back as a {type(answers).__name__}, not a list")
    if len(answers) != n:
        raise BadAnswer(f"{what}: {len(answers)} answers came back for {n} calls")
    return answers


def strict_zip(*iterables, strict: bool = True):
    """``zip`` of a test cell: sequences of different lengths fail the test (``strict=False`` to allow).

    Example:
        >>> list(strict_zip([1, 2], "ab"))
        [(1, 'a'), (2, 'b')]
    """
    if not strict:
        yield from zip(*iterables)
        return
    try:
        yield from zip(*iterables, strict=True)
    except ValueError as e:
        if not str(e).startswith("zip()"):
            raise
        why = f"a test pairs up sequences of different lengths ({e}): an answer is missing or extra"
        raise AssertionError(why) from None


def test_builtins() -> dict:
    """The builtins of a test cell: the real ones, with :func:`strict_zip` as ``zip``."""
    return dict(vars(builtins), zip=strict_zip)


def _counting(fn):
    @functools.wraps(fn)
    def counted(*args, **kwargs):
        count()
        return fn(*args, **kwargs)

    counted.counts_comparisons = True
    return counted


def install() -> None:
    """Make ``torch.testing.assert_close`` count (once, before any test or set-up imports it by name);
    ``course_utils.checks.check_*`` count through the grader's hook (``checks.use_grader``)."""
    import torch.testing

    fn = torch.testing.assert_close
    if not getattr(fn, "counts_comparisons", False):
        torch.testing.assert_close = _counting(fn)
