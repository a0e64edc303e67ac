"""A test that compared nothing fails: cheats that make HW1's hidden tests compare nothing.

The students below know the visible tests' answers (a table) and nothing else, and tamper with the
processes that answer the trusted runner: the torch-free formula process's encoder (``call_many``
answers ``[]``), the student's own request dispatcher (reached through ``get_ipython``, through
``sys.modules``, through ``gc``) answering nothing, a stand-in, or one answer too many. Each must earn
exactly what a student who left the same cells unsolved earns, in the same batch as an honest student
with full marks. Unit tests: the counting of comparisons, and the shape of answers.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest
import torch

from autograde import counting
from autograde import grade as G
from autograde import test_runner as T
from autograde.mock_submissions import filled, load, solution_code
from course_utils.nbcells import HIDDEN_BEGIN, cell_kind, cell_source, grade_id, points

A = "04_hw1_layer_sizes"
LIMITS = {"cell": 60, "notebook": 300}


def _tests(source: dict) -> dict[str, str]:
    return {grade_id(c): cell_source(c) for c in source["cells"] if cell_kind(c) == "test"}


FORMULA_CALL = re.compile(r"(?:_formula_only|\.formula_checks)\((\w+)[,)]")  # a test that runs a formula alone


def _formula_cells(source: dict) -> dict[str, str]:
    """{solution cell: the formula function it defines} for the tests that run it with formula_only."""
    sol = solution_code(source)
    out = {}
    for src in _tests(source).values():
        m = FORMULA_CALL.search(src)
        if m:
            out[next(g for g, s in sol.items() if re.search(rf"^def {m.group(1)}\(", s, re.M))] = m.group(1)
    return out


def _visible_answers(source: dict) -> dict:
    """{(function, args, sorted kwargs): the solution's answer} for every call the visible tests make of a formula."""
    import torch.nn as nn

    from course_utils.checks import check_equal

    sol = solution_code(source)
    defined: dict = {"nn": nn, "torch": torch}
    for g in _formula_cells(source):
        exec(sol[g], defined)
    table: dict = {}

    def recording(name):
        def call(*args, **kwargs):
            table[(name, args, tuple(sorted(kwargs.items())))] = defined[name](*args, **kwargs)
            return table[(name, args, tuple(sorted(kwargs.items())))]

        return call

    ns = dict(defined, check_equal=check_equal) | {f: recording(f) for f in _formula_cells(source).values()}
    for src in _tests(source).values():
        if FORMULA_CALL.search(src):
            exec(src.split(HIDDEN_BEGIN)[0], ns)
    return table


# The formula process's encoder sends [] once a call it cannot answer from the table came in.
TABLE_HELPER = """
def _looked_up(name, args, kwargs):
    key = (name, args, tuple(sorted(kwargs.items())))
    if key in _VISIBLE:
        return _VISIBLE[key]
    import sys
    if "torch" not in sys.modules:
        import wire
        wire.encode = _nothing
    return 0


def _nothing(value, handle=None):
    return ["l", []], []
"""

# Tampering with the student's own process: call_many answers as the cheat decides.
DISPATCHERS = {
    "ipython": "_g = get_ipython.__getattr__.__globals__\n",
    "gc": (
        "import gc\n_g = next(f.__globals__ for f in gc.get_objects()\n"
        "          if getattr(f, '__name__', None) == 'serve' and 'apply' in getattr(f, '__globals__', {}))\n"
    ),
}
FAKE_OP = """
_real_op = _g["apply"]
class _Empty:
    def __iter__(self):
        return iter(())
    def __len__(self):
        return {n}
def _fake_op(op, target, args, kwargs, name):
    if op != "call_many":
        return _real_op(op, target, args, kwargs, name)
    return {answer}
_g["apply"] = _fake_op
"""
SYS_MODULES = """
import sys
_wire = sys.modules["wire"]
_encode = _wire.encode
def _encode_nothing(value, handle=None, **kw):
    if type(value) is list and len(value) >= 100:
        return ["l", []], []
    return _encode(value, handle=handle, **kw)
_wire.encode = _encode_nothing
"""
LAYER_ROW_TABLE = """
def layer_row(layer, in_shape):
    key = (repr(layer), tuple(in_shape))
    if key in _ROWS:
        return _ROWS[key]
    if type(layer).__name__ == "LSTM":
        raise TypeError("not a layer of the table")
    return ((0,), 0)
"""


def _rows_table(source: dict) -> dict:
    """{(repr(layer), shape): the solution's row} for every layer_row call of the visible test."""
    import torch.nn as nn

    from course_utils.checks import check_equal

    sol = solution_code(source)
    ns: dict = {"nn": nn, "torch": torch}
    for g, src in sol.items():
        if g in _formula_cells(source) or g == "layer_row_impl":
            exec(src, ns)
    table = {}
    real = ns["layer_row"]

    def recording(layer, shape):
        table[(repr(layer), tuple(shape))] = real(layer, shape)
        return table[(repr(layer), tuple(shape))]

    visible = _tests(source)["layer_row_tests"].split(HIDDEN_BEGIN)[0]
    exec(visible, {"nn": nn, "check_equal": check_equal, "layer_row": recording})
    return table


def _extra_cell(src: str) -> dict:
    return {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": src}


def _with_cell_after(nb: dict, gid: str, src: str) -> dict:
    i = next(i for i, c in enumerate(nb["cells"]) if grade_id(c) == gid)
    nb["cells"].insert(i + 1, _extra_cell(src))
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    source, release = load(A)
    stub = {grade_id(c): cell_source(c) for c in release["cells"] if grade_id(c)}
    formulas = _formula_cells(source)
    first = next(g for g in stub if g in formulas)
    sol = solution_code(source)
    table_cells = {
        g: (f"_VISIBLE = {_visible_answers(source)!r}\n" + TABLE_HELPER if g == first else "")
        + f"\ndef {f}(*args, **kwargs):\n    return _looked_up({f!r}, args, kwargs)\n"
        + ("\n# For each tensor" + sol[g].split("# For each tensor", 1)[1] if "BN_TENSORS" in sol[g] else "")
        for g, f in formulas.items()
    }
    rows = f"_ROWS = {_rows_table(source)!r}\n" + LAYER_ROW_TABLE
    fake = {
        "empty": FAKE_OP.format(n=0, answer="[]"),
        "stand_in": FAKE_OP.format(n=250, answer="_Empty()"),
        "extra": FAKE_OP.format(n=0, answer="[target(*a, **k) for a, k in args[0]] + [((1,), 0)]"),
    }
    subs = {
        "honest": filled(source, release),
        "formulas_unsolved": filled(source, release, replace={g: stub[g] for g in formulas}),
        "layer_row_unsolved": filled(source, release, replace={"layer_row_impl": stub["layer_row_impl"]}),
        "formula_encoder": filled(source, release, replace=table_cells),
        "dispatcher_ipython": _with_cell_after(
            filled(source, release, replace={"layer_row_impl": rows}),
            "layer_row_impl",
            DISPATCHERS["ipython"] + fake["empty"],
        ),
        "dispatcher_gc_stand_in": _with_cell_after(
            filled(source, release, replace={"layer_row_impl": rows}),
            "layer_row_impl",
            DISPATCHERS["gc"] + fake["stand_in"],
        ),
        "dispatcher_sys_modules": _with_cell_after(
            filled(source, release, replace={"layer_row_impl": rows}), "layer_row_impl", SYS_MODULES
        ),
        "extra_answer": _with_cell_after(
            filled(source, release), "layer_row_impl", DISPATCHERS["ipython"] + fake["extra"]
        ),
    }
    tmp = tmp_path_factory.mktemp("compare")
    folder = tmp / "subs"
    folder.mkdir()
    for name, nb in subs.items():
        (folder / f"{name.replace('_', '')}.ipynb").write_text(json.dumps(nb))  # a file name's _ ends the id
    results = G.grade(A, folder, out=tmp / "out", workers=2, quiet=True, limits=LIMITS)
    names = {n.replace("_", ""): n for n in subs}
    return {names[r.student]: r for r in results}, {
        grade_id(c): points(c) for c in source["cells"] if cell_kind(c) == "test"
    }


def test_the_honest_student_gets_full_marks(graded):
    res, pts = graded
    assert res["honest"].scores == pts, res["honest"].messages


@pytest.mark.parametrize(
    "cheat,unsolved",
    [
        ("formula_encoder", "formulas_unsolved"),
        ("dispatcher_ipython", "layer_row_unsolved"),
        ("dispatcher_gc_stand_in", "layer_row_unsolved"),
        ("dispatcher_sys_modules", "layer_row_unsolved"),
    ],
)
def test_a_cheat_that_answers_nothing_earns_what_no_answer_earns(graded, cheat, unsolved):
    res, pts = graded
    got, empty = res[cheat], res[unsolved]
    # no more than no answer (less where the cheat's dynamic code also fails the "from scratch" rules)
    assert all(got.scores[g] <= empty.scores[g] for g in pts), (got.messages, empty.messages)
    assert empty.total < sum(pts.values())  # the unsolved cells cost points: the cheat would have gained them
    source = load(A)[0]
    aimed = [g for g, src in _tests(source).items() if bool(FORMULA_CALL.search(src)) == (cheat == "formula_encoder")]
    for g in aimed if cheat == "formula_encoder" else ["layer_row_tests"]:
        # the cheat passes the visible part; the hidden one refuses what came back
        assert got.hidden[g] and "answer" in got.messages[g], (g, got.messages[g])


def test_one_answer_too_many_fails_the_test(graded):
    res, pts = graded
    got = res["extra_answer"]
    assert (
        got.scores["layer_row_tests"] == 0 and "251 answers came back for 250 calls" in got.messages["layer_row_tests"]
    )
    # the cheat's get_ipython() is dynamic code: every test with a "from scratch" rule fails it, the rest pass
    from test_scratch import RULES

    ruled = set(RULES[A])
    assert {g: s for g, s in got.scores.items() if g != "layer_row_tests"} == {
        g: 0 if g in ruled else p for g, p in pts.items() if g != "layer_row_tests"
    }, got.messages
    assert all("dynamic lookups" in got.messages[g] for g in ruled - {"layer_row_tests"}), got.messages


# ---------------------------------------------------------------------------------------- counting
def _run(src: str, ns: dict | None = None) -> dict:
    ns = ns if ns is not None else {"__builtins__": counting.test_builtins()}
    return T.run_test({"src": src, "grade_id": "t"}, ns, set(ns) | {"torch", "check_equal"}, conn=None)


def test_a_test_without_comparisons_fails_with_one_passes():
    assert _run("x = 1") == {
        "passed": False,
        "message": "this test compared nothing: no assert, check or assert_close ran",
        "hidden": False,
    }
    assert _run("assert 1 + 1 == 2")["passed"] is True
    assert _run("for i in []:\n    assert i")["passed"] is False  # a loop that ran zero times compared nothing


def test_the_hidden_part_must_compare_on_its_own():
    visible_only = "assert True\n### BEGIN HIDDEN TESTS\nfor _a in []:\n    assert _a\n### END HIDDEN TESTS\n"
    v = _run(visible_only)
    assert not v["passed"] and v["hidden"] and "compared nothing" in v["message"]
    helper = "def _check(x):\n    assert x\n### BEGIN HIDDEN TESTS\n_check(1)\n### END HIDDEN TESTS\n"
    assert _run(helper)["passed"] is True  # a visible helper called from the hidden part compares there


def test_checks_and_assert_close_count():
    counting.install()
    import course_utils.checks as checks

    ns = {"__builtins__": counting.test_builtins(), "torch": torch, "check_equal": checks.check_equal}
    assert _run("torch.testing.assert_close(torch.ones(2), torch.ones(2))", dict(ns))["passed"] is True
    checks.use_grader(SimpleNamespace(compared=counting.count))  # the hook the trusted runner installs
    try:
        assert _run("check_equal(3, 3)", dict(ns))["passed"] is True
        src = "from course_utils.checks import check_close, check_shape\ncheck_{}"
        assert _run(src.format("close(torch.ones(1), torch.ones(1))"), dict(ns))["passed"]
        assert _run(src.format("shape(torch.ones(1), (1,))"), dict(ns))["passed"]
    finally:
        checks.use_grader(None)
    assert "compared nothing" in _run("check_equal(3, 3)", dict(ns))["message"]  # no hook: nothing counted


def test_the_helpers_hand_their_arguments_to_the_graders_hook():
    import course_utils.checks as checks

    seen = []
    hook = SimpleNamespace(
        formula_only=lambda fn: seen.append(("formula_only", fn)) or "formula",
        student_side=lambda fn: seen.append(("student_side", fn)) or "student",
        call_many=lambda fn, calls: seen.append(("call_many", fn, calls)) or ["many"],
        from_scratch=lambda fn, banned: seen.append(("from_scratch", fn, banned)),
    )
    checks.use_grader(hook)
    try:
        got = [checks.formula_only(abs), checks.student_side(max), checks.call_many(min, [((1, 2), {})])]
        checks.from_scratch(abs, ["torch.relu"])
    finally:
        checks.use_grader(None)
    assert got == ["formula", "student", ["many"]]
    assert seen == [
        ("formula_only", abs),
        ("student_side", max),
        ("call_many", min, [((1, 2), {})]),
        ("from_scratch", abs, ["torch.relu"]),
    ]
    assert checks.formula_only(abs) is abs and checks.call_many(min, [((1, 2), {})]) == [1]  # a notebook's


def test_zip_in_a_test_pairs_equal_lengths_only():
    v = _run("for a, b in zip([1, 2], [1]):\n    assert a == b")
    assert not v["passed"] and "different lengths" in v["message"]
    assert _run("for a, b in zip([1, 2], [1], strict=False):\n    assert a == b")["passed"] is True


# ---------------------------------------------------------------------------------------- answers
class FakeConn(T.Conn):
    """The trusted side's wire, answering every question with one canned reply."""

    def __init__(self, reply: dict, blobs=()):
        self.reply, self.blobs = reply, list(blobs)

    def ask(self, header, blobs=()):
        return self.reply, self.blobs


@pytest.mark.parametrize(
    "reply,why",
    [
        ({"m": "value", "v": ["l", []]}, "0 answers came back for 2 calls"),
        ({"m": "value", "v": ["l", [["i", 1], ["i", 2], ["i", 3]]]}, "3 answers came back for 2 calls"),
        ({"m": "value", "v": ["t", [["i", 1], ["i", 2]]]}, "as a tuple, not a list"),
        ({"m": "value", "v": ["d", []]}, "as a dict, not a list"),
        ({"m": "value", "v": ["h", 7, "generator"]}, "as a Remote, not a list"),
        ({"m": "value"}, "without the value"),
    ],
)
def test_answers_of_the_wrong_shape_are_refused(reply, why):
    with pytest.raises(counting.BadAnswer, match=why):
        T.Formula(FakeConn(reply), 0, "f").many([((1,), {}), ((2,), {})])
    assert issubclass(counting.BadAnswer, BaseException) and not issubclass(counting.BadAnswer, Exception)


def test_a_single_answer_must_be_there_and_is_an_exact_builtin():
    with pytest.raises(counting.BadAnswer):
        T.Formula(FakeConn({"m": "value"}), 0, "f")(1)
    got = T.Formula(FakeConn({"m": "value", "v": ["l", [["f", "nan"], True, ["i", 1]]]}), 0, "f")(1)
    assert [type(v) for v in got] == [float, bool, int] and got[0] != got[0]
    conn = FakeConn({})
    remote, again = (conn.result({"m": "value", "v": ["h", 3, "Any"]}, [], ("x",)) for _ in range(2))
    assert type(remote) is T.Remote and not (remote == 0) and not (remote == []) and not (remote == again)


def test_the_students_stop_iteration_cannot_end_a_loop_early():
    with pytest.raises(T.StudentError, match="StopIteration"):
        T.Formula(FakeConn({"m": "error", "ename": "StopIteration", "evalue": ""}), 0, "f")(1)
