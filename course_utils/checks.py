"""Readable checks for exercises: compare a student's answer with PyTorch and say what differs.

Visible test cells of the graded notebooks use these so a failure message names the
input, the expected value and the actual one. Hidden tests use plain ``assert`` and
``torch.testing``.

Some helpers say *where* a test's code runs when the autograder grades it (in a notebook they
change nothing): the autograder runs tests in a trusted process and the student's code in another
(docs/grading.md, "How a notebook is graded"), so a test marks what must happen on the student's side.
There, the trusted test runner hands these helpers its own versions through one explicit hook,
:func:`use_grader` (nothing is patched); the ``check_*`` functions tell it each comparison they make,
so that a test that compared nothing fails.

- :func:`formula_only` -- the function is run in a process without torch at all (a formula must
  compute its answer itself, not ask a layer);
- :func:`student_side` -- a library function (``torchvision``'s ``ResNet``) is run next to the
  student's code, so that it can be given the student's classes; its result is only as
  trustworthy as those classes;
- :func:`refuse_forward` -- a forward pre-hook that fails if a layer is run (for "compute it
  from the layer's settings, do not run the layer");
- :func:`from_scratch` -- the function must not use the objects named (``torch.relu``): judged from
  the notebook's code, every cell (:mod:`course_utils.scratch`); under the autograder in the trusted
  process, from the submission's cells;
- :func:`call_many` -- many calls of one function at once (a loop here; one message to the
  student's process under the autograder, so hundreds of random cases stay fast).

Example:
    >>> import torch
    >>> check_close(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0]), "relu([1, 2])")
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = [
    "check_close",
    "check_shape",
    "check_equal",
    "formula_only",
    "student_side",
    "refuse_forward",
    "call_many",
    "from_scratch",
    "use_grader",
]

# The autograder's hook: None in a notebook. Under the autograder, the object its trusted test runner
# installs (``autograde/test_runner.py``), with its own ``formula_only``, ``student_side``, ``call_many``
# and ``from_scratch`` (same arguments as below) and ``compared()`` (one comparison made).
_grader = None


def use_grader(grader: object | None) -> None:
    """Route this module's helpers through ``grader`` (the autograder's test runner); None: as in a notebook.

    Example:
        >>> use_grader(None)  # what a notebook has
    """
    global _grader
    _grader = grader


def _compared() -> None:
    if _grader is not None:
        _grader.compared()


def check_shape(t: torch.Tensor, expected: Sequence[int], what: str = "tensor") -> None:
    """Raise ``AssertionError`` naming expected and actual shapes when they differ.

    Example:
        >>> check_shape(torch.zeros(2, 3), (2, 3))
    """
    _compared()
    if not isinstance(t, torch.Tensor):
        raise AssertionError(f"{what}: expected a tensor of shape {tuple(expected)}, got {type(t).__name__}")
    if tuple(t.shape) != tuple(expected):
        raise AssertionError(f"{what}: expected shape {tuple(expected)}, got {tuple(t.shape)}")


def check_close(
    actual: torch.Tensor, expected: torch.Tensor, what: str = "result", rtol: float = 1e-5, atol: float = 1e-6
) -> None:
    """Raise ``AssertionError`` unless ``actual`` matches ``expected`` in shape and value (with tolerance).

    The message gives the shape or the largest difference and where it is.

    Example:
        >>> check_close(torch.tensor(0.5), torch.sigmoid(torch.tensor(0.0)), "sigmoid(0)")
    """
    _compared()
    if actual is None:
        raise AssertionError(f"{what}: got None -- did the function forget to return its result?")
    if not isinstance(actual, torch.Tensor):
        actual = torch.as_tensor(actual, dtype=expected.dtype)
    check_shape(actual, expected.shape, what)
    a, e = actual.detach().to(torch.float64).cpu(), expected.detach().to(torch.float64).cpu()
    if torch.isnan(a).any() and not torch.isnan(e).any():
        raise AssertionError(f"{what}: contains NaN where the expected result has none")
    diff = (a - e).abs()
    bad = diff > atol + rtol * e.abs()
    if bad.any():
        i = int(diff.flatten().argmax())
        idx = tuple(int(v) for v in torch.unravel_index(torch.tensor(i), diff.shape)) if diff.ndim else ()
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {bad.numel()} values differ; the largest difference is "
            f"{diff.flatten()[i].item():.3g} at index {idx}: expected {e.flatten()[i].item():.6g}, "
            f"got {a.flatten()[i].item():.6g}"
        )


def check_equal(actual: object, expected: object, what: str = "result") -> None:
    """Raise ``AssertionError`` with both values when ``actual != expected``.

    Example:
        >>> check_equal(760, 760, "parameters of Conv2d(3, 10, 5)")
    """
    _compared()
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


def formula_only(fn):
    """``fn`` itself in a notebook; under the autograder, ``fn`` run in a process without torch.

    Example:
        >>> formula_only(abs)(-3)
        3
    """
    return fn if _grader is None else _grader.formula_only(fn)


def student_side(fn):
    """``fn`` itself in a notebook; under the autograder, ``fn`` called in the student's process.

    Example:
        >>> student_side(max)(2, 5)
        5
    """
    return fn if _grader is None else _grader.student_side(fn)


def refuse_forward(module: torch.nn.Module, args: tuple) -> None:
    """Forward pre-hook that raises: register it on a layer that must not be run.

    Example:
        >>> layer = torch.nn.ReLU()
        >>> _ = layer.register_forward_pre_hook(refuse_forward)
        >>> try:
        ...     layer(torch.zeros(1))
        ... except RuntimeError as e:
        ...     print(e)
        this layer must not be run: compute the answer from its settings
    """
    raise RuntimeError("this layer must not be run: compute the answer from its settings")


def call_many(fn, calls: list) -> list:
    """``[fn(*args, **kwargs) for args, kwargs in calls]`` (the first exception propagates).

    Example:
        >>> call_many(divmod, [((7, 2), {}), ((9, 3), {})])
        [(3, 1), (3, 0)]
    """
    if _grader is not None:
        return _grader.call_many(fn, calls)
    return [fn(*args, **kwargs) for args, kwargs in calls]


def from_scratch(fn, banned: list[str]) -> None:
    """Raise ``AssertionError`` (saying what to remove) if ``fn`` may use anything in ``banned``.

    ``banned`` names objects by their dotted names: ``"torch.relu"``, ``"torch.Tensor.relu"`` (any
    ``.relu`` counts), ``"torch.nn.functional"`` (the module and everything in it). The verdict
    comes from the notebook's code cells, all of them, read with :mod:`course_utils.scratch`:
    dynamic code anywhere in the notebook (``exec``, ``globals()`` ...) fails too. In a notebook
    the cells are IPython's input history (``In``: the cells run so far, each run; cells holding
    hidden tests are the instructor's and are skipped); under the autograder, the submission's
    code cells, in the trusted process. Outside IPython there is no notebook and
    nothing is checked.

    Example:
        >>> from_scratch(abs, banned=["torch.relu"])  # plain Python: no notebook to read
    """
    if _grader is not None:
        return _grader.from_scratch(fn, banned)
    from course_utils import scratch

    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is None or "In" not in shell.user_ns:
        scratch.Ban(banned)  # still refuse a malformed list
        return
    from IPython.core.inputtransformer2 import TransformerManager

    tm = TransformerManager()
    cells = []
    for src in shell.user_ns["In"][1:]:
        if "BEGIN HIDDEN TESTS" in src or "from_scratch(" in src:
            continue
        try:
            cells.append(tm.transform_cell(src))
        except Exception:
            cells.append(src)
    names = [n for n, v in shell.user_ns.items() if v is fn and not n.startswith("_")]
    names += [getattr(fn, "__name__", "")] if getattr(fn, "__name__", "") else []
    fail(scratch.violations(cells, sorted(set(names)), banned), names[0] if names else "the function")


def fail(problems: list[str], what: str) -> None:
    """Raise the ``AssertionError`` of :func:`from_scratch` for ``problems`` (nothing when empty).

    Example:
        >>> fail([], "relu")
    """
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise AssertionError(f"{what} must be written from scratch: remove {shown}")


def _without_check_frames(tb):
    """``tb`` cut before its last frames in this module: the reader's own line ends it, not ours."""
    entries = []
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    kept = len(entries)
    while kept > 1 and entries[kept - 1].tb_frame.f_code.co_filename == __file__:
        kept -= 1
    if kept < len(entries):
        entries[kept - 1].tb_next = None
    return entries[0] if entries else None


def _show_failed_check(shell, etype, value, tb, tb_offset=None):
    """IPython's handler for a failed check: the usual traceback, without the frames of this module."""
    shell.showtraceback((etype, value, _without_check_frames(tb)), tb_offset=tb_offset)


def hide_check_frames() -> bool:
    """In IPython (JupyterLab, Colab), show a failed check's traceback ending at the test's own line.

    Does nothing (False) outside IPython or where another handler is set. Importing this module calls it.

    Example:
        >>> hide_check_frames()  # plain Python: no IPython shell
        False
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or shell.custom_exceptions not in ((), (AssertionError,)):
        return False
    shell.set_custom_exc((AssertionError,), _show_failed_check)
    return True


hide_check_frames()
