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
     fails, and so does code the analysis cannot finish (HW0; the other homework still reads
     ``inspect.getsource`` text, ``reach.py``). Formula functions
     (``course_utils.checks.formula_only``) run in a separate process without torch at all.
  5. The kernel enforces the limits (``limits.py``): no new processes, no network sockets, no
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
     sandbox (the *canary*); unless it earns every autograded point, no grade is written.
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
     interprets).

What is not covered
  A student's process can use its own CPU and memory up to the limits, and return wrong values
  fast; it can see the test inputs it is called with. ``student_side`` results (a torchvision
  network built from the student's blocks) are computed in the student's process and are only as
  trustworthy as the source checks of those blocks. HW3's model is judged on each held-out image
  alone, but a model that looks up the public test labels of the images it is shown is consistent
  and not detected. Side channels of the host kernel are out of scope.
"""

from __future__ import annotations

# One default per limit (``make grade`` flags override them).
LIMITS = {
    "cell": 60,  # seconds of wall time for one student cell, or one test's calls
    "notebook": 600,  # seconds of wall time for the whole notebook
    "memory_mb": 2048,  # address space a student's process may add to the zygote's
    "trusted_memory_mb": 2048,  # address space the trusted test runner may add to what torch takes at its start
    "tmp_mb": 256,  # size of the sandbox's private /tmp (tmpfs: counts as memory)
    "shm_mb": 16,  # size of the sandbox's /dev/shm (tmpfs); the rest of the sandbox is read-only
    "file_mb": 64,  # largest file a student's process may write
    "output_kb": 512,  # text output kept per notebook (the rest is cut, with a note)
    "message_mb": 256,  # largest message the host accepts from a student's process
    "extra_files_mb": 200,  # other files of one submission (a checkpoint), all together
    "notebook_mb": 50,  # largest notebook file read
}

# Student ids as nbgrader allows them (letters, digits and . _ @ + -), and file names we accept.
STUDENT_ID = r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$"
