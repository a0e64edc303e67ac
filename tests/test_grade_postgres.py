"""`make grade --db postgresql://...`: the gradebook in a real PostgreSQL server instead of SQLite.

The test starts its own throw-away server (``initdb`` + ``pg_ctl`` from the PostgreSQL
installation, a Unix socket in a temporary folder, no TCP port) unless
``COURSE_TEST_POSTGRES_URL`` names a server to use (an empty database: the test writes to it).
``make test`` installs Debian's ``postgresql`` package when it can; without a server the test
is skipped and says why.

It grades a small HW0 batch with two workers into the server, reads every score back with
nbgrader's own ``Gradebook``, grades one student again (the grade is updated, not duplicated),
and runs ``nbgrader export`` against the same URL, as a TA would afterwards.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from autograde import grade as G
from autograde.mock_submissions import filled, load

REPO = Path(__file__).resolve().parent.parent
A = "01_hw0_warmup"
WRONG_RELU = "def relu(x):\n    return x\n"


def _server_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: on PATH, or Debian's /usr/lib/postgresql/N/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return debian[-1].parent if debian else None


@pytest.fixture(scope="module")
def pg_url():
    url = os.environ.get("COURSE_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    pytest.importorskip("psycopg2", reason="psycopg2 (requirements.txt) talks to PostgreSQL")
    bin_dir = _server_bin()
    if bin_dir is None:
        pytest.skip(
            "no PostgreSQL server installed (Debian: apt-get install postgresql; or set COURSE_TEST_POSTGRES_URL)"
        )
    run_as: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to start the server as")
        run_as = ["runuser", "-u", "postgres", "--"]
    tmp = Path(tempfile.mkdtemp(prefix="course-pg-"))
    data, sock = tmp / "data", tmp / "sock"
    sock.mkdir()
    if run_as:
        shutil.chown(tmp, "postgres")
        shutil.chown(sock, "postgres")

    def pg(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(run_as + list(args), capture_output=True, text=True, timeout=120)

    r = pg(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "course", "--no-sync")
    assert r.returncode == 0, f"initdb failed:\n{r.stdout}\n{r.stderr}"
    port = "5439"
    r = pg(
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(tmp / "server.log"),
        "-w",
        "start",
        "-o",
        f"-k {sock} -p {port} -c listen_addresses= -c fsync=off",
    )
    if r.returncode != 0:
        log = (tmp / "server.log").read_text() if (tmp / "server.log").exists() else ""
        pytest.fail(f"PostgreSQL did not start:\n{r.stdout}\n{r.stderr}\n{log}")
    try:
        yield f"postgresql+psycopg2://course@/postgres?host={sock}&port={port}"
    finally:
        pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(tmp, ignore_errors=True)


def _batch(folder: Path) -> dict[str, float]:
    source, release = load(A)
    expected = {"full": 8, "partial": 4, "untouched": 0, "wrongrelu": 6, "badjson": 0}
    nbs = {
        "full": filled(source, release),
        "partial": filled(source, release, {"relu_impl", "softmax_impl"}),
        "untouched": release,
        "wrongrelu": filled(source, release, replace={"relu_impl": WRONG_RELU}),
    }
    for name, nb in nbs.items():
        (folder / f"{name}.ipynb").write_text(json.dumps(nb))
    (folder / "badjson.ipynb").write_text('{"cells": [')
    return expected


def _scores(url: str) -> dict[str, list[float]]:
    """{student: [score of each submission of A]} as nbgrader's Gradebook reads them."""
    import warnings

    from nbgrader.api import Gradebook

    with warnings.catch_warnings(), Gradebook(url) as gb:
        warnings.simplefilter("ignore")
        out: dict[str, list[float]] = {}
        for s in gb.assignment_submissions(A):
            out.setdefault(s.student.id, []).append(s.score)
        return out


def test_grading_into_postgresql(pg_url, tmp_path):
    subs = tmp_path / "submissions"
    subs.mkdir()
    expected = _batch(subs)
    results = G.grade(
        A,
        subs,
        out=tmp_path / "out",
        db_url=pg_url,
        workers=2,
        quiet=True,
        limits={"cell": 8, "notebook": 60, "memory_mb": 1536, "output_kb": 256},
    )
    assert {r.student: r.total for r in results} == expected
    assert not (tmp_path / "out" / "gradebook.db").exists(), "wrote SQLite although --db named a server"
    assert _scores(pg_url) == {s: [e] for s, e in expected.items()}

    # the student fixes relu and is graded again: one submission, new score
    source, release = load(A)
    again = tmp_path / "again"
    again.mkdir()
    (again / "wrongrelu.ipynb").write_text(json.dumps(filled(source, release)))
    [r] = G.grade(
        A,
        again,
        out=tmp_path / "out",
        db_url=pg_url,
        workers=1,
        quiet=True,
        limits={"cell": 8, "notebook": 60, "memory_mb": 1536, "output_kb": 256},
    )
    assert r.total == 8
    assert _scores(pg_url) == {s: [8 if s == "wrongrelu" else e] for s, e in expected.items()}

    # what a TA runs afterwards: nbgrader's own export, against the same server
    root = tmp_path / "course"
    (root / "autograde").mkdir(parents=True)
    csv_path = tmp_path / "export.csv"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "nbgrader",
            "export",
            f"--CourseDirectory.db_url={pg_url}",
            f"--CsvExportPlugin.to={csv_path}",
        ],
        cwd=REPO,
        env=G.nbgrader_env(root),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    rows = {row["student_id"]: float(row["score"]) for row in csv.DictReader(open(csv_path)) if row["assignment"] == A}
    assert rows == {s: (8 if s == "wrongrelu" else e) for s, e in expected.items()}
