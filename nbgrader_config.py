# nbgrader reads this file when run from the repository root; the course's settings
# live in autograde/nbgrader_config.py.
import os

load_subconfig(os.path.join(os.path.dirname(os.path.abspath(__file__)), "autograde", "nbgrader_config.py"))  # noqa: F821
