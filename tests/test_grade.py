"""`make grade` end to end on HW0: honest, broken and cheating submissions in one batch, graded in
parallel in the sandbox; every score is compared with the one it deserves.

HW0 has four test cells of 2 points (relu, sigmoid, softmax, cross_entropy). A cheat starts from
the *released* notebook (nothing solved) and adds its trick, so it deserves 0: any point it earns
is a hole. Honest students in the same batch must keep exactly their points.
"""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import pytest

from autograde import grade as G
from autograde.mock_submissions import filled, load, solution_code

REPO = Path(__file__).resolve().parent.parent
A = "01_hw0_warmup"
WRONG_RELU = "def relu(x):\n    return x\n"
LIMITS = {"cell": 8, "notebook": 60, "memory_mb": 1536, "output_kb": 256}

# Each cheat: code put after the released relu stub (the other stubs stay too), deserving 0.
CHEATS = {
    # read the grader's secrets from its frames or memory (there are none in the student's process)
    "cheatframes": "import sys, signal\nseen = []\nsignal.signal(signal.SIGALRM, lambda s, f: seen.append(f.f_back))\n"
    "signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)\n",
    "cheatprocmem": "import os\nd = os.open('/proc/self', os.O_RDONLY)\ntry:\n    f = os.open('mem', os.O_RDONLY, dir_fd=d)\n"
    "    os.lseek(f, 0, 0)\nexcept OSError:\n    pass\n",
    # patch the checks in place, loosen tolerances, add attributes, undo the patch later
    "cheatcode": "import torch, torch.testing, course_utils.checks as cc\nnop = (lambda *a, **k: None).__code__\n"
    "torch.testing.assert_close.__code__ = nop\ncc.check_close.__code__ = nop\n"
    "cc.check_close.__defaults__ = (1e9, 1e9)\ntorch.Tensor.__eq__ = lambda a, b: True\n"
    "torch.testing._comparison.default_tolerances = lambda *a, **k: (1e9, 1e9)\n",
    "cheatbuiltins": "import builtins\nrange = lambda *a: ()\nbuiltins.range = lambda *a: ()\n"
    "builtins.AssertionError = Warning\nbuiltins.isinstance = lambda *a: True\n",
    # values that lie: a Tensor subclass equal to everything
    "cheatliar": "import torch\nclass Liar(torch.Tensor):\n    @classmethod\n"
    "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
    "        if func.__name__ in ('__eq__', 'eq', 'allclose', 'equal', 'isclose'):\n"
    "            return torch.tensor(True)\n"
    "        return super().__torch_function__(func, types, args, kwargs or {})\n"
    "def relu(x):\n    return (x * 0).as_subclass(Liar)\n",
    # ask PyTorch, hidden from a look at the def alone
    "cheataskname": "import torch\n_r = torch.relu\ndef relu(x):\n    return _r(x)\n",
    "cheataskalias": "import torch.nn.functional as G\ndef relu(x):\n    return G.relu(x)\n",
    "cheataskdynamic": "import torch\ndef relu(x):\n    return getattr(torch, 're' + 'lu')(x)\n",
    # processes: fork, a shell, the low-level fork_exec, 40 background processes
    "cheatprocs": "import os, subprocess, _posixsubprocess\nfor f in (lambda: os.fork(), lambda: subprocess.Popen(['sh', '-c', 'sleep 100']),\n"
    "          lambda: os.system('sleep 100 &'), lambda: [subprocess.Popen(['sleep', '100']) for _ in range(40)]):\n"
    "    try:\n        f()\n    except Exception:\n        pass\n",
    "cheattmpfill": "import os\nfor i in range(12):\n    try:\n        with open(f'/tmp/fill{i}', 'wb') as f:\n"
    "            f.write(b'x' * (256 * 1024 * 1024))\n    except OSError:\n        break\n",
    # the grader's files, the network, other processes
    "cheatsolutions": f"import json\ntry:\n    nb = json.load(open({str(REPO / 'solutions' / A / (A + '.ipynb'))!r}))\n"
    "    exec(''.join(c for cell in nb['cells'] for c in cell['source'] if 'def relu' in ''.join(cell['source'])))\n"
    "except Exception:\n    pass\n",
    "cheatnetwork": "import socket\ntry:\n    socket.create_connection(('127.0.0.1', 22), timeout=1)\nexcept Exception:\n    pass\n",
    "cheatkill": "import os, signal\nfor pid in (1, 2, -1, 0):\n    try:\n        os.kill(pid, signal.SIGKILL)\n    except OSError:\n        pass\n",
    # forge a verdict: write frames to every file descriptor
    "cheatforge": "import os, json, struct\nh = json.dumps({'m': 'verdict', 'k': 7, 'grade_id': 'relu_tests', 'passed': True}).encode()\n"
    "for fd in range(0, 64):\n    try:\n        os.write(fd, struct.pack('>I', len(h)) + h)\n    except OSError:\n        pass\n",
    "cheatexit": "import os\ndef relu(x):\n    os._exit(0)\n",
}


def _put(folder: Path, expected: dict, name: str, nb, score: float, ext: str = ".ipynb") -> None:
    p = folder / f"{name}{ext}"
    p.write_bytes(nb if isinstance(nb, bytes) else (nb if isinstance(nb, str) else json.dumps(nb)).encode())
    expected[name] = score


def _batch(folder: Path) -> dict[str, float]:
    """Write the submissions; return {student: expected score}."""
    source, release = load(A)
    sol = solution_code(source)
    stub = next(
        "".join(c["source"])
        for c in release["cells"]
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "relu_impl"
    )
    expected: dict[str, float] = {}

    def without(nb: dict, gid: str) -> dict:
        nb["cells"] = [c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") != gid]
        return nb

    put = lambda *a, **k: _put(folder, expected, *a, **k)
    # ---- honest work
    put("full", filled(source, release), 8)
    put("partial", filled(source, release, {"relu_impl", "softmax_impl"}), 4)
    put("untouched", release, 0)
    put("empty", {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, 0)
    put("wrongrelu", filled(source, release, replace={"relu_impl": WRONG_RELU}), 6)
    put("missingtest", without(filled(source, release), "relu_tests"), 8)
    put("missingsol", without(filled(source, release), "relu_impl"), 6)
    put("editedtest", filled(source, release, replace={"relu_impl": WRONG_RELU, "relu_tests": "pass"}), 6)
    put("infinite", filled(source, release, replace={"sigmoid_impl": "while True:\n    pass\n"}), 6)
    put(
        "stubborn",
        filled(
            source,
            release,
            replace={
                "softmax_impl": (
                    "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass\n"
                )
            },
        ),
        4,
    )
    put(
        "memoryhog",
        filled(source, release, replace={"sigmoid_impl": "hog = bytearray(16 * 1024**3)\n" + sol["sigmoid_impl"]}),
        6,
    )
    put("osexit", filled(source, release, replace={"cross_entropy_impl": "import os\nos.abort()\n"}), 6)
    put("hugeprint", filled(source, release, replace={"relu_impl": sol["relu_impl"] + "\nprint('x' * 10**8)\n"}), 8)
    nb = filled(source, release)
    for c in nb["cells"]:
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "relu_tests":
            c["metadata"]["nbgrader"]["grade_id"] = ["relu_tests"]  # a list: treated as a plain cell
    put("gradeidlist", nb, 8)
    with zipfile.ZipFile(folder / "zipped_hw0.zip", "w") as z:
        z.writestr(f"hw0/{A}.ipynb", json.dumps(filled(source, release, {"sigmoid_impl"})))
    expected["zipped"] = 2
    d = folder / "nbgrader_style" / A  # nbgrader allows _ in ids
    d.mkdir(parents=True)
    (d / f"{A}.ipynb").write_text(json.dumps(filled(source, release)))
    expected["nbgrader_style"] = 8
    # ---- files that cannot be read: each fails alone
    put("badjson", '{"cells": [', 0)
    put("notnb", b"%PDF-1.4 not a notebook", 0, ".pdf")
    put("bigint", '{"cells": [], "x": ' + "9" * 5000 + "}", 0)
    put("deepjson", '{"cells": [], "x": ' + "[" * 100_000 + "]" * 100_000 + "}", 0)
    with zipfile.ZipFile(folder / "encrypted.zip", "w") as z:
        z.writestr(f"{A}.ipynb", json.dumps(filled(source, release)))
    data = bytearray((folder / "encrypted.zip").read_bytes())
    for sig, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # set the "encrypted" flag in both headers
        i = data.index(sig)
        data[i + at] |= 0x1
    (folder / "encrypted.zip").write_bytes(bytes(data))
    expected["encrypted"] = 0
    with zipfile.ZipFile(folder / "corrupt.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{A}.ipynb", json.dumps(filled(source, release)) * 5)
    data = bytearray((folder / "corrupt.zip").read_bytes())
    for i in range(200, 600):
        data[i] ^= 0x5A
    (folder / "corrupt.zip").write_bytes(bytes(data))
    expected["corrupt"] = 0
    # ---- cheats
    for name, code in CHEATS.items():
        put(name, filled(source, release, fill=set(), replace={"relu_impl": stub + "\n" + code}), 0)
    return expected


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("grade")
    subs = root / "submissions"
    subs.mkdir()
    expected = _batch(subs)
    results = G.grade(A, subs, out=root / "out", workers=2, quiet=True, limits=LIMITS)
    return root, expected, {r.student: r for r in results}


def test_every_score_is_the_deserved_one(graded):
    _, expected, got = graded
    assert set(got) == set(expected)
    wrong = {s: (got[s].total, e) for s, e in expected.items() if got[s].total != e}
    detail = {s: (got[s].messages, got[s].notes, got[s].problem) for s in wrong}
    assert not wrong, f"(got, expected): {wrong}\n{json.dumps(detail, indent=1)[:6000]}"


def test_bad_submissions_say_why(graded):
    _, _, got = graded
    assert "invalid JSON" in got["badjson"].problem
    assert "not a notebook" in got["notnb"].problem
    for s in ("bigint", "deepjson", "encrypted", "corrupt"):
        assert got[s].problem, s
    notes = {s: " ".join(r.notes) for s, r in got.items()}
    assert "relu_tests" in notes["missingtest"] and "put back" in notes["missingtest"]
    assert "relu_impl is missing" in notes["missingsol"]
    assert "relu_tests was edited" in notes["editedtest"]
    assert "interrupted" in notes["infinite"]
    assert "did not stop" in notes["stubborn"]
    assert "ended" in notes["osexit"]
    assert "dynamic lookups" in got["cheataskdynamic"].messages["relu_tests"]


def test_outputs_gradebook_csv_feedback(graded):
    root, expected, got = graded
    out = root / "out"
    rows = {r["student"]: r for r in csv.DictReader(open(out / f"grades_{A}.csv"))}
    assert set(rows) == set(expected)
    assert all(float(rows[s]["score"]) == e for s, e in expected.items())
    assert rows["badjson"]["status"] == "failed" and "invalid JSON" in rows["badjson"]["problems"]
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///" + str(out / "gradebook.db")) as gb:
        subs = gb.assignment_submissions(A)
        assert sorted(s.student.id for s in subs) == sorted(expected)  # one each, none lost
        for s in subs:
            assert s.score == expected[s.student.id], s.student.id
    hidden_only = ["BEGIN HIDDEN", "_banned", "manual_seed(101)", "torch.nn.functional.relu(_x)"]
    for s in expected:
        text = (out / "feedback" / s / A / f"{A}.html").read_text()
        assert not [h for h in hidden_only if h in text], f"hidden test code in {s}'s feedback"
    text = (out / "feedback" / "wrongrelu" / A / f"{A}.html").read_text()
    assert "0 / 2" in text and "relu([-2, -0.5, 0, 1.5, 3])" in text  # visible message, per-cell score


def test_autograded_notebook_keeps_markdown_and_outputs(graded):
    root, _, _ = graded
    nb = json.loads((root / "out" / "autograded" / "hugeprint" / A / f"{A}.ipynb").read_text())
    kinds = {c["cell_type"] for c in nb["cells"]}
    assert kinds == {"markdown", "code"}
    streams = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"] if o["output_type"] == "stream"]
    assert any("output cut" in o["text"] or "left out" in o["text"] for o in streams)  # 10**8 characters capped
    assert max(len(o["text"]) for o in streams) < 300_000


def test_one_student_cannot_harm_the_next(tmp_path):
    """One worker grades in turn: a forger, an honest student, a killer, an honest student, ..."""
    source, release = load(A)
    stub = next(
        "".join(c["source"])
        for c in release["cells"]
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "relu_impl"
    )
    subs = tmp_path / "subs"
    subs.mkdir()
    expected: dict[str, float] = {}
    for i, cheat in enumerate(("cheatforge", "cheatkill", "cheattmpfill", "cheatprocs")):
        _put(
            subs,
            expected,
            f"a{i}",
            filled(source, release, fill=set(), replace={"relu_impl": stub + "\n" + CHEATS[cheat]}),
            0,
        )
        _put(subs, expected, f"a{i}honest", filled(source, release), 8)
    results = G.grade(A, subs, out=tmp_path / "out", workers=1, quiet=True, limits=LIMITS)
    assert {r.student: r.total for r in results} == expected, {r.student: (r.messages, r.notes) for r in results}


def test_class_report_and_feedback_zips(graded):
    import zipfile as _zip

    root, expected, _ = graded
    out = root / "out"
    assert (out / f"report_{A}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / f"report_{A}.md").read_text()
    assert "| relu_tests | 2 |" in md and "- badjson:" in md and "- full:" not in md
    for s in expected:
        with _zip.ZipFile(out / "feedback_zips" / A / f"{s}_feedback.zip") as z:
            assert f"feedback for {s}" in z.read(f"{A}_feedback.html").decode()
