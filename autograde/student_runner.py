"""The student's process: runs a student's notebook code in the sandbox, and nothing else.

Started by the host (``autograde/zygotes.py``, its command line from ``sandbox.py``) once per grading
worker, inside the sandbox, as ``python student_runner.py``. It imports torch and the course helpers once
(the *zygote*), then for every student receives, over its control socket (``--fd N``), a **new** socket made
for that student alone, forks a child for it and closes its copy. The child (:func:`serve`) confines itself
(``limits.confine``: no new processes, no network, rlimits, not dumpable), then answers the host's messages
on its own socket only (``wire.py``): ``run`` a cell, ``get`` a name, ``op`` on an object (call it, read an
attribute, ...). It never sees a test cell, a hidden test, a reference value or another student's anything,
and nothing it sends is a verdict: its answers are plain values that the trusted test runner checks.

Control messages (host -> zygote, one JSON line each on the control socket; the student's socket rides along
with ``start`` as SCM_RIGHTS) are registered in ``messages.CONTROL``; a dirty sandbox ends (``dirty``, or
``reaped`` with what is left): the host starts a new one.

``python student_runner.py --formula`` is the torch-free variant (no site-packages, started with
``python -I -S``): it executes only the source of one formula function, sent by the trusted side,
and answers calls to it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
import limits as _limits  # noqa: E402
import scratch  # noqa: E402
import wire  # noqa: E402
from answers import apply, figures, plain, short, short_repr, type_name  # noqa: E402
from messages import BYE, FORMULA, GET, INTERRUPT, OP, REAP, RUN, START  # noqa: E402
from rules import LIMIT, LIMITS  # noqa: E402

PRELOAD = (
    "numpy",
    "torch",
    "torch.nn",
    "torch.nn.functional",
    "torch.utils.data",
    "torchvision",
    "torchvision.models",
    "torchvision.transforms",
    "course_utils",
    "course_utils.checks",
    "course_utils.shapes",
    "course_utils.data",
    "course_utils.train",
    "course_utils.models",
    "course_utils.plot",
    "course_utils.grading",
    "matplotlib",
    "matplotlib.pyplot",
    "IPython.display",
    "tqdm.auto",
    "torchinfo",
)
MAX_OUTPUT = LIMIT["stream_kchars"] * 1024  # characters of text output kept per cell


# --------------------------------------------------------------------------------------- zygote
def preload() -> None:
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:
            pass
    try:
        import torch
        from torch import nn

        torch.set_num_threads(1)
        x = torch.zeros(1, 2, 8, 8, requires_grad=True)
        for layer in (nn.Conv2d(2, 2, 3), nn.ConvTranspose2d(2, 2, 3), nn.MaxPool2d(2), nn.BatchNorm2d(2)):
            layer(x).sum().backward()
        nn.functional.cross_entropy(torch.randn(2, 3, requires_grad=True), torch.tensor([0, 1])).backward()
    except Exception:
        pass


def zygote() -> None:
    preload()
    _limits.not_dumpable()
    ctl = socket.socket(fileno=_fd())
    modes = {root: os.stat(root).st_mode & 0o7777 for root in scratch.roots()}
    state = scratch.own_state()
    if _wipe(modes):
        sys.exit("the sandbox's writable folders are not empty at its start")
    ctl.sendall(b'{"m": "ready"}\n')
    buf = b""
    child = None
    pending_fds: list[int] = []
    while True:
        while b"\n" not in buf:
            try:
                data, fds, _, _ = socket.recv_fds(ctl, 1 << 20, 4)
            except OSError:
                data, fds = b"", []
            if not data:
                if child:
                    os.kill(child, signal.SIGKILL)
                return
            buf += data
            if fds:
                pending_fds = fds
        line, buf = buf.split(b"\n", 1)
        msg = json.loads(line)
        if msg["m"] == START and pending_fds:
            sock_fd = pending_fds.pop(0)
            for fd in pending_fds:
                os.close(fd)
            pending_fds = []
            if _dirty(modes) or not scratch.restore_state(state):  # never a student on what the last one left:
                ctl.sendall(b'{"m": "dirty"}\n')  # the host starts a new sandbox
                return
            pid = os.fork()
            if pid == 0:
                ctl.close()
                try:
                    serve(socket.socket(fileno=sock_fd), msg)
                finally:
                    os._exit(0)
            os.close(sock_fd)
            child = pid
            ctl.sendall(json.dumps({"m": "started", "pid": pid}).encode() + b"\n")
        elif msg["m"] == INTERRUPT and child:
            os.kill(child, signal.SIGINT)
        elif msg["m"] == REAP:
            status = None
            if child:
                try:
                    os.kill(child, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                _, st = os.waitpid(child, 0)
                status = os.WEXITSTATUS(st) if os.WIFEXITED(st) else -os.WTERMSIG(st)
                child = None
            left = _wipe(modes)
            ctl.sendall(json.dumps({"m": "reaped", "status": status, "left": left[:20]}).encode() + b"\n")
            if left:
                return  # a dirty sandbox is not used again


def _wipe(modes: dict[str, int]) -> list[str]:
    """Empty every writable folder of the sandbox and give each its first mode back; what is left."""
    left = []
    for root, mode in modes.items():
        try:
            os.chmod(root, mode)
            left += scratch.wipe(root)
        except Exception as e:  # anything unexpected: the sandbox counts as dirty
            left.append(f"{root}: {type(e).__name__}: {e}")
    return left


def _dirty(modes: dict[str, int]) -> bool:
    """Whether a writable folder holds anything or lost its mode (the check before each student)."""
    try:
        return any(scratch.leftovers(r) or os.stat(r).st_mode & 0o7777 != m for r, m in modes.items())
    except Exception:
        return True


# --------------------------------------------------------------------------------------- the child
class _Capture:
    """sys.stdout/sys.stderr of student code: kept (capped) as the cell's output, never parsed."""

    def __init__(self, name: str):
        self.name, self.parts, self.n, self.cut = name, [], 0, False
        self.encoding, self.errors = "utf-8", "replace"

    def write(self, s) -> int:
        s = str(s)
        if self.n < MAX_OUTPUT:
            self.parts.append(s[: MAX_OUTPUT - self.n])
        else:
            self.cut = True
        self.n += len(s)
        return len(s)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def take(self) -> list[dict]:
        text = "".join(self.parts)
        if self.cut:
            text += f"\n[output cut: {self.n:,} characters, {MAX_OUTPUT:,} kept]\n"
        self.parts, self.n, self.cut = [], 0, False
        return [{"output_type": "stream", "name": self.name, "text": text}] if text else []


class _Shell:
    """``get_ipython()`` when grading: magics and shell escapes do nothing."""

    def __getattr__(self, name):
        return lambda *a, **k: None


def serve(sock: socket.socket, start: dict) -> None:
    """Answer the host's messages for one student until ``bye`` or the end of the connection."""
    import builtins
    import linecache
    import types

    work = os.path.join(os.environ.get("GRADER_TMP", "/tmp"), "student")
    os.makedirs(work, exist_ok=True)
    os.chdir(work)
    os.environ.update(HOME=work, MPLCONFIGDIR=os.path.join(work, ".mpl"))
    _receive_files(sock, work)
    lim = dict(LIMITS, **start.get("limits", {}))
    note = _limits.confine(lim["memory_mb"], int(lim["notebook"]) + LIMIT["cpu_extra_s"], lim["file_mb"])
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main = types.ModuleType("__main__")
    main.__dict__.update(__builtins__=builtins, get_ipython=_Shell)
    sys.modules["__main__"] = main
    ns = main.__dict__
    sys.path[:] = [work] + [p for p in sys.path if p and os.path.abspath(p) != HERE]
    out, err = _Capture("stdout"), _Capture("stderr")
    objs: dict[int, object] = {}

    def keep(x):
        objs[id(x)] = x
        return ["h", id(x), type_name(x)]

    def reply(value) -> None:
        data, blobs = wire.encode(plain(value), handle=keep)
        wire.send(sock, {"m": "value", "v": data}, blobs)

    if note:
        err.write(note + "\n")
    while True:
        try:
            msg, blobs = wire.recv(sock)
        except (EOFError, OSError):
            return
        m = msg["m"]
        if m == BYE:
            return
        sys.stdout, sys.stderr = out, err
        try:
            if m == RUN:
                k, src = int(msg["k"]), str(msg["src"])
                name = f"<cell {k}>"
                linecache.cache[name] = (len(src), None, src.splitlines(True), name)
                outputs, error = _run_cell(src, name, ns, out, err)
                wire.send(sock, {"m": "ran", "k": k, "outputs": outputs, "error": error})
                continue
            if m == GET:
                name = str(msg["name"])
                if name not in ns:
                    raise NameError(f"name {name!r} is not defined in the notebook")
                reply(ns[name])
                continue
            if m == OP:
                args = wire.decode(msg.get("args", ["l", []]), blobs, handle=lambda i, _: objs[i], allow_pickle=True)
                kwargs = wire.decode(
                    msg.get("kwargs", ["d", []]), blobs, handle=lambda i, _: objs[i], allow_pickle=True
                )
                target = objs[msg["target"]] if isinstance(msg.get("target"), int) else None
                reply(apply(str(msg["op"]), target, args, kwargs, msg.get("name")))
                continue
            raise wire.WireError(f"unknown message {m!r}")
        except BaseException as e:  # student code raised
            try:
                wire.send(sock, {"m": "error", "ename": type(e).__name__, "evalue": short(e)})
            except Exception:
                return
        finally:
            out.take(), err.take()


def _receive_files(sock, work: str) -> None:
    """The submission's other files (a checkpoint ...): one ``files`` message, paths checked by the host."""
    msg, blobs = wire.recv(sock)
    for rel, i in msg.get("files", []):
        dest = os.path.realpath(os.path.join(work, rel))
        if not dest.startswith(os.path.realpath(work) + os.sep):
            continue
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "wb") as f:
            f.write(blobs[i])


def _run_cell(src: str, name: str, ns: dict, out, err) -> tuple[list, str | None]:
    """Execute one cell as Jupyter would (the last expression's value is shown); return its outputs."""
    import ast
    import traceback

    error = None
    result = []
    try:
        tree = ast.parse(src, name)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(compile(tree, name, "exec"), ns)
        if last is not None:
            value = eval(compile(ast.Expression(last.value), name, "eval"), ns)
            if value is not None:
                result = [
                    {
                        "output_type": "execute_result",
                        "execution_count": None,
                        "metadata": {},
                        "data": {"text/plain": short_repr(value, LIMIT["result_chars"])},
                    }
                ]
    except BaseException as e:
        tb = traceback.format_exception(type(e), e, e.__traceback__)
        tb = [line for line in tb if "student_runner.py" not in line][-LIMIT["traceback_lines"] :]
        error = {"output_type": "error", "ename": type(e).__name__, "evalue": short(e), "traceback": tb}
    outputs = out.take() + err.take() + figures() + result
    if error:
        outputs.append(error)
    return outputs, (f"{error['ename']}: {error['evalue']}" if error else None)


# --------------------------------------------------------------------------------------- formula
def formula() -> None:
    """The torch-free process: define formula functions from their source (``formula``), answer
    calls to them (``call`` with the function's id)."""
    sock = socket.socket(fileno=_fd())
    _limits.confine(LIMIT["formula_memory_mb"], LIMIT["formula_cpu_s"], LIMIT["formula_file_mb"])
    functions: list = []
    while True:
        try:
            msg, blobs = wire.recv(sock)
        except (EOFError, OSError):
            return
        try:
            if msg["m"] == FORMULA:
                ns: dict = {"__name__": "__formula__"}
                exec(compile(str(msg["src"]), "<formula>", "exec"), ns)
                functions.append(ns[str(msg["name"])])
                wire.send(sock, {"m": "value", "id": len(functions) - 1, "v": None})
                continue
            fn = functions[int(msg["id"])]
            args = wire.decode(msg.get("args", ["l", []]), blobs)
            kwargs = wire.decode(msg.get("kwargs", ["d", []]), blobs)
            result = [fn(*a, **k) for a, k in args] if msg.get("many") else fn(*args, **kwargs)
            data, out = wire.encode(result)
            wire.send(sock, {"m": "value", "v": data}, out)
        except BaseException as e:
            wire.send(sock, {"m": "error", "ename": type(e).__name__, "evalue": short(e)})


def _fd() -> int:
    """The socket to the host: ``--fd N`` on the command line."""
    return int(sys.argv[sys.argv.index("--fd") + 1]) if "--fd" in sys.argv else 3


if __name__ == "__main__":
    formula() if "--formula" in sys.argv else zygote()
