"""Grade one student: run the notebook's cells in the student's process, its tests in the trusted one.

:func:`run_job` walks the job's cells in notebook order. A student cell goes to the student's
process (``run``); a test cell goes to the trusted runner (``test``), whose questions (``ask``:
a name, a call, an attribute, a formula) the host forwards to the student's process and whose
answers it forwards back unread; the trusted runner's ``verdict`` ends the test. Verdicts come from
the trusted runner's pipe only. The host enforces wall time (per cell, per test, per notebook) and
message sizes; a student's process that overruns, breaks the protocol or dies is stopped, and the
tests after that point are "not run" with the reason.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograde import wire
from autograde.messages import ASK, ENDED, ERROR, RAN, VALUE, VERDICT
from autograde.rules import LIMIT
from autograde.zygotes import StudentZygote, TrustedZygote, formula_process

GRACE = LIMIT["grace_s"]  # seconds a cell gets to stop after it was interrupted


@dataclass
class Outcome:
    verdicts: dict[int, dict] = field(default_factory=dict)  # cell index -> the trusted runner's verdict
    outputs: dict[int, list] = field(default_factory=dict)  # cell index -> outputs of a student cell
    stopped: str | None = None  # why the student's process stopped early
    stopped_at: int | None = None
    notes: list[str] = field(default_factory=list)
    trusted_error: str | None = None  # the grader itself failed
    test_seconds: float = 0.0  # wall time in test cells ...
    ask_seconds: float = 0.0  # ... of which waiting for the student's (or a formula) process


class _Student:
    """The host's end of one student's process."""

    def __init__(self, sandbox: StudentZygote, lim: dict):
        self.sandbox, self.lim = sandbox, lim
        self.sock: socket.socket | None = sandbox.begin()
        self.stopped: str | None = None
        self.out_left = int(lim["output_kb"]) * 1024

    def stop(self, why: str) -> None:
        if self.stopped is None:
            self.stopped = why
        if self.sock is not None:
            self.sock.close()
            self.sock = None
            self.sandbox.reap()

    def request(self, header: dict, blobs, timeout: float, expect: tuple[str, ...]):
        """Send one message and wait for its reply; None (and the process stopped) on any failure."""
        if self.sock is None:
            return None
        try:
            self.sock.settimeout(LIMIT["send_s"])
            wire.send(self.sock, header, blobs)
            return self._reply(timeout, expect)
        except (OSError, wire.WireError) as e:
            self.stop(f"the notebook's process stopped ({type(e).__name__})")
            return None

    def _reply(self, timeout: float, expect):
        limit = int(self.lim["message_mb"]) << 20
        try:
            self.sock.settimeout(max(0.01, timeout))
            msg, blobs = _recv_capped(self.sock, limit)
        except TimeoutError:
            self.sandbox.interrupt()
            try:
                self.sock.settimeout(GRACE)
                msg, blobs = _recv_capped(self.sock, limit)
            except Exception:
                self.stop(f"over its {timeout:.0f} s limit and did not stop when interrupted")
                return None
            msg = dict(msg, interrupted=True)
        except EOFError:
            self.stop("the notebook's process ended (exit, crash or memory limit)")
            return None
        except (OSError, wire.WireError) as e:
            self.stop(f"the notebook's process broke the protocol ({e})")
            return None
        if msg.get("m") not in expect:
            self.stop("the notebook's process broke the protocol (unexpected message)")
            return None
        return msg, blobs


def _recv_capped(sock, limit: int):
    header, blobs = wire.recv(sock)
    if sum(len(b) for b in blobs) > limit:
        raise wire.WireError(f"a message over {limit >> 20} MB")
    return header, blobs


def run_job(
    job, sandbox: StudentZygote, trusted: TrustedZygote, lim: dict, prelude: str, work: Path, log: Path
) -> Outcome:
    """Grade one job (``job.build_job``); ``work``: a folder holding the submission's other files."""
    out = Outcome()
    t_end = time.monotonic() + float(lim["notebook"])
    student = _Student(sandbox, lim)
    files = sorted(p for p in work.rglob("*") if p.is_file())
    _send_files(student, files, work)
    cells = [(k, c["src"]) for k, c in enumerate(job.cells) if c["kind"] == "student"]
    trusted.send({"m": "begin", "cells": cells, "work": str(work), "prelude": prelude})
    formulas: dict[int, tuple] = {}
    try:
        for k, cell in enumerate(job.cells):
            left = t_end - time.monotonic()
            if left <= 0 and student.stopped is None:
                student.stop(f"notebook over its {lim['notebook']:g} s limit")
            if cell["kind"] == "student":
                if student.stopped is None:
                    _run_cell(student, k, cell, min(float(lim["cell"]), left), out)
                continue
            t0 = time.monotonic()
            v = _run_test(student, trusted, k, cell, lim, t_end, formulas, out)
            out.test_seconds += time.monotonic() - t0
            if v is None:
                out.trusted_error = f"the test runner did not answer during test {cell['grade_id']} (see {log})"
                break
            out.verdicts[k] = v
    finally:
        for proc, sock in formulas.values():
            sock.close()
            proc.kill()
            proc.wait()
        if student.sock is not None:
            try:
                wire.send(student.sock, {"m": "bye"})
            except Exception:
                pass
        student.stop(student.stopped or "")
        if out.trusted_error is None:
            trusted.send({"m": "end"})
            ended = trusted.recv(LIMIT["trusted_reply_s"])
            if not ended or ended[0].get("m") != ENDED or ended[0].get("status"):
                out.trusted_error = f"the test runner failed (see {log})"
        if out.trusted_error:
            trusted.stop()
    if student.stopped:
        out.stopped = student.stopped
    return out


def _send_files(student: _Student, files: list[Path], work: Path) -> None:
    header = {"m": "files", "files": [[str(p.relative_to(work)), i] for i, p in enumerate(files)]}
    try:
        wire.send(student.sock, header, [p.read_bytes() for p in files])
    except (OSError, wire.WireError) as e:
        student.stop(f"could not hand the submission's files over ({e})")


def _run_cell(student: _Student, k: int, cell: dict, timeout: float, out: Outcome) -> None:
    r = student.request({"m": "run", "k": k, "src": cell["src"]}, (), timeout, (RAN,))
    if r is None:
        out.stopped_at = k
        return
    msg = r[0]
    outputs = msg.get("outputs") if isinstance(msg.get("outputs"), list) else []
    size = len(str(outputs))
    if size > student.out_left:
        outputs = [
            {
                "output_type": "stream",
                "name": "stderr",
                "text": f"[output of this cell left out: the notebook's output is over {student.lim['output_kb']} KB]",
            }
        ]
    student.out_left -= size
    if msg.get("interrupted"):
        outputs.append(
            {"output_type": "stream", "name": "stderr", "text": f"[cell interrupted: over its {timeout:.0f} s limit]"}
        )
        out.notes.append(f"cell {k + 1} was interrupted: over its {timeout:.0f} s limit")
    out.outputs[k] = outputs


def _run_test(
    student: _Student, trusted: TrustedZygote, k: int, cell: dict, lim: dict, t_end: float, formulas: dict, out: Outcome
) -> dict | None:
    trusted.send({"m": "test", "k": k, "grade_id": cell["grade_id"], "src": cell["src"]})
    test_end = time.monotonic() + LIMIT["test_cells"] * float(lim["cell"])
    while True:
        r = trusted.recv(max(0.0, test_end - time.monotonic()) + LIMIT["trusted_reply_s"])
        if r is None:
            return None
        msg, blobs = r
        if msg.get("m") == VERDICT and msg.get("k") == k:
            return msg
        if msg.get("m") != ASK:
            return None
        t0 = time.monotonic()
        answer = _answer(student, msg, blobs, min(test_end, t_end), formulas, student.sandbox.log)
        out.ask_seconds += time.monotonic() - t0
        trusted.send({"m": "answer", "r": answer[0]}, answer[1])


def _answer(student: _Student, msg: dict, blobs, until: float, formulas: dict, log: Path):
    kind = msg.get("kind")
    left = until - time.monotonic()
    if kind == "formula":
        return _start_formula(student, msg, formulas, log)
    if kind == "formula_call":
        proc, sock = formulas.get(0, (None, None))
        if sock is None:
            return {"m": "gone", "why": "no formula process"}, []
        try:
            sock.settimeout(max(0.01, min(left, LIMIT["formula_call_s"])))
            wire.send(
                sock,
                {
                    "m": "call",
                    "id": msg.get("id"),
                    "args": msg.get("args"),
                    "kwargs": msg.get("kwargs"),
                    "many": msg.get("many") is True,
                },
                blobs,
            )
            reply, rblobs = _recv_capped(sock, LIMIT["formula_reply_mb"] << 20)
            return _forwarded(reply), rblobs
        except Exception as e:
            return {"m": "gone", "why": f"the formula function did not answer ({type(e).__name__})"}, []
    if student.stopped is not None:
        return {"m": "gone", "why": student.stopped}, []
    if left <= 0:
        student.stop("over the time limit of the test")
        return {"m": "gone", "why": student.stopped}, []
    header = (
        {"m": "get", "name": msg.get("name")}
        if kind == "get"
        else {
            "m": "op",
            "op": msg.get("op"),
            "target": msg.get("target"),
            "args": msg.get("args"),
            "kwargs": msg.get("kwargs"),
            "name": msg.get("name"),
        }
    )
    r = student.request(header, blobs, left, (VALUE, ERROR))
    if r is None:
        return {"m": "gone", "why": student.stopped}, []
    reply, rblobs = r
    if reply.get("interrupted"):
        return {"m": "gone", "why": "a call to the notebook's code went over the time limit"}, []
    return _forwarded(reply), rblobs


def _forwarded(reply: dict) -> dict:
    """The fields of a student's (or formula) process's reply that the trusted runner reads, as they
    came: a value or an error; a missing value stays missing (the trusted runner refuses it)."""
    if reply.get("m") not in (VALUE, ERROR):
        return {"m": "gone", "why": "the process broke the protocol (unexpected message)"}
    return {k: reply[k] for k in ("m", "v", "ename", "evalue") if k in reply}


def _start_formula(student: _Student, msg: dict, formulas: dict, log: Path):
    """Define a formula function in the student's torch-free process (started on first use)."""
    if 0 not in formulas:
        formulas[0] = formula_process(student.sandbox.backend, student.lim, log)
    proc, sock = formulas[0]
    try:
        sock.settimeout(LIMIT["formula_define_s"])
        wire.send(sock, {"m": "formula", "name": msg.get("name"), "src": msg.get("src")})
        reply, _ = _recv_capped(sock, LIMIT["formula_define_reply_mb"] << 20)
    except Exception as e:
        return {"m": "gone", "why": f"the formula process did not answer ({type(e).__name__})"}, []
    if reply.get("m") == VALUE and type(reply.get("id")) is int:
        return {"m": "value", "id": reply["id"]}, []
    return {"m": "error", "ename": reply.get("ename"), "evalue": reply.get("evalue")}, []
