"""End to end in a real browser: JupyterLab started by `make lab`, driven by Debian's Chromium.

A copy of the course (``notebooks/``, ``solutions/``) is served by ``make lab HEADLESS=1`` on a free
localhost port with a fixed token, and Chromium (through Playwright, with the system browser: no
browser download) does what a student does:

- opens a released lecture notebook that uses widgets, runs all cells, and checks that no cell shows
  an error, that a figure rendered, and that moving a slider changes what the widget shows;
- does the same on a tiny widget notebook, and on copies of it whose slider callback raises: the
  check must fail there (widget errors land in the Log Console, not in the cell, so it is read too);
- opens nbgrader's Assignment List and Formgrader from JupyterLab's Nbgrader menu.

The server and what a person does on its page are in ``labdriver.py``; screenshots and the server log
go to ``artifacts/browser/`` (git-ignored). Without Chromium or Playwright the tests are skipped and say
why; ``make test`` installs Chromium from Debian's packages when it can (the Makefile's ``chromium``).
"""

from __future__ import annotations

import os
import re
import shutil
import time
import warnings
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from harness import RELEASED, SOLUTIONS
from labdriver import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    RUN_TIMEOUT,
    Lab,
    drag_slider,
    kernel_idle,
    menu,
    open_lab,
    output_snapshot,
    run_all,
    shown_errors,
    why_skip,
)


@pytest.fixture(scope="module", autouse=True)
def _chromium_and_playwright():
    """Skip the module when Chromium or Playwright is missing, and say so in pytest's summary too."""
    why = why_skip()
    if why:
        warnings.warn(f"the browser test is skipped: {why}", UserWarning, stacklevel=1)
        pytest.skip(why)


# --------------------------------------------------------------------------- which notebook


def _code(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def widget_lectures(released: Path = RELEASED) -> list[Path]:
    """Released lecture notebooks (no graded or solution cells) whose code uses ipywidgets."""
    out = []
    for path in sorted(released.glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        graded = any(
            c.metadata.get("nbgrader", {}).get("solution") or c.metadata.get("nbgrader", {}).get("grade")
            for c in nb.cells
        )
        code = _code(nb)
        uses_widgets = re.search(r"\bipywidgets\b|course_utils\.widgets|from course_utils import widgets", code)
        has_slider = re.search(r"Slider\b|_explorer\(|\binteract", code)
        if not graded and uses_widgets and has_slider:
            out.append(path)
    return out


def tiny_widget_notebook(path: Path, raises: str | None = None) -> Path:
    """A small notebook: an inline figure, then a slider whose callback redraws a plot.

    ``raises``: None (a working callback), "observe" (an ``observe`` callback raises, as in the
    course's explorers; the traceback goes to the Log Console), "interactive_output" (the
    function of ``interactive_output`` raises; the traceback shows inside the widget) or "cell"
    (a plain cell raises, so "Run All" stops there).
    """
    fail = '        raise ValueError("callback failed on purpose")\n'
    draw = (
        "def draw(n):\n"
        + ("    if n != 3:\n" + fail if raises == "interactive_output" else "")
        + "    fig, ax = plt.subplots(figsize=(3, 2))\n"
        "    ax.plot(np.arange(10) ** (n / 3))\n"
        "    ax.set_title(f'power {n}/3')\n"
        "    plt.show()\n"
    )
    if raises == "interactive_output":
        widget = (
            draw + "n = widgets.IntSlider(value=3, min=1, max=9, description='n')\n"
            "widgets.VBox([n, widgets.interactive_output(draw, {'n': n})])"
        )
    else:
        widget = (
            "def png(n):\n"
            "    fig, ax = plt.subplots(figsize=(3, 2))\n"
            "    ax.plot(np.arange(10) ** (n / 3))\n"
            "    buf = io.BytesIO()\n"
            "    fig.savefig(buf, format='png')\n"
            "    plt.close(fig)\n"
            "    return buf.getvalue()\n\n"
            "n = widgets.IntSlider(value=3, min=1, max=9, description='n')\n"
            "image = widgets.Image(value=png(3), format='png')\n"
            "def redraw(change):\n"
            + ("    if change['new'] != 3:\n" + fail if raises == "observe" else "")
            + "    image.value = png(change['new'])\n"
            "n.observe(redraw, names='value')\n"
            "widgets.VBox([n, image])"
        )
    nb = new_notebook(
        cells=[
            new_markdown_cell("# A slider and a plot"),
            new_code_cell(
                "import io\nimport ipywidgets as widgets\nimport matplotlib.pyplot as plt\nimport numpy as np"
            ),
            new_code_cell("plt.plot([0, 1, 4, 9])\nplt.show()"),
            new_code_cell(widget),
        ]
        + ([new_code_cell('raise RuntimeError("cell failed on purpose")')] if raises == "cell" else [])
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser") / "course"
    shutil.copytree(RELEASED, root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copytree(SOLUTIONS, root / "solutions", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    (root / "autograde").mkdir()
    shutil.rmtree(ARTIFACTS, ignore_errors=True)  # screenshots of this run only
    ARTIFACTS.mkdir(parents=True)
    server = Lab(root, ARTIFACTS / "jupyterlab.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    profile = ARTIFACTS.parent / ".chromium-profile"  # fresh for every run
    shutil.rmtree(profile, ignore_errors=True)
    ctx = pw.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1400, "height": 1100},
    )
    yield ctx
    ctx.close()
    pw.stop()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser, lab):
    p = browser.new_page()
    p.set_default_timeout(60_000)
    yield p
    p.close()
    lab.shutdown_kernels()


def check_notebook(page, lab: Lab, path: str, shots: str) -> dict:
    """Open ``path`` in JupyterLab, run all, check errors, figure and slider; screenshots ``shots``-*.png.

    Raises AssertionError saying what went wrong. Returns timings and what was seen.
    """
    t0 = time.time()
    open_lab(page, lab, path)
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    menu(page, "View", "Show Log Console")  # errors of widget callbacks are shown there
    page.locator(".jp-Notebook .jp-Cell .jp-InputPrompt").first.click()  # the notebook, not the log, is active
    deadline = time.time() + 120
    while not kernel_idle(page):
        assert time.time() < deadline, f"{path}: the kernel did not start in 120 s"
        page.wait_for_timeout(250)
    t_open = time.time() - t0
    try:
        prompts = run_all(page, RUN_TIMEOUT)
        t_run = time.time() - t0 - t_open
        errors = shown_errors(page)
        assert not errors, f"{path}: after Run All, a cell shows an error:\n" + "\n---\n".join(errors)
        not_run = [i for i, p in enumerate(prompts) if not re.fullmatch(r"\[\d+\]:", p)]
        assert not not_run, f"{path}: code cells {not_run} did not run (prompts {prompts})"
        figures = page.locator(".jp-OutputArea-output img")
        assert figures.count(), f"{path}: no figure was rendered"
        figures.first.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=figures.first.element_handle())

        cell = page.locator(".jp-CodeCell:has(.widget-slider .noUi-target:not([disabled]))").first
        assert cell.count(), f"{path}: no cell shows a widget slider (did the widgets load?)"
        cell.scroll_into_view_if_needed()
        before = output_snapshot(cell)
        page.screenshot(path=str(ARTIFACTS / f"{shots}-1-after-run-all.png"))
        readouts = drag_slider(page, cell)
        assert readouts[0] != readouts[1], f"{path}: dragging the slider did not move it (readout {readouts})"
        deadline, after = time.time() + 30, before
        while time.time() < deadline and after == before and not shown_errors(page):
            page.wait_for_timeout(250)
            after = output_snapshot(cell)
        page.wait_for_timeout(500)  # let a second callback (if any) report its error too
        page.screenshot(path=str(ARTIFACTS / f"{shots}-2-after-slider.png"))
        errors = shown_errors(page)
        assert not errors, (
            f"{path}: moving the slider ({readouts[0]} -> {readouts[1]}) shows an error:\n" + "\n---\n".join(errors)
        )
        assert after != before, f"{path}: moving the slider ({readouts[0]} -> {readouts[1]}) changed nothing on screen"
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"{shots}-failed.png"))
        raise
    return {"open_s": round(t_open, 1), "run_all_s": round(t_run, 1), "cells": len(prompts), "slider": readouts}


# --------------------------------------------------------------------------- the tests


def test_a_lecture_runs_in_jupyterlab(page, lab):
    """A released lecture with widgets: run all, no error, a figure, the slider changes the output."""
    wanted = os.environ.get("COURSE_BROWSER_NOTEBOOK")
    lectures = [p for p in widget_lectures(lab.root / "notebooks") if not wanted or p.parent.name == wanted]
    if not lectures:
        pytest.skip(
            "no released lecture notebook in notebooks/ uses ipywidgets yet"
            + (f" (COURSE_BROWSER_NOTEBOOK={wanted})" if wanted else "")
            + ": the lecture part of the browser test is skipped"
        )
    nb = lectures[0]
    seen = check_notebook(page, lab, f"notebooks/{nb.parent.name}/{nb.name}", nb.parent.name)
    print(nb.parent.name, seen)


def test_tiny_widget_notebook_passes(page, lab):
    """The control for the next test: the same checks pass on a small working widget notebook."""
    tiny_widget_notebook(lab.root / "scratch" / "widget_ok.ipynb")
    seen = check_notebook(page, lab, "scratch/widget_ok.ipynb", "scratch-widget_ok")
    print(seen)


@pytest.mark.parametrize(
    "style, when",
    [("observe", "moving the slider"), ("interactive_output", "moving the slider"), ("cell", "after Run All")],
)
def test_an_error_fails_the_check(page, lab, style, when):
    """A slider callback that raises must fail the check, wherever JupyterLab shows the traceback;
    so must a cell that raises."""
    tiny_widget_notebook(lab.root / "scratch" / f"widget_raises_{style}.ipynb", raises=style)
    with pytest.raises(AssertionError) as failure:
        check_notebook(page, lab, f"scratch/widget_raises_{style}.ipynb", f"scratch-widget_raises_{style}")
    assert when in str(failure.value), str(failure.value)
    assert "failed on purpose" in str(failure.value), str(failure.value)


def test_nbgrader_extension_loads(page, lab):
    """JupyterLab's Nbgrader menu opens the Assignment List and the Formgrader of the course."""
    open_lab(page, lab)
    items = menu(page, "Nbgrader")
    assert {"Assignment List", "Formgrader"} <= set(items), f"the Nbgrader menu lists {items}"

    menu(page, "Nbgrader", "Assignment List")
    page.get_by_text("Released assignments").first.wait_for()  # the extension's panel rendered
    page.screenshot(path=str(ARTIFACTS / "nbgrader-assignment-list.png"))

    menu(page, "Nbgrader", "Formgrader")
    frame = page.frame_locator("iframe[src*='formgrader']")
    frame.get_by_text("Manage Assignments").first.wait_for()
    served = lab.root / "solutions"  # the copy the server sees, not the live checkout
    assignments = sorted(p.parent.name for p in served.glob("*/*.ipynb"))
    missing = []
    for name in assignments:
        try:
            frame.get_by_text(name, exact=True).first.wait_for(timeout=20_000)
        except Exception:
            missing.append(name)
    body = frame.locator("body").inner_text()
    page.screenshot(path=str(ARTIFACTS / "nbgrader-formgrader.png"))
    assert "encountered an error" not in body, body[:2000]
    assert not missing, f"the Formgrader does not list {missing}:\n{body[:2000]}"
