"""Every graded notebook through `make grade`: the solution earns every autograded point, the
release none, a submission with one part unsolved exactly the points of the parts it solved, and
written answers are left for the TA ("needs manual grade"). HW1 also gets the cheats aimed at
its formulas (values that lie, asking a layer on the meta device), HW3 a trained checkpoint in a zip.

Expected scores come from the source notebook alone: a test loses its points when its code names
something the unsolved cell defines.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest

from autograde import grade as G
from autograde.mock_submissions import filled, load
from course_utils.nbcells import cell_kind, cell_source, grade_id, points

LIMITS = {"cell": 60, "notebook": 300}
# (assignment, the solution cell left unsolved in the partial submission)
HOMEWORK = [
    ("04_hw1_layer_sizes", "conv_macs_impl"),
    ("06a_hw2_residual_blocks", "res_grad_impl"),
    ("06b_hw2_receptive_field", "rf_specs_impl"),
    ("06c_hw2_upsampling", "up_bilinear_impl"),
]


def deserved(source: dict, unsolved: set[str]) -> float:
    """Autograded points of the tests whose code names nothing defined by an ``unsolved`` cell."""
    names: dict[str, list[str]] = {}
    total = 0.0
    for c in source["cells"]:
        kind, src = cell_kind(c), cell_source(c)
        if kind == "solution" and c["cell_type"] == "code":
            names[grade_id(c)] = [a or b for a, b in re.findall(r"^(?:def|class) (\w+)|^(\w+) =", src, re.M)]
        elif kind == "test":
            broken = any(re.search(rf"\b{n}\b", src) for g in unsolved for n in names.get(g, []))
            total += 0 if broken else points(c)
    return total


def _grade(tmp_path: Path, assignment: str, subs: dict[str, dict], **kw) -> dict:
    folder = tmp_path / "subs"
    folder.mkdir(exist_ok=True)
    for name, nb in subs.items():
        (folder / f"{name}.ipynb").write_text(json.dumps(nb))
    results = G.grade(assignment, folder, out=tmp_path / "out", workers=2, quiet=True, limits=LIMITS, **kw)
    return {r.student: r for r in results}


def _needs_manual(out: Path, assignment: str, student: str) -> list[str]:
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///" + str(out / "gradebook.db")) as gb:
        sub = gb.find_submission(assignment, student)
        return sorted(g.name for nb in sub.notebooks for g in nb.grades if g.needs_manual_grade)


@pytest.mark.parametrize("assignment,unsolved", HOMEWORK)
def test_homework_scores(tmp_path, assignment, unsolved):
    source, release = load(assignment)
    full = deserved(source, set())
    partial = deserved(source, {unsolved})
    assert 0 < partial < full
    stub = {grade_id(c): cell_source(c) for c in release["cells"] if grade_id(c)}
    got = _grade(
        tmp_path,
        assignment,
        {
            "solution": filled(source, release),
            "release": release,
            "partial": filled(source, release, replace={unsolved: stub[unsolved]}),
        },
    )
    scores = {s: r.total for s, r in got.items()}
    assert scores == {"solution": full, "release": 0, "partial": partial}, {s: r.messages for s, r in got.items()}
    written = sorted(grade_id(c) for c in source["cells"] if cell_kind(c) == "written")
    assert _needs_manual(tmp_path / "out", assignment, "solution") == written


def test_hw1_cheats(tmp_path):
    """Formula functions that return a value equal to everything, or that run a layer on the meta device."""
    a = "04_hw1_layer_sizes"
    source, release = load(a)
    stub = {grade_id(c): cell_source(c) for c in release["cells"] if grade_id(c)}
    liar = (
        "class Any(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n"
        "def conv2d_output_size(i, k, s=1, p=0, d=1):\n    return Any(0)\n"
    )
    meta = (
        "import torch\ndef conv2d_output_size(i, k, s=1, p=0, d=1):\n"
        "    layer = torch.nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d, device='meta')\n"
        "    return layer(torch.empty(1, 1, i, i, device='meta')).shape[2]\n"
    )
    got = _grade(
        tmp_path,
        a,
        {
            "liar": filled(
                source, release, fill=set(), replace={"conv_size_impl": stub["conv_size_impl"] + "\n" + liar}
            ),
            "meta": filled(
                source, release, fill=set(), replace={"conv_size_impl": stub["conv_size_impl"] + "\n" + meta}
            ),
        },
    )
    assert {s: r.total for s, r in got.items()} == {"liar": 0, "meta": 0}, {s: r.messages for s, r in got.items()}
    assert "torch" in got["meta"].messages["conv_size_tests"]


def test_hw3_checkpoint_in_a_zip(tmp_path):
    """A trained checkpoint zipped with the notebook earns the levels its measured accuracy deserves."""
    import torch
    from torch import nn

    from course_utils import TensorLoader, fit, load_dataset, save_checkpoint, seed_everything
    from course_utils.grading import THRESHOLDS, checkpoint_accuracy, heldout_set

    a = "08_hw3_cifar10"
    source, release = load(a)
    sol = {grade_id(c): cell_source(c) for c in source["cells"] if cell_kind(c) == "solution"}
    ns: dict = {"nn": nn, "torch": torch}
    exec("\n".join(line for line in sol["model_build"].splitlines() if "### " not in line), ns)
    seed_everything(0)
    model = ns["build_model"]()
    loader = TensorLoader(load_dataset("cifar10", "train").subset(2000), 100, shuffle=True)
    fit(model, loader, epochs=3, optimizer=torch.optim.Adam(model.parameters(), 3e-3), progress=False)
    ckpt = tmp_path / "hw3_model.pt"
    save_checkpoint(ckpt, model)
    acc = checkpoint_accuracy(ckpt, ns["build_model"], heldout_set())
    levels = sum(acc >= t for t in THRESHOLDS["synthetic"])
    folder = tmp_path / "subs"
    folder.mkdir()
    with zipfile.ZipFile(folder / "ada_hw3.zip", "w") as z:
        z.writestr(f"hw3/{a}.ipynb", json.dumps(filled(source, release)))
        z.write(ckpt, "hw3/hw3_model.pt")
    (folder / "bo.ipynb").write_text(json.dumps(filled(source, release)))  # no checkpoint handed in
    results = {
        r.student: r
        for r in G.grade(a, folder, out=tmp_path / "out", workers=2, quiet=True, limits=LIMITS, synthetic_heldout=True)
    }
    assert results["ada"].total == 4 + 2 * levels, (acc, results["ada"].messages)
    assert results["bo"].scores == {
        "checkpoint_loads": 0,
        "params_budget": 2,
        "accuracy_level1": 0,
        "accuracy_level2": 0,
        "accuracy_level3": 0,
    }, results["bo"].messages  # the budget needs no checkpoint
    assert "handed in" in results["bo"].messages["checkpoint_loads"]
