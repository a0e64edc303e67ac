"""`make lab HEADLESS=1` starts JupyterLab, which answers on localhost and lists the notebooks."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

from harness import RELEASED, REPO


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_lab_headless_serves_the_notebooks(tmp_path):
    port, token = _free_port(), "course-test-token"
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"))
    proc = subprocess.Popen(
        [
            "make",
            "--no-print-directory",
            "lab",
            "HEADLESS=1",
            f"PORT={port}",
            f"LAB_ARGS=--IdentityProvider.token={token} --ServerApp.open_browser=False",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        listing, deadline = None, time.time() + 90
        while time.time() < deadline and proc.poll() is None:
            try:
                req = urllib.request.Request(
                    f"http://127.0.0.1:{port}/api/contents/", headers={"Authorization": f"token {token}"}
                )
                listing = json.load(urllib.request.urlopen(req, timeout=2))
                break
            except OSError:
                time.sleep(1)
        assert listing is not None, "JupyterLab did not answer:\n" + (
            proc.stdout.read1().decode() if proc.poll() is not None else ""
        )
        names = {item["name"] for item in listing["content"]}
        assert {p.name for p in RELEASED.iterdir() if p.is_dir()} <= names
        lab = urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/lab?token={token}"), timeout=5)
        assert lab.status == 200 and b"JupyterLab" in lab.read()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
