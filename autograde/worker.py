"""The grader of one batch on one machine: a :class:`Worker` (one student at a time, with its own
sandboxed student zygote and trusted zygote), the canary that grades the instructor's solution before
any student, and the trusted runner's environment. ``grade.py`` runs a pool of them here, ``cluster.py``
one per Dask worker; both key a batch with :func:`batch_key`.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import pickle
import tempfile
import threading
import time
from pathlib import Path

from autograde import host, report
from autograde.collect import Submission
from autograde.job import REPO, Assignment, build_job
from autograde.report import Result
from autograde.zygotes import StudentZygote, TrustedZygote

_passed: set[str] = set()  # batch keys whose canary passed in this process


@functools.cache
def code_digest() -> str:
    """A digest of the grader's and ``course_utils``' code as this process loaded it."""
    h = hashlib.sha256()
    for p in sorted([*(REPO / "autograde").glob("*.py"), *(REPO / "course_utils").rglob("*.py")]):
        h.update(str(p.relative_to(REPO)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def batch_key(a: Assignment, sandbox: str, limits: dict, data: str | None, synthetic: bool, code: str = "") -> str:
    """What makes two batches grade alike: the assignment (solution and release), the sandbox, the
    limits, HW3's data and the grader's code."""
    parts = (a, sandbox, sorted(limits.items()), data, synthetic, code or code_digest())
    return hashlib.sha256(pickle.dumps(parts)).hexdigest()[:16]


class CanaryFailed(RuntimeError):
    """The instructor's solution did not earn every point: the grader itself is broken here."""


class ClusterUnavailable(RuntimeError):
    """``--scheduler``: the scheduler cannot be reached, no worker joined, or a worker cannot grade."""


class Worker:
    """One student at a time, with its own student zygote (sandboxed) and trusted zygote."""

    def __init__(self, backend: str, lim: dict, a: Assignment, log: Path, trusted_env: dict):
        self.a, self.lim, self.log = a, lim, log
        self.student = StudentZygote(backend, lim, log)
        self.trusted = TrustedZygote(log, trusted_env, lim["trusted_memory_mb"])

    def grade(self, sub: Submission) -> Result:
        """Grade one submission; its :class:`Result` is built once, here, from the trusted runner's verdicts."""
        t = time.monotonic()
        job = outcome = None
        problem, notes = sub.problem, list(sub.notes)
        try:
            if sub.nb is not None and not sub.problem:
                job = build_job(sub.nb, self.a)
                notes += job.notes
                if not self.trusted.alive():
                    self.trusted.start()
                if sub.files is None:  # the folder of its files is the test runner's work folder
                    sub.files = Path(tempfile.mkdtemp(prefix="course-files-"))
                outcome = host.run_job(job, self.student, self.trusted, self.lim, self.a.prelude, sub.files, self.log)
                if outcome.trusted_error:
                    problem = f"grader error: {outcome.trusted_error}"
        except Exception as exc:  # this student fails alone
            problem, outcome = f"grader error: {type(exc).__name__}: {exc}", None
            self.student.stop()
            self.trusted.stop()
        got = report.verdicts(job, outcome, self.a)
        got["notes"] = notes + got["notes"]
        return Result(
            sub.student, sub.origin, **got, problem=problem, seconds=time.monotonic() - t, job=job, outcome=outcome
        )

    def stop(self) -> None:
        self.student.stop()
        self.trusted.stop()

    def sandbox_key(self) -> tuple:
        """What its zygotes were started with: graders with the same key can grade any batch."""
        return _sandbox_key(self.student.backend, self.lim, self.trusted.env or {})


# Warm graders between batches of one process (a TA's notebook grading twice, a test run, a Dask worker):
# a zygote never runs student code (each student gets a fresh child, its limits sent with it), so a later
# batch whose sandboxes would be started with the same settings takes them instead of starting new ones.
# Only the last settings' graders are kept: a batch with other settings stops the idle ones.
_warm_lock = threading.Lock()
_warm: dict[tuple, list[Worker]] = {}


def _sandbox_key(backend: str, lim: dict, env: dict) -> tuple:
    zygote = tuple(lim[k] for k in ("tmp_mb", "shm_mb", "memory_mb", "trusted_memory_mb"))
    # pytest names the running test in the environment: it changes nothing the trusted runner does
    return backend, zygote, tuple(sorted((k, v) for k, v in env.items() if k != "PYTEST_CURRENT_TEST"))


def take_workers(n: int, backend: str, lim: dict, a: Assignment, log: Path, env: dict) -> list[Worker]:
    """``n`` graders for a batch of ``a``: warm ones this process kept (:func:`give_back`), else new.

    Example:
        >>> # pool = take_workers(2, "bwrap", LIMITS, a, out / "grade-sandbox.log", env)
    """
    key = _sandbox_key(backend, lim, env)
    with _warm_lock:
        retired = [w for k in [k for k in _warm if k != key] for w in _warm.pop(k)]
        idle = _warm.get(key, [])
        pool = [idle.pop() for _ in range(min(n, len(idle)))]
    for w in retired:
        w.stop()
    for w in pool:  # the zygotes' own output stays in the log of the batch that started them
        w.a, w.lim, w.log, w.student.lim = a, lim, log, lim
    return pool + [Worker(backend, lim, a, log, env) for _ in range(n - len(pool))]


def give_back(pool: list[Worker]) -> None:
    """Keep the graders of a finished batch warm for the next one in this process (stopped at exit)."""
    with _warm_lock:
        for w in pool:
            _warm.setdefault(w.sandbox_key(), []).append(w)


@atexit.register
def _stop_warm() -> None:
    for w in [w for pool in _warm.values() for w in pool]:
        w.stop()


def canary(worker: Worker, a: Assignment, key: str | None = None) -> None:
    """Grade the instructor's solution; raise :class:`CanaryFailed` unless it earns every point that
    does not need a file students hand in (HW3's checkpoint). With ``key`` (:func:`batch_key`), a
    process checks each key once: a long-lived process (a Dask worker, a test run) does not grade the
    same solution again in the same sandbox, with the same limits and grader code."""
    from autograde.mock_submissions import filled

    if key is not None and key in _passed:
        return

    sub = Submission("instructor-solution", "solutions/", nb=filled(a.source_nb, a.release_nb))
    try:
        res = worker.grade(sub)
    finally:
        sub.discard()
    no_file = ("no checkpoint at", "must be a file handed in")  # the solution hands in no checkpoint
    bad = [
        f"{g}: {res.messages.get(g, 'failed')}"
        for g in a.tests
        if res.scores.get(g, 0) < a.cells[g].points and not any(m in res.messages.get(g, "") for m in no_file)
    ]
    errors = [
        o
        for outs in (res.outcome.outputs.values() if res.outcome else [])
        for o in outs
        if o.get("output_type") == "error"
    ]
    if res.problem or bad or errors:
        why = res.problem or (
            f"a cell of the solution raised {errors[0].get('ename')}: {errors[0].get('evalue', '')[:300]}"
            if errors
            else bad[0]
        )
        raise CanaryFailed(
            f"the instructor's solution of {a.name} does not earn every point in this grader "
            f"({why}); no grade was written. The sandbox cannot see something the notebook needs "
            f"(a package, the course's environment outside the mounts?): see {worker.log}"
        )
    if key is not None:
        _passed.add(key)


def trusted_environment(a: Assignment, data: Path | None, synthetic_heldout: bool) -> dict:
    """The trusted runner's environment: real held-out data for assignments graded on it."""
    env = dict(os.environ)
    if data is not None:
        env["COURSE_DATA_DIR"] = str(Path(data).resolve())
    uses_heldout = any("heldout_set" in a.cells[g].source for g in a.tests)
    if not uses_heldout:
        return env
    if synthetic_heldout:
        env["COURSE_QUICK"] = "1"
        return env
    env.pop("COURSE_QUICK", None)
    env.pop("NBGRADER_EXECUTION", None)
    from course_utils.data import DataNotFoundError, load_dataset

    try:
        load_dataset("cifar10", "test", root=data, download=False, synthetic=False)
    except DataNotFoundError as e:
        raise SystemExit(
            f"{a.name} is graded on the real CIFAR-10 test set, which is not here.\n{e}\n"
            "Give its folder with --data PATH (make grade ... GRADE_ARGS='--data PATH'), or, for a "
            "test run only, grade on the synthetic stand-in with --synthetic-heldout."
        ) from None
    return env
