"""Course tooling around nbgrader: releasing student notebooks and (later) grading submissions.

Run from the repository root, e.g. ``python -m autograde.release``.
"""
