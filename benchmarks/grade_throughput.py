"""Throughput of ``make grade`` against plain ``nbgrader autograde`` on the same generated batch.

Generates N submissions of an assignment (a third solved, a third half solved, a third untouched),
grades them with plain ``nbgrader autograde`` (one process, as nbgrader does it) and with
``autograde.grade`` (parallel workers, sandbox on), in the same run, and prints both throughputs,
their ratio, the load average before and after (the machine may be shared), whether both
graders gave every student the same score (and the expected one), and the cost of the grader's
second process: wall time in test cells spent in the trusted runner (its own work and the messages)
against the time spent waiting for the student's process.

With ``--dask-workers 1,2`` the same batch is also graded on a Dask cluster on this machine (a
scheduler and N single-threaded worker processes started for each N, over TLS with certificates made for it,
``make grade --scheduler``): end to end, the grading time per student on a worker, and the
coordinator's writing time per student (the one part that does not spread over workers).

    python benchmarks/grade_throughput.py                         # 60 submissions of HW1 (or HW0)
    python benchmarks/grade_throughput.py 01_hw0_warmup -n 30 --workers 2
    python benchmarks/grade_throughput.py -n 40 --skip-plain --dask-workers 1,2

Results are also written to benchmarks/results/grade_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


from autograde import grade as G  # noqa: E402
from autograde.localcluster import LocalProcesses  # noqa: E402
from autograde.mock_submissions import batch  # noqa: E402
from autograde.sandbox import choose_backend  # noqa: E402


def default_assignment() -> str:
    hw1 = "04_hw1_layer_sizes"
    ok = (REPO / "solutions" / hw1 / f"{hw1}.ipynb").exists() and (REPO / "notebooks" / hw1 / f"{hw1}.ipynb").exists()
    return hw1 if ok else "01_hw0_warmup"


def plain_nbgrader(assignment: str, subs: Path, root: Path) -> tuple[float, dict[str, float]]:
    """Seconds of ``nbgrader autograde`` on the batch, and {student: score} from its gradebook."""
    shutil.copytree(REPO / "solutions" / assignment, root / "solutions" / assignment)
    db = root / "autograde" / "gradebook.db"
    (root / "autograde").mkdir(parents=True)
    env = dict(
        os.environ,
        COURSE_NBGRADER_ROOT=str(root),
        PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
    )
    run = lambda *a: subprocess.run(
        [sys.executable, "-m", "nbgrader", *a, "--log-level=WARN"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    r = run("generate_assignment", assignment, "--force")
    assert r.returncode == 0, r.stderr
    for nb in sorted(subs.glob("*.ipynb")):
        d = root / "autograde" / "submitted" / nb.name.split("_")[0] / assignment
        d.mkdir(parents=True)
        shutil.copy(nb, d / f"{assignment}.ipynb")
    t = time.perf_counter()
    r = run("autograde", assignment, "--force")
    took = time.perf_counter() - t
    if r.returncode != 0:
        print(r.stdout[-2000:], r.stderr[-2000:])
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}") as gb:
        scores = {s.student.id: float(s.score) for s in gb.assignment_submissions(assignment)}
    return took, scores


def on_dask(assignment: str, subs: Path, tmp: Path, n_workers: int) -> dict:
    """Grade the batch on a scheduler and ``n_workers`` worker processes started here; its figures."""
    writing: list[float] = []
    write = G._write_student

    def timed_write(*args, **kw):
        t = time.perf_counter()
        res = write(*args, **kw)
        writing.append(time.perf_counter() - t)
        return res

    G._write_student = timed_write
    try:
        with LocalProcesses(n_workers, tmp / f"dask{n_workers}") as procs:
            t = time.perf_counter()
            results = G.grade(
                assignment,
                subs,
                out=tmp / f"out-dask{n_workers}",
                scheduler=procs.address,
                security=procs.security,
                quiet=True,
            )
            took = time.perf_counter() - t
    finally:
        G._write_student = write
    n = len(results)
    fig = {
        "seconds": took,
        "per_min": n / took * 60,
        "grade_s_per_student": sum(r.seconds for r in results) / n,
        "write_s_per_student": sum(writing) / max(1, len(writing)),
        "scores": {r.student: r.total for r in results},
    }
    print(
        f"Dask, {n_workers} worker process(es): {took:.1f} s, {fig['per_min']:.1f} submissions/min end to end; "
        f"{fig['grade_s_per_student']:.2f} s grading per student on a worker, "
        f"{fig['write_s_per_student'] * 1000:.0f} ms writing per student in the coordinator",
        flush=True,
    )
    return fig


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("assignment", nargs="?", default=default_assignment())
    p.add_argument("-n", type=int, default=60, help="submissions (default 60)")
    p.add_argument("--workers", type=int, default=None, help="workers of make grade (default: cores)")
    p.add_argument("--skip-plain", action="store_true", help="only time make grade")
    p.add_argument("--dask-workers", default="", help="also grade on a local Dask cluster of each size, e.g. 1,2")
    args = p.parse_args(argv)
    dask_sizes = [int(x) for x in args.dask_workers.split(",") if x.strip()]
    cmd = "python benchmarks/grade_throughput.py " + " ".join(argv if argv is not None else sys.argv[1:])
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="grade-bench-") as tmp:
        tmp = Path(tmp)
        subs = tmp / "submissions"
        expected = batch(args.assignment, subs, args.n)
        print(
            f"{args.n} generated submissions of {args.assignment}; {os.cpu_count()} cores; "
            f"load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}",
            flush=True,
        )
        plain_s, plain_scores = (None, {})
        if not args.skip_plain:
            plain_s, plain_scores = plain_nbgrader(args.assignment, subs, tmp / "plain")
            print(f"plain nbgrader autograde: {plain_s:.1f} s, {args.n / plain_s * 60:.1f} submissions/min", flush=True)
        t = time.perf_counter()
        results = G.grade(args.assignment, subs, out=tmp / "out", workers=args.workers, sandbox="auto", quiet=True)
        ours_s = time.perf_counter() - t
        ours = {r.student: r.total for r in results}
        sandbox = choose_backend("auto")
        tests = sum(r.outcome.test_seconds for r in results if r.outcome)
        asks = sum(r.outcome.ask_seconds for r in results if r.outcome)
        print(
            f"make grade ({args.workers or os.cpu_count()} workers, sandbox: {sandbox}): {ours_s:.1f} s, "
            f"{args.n / ours_s * 60:.1f} submissions/min (end to end, including nbgrader generate_assignment "
            f"and starting the workers)",
            flush=True,
        )
        print(
            f"second process: {tests:.1f} s in test cells over all students, of which {asks:.1f} s waiting for "
            f"the student's process and {tests - asks:.1f} s in the trusted runner and its messages "
            f"({(tests - asks) / max(ours_s * (args.workers or os.cpu_count()), 1e-9):.0%} of the workers' time)",
            flush=True,
        )
        dask = {k: on_dask(args.assignment, subs, tmp, k) for k in dask_sizes}
    load1 = os.getloadavg()
    # solved and untouched submissions have known totals; half-solved ones depend on how the notebook's
    # cells build on each other, so for those plain nbgrader's score is the reference
    full, zero = max(expected.values()), 0.0
    wrong_ours = {s: (ours.get(s), e) for s, e in expected.items() if e in (full, zero) and ours.get(s) != e}
    disagree = {
        s: (plain_scores.get(s), ours.get(s)) for s in expected if plain_scores and plain_scores.get(s) != ours.get(s)
    }
    disagree.update(
        {
            f"{s} (dask {k})": (ours.get(s), fig["scores"].get(s))
            for k, fig in dask.items()
            for s in expected
            if fig["scores"].get(s) != ours.get(s)
        }
    )
    ratio = plain_s / ours_s if plain_s else None
    if ratio:
        print(f"speed-up over plain nbgrader: {ratio:.2f}x")
    print(f"load average after: {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    others = ["plain nbgrader"] * bool(plain_scores) + [f"Dask with {k} worker(s)" for k in dask]
    print(
        f"solved/untouched scores as expected: {'yes' if not wrong_ours else wrong_ours}; "
        f"{', '.join(others) or 'plain nbgrader'} agree(s) with make grade: "
        f"{'yes' if others and not disagree else disagree or 'not run'}"
    )
    print(f"command: {cmd}")
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "grade_throughput.json").write_text(
        json.dumps(
            {
                "assignment": args.assignment,
                "n": args.n,
                "cores": os.cpu_count(),
                "workers": args.workers or os.cpu_count(),
                "plain_seconds": plain_s,
                "grade_seconds": ours_s,
                "speedup": ratio,
                "sandbox": sandbox,
                "test_seconds": tests,
                "ask_seconds": asks,
                "dask": {k: {x: v for x, v in fig.items() if x != "scores"} for k, fig in dask.items()},
                "load_before": load0,
                "load_after": load1,
                "wrong": wrong_ours,
                "disagree": disagree,
                "command": cmd,
            },
            indent=1,
        )
    )
    return 0 if not wrong_ours and not disagree else 1


if __name__ == "__main__":
    sys.exit(main())
