"""HW1 (04_hw1_layer_sizes): graded for real by nbgrader, and the reach of its hidden tests.

- the solution gets full marks on every autograded cell, the untouched release zero, and a submission
  whose convolution output size ignores dilation loses exactly the cells that test dilated convolutions;
- the points in the metadata add up to the total stated at the top of the notebook;
- every formula's hidden test checks at least 200 distinct configurations (counted by wrapping the
  solution's functions while the hidden part of each test cell runs).
"""

from __future__ import annotations

import functools
import linecache
import re

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

from harness import SOLUTIONS, autograded_cells

NAME = "04_hw1_layer_sizes"
SOURCE = SOLUTIONS / NAME / f"{NAME}.ipynb"
HIDDEN = "### BEGIN HIDDEN TESTS"

# The cells that check Conv2d's output size with dilation > 1: the formula itself, single random layers
# (dilated convolutions among them), and whole tables (NetHW's conv2 is dilated, random stacks too).
# Every other cell (pooling has its own formula; the classic networks and NetHW-by-hand have no dilated
# formula in them) must keep its points.
DILATION_CELLS = {"conv_size_tests", "layer_row_tests", "table_tests"}

# grade_id of a test cell -> the function whose hidden configurations it must count
FORMULAS = {
    "conv_size_tests": "conv2d_output_size",
    "pool_size_tests": "pool2d_output_size",
    "convT_size_tests": "conv_transpose2d_output_size",
    "conv_params_tests": "conv2d_params",
    "convT_params_tests": "conv_transpose2d_params",
    "linear_params_tests": "linear_params",
    "bn_tests": "batchnorm2d_params",
    "conv_macs_tests": "conv2d_macs",
    "linear_macs_tests": "linear_macs",
    "layer_row_tests": "layer_row",
    "table_tests": "layer_table_by_hand",
}


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def without_dilation(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The solution with one wrong formula: conv2d_output_size ignores the dilation."""
    nb = nbformat.from_dict(nb)
    cell = next(c for c in nb.cells if _grade_id(c) == "conv_size_impl")
    assert cell.source.count("d * (k - 1)") == 1, "the solution's formula changed; update this test"
    cell.source = cell.source.replace("d * (k - 1)", "(k - 1)")
    return nb


def test_points_add_up_to_the_stated_total():
    nb = nbformat.read(SOURCE, as_version=4)
    stated = re.search(r"\*\*Total: (\d+) points\*\* \((\d+) autograded", nb.cells[0].source)
    assert stated, "the first cell must state the total points"
    graded = [c.metadata["nbgrader"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert sum(g["points"] for g in graded) == int(stated.group(1))
    assert sum(autograded_cells(SOURCE).values()) == int(stated.group(2))
    assert DILATION_CELLS <= set(autograded_cells(SOURCE))


def test_solution_full_release_zero_wrong_dilation_loses_exactly_its_cells(course):
    c = course(NAME)
    released = c.release(NAME) / f"{NAME}.ipynb"
    source = c.root / "solutions" / NAME / f"{NAME}.ipynb"
    nb_name = f"{NAME}.ipynb"
    c.submit("solution", NAME, {nb_name: source})
    c.submit("untouched", NAME, {nb_name: released})
    c.submit("no_dilation", NAME, {nb_name: without_dilation(nbformat.read(source, as_version=4))})
    c.autograde(NAME)  # one call grades all three

    points = autograded_cells(source)
    full, zero, wrong = (c.cell_scores(NAME, s) for s in ("solution", "untouched", "no_dilation"))
    for grade_id, p in points.items():
        assert full[grade_id] == (p, p), f"solution: {grade_id} scored {full[grade_id]}, expected {p}"
        assert zero[grade_id][0] == 0, f"untouched release: {grade_id} scored {zero[grade_id][0]}, expected 0"
        expected = 0 if grade_id in DILATION_CELLS else p
        assert wrong[grade_id] == (expected, p), (
            f"dilation ignored: {grade_id} scored {wrong[grade_id][0]}, expected {expected}"
        )
    lost = sum(points.values()) - sum(s for s, _ in wrong.values())
    assert lost == sum(points[g] for g in DILATION_CELLS)


def _run(src: str, ns: dict, name: str) -> None:
    src = TransformerManager().transform_cell(src)
    linecache.cache[name] = (len(src), None, src.splitlines(True), name)  # inspect.getsource needs it
    exec(compile(src, name, "exec"), ns)


def _key(value) -> object:
    return value if isinstance(value, (int, bool, str, type(None), tuple)) else repr(value)


@pytest.fixture(scope="module")
def hidden_configurations():
    """{grade_id: number of distinct argument tuples the hidden part passed to its formula}."""
    nb = nbformat.read(SOURCE, as_version=4)
    ns: dict = {"__name__": "__main__"}
    counts: dict[str, int] = {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "colab-setup" in cell.metadata.get("tags", []):
            continue
        gid = _grade_id(cell)
        if gid not in FORMULAS:
            _run(cell.source, ns, f"<hw1 cell {i}>")
            continue
        visible, hidden = cell.source.split(HIDDEN, 1)
        _run(visible, ns, f"<hw1 cell {i} visible>")
        seen: set = set()
        original = ns[FORMULAS[gid]]

        @functools.wraps(original)
        def counting(*args, __original=original, __seen=seen, __gid=gid, **kwargs):
            # the table function's own recursion (a prefix given) is not a new configuration
            if not (__gid == "table_tests" and (len(args) > 2 or kwargs.get("prefix"))):
                __seen.add((tuple(_key(a) for a in args), tuple(sorted((k, _key(v)) for k, v in kwargs.items()))))
            return __original(*args, **kwargs)

        ns[FORMULAS[gid]] = counting
        try:
            _run(HIDDEN + hidden, ns, f"<hw1 cell {i} hidden>")
        finally:
            ns[FORMULAS[gid]] = original
        counts[gid] = len(seen)
    return counts


@pytest.mark.parametrize("grade_id", sorted(FORMULAS))
def test_hidden_tests_check_at_least_200_configurations(hidden_configurations, grade_id):
    assert hidden_configurations[grade_id] >= 200, (
        f"{grade_id}: the hidden tests checked {hidden_configurations[grade_id]} distinct configurations"
    )


def _execute(nb: nbformat.NotebookNode) -> dict[str, BaseException | None]:
    """Run a notebook's code cells in an IPython shell in this process, as a kernel would (errors do not
    stop the run; the "from scratch" rule reads the shell's input history); return {grade_id: the error
    raised, or None} for the test cells."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    results: dict[str, BaseException | None] = {}
    try:
        for cell in nb.cells:
            if cell.cell_type != "code" or "colab-setup" in cell.metadata.get("tags", []):
                continue
            r = shell.run_cell(cell.source, store_history=True)
            if cell.metadata.get("nbgrader", {}).get("grade", False):
                results[_grade_id(cell)] = r.error_before_exec or r.error_in_exec
    finally:
        InteractiveShell.clear_instance()
    return results


def test_hidden_tests_reject_answers_that_ask_pytorch():
    """Formulas must be the student's own: counting with PyTorch, or running the layer, fails."""
    nb = nbformat.read(SOURCE, as_version=4)
    for cell in nb.cells:
        if _grade_id(cell) == "conv_params_impl":
            cell.source += (
                "\n\ndef conv2d_params(c_in, c_out, k, groups=1, bias=True):\n"
                "    return count_params(nn.Conv2d(c_in, c_out, k, groups=groups, bias=bias))\n"
            )
        if _grade_id(cell) == "layer_row_impl":
            cell.source += (
                "\n\n_honest_layer_row = layer_row\n\ndef layer_row(layer, in_shape):\n"
                "    _, params = _honest_layer_row(layer, in_shape)\n"
                "    x = torch.full((1, *in_shape), 0.0)\n"
                "    out = layer(x.flatten(1) if isinstance(layer, nn.Linear) else x)\n"
                "    return tuple(out.shape[1:]), params\n"
            )
    results = _execute(nb)
    assert isinstance(results["conv_params_tests"], AssertionError)
    assert "conv2d_params uses course_utils" in str(results["conv_params_tests"])
    assert isinstance(results["layer_row_tests"], AssertionError)
    assert "use your formulas" in str(results["layer_row_tests"])
    assert results["conv_size_tests"] is None and results["nethw_params_tests"] is None
