"""The student's journey, for real, from the README's commands: `make publish` writes the students'
repository -> its own `make lab` -> HW0 in JupyterLab in Chromium, three functions solved and ReLU
typed in wrong -> Run All stops at ReLU's test with its message -> save, run the check cell on its own
(as the notebook says) -> the check says which test fails and why, and which pass.

Each step asserts what the student sees on the screen. Skipped, with the reason, without Chromium or
Playwright.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from autograde import publish
from course_utils.nbcells import grade_id
from harness import SOLUTIONS
from labdriver import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, Lab, kernel_idle, open_lab, run_all, why_skip

pytestmark = pytest.mark.skipif(why_skip() is not None, reason=why_skip() or "")

A = "01_hw0_warmup"
SOLVED = ("sigmoid_impl", "softmax_impl", "cross_entropy_impl")  # on disk before the journey starts
TYPED = "def relu(x):\n    return x.abs()\n"  # wrong: |x| where max(0, x) is wanted
MESSAGE = "relu([-2, -0.5, 0, 1.5, 3])"  # the visible test's own label of what it compared


@pytest.fixture(scope="module")
def students(tmp_path_factory) -> Path:
    """The published students' repository, HW0 with three parts solved the way the instructor did."""
    dest = tmp_path_factory.mktemp("journey") / "students"
    publish.publish(dest)
    source = json.loads((SOLUTIONS / A / f"{A}.ipynb").read_text())
    answers = {grade_id(c): c["source"] for c in source["cells"] if grade_id(c) in SOLVED}
    hw = dest / "notebooks" / A / f"{A}.ipynb"
    nb = json.loads(hw.read_text())
    for c in nb["cells"]:
        if grade_id(c) in answers:
            c["source"] = answers[grade_id(c)]
    hw.write_text(json.dumps(nb, indent=1))
    return dest


def _cell(page, text: str):
    """The notebook's code cell that shows ``text`` (JupyterLab keeps only the cells near the view in the
    page, so a cell is found by what it says, not by its position)."""
    return page.locator(".jp-Notebook .jp-CodeCell", has_text=text).first


def test_hw0_in_jupyterlab_the_check_says_which_test_fails_and_why(students):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    lab = Lab(students, ARTIFACTS / "students-jupyterlab.log", students=True)
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    try:
        page.set_default_timeout(60_000)
        open_lab(page, lab, f"{A}/{A}.ipynb")  # the students' lab serves their notebooks/
        page.wait_for_selector(".jp-Notebook .jp-Cell")
        menus = page.locator(".lm-MenuBar-itemLabel").all_inner_texts()
        assert "Nbgrader" not in menus, menus  # the students' JupyterLab, as their environment has it
        deadline = time.time() + 120
        while not kernel_idle(page):
            assert time.time() < deadline, "the kernel did not start in 120 s"
            page.wait_for_timeout(250)

        # the student types ReLU in (wrong), replacing the stub
        editor = _cell(page, "max(0, x) element-wise").locator(".cm-content")
        editor.scroll_into_view_if_needed()
        editor.click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(TYPED)
        page.keyboard.press("Escape")
        assert "max(0, x) element-wise" not in page.locator(".jp-Notebook").inner_text(), "the stub is still there"

        # Run All stops at ReLU's test, which says what it compared
        run_all(page, 300)
        test = _cell(page, "ReLU: values, shape and dtype match torch.relu")
        test.scroll_into_view_if_needed()
        shown = test.locator(".jp-Cell-outputWrapper").text_content()  # what it printed
        page.screenshot(path=str(ARTIFACTS / "student-run-all.png"))
        assert re.search(rf"AssertionError: {re.escape(MESSAGE)}: .*expected 0, got 2", shown, re.S), shown
        first = shown.split("Traceback", 1)[-1].lstrip().splitlines()[:6]
        assert not any("course_utils" in line for line in first[:2]), ("the traceback starts in course_utils", first)
        sigmoid_test = _cell(page, "Sigmoid: values match torch.sigmoid")
        sigmoid_test.scroll_into_view_if_needed()
        prompt = sigmoid_test.locator(".jp-InputPrompt").inner_text().strip()
        assert prompt in ("[ ]:", ""), f"Run All did not stop at the failing test (the next test shows {prompt})"

        # as the notebook says: save, then run the check cell on its own
        page.keyboard.press("Control+s")
        page.wait_for_timeout(1000)
        check = _cell(page, "check_before_submit(")
        check.scroll_into_view_if_needed()
        check.locator(".cm-content").click()
        page.keyboard.press("Shift+Enter")
        text, deadline = "", time.time() + 240
        while "before submitting" not in text and time.time() < deadline:  # the check's last line
            page.wait_for_timeout(1000)
            text = check.locator(".jp-Cell-outputWrapper").text_content()
        check.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "student-check.png"))
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "student-failed.png"))
        raise
    finally:
        browser.close()
        pw.stop()
        lab.stop()
    assert re.search(rf"FAIL\s+relu_tests .*{re.escape(MESSAGE)}", text), text
    for passing in ("sigmoid_tests", "softmax_tests", "cross_entropy_tests"):
        assert re.search(rf"PASS\s+{passing}", text), text
    assert "Fix the problems above before submitting." in text, text
    assert "running over TCP" not in text and "Traceback" not in text, text  # only the report
