"""Limits the kernel enforces on a student's process (standard library only: it runs in the sandbox).

:func:`confine` is called in the student's process after it forked and before it runs any student
code. After it:

* **no new processes**: a seccomp filter makes ``fork``, ``vfork``, ``clone`` without
  ``CLONE_THREAD`` (threads still work), ``clone3``, ``execve`` and ``execveat`` fail with EPERM,
  so student code cannot start a shell, a subprocess or a copy of itself;
* **no reaching other processes**: ``ptrace``, ``process_vm_readv``/``writev``, ``kill``, ``tgkill``,
  ``rt_sigqueueinfo`` and ``rt_tgsigqueueinfo`` of any process but itself, ``tkill``, ``pidfd_*``,
  ``prlimit64``/``sched_set*``/``setpriority`` of another process, ``ioprio_set``, ``move_pages``,
  ``migrate_pages``, signal-owner commands of ``fcntl``/``ioctl`` (``F_SETOWN``, ``F_SETSIG``,
  ``FIOSETOWN``, ``SIOCSPGRP``, ``TIOCSPGRP``, ``TIOCSTI``), ``unshare``, ``setns``, ``mount``,
  ``bpf``, ``perf_event_open``, ``userfaultfd``, ``keyctl`` and io_uring fail;
* **nothing that outlives the process**: System V shared memory, queues, semaphores and POSIX
  message queues (``shmget``, ``msgget``, ``semget``, ``mq_open``) fail;
* **no network**: ``socket`` for anything but ``AF_UNIX`` fails (the sandbox has no network either;
  this holds even where it has one);
* memory (address space), CPU seconds, file size and open files are capped with rlimits; the
  process is not dumpable (``/proc/PID/mem`` and ``fd/`` of it are closed to others).

A filter cannot be removed once installed (``no_new_privs``). Unknown architectures get the rlimits
only, and :func:`confine` says so in its return value. The values are in ``rules.py``.
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import struct

try:
    from autograde.rules import LIMIT
except ImportError:  # in the sandbox, beside student_runner.py (sandbox.RUNNER_FILES)
    from rules import LIMIT  # type: ignore[no-redef]

# syscall numbers per architecture: (AUDIT_ARCH, {name: number})
_X86_64 = (
    0xC000003E,
    {
        "fork": 57,
        "vfork": 58,
        "clone": 56,
        "clone3": 435,
        "execve": 59,
        "execveat": 322,
        "ptrace": 101,
        "process_vm_readv": 310,
        "process_vm_writev": 311,
        "kill": 62,
        "tkill": 200,
        "tgkill": 234,
        "pidfd_open": 434,
        "pidfd_send_signal": 424,
        "pidfd_getfd": 438,
        "unshare": 272,
        "setns": 308,
        "mount": 165,
        "bpf": 321,
        "perf_event_open": 298,
        "userfaultfd": 323,
        "keyctl": 250,
        "io_uring_setup": 425,
        "socket": 41,
        "personality": 135,
        "process_madvise": 440,
        "kcmp": 312,
        "rt_sigqueueinfo": 129,
        "rt_tgsigqueueinfo": 297,
        "prlimit64": 302,
        "setpriority": 141,
        "sched_setaffinity": 203,
        "sched_setscheduler": 144,
        "sched_setparam": 142,
        "sched_setattr": 314,
        "ioprio_set": 251,
        "migrate_pages": 256,
        "move_pages": 279,
        "shmget": 29,
        "msgget": 68,
        "semget": 64,
        "mq_open": 240,
        "fcntl": 72,
        "ioctl": 16,
    },
)
_AARCH64 = (
    0xC00000B7,
    {
        "clone": 220,
        "clone3": 435,
        "execve": 221,
        "execveat": 281,
        "ptrace": 117,
        "process_vm_readv": 270,
        "process_vm_writev": 271,
        "kill": 129,
        "tkill": 130,
        "tgkill": 131,
        "pidfd_open": 434,
        "pidfd_send_signal": 424,
        "pidfd_getfd": 438,
        "unshare": 97,
        "setns": 268,
        "mount": 40,
        "bpf": 280,
        "perf_event_open": 241,
        "userfaultfd": 282,
        "keyctl": 219,
        "io_uring_setup": 425,
        "socket": 198,
        "personality": 92,
        "process_madvise": 440,
        "kcmp": 272,
        "rt_sigqueueinfo": 138,
        "rt_tgsigqueueinfo": 240,
        "prlimit64": 261,
        "setpriority": 140,
        "sched_setaffinity": 122,
        "sched_setscheduler": 119,
        "sched_setparam": 118,
        "sched_setattr": 274,
        "ioprio_set": 30,
        "migrate_pages": 238,
        "move_pages": 239,
        "shmget": 194,
        "msgget": 186,
        "semget": 190,
        "mq_open": 180,
        "fcntl": 25,
        "ioctl": 29,
    },
)
_ARCHES = {"x86_64": _X86_64, "amd64": _X86_64, "aarch64": _AARCH64, "arm64": _AARCH64}

# classic BPF
_LD_W_ABS, _JEQ, _JSET, _RET = 0x20, 0x15, 0x45, 0x06
_ALLOW, _KILL = 0x7FFF0000, 0x80000000
_EPERM = 0x00050000 | 1  # SECCOMP_RET_ERRNO | EPERM
_ENOSYS = 0x00050000 | 38  # clone3: glibc then falls back to clone
_CLONE_THREAD, _AF_UNIX = 0x00010000, 1
_X32_BIT = 0x40000000


def _ins(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k & 0xFFFFFFFF)


# refused outright: new processes, reaching other processes, kernel state shared with the next student
# (System V and POSIX IPC live in the sandbox's IPC namespace, which outlives one student)
_DENY = (
    "fork",
    "vfork",
    "execve",
    "execveat",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "tkill",
    "pidfd_open",
    "pidfd_send_signal",
    "pidfd_getfd",
    "unshare",
    "setns",
    "mount",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "keyctl",
    "io_uring_setup",
    "personality",
    "process_madvise",
    "kcmp",
    "ioprio_set",
    "migrate_pages",
    "move_pages",
    "shmget",
    "msgget",
    "semget",
    "mq_open",
)
# signals: only to the process itself (args[0] is its pid: kill(0) would reach the zygote's group)
_SIGNAL_SELF = ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")
# limits and scheduling: only of the process itself (args[0] is 0 or its pid)
_SCHED_SELF = ("prlimit64", "sched_setaffinity", "sched_setscheduler", "sched_setparam", "sched_setattr")
# fcntl/ioctl commands that make the kernel signal another process (F_SETOWN, F_SETSIG, F_SETOWN_EX;
# FIOSETOWN, SIOCSPGRP, TIOCSPGRP) or type into a terminal (TIOCSTI)
_FCNTL_OWNER = (8, 10, 15)
_IOCTL_OWNER = (0x8901, 0x8902, 0x5410, 0x5412)
_ARG0, _ARG1 = 16, 24  # offsets of the low words of args[0] and args[1] in struct seccomp_data


def _when(nr: int, body: list[bytes]) -> list[bytes]:
    """Run ``body`` (which always returns) for syscall ``nr``; fall through otherwise."""
    return [_ins(_LD_W_ABS, 0), _ins(_JEQ, nr, 0, len(body))] + body


def _match(offset: int, values, hit: int, miss: int) -> list[bytes]:
    """Return ``hit`` when the argument word at ``offset`` is one of ``values``, else ``miss``."""
    n = len(values)
    return (
        [_ins(_LD_W_ABS, offset)]
        + [_ins(_JEQ, v, n - i, 0) for i, v in enumerate(values)]
        + [_ins(_RET, miss), _ins(_RET, hit)]
    )


def seccomp_program(arch: str | None = None, pid: int | None = None) -> bytes | None:
    """The filter for this machine's architecture (None when unknown). ``pid``: the one process that
    may be signalled, limited or rescheduled (the caller itself). Example: ``seccomp_program('x86_64', 42)``."""
    spec = _ARCHES.get((arch or platform.machine()).lower())
    if spec is None:
        return None
    audit_arch, nr = spec
    pid = os.getpid() if pid is None else pid
    prog = [
        _ins(_LD_W_ABS, 4),
        _ins(_JEQ, audit_arch, 1, 0),
        _ins(_RET, _KILL),  # foreign ABI: kill
        _ins(_LD_W_ABS, 0),
    ]
    if audit_arch == _X86_64[0]:  # x32 syscalls: refuse
        prog += [_ins(_JSET, _X32_BIT, 0, 1), _ins(_RET, _EPERM)]
    for name in _DENY:
        if name in nr:
            prog += [_ins(_JEQ, nr[name], 0, 1), _ins(_RET, _EPERM)]
    prog += [_ins(_JEQ, nr["clone3"], 0, 1), _ins(_RET, _ENOSYS)]
    # clone: threads only (args[0] & CLONE_THREAD)
    prog += _when(
        nr["clone"], [_ins(_LD_W_ABS, _ARG0), _ins(_JSET, _CLONE_THREAD, 0, 1), _ins(_RET, _ALLOW), _ins(_RET, _EPERM)]
    )
    for name in _SIGNAL_SELF:
        prog += _when(nr[name], _match(_ARG0, (pid,), _ALLOW, _EPERM))
    for name in _SCHED_SELF:
        prog += _when(nr[name], _match(_ARG0, (0, pid), _ALLOW, _EPERM))
    # setpriority(PRIO_PROCESS, 0 or itself, ...) only: no process group, no user
    self_only = _match(_ARG1, (0, pid), _ALLOW, _EPERM)
    prog += _when(nr["setpriority"], [_ins(_LD_W_ABS, _ARG0), _ins(_JEQ, 0, 0, len(self_only) - 2)] + self_only)
    prog += _when(nr["fcntl"], _match(_ARG1, _FCNTL_OWNER, _EPERM, _ALLOW))
    prog += _when(nr["ioctl"], _match(_ARG1, _IOCTL_OWNER, _EPERM, _ALLOW))
    prog += _when(nr["socket"], _match(_ARG0, (_AF_UNIX,), _ALLOW, _EPERM))  # AF_UNIX only
    prog.append(_ins(_RET, _ALLOW))
    return b"".join(prog)


def _install(prog: bytes) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
    buf = ctypes.create_string_buffer(prog, len(prog))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(prog) // 8, ctypes.addressof(buf))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")


def not_dumpable() -> None:
    """Close this process's /proc/PID/mem, fd/ and ptrace to processes of the same user."""
    try:
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0
    except Exception:
        pass


def confine(memory_mb: int, cpu_s: int, file_mb: int, open_files: int = LIMIT["open_files"]) -> str:
    """Apply every limit to this process (irreversible); return a note ('' when all applied)."""
    not_dumpable()
    try:
        with open("/proc/self/status") as f:
            vm = next(int(x.split()[1]) * 1024 for x in f if x.startswith("VmSize:"))
    except Exception:
        vm = 0
    mem = vm + int(memory_mb) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (int(cpu_s), int(cpu_s) + LIMIT["cpu_kill_s"]))
    fsize = int(file_mb) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))
    prog = seccomp_program()
    if prog is None:
        return f"no seccomp filter for {platform.machine()}: new processes are not blocked"
    _install(prog)
    return ""
