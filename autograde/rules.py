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
     executes anything the student's process sent.
  3. Test cells always come from the instructor's source (with the hidden tests), whatever the
     submission did to them; builtins and the instructor's imports in the trusted runner are the
     real ones, whatever the notebook rebinds.
  4. "Ask PyTorch" is judged from the notebook's text (``reach.py``), in the trusted runner: the
     graded function with everything it reaches in the notebook, imports resolved; code that hides
     what it calls (``eval``, computed ``getattr``, ``__dict__`` ...) fails. Formula functions
     (``course_utils.checks.formula_only``) run in a separate process without torch at all.
  5. The kernel enforces the limits (``limits.py``): no new processes, no network sockets, no
     signals or ptrace to other processes, memory, CPU time, file size, open files; the sandbox
     adds no network, a read-only system and a size-limited private /tmp. The host enforces wall
     time per cell and per notebook, and the size of every message.
  6. One bad submission never harms another: each is read, unpacked and graded in its own
     try/except, gets its own processes, and fails alone with its reason; the batch always ends
     with every student's row.
  7. A broken grader grades no one: the instructor's solution is graded first, in the same
     sandbox (the *canary*); unless it earns every autograded point, no grade is written.
  8. No grading without a sandbox by accident: bubblewrap, else Podman/Docker, else refuse;
     ``--unsafe-no-sandbox`` only for trusted input.

What is not covered
  A student's process can use its own CPU and memory up to the limits, and return wrong values
  fast; it can see the test inputs it is called with. ``student_side`` results (a torchvision
  network built from the student's blocks) are computed in the student's process and are only as
  trustworthy as the source checks of those blocks. Side channels of the host kernel are out of
  scope.
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
