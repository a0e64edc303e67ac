"""How the course is running: in quick mode (tests, autograding), or being recorded (``make outputs``).

Both are read from the environment, so a notebook, the grader and the tests agree without passing flags
around. :mod:`course_utils.data` and :mod:`course_utils.runinfo` both read them; this module imports
nothing of the course, so neither has to import the other. Taught in ``00_setup`` (quick mode and the
stand-in data).

Example:
    >>> isinstance(quick_mode(), bool) and isinstance(recording(), bool)
    True
"""

from __future__ import annotations

import os

__all__ = ["quick_mode", "recording", "RECORDING_ENV"]

# Set by ``make outputs`` while it records the lectures (see autograde/outputs.py).
RECORDING_ENV = "COURSE_RECORDING"


def quick_mode() -> bool:
    """True when the course runs in quick mode (CI, autograding): small budgets, stand-in data.

    Quick mode is on when ``COURSE_QUICK=1`` or when nbgrader is executing the notebook.

    Example:
        >>> isinstance(quick_mode(), bool)
        True
    """
    return os.environ.get("COURSE_QUICK", "0") not in ("", "0") or "NBGRADER_EXECUTION" in os.environ


def recording() -> bool:
    """Whether ``make outputs`` is recording this notebook (it sets ``COURSE_RECORDING=1``).

    Example:
        >>> isinstance(recording(), bool)
        True
    """
    return os.environ.get(RECORDING_ENV, "0") not in ("", "0")
