"""The grader's security rules and limits, in one place.

What is trusted
  The host (``grade.py``, ``host.py``, ``collect.py``, ``report.py``) and the trusted test runner
  (``test_runner.py``): instructor code only. Verdicts are computed in the test runner and read by
  the host; nothing else is ever read as a verdict.

The rules
  1. Student code runs only in the student's process (``student_runner.py``), in the sandbox
     (``sandbox.py``), one fresh forked process and one fresh socket per student; it never holds a
     test cell, a hidden test, a reference value, a nonce or another student's files.
  2. What the student's process sends is data, decoded by ``wire.decode`` into exact built-in types
     (an ``int`` subclass arrives as an ``int``; a Tensor subclass as a plain tensor) or into
     stand-ins for objects that stay there. The trusted side never unpickles, never imports, never
     executes anything the student's process sent. It checks every answer's shape (``call_many``:
     exactly one answer per call, from the student's and the formula process; a value present), so
     tampering with either process's encoder or dispatcher yields wrong answers at worst. A test that
     compared nothing (no ``assert``, ``check_*`` or ``assert_close`` ran in it, or in its hidden part)
     fails (``counting.py``).
  3. Test cells always come from the instructor's source (with the hidden tests), whatever the
     submission did to them; builtins and the instructor's imports in the trusted runner are the
     real ones, whatever the notebook rebinds.
  4. "Ask PyTorch" is judged from the notebook's code in the trusted runner, never by running it:
     ``course_utils.checks.from_scratch`` (``course_utils/scratch.py``) reads every code cell, what
     each name may hold and what the graded function reaches; dynamic code anywhere in the notebook
     fails, and so does code the analysis cannot finish (every graded notebook; no hidden test reads
     ``inspect.getsource`` text). Formula functions
     (``course_utils.checks.formula_only``) run in a separate process without torch at all.
  5. Every limit is in ``TABLE`` below, once (``python -m autograde.rules`` prints it for the manual).
     The kernel enforces the limits (``limits.py``): no new processes, no network sockets, no
     signals, ptrace, limits or rescheduling of other processes, memory, CPU time, file size, open
     files; the sandbox adds no network, a read-only system, ``/`` and ``/dev``, and size-limited
     private ``/tmp`` and ``/dev/shm``, emptied after every student (a sandbox that cannot be emptied
     is replaced before the next one). The host enforces wall time per cell and per notebook, and
     the size of every message. The trusted test runner limits its own address space
     (``trusted_memory_mb``, on top of what it holds once warm); HW3's checkpoint is opened only in
     the student's process, and each held-out image is judged twice, in two secret orders.
  6. One bad submission never harms another: each is read, unpacked and graded in its own
     try/except, gets its own processes, and fails alone with its reason; the batch always ends
     with every student's row.
  7. A broken grader grades no one: the instructor's solution is graded first, in the same
     sandbox (the *canary*); unless it earns every autograded point, no grade is written. A process
     checks each batch key once (``worker.batch_key``: solution, sandbox, limits, data, grader code).
  8. No grading without a sandbox by accident: bubblewrap, else Podman, else refuse (Docker cannot be used);
     ``--unsafe-no-sandbox`` only for trusted input.
  9. Who is who comes from the LMS's ids only (``roster.py``), never a name; a file that may be two
     students' is graded for no one; every CSV cell a TA opens is text or a number, never a formula
     (``sheets.py``).
 10. Dask only over TLS with the course's certificates (``cluster.py``, ``clustercerts.py``); plain
     ``tcp://`` only with ``--trusted-network``.
 11. What a student wrote reaches a browser only inert: every notebook or page made for a TA or a
     student (autograded notebook, feedback, class report) goes through ``inert.py`` (allowlist-
     sanitized markdown, text and checked PNG/JPEG outputs, no attachments or metadata a renderer
     interprets); in ``make lab`` formgrader's pages also carry a Content-Security-Policy that runs
     only formgrader's own scripts (``labcsp.py``).

What is not covered
  A student's process can use its own CPU and memory up to the limits, and return wrong values
  fast; it can see the test inputs it is called with. ``student_side`` results (a torchvision
  network built from the student's blocks) are computed in the student's process and are only as
  trustworthy as the source checks of those blocks. HW3's model is judged on each held-out image
  alone, but a model that looks up the public test labels of the images it is shown is consistent
  and not detected. Side channels of the host kernel are out of scope.
"""

from __future__ import annotations

from typing import NamedTuple

# Standard library only: the student's and the formula process read it too (sandbox.RUNNER_FILES).


class Limit(NamedTuple):
    value: int | float
    unit: str
    where: str  # the module that reads it (and enforces it, or hands it to what does)
    meaning: str
    option: bool = False  # a ``make grade`` option (``--name``, the default here)


# Every limit of the grader, once: ``python -m autograde.rules`` prints this table for docs/grading.md.
TABLE: dict[str, Limit] = {
    # -- make grade's options
    "cell": Limit(60, "s", "host", "wall time of one student cell, or of one test's calls", True),
    "notebook": Limit(600, "s", "host", "wall time of the whole notebook", True),
    "memory_mb": Limit(2048, "MB", "student_runner", "address space a student's process may add to the zygote's", True),
    "trusted_memory_mb": Limit(
        2048, "MB", "test_runner", "address space the trusted runner may add to what it holds once warm", True
    ),
    "tmp_mb": Limit(256, "MB", "sandbox", "the sandbox's private /tmp (tmpfs: counts as memory)", True),
    "shm_mb": Limit(16, "MB", "sandbox", "the sandbox's /dev/shm (tmpfs); the rest of the sandbox is read-only", True),
    "file_mb": Limit(64, "MB", "student_runner", "largest file a student's process may write", True),
    "output_kb": Limit(512, "KB", "host", "text output kept per notebook (the rest is cut, with a note)", True),
    "message_mb": Limit(256, "MB", "host", "blobs of one message the host accepts from a student's process", True),
    "extra_files_mb": Limit(
        200, "MB", "collect", "a submission's other files (a checkpoint), all together; HW3's checkpoint unpacked", True
    ),
    "notebook_mb": Limit(50, "MB", "collect", "largest notebook file read", True),
    # -- time
    "test_cells": Limit(2, "x cell", "host", "a test cell's calls to the notebook, all together"),
    "grace_s": Limit(3.0, "s", "host", "what an interrupted cell gets to stop before its process is stopped"),
    "trusted_reply_s": Limit(30, "s", "host", "the trusted runner's answer after a test's time, and its exit"),
    "send_s": Limit(10, "s", "host", "sending one message to a student's process"),
    "cpu_extra_s": Limit(10, "s", "student_runner", "CPU time of a student's process beyond the notebook's wall time"),
    "cpu_kill_s": Limit(5, "s", "limits", "from SIGXCPU at the CPU limit to SIGKILL"),
    "sandbox_start_s": Limit(300, "s", "zygotes", "a zygote (student's or trusted) getting ready"),
    "sandbox_reply_s": Limit(30, "s", "zygotes", "the student zygote's answer to start and reap"),
    "probe_s": Limit(20, "s", "sandbox", "trying bubblewrap out"),
    "image_probe_s": Limit(30, "s", "sandbox", "looking the Podman image up"),
    # -- the student's process
    "open_files": Limit(256, "files", "limits", "open files of a student's or formula process"),
    "container_extra_mb": Limit(1024, "MB", "sandbox", "Podman's memory cap beyond memory_mb (the zygote's torch)"),
    "pids": Limit(64, "processes", "sandbox", "processes in the Podman container"),
    "stream_kchars": Limit(256, "K characters", "student_runner", "stdout (and stderr) kept per cell"),
    "image_kb": Limit(512, "KB", "student_runner", "one PNG of a figure kept (larger ones left out)"),
    "figures": Limit(5, "figures", "student_runner", "figures kept per cell"),
    "result_chars": Limit(4000, "characters", "student_runner", "repr of a cell's last value"),
    "repr_chars": Limit(2000, "characters", "student_runner", "repr a test asks for"),
    "traceback_lines": Limit(12, "lines", "student_runner", "traceback kept of a cell's error"),
    "iter_items": Limit(100_000, "items", "student_runner", "items of an iterator sent as a list"),
    "type_chars": Limit(200, "characters", "student_runner", "a handle's type name"),
    "message_chars": Limit(2000, "characters", "test_runner", "an error's message and a verdict's message"),
    "ename_chars": Limit(100, "characters", "test_runner", "an error's type name"),
    "why_chars": Limit(500, "characters", "test_runner", "why the student's process stopped"),
    # -- the formula process
    "formula_memory_mb": Limit(256, "MB", "student_runner", "address space the formula process may add"),
    "formula_cpu_s": Limit(120, "s", "student_runner", "CPU time of the formula process"),
    "formula_file_mb": Limit(1, "MB", "student_runner", "largest file the formula process may write"),
    "formula_tmp_mb": Limit(16, "MB", "sandbox", "the formula process's /tmp (bubblewrap)"),
    "formula_shm_mb": Limit(1, "MB", "sandbox", "the formula process's /dev/shm (bubblewrap)"),
    "formula_define_s": Limit(20, "s", "host", "defining one formula function"),
    "formula_call_s": Limit(10, "s", "host", "sending one call to a formula function (at most)"),
    "formula_reply_mb": Limit(16, "MB", "host", "blobs of one answer of a formula function"),
    "formula_define_reply_mb": Limit(1, "MB", "host", "blobs of the answer to a formula's definition"),
    # -- the wire (every process)
    "frame_mb": Limit(512, "MB", "wire", "one message, blobs included"),
    "header_mb": Limit(16, "MB", "wire", "its JSON part"),
    "depth": Limit(40, "levels", "wire", "nesting of lists, tuples and dicts"),
    "items": Limit(1_000_000, "items", "wire", "elements of all containers of one value"),
    "numel_m": Limit(64, "Mi elements", "wire", "elements of one tensor"),
    "tensor_dims": Limit(16, "dimensions", "wire", "dimensions of one tensor"),
    "int_bits": Limit(4096, "bits", "wire", "an int crossing the wire"),
    "float_int_bits": Limit(1100, "bits", "wire", "an int read where a float is expected"),
    # -- the trusted runner's reading of source
    "reached": Limit(400, "functions", "reach", "functions a graded function may reach (source checks)"),
    # -- reading submissions, the similarity report, the cluster
    "zip_entries": Limit(10_000, "files", "collect", "files in a submitted zip (more: the submission is refused)"),
    "similarity_chars": Limit(
        400_000, "characters", "similarity", "a submission's own cells compared (the rest left out)"
    ),
    "per_thread": Limit(2, "students", "cluster", "students in flight per Dask worker thread"),
    "worker_wait_s": Limit(60, "s", "cluster", "waiting for a first Dask worker to join"),
    "local_cluster_s": Limit(120, "s", "localcluster", "the local Dask cluster (tests, benchmark) starting"),
    "cert_days": Limit(30, "days", "clustercerts", "the course's Dask certificates' validity (`--days`)"),
}

# What each name stands for, ``LIMIT["cell"] == 60``; a misspelt name fails where it is read.
LIMIT: dict[str, int | float] = {name: lim.value for name, lim in TABLE.items()}
# ``make grade``'s options and their defaults: what a worker is handed (and may override).
LIMITS: dict[str, int | float] = {name: lim.value for name, lim in TABLE.items() if lim.option}

# The sandboxes, in order of preference (``sandbox.choose_backend``); Docker cannot hand a container the
# per-student sockets, so it is not one.
SANDBOXES = ("bwrap", "podman")

# Student ids as nbgrader allows them (letters, digits and . _ @ + -), and file names we accept.
STUDENT_ID = r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$"


def table() -> str:
    """The limits as a Markdown table (what docs/grading.md shows between its ``limits`` markers)."""
    rows = ["| limit | default | unit | read in | meaning |", "| --- | --- | --- | --- | --- |"]
    for name, lim in TABLE.items():
        shown = f"`--{name.replace('_', '-')}`" if lim.option else f"`{name}`"
        rows.append(f"| {shown} | {lim.value:,} | {lim.unit} | `{lim.where}.py` | {lim.meaning} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
