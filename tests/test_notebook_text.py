"""What students read: the slide decks by their titles, and each notebook's one "Slides:" line.

Students know the lecture slides by their titles (Lecture 2-1 (MLP), the MLP-to-CNN slides, ...); the
instructors' file names of the decks ("seed 003", ``seeds/``) never appear in a notebook (markdown, code or
stored output), the README or ``course_utils``. Random seeds (``seed_everything``, ``manual_seed``,
``seed=0``) are another matter and stay.
"""

from __future__ import annotations

import re

import nbformat
import pytest

from harness import RELEASED, REPO, SOLUTIONS

NOTEBOOKS = sorted(SOLUTIONS.glob("*/*.ipynb")) + sorted(RELEASED.glob("*/*.ipynb"))
TEXT_FILES = [REPO / "README.md", REPO / "CONTRIBUTING.md"] + sorted((REPO / "docs").glob("*.md"))
TEXT_FILES += sorted((REPO / "course_utils").glob("*.py"))
DECK = re.compile(r"\bseeds?\s*0\d\d\b|\bseeds?/|\bthe seed's\b", re.IGNORECASE)
SLIDES = re.compile(r"^\*Slides: \S.*\*$")


def _rel(path) -> str:
    return str(path.relative_to(REPO))


def _texts(nb) -> list[tuple[int, str]]:
    """(cell number, text) for every cell's source and every text output it stores."""
    out = []
    for i, cell in enumerate(nb.cells, 1):
        out.append((i, cell.source))
        for o in cell.get("outputs", []):
            text = o.get("text") or o.get("data", {}).get("text/plain", "")
            out.append((i, "".join(text) if isinstance(text, list) else str(text)))
    return out


def deck_mentions(text: str) -> list[str]:
    return [m.group(0) for m in DECK.finditer(text)]


@pytest.mark.parametrize(
    "text, found",
    [
        ("as in seed 003", ["seed 003"]),
        ("Seed 001's table", ["Seed 001"]),
        ("seeds 000 and 001", ["seeds 000"]),
        ("see shared/seeds/003_bb3e.txt", ["seeds/"]),
        ("what the seed's OpenCV code computes", ["the seed's"]),
        ("g = seed_everything(0)", []),
        ("torch.manual_seed(0)", []),
        ("data.subset(n, seed=0)", []),
        ("one run, seed 0, CPU", []),
        ("seeds shuffling and augmentation", []),
    ],
)
def test_the_rule_tells_decks_from_random_seeds(text, found):
    assert deck_mentions(text) == found


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=_rel)
def test_notebooks_name_decks_by_title(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    bad = [f"cell {i}: {m!r}" for i, text in _texts(nb) for m in deck_mentions(text)]
    assert not bad, f"{_rel(nb_path)} names slide decks by file, not by title: {bad}"


@pytest.mark.parametrize("path", TEXT_FILES, ids=_rel)
def test_readme_and_course_utils_name_decks_by_title(path):
    bad = [
        f"line {n}: {m!r}"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for m in deck_mentions(line)
    ]
    assert not bad, f"{_rel(path)} names slide decks by file, not by title: {bad}"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=_rel)
def test_one_slides_line_under_the_title(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    first = nb.cells[0]
    lines = [line for line in first.source.splitlines() if line.strip()]
    assert first.cell_type == "markdown" and lines and lines[0].startswith("# "), (
        f"{_rel(nb_path)}: the first cell should be markdown that starts with the notebook's title"
    )
    assert len(lines) > 1 and SLIDES.match(lines[1]), (
        f"{_rel(nb_path)}: the line under the title should name the slides, like "
        f"'*Slides: the MLP-to-CNN slides.*', not {lines[1] if len(lines) > 1 else None!r}"
    )
    count = sum(
        1
        for c in nb.cells
        if c.cell_type == "markdown"
        for line in c.source.splitlines()
        if line.startswith("*Slides:")
    )
    assert count == 1, f"{_rel(nb_path)}: {count} 'Slides:' lines; the slides are named in one place"
