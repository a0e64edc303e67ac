"""HW0 graded for real (``autograde.grade.grade``, sandboxed) with students who ask PyTorch for relu.

Each cheat solves sigmoid, softmax and cross-entropy honestly (6 points) and gets relu from PyTorch
in a way the old text patterns missed; it deserves 6 of 8, and 0 where it hides what it calls
(dynamic code anywhere in the notebook fails every "from scratch" test). The honest students in the
same batch keep 8, and the verdicts come from the trusted runner (``course_utils.checks.from_scratch``).
"""

from __future__ import annotations

import json

import pytest

from autograde import grade as G
from autograde.mock_submissions import filled, load

A = "01_hw0_warmup"
LIMITS = {"cell": 20, "notebook": 120, "memory_mb": 1536, "output_kb": 256}

# (the relu cell, cells added after it)
CHEATS = {
    "alias": ("_t = torch\ndef relu(x):\n    return _t.relu(x)\n", []),
    "execcell": ("def relu(x):\n    return _h(x)\n", ["exec('_h = torch.relu')"]),
    "globalfn": ("def relu(x):\n    return _h(x)\n", ["def _setup():\n    global _h\n    _h = torch.relu\n_setup()"]),
    "globalsdict": ("def relu(x):\n    return x\n", ["globals()['relu'] = torch.relu"]),
    "chain": (
        "_a0 = torch.relu\n"
        + "".join(f"_a{i + 1} = _a{i}\n" for i in range(401))
        + "def relu(x):\n    return _a401(x)\n",
        [],
    ),
    "method": ("def relu(x):\n    return x.relu()\n", []),
    "clampmin": ("def relu(x):\n    return torch.Tensor.clamp_min(x, 0)\n", []),
    "aten": ("def relu(x):\n    return torch.ops.aten.relu(x)\n", []),
    "fdict": ("def relu(x):\n    return torch.nn.functional.__dict__['relu'](x)\n", []),
    "partial": ("import functools\n_f = functools.partial(torch.clamp, min=0)\ndef relu(x):\n    return _f(x)\n", []),
    "methodcaller": ("import operator\ndef relu(x):\n    return operator.methodcaller('relu')(x)\n", []),
    "unicode": ("def relu(x):\n    return torch.ｒelu(x)\n", []),
    "starimport": ("from torch import *\ndef relu(x):\n    return clamp(x, min=0)\n", []),
    "decorator": ("def _use(f):\n    return lambda x: torch.relu(x)\n@_use\ndef relu(x):\n    return x\n", []),
    "listappend": ("_fs = []\ndef relu(x):\n    return _fs[0](x)\n", ["_fs.append(torch.relu)"]),
    "match": ("match torch.relu:\n    case _f:\n        pass\ndef relu(x):\n    return _f(x)\n", []),
    "magicbody": ("def relu(x):\n    return _h(x)\n", ["%%time\n_h = torch.relu"]),
}
DYNAMIC = {"execcell", "globalsdict", "fdict", "methodcaller", "starimport"}


def _with_cells(nb: dict, after: str, sources: list[str]) -> dict:
    i = next(j for j, c in enumerate(nb["cells"]) if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == after)
    new = [
        {"cell_type": "code", "metadata": {}, "source": s, "outputs": [], "execution_count": None, "id": f"extra-{k}"}
        for k, s in enumerate(sources)
    ]
    nb["cells"][i + 1 : i + 1] = new
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("scratch")
    subs = root / "submissions"
    subs.mkdir()
    source, release = load(A)
    expected = {"honest": 8.0}
    (subs / "honest.ipynb").write_text(json.dumps(filled(source, release)))
    # honest, with torch.relu used elsewhere to compare, magics and a shell line
    extra = ["x = torch.randn(5)\nprint(relu(x), torch.relu(x))", "%matplotlib inline", "!echo hello"]
    (subs / "honestcompare.ipynb").write_text(json.dumps(_with_cells(filled(source, release), "relu_impl", extra)))
    expected["honestcompare"] = 8.0
    for name, (cell, extra) in CHEATS.items():
        nb = _with_cells(filled(source, release, replace={"relu_impl": cell}), "relu_impl", extra)
        (subs / f"{name}.ipynb").write_text(json.dumps(nb))
        expected[name] = 6.0
    for name in DYNAMIC:
        expected[name] = 0.0
    expected["magicbody"] = 6.0  # %%time does nothing when grading: _h is never bound, relu fails
    results = G.grade(A, subs, out=root / "out", workers=2, quiet=True, limits=LIMITS)
    return expected, {r.student: r for r in results}


def test_every_cheat_loses_relu_and_only_relu(graded):
    expected, got = graded
    assert set(got) == set(expected)
    wrong = {s: (got[s].total, e, got[s].messages.get("relu_tests")) for s, e in expected.items() if got[s].total != e}
    assert not wrong, json.dumps(wrong, indent=1, ensure_ascii=False)[:6000]


def test_the_message_says_what_to_remove(graded):
    _, got = graded
    assert "from scratch" in got["alias"].messages["relu_tests"] and "_t.relu" in got["alias"].messages["relu_tests"]
    assert "exec()" in got["execcell"].messages["relu_tests"]
    assert "globals()" in got["globalsdict"].messages["relu_tests"]
