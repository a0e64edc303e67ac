"""The warm processes of one grading worker, started and stopped: the student zygote in the sandbox
(its command line from ``sandbox.student_command``), the trusted zygote outside it, and the torch-free
formula process per formula function.

* the **student zygote** (``student_runner.py``), with torch imported: for every student it gets a new
  socket pair's end (SCM_RIGHTS) and forks a fresh confined child; a zygote that finds its sandbox dirty,
  or does not answer, is replaced by a new sandbox before the next student;
* the **trusted zygote** (``test_runner.py``): it forks a fresh child per student and never runs student
  code.

Their control lines (``start``, ``reap``, ...) are JSON lines registered in ``messages.CONTROL``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from autograde import wire
from autograde.messages import READY, REAPED, STARTED
from autograde.rules import LIMIT, LIMITS
from autograde.sandbox import HERE, formula_command, student_command


def _kill_group(proc: subprocess.Popen | None, log_file) -> None:
    """Kill a process and its whole group (a zygote and the student still running); close its log."""
    if proc is not None:
        try:
            os.killpg(proc.pid, 9)
        except Exception:
            pass
        proc.wait()
        log_file.close()
    return None


class StudentZygote:
    """The sandboxed zygote of one worker (see the module docstring)."""

    def __init__(self, backend: str, lim: dict, log: Path):
        self.backend, self.lim, self.log = backend, lim, log
        self.proc = None
        self.ctl: socket.socket | None = None
        self.buf = b""
        self.tmp = None

    def start(self) -> None:
        ours, theirs = socket.socketpair()
        cmd, env, self.tmp = student_command(self.backend, self.lim, theirs.fileno())
        self.errf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self.errf,
            stderr=self.errf,
            env=env,
            cwd=self.tmp or "/",
            start_new_session=True,
            pass_fds=(theirs.fileno(),),
        )
        theirs.close()
        self.ctl, self.buf = ours, b""
        msg = self._line(LIMIT["sandbox_start_s"])
        if not msg or msg.get("m") != READY:
            self.stop()
            raise RuntimeError(f"the grading sandbox did not start (see {self.log})")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _line(self, timeout: float) -> dict | None:
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                return None
            self.ctl.settimeout(left)
            try:
                data = self.ctl.recv(65536)
            except (TimeoutError, OSError):
                return None
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            return None

    def begin(self) -> socket.socket:
        """A fresh confined child for one student; returns the host's end of its own socket. A zygote
        that finds its sandbox dirty (or does not answer) is replaced by a new sandbox, once."""
        for _attempt in (1, 2):
            if not self.alive():
                self.start()
            ours, theirs = socket.socketpair()
            start = json.dumps({"m": "start", "limits": self.lim}).encode() + b"\n"
            socket.send_fds(self.ctl, [start], [theirs.fileno()])
            theirs.close()
            msg = self._line(LIMIT["sandbox_reply_s"])
            if msg and msg.get("m") == STARTED:
                return ours
            ours.close()
            self._note(f"the sandbox was not clean or did not answer ({msg}): a new one is started")
            self.stop()
        raise RuntimeError(f"the grading sandbox did not start a student's process (see {self.log})")

    def _note(self, text: str) -> None:
        try:
            self.errf.write(f"[grader] {text}\n".encode())
            self.errf.flush()
        except (OSError, ValueError, AttributeError):
            pass

    def interrupt(self) -> None:
        try:
            self.ctl.sendall(b'{"m": "interrupt"}\n')
        except OSError:
            pass

    def reap(self) -> None:
        """Kill the student's child and empty the sandbox's writable folders; a zygote that does not
        answer, or could not empty them, is replaced by a new sandbox."""
        try:
            self.ctl.sendall(b'{"m": "reap"}\n')
            msg = self._line(LIMIT["sandbox_reply_s"])
        except OSError:
            msg = None
        if not msg or msg.get("m") != REAPED or msg.get("left"):
            self._note(f"the sandbox could not be emptied ({msg}): a new one is started")
            self.stop()

    def stop(self) -> None:
        self.proc = _kill_group(self.proc, getattr(self, "errf", None))
        if self.ctl is not None:
            self.ctl.close()
            self.ctl = None
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


class TrustedZygote:
    """The trusted test runner of one worker (outside the sandbox; never runs student code)."""

    def __init__(self, log: Path, env: dict | None = None, memory_mb: int = LIMITS["trusted_memory_mb"]):
        self.log, self.env, self.memory_mb = log, env, memory_mb
        self.proc = None

    def start(self) -> None:
        """Start it; once warm it limits its own address space to what it holds then plus ``memory_mb``
        (``test_runner.main``): a student's answers cannot make it take the machine's memory."""
        self.errf = open(self.log, "ab")
        env = dict(self.env or os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1", TQDM_DISABLE="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "autograde.test_runner", "--memory-mb", str(int(self.memory_mb))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errf,
            env=env,
            cwd=str(HERE.parent),
            start_new_session=True,
        )
        msg = self.recv(LIMIT["sandbox_start_s"])
        if not msg or msg[0].get("m") != READY:
            self.stop()
            raise RuntimeError(f"the trusted test runner did not start (see {self.log})")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send(self, header: dict, blobs=()) -> None:
        wire.send(self.proc.stdin, header, blobs)

    def recv(self, timeout: float):
        import select

        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], max(0.0, timeout))
        if not ready:
            return None
        try:
            return wire.recv(self.proc.stdout)
        except (EOFError, wire.WireError):
            return None

    def stop(self) -> None:
        self.proc = _kill_group(self.proc, getattr(self, "errf", None))


def formula_process(backend: str, lim: dict, log: Path) -> tuple[subprocess.Popen, socket.socket]:
    """Start the torch-free process for one formula function (its socket: ``--fd N``)."""
    ours, theirs = socket.socketpair()
    errf = open(log, "ab")
    proc = subprocess.Popen(
        formula_command(backend) + ["--fd", str(theirs.fileno())],
        stdin=subprocess.DEVNULL,
        stdout=errf,
        stderr=errf,
        start_new_session=True,
        pass_fds=(theirs.fileno(),),
        env={"PATH": "/usr/bin:/bin"},
    )
    theirs.close()
    errf.close()
    return proc, ours
