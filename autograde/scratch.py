"""Emptying the sandbox's writable folders between two students (standard library only: it runs in the
student zygote, inside the sandbox).

Everything a student can write lies in the folders of ``GRADER_WIPE`` (``/tmp`` and ``/dev/shm``;
the rest of the sandbox is read-only). After each student the zygote :func:`wipe` s them: every entry
is removed whatever its permissions (directories are made writable first), names, depth or kind
(fifos, sockets, hard links, symlinks are unlinked, never followed). It walks with one directory
descriptor at a time, so neither paths longer than ``PATH_MAX`` nor thousands of nested folders stop it.
Mount points (a bind of the course that lies under ``/tmp``) and the folders that lead to them stay.
What is left afterwards is returned: anything there means the sandbox is dirty, and it is replaced.
"""

from __future__ import annotations

import os
import stat
import time

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def roots() -> list[str]:
    """The writable folders of this sandbox (``GRADER_WIPE``, ``:``-separated), e.g. ``['/tmp', '/dev/shm']``."""
    spec = os.environ.get("GRADER_WIPE") or os.environ.get("GRADER_TMP", "/tmp")
    return [p for p in spec.split(":") if p and os.path.isdir(p)]


def wipe(root: str, budget_s: float = 15.0) -> list[str]:
    """Remove everything under ``root`` (not ``root`` itself); return the names left under it (``[]``:
    empty, mount points aside). Example: ``wipe('/tmp') == []``."""
    end = time.monotonic() + budget_s
    top = os.open(root, _DIR)
    dev = os.fstat(top).st_dev
    kept: set[tuple[int, int]] = set()  # folders that hold a mount point: they stay
    fd, depth = os.dup(top), 0
    try:
        while time.monotonic() < end:
            child = _empty_one(fd, dev, kept)
            if child is not None:  # go down into a folder that is not empty yet
                os.close(fd)
                fd, depth = child, depth + 1
                continue
            if depth == 0:
                break
            if os.listdir(fd):
                st = os.fstat(fd)
                kept.add((st.st_dev, st.st_ino))
            parent = os.open("..", _DIR, dir_fd=fd)
            os.close(fd)
            fd, depth = parent, depth - 1
    finally:
        os.close(fd)
        os.close(top)
    return leftovers(root)


def _empty_one(fd: int, dev: int, kept: set) -> int | None:
    """Remove the entries of the folder ``fd`` that can go at once; return a descriptor of the first
    sub-folder that is not empty (the caller goes down into it), or None when nothing is left to do."""
    for name in os.listdir(fd):
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if st.st_dev != dev or (st.st_dev, st.st_ino) in kept:
            continue  # a mount point, or a folder leading to one
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(name, dir_fd=fd)
            continue
        os.chmod(name, 0o700, dir_fd=fd)  # a folder (not a link: lstat said so) the student made read-only
        try:
            os.rmdir(name, dir_fd=fd)
        except OSError:
            return os.open(name, _DIR, dir_fd=fd)
    return None


def leftovers(root: str) -> list[str]:
    """Entries under ``root`` other than mount points and the folders leading to them.
    Example: ``leftovers('/tmp') == []`` after :func:`wipe`."""
    dev = os.stat(root).st_dev
    left = []
    for name in os.listdir(root):
        p = os.path.join(root, name)
        st = os.lstat(p)
        if st.st_dev != dev:
            continue
        if not (stat.S_ISDIR(st.st_mode) and _leads_to_mount(p, dev)):
            left.append(p)
    return left


def _leads_to_mount(path: str, dev: int) -> bool:
    """Whether ``path`` (a folder) holds only mount points and folders that lead to them."""
    try:
        names = os.listdir(path)
        for name in names:
            p = os.path.join(path, name)
            st = os.lstat(p)
            if st.st_dev == dev and not (stat.S_ISDIR(st.st_mode) and _leads_to_mount(p, dev)):
                return False
    except (OSError, RecursionError):  # unreadable, or a path too long for a mount point's: not one
        return False
    return bool(names)


# the zygote's own settings that a student's process could reach through /proc/PPID (as the same user)
_PROC_STATE = ("oom_score_adj", "autogroup")


def own_state() -> dict:
    """The zygote's scheduling, limits and /proc settings, read before any student (see :func:`restore_state`).
    Example: ``own_state()['nice'] == 0``."""
    import resource

    state = {"nice": os.getpriority(os.PRIO_PROCESS, 0), "cpus": sorted(os.sched_getaffinity(0))}
    state["rlimits"] = {r: resource.getrlimit(getattr(resource, r)) for r in dir(resource) if r.startswith("RLIMIT_")}
    for name in _PROC_STATE:
        state[name] = _read_proc(name)
    return state


def restore_state(state: dict) -> bool:
    """Put back what a student's process changed of the zygote's /proc settings (where the kernel lets
    it); True when everything equals ``state`` again."""
    for name, text in (("oom_score_adj", state["oom_score_adj"]), ("autogroup", _autogroup_nice(state["autogroup"]))):
        if text is not None and _read_proc(name) != state[name]:
            try:
                with open(f"/proc/self/{name}", "w") as f:
                    f.write(text)
            except OSError:
                pass
    try:
        return own_state() == state
    except OSError:
        return False


def _read_proc(name: str) -> str | None:
    try:
        with open(f"/proc/self/{name}") as f:
            return f.read()
    except OSError:
        return None


def _autogroup_nice(text: str | None) -> str | None:
    """``/autogroup-12 nice 0`` -> ``0``."""
    return text.split()[-1] if text and "nice" in text else None
