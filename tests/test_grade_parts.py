"""The grader's parts, attacked one by one: the wire's decoding, the source reach, the kernel
limits, the sandbox choice, and the network block that holds even without a sandbox (the canary:
``test_grade_canary.py``)."""

from __future__ import annotations

import csv
import json
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from autograde import grade as G
from autograde import reach, sandbox, wire, zygotes
from autograde.mock_submissions import filled, load

REPO = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------- wire
def roundtrip(x):
    data, blobs = wire.encode(x, handle=lambda o: ["h", 1, "x"])
    return wire.decode(json.loads(json.dumps(data)), blobs, handle=lambda i, t: ("handle", i, t))


def test_values_arrive_as_exact_builtin_types():
    class Liar(int):
        def __eq__(self, other):
            return True

    class LiarTensor(torch.Tensor):
        pass

    import collections

    import numpy as np

    got = roundtrip(
        [
            Liar(3),
            (1.5, float("nan")),
            collections.OrderedDict(a=None),
            torch.ones(2).as_subclass(LiarTensor),
            torch.nn.Parameter(torch.zeros(3)),
            torch.Size([2, 3]),
            torch.float64,
            "s",
            b"b",
            np.int64(7),
            np.float32(0.5),
            np.bool_(True),
        ]
    )
    assert [type(v) for v in got] == [
        int,
        tuple,
        dict,
        torch.Tensor,
        torch.Tensor,
        torch.Size,
        torch.dtype,
        str,
        bytes,
        int,
        float,
        bool,
    ]
    assert got[0] == 3 and got[0] != 4
    assert got[4].requires_grad
    for dt in (torch.bfloat16, torch.float16, torch.int64, torch.bool, torch.complex64):
        t = (torch.arange(6).reshape(2, 3) % 2).to(dt)
        assert torch.equal(roundtrip(t), t) and roundtrip(t).dtype == dt
    assert roundtrip(torch.zeros(0, 4)).shape == (0, 4) and roundtrip(torch.tensor(2.5)).shape == ()
    assert roundtrip(object()) == ("handle", 1, "x")


@pytest.mark.parametrize(
    "data,blobs",
    [
        (["i", 10**2000], []),  # an int too large
        (["T", 0, "float32", [4], False], [b"\0" * 15]),  # data that does not match the shape
        (["T", 0, "float32", [10**12], False], [b""]),  # a tensor too large
        (["T", 0, "object", [1], False], [b"\0" * 8]),  # not a dtype
        (["p", 0], [b"cos\nsystem\n(S'true'\ntR."]),  # a pickle: never from the student's side
        (["zz"], []),
        ([], []),
        ({"a": 1}, []),
        (3, []),  # not values
        (["d", [[["l", []], None]]], []),  # an unhashable key
    ],
)
def test_malformed_values_are_refused(data, blobs):
    with pytest.raises(wire.WireError):
        wire.decode(data, blobs, handle=lambda i, t: None)


def test_deep_nesting_and_bad_frames_are_refused():
    deep = None
    for _ in range(100):
        deep = ["l", [deep]]
    with pytest.raises(wire.WireError):
        wire.decode(deep, [])
    a, b = socket.socketpair()
    a.sendall(struct.pack(">I", wire.MAX_HEADER + 1))
    with pytest.raises(wire.WireError):
        wire.recv(b)
    a.sendall(struct.pack(">I", 5) + b"[1,2]")
    with pytest.raises(wire.WireError):
        wire.recv(b)
    a.sendall(struct.pack(">I", 4) + b'"x":')
    with pytest.raises(wire.WireError):
        wire.recv(b)


# ---------------------------------------------------------------------------------------- reach
CELLS = [
    (0, "import torch as t\nimport torch.nn.functional as G\nfrom torch import relu as r"),
    (1, "_helper = t.relu"),
    (2, "def relu(x):\n    '''Docstring mentioning interpolate.'''\n    params = 1\n    return _helper(x)"),
    (3, "def sig(x):\n    return G.sigmoid(x)"),
    (4, "def dyn(x):\n    return getattr(t, 're' + 'lu')(x)"),
    (
        5,
        "import torchvision.models.resnet as tv\nclass Block(tv.BasicBlock):\n    def forward(self, x):\n        return x",
    ),
    (6, "params = getattr(object(), 'x' + 'y')"),
    (7, "def size(i, k):\n    return _half(i - k) + 1\ndef _half(n):\n    return n // 2"),
]


def test_reach_follows_the_notebook_and_resolves_imports():
    src = reach.source_of(("relu",), CELLS)
    assert src.startswith("def relu(x):") and "torch.relu" in src  # through _helper and the alias t
    assert "params = getattr" not in src  # a local named like a global: not followed
    assert "torch.nn.functional.sigmoid" in reach.source_of(("sig",), CELLS)
    method = reach.source_of(("Block", "forward"), CELLS)
    assert "class Block(tv.BasicBlock)" in method and "torchvision" in method
    with pytest.raises(reach.Unreadable, match="computed name"):
        reach.source_of(("dyn",), CELLS)
    formula = reach.formula_source("size", CELLS)
    ns: dict = {}
    exec(formula, ns)
    assert ns["size"](10, 2) == 5 and "import torch" not in formula


# ---------------------------------------------------------------------------------------- limits
def test_kernel_limits_refuse_processes_network_and_signals():
    code = (
        "import os, socket, subprocess, threading, sys\n"
        f"sys.path.insert(0, {str(REPO / 'autograde')!r})\n"
        "import limits\n"
        "print('note:', limits.confine(1024, 60, 8) or 'all applied')\n"
        "t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
        "for name, f in [('fork', os.fork), ('exec', lambda: os.execv('/bin/true', ['true'])),\n"
        "                ('popen', lambda: subprocess.Popen(['true'])), ('inet', lambda: socket.socket()),\n"
        "                ('kill', lambda: os.kill(os.getppid(), 0))]:\n"
        "    try:\n        f()\n        print(name, 'ALLOWED')\n"
        "    except PermissionError:\n        print(name, 'refused')\n"
        "socket.socketpair(); print('unix sockets work')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "ALLOWED" not in r.stdout and r.stdout.count("refused") == 5 and "unix sockets work" in r.stdout, r.stdout


# ---------------------------------------------------------------------------------------- sandbox choice
def test_no_sandbox_means_no_grading(monkeypatch):
    monkeypatch.setattr(sandbox, "have_bwrap", lambda: False)
    monkeypatch.setattr(sandbox, "have_container", lambda engine: False)
    with pytest.raises(sandbox.SandboxUnavailable, match="bubblewrap.*--unsafe-no-sandbox"):
        sandbox.choose_backend("auto")
    assert sandbox.choose_backend("unsafe") == "unsafe"


@pytest.mark.skipif(not sandbox.have_bwrap(), reason="bubblewrap cannot run here (make test installs it with apt-get)")
def test_formula_process_cannot_import_torch():
    proc, sock = zygotes.formula_process("bwrap", sandbox.default_limits(), Path("/dev/null"))
    try:
        sock.settimeout(30)
        src = (
            "import sys\nsys.path += ['/usr/lib/python3/dist-packages', "
            + repr(str(Path(torch.__file__).parents[1]))
            + "]\nimport torch\ndef f():\n    return 1\n"
        )
        wire.send(sock, {"m": "formula", "name": "f", "src": src})
        reply, _ = wire.recv(sock)
        assert reply["m"] == "error" and reply["ename"] in ("ModuleNotFoundError", "ImportError"), reply
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.skipif(
    not sandbox.have_container("podman"),
    reason="no Podman with the grading image here (README: 'Grading without bubblewrap')",
)
def test_container_backend(tmp_path):
    engine = "podman"
    source, release = load("01_hw0_warmup")
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "full.ipynb").write_text(json.dumps(filled(source, release)))
    res = G.grade("01_hw0_warmup", tmp_path / "subs", out=tmp_path / "out", workers=1, sandbox=engine, quiet=True)
    assert res[0].total == 8


# ---------------------------------------------------------------------------------------- canary, unsafe mode
def test_unsafe_mode_still_has_no_network(tmp_path):
    """--unsafe-no-sandbox is for trusted input, yet the kernel still refuses network sockets."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.5)
    port = server.getsockname()[1]
    reached = []

    def accept():
        for _ in range(120):
            try:
                reached.append(server.accept())
            except TimeoutError:
                pass
            if stop.is_set():
                return

    stop = threading.Event()
    th = threading.Thread(target=accept)
    th.start()
    source, release = load("01_hw0_warmup")
    call = f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\nexcept OSError:\n    pass\n"
    (tmp_path / "subs").mkdir()
    nb = filled(source, release)
    nb["cells"].insert(3, {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": call})
    (tmp_path / "subs" / "net.ipynb").write_text(json.dumps(nb))
    try:
        res = G.grade("01_hw0_warmup", tmp_path / "subs", out=tmp_path / "out", workers=1, sandbox="unsafe", quiet=True)
    finally:
        stop.set()
        th.join()
        server.close()
    assert res[0].total == 8 and not reached


def test_regrading_one_student_keeps_the_others_and_manual_grades(tmp_path):
    a = "01_hw0_warmup"
    source, release = load(a)
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    for name, nb in {
        "ann": filled(source, release),
        "bo": release,
        "cy": filled(source, release, {"relu_impl"}),
    }.items():
        (subs / f"{name}.ipynb").write_text(json.dumps(nb))
    G.grade(a, subs, out=out, workers=1, quiet=True)
    from nbgrader.api import Gradebook

    db = "sqlite:///" + str(out / "gradebook.db")
    with Gradebook(db) as gb:  # a TA's manual override in formgrader
        g = gb.find_grade("relu_tests", a, a, "ann")
        g.manual_score = 1.5
        gb.db.commit()
    (subs / "bo.ipynb").write_text(json.dumps(filled(source, release, {"sigmoid_impl"})))
    [res] = G.grade(a, subs, out=out, workers=1, quiet=True, students=["bo"])
    assert res.student == "bo" and res.total == 2
    rows = {r["student"]: r["score"] for r in csv.DictReader(open(out / f"grades_{a}.csv"))}
    assert rows == {"ann": "8", "bo": "2", "cy": "2"}
    with Gradebook(db) as gb:
        assert gb.find_grade("relu_tests", a, a, "ann").manual_score == 1.5
        assert gb.find_submission(a, "bo").score == 2


def test_make_grades_size_options_reach_the_reading_of_submissions(tmp_path):
    """--notebook-mb and --extra-files-mb: the same submissions, read with the defaults and with smaller caps."""
    from autograde.collect import collect

    nb = json.dumps(load("01_hw0_warmup")[1]).encode()
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "01_hw0_warmup.ipynb").write_bytes(nb)
    (tmp_path / "ann" / "weights.pt").write_bytes(b"\0" * (2 << 20))
    (tmp_path / "bo.ipynb").write_bytes(nb)
    cases = {"defaults": None, "small": {"extra_files_mb": 1, "notebook_mb": len(nb) / 2**21}}
    read = {
        case: {s.student: s for s in collect(tmp_path, "01_hw0_warmup", "01_hw0_warmup.ipynb", limits=lim)}
        for case, lim in cases.items()
    }
    try:
        assert (read["defaults"]["ann"].files / "weights.pt").stat().st_size == 2 << 20
        assert read["defaults"]["bo"].problem is None and read["defaults"]["bo"].nb is not None
        assert any("other files over 1 MB: weights.pt" in n for n in read["small"]["ann"].notes)
        assert "notebook over" in read["small"]["bo"].problem and read["small"]["bo"].nb is None
    finally:
        for subs in read.values():
            for s in subs.values():
                s.discard()


def test_hw3_without_real_data_is_refused(tmp_path, monkeypatch):
    """HW3 is graded on the real test set: with none on the machine make grade says what to provide."""
    monkeypatch.delenv("COURSE_QUICK", raising=False)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "no-data"))
    (tmp_path / "subs").mkdir()
    with pytest.raises(SystemExit, match="--data PATH.*--synthetic-heldout"):
        G.grade("08_hw3_cifar10", tmp_path / "subs", out=tmp_path / "out", workers=1, quiet=True)


def _gradebook_scores(out: Path, a: str) -> dict[str, dict[str, tuple]]:
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///" + str(out / "gradebook.db")) as gb:
        return {
            s.student.id: {g.name: (g.auto_score, g.manual_score) for nb in s.notebooks for g in nb.grades}
            for s in gb.find_assignment(a).submissions
        }


def test_a_crash_half_way_then_grading_again_gives_the_same_gradebook(tmp_path):
    """`make grade` killed after its first student, then graded twice more: the gradebook equals one clean
    run's, and a manual grade entered in between survives."""
    import os
    import signal
    import time

    a = "01_hw0_warmup"
    source, release = load(a)
    subs = tmp_path / "subs"
    subs.mkdir()
    nbs = {
        "ann": filled(source, release),
        "bo": release,
        "cy": filled(source, release, {"relu_impl"}),
        "di": filled(source, release, {"sigmoid_impl", "softmax_impl"}),
    }
    for name, nb in nbs.items():
        (subs / f"{name}.ipynb").write_text(json.dumps(nb))
    G.grade(a, subs, out=tmp_path / "clean", workers=1, quiet=True)
    clean = _gradebook_scores(tmp_path / "clean", a)

    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "autograde.grade", a, str(subs), "--out", str(out), "--workers", "1"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True, start_new_session=True)
    for line in proc.stdout:  # killed right after its first student
        if "/8" in line:
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    time.sleep(0.5)
    crashed = _gradebook_scores(out, a)
    assert 1 <= len(crashed) < len(nbs), crashed
    regrade = lambda: G.grade(a, subs, out=out, workers=1, quiet=True)  # what the command runs
    regrade()
    assert _gradebook_scores(out, a) == clean
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///" + str(out / "gradebook.db")) as gb:  # a TA grades by hand in between
        gb.find_grade("relu_tests", a, a, "cy").manual_score = 0.5
        gb.db.commit()
    regrade()
    again = _gradebook_scores(out, a)
    assert again["cy"]["relu_tests"] == (clean["cy"]["relu_tests"][0], 0.5)
    again["cy"]["relu_tests"] = clean["cy"]["relu_tests"]
    assert again == clean
