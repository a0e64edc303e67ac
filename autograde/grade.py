"""Grade a batch of submissions: ``make grade ASSIGNMENT=... SUBMISSIONS=...``.

    python -m autograde.grade 01_hw0_warmup path/to/submissions
    python -m autograde.grade 01_hw0_warmup folder --workers 2 --db postgresql://user@host/db
    python -m autograde.grade 01_hw0_warmup folder --scheduler tls://host:8786 \
        --tls-ca ca.pem --tls-cert client.pem --tls-key client.key    # on Dask workers, over TLS (cluster.py)

nbgrader is the engine: ``generate_assignment`` fills the gradebook with the assignment's cells and
checksums, grades go into its Gradebook, so ``nbgrader formgrader`` and ``export`` work afterwards.
Only this process writes the gradebook and the output folders, one student at a time.

How one student is graded (the package docstring has the picture; ``rules.py`` the rules):
a fresh sandboxed process runs the student's cells; a fresh trusted process runs the instructor's
test cells, taking the student's functions and values as stand-ins; the verdicts come from the
trusted process only. Before the batch the instructor's solution is graded the same way (the
canary): if it does not earn every point, nothing is written and the log says why.

Output (under --out, default ``autograde/``): ``submitted/STUDENT/ASSIGNMENT/`` (the notebooks as
handed in), ``autograded/...`` (the whole notebook as graded, with outputs, for formgrader),
``feedback/STUDENT/ASSIGNMENT/*.html`` (and the zips for the LMS in ``feedback_zips/``),
``grades_ASSIGNMENT.csv`` (with the final grade of ``final.py``), ``report_ASSIGNMENT.png``/``.md``
(how the class did), the gradebook (``gradebook.db`` or ``--db URL``) and ``grade-sandbox.log``.
"""

from __future__ import annotations

import argparse
import os
import queue
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

from autograde import report
from autograde.classreport import class_report, feedback_zips
from autograde.collect import Submission, collect
from autograde.final import final_grades, keep_policy
from autograde.job import REPO, Assignment, nbgrader_env, prepare  # noqa: F401 (nbgrader_env: tests)
from autograde.late import Late, parse_time
from autograde.report import Result
from autograde.roster import Roster, name_in_gradebook
from autograde.rules import LIMITS
from autograde.sandbox import SandboxUnavailable, choose_backend
from autograde.worker import (
    CanaryFailed,
    ClusterUnavailable,
    Worker,
    batch_key,
    canary,
    give_back,
    take_workers,
    trusted_environment,
)

BACKEND_TEXT = {
    "bwrap": "bubblewrap (no network, private /tmp, read-only system)",
    "podman": "Podman container (no network, read-only)",
    "unsafe": "NONE: --unsafe-no-sandbox (trusted input only)",
}


def grade(
    assignment: str,
    submissions: Path,
    out: Path = REPO / "autograde",
    db_url: str | None = None,
    workers: int | None = None,
    sandbox: str = "auto",
    limits: dict | None = None,
    solutions: Path = REPO / "solutions",
    quiet: bool = False,
    data: Path | None = None,
    synthetic_heldout: bool = False,
    run_canary: bool = True,
    students: list[str] | None = None,
    roster: Path | None = None,
    deadline: str | None = None,
    late_policy: str | None = None,
    scheduler: str | None = None,
    security=None,
    trusted_network: bool = False,
) -> list[Result]:
    """Grade every submission in ``submissions`` (or only those of ``students``: the CSV keeps the
    other rows); return one :class:`Result` per student graded. ``scheduler``: grade on the workers
    of that Dask scheduler (``cluster.py``) instead of here: ``tls://`` with ``security`` (a Dask
    ``Security`` holding the course's client certificate; default: Dask's configuration), or plain
    ``tcp://`` only with ``trusted_network``. Without ``deadline`` or ``late_policy`` the last ones given
    for this gradebook and ``out`` stand (a regrade keeps them)."""
    t0 = time.monotonic()
    if scheduler:
        from autograde import cluster
    client = (
        cluster.connect(scheduler, security, trusted_network) if scheduler else None
    )  # first: if unreachable, nothing is written
    subs: list[Submission] = []
    try:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        db_url = db_url or "sqlite:///" + str((out / "gradebook.db").resolve())
        say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
        backend = choose_backend(sandbox) if client is None else None  # on a cluster each worker chooses
        lim = dict(LIMITS, **(limits or {}))
        a = prepare(assignment, db_url, solutions)
        tenv = trusted_environment(a, data, synthetic_heldout) if client is None else None
        people = Roster.read(Path(roster)) if roster else None
        late = Late(parse_time(deadline) if deadline else None, keep_policy(out, a.name, late_policy), people)
        subs = _only(collect(Path(submissions), a.name, a.notebook, people, lim), students, say)
        record = lambda s, res: _record(s, res, a, out, db_url, submissions, say, late)
        if client is not None:
            spec = cluster.Spec(a, sandbox, lim, str(data) if data else None, synthetic_heldout, run_canary)
            results, n_workers = cluster.grade_on(client, spec, subs, record, say)
        else:
            n_workers = max(1, min(workers or os.cpu_count() or 1, max(1, len(subs))))
            how = BACKEND_TEXT[backend]
            say(f"Grading {assignment}: {len(subs)} submission(s), {n_workers} worker(s), sandbox: {how}")
            pool = take_workers(n_workers, backend, lim, a, out / "grade-sandbox.log", tenv)
            key = batch_key(a, backend, lim, str(data) if data else None, synthetic_heldout) if run_canary else None
            results = _grade_here(pool, subs, a, key, record)
    finally:
        for s in subs:
            s.discard()
        if client is not None:
            client.close()
    name_in_gradebook(db_url, people, [r.student for r in results])
    csv_path = out / f"grades_{assignment}.csv"
    report.write_csv(csv_path, a, results, keep_others=bool(students), finals=final_grades(db_url, a.name, out))
    _summary(results, a, time.monotonic() - t0, n_workers, say)
    try:
        feedback_zips(a, results, out)
        png, _ = class_report(a, results, out) if not students else (None, None)
    except Exception as e:  # the grades are written already
        png = None
        say(f"(the class report could not be made: {type(e).__name__}: {e})")
    say(
        f"Grades: {csv_path}\nFeedback: {out / 'feedback'}/STUDENT/{assignment}/ (zips for the LMS: "
        f"{out / 'feedback_zips' / assignment}/)\nGradebook: {db_url}" + (f"\nClass report: {png}" if png else "")
    )
    return results


def _only(subs: list[Submission], students: list[str] | None, say) -> list[Submission]:
    """The submissions of ``students`` (all without), saying whose are missing."""
    if not students:
        return subs
    missing = sorted(set(students) - {s.student for s in subs})
    for s in subs:
        if s.student not in students:
            s.discard()
    if missing:
        say(f"no submission found for: {', '.join(missing)}")
    return [s for s in subs if s.student in students]


def _grade_here(pool: list[Worker], subs: list[Submission], a: Assignment, key: str | None, record) -> list[Result]:
    """Grade on this machine: the canary (unless ``key`` is None), then the batch on the pool's threads.
    A finished batch leaves its graders warm for the next (``worker.give_back``); a failed one stops them."""
    try:
        if key is not None:
            canary(pool[0], a, key)
        results = _run(pool, subs, record)
    except BaseException:
        for w in pool:
            w.stop()
        raise
    give_back(pool)
    return results


def _run(pool: list[Worker], subs: list[Submission], record) -> list[Result]:
    todo: queue.Queue = queue.Queue()
    done: queue.Queue = queue.Queue()
    for s in subs:
        todo.put(s)

    def work(w: Worker) -> None:
        while True:
            try:
                s = todo.get_nowait()
            except queue.Empty:
                return
            done.put((s, w.grade(s)))

    threads = [threading.Thread(target=work, args=(w,), daemon=True) for w in pool]
    for th in threads:
        th.start()
    results: list[Result] = []
    while len(results) < len(subs):
        s, res = done.get()
        results.append(record(s, res))
    for th in threads:
        th.join()
    return results


def _record(
    s: Submission, res: Result, a: Assignment, out: Path, db_url: str, submissions: Path, say, late: Late
) -> Result:
    """Write one student's results: the only writer of the gradebook and the output folders. Returns
    ``res`` with what writing added (hand-in time, final grade, late note)."""
    try:
        for d in ("submitted", "autograded", "feedback"):
            (out / d).mkdir(exist_ok=True)
        res = late.apply(s, res)
        res = replace(res, unanswered=report.unanswered(s.nb, a, res.problem))
        res = late.note(_write_student(s, res, a, out, db_url, submissions, late))
    except Exception as exc:  # a student's outputs fail alone
        why = f"could not write this student's results ({type(exc).__name__}: {exc})"
        res = replace(res, problem=res.problem or why)
    s.discard()
    say(
        f"  {res.student:<20} {res.total:g}/{a.auto_points:g}"
        f"{'  FAILED: ' + res.problem if res.problem else ''}"
        f"{'  (' + '; '.join(res.notes) + ')' if res.notes else ''}  [{res.seconds:.1f} s]"
    )
    return res


_write_student = report.write_student  # one student's outputs (benchmarks/grade_throughput.py times it)


def _summary(results: list[Result], a: Assignment, took: float, n_workers: int, say) -> None:
    failed = [r for r in results if r.problem]
    say(
        f"\nSummary of {a.name}: {len(results) - len(failed)} graded, {len(failed)} failed, {took:.1f} s "
        f"({len(results) / max(took, 1e-9) * 60:.1f} submissions/min, {n_workers} worker(s))"
    )
    for r in sorted(failed, key=lambda r: r.student):
        say(f"  FAILED  {r.student}: {r.problem} -> 0/{a.auto_points:g}")
    for r in sorted(results, key=lambda r: r.student):
        if not r.problem and (r.notes or r.total < a.auto_points):
            why = "; ".join(r.notes) if r.notes else "some tests failed"
            say(f"  {r.total:g}/{a.auto_points:g}  {r.student}: {why}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("assignment")
    p.add_argument("submissions", type=Path)
    p.add_argument("--out", type=Path, default=REPO / "autograde", help="output folder (default autograde/)")
    p.add_argument("--db", help="gradebook URL (default sqlite:///OUT/gradebook.db)")
    p.add_argument("--workers", type=int, default=None, help="parallel workers (default: number of cores)")
    p.add_argument(
        "--sandbox",
        choices=["auto", "bwrap", "podman"],
        default="auto",
        help="auto: bubblewrap, else Podman with the grading image, else refuse",
    )
    p.add_argument(
        "--unsafe-no-sandbox",
        action="store_true",
        help="run students' code without a sandbox (kernel limits only): trusted input only",
    )
    p.add_argument(
        "--student",
        action="append",
        dest="students",
        metavar="ID",
        help="grade only this student (repeatable); the CSV keeps everyone else's rows",
    )
    p.add_argument("--roster", type=Path, help="CSV id,name,email,lms_id[,extension_hours]: who is who")
    p.add_argument("--deadline", help="due date and time, ISO (2026-12-01T23:59; local time unless a zone is given)")
    p.add_argument(
        "--late-policy", help="none, zero, P%%/hour or P%%/day of autograded + hand points (default: as last)"
    )
    p.add_argument("--data", type=Path, help="folder with the real CIFAR-10 test set (HW3)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="grade on this Dask scheduler's workers (tls://HOST:8786)")
    p.add_argument("--tls-ca", metavar="PEM", help="--scheduler: the course's CA certificate (autograde.clustercerts)")
    p.add_argument("--tls-cert", metavar="PEM", help="--scheduler: this machine's client certificate")
    p.add_argument("--tls-key", metavar="KEY", help="--scheduler: the client certificate's key")
    p.add_argument(
        "--trusted-network",
        action="store_true",
        help="--scheduler: allow a plain tcp:// scheduler (every machine that reaches it can run code on the workers)",
    )
    p.add_argument(
        "--synthetic-heldout",
        action="store_true",
        help="grade HW3 on the synthetic stand-in (test runs only: scores mean nothing)",
    )
    for name, default in LIMITS.items():
        p.add_argument(f"--{name.replace('_', '-')}", type=float, default=default, dest=f"lim_{name}")
    args = p.parse_args(argv)
    if not args.submissions.is_dir():
        p.error(f"{args.submissions} is not a folder")
    lim = {
        k: (int(v) if float(v).is_integer() else v)
        for k, v in ((name, getattr(args, f"lim_{name}")) for name in LIMITS)
    }
    sandbox = "unsafe" if args.unsafe_no_sandbox else args.sandbox
    keys = ("data", "synthetic_heldout", "students", "roster", "deadline", "late_policy", "scheduler")
    keys += ("trusted_network",)
    try:
        sec = None
        if args.scheduler:
            from autograde import cluster

            sec = cluster.security(args.tls_ca, args.tls_cert, args.tls_key)
        grade(
            args.assignment,
            args.submissions,
            args.out,
            args.db,
            args.workers,
            sandbox,
            lim,
            security=sec,
            **{k: getattr(args, k) for k in keys},
        )
    except (SandboxUnavailable, CanaryFailed, ClusterUnavailable) as e:
        print(f"make grade: {e}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
