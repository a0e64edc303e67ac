"""Interactive explorers for lectures, built on ipywidgets.

Each explorer is a function that returns a widget box; its drawing code is a plain
function too, so tests can call it without a browser.

Example:
    >>> # from course_utils.widgets import activation_explorer; activation_explorer()
"""
from __future__ import annotations

__all__: list[str] = []
