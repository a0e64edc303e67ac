"""nbgrader configuration of the course.

The repository root is nbgrader's course root, so that `nbgrader` commands work from
there (the root `nbgrader_config.py` loads this file):

    solutions/ASSIGNMENT/NOTEBOOK.ipynb     source (instructors edit these)
    notebooks/ASSIGNMENT/NOTEBOOK.ipynb     release (generated; students open these)
    autograde/submitted/STUDENT/ASSIGNMENT/ submissions
    autograde/autograded/...                autograded copies
    autograde/feedback/...                  feedback HTML
    autograde/gradebook.db                  gradebook (sqlite)

A test (or `make grade`) can point the same layout at another root by setting
`COURSE_NBGRADER_ROOT`.
"""

import os
import sys

c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)

here = os.path.dirname(os.path.abspath(__file__))
root = os.environ.get("COURSE_NBGRADER_ROOT", os.path.dirname(here))

c.CourseDirectory.course_id = "dl-course"
c.CourseDirectory.root = root
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.submitted_directory = os.path.join("autograde", "submitted")
c.CourseDirectory.autograded_directory = os.path.join("autograde", "autograded")
c.CourseDirectory.feedback_directory = os.path.join("autograde", "feedback")
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(root, "autograde", "gradebook.db")
# generated files and caches never belong in a release
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "checkpoints", "data"]

# Stop a runaway cell instead of hanging the batch (seconds per cell).
c.ExecutePreprocessor.timeout = 300
# Releases carry no outputs; solutions may keep the outputs nbval compares.
c.ClearOutput.enabled = True
# Students see a clear message when they left a stub untouched.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# What a student wrote reaches formgrader and the feedback only inert (autograde/inert.py: sanitized
# markdown, text and checked PNG/JPEG outputs, no attachments or metadata a page interprets): the
# autograded copy is made inert after it ran and was scored, the feedback again before it is written.
sys.path.insert(0, os.path.dirname(here))
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader import preprocessors as _pp  # noqa: E402

from autograde.inert import InertNotebook  # noqa: E402

c.Autograde.autograde_preprocessors = [
    _pp.Execute,
    _pp.IgnorePattern,
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    _pp.LimitOutput,
    _pp.SaveAutoGrades,
    _pp.AssignLatePenalties,
    _pp.CheckCellMetadata,
    InertNotebook,
]
c.GenerateFeedback.preprocessors = [InertNotebook, _pp.GetGrades, CSSHTMLHeaderPreprocessor]
