"""`make grade --scheduler ...`: grading fanned out to Dask workers, with real processes.

The test starts a real ``dask scheduler`` and two ``dask worker`` processes (one thread each, no
nanny) on this machine, grades 10 HW1 submissions (four of them broken) through them into a
private PostgreSQL server (``test_grade_postgres.py``'s), kills one worker (SIGKILL to its process group)
while it grades, after 4 students were written, and checks that the gradebook, read with
nbgrader's ``Gradebook``, equals a local run's into SQLite, student by student and test by test,
with every student written exactly once. The cluster speaks TLS only, with certificates of its own CA
(``autograde.clustercerts``): the fast tests attack it as an outsider who knows its address (a plain
client, a TLS client without a certificate or with one of another CA, workers without certificates)
and check that ``make grade`` refuses a plain ``tcp://`` scheduler unless ``--trusted-network``, and
that an unreachable scheduler fails with a clear message and writes nothing. One cluster serves every
test of the module; the test that kills a worker runs last.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="dask[distributed] (requirements.txt) runs the cluster")

from autograde import grade as G
from autograde import report
from autograde.clustercerts import make_certs
from autograde.localcluster import LocalProcesses
from autograde.mock_submissions import batch, filled, load
from test_grade_postgres import pg_url  # noqa: F401 -- the private PostgreSQL server

A = "04_hw1_layer_sizes"
N = 10
KILL_AFTER = 4
LIMITS = {"cell": 60, "notebook": 300}


def _submissions(folder: Path) -> None:
    """N submissions: a third solved, a third half solved, a third untouched, and some broken ones."""
    batch(A, folder, N - 4)
    source, release = load(A)
    wrong = {
        "wrongsize": filled(
            source,
            release,
            replace={"conv_size_impl": "def conv2d_output_size(i, k, s=1, p=0, d=1):\n    return i - k\n"},
        ),
        "raises": filled(source, release, replace={"pool_size_impl": "raise ValueError('not done')\n"}),
        "liar": filled(
            source,
            release,
            fill=set(),
            replace={
                "conv_size_impl": (
                    "class Any(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n"
                    "def conv2d_output_size(i, k, s=1, p=0, d=1):\n    return Any(0)\n"
                )
            },
        ),
    }
    for name, nb in wrong.items():
        (folder / f"{name}.ipynb").write_text(json.dumps(nb))
    (folder / "badjson.ipynb").write_text('{"cells": [')


def _gradebook(url: str) -> dict[str, tuple[float, dict[str, float]]]:
    """{student: (score, {grade cell: score})} as nbgrader's Gradebook reads them."""
    import warnings

    from nbgrader.api import Gradebook

    with warnings.catch_warnings(), Gradebook(url) as gb:
        warnings.simplefilter("ignore")
        return {
            s.student.id: (s.score, {g.name: g.score for nb in s.notebooks for g in nb.grades})
            for s in gb.assignment_submissions(A)
        }


def _rows_per_student(url: str) -> dict[str, int]:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    with engine.connect() as c:
        rows = c.execute(sqlalchemy.text("SELECT student_id, count(*) FROM submitted_assignment GROUP BY student_id"))
        out = {student: n for student, n in rows}
    engine.dispose()
    return out


def _csv(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as f:
        return {r["student"]: r for r in csv.DictReader(f)}


def _children(pid: int) -> set[int]:
    """Process ids whose parent is ``pid``."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def _alive(pids: set[int]) -> set[int]:
    return {p for p in pids if Path(f"/proc/{p}").exists()}


@pytest.fixture(scope="module")
def procs(tmp_path_factory):
    """One local TLS cluster (a scheduler, two workers) for every test of the module."""
    with LocalProcesses(2, tmp_path_factory.mktemp("cluster")) as p:
        yield p


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory) -> dict[str, Path]:
    """Certificates of another CA: what an outsider can make for himself."""
    return make_certs(tmp_path_factory.mktemp("other-ca"))


def _security(ca, cert=None, key=None):
    from distributed.security import Security

    return Security(
        tls_ca_file=str(ca),
        tls_client_cert=cert and str(cert),
        tls_client_key=key and str(key),
        require_encryption=True,
    )


def test_the_cluster_speaks_tls_only_and_serves_certificate_holders(procs):
    from distributed import Client

    from autograde import cluster

    c = procs.certs
    with cluster.connect(procs.address, cluster.security(*(str(c[k]) for k in ("ca", "client_cert", "client_key")))):
        pass  # what make grade --tls-ca --tls-cert --tls-key builds reaches the cluster

    assert procs.address.startswith("tls://127.0.0.1:"), procs.address
    with Client(procs.address, security=procs.security, set_as_default=False, timeout=20) as c:
        assert len(c.scheduler_info()["workers"]) == 2
        assert set(c.run(os.getpid).values()) == {w.pid for w in procs.workers}  # the certificate holder runs code
        info = c.scheduler_info()
        ports = [info["services"].get("dashboard")] + [w["services"].get("dashboard") for w in info["workers"].values()]
    for port in filter(None, ports):  # Dask's HTTP pages (worker logs, task counts): served to no one
        for page in ("info/main/workers.html", "json/counts.json", "metrics", "health"):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/{page}", timeout=5) as r:
                    status = r.status
            except urllib.error.HTTPError as e:
                status = e.code
            except OSError:
                continue
            assert status == 404, f"port {port} serves /{page}"


@pytest.mark.parametrize("who", ["plain tcp", "certificate of another CA"])
def test_an_outsider_can_neither_connect_nor_run_code(procs, other_ca, who):
    import dask
    from distributed import Client

    port = procs.address.rsplit(":", 1)[1]
    address, sec = {
        "plain tcp": (f"tcp://127.0.0.1:{port}", None),
        "certificate of another CA": (
            procs.address,
            _security(other_ca["ca"], other_ca["client_cert"], other_ca["client_key"]),
        ),
    }[who]
    ran = []
    with dask.config.set({"distributed.comm.timeouts.connect": "5s"}), pytest.raises((OSError, TimeoutError)):
        with Client(address, security=sec, set_as_default=False, timeout=5) as c:
            ran.append(c.run(os.getpid))
    assert not ran, f"{who}: ran code on the workers"


def _tls_session(address: str, ca: Path, cert: Path | None = None, key: Path | None = None) -> str:
    """Open a TLS connection as any client could (Dask's own refuses to try without a certificate):
    'closed' if the server ends it, 'open' if it waits for the client's first message."""
    import ssl

    host, port = address.removeprefix("tls://").rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False
    if cert:
        ctx.load_cert_chain(str(cert), str(key))
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        try:
            with ctx.wrap_socket(raw) as tls:
                tls.settimeout(3)
                return "closed" if tls.recv(1) == b"" else "open"
        except TimeoutError:
            return "open"
        except (ssl.SSLError, ConnectionError):
            return "closed"


def test_a_tls_client_without_a_certificate_is_cut_off(procs):
    c = procs.certs
    assert _tls_session(procs.address, c["ca"], c["client_cert"], c["client_key"]) == "open"  # the course's
    assert _tls_session(procs.address, c["ca"]) == "closed"  # no client certificate


def test_a_worker_without_the_certificates_cannot_join(procs, other_ca, tmp_path):
    from distributed import Client

    port = procs.address.rsplit(":", 1)[1]
    oc = other_ca
    rogues = {
        "plain": [f"tcp://127.0.0.1:{port}"],
        "nocert": [procs.address, "--tls-ca-file", str(procs.certs["ca"])],
        "otherca": [
            procs.address,
            "--tls-ca-file",
            str(oc["ca"]),
            "--tls-cert",
            str(oc["node_cert"]),
            "--tls-key",
            str(oc["node_key"]),
        ],
    }
    started = []
    try:
        for name, args in rogues.items():
            cmd = [
                sys.executable,
                "-m",
                "distributed.cli.dask_worker",
                *args,
                "--name",
                f"rogue-{name}",
                "--nthreads",
                "1",
                "--no-nanny",
                "--no-dashboard",
                "--local-directory",
                str(tmp_path / name),
            ]
            with open(tmp_path / f"{name}.log", "wb") as log:
                started.append(
                    subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
                )
        time.sleep(15)  # long enough for a worker to connect and register
        with Client(procs.address, security=procs.security, set_as_default=False, timeout=20) as c:
            names = sorted(w["name"] for w in c.scheduler_info()["workers"].values())
    finally:
        for pr in started:
            if pr.poll() is None:
                os.killpg(pr.pid, signal.SIGKILL)
            pr.wait()
    assert names == ["w0", "w1"], names


def test_plain_tcp_is_refused_unless_the_network_is_trusted(tmp_path, capsys):
    subs = tmp_path / "submissions"
    subs.mkdir()
    source, release = load(A)
    (subs / "ada.ipynb").write_text(json.dumps(filled(source, release)))
    out = tmp_path / "out"
    with socket.socket() as s:  # something listens: the refusal comes before any connection
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        for address in (f"tcp://127.0.0.1:{port}", f"127.0.0.1:{port}"):
            rc = G.main([A, str(subs), "--out", str(out), "--scheduler", address])
            err = capsys.readouterr().err
            assert rc == 3 and "refusing the unencrypted scheduler address" in err and "--trusted-network" in err, err
        rc = G.main([A, str(subs), "--out", str(out), "--scheduler", f"tls://127.0.0.1:{port}"])
        err = capsys.readouterr().err
        assert rc == 3 and "TLS needs the course's certificates" in err, err
        missing = ["--tls-ca", str(tmp_path / "ca.pem"), "--tls-cert", str(tmp_path / "client.pem")]
        rc = G.main([A, str(subs), "--out", str(out), "--scheduler", f"tls://127.0.0.1:{port}", *missing])
        err = capsys.readouterr().err
        assert rc == 3 and f"{tmp_path / 'ca.pem'} is not a file" in err, err
    assert not out.exists(), list(out.rglob("*"))


def test_unreachable_scheduler_writes_nothing(tmp_path, capsys):
    import dask

    subs = tmp_path / "submissions"
    subs.mkdir()
    source, release = load(A)
    (subs / "ada.ipynb").write_text(json.dumps(filled(source, release)))
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "out"
    with dask.config.set({"distributed.comm.timeouts.connect": "3s"}):
        rc = G.main([A, str(subs), "--out", str(out), "--scheduler", f"tcp://127.0.0.1:{port}", "--trusted-network"])
    err = capsys.readouterr().err
    assert rc == 3
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in err and "nothing was" in err, err
    assert not out.exists(), list(out.rglob("*"))
    assert os.listdir(subs) == ["ada.ipynb"]


def test_grading_on_dask_loses_no_student(procs, pg_url, tmp_path, monkeypatch):  # noqa: F811
    subs = tmp_path / "submissions"
    _submissions(subs)
    local = G.grade(A, subs, out=tmp_path / "local", workers=2, quiet=True, limits=LIMITS)
    assert len(local) == N

    from distributed import Client

    written: dict[str, int] = {}
    killed: dict = {}
    write = report.write_gradebook

    with Client(procs.address, set_as_default=False, security=procs.security) as watch:

        def counting_write(db_url, a, res, *args, **kwargs):
            grade = write(db_url, a, res, *args, **kwargs)
            written[res.student] = written.get(res.student, 0) + 1
            if sum(written.values()) == KILL_AFTER:  # lose a worker while it grades a student
                busy = {}
                for _ in range(50):
                    busy = {w: keys for w, keys in watch.processing().items() if keys}
                    if busy:
                        break
                    time.sleep(0.1)
                addr = sorted(busy)[0]
                i = int(watch.scheduler_info()["workers"][addr]["name"][1:])
                killed.update(addr=addr, tasks=list(busy[addr]), children=_children(procs.workers[i].pid))
                procs.kill_worker(i)
            return grade

        monkeypatch.setattr(report, "write_gradebook", counting_write)
        t = time.monotonic()
        results = G.grade(
            A,
            subs,
            out=tmp_path / "cluster-out",
            db_url=pg_url,
            quiet=True,
            limits=LIMITS,
            scheduler=procs.address,
            security=procs.security,
        )
        took = time.monotonic() - t
        assert killed, "no worker was killed"
        assert killed["addr"] not in watch.scheduler_info()["workers"], "the killed worker is still there"

    assert killed["tasks"], "the killed worker was grading no one"
    assert not _alive(killed["children"]), "the killed worker's zygotes outlived it"
    expected = _gradebook("sqlite:///" + str(tmp_path / "local" / "gradebook.db"))
    got = _gradebook(pg_url)
    assert len(expected) == N and sorted(got) == sorted(expected)
    for student in expected:
        assert got[student] == expected[student], student
    assert written == {s: 1 for s in expected}, "a student was written more or less than once"
    assert _rows_per_student(pg_url) == {s: 1 for s in expected}
    assert sorted(r.student for r in results) == sorted(expected)
    assert _csv(tmp_path / "cluster-out" / f"grades_{A}.csv") == _csv(tmp_path / "local" / f"grades_{A}.csv")
    feedback = {p.parent.parent.name for p in (tmp_path / "cluster-out" / "feedback").glob(f"*/{A}/*.html")}
    assert feedback == set(expected)
    print(f"{N} students on 2 then 1 Dask workers: {took:.0f} s")
