"""The sandbox: which one this machine has, and the command lines that start a worker's processes in it.

Per grading worker the host keeps two warm processes (``zygotes.py`` starts and stops them): the
**student zygote** (``student_runner.py``) inside the sandbox, whose command :func:`student_command` builds,
and the **trusted zygote** (``test_runner.py``) outside it. The torch-free formula process gets its own
command (:func:`formula_command`).

Sandbox backends (:func:`choose_backend`), in order of preference:

``bwrap``  bubblewrap: no network, new PID/IPC/UTS namespaces, all capabilities dropped, nothing of
           the course but ``course_utils`` and the runner files. Read-only everywhere (``/``, ``/dev``,
           the system, Python) but a private ``/tmp`` of ``tmp_mb`` and a ``/dev/shm`` of ``shm_mb``
           (size-limited tmpfs), which the zygote empties after every student (``scratch.py``); a
           zygote that cannot is replaced by a new sandbox before the next student.
``podman`` a container of the image ``COURSE_GRADER_IMAGE`` (built from the course's environment,
           see docs/grading.md): ``--network none``, read-only root, the same /tmp size, memory and process
           limits. (Docker cannot hand a container the per-student sockets; Podman can.)
``unsafe`` no isolation beyond the kernel limits of ``limits.py``: only with ``--unsafe-no-sandbox``,
           for trusted input (the instructor's own checks).

Where none is available grading refuses to start and says what to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from autograde.rules import LIMIT, LIMITS, SANDBOXES

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "student_runner.py"
RUNNER_FILES = [HERE / f"{n}.py" for n in "student_runner answers wire messages rules limits scratch".split()]


class SandboxUnavailable(RuntimeError):
    """No sandbox can run here; the message says what to install."""


def _runs(cmd: list[str], timeout: float) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=timeout).returncode == 0
    except Exception:
        return False


def have_bwrap() -> bool:
    exe = shutil.which("bwrap")
    return bool(exe) and _runs([exe, "--unshare-net", "--ro-bind", "/", "/", "true"], LIMIT["probe_s"])


def have_container(engine: str) -> bool:
    exe = shutil.which(engine)
    image = os.environ.get("COURSE_GRADER_IMAGE", "dl-course-grader")
    return bool(exe) and _runs([exe, "image", "inspect", image], LIMIT["image_probe_s"])


def choose_backend(requested: str = "auto") -> str:
    """The backend to use: ``bwrap``, ``podman`` (``rules.SANDBOXES``) or ``unsafe`` (see the module docstring)."""
    if requested == "unsafe":
        return "unsafe"
    probes = {"bwrap": have_bwrap, "podman": lambda: have_container("podman")}
    for name in SANDBOXES:  # in the rules' order of preference
        if requested in ("auto", name) and probes[name]():
            return name
        if requested == name == "bwrap":
            raise SandboxUnavailable(
                "bubblewrap (bwrap) is not installed or cannot create namespaces here: "
                "install it (Debian/Ubuntu: sudo apt-get install bubblewrap)"
            )
    raise SandboxUnavailable(
        "no sandbox is available to run students' code: install bubblewrap (Debian/Ubuntu: "
        "sudo apt-get install bubblewrap; it needs unprivileged user namespaces), or build the grading "
        "image for Podman (docs/grading.md, 'Grading without bubblewrap'). For trusted input only: "
        "--unsafe-no-sandbox."
    )


def _python_binds() -> list[str]:
    out = []
    for b in sorted(
        {
            str(Path(sys.prefix).resolve()),
            str(Path(sys.base_prefix).resolve()),
            sys.prefix,
            str(Path(sys.executable).resolve().parent.parent),
        }
    ):
        if not b.startswith("/usr/") and Path(b).exists():
            out += ["--ro-bind", b, b]
    return out


def _bwrap_base(tmp_mb: int, shm_mb: int) -> list[str]:
    """The sandbox's mounts: every writable place is a size-limited tmpfs (``/tmp``, ``/dev/shm``);
    ``/dev`` and everything else is read-only (:func:`_bwrap_seal` closes ``/`` last)."""
    cmd = [
        "bwrap",
        "--die-with-parent",
        "--new-session",
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--cap-drop",
        "ALL",
        # the private /tmp first: binds below may lie under /tmp (a course cloned there)
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--size",
        str(int(shm_mb) << 20),
        "--tmpfs",
        "/dev/shm",
        "--remount-ro",
        "/dev",
        "--size",
        str(int(tmp_mb) << 20),
        "--tmpfs",
        "/tmp",
        "--ro-bind",
        "/usr",
        "/usr",
        "--ro-bind",
        "/etc",
        "/etc",
    ]
    for d in ("bin", "lib", "lib64", "sbin"):
        p = Path("/") / d
        if p.is_symlink():
            cmd += ["--symlink", os.readlink(p), str(p)]
        elif p.exists():
            cmd += ["--ro-bind", str(p), str(p)]
    return cmd


def _env() -> dict[str, str]:
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "COURSE_QUICK": "1",
        "NBGRADER_EXECUTION": "autograde",
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
        "TQDM_DISABLE": "1",
        "MPLCONFIGDIR": "/tmp/.mpl",
        "COURSE_DATA_DIR": "/tmp/no-data",
        "GRADER_TMP": "/tmp",
    }


def student_command(backend: str, lim: dict, fd: int) -> tuple[list[str], dict, str | None]:
    """(command, environment, scratch folder to remove afterwards) of a student zygote whose control
    socket is file descriptor ``fd``."""
    import course_utils

    pkg = str(Path(course_utils.__file__).resolve().parent)
    env = _env()
    if backend == "bwrap":
        cmd = _bwrap_base(lim["tmp_mb"], lim["shm_mb"]) + _python_binds()
        cmd += ["--ro-bind", pkg, pkg]
        for f in RUNNER_FILES:
            cmd += ["--ro-bind", str(f), str(f)]
        cmd += ["--remount-ro", "/", "--chdir", "/tmp", "--clearenv"]
        for k, v in dict(env, GRADER_WIPE="/tmp:/dev/shm").items():
            cmd += ["--setenv", k, v]
        # -I: no user site, no PYTHON* variables, no script folder on sys.path; -B: no __pycache__
        return cmd + [sys.executable, "-I", "-B", str(RUNNER), "--fd", str(fd)], dict(os.environ), None
    if backend == "podman":
        # podman passes descriptors 3.. into the container: the shell moves the socket to 3 first
        image = os.environ.get("COURSE_GRADER_IMAGE", "dl-course-grader")
        cmd = [
            "sh",
            "-c",
            f'exec 3<&{fd}; exec "$@"',
            "sh",
            "podman",
            "run",
            "--rm",
            "--network",
            "none",
            "--read-only",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--pids-limit",
            str(LIMIT["pids"]),
            "--memory",
            f"{lim['memory_mb'] + LIMIT['container_extra_mb']}m",
            "--tmpfs",
            f"/tmp:size={int(lim['tmp_mb'])}m",
            "--shm-size",
            f"{int(lim['shm_mb'])}m",
            "-e",
            "GRADER_WIPE=/tmp:/dev/shm",
            "--preserve-fds",
            "1",
            "-e",
            "PYTHONPATH=/opt/course",
        ]
        for k, v in env.items():
            cmd += ["-e", f"{k}={v}"]
        return cmd + [image, "python", "/grader/student_runner.py", "--fd", "3"], dict(os.environ), None
    tmp = tempfile.mkdtemp(prefix="course-sandbox-")
    env.update(
        MPLCONFIGDIR=os.path.join(tmp, ".mpl"),
        COURSE_DATA_DIR=os.path.join(tmp, "no-data"),
        GRADER_TMP=tmp,
        GRADER_WIPE=tmp,
        HOME=tmp,
    )
    return [sys.executable, str(RUNNER), "--fd", str(fd)], env, tmp


def formula_command(backend: str) -> list[str]:
    """A torch-free Python: the base interpreter without site-packages (``-I -S``); under bubblewrap
    the course's environment is not even mounted, so nothing can bring torch back."""
    py = getattr(sys, "_base_executable", sys.executable)
    args = [py, "-I", "-S", str(RUNNER), "--formula"]
    if backend != "bwrap":
        return args
    cmd = _bwrap_base(LIMIT["formula_tmp_mb"], LIMIT["formula_shm_mb"])
    base = str(Path(sys.base_prefix).resolve())
    if not base.startswith("/usr/"):
        cmd += ["--ro-bind", base, base]
    site = Path(base) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    if site.is_dir():
        cmd += ["--tmpfs", str(site)]
    for f in RUNNER_FILES:
        cmd += ["--ro-bind", str(f), str(f)]
    return cmd + ["--remount-ro", "/", "--chdir", "/tmp", "--clearenv", "--setenv", "PATH", "/usr/bin:/bin"] + args


def default_limits(**overrides) -> dict:
    lim = dict(LIMITS)
    lim.update({k: v for k, v in overrides.items() if v is not None})
    return lim
