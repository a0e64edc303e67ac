"""The trusted test runner: runs the instructor's test cells, and never runs student code.

Started by the host once per grading worker (``python -m autograde.test_runner``, outside the
sandbox: it reads the hidden tests, and real held-out data for HW3). It imports torch and the
course helpers once, then forks one child per student (``begin`` ... ``end``, ``wire.py``), so no
state is shared between students. In the child:

* the namespace holds the instructor's imports and locked cells (never the student's versions);
  builtins are the real ones, whatever the notebook rebinds;
* a name a test cell takes from the student's notebook (``relu``, ``BasicBlock``, ``CHECKPOINT``)
  is fetched from the student's process before the test: a plain value arrives as exact built-in
  types (``wire.decode``); anything else as a :class:`Remote` stand-in: calling it, reading an
  attribute, indexing, ``len`` and iterating run in the student's process and bring back plain
  values or further stand-ins;
* ``inspect.getsource`` of a stand-in is the notebook's text with what it reaches (``reach.py``),
  and of a stand-in's method (``BasicBlock.__init__``) the student's method, never this runner's;
* ``course_utils.checks.from_scratch(f, banned)`` judges all the submission's code cells
  (``course_utils.scratch``; one analysis per submission, whatever the number of rules), here;
* ``course_utils.checks.formula_only(f)`` runs ``f`` in a separate torch-free process;
* ``course_utils.checks.call_many(f, calls)`` sends all the calls in one message;
* ``course_utils.checks.student_side(f)`` runs a library function (``torchvision``'s ``ResNet``)
  in the student's process, where the student's classes live; what it returns is not trusted;
* these four reach the test through ``course_utils.checks.use_grader``, the helpers' one hook;
* the verdict (passed, message, whether the failing line is in the hidden tests) is computed here
  and sent to the host, the only place it is read.
"""

from __future__ import annotations

import builtins
import os
import sys
import traceback
from types import SimpleNamespace

from autograde import counting, reach, wire
from autograde.counting import BadAnswer
from autograde.messages import ANSWER, BEGIN, END, ERROR, VALUE
from autograde.rules import LIMIT
from course_utils.nbcells import in_hidden

_BUILTIN_ERRORS = {
    n: getattr(builtins, n)
    for n in dir(builtins)
    if isinstance(getattr(builtins, n), type)
    and issubclass(getattr(builtins, n), Exception)
    and n not in ("SystemExit", "KeyboardInterrupt", "GeneratorExit", "StopIteration", "StopAsyncIteration")
}  # the student's StopIteration would silently end a test's map() or generator: a StudentError instead


class StudentError(Exception):
    """The student's code raised an exception that is not one of Python's own."""


class StudentGone(BaseException):
    """The student's process stopped (time or memory limit, crash) during a test (a ``BaseException``:
    no ``except Exception`` of a test takes it for an error the student's code raised)."""


class Remote:
    """A stand-in for an object that lives in the student's process (see the module docstring)."""

    __slots__ = ("_hid", "_type", "_path", "_conn")
    stand_in = True

    def __init__(self, conn, hid: int, type_name: str, path: tuple | None):
        object.__setattr__(self, "_conn", conn)
        object.__setattr__(self, "_hid", hid)
        object.__setattr__(self, "_type", type_name)
        object.__setattr__(self, "_path", path)

    def __call__(self, *args, **kwargs):
        return self._conn.op("call", self, args, kwargs)

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        path = self._path + (name,) if self._path else None
        return self._conn.op("getattr", self, name=name, path=path)

    def __setattr__(self, name, value):
        raise AttributeError("objects of the notebook are read-only in tests")

    def __getitem__(self, key):
        return self._conn.op("getitem", self, (key,))

    def __len__(self) -> int:
        return self._conn.op("len", self)

    def __bool__(self) -> bool:  # an object of the notebook is there (no remote len() for truth)
        return True

    def __iter__(self):
        return iter(self._conn.op("iter", self))

    def __repr__(self) -> str:
        return f"<{self._type} from the notebook>"


class Conn:
    """The trusted child's side of the wire: asks the host, which asks the student's process."""

    def __init__(self, rfd: int, wfd: int):
        self.rfd, self.wfd = rfd, wfd

    def ask(self, header: dict, blobs: list[bytes] = ()):
        wire.send(self.wfd, dict(header, m="ask"), blobs)
        answer, ablobs = wire.recv(self.rfd)
        if answer.get("m") != ANSWER:
            raise wire.WireError("expected an answer")
        return answer.get("r") or {}, ablobs

    def result(self, r: dict, blobs: list[bytes], path):
        kind = r.get("m")
        if kind == VALUE:
            if "v" not in r:
                raise BadAnswer("the notebook's process sent a value without the value")
            return wire.decode(r.get("v"), blobs, handle=lambda i, t: Remote(self, i, t, path))
        if kind == ERROR:
            ename = str(r.get("ename", "Exception"))[: LIMIT["ename_chars"]]
            evalue = str(r.get("evalue", ""))[: LIMIT["message_chars"]]
            exc = _BUILTIN_ERRORS.get(ename)
            raise exc(evalue) if exc else StudentError(f"{ename}: {evalue}")
        raise StudentGone(str(r.get("why", "the notebook's process stopped"))[: LIMIT["why_chars"]])

    def op(self, op: str, target: Remote | None, args=(), kwargs=None, name=None, path=None):
        enc = wire.Encoder(allow_pickle=True, handle_id=lambda x: x._hid if type(x) is Remote else None)
        header = {
            "kind": "op",
            "op": op,
            "target": target._hid if target is not None else None,
            "args": enc(list(args)),
            "kwargs": enc(dict(kwargs or {})),
            "name": name,
        }
        r, blobs = self.ask(header, enc.blobs)
        return self.result(r, blobs, path)

    def get(self, name: str):
        r, blobs = self.ask({"kind": "get", "name": name})
        return self.result(r, blobs, (name,))


class Formula:
    """A formula function running in the torch-free process (``formula_only``)."""

    def __init__(self, conn: Conn, pid: int, name: str):
        self.conn, self.pid, self.__name__ = conn, pid, name

    def __call__(self, *args, **kwargs):
        return self._ask(list(args), dict(kwargs), False)

    def many(self, calls: list) -> list:
        answers = self._ask([[list(a), dict(k)] for a, k in calls], {}, True)
        return counting.answers_for(answers, len(calls), f"call_many({self.__name__})")

    def _ask(self, args, kwargs, many: bool):
        enc = wire.Encoder()
        header = {"kind": "formula_call", "id": self.pid, "args": enc(args), "kwargs": enc(kwargs), "many": many}
        r, blobs = self.conn.ask(header, enc.blobs)
        return self.conn.result(r, blobs, None)


# ------------------------------------------------------------------------------------ one student
def run_student(begin: dict, conn: Conn) -> None:
    import inspect

    import course_utils.checks as checks

    cells = [(int(k), str(src)) for k, src in begin["cells"]]
    state = {"k": 0}
    original_getsource = inspect.getsource

    def getsource(obj):
        if type(obj) is not Remote and type(getattr(obj, "__self__", None)) is Remote:
            obj = Remote(conn, -1, "method", obj.__self__._path + (obj.__name__,) if obj.__self__._path else None)
        if type(obj) is Remote:
            if not obj._path:
                raise OSError("the source of this object is not known")
            return reach.source_of(obj._path, cells, state["k"])
        if str(getattr(obj, "__qualname__", "")).startswith(("Remote.", "Conn.", "Formula.")):
            raise OSError("the source of this object is not the notebook's")
        return original_getsource(obj)

    def from_scratch(fn, banned):
        from course_utils import scratch

        scratch.Ban(banned)
        if type(fn) is not Remote or not fn._path:
            raise AssertionError("from_scratch checks an object of the notebook, by its name")
        checks.fail(scratch.violations([src for _, src in cells], fn._path[0], banned), fn._path[0])

    def formula_only(fn):
        if type(fn) is not Remote or not fn._path or len(fn._path) != 1:
            return fn
        src = reach.formula_source(fn._path[0], cells, state["k"])
        r, blobs = conn.ask({"kind": "formula", "name": fn._path[0], "src": src})
        if r.get("m") == VALUE and isinstance(r.get("id"), int):
            return Formula(conn, r["id"], fn._path[0])
        conn.result(r, blobs, None)
        raise StudentGone("the formula process did not start")

    def student_side(fn):
        return lambda *args, **kwargs: conn.op("call_here", None, (fn,) + args, kwargs)

    def call_many(fn, calls):
        calls = [(tuple(a), dict(k)) for a, k in calls]
        if type(fn) is Formula:
            return fn.many(calls)
        if type(fn) is Remote:
            answers = conn.op("call_many", fn, ([[list(a), k] for a, k in calls],))
            return counting.answers_for(answers, len(calls), f"call_many({'.'.join(fn._path or ('?',))})")
        return [fn(*a, **k) for a, k in calls]

    inspect.getsource = getsource
    counting.install()  # torch.testing.assert_close counts its comparisons
    hooks = dict(formula_only=formula_only, student_side=student_side, call_many=call_many)
    checks.use_grader(SimpleNamespace(**hooks, from_scratch=from_scratch, compared=counting.count))
    os.chdir(begin["work"])
    os.environ["COURSE_SUBMISSION_DIR"] = begin["work"]  # course_utils.grading reads files only there
    import types

    main = types.ModuleType("__main__")  # pickles of the set-up's classes name __main__
    sys.modules["__main__"] = main
    ns = main.__dict__
    ns["__builtins__"] = counting.test_builtins()
    exec(compile(begin.get("prelude", ""), "<instructor's set-up>", "exec"), ns)
    prelude = set(ns)
    while True:
        msg, _ = wire.recv(conn.rfd)
        if msg["m"] == END:
            return
        state["k"] = int(msg["k"])
        verdict = run_test(msg, ns, prelude, conn)
        wire.send(conn.wfd, dict(verdict, m="verdict", k=msg["k"], grade_id=msg["grade_id"]))


def student_names(src: str, bound: set[str]) -> list[str]:
    """Names a test cell reads that come from the student's notebook: not builtins, not the
    instructor's set-up, not assigned by the test itself."""
    import ast

    tree = ast.parse(src)
    loads, stores = set(), set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name):
            (loads if isinstance(n.ctx, ast.Load) else stores).add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.ClassDef)):
            stores.add(n.name)
        elif isinstance(n, ast.alias):
            stores.add(n.asname or n.name.split(".")[0])
        elif isinstance(n, ast.arg):
            stores.add(n.arg)
        elif isinstance(n, ast.ExceptHandler) and n.name:
            stores.add(n.name)
    return sorted(loads - stores - bound - set(dir(builtins)))


def run_test(msg: dict, ns: dict, prelude: set[str], conn: Conn) -> dict:
    src, gid = str(msg["src"]), str(msg["grade_id"])
    name = f"<test {gid}>"
    try:
        for n in student_names(src, prelude):
            try:
                ns[n] = conn.get(n)
            except NameError:
                pass  # the test meets a NameError, or an earlier test's value
        code, counter = counting.compile_test(src, name)
        counting.run_counted(code, counter, ns)
        return counting.verdict_if_nothing_compared(counter) or {"passed": True, "message": "", "hidden": False}
    except BaseException as e:  # a failing test, whatever it raised
        if isinstance(e, StudentGone):
            return {"passed": False, "message": f"not finished: {e}", "hidden": False, "gone": True}
        line = None
        for fs in traceback.extract_tb(e.__traceback__):
            if fs.filename == name:
                line = fs.lineno
        hidden = line is not None and in_hidden(src, line)
        text = str(e).strip()
        message = f"{type(e).__name__}: {text}" if text else type(e).__name__
        return {"passed": False, "message": message[: LIMIT["message_chars"]], "hidden": hidden}


# ------------------------------------------------------------------------------------ the zygote
def warm_up() -> None:
    """Import what test cells import and run PyTorch's first calls once here, in the zygote, so that
    every student's forked child starts warm."""
    import importlib
    import inspect  # noqa: F401

    from autograde.student_runner import PRELOAD

    for name in PRELOAD + ("torch.utils.flop_counter", "course_utils.widgets", "course_utils.conv"):
        try:
            importlib.import_module(name)
        except Exception:
            pass
    import torch
    from torch import nn

    torch.set_num_threads(1)
    x = torch.zeros(1, 2, 8, 8)
    for layer in (
        nn.Conv2d(2, 2, 3),
        nn.ConvTranspose2d(2, 2, 3),
        nn.MaxPool2d(2),
        nn.AvgPool2d(2),
        nn.BatchNorm2d(2),
        nn.AdaptiveAvgPool2d(1),
        nn.Sequential(nn.Flatten(), nn.Linear(128, 2)),
    ):
        with torch.no_grad():
            layer.eval()(x)
        layer.to("meta")(x.to("meta"))
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False):
        nn.Conv2d(2, 2, 3)(x)
    torch.testing.assert_close(x, x)
    nn.functional.cross_entropy(torch.randn(2, 3, requires_grad=True), torch.tensor([0, 1])).backward()
    reach.source_of(("f",), [(0, "import torch as t\ndef f(x):\n    return t.relu(x)")])


def limit_memory(memory_mb: int) -> None:
    """Limit this process (and the children it forks) to its address space now plus ``memory_mb``."""
    import resource

    try:
        with open("/proc/self/status") as f:
            vm = next(int(x.split()[1]) * 1024 for x in f if x.startswith("VmSize:"))
    except (OSError, StopIteration, ValueError):  # no /proc (not Linux): no limit we could size
        return
    mem = vm + int(memory_mb) * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))


def main() -> None:
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    warm_up()
    if "--memory-mb" in sys.argv:  # zygotes.TrustedZygote: what it holds now, plus this much
        limit_memory(int(sys.argv[sys.argv.index("--memory-mb") + 1]))
    rfd, wfd = sys.stdin.fileno(), sys.stdout.fileno()
    sys.stdout = sys.stderr
    wire.send(wfd, {"m": "ready"})
    while True:
        try:
            msg, _ = wire.recv(rfd)
        except EOFError:
            return
        if msg["m"] != BEGIN:
            continue
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                run_student(msg, Conn(rfd, wfd))
            except BaseException:
                traceback.print_exc()
                code = 70
            finally:
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        wire.send(wfd, {"m": "ended", "status": os.WEXITSTATUS(status) if os.WIFEXITED(status) else 99})


if __name__ == "__main__":
    main()
