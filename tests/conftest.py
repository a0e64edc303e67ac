import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Tests always run in quick mode: synthetic stand-in data, small budgets, no network.
os.environ.setdefault("COURSE_QUICK", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def course(tmp_path):
    from harness import Course

    return lambda *names: Course(tmp_path / "course", list(names) or None)
