"""Grading on a Dask cluster: ``make grade ... GRADE_ARGS="--scheduler tls://HOST:8786 --tls-ca ... "``.

Only over TLS with the course's certificates (``clustercerts.py``): whoever reaches a scheduler can run
code on its workers, so ``connect`` refuses ``tcp://`` unless ``--trusted-network`` says so.

The process that runs ``make grade`` (the coordinator) does what it does without a cluster:
collects the submissions, runs nbgrader's ``generate_assignment`` and alone writes the gradebook,
the CSV, feedback and autograded notebooks (``grade._record``), one student at a time. The Dask
workers (``dask worker``, started from a checkout of the course in its environment) only grade:
each keeps warm graders (``worker.Worker``: the sandboxed student zygote and the trusted zygote)
between tasks and batches, one per thread, as any process that grades does (``worker.take_workers``).

What crosses, between trusted processes only (student code runs in the workers' sandboxes): to a
worker a :class:`Spec` (the trusted ``Assignment``, the sandbox, the limits) and one student's
notebook and other files as bytes; back, that student's ``Result``. No shared file system is needed.

Order: every worker grades the instructor's solution (the canary) before its first student; only
then are students sent, two per worker thread at a time (the scheduler never holds the whole class).
A lost worker's students are graded again elsewhere (Dask reschedules them); the coordinator writes
each student once, whichever worker graded them. A failed canary, or a worker without a sandbox or
the data, stops the batch: nothing more is written. Other code on a worker than here is reported.
"""

from __future__ import annotations

import tempfile
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from autograde.collect import Submission
from autograde.job import Assignment
from autograde.report import Result
from autograde.rules import LIMIT
from autograde.sandbox import SandboxUnavailable, choose_backend
from autograde.worker import (
    CanaryFailed,
    ClusterUnavailable,
    Worker,
    batch_key,
    canary,
    code_digest,
    give_back,
    take_workers,
    trusted_environment,
)

PER_THREAD = LIMIT["per_thread"]  # students in flight per worker thread
WORKER_WAIT = LIMIT["worker_wait_s"]  # seconds to wait for a first worker to join
LOG = Path(tempfile.gettempdir()) / "course-grade-sandbox.log"  # on each worker's machine
FATAL = (CanaryFailed, ClusterUnavailable)  # stop the batch


@dataclass
class Spec:
    """What a worker needs to grade any student of the batch."""

    a: Assignment
    sandbox: str = "auto"
    limits: dict = field(default_factory=dict)
    data: str | None = None  # HW3's test set: a folder on the workers' machines
    synthetic_heldout: bool = False
    canary: bool = True
    code: str = field(default_factory=code_digest)
    key: str = ""

    def __post_init__(self) -> None:
        self.key = self.key or batch_key(
            self.a, self.sandbox, self.limits, self.data, self.synthetic_heldout, self.code
        )


# ---- the worker's side ---------------------------------------------------------------------------


def _where() -> str:
    from distributed import get_worker

    return get_worker().address


def _take(spec: Spec) -> Worker:
    """A warm grader for ``spec`` (``worker.take_workers``); the first of each spec in this process grades
    the solution (the canary, checked once per batch key)."""
    try:
        env = trusted_environment(spec.a, Path(spec.data) if spec.data else None, spec.synthetic_heldout)
        (w,) = take_workers(1, choose_backend(spec.sandbox), spec.limits, spec.a, LOG, env)
    except (SandboxUnavailable, SystemExit) as e:
        raise ClusterUnavailable(f"worker {_where()} cannot grade: {e}") from None
    if spec.canary:
        try:
            canary(w, spec.a, spec.key)
        except CanaryFailed as e:
            w.stop()
            raise CanaryFailed(f"on worker {_where()}: {e}") from None
    return w


def warm(spec: Spec) -> str:
    """Task: make this worker ready to grade (sandbox, canary); say where and how."""
    w = _take(spec)
    give_back([w])
    other = (
        ""
        if code_digest() == spec.code
        else (" -- WARNING: it runs other grader code than this machine: check out the same commit everywhere")
    )
    return f"{_where()} (sandbox: {w.student.backend}){other}"


def grade_one(spec: Spec, sub: dict) -> Result:
    """Task: grade one student (:func:`_payload`) with a warm grader of this worker."""
    w = _take(spec)
    s = Submission(sub["student"], sub["origin"], nb=sub["nb"], problem=sub["problem"], notes=sub["notes"])
    try:
        if sub["files"]:
            s.files = Path(tempfile.mkdtemp(prefix="course-files-"))
            for rel, data in sub["files"].items():
                (s.files / rel).parent.mkdir(parents=True, exist_ok=True)
                (s.files / rel).write_bytes(data)
        return w.grade(s)
    finally:
        s.discard()
        give_back([w])


# ---- the coordinator's side ----------------------------------------------------------------------


def security(ca: str | None = None, cert: str | None = None, key: str | None = None):
    """The client's TLS settings: these files, else Dask's configuration (``distributed.comm.tls``).

    >>> security("certs/ca.pem", "certs/client.pem", "certs/client.key")   # doctest: +SKIP
    """
    from distributed.security import Security

    if ca or cert or key:
        if not (ca and cert):
            raise ClusterUnavailable("TLS needs --tls-ca and --tls-cert (and --tls-key unless the cert holds it)")
        for f in filter(None, (ca, cert, key)):
            if not Path(f).is_file():
                raise ClusterUnavailable(f"TLS: {f} is not a file; nothing was graded or written")
        return Security(tls_ca_file=ca, tls_client_cert=cert, tls_client_key=key, require_encryption=True)
    return Security(require_encryption=True)  # the tls_* files of Dask's configuration, if any


def _check_address(address: str, sec, trusted_network: bool) -> None:
    """Refuse a plain-TCP scheduler (anyone who reaches it runs code on the workers) unless trusted."""
    scheme = address.split("://", 1)[0] if "://" in address else "tcp"
    if scheme == "tls":
        if not (sec.tls_ca_file and sec.tls_client_cert):
            raise ClusterUnavailable(
                f"{address}: TLS needs the course's certificates: --tls-ca CA.pem --tls-cert client.pem "
                "--tls-key client.key (python -m autograde.clustercerts DIR makes them; docs/cluster.md); "
                "nothing was graded or written"
            )
    elif not trusted_network:
        raise ClusterUnavailable(
            f"refusing the unencrypted scheduler address {address}: anyone who reaches its port could run "
            "code on the workers, read the hidden tests and write grades. Use tls://HOST:PORT with the "
            "course's certificates (--tls-ca, --tls-cert, --tls-key; python -m autograde.clustercerts DIR "
            "makes them), or, only on a network where every machine is trusted, add --trusted-network; "
            "nothing was graded or written"
        )


def connect(address: str, sec=None, trusted_network: bool = False):
    """A client of the scheduler at ``address`` with at least one worker, or :class:`ClusterUnavailable`.
    ``address`` must be ``tls://`` with ``sec`` (:func:`security`) holding the client certificate, unless
    ``trusted_network``."""
    try:
        import dask
        from distributed import Client
    except ImportError:
        raise ClusterUnavailable("--scheduler needs Dask: pip install 'dask[distributed]' (requirements.txt)") from None
    sec = sec if sec is not None else security()
    _check_address(address, sec, trusted_network)
    if not address.startswith("tls://"):
        sec = None  # a trusted network: plain TCP
    try:
        timeout = dask.config.get("distributed.comm.timeouts.connect")
        client = Client(address, timeout=timeout, set_as_default=False, security=sec)
    except (OSError, TimeoutError, ValueError) as e:
        raise ClusterUnavailable(
            f"cannot reach the Dask scheduler at {address} ({e}); nothing was graded or "
            "written. Is `dask scheduler` running there, its port open to this machine, and are its "
            "certificates signed by the same CA as --tls-ca?"
        ) from None
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT)
    except TimeoutError:
        client.close()
        raise ClusterUnavailable(
            f"no Dask worker joined the scheduler at {address} within {WORKER_WAIT} s: start them (docs/cluster.md)"
        ) from None
    return client


def grade_on(client, spec: Spec, subs: list[Submission], record, say) -> tuple[list[Result], int]:
    """Grade ``subs`` on the cluster; ``record(sub, result)`` writes each student, once, in this process.
    Returns (results, workers at the start)."""
    addrs = list(client.scheduler_info()["workers"])
    say(
        f"Grading {spec.a.name}: {len(subs)} submission(s) on the Dask cluster at {client.scheduler.address}, "
        f"{len(addrs)} worker(s), {sum(client.nthreads().values())} thread(s)"
    )
    canaries = [
        client.submit(warm, spec, workers=[w], allow_other_workers=True, pure=False, key=f"warm-{uuid.uuid4().hex}")
        for w in addrs
    ]
    for f in canaries:
        say(f"  ready: {_outcome(f, client, canaries)}")
    return _fan_out(client, spec, subs, record), len(addrs)


def _fan_out(client, spec: Spec, subs: list[Submission], record) -> list[Result]:
    from distributed import as_completed

    todo, pending, done = list(reversed(subs)), {}, {}
    flow = as_completed(loop=client.loop)

    def submit_more() -> None:
        room = PER_THREAD * max(1, sum(client.nthreads().values()))
        while todo and len(pending) < room:
            s = todo.pop()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "large object": a checkpoint, sent once
                f = client.submit(grade_one, spec, _payload(s), pure=False, key=f"grade-{s.student}-{uuid.uuid4().hex}")
            pending[f.key] = (f, s)
            flow.add(f)

    submit_more()
    for f in flow:
        s = pending.pop(f.key)[1]
        try:
            res = _outcome(f, client, [g for g, _ in pending.values()])
        except FATAL:
            raise
        except Exception as e:  # its workers lost again and again: this student alone
            res = Result(
                s.student,
                s.origin,
                scores=dict.fromkeys(spec.a.tests, 0.0),
                notes=s.notes,
                problem=f"grader error on the cluster: {e!r}",
            )
        f.release()
        if s.student not in done:  # each student written once
            done[s.student] = record(s, res)
        submit_more()
    return list(done.values())


def _outcome(f, client, others: list):
    """The future's result; a failed canary or a worker that cannot grade cancels ``others`` and stops all."""
    try:
        return f.result()
    except FATAL:
        client.cancel(others)
        raise


def _payload(s: Submission) -> dict:
    """What a worker gets of one submission: its notebook and other files as bytes."""
    files = [p for p in sorted(s.files.rglob("*")) if p.is_file()] if s.files is not None else []
    sub = {k: getattr(s, k) for k in ("student", "origin", "nb", "problem")}
    return dict(sub, notes=list(s.notes), files={str(p.relative_to(s.files)): p.read_bytes() for p in files})
