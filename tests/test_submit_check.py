"""check_before_submit: the student's own check, in JupyterLab (a file) and on Colab (the editor's notebook).

On Colab the notebook is not on the runtime's disk; the check asks Colab's editor for it through
``google.colab._message``. These tests put a stand-in for that one module into ``sys.modules``.
"""

from __future__ import annotations

import json
import sys
import types

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_utils import submit_check
from course_utils.submit_check import cell_checksum, check_before_submit, submit_message


def _test_cell(source: str, gid: str, points: float = 1.0) -> dict:
    cell = new_code_cell(
        source,
        metadata={
            "nbgrader": {
                "grade": True,
                "grade_id": gid,
                "locked": True,
                "points": points,
                "solution": False,
                "schema_version": 3,
            }
        },
    )
    cell["metadata"]["nbgrader"]["checksum"] = cell_checksum(cell)
    return cell


def _homework(edited: bool = False) -> dict:
    """A tiny released homework: one passing and one failing test cell, ending with its own check."""
    good, bad = _test_cell("assert 1 + 1 == 2", "good"), _test_cell("assert 1 + 1 == 3, 'wrong sum'", "bad", 2)
    if edited:
        good["source"] = "pass  # the student emptied the test"
    end = new_code_cell("from course_utils.submit_check import check_before_submit\ncheck_before_submit()")
    nb = new_notebook(cells=[new_markdown_cell("# HW"), good, bad, end])
    return json.loads(json.dumps(nb))


class FakeColab:
    """Stands in for Colab's ``google.colab._message``: answers ``get_ipynb`` with ``nb``."""

    def __init__(self, nb: dict | None):
        self.nb, self.requests = nb, []

    def blocking_request(self, request_type, request="", timeout_sec=5):
        self.requests.append((request_type, request, timeout_sec))
        return None if self.nb is None else {"ipynb": self.nb}


@pytest.fixture
def colab(monkeypatch, tmp_path):
    """Pretend to be on Colab: the modules google, google.colab and google.colab._message, and /content."""
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.chdir(tmp_path)

    def install(nb):
        fake = FakeColab(nb)
        message = types.ModuleType("google.colab._message")
        message.blocking_request = fake.blocking_request
        google, colab_mod = types.ModuleType("google"), types.ModuleType("google.colab")
        google.colab, colab_mod._message = colab_mod, message
        monkeypatch.setitem(sys.modules, "google", google)
        monkeypatch.setitem(sys.modules, "google.colab", colab_mod)
        monkeypatch.setitem(sys.modules, "google.colab._message", message)
        return fake

    return install


def test_colab_reads_the_notebook_from_the_editor(colab, capsys):
    fake = colab(_homework(edited=True))
    assert not check_before_submit(run=False)
    out = capsys.readouterr().out
    assert fake.requests and fake.requests[0][0] == "get_ipynb"
    assert "WARNING: cell 2 (good) is protected but was edited" in out
    assert "File > Download > Download .ipynb" in out


def test_colab_with_the_notebooks_name_still_asks_the_editor(colab, capsys, tmp_path):
    fake = colab(_homework())
    assert check_before_submit("01_hw0_warmup.ipynb", run=False)  # no such file on disk
    out = capsys.readouterr().out
    assert len(fake.requests) == 1
    assert "Ready to submit." in out and "saves 01_hw0_warmup.ipynb" in out


def test_colab_hw3_needs_its_checkpoint(colab, capsys, tmp_path):
    colab(_homework())
    assert not check_before_submit("08_hw3_cifar10.ipynb", run=False)
    out = capsys.readouterr().out
    assert "WARNING: hw3_model.pt is not in the current folder" in out
    assert "together with hw3_model.pt" in out and "right-click hw3_model.pt > Download" in out
    (tmp_path / "hw3_model.pt").write_bytes(b"weights")
    assert check_before_submit("08_hw3_cifar10.ipynb", run=False)


def test_colab_without_an_answer_says_so(colab):
    colab(None)
    with pytest.raises(RuntimeError, match="Colab did not send the notebook"):
        check_before_submit(run=False)


def test_colab_runs_the_editors_notebook_in_a_fresh_kernel(colab, capsys, monkeypatch):
    """The visible tests run; the notebook's own last cell (check_before_submit) does not recurse."""
    colab(_homework())
    monkeypatch.setenv("COURSE_QUICK", "0")
    assert not check_before_submit("01_hw0_warmup.ipynb")
    out = capsys.readouterr().out
    assert "PASS  good (1 pt)" in out
    assert "FAIL  bad (2 pt): AssertionError: wrong sum" in out
    assert "Visible tests: 1 / 3 points" in out


def test_jupyterlab_reads_the_file(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert not submit_check.in_colab()
    path = tmp_path / "06a_hw2_residual_blocks.ipynb"
    path.write_text(json.dumps(_homework(edited=True)))
    assert not check_before_submit(path, run=False)
    out = capsys.readouterr().out
    assert "protected but was edited" in out
    assert "save the notebook" in out and "06a_hw2_residual_blocks.ipynb" in out and "Colab" not in out


def test_without_a_path_outside_colab_asks_for_one(monkeypatch, capsys):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert not check_before_submit(run=False)
    assert "Give the notebook's file name" in capsys.readouterr().out


def test_a_missing_file_is_reported_not_raised(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.chdir(tmp_path)
    assert not check_before_submit("04_hw1_layer_sizes.ipynb", run=False)
    assert "there is no file 04_hw1_layer_sizes.ipynb" in capsys.readouterr().out


def test_jupyterlab_finds_the_running_notebook(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    path = tmp_path / "06b_hw2_receptive_field.ipynb"
    path.write_text(json.dumps(_homework()))
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))
    assert check_before_submit(run=False)
    assert "06b_hw2_receptive_field.ipynb" in capsys.readouterr().out


def test_under_the_autograder_it_does_nothing(monkeypatch, capsys):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert check_before_submit("no-such-notebook.ipynb")
    assert "autograder" in capsys.readouterr().out


@pytest.mark.parametrize(
    "colab_, files, want, unwanted",
    [
        (True, (), ["File > Download > Download .ipynb", "04_hw1_layer_sizes.ipynb"], ["together with"]),
        (True, ("hw3_model.pt",), ["together with hw3_model.pt", "before the runtime ends"], []),
        (False, (), ["save the notebook", "04_hw1_layer_sizes.ipynb"], ["Colab", "together with"]),
        (False, ("hw3_model.pt",), ["together with hw3_model.pt from the same folder"], ["Colab"]),
    ],
)
def test_the_message_says_what_to_submit(colab_, files, want, unwanted):
    msg = submit_message("04_hw1_layer_sizes", colab_, files)
    for w in want:
        assert w in msg, (w, msg)
    for u in unwanted:
        assert u not in msg, (u, msg)


def _run_in_kernel(cells: list[str], tmp_path) -> tuple[dict, str]:
    """The notebook of ``cells`` as a fresh kernel ran it, and what the run printed to stderr."""
    import subprocess

    path = tmp_path / "run.ipynb"
    path.write_text(json.dumps(new_notebook(cells=[new_code_cell(c) for c in cells])))
    code = (
        "import sys, nbformat; from nbclient import NotebookClient; from course_utils import submit_check as s\n"
        f"nb = nbformat.read({str(path)!r}, as_version=4)\n"
        "NotebookClient(nb, allow_errors=True, kernel_name='python3', extra_arguments=list(s.QUIET_KERNEL)).execute()\n"
        f"nbformat.write(nb, {str(path)!r})"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return json.loads(path.read_text()), r.stderr


def test_what_the_student_sees_has_no_kernel_warning_no_bare_verdict_and_no_check_internals(tmp_path):
    nb, err = _run_in_kernel(
        [
            "from course_utils.submit_check import check_before_submit\ncheck_before_submit('no-such.ipynb')",
            "import torch\nfrom course_utils.checks import check_close\n"
            "def double(x):\n    return x * 3\n"
            "check_close(double(torch.tensor([1.0])), torch.tensor([2.0]), 'double([1])')",
        ],
        tmp_path,
    )
    assert "without encryption" not in err
    verdict, failed = nb["cells"][0]["outputs"], nb["cells"][1]["outputs"]
    assert "there is no file no-such.ipynb" in json.dumps(verdict)
    assert not [o for o in verdict if o["output_type"] == "execute_result"], verdict
    (error,) = [o for o in failed if o["output_type"] == "error"]
    assert error["ename"] == "AssertionError" and "double([1])" in error["evalue"]
    shown = "\n".join(error["traceback"])
    assert "check_close(double(" in shown and "checks.py" not in shown, shown


def test_run_visible_tests_prints_no_kernel_warning(tmp_path, capfd):
    path = tmp_path / "hw.ipynb"
    path.write_text(json.dumps(_homework()))
    assert [(g, e is None) for g, _, e in submit_check.run_visible_tests(path)] == [("good", True), ("bad", False)]
    assert "without encryption" not in capfd.readouterr().err


def test_every_homework_says_its_check_can_be_run_alone():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "notebooks"
    told = {}
    for p in sorted(root.glob("*/*.ipynb")):
        cells = json.loads(p.read_text(encoding="utf-8"))["cells"]
        for i, c in enumerate(cells):
            if c["cell_type"] == "code" and "check_before_submit(" in "".join(c["source"]):
                text = " ".join("".join(cells[i - 1]["source"]).split())
                told[p.stem] = "*Run All* stops at the first test cell that fails" in text and "on its own" in text
    assert len(told) >= 6 and all(told.values()), told
