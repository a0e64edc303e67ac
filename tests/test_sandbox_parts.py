"""The sandbox's parts, attacked one by one without a sandbox: the seccomp filter read by a small
classic-BPF interpreter for both architectures it knows (x86_64 runs here, aarch64 cannot), and the
wipe of the writable folders on a folder a student has made as hard to empty as it can."""

from __future__ import annotations

import os
import socket
import struct
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "autograde"))
import limits  # noqa: E402
import scratch  # noqa: E402

PID, OTHER = 4242, 2  # the student's process; the zygote
ALLOW, EPERM = 0x7FFF0000, 0x00050001


def run_bpf(prog: bytes, arch: int, nr: int, args=()) -> int:
    """What the filter returns for one syscall (the classic BPF subset limits.py uses)."""
    data = struct.pack("iIQ6Q", nr, arch, 0, *[a & 0xFFFFFFFFFFFFFFFF for a in (list(args) + [0] * 6)[:6]])
    ins = [struct.unpack("HBBI", prog[i : i + 8]) for i in range(0, len(prog), 8)]
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = ins[pc]
        pc += 1
        if code == 0x20:  # ld w abs
            acc = struct.unpack_from("I", data, k)[0]
        elif code == 0x15:  # jeq
            pc += jt if acc == k else jf
        elif code == 0x45:  # jset
            pc += jt if acc & k else jf
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"unknown instruction {code:#x}")


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_filter_refuses_every_way_to_reach_another_process(arch):
    audit, nr = limits._ARCHES[arch]
    prog = limits.seccomp_program(arch, PID)
    ask = lambda name, *a: run_bpf(prog, audit, nr[name], a)
    for target in (OTHER, 1, 0, -1):
        assert ask("kill", target, 9) == EPERM, target
        assert ask("rt_sigqueueinfo", target, 9, 0) == EPERM, target
        assert ask("rt_tgsigqueueinfo", target, target, 9, 0) == EPERM, target
        assert ask("tgkill", target, target, 9) == EPERM, target
    for name in ("tkill", "pidfd_open", "pidfd_send_signal", "ptrace", "process_vm_writev", "process_vm_readv"):
        assert ask(name, OTHER, 9) == EPERM, name
    for name in ("shmget", "msgget", "semget", "mq_open", "ioprio_set", "migrate_pages", "move_pages", "execve"):
        assert ask(name, 0, 0) == EPERM, name
    for name in limits._SCHED_SELF:
        assert ask(name, OTHER, 0) == EPERM and ask(name, 0, 0) == ALLOW and ask(name, PID, 0) == ALLOW, name
    assert ask("setpriority", 0, OTHER, 19) == EPERM and ask("setpriority", 1, 0, 19) == EPERM
    assert ask("setpriority", 2, 0, 19) == EPERM and ask("setpriority", 0, 0, 5) == ALLOW
    assert ask("setpriority", 0, PID, 5) == ALLOW
    for cmd in (8, 10, 15):  # F_SETOWN, F_SETSIG, F_SETOWN_EX
        assert ask("fcntl", 3, cmd, OTHER) == EPERM, cmd
    assert ask("fcntl", 3, 3, 0) == ALLOW and ask("fcntl", 3, 4, 0) == ALLOW  # F_GETFL, F_SETFL
    for cmd in (0x8901, 0x8902, 0x5410, 0x5412):
        assert ask("ioctl", 3, cmd, 0) == EPERM, hex(cmd)
    assert ask("ioctl", 3, 0x5401, 0) == ALLOW  # TCGETS
    # the process itself, threads, unix sockets still work; a pid in the high word does not help
    assert ask("kill", PID, 9) == ALLOW and ask("tgkill", PID, PID + 1, 2) == ALLOW
    assert ask("rt_sigqueueinfo", PID, 10, 0) == ALLOW and ask("kill", (1 << 32) | OTHER, 9) == EPERM
    assert ask("clone", 0x00010000 | 0x00000800 | 0x00000100, 0) == ALLOW and ask("clone", 0x11, 0) == EPERM
    assert ask("socket", 1, 1, 0) == ALLOW and ask("socket", 2, 1, 0) == EPERM
    assert run_bpf(prog, 0x40000003, 37, (OTHER, 9)) == 0x80000000  # i386 ABI: killed


def test_wipe_empties_what_a_student_made_hard_to_remove(tmp_path):
    root = tmp_path / "tmp"
    root.mkdir()
    (root / "ro").mkdir()
    (root / "ro" / "torch.py").write_text("raise SystemExit\n")
    os.mkfifo(root / "ro" / "fifo")
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(root / "ro" / "sock"))
    os.link(root / "ro" / "torch.py", root / "hard")
    os.symlink("/etc", root / "ro" / "etc")  # followed, it would delete /etc: never followed
    os.symlink("loop", root / "loop")
    (root / "ro" / "torch.py").chmod(0)
    (root / "ro").chmod(0o500)
    (root / "none").mkdir(mode=0)
    here = os.getcwd()
    os.chdir(root)
    try:
        for _ in range(40):  # 40 levels of 250 characters: over PATH_MAX
            os.mkdir("d" * 250)
            os.chdir("d" * 250)
        Path("x").write_text("x")
        for _ in range(40):
            os.chdir("..")
            os.chmod("d" * 250, 0o500)
    finally:
        os.chdir(here)
    s.close()
    assert scratch.leftovers(str(root))
    assert scratch.wipe(str(root)) == [] and os.listdir(root) == []
    assert os.path.isdir("/etc") and os.listdir("/etc")
