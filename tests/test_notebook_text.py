"""What students read: the slide decks by their titles, each notebook's one "Slides:" line, code lines
no longer than the rest of the code's.

Students know the lecture slides by their titles (Lecture 2-1 (MLP), the MLP-to-CNN slides, ...); the
instructors' file names of the decks ("seed 003", ``seeds/``) never appear in a notebook (markdown, code or
stored output), the README or ``course_utils``. Random seeds (``seed_everything``, ``manual_seed``,
``seed=0``) are another matter and stay. ruff does not read notebooks (``pyproject.toml``), so the length of
their code lines, ``[tool.ruff] line-length``, is checked here.
"""

from __future__ import annotations

import re
import tomllib

import nbformat
import pytest

from harness import RELEASED, REPO, SOLUTIONS

NOTEBOOKS = sorted(SOLUTIONS.glob("*/*.ipynb")) + sorted(RELEASED.glob("*/*.ipynb"))
TEXT_FILES = [REPO / "README.md", REPO / "CONTRIBUTING.md"] + sorted((REPO / "docs").glob("*.md"))
TEXT_FILES += sorted((REPO / "course_utils").glob("*.py"))
DECK = re.compile(r"\bseeds?\s*0\d\d\b|\bseeds?/|\bthe seed's\b", re.IGNORECASE)
SLIDES = re.compile(r"^\*Slides: \S.*\*$")
LINE_LENGTH = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["ruff"]["line-length"]


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


def long_code_lines(nb, limit: int = LINE_LENGTH) -> list[str]:
    """``cell N line M: K columns`` for each line of a code cell longer than ``limit``."""
    return [
        f"cell {i} line {n}: {len(line)} columns"
        for i, cell in enumerate(nb.cells, 1)
        if cell.cell_type == "code"
        for n, line in enumerate(cell.source.splitlines(), 1)
        if len(line) > limit
    ]


def test_the_line_check_finds_long_lines():
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("x" * 200), nbformat.v4.new_code_cell("y = 1\n" + "z" * 121)]
    )
    assert long_code_lines(nb, 120) == ["cell 2 line 2: 121 columns"]
    assert long_code_lines(nb, 121) == []


def test_notebook_code_lines_within_the_line_length():
    bad = {_rel(p): found for p in NOTEBOOKS if (found := long_code_lines(nbformat.read(p, as_version=4)))}
    assert not bad, f"code lines over {LINE_LENGTH} columns ([tool.ruff] line-length), wrap them: {bad}"
