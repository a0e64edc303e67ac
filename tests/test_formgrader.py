"""The TA's journey, for real, from the README's commands: a Canvas download of HW1 with a roster and a
deadline -> `make grade` -> formgrader in Chromium (the roster's names, a failed test's message, the
rubric where the manual says, a hand grade typed in) -> `nbgrader export`, `make export` (Canvas,
Moodle) -> `make feedback` (the page a student opens shows the message and the hand score) -> the zip
the LMS takes back.

Two HW1 submissions, named as Canvas's bulk download names them, are graded with `make grade` into a
copy of the course: alice solved everything and wrote an answer to the hand-graded question; bob
solved all but one part and handed in a day late (10% per started day; Canvas marked his file LATE).
JupyterLab (`make lab`, as in test_browser.py) serves that copy. Each step asserts what the TA or the
student sees on the screen. Skipped, with the reason, without Chromium or Playwright.
"""

from __future__ import annotations

import csv
import html
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from autograde.mock_submissions import filled, load
from course_utils.nbcells import cell_kind, cell_source
from harness import REPO, deserved, make
from labdriver import CHROMIUM, CHROMIUM_ARGS, TOKEN, Lab, why_skip

pytestmark = pytest.mark.skipif(why_skip() is not None, reason=why_skip() or "")

A = "04_hw1_layer_sizes"
WRITTEN = "resnet_table_why"
ANSWER = "The slide lists only the main path; the three 1x1 downsample convolutions are missing (marker 4711)."
COMMENT = "Right: the downsample convolutions (comment 0815)."
MANUAL = 3
UNSOLVED = "conv_macs_impl"
FAILED = "conv_macs_tests"  # the test of UNSOLVED
WRONG = (  # bob's answer forgets the groups
    "def conv2d_macs(c_in, c_out, k, h_out, w_out, groups=1):\n    return c_out * h_out * w_out * c_in * k * k\n"
)
WHY = "conv2d_macs(64, 64, 3, 8, 8, groups=64): expected 36864, got 2359296"  # what bob saw in JupyterLab
ROSTER = (
    "id,name,email,lms_id\nalice,Alice Liddell,alice@uni.example,1001\n"
    "bob,Bob Stone,bob@uni.example,1002\ncarol,Carol King,carol@uni.example,1003\n"
)
DEADLINE = datetime(2026, 12, 1, 23, 59, tzinfo=UTC)
ARTIFACTS = REPO / "artifacts" / "formgrader"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course copy graded by `make grade`: (root, expected autograded points of alice and bob)."""
    root = tmp_path_factory.mktemp("formgrader") / "course"
    for d in ("solutions", "notebooks"):
        (root / d / A).mkdir(parents=True)
        (root / d / A / f"{A}.ipynb").write_bytes((REPO / d / A / f"{A}.ipynb").read_bytes())
    source, release = load(A)
    subs = root.parent / "downloads"
    subs.mkdir()
    alice = subs / f"liddellalice_1001_7001_{A}.ipynb"  # Canvas: <sortable name>_<user id>_<file id>_<file>
    alice.write_text(json.dumps(filled(source, release, replace={WRITTEN: ANSWER})))
    bob = subs / f"stonebob_LATE_1002_7002_{A}.ipynb"
    bob.write_text(json.dumps(filled(source, release, replace={UNSOLVED: WRONG})))
    late = (DEADLINE + timedelta(hours=26)).timestamp()  # two started days late
    os.utime(bob, (late, late))
    ontime = (DEADLINE - timedelta(hours=1)).timestamp()
    os.utime(alice, (ontime, ontime))
    (root / "roster.csv").write_text(ROSTER)
    make(
        "grade",
        f"ASSIGNMENT={A}",
        f"SUBMISSIONS={subs}",
        "WORKERS=1",
        f"GRADE_ARGS=--out {root / 'autograde'} --roster {root / 'roster.csv'} --deadline {DEADLINE.isoformat()} "
        "--late-policy 10%/day",
    )
    return root, {"alice": deserved(source, set()), "bob": deserved(source, {UNSOLVED})}


def _submission_id(root: Path, student: str) -> str:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'autograde' / 'gradebook.db'}") as gb:
        return gb.find_submission_notebook(A, A, student).id


def _manual(root: Path, student: str) -> tuple:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'autograde' / 'gradebook.db'}") as gb:
        g = gb.find_grade(WRITTEN, A, A, student)
        c = gb.find_comment(WRITTEN, A, A, student)
        return g.manual_score, g.needs_manual_grade, c.manual_comment


def _formgrader(root: Path) -> None:
    """Chromium on formgrader, logged in as a TA: the students' names, bob's failed test, the rubric in the
    solution beside it, then alice's notebook: read it, enter a score and a comment."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    lab = Lab(root, ARTIFACTS / "jupyterlab.log")
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    try:
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(f"{lab.url}/login?next=/formgrader/manage_students")
        page.fill("input[type=password]", TOKEN)  # log in as a TA does
        page.keyboard.press("Enter")
        page.get_by_text("alice@uni.example").first.wait_for()  # the roster reached the gradebook
        page.screenshot(path=str(ARTIFACTS / "formgrader-students.png"))
        (ARTIFACTS / "formgrader-students.txt").write_text(page.locator("body").inner_text())
        rows = page.locator("tr").all_inner_texts()
        assert any("Liddell" in r and "Alice" in r and "alice" in r for r in rows), rows
        assert any("Stone" in r and "Bob" in r and "bob@uni.example" in r for r in rows), rows

        page.goto(f"{lab.url}/formgrader/submissions/{_submission_id(root, 'bob')}/")
        page.locator(f"#{FAILED}").first.wait_for()
        (ARTIFACTS / "formgrader-bob.html").write_text(page.content())
        shown = page.locator(f".cell:has(#{FAILED})").first.inner_text()
        page.screenshot(path=str(ARTIFACTS / "formgrader-bob.png"), full_page=False)
        assert WHY in shown, f"bob's page does not say why {FAILED} failed:\n{shown}"

        page.goto(f"{lab.url}/formgrader/submissions/{_submission_id(root, 'alice')}/")
        page.get_by_text("marker 4711").first.wait_for()  # her written answer
        plots = page.locator("img[src^='data:image/png']")
        assert plots.count() >= 1, "formgrader shows no plot of the student's notebook"
        assert plots.first.evaluate("img => img.naturalWidth") > 100
        page.wait_for_load_state("networkidle")  # formgrader binds its save handlers once its scripts ran
        score = page.locator(f"input.score#{WRITTEN}")
        score.fill(str(MANUAL))
        score.press("Tab")
        comment = page.locator(f"textarea#{WRITTEN}-comment")
        comment.fill(COMMENT)
        comment.press("Tab")
        deadline = time.time() + 60
        while _manual(root, "alice") != (MANUAL, False, COMMENT) and time.time() < deadline:
            time.sleep(0.5)
        page.screenshot(path=str(ARTIFACTS / "formgrader-alice.png"), full_page=False)
    finally:
        browser.close()
        pw.stop()
        lab.stop()
    log = (ARTIFACTS / "jupyterlab.log").read_text()[-3000:]
    assert _manual(root, "alice") == (MANUAL, False, COMMENT), f"formgrader did not save the grade:\n{log}"


def test_formgrader_round_trip(course):
    root, auto = course
    source, _ = load(A)
    auto_max = sum(float(c["metadata"]["nbgrader"]["points"]) for c in source["cells"] if cell_kind(c) == "test")
    assert 0 < auto["bob"] < auto["alice"] == auto_max
    penalty = round(auto["bob"] * 0.2, 6)  # 10% per started day, 2 days
    _formgrader(root)

    # nbgrader's own export sees the manual points and the late penalty
    env = {"COURSE_NBGRADER_ROOT": str(root), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(
        [sys.executable, "-m", "nbgrader", "export", f"--to={root / 'nbgrader.csv'}"],
        cwd=REPO,
        env=dict(os.environ, **env),
        check=True,
        capture_output=True,
        timeout=300,
    )
    rows = {r["student_id"]: r for r in csv.DictReader(open(root / "nbgrader.csv"))}
    assert float(rows["alice"]["raw_score"]) == float(rows["alice"]["score"]) == auto["alice"] + MANUAL
    assert float(rows["bob"]["raw_score"]) == auto["bob"]
    assert float(rows["bob"]["late_submission_penalty"]) == pytest.approx(penalty)
    assert float(rows["bob"]["score"]) == pytest.approx(auto["bob"] - penalty)

    # make export: what the LMS imports
    roster = root / "roster.csv"
    out = root / "autograde"
    for fmt in ("canvas", "moodle"):
        said = make("export", f"ASSIGNMENT={A}", f"FORMAT={fmt}", f"EXPORT_ARGS=--out {out} --roster {roster}")
        assert "carol" in said and "without a submission" in said, said
    canvas = list(csv.reader(open(out / f"final_{A}_canvas.csv")))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", A]
    got = {r[1]: r[5] for r in canvas[1:]}
    assert got == {"1001": f"{auto['alice'] + MANUAL:g}", "1002": f"{auto['bob'] - penalty:g}", "1003": ""}
    moodle = {r["Email address"]: r for r in csv.DictReader(open(out / f"final_{A}_moodle.csv"))}
    assert float(moodle["alice@uni.example"][A]) == auto["alice"] + MANUAL
    assert "by hand 3" in moodle["alice@uni.example"][f"{A} (feedback)"]

    # make feedback: nbgrader's feedback with the manual score and comment, no hidden test, zipped
    make("feedback", f"ASSIGNMENT={A}", f"EXPORT_ARGS=--out {out}")
    page = (out / "feedback" / "alice" / A / f"{A}.html").read_text()
    manual_max = sum(float(c["metadata"]["nbgrader"]["points"]) for c in source["cells"] if cell_kind(c) == "written")
    hidden = _hidden_lines(source)
    assert hidden and not [h for h in hidden if h in page or html.escape(h) in page]
    seen = _read_in_chromium(out / "feedback" / "alice" / A / f"{A}.html", out / "feedback" / "bob" / A / f"{A}.html")
    total = re.search(r"Score: ([\d.]+) / ([\d.]+)", seen[0])
    assert total and (float(total[1]), float(total[2])) == (auto["alice"] + MANUAL, auto_max + manual_max), total
    assert "comment 0815" in seen[0] and "marker 4711" in seen[0], "alice's page lacks her hand grade's comment"
    assert WHY in seen[1], "bob's page does not say why his test failed"

    # the zips: one per student, and Canvas's feedback upload with each page under Canvas's own file name
    with zipfile.ZipFile(out / "feedback_zips" / A / "alice_feedback.zip") as z:
        assert "comment 0815" in z.read(z.namelist()[0]).decode()
    with zipfile.ZipFile(out / "feedback_zips" / A / "canvas_feedback.zip") as z:
        names = sorted(z.namelist())
    assert [n.split("_")[:3] for n in names] == [["liddellalice", "1001", "7001"], ["stonebob", "LATE", "1002"]], names


def _read_in_chromium(*pages: Path) -> list[str]:
    """What a student reads on each feedback page, opened from disk in Chromium (the text on the screen)."""
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    try:
        seen = []
        for i, p in enumerate(pages):
            tab = browser.new_page(viewport={"width": 1300, "height": 1000})
            tab.goto(p.as_uri())
            tab.screenshot(path=str(ARTIFACTS / f"feedback-{i}.png"))
            seen.append(tab.locator("body").inner_text())
        return seen
    finally:
        browser.close()
        pw.stop()


def _hidden_lines(source: dict) -> list[str]:
    """Distinctive lines of the hidden tests."""
    lines = []
    for c in source["cells"]:
        src = cell_source(c)
        for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", src, re.S):
            lines += [ln.strip() for ln in block.splitlines() if len(ln.strip()) > 30]
    return lines
