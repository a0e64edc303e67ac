"""A Dask cluster on this machine, for the tests and the benchmark of ``make grade --scheduler``.

:class:`LocalProcesses` starts the real ``dask scheduler`` and N ``dask worker`` processes (one
thread each, no nanny, each in its own process group, so that killing one really loses that worker),
from the repository root with it on ``PYTHONPATH``, as on a grading machine (docs/cluster.md), over TLS with
certificates made for it in ``folder/certs`` (any local user can reach a loopback port), the dashboard off::

    with LocalProcesses(2, tmp / "cluster") as procs:
        grade(assignment, submissions, scheduler=procs.address, security=procs.security)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from autograde.clustercerts import make_certs
from autograde.job import REPO
from autograde.rules import LIMIT
from autograde.worker import ClusterUnavailable

WORKER_ARGS = ("--nworkers", "1", "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1")
# Without a dashboard, Dask still serves HTTP pages (worker logs, task counts, metrics) to anyone, on
# every interface: here on loopback only, and serving nothing.
HTTP = ("--no-dashboard", "--dashboard-address", "127.0.0.1:0")
NO_ROUTES = {f"DASK_DISTRIBUTED__{who}__HTTP__ROUTES": "[]" for who in ("SCHEDULER", "WORKER")}


class LocalProcesses:
    """A scheduler and ``n`` single-threaded worker processes (``w0``, ``w1``, ...); logs in ``folder``."""

    def __init__(self, n: int, folder: Path, timeout: float = LIMIT["local_cluster_s"]):
        from distributed import Client
        from distributed.security import Security

        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.workers, info = folder, [], folder / "scheduler.json"
        info.unlink(missing_ok=True)  # a last run's: its address is gone
        self.certs = make_certs(folder / "certs")
        c = self.certs
        self.tls = ("--tls-ca-file", str(c["ca"]), "--tls-cert", str(c["node_cert"]), "--tls-key", str(c["node_key"]))
        self.security = Security(
            tls_ca_file=str(c["ca"]),
            tls_client_cert=str(c["client_cert"]),
            tls_client_key=str(c["client_key"]),
            require_encryption=True,
        )
        where = ("--host", "127.0.0.1", "--port", "0", "--scheduler-file", str(info))
        self.scheduler = self._start("scheduler", "scheduler", "--protocol", "tls", *self.tls, *where)
        end = time.monotonic() + timeout
        while not info.exists() and time.monotonic() < end and self.scheduler.poll() is None:
            time.sleep(0.2)
        if not info.exists():
            self.close()
            raise ClusterUnavailable(f"the local scheduler did not start (see {folder / 'scheduler.log'})")
        self.address = json.loads(info.read_text())["address"]
        for i in range(n):
            where = ("--name", f"w{i}", "--local-directory", str(folder / f"w{i}"))
            self.workers.append(self._start("worker", f"w{i}", self.address, *WORKER_ARGS, *self.tls, *where))
        with Client(self.address, set_as_default=False, security=self.security) as client:
            client.wait_for_workers(n, timeout=timeout)

    def _start(self, what: str, name: str, *args: str) -> subprocess.Popen:
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        cmd = [sys.executable, "-m", f"distributed.cli.dask_{what}", *args, *HTTP]
        with open(self.folder / f"{name}.log", "ab") as log:
            return subprocess.Popen(
                cmd,
                cwd=REPO,
                env=dict(os.environ, PYTHONPATH=path, **NO_ROUTES),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )

    def kill_worker(self, i: int) -> None:
        """SIGKILL worker ``i``'s process group: the worker is lost, as when its machine dies."""
        os.killpg(self.workers[i].pid, signal.SIGKILL)
        self.workers[i].wait()

    def close(self) -> None:
        for p in [*self.workers, self.scheduler]:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def __enter__(self) -> LocalProcesses:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
