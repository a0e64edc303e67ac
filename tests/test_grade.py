"""`make grade` end to end: one batch of generated HW0 submissions -- good, partial, broken and
cheating -- graded in parallel in the sandbox; every score is compared with the one it deserves.

HW0 has four test cells of 2 points (relu, sigmoid, softmax, cross_entropy). Most cheats below
come with a WRONG relu and right other functions, so they deserve 6/8: a cheat that worked would
show up as 8.
"""
from __future__ import annotations

import csv
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from autograde import grade as G
from autograde.mock_submissions import filled, load, solution_code

REPO = Path(__file__).resolve().parent.parent
A = "01_hw0_warmup"
WRONG_RELU = "def relu(x):\n    return x\n"


def _batch(folder: Path) -> dict[str, float]:
    """Write the submissions; return {student: expected score}."""
    source, release = load(A)
    sol = solution_code(source)
    expected: dict[str, float] = {}

    def put(name: str, nb: dict | str | bytes, score: float, ext: str = ".ipynb") -> None:
        p = folder / f"{name}{ext}"
        if isinstance(nb, dict):
            p.write_text(json.dumps(nb))
        elif isinstance(nb, bytes):
            p.write_bytes(nb)
        else:
            p.write_text(nb)
        expected[name] = score

    def cells_without(nb: dict, gid: str) -> dict:
        nb["cells"] = [c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") != gid]
        return nb

    def cheat(code: str, relu: str = WRONG_RELU) -> dict:
        return filled(source, release, replace={"relu_impl": code + "\n" + relu})

    # ---- honest work
    put("full", filled(source, release), 8)
    put("partial", filled(source, release, {"relu_impl", "softmax_impl"}), 4)
    put("untouched", release, 0)
    put("empty", {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, 0)
    put("wrongrelu", filled(source, release, replace={"relu_impl": WRONG_RELU}), 6)
    # ---- other layouts: a zip, nbgrader's STUDENT/ASSIGNMENT/, an LMS-style name
    with zipfile.ZipFile(folder / "zipped_hw0.zip", "w") as z:
        z.writestr(f"hw0/{A}.ipynb", json.dumps(filled(source, release, {"sigmoid_impl"})))
    expected["zipped"] = 2
    d = folder / "nbgraderstyle" / A
    d.mkdir(parents=True)
    (d / f"{A}.ipynb").write_text(json.dumps(filled(source, release)))
    expected["nbgraderstyle"] = 8
    put("lms_12345_attempt_2026-11-20", filled(source, release, {"cross_entropy_impl"}), 2)
    expected["lms"] = expected.pop("lms_12345_attempt_2026-11-20")
    # ---- bad submissions
    put("badjson", '{"cells": [', 0)
    put("notnb", b"%PDF-1.4 not a notebook", 0, ".pdf")
    put("wrongassign", json.loads((REPO / "notebooks" / "00_setup" / "00_setup.ipynb").read_text()), 0)
    put("missingtest", cells_without(filled(source, release), "relu_tests"), 8)
    put("missingsol", cells_without(filled(source, release), "relu_impl"), 6)
    nb = filled(source, release)
    i = next(i for i, c in enumerate(nb["cells"]) if c["metadata"].get("nbgrader", {}).get("grade_id") == "relu_tests")
    nb["cells"].insert(i, json.loads(json.dumps(nb["cells"][i])))         # copied test cell, same cell id
    put("duplicated", nb, 8)
    nb = cells_without(filled(source, release, replace={"relu_impl": WRONG_RELU}), "relu_tests")
    nb["cells"].append({"cell_type": "code", "id": "retyped", "metadata": {}, "outputs": [], "execution_count": None,
                        "source": "# relu tests (retyped)\nassert True\n"})
    put("retyped", nb, 6)
    nb = filled(source, release, replace={"relu_impl": WRONG_RELU, "relu_tests": "pass"})
    put("editedtest", nb, 6)
    put("infinite", filled(source, release, replace={"sigmoid_impl": "while True:\n    pass\n"}), 6)
    put("stubborn", filled(source, release, replace={"softmax_impl": (
        "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass\n")}), 4)
    put("memoryhog", filled(source, release, replace={"sigmoid_impl": "hog = bytearray(16 * 1024**3)\n"
                                                      + sol["sigmoid_impl"]}), 6)
    put("torchhog", filled(source, release, replace={"sigmoid_impl": "import torch\nhog = torch.empty(10**11)\n"
                                                     + sol["sigmoid_impl"]}), 6)
    put("osexit", filled(source, release, replace={"cross_entropy_impl": "import os\nos._exit(0)\n"}), 6)
    put("hugeprint", filled(source, release, replace={"relu_impl": sol["relu_impl"] + "\nprint('x' * 10**8)\n"
                                                      + "import os\nos.write(1, b'y' * 10**7)\n"}), 8)
    put("floodpipe", filled(source, release, replace={"relu_impl": (
        "import os\nfor fd in range(3, 40):\n    try:\n        os.write(fd, b'x' * 65536 * 12)\n"
        "    except OSError:\n        pass\n")}), 0)
    # ---- cheating: hide the failure, replace the checks, exit early, forge the verdict, escape
    put("cheatexcepthook", cheat("import sys\nsys.excepthook = lambda *a: None\nsys.displayhook = lambda *a: None"), 6)
    put("cheatshowtb", cheat("get_ipython().showtraceback = lambda *a, **k: None"), 6)
    put("cheatstreams", cheat("import sys, os\nsys.stdout = sys.stderr = open(os.devnull, 'w')"), 6)
    put("cheatbuiltins", cheat("import builtins\nbuiltins.isinstance = lambda *a: True\n"
                            "builtins.AssertionError = type('AssertionError', (Exception,), {})\n"
                            "AssertionError = Warning\n__builtins__ = {'isinstance': lambda *a: True}"), 6)
    put("cheatchecks", cheat("import torch, torch.testing, course_utils.checks as cc\n"
                          "torch.testing.assert_close = lambda *a, **k: None\ncc.check_close = lambda *a, **k: None\n"
                          "check_close = lambda *a, **k: None\ntorch.nn.functional.relu = lambda x: x\n"
                          "torch.Tensor.__eq__ = lambda a, b: True\n"), 6)
    put("cheatfaketorch", cheat("import types, torch as _t\n"
                             "torch = types.SimpleNamespace(**{k: getattr(_t, k) for k in dir(_t) if not k.startswith('__')})\n"
                             "torch.testing = types.SimpleNamespace(assert_close=lambda *a, **k: None)\n",
                             "def relu(x):\n    return x\n"), 6)
    put("cheatduringtest", cheat("", "def relu(x):\n    import torch.testing, inspect\n"
                                  "    torch.testing.assert_close = lambda *a, **k: None\n"
                                  "    inspect.getsource = lambda f: 'def relu(x): pass'\n"
                                  "    return torch.relu(x) if x.dtype == torch.float32 else x\n"), 6)
    put("cheatgetsource", cheat("import inspect, linecache\ninspect.getsource = lambda f: 'def relu(x): pass'\n"
                             "linecache.getlines = lambda *a, **k: ['def relu(x): pass\\n']",
                             "def relu(x):\n    return torch.relu(x)\n"), 6)
    put("cheatsystemexit", cheat("", "def relu(x):\n    raise SystemExit(0)\n"), 6)
    put("cheatkbint", cheat("", "def relu(x):\n    raise KeyboardInterrupt\n"), 6)
    put("cheatexitintest", cheat("", "def relu(x):\n    import os\n    os._exit(0)\n"), 0)
    put("cheatforge", cheat("", "def relu(x):\n    import os\n    for fd in range(0, 40):\n"
                             "        for k in range(0, 40):\n            try:\n"
                             "                os.write(fd, f'P {k} {\"0\" * 32}\\nEND\\n'.encode())\n"
                             "            except OSError:\n                pass\n    return x\n"), 0)
    put("cheatframes", cheat("import sys, gc\nframes = []\n"
                          "for get in (lambda: sys._getframe(0), lambda: gc.get_objects(),\n"
                          "            lambda: (1 / 0), lambda: sys.settrace(lambda *a: None)):\n"
                          "    try:\n        frames.append(get())\n    except ZeroDivisionError as e:\n"
                          "        frames.append(e.__traceback__.tb_frame)\n    except Exception:\n        pass\n"
                          "assert not frames, 'got a frame'"), 6)
    put("cheatsignal", cheat("import signal\ndef h(sig, frame):\n    pass\nsignal.signal(signal.SIGALRM, h)\n"
                          "signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)"), 6)
    put("cheattorchmode", cheat("import torch\nfrom torch.overrides import TorchFunctionMode\n"
                             "class M(TorchFunctionMode):\n    def __torch_function__(self, f, t, a=(), k=None):\n"
                             "        return True if f.__name__ in ('allclose', 'equal', 'eq', '__eq__') "
                             "else f(*a, **(k or {}))\n_m = M()\n_m.__enter__()\n"), 6)
    steal = str(REPO / "solutions" / A / f"{A}.ipynb")
    put("cheatsolutions", cheat(f"import json, subprocess\ntry:\n    nb = json.load(open({steal!r}))\n"
                             "    for c in nb['cells']:\n        if 'def relu' in ''.join(c['source']):\n"
                             "            exec(''.join(c['source']))\nexcept Exception:\n    pass\n"
                             f"try:\n    subprocess.run(['cat', {steal!r}])\nexcept Exception:\n    pass\n",
                             "try:\n    relu\nexcept NameError:\n    def relu(x):\n        return x\n"), 6)
    put("cheatnetwork", cheat("import socket\ntry:\n    socket.create_connection(('127.0.0.1', 22), timeout=1)\n"
                           "except Exception:\n    pass\n"), 6)
    return expected


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("grade")
    subs = root / "submissions"
    subs.mkdir()
    expected = _batch(subs)
    results = G.grade(A, subs, out=root / "out", workers=2, quiet=True,
                      limits={"cell": 8, "notebook": 60, "memory_mb": 1536, "output_kb": 256})
    return root, expected, {r.student: r for r in results}


def test_every_score_is_the_deserved_one(graded):
    _, expected, got = graded
    wrong = {s: (got[s].total if s in got else None, e) for s, e in expected.items()
             if s not in got or got[s].total != e}
    detail = {s: (got[s].messages, got[s].notes, got[s].problem) for s in wrong if s in got}
    assert not wrong, f"(got, expected): {wrong}\n{json.dumps(detail, indent=1)[:6000]}"
    assert set(got) == set(expected)


def test_bad_submissions_say_why(graded):
    _, _, got = graded
    assert "invalid JSON" in got["badjson"].problem
    assert "not a notebook" in got["notnb"].problem
    notes = {s: " ".join(r.notes) for s, r in got.items()}
    assert "wrong assignment" in notes["wrongassign"] or "no graded cells" in notes["wrongassign"]
    assert "relu_tests" in notes["missingtest"] and "put back" in notes["missingtest"]
    assert "relu_impl is missing" in notes["missingsol"]
    assert "copy of test cell relu_tests" in notes["duplicated"] and "duplicate cell id" in notes["duplicated"]
    assert "relu_tests was edited" in notes["editedtest"]
    assert "interrupted" in notes["infinite"]
    assert "did not stop" in notes["stubborn"]
    assert "output over" in notes["floodpipe"]
    assert "MemoryError" in " ".join(got["memoryhog"].cell_errors)
    assert "suspicious" in notes["cheatforge"]


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
        assert sorted(s.student.id for s in subs) == sorted(expected)          # one each, none lost
        for s in subs:
            assert s.score == expected[s.student.id], s.student.id
    hidden_only = ["BEGIN HIDDEN", "_banned", "manual_seed(101)", "torch.nn.functional.relu(_x)"]
    for s in expected:
        page = out / "feedback" / s / A / f"{A}.html"
        assert page.exists(), s
        text = page.read_text()
        assert not [h for h in hidden_only if h in text], f"hidden test code in {s}'s feedback"
    text = (out / "feedback" / "wrongrelu" / A / f"{A}.html").read_text()
    assert "0 / 2" in text and "relu([-2, -0.5, 0, 1.5, 3])" in text       # visible message, per-cell score


def test_student_side_check_matches_nbgrader(tmp_path):
    from nbgrader.utils import compute_checksum
    import nbformat
    from course_utils.submit_check import cell_checksum, protected_cell_problems
    source, release = load(A)
    nb = nbformat.reads(json.dumps(release), as_version=4)
    for c in nb.cells:
        if "nbgrader" in c.metadata:
            assert cell_checksum(c) == compute_checksum(c) == c.metadata.nbgrader.get("checksum", cell_checksum(c))
    assert protected_cell_problems(release, release) == []
    edited = filled(source, release, replace={"relu_tests": "pass"})
    edited["cells"] = [c for c in edited["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") != "softmax_tests"]
    problems = protected_cell_problems(edited, release)
    assert any("relu_tests" in p and "edited" in p for p in problems)
    assert any("softmax_tests" in p and "missing" in p for p in problems)


def test_collect_layouts(tmp_path):
    a = G.Assignment(A, f"{A}.ipynb", {}, {}, {}, [], "", [])
    (tmp_path / "ann.ipynb").write_text('{"cells": []}')
    (tmp_path / "ann_v2.ipynb").write_text('{"cells": []}')
    (tmp_path / ".DS_Store").write_text("")
    (tmp_path / "ben" / A).mkdir(parents=True)
    (tmp_path / "ben" / A / f"{A}.ipynb").write_text('{"cells": []}')
    with zipfile.ZipFile(tmp_path / "cy_hw.zip", "w") as z:
        z.writestr("notes.txt", "hi")
    subs = {s.student: s for s in G.collect(tmp_path, a)}
    assert set(subs) == {"ann", "ben", "cy"}
    assert "2 submissions found" in " ".join(subs["ann"].notes)
    assert subs["ben"].nb == {"cells": []} and subs["cy"].problem == "cy_hw.zip holds no notebook"


def test_without_bubblewrap(tmp_path):
    """--sandbox none (a TA without bubblewrap): OS limits and the audit hook still hold."""
    subs = tmp_path / "submissions"
    subs.mkdir()
    expected = _batch(subs)
    keep = {"full", "cheatsolutions", "cheatnetwork", "infinite", "cheatduringtest", "osexit"}
    for p in list(subs.iterdir()):
        if p.is_dir():
            shutil.rmtree(p)
        elif p.name.split("_")[0].split(".")[0] not in keep:
            p.unlink()
    results = G.grade(A, subs, out=tmp_path / "out", workers=2, sandbox="none", quiet=True,
                      limits={"cell": 8, "notebook": 60, "memory_mb": 1536, "output_kb": 256})
    got = {r.student: r.total for r in results}
    assert got == {s: expected[s] for s in keep}, {r.student: (r.messages, r.notes) for r in results}
    assert "ended early" in " ".join(next(r for r in results if r.student == "osexit").notes)
