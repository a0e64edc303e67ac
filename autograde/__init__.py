"""Course tooling around nbgrader: releasing student notebooks and grading submissions.

Run from the repository root, e.g. ``python -m autograde.release`` or ``make grade``.

Releasing: ``release.py`` (nbgrader generate_assignment into notebooks/), ``outputs.py`` (the
stored outputs nbval compares), ``publish.py`` (the students' repository, from the templates in
``students/``), ``mock_submissions.py`` (generated submissions for tests and benchmarks).

Grading (``make grade``), one module per step; the security rules and limits are in ``rules.py``::

    collect.py        submissions folder -> one Submission per student (files streamed to disk)
      roster.py       who is who: LMS download names, the roster CSV
    sheets.py         every CSV a TA opens: text never a formula, numbers stay numbers
    job.py            the assignment (nbgrader generate_assignment) and one student's cells to run
    grade.py          the batch: a pool of workers, writing results
      worker.py       one worker (student and trusted zygotes), the canary     (host, trusted)
      cluster.py      the same batch fanned out to Dask workers (--scheduler)
      clustercerts.py the cluster's CA and certificates (TLS; python -m autograde.clustercerts DIR)
      localcluster.py a scheduler and Dask workers on this machine over TLS (tests, benchmark)
      late.py         deadlines, extensions and the late policy
      final.py        the final grade: autograded + hand - the penalty of that total (every output)
      host.py         one student: cells to the student's process, tests to the trusted runner
      sandbox.py      which sandbox (bubblewrap, Podman) and the command lines of a worker's processes
      zygotes.py      starting and stopping those processes, a fresh child per student
      report.py       scores from verdicts, gradebook, autograded notebook, feedback, CSV
      classreport.py  how the class did (PNG, Markdown)
      lmszip.py       feedback zips named for Canvas's and Moodle's feedback uploads
      inert.py        student content made inert for every page a TA or student opens
    test_runner.py    the trusted runner: instructor's test cells, stand-ins    (trusted, no student code)
      reach.py        what a graded function reaches in the notebook's text
      counting.py     what a test compared (a test that compared nothing fails), answers' shape
    student_runner.py the student's process: runs student code, answers calls (sandboxed)
      answers.py      what it sends back: values made plain, figures, messages cut to the limits
      limits.py       seccomp filter and rlimits the kernel enforces on it
      scratch.py      emptying the sandbox's writable folders between students
    wire.py           the one protocol between the three, its messages in one table
    export.py         after hand grading: final grades for Canvas/Moodle, nbgrader's feedback
    similarity.py     which submissions share code or answers (make similarity; no grade touched)
      similarity_page.py  its ranked CSV and inert HTML pages

The nbgrader cell helpers (kinds, checksums, solution and hidden-test markers) are
``course_utils.nbcells``, shared with the student-side check.
"""
