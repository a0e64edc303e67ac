"""The README is a quick start and every manual it points to is there.

The README is read first by three readers (student, TA, instructor): it stays short, its layout table names
every folder of the repository, and every link between the README, CONTRIBUTING.md and ``docs/`` leads to a
file and a heading that exist (GitHub's anchors: lower case, punctuation dropped, spaces as ``-``).
"""

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
README_MAX_LINES = 200


def anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: ``anchor("The students' check") == "the-students-check"``."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Anchors of every heading of a Markdown file (outside code blocks)."""
    found, fenced = set(), False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"^#{1,6} (.+)$", line)):
            found.add(anchor(m[1]))
    return found


def test_anchor_is_githubs():
    assert anchor("How a notebook is graded") == "how-a-notebook-is-graded"
    assert anchor("The students' check") == "the-students-check"
    assert anchor("HW3: the held-out test set") == "hw3-the-held-out-test-set"


def test_readme_is_a_quick_start():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines; it is the quick start (at most {README_MAX_LINES}): move details "
        "to docs/grading.md, docs/cluster.md or CONTRIBUTING.md"
    )
    headings = [ln for ln in lines if ln.startswith("## ")]
    for reader in ("## For students", "## For TAs", "## For instructors"):
        assert any(h.startswith(reader) for h in headings), f"README.md has no section {reader!r}"
    assert headings[0] == "## Layout", f"the layout comes first in README.md, not {headings[0]!r}"


def tracked_top_level() -> set[str]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    names = {p.split("/")[0] for p in out.splitlines() if "/" in p}
    return names - {"shared"}


def test_layout_names_every_folder():
    text = (REPO / "README.md").read_text()
    layout = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    missing = sorted(f for f in tracked_top_level() if f"`{f}/" not in layout and f"`{f}`" not in layout)
    assert not missing, f"README.md's Layout table does not name {missing}"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_links_lead_somewhere(path):
    bad = []
    for target in LINK.findall(path.read_text()):
        if re.match(r"^[a-z]+:", target):
            continue  # a web address
        file, _, frag = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            bad.append(f"{target}: no file {file}")
        elif frag and dest.suffix == ".md" and frag not in anchors(dest):
            bad.append(f"{target}: no heading with anchor #{frag} in {dest.relative_to(REPO)}")
    assert not bad, f"{path.name} links to what is not there: {bad}"
