"""JupyterLab in Chromium, for the browser tests: `make lab HEADLESS=1` on a copy of the course
(:class:`Lab`), and what a person does on its page (menus, Run All, sliders), read back from the screen.

Chromium is Debian's, driven through Playwright (no browser download); :func:`why_skip` says what is
missing when either is absent. Screenshots and server logs go to ``ARTIFACTS`` (git-ignored).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from harness import REPO

CHROMIUM = os.environ.get("COURSE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "artifacts" / "browser"
TOKEN = "course-browser-test"
# Seconds for "run all" of one notebook (lectures take well under a minute in quick mode).
RUN_TIMEOUT = float(os.environ.get("COURSE_BROWSER_TIMEOUT", "300"))
# `make lab` without re-checking the installation (`make test` has just done that).
STAMP = ".venv/.course-installed"
STDERR = "application/vnd.jupyter.stderr"
ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)|^\s*(\w+\.)*\w*(Error|Exception)\b", re.MULTILINE)


def why_skip() -> str | None:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return (
            f"Chromium not found at {CHROMIUM}: the browser test needs Debian's chromium "
            "(`sudo apt-get install chromium`; `make test` installs it when run as root)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is missing: `pip install -r requirements.txt`"
    return None


# --------------------------------------------------------------------------- JupyterLab


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """``make lab HEADLESS=1`` on a copy of the course in ``root``; stopped by :meth:`stop`.

    ``students=True``: ``root`` is a published students' repository and its own Makefile runs (with this
    environment, its course_utils first), serving its ``notebooks/``."""

    def __init__(self, root: Path, log: Path, students: bool = False):
        self.root, self.log_path = root, log
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        settings = root.parent / "lab-settings"
        notes = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        notes.parent.mkdir(parents=True, exist_ok=True)
        notes.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))  # no news pop-up
        env = dict(
            os.environ,
            COURSE_QUICK="1",
            COURSE_NBGRADER_ROOT=str(root),
            JUPYTERLAB_SETTINGS_DIR=str(settings),
            JUPYTERLAB_WORKSPACES_DIR=str(root.parent / "lab-workspaces"),
            JUPYTER_RUNTIME_DIR=str(root.parent / "lab-runtime"),
            JUPYTER_CONFIG_DIR=str(root.parent / "lab-config"),
            PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        )
        env.pop("MPLBACKEND", None)  # `make test` sets Agg; a student's JupyterLab draws inline
        where = [f"LAB_DIR={root}"]
        if students:  # their Makefile, set up already (-o kernel), with this venv and their course_utils
            env.update(PYTHONPATH=str(root))
            env.pop("COURSE_QUICK")  # a student's check runs the tests again, as it does for them
            config = root.parent / "lab-config"  # their environment has no nbgrader: hide this one's
            (config / "labconfig").mkdir(parents=True, exist_ok=True)
            (config / "labconfig" / "page_config.json").write_text(
                json.dumps({"disabledExtensions": {"@jupyter/nbgrader": True}})
            )
            (config / "jupyter_server_config.json").write_text(
                json.dumps({"ServerApp": {"jpserver_extensions": {"nbgrader": False}}})
            )
            where = ["-o", "kernel", f"VENV={Path(sys.executable).parent.parent}"]
        self._log = open(log, "w")
        self.proc = subprocess.Popen(
            [
                "make",
                "--no-print-directory",
                "-o",
                STAMP,
                "lab",
                "HEADLESS=1",
                f"PORT={self.port}",
                f"LAB_ARGS=--IdentityProvider.token={TOKEN}",
                *where,
            ],
            cwd=root if students else REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.time() + 120
        while True:
            try:
                self.api("GET", "/api/status")
                break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    self.stop()
                    raise AssertionError(
                        "`make lab HEADLESS=1` did not answer on " + self.url + ":\n" + self.log()
                    ) from None
                time.sleep(0.5)

    def api(self, method: str, path: str):
        req = urllib.request.Request(self.url + path, method=method, headers={"Authorization": f"token {TOKEN}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        for s in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{s['id']}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()[-6000:]

    def stop(self) -> None:
        try:
            self.shutdown_kernels()
        except OSError:
            pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()


# --------------------------------------------------------------------------- what a student does


def menu(page, top: str, item: str | None = None) -> list[str]:
    """Click ``top`` in JupyterLab's menu bar, then ``item`` in its menu; return the menu's items.

    Without ``item`` the menu is closed again. Retried: a busy page can swallow the first click.
    """
    label = page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(top)}$"))
    entry = page.locator(".lm-Menu .lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item or '')}$")).first
    for attempt in range(4):
        page.keyboard.press("Escape")
        label.click()
        try:
            page.locator(".lm-Menu .lm-Menu-itemLabel").first.wait_for(state="visible", timeout=5_000)
            if item:
                entry.wait_for(state="visible", timeout=5_000)
            break
        except Exception:
            if attempt == 3:
                raise
    items = page.locator(".lm-Menu .lm-Menu-itemLabel").all_inner_texts()
    if item:
        entry.click()
    else:
        page.keyboard.press("Escape")
    return items


def open_lab(page, lab: Lab, path: str = "") -> None:
    """Open JupyterLab (on the notebook ``path``, relative to the served folder), workspace reset."""
    page.goto(f"{lab.url}/lab/tree/{path}?reset&token={TOKEN}" if path else f"{lab.url}/lab?reset&token={TOKEN}")
    page.wait_for_selector(".lm-MenuBar-itemLabel")


def shown_errors(page) -> list[str]:
    """Error tracebacks on screen: in cell outputs, in widgets' outputs, in the Log Console."""
    texts = page.eval_on_selector_all(f"[data-mime-type='{STDERR}']", "els => els.map(e => e.textContent)")
    texts += page.locator(".jp-OutputArea-output", has_text="Error displaying widget").all_text_contents()
    return sorted({t.strip()[-1500:] for t in texts if ERROR_TEXT.search(t)})


def kernel_idle(page) -> bool:
    """The status bar says the notebook's kernel is connected and idle."""
    return "| Idle" in page.locator(".jp-StatusBar-Widget").first.inner_text()


def run_all(page, timeout: float) -> list[str]:
    """Run > Run All Cells, wait until it is over; return the input prompts of the code cells."""
    start, started, retried, prompts = time.time(), False, False, []
    menu(page, "Run", "Run All Cells")
    while time.time() - start < timeout:
        prompts = page.eval_on_selector_all(".jp-CodeCell .jp-InputPrompt", "els => els.map(e => e.textContent.trim())")
        started = started or any(p not in ("[ ]:", "") for p in prompts)
        if not started and not retried and time.time() - start > 20 and kernel_idle(page):
            menu(page, "Run", "Run All Cells")  # nothing ran on an idle kernel: the click was lost
            retried = True
        if all(re.fullmatch(r"\[\d+\]:", p) for p in prompts):
            return prompts
        if started and not any("*" in p for p in prompts) and kernel_idle(page):
            return prompts  # stopped early: a cell failed
        time.sleep(0.5)
    raise AssertionError(f"'Run All Cells' did not finish in {timeout:.0f} s; prompts: {prompts}")


def output_snapshot(cell) -> list[str]:
    """What a widget cell shows, minus the sliders themselves: text and image sources."""
    return cell.evaluate("""cell => {
        const out = cell.querySelector('.jp-Cell-outputArea');
        const imgs = [...out.querySelectorAll('img')].map(i => i.src);
        const copy = out.cloneNode(true);
        copy.querySelectorAll('.widget-slider, .widget-readout').forEach(e => e.remove());
        return [copy.textContent, ...imgs];
    }""")


def drag_slider(page, cell) -> tuple[str, str]:
    """Drag the first enabled slider of ``cell`` across its track; return the readout before and after."""
    slider = cell.locator(".widget-slider:has(.noUi-target:not([disabled]))").first
    slider.scroll_into_view_if_needed()
    before = slider.locator(".widget-readout").inner_text()
    handle = slider.locator(".noUi-handle").first.bounding_box()
    track = slider.locator(".noUi-target").first.bounding_box()
    x0, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    frac = 0.85 if x0 < track["x"] + track["width"] / 2 else 0.15
    page.mouse.move(x0, y)
    page.mouse.down()
    page.mouse.move(track["x"] + frac * track["width"], y, steps=8)
    page.mouse.up()
    page.wait_for_timeout(300)
    return before, slider.locator(".widget-readout").inner_text()
