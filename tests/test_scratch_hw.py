"""The "from scratch" rule on the homework notebooks: the analysis decides the instructor's solutions.

Before library paths were checked against the real objects (:mod:`course_utils.scratchreal`), the
attribute table grew paths like ``torch.nn.modules.utils._pair.ceil_mode.ceil_mode...`` until every
homework notebook was undecidable, and a rule that cannot decide fails the honest student too.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from IPython.core.inputtransformer2 import TransformerManager

from course_utils import scratch

ROOT = Path(__file__).resolve().parents[1]


def cells(name: str) -> list[str]:
    """The solution notebook's code cells, hidden tests and the rule's own calls left out (as the grader does)."""
    nb = json.loads((ROOT / "solutions" / name / f"{name}.ipynb").read_text())
    tm, out = TransformerManager(), []
    for c in nb["cells"]:
        src = "".join(c["source"])
        if c["cell_type"] == "code" and "BEGIN HIDDEN TESTS" not in src and "from_scratch(" not in src:
            out.append(tm.transform_cell(src))
    return out


def rules(name: str) -> list[tuple[str, str, list[str]]]:
    """Every ``_from_scratch(name, banned=...)`` of the notebook's test cells: (test cell, graded name, banned)."""
    from test_scratch import ban_list

    nb = json.loads((ROOT / "solutions" / name / f"{name}.ipynb").read_text())
    tm, out = TransformerManager(), []
    for c in nb["cells"]:
        src = "".join(c["source"])
        if c["cell_type"] == "code" and "_from_scratch(" in src:
            for n in ast.walk(ast.parse(tm.transform_cell(src))):
                if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "_from_scratch":
                    out.append((c["metadata"]["nbgrader"]["grade_id"], n.args[0].id, ban_list(n)))
    return out


HOMEWORK = ["01_hw0_warmup", "04_hw1_layer_sizes", "06a_hw2_residual_blocks", "06c_hw2_upsampling", "08_hw3_cifar10"]


@pytest.mark.parametrize("name", HOMEWORK)
def test_the_instructors_solution_passes_every_rule(name):
    """Each rule of each homework, judged on the whole solution notebook (every code cell but the tests)."""
    cs, found = cells(name), rules(name)
    assert found, f"{name} has no from_scratch rule"
    for cell, graded, banned in found:
        assert scratch.violations(cs, graded, banned) == [], f"{name} {cell}: {graded}"


def test_a_banned_object_stays_found_after_the_paths_are_checked():
    cs = cells("06c_hw2_upsampling") + ["_f = torch.nn.functional\nclass Upsample:\n    g = _f.interpolate\n"]
    assert scratch.violations(cs, "Upsample", ["torch.nn.functional.interpolate"]), "interpolate through an alias"
    exc = (
        "try:\n    raise ValueError(torch.nn.Upsample)\nexcept ValueError as _e:\n    _u = _e.args[0]\n"
        "class Upsample:\n    u = _u\n"
    )
    assert scratch.violations(cs[:-1] + [exc], "Upsample", ["torch.nn.Upsample"]), "a banned class held by an exception"
