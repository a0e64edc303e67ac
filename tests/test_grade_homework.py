"""Every graded notebook through `make grade`: the solution earns every autograded point, the
release none, a submission with one part unsolved exactly the points of the parts it solved, and
written answers are left for the TA ("needs manual grade") unless left exactly as released. HW1's
batch also holds the cheats aimed at its formulas (values that lie, asking a layer on the meta
device); HW3 is graded in ``test_grade_hw3_cheats.py`` (a zipped checkpoint, a notebook without one,
the cheats).

Expected scores come from the source notebook alone: a test loses its points when its code names
something the unsolved cell defines.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autograde import grade as G
from autograde.mock_submissions import filled, load
from course_utils.nbcells import cell_kind, cell_source, grade_id, points
from harness import deserved

LIMITS = {"cell": 60, "notebook": 300}
# (assignment, the solution cell left unsolved in the partial submission)
HOMEWORK = [
    ("04_hw1_layer_sizes", "conv_macs_impl"),
    ("06a_hw2_residual_blocks", "res_grad_impl"),
    ("06b_hw2_receptive_field", "rf_specs_impl"),
    ("06c_hw2_upsampling", "up_bilinear_impl"),
]


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


def _hw1_cheats(source: dict, release: dict) -> dict[str, dict]:
    """Formula functions that return a value equal to everything, or that run a layer on the meta device."""
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
    unsolved = stub["conv_size_impl"] + "\n"
    return {
        "liar": filled(source, release, fill=set(), replace={"conv_size_impl": unsolved + liar}),
        "meta": filled(source, release, fill=set(), replace={"conv_size_impl": unsolved + meta}),
    }


def _solved(source: dict, gid: str) -> str:
    """The instructor's solution of cell ``gid``, its markers taken out."""
    src = next(cell_source(c) for c in source["cells"] if grade_id(c) == gid)
    return "".join(line for line in src.splitlines(True) if "### BEGIN SOLUTION" not in line and "### END" not in line)


# Answers that ask PyTorch (or the course's helpers) in ways the text patterns on getsource missed; each
# loses exactly the tests whose "from scratch" rule it breaks: {assignment: {student: (cells, tests it fails)}}.
SCRATCH_CHEATS = {
    "04_hw1_layer_sizes": {
        "aliasedcount": (
            lambda src: {"layer_row_impl": _solved(src, "layer_row_impl") + "\n_honest_row = layer_row\n"
                         "_count = count_params\n\ndef layer_row(layer, in_shape):\n"
                         "    return _honest_row(layer, in_shape)[0], _count(layer)\n"},
            {"layer_row_tests", "table_tests", "classic_tables_tests"},
        ),
    },
    "06a_hw2_residual_blocks": {
        # Bottleneck fails too: attributes are followed by name on every object (the analysis cannot tell
        # which object a ``self.downsample`` is), so once one block derives from torchvision, both may
        "inherited": (lambda src: {"res_basic_impl": "_Base = tv.BasicBlock\n\nclass BasicBlock(_Base):\n    pass\n"},
                      {"res_basic_tests", "res_bottleneck_tests"}),
        "counted": (
            lambda src: {"res_cost_impl": "def block_cost(kind, inplanes, planes, stride, H, W):\n"
                         "    block = BasicBlock if kind == 'basic' else Bottleneck\n"
                         "    blk = block(inplanes, planes, stride, make_downsample(inplanes, planes, stride, block.expansion))\n"
                         "    return count_params(blk), count_macs(blk, (1, inplanes, H, W))\n"},
            {"res_cost_tests"},
        ),
    },
    "06c_hw2_upsampling": {
        "quotedalias": (
            lambda src: {
                "up_nearest_impl": "def upsample_nearest(x, scale):\n"
                                   "    return F.interpolate(x, scale_factor=scale, mode='nearest')\n    '\"\"\"'\n",
                "up_bilinear_impl": "_up = F.interpolate\n\ndef upsample_bilinear(x, scale, align_corners=False):\n"
                                    "    return _up(x, scale_factor=scale, mode='bilinear', align_corners=align_corners)\n",
            },
            {"up_nearest_tests", "up_bilinear_tests"},
        ),
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """{assignment: {student: Result}}: one batch per homework (solution, release, one part unsolved;
    HW1's with its cheats), graded when a test first asks for it."""
    batches: dict[str, dict] = {}

    def get(assignment: str) -> dict:
        if assignment not in batches:
            source, release = load(assignment)
            unsolved = dict(HOMEWORK)[assignment]
            stub = {grade_id(c): cell_source(c) for c in release["cells"] if grade_id(c)}
            answers = {grade_id(c): "An answer in my own words." for c in source["cells"] if cell_kind(c) == "written"}
            subs = {
                "solution": filled(source, release, replace=answers),
                "release": release,
                "partial": filled(source, release, replace={unsolved: stub[unsolved]}),
            }
            if assignment == "04_hw1_layer_sizes":
                subs.update(_hw1_cheats(source, release))
            for student, (cells, _) in SCRATCH_CHEATS.get(assignment, {}).items():
                subs[student] = filled(source, release, replace={**answers, **cells(source)})
            tmp = tmp_path_factory.mktemp(assignment)
            batches[assignment] = {"results": _grade(tmp, assignment, subs), "out": tmp / "out"}
        return batches[assignment]

    return get


@pytest.mark.parametrize("assignment,unsolved", HOMEWORK)
def test_homework_scores(graded, assignment, unsolved):
    source, _ = load(assignment)
    full = deserved(source, set())
    partial = deserved(source, {unsolved})
    assert 0 < partial < full
    got = {s: r for s, r in graded(assignment)["results"].items() if s in ("solution", "release", "partial")}
    scores = {s: r.total for s, r in got.items()}
    assert scores == {"solution": full, "release": 0, "partial": partial}, {s: r.messages for s, r in got.items()}
    written = sorted(grade_id(c) for c in source["cells"] if cell_kind(c) == "written")
    assert _needs_manual(graded(assignment)["out"], assignment, "solution") == written
    assert _needs_manual(graded(assignment)["out"], assignment, "release") == []  # left as released: 0, no TA


def test_hw1_cheats(graded):
    """Formula functions that return a value equal to everything, or that run a layer on the meta device."""
    got = graded("04_hw1_layer_sizes")["results"]
    assert {s: got[s].total for s in ("liar", "meta")} == {"liar": 0, "meta": 0}, {s: got[s].messages for s in got}
    assert "torch" in got["meta"].messages["conv_size_tests"]


@pytest.mark.parametrize("assignment", sorted(SCRATCH_CHEATS))
def test_answers_that_ask_pytorch_lose_the_rules_they_break(graded, assignment):
    """Each cheat loses the points of exactly the tests whose "from scratch" rule it breaks, with a
    message naming what it used; the honest solution in the same batch keeps every point."""
    source, _ = load(assignment)
    pts = {grade_id(c): points(c) for c in source["cells"] if cell_kind(c) == "test"}
    got = graded(assignment)["results"]
    assert got["solution"].total == deserved(source, set())
    for student, (_, broken) in SCRATCH_CHEATS[assignment].items():
        r = got[student]
        assert r.total == deserved(source, set()) - sum(pts[t] for t in broken), (student, r.messages)
        for t in broken:
            assert " uses " in r.messages[t] and "(cell " in r.messages[t], (student, t, r.messages[t])
