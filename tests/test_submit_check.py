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
    assert check_before_submit(run=False) is False
    out = capsys.readouterr().out
    assert fake.requests and fake.requests[0][0] == "get_ipynb"
    assert "WARNING: cell 2 (good) is protected but was edited" in out
    assert "File > Download > Download .ipynb" in out


def test_colab_with_the_notebooks_name_still_asks_the_editor(colab, capsys, tmp_path):
    fake = colab(_homework())
    assert check_before_submit("01_hw0_warmup.ipynb", run=False) is True  # no such file on disk
    out = capsys.readouterr().out
    assert len(fake.requests) == 1
    assert "Ready to submit." in out and "saves 01_hw0_warmup.ipynb" in out


def test_colab_hw3_needs_its_checkpoint(colab, capsys, tmp_path):
    colab(_homework())
    assert check_before_submit("08_hw3_cifar10.ipynb", run=False) is False
    out = capsys.readouterr().out
    assert "WARNING: hw3_model.pt is not in the current folder" in out
    assert "together with hw3_model.pt" in out and "right-click hw3_model.pt > Download" in out
    (tmp_path / "hw3_model.pt").write_bytes(b"weights")
    assert check_before_submit("08_hw3_cifar10.ipynb", run=False) is True


def test_colab_without_an_answer_says_so(colab):
    colab(None)
    with pytest.raises(RuntimeError, match="Colab did not send the notebook"):
        check_before_submit(run=False)


def test_colab_runs_the_editors_notebook_in_a_fresh_kernel(colab, capsys, monkeypatch):
    """The visible tests run; the notebook's own last cell (check_before_submit) does not recurse."""
    colab(_homework())
    monkeypatch.setenv("COURSE_QUICK", "0")
    assert check_before_submit("01_hw0_warmup.ipynb") is False
    out = capsys.readouterr().out
    assert "PASS  good (1 pt)" in out
    assert "FAIL  bad (2 pt): AssertionError: wrong sum" in out
    assert "Visible tests: 1 / 3 points" in out


def test_jupyterlab_reads_the_file(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert not submit_check.in_colab()
    path = tmp_path / "06a_hw2_residual_blocks.ipynb"
    path.write_text(json.dumps(_homework(edited=True)))
    assert check_before_submit(path, run=False) is False
    out = capsys.readouterr().out
    assert "protected but was edited" in out
    assert "save the notebook" in out and "06a_hw2_residual_blocks.ipynb" in out and "Colab" not in out


def test_without_a_path_outside_colab_asks_for_one(monkeypatch, capsys):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert check_before_submit(run=False) is False
    assert "Give the notebook's file name" in capsys.readouterr().out


def test_a_missing_file_is_reported_not_raised(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.chdir(tmp_path)
    assert check_before_submit("04_hw1_layer_sizes.ipynb", run=False) is False
    assert "there is no file 04_hw1_layer_sizes.ipynb" in capsys.readouterr().out


def test_jupyterlab_finds_the_running_notebook(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    path = tmp_path / "06b_hw2_receptive_field.ipynb"
    path.write_text(json.dumps(_homework()))
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))
    assert check_before_submit(run=False) is True
    assert "06b_hw2_receptive_field.ipynb" in capsys.readouterr().out


def test_under_the_autograder_it_does_nothing(monkeypatch, capsys):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert check_before_submit("no-such-notebook.ipynb") is True
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
