"""notebooks/ is exactly what nbgrader generates from solutions/, and carries no answers."""

import json
import shutil

import nbformat
import pytest

from autograde import release
from course_utils.nbcells import is_homework
from harness import RELEASED, SOLUTIONS


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    return release.generate(tmp_path_factory.mktemp("release"))


def test_committed_release_matches_solutions(regenerated):
    diff = release.differences(regenerated)
    assert not diff, "notebooks/ is out of date -- run `make release`:\n" + "\n".join(diff)


def test_editing_a_solution_without_release_is_caught(tmp_path):
    src = tmp_path / "solutions"
    shutil.copytree(SOLUTIONS / "00_setup", src / "00_setup")
    nb_path = src / "00_setup" / "00_setup.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells[0].source += "\n\nAn edit nobody released."
    nbformat.write(nb, nb_path)
    out = release.generate(tmp_path / "out", ["00_setup"], source=src)
    shutil.copytree(RELEASED, tmp_path / "committed")
    diff = release.differences(out, tmp_path / "committed")
    assert "00_setup/00_setup.ipynb (differs)" in diff


def test_every_solution_is_released():
    assert sorted(release.assignments()) == sorted(p.name for p in RELEASED.iterdir() if p.is_dir())


@pytest.mark.parametrize("nb_path", sorted(RELEASED.glob("*/*.ipynb")), ids=lambda p: p.parent.name)
def test_release_has_no_answers_and_only_lectures_keep_outputs(nb_path):
    """Homework is released output-free; a lecture keeps exactly the outputs of its recorded run."""
    text = nb_path.read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "Rubric (TAs)"):
        assert marker not in text, f"{nb_path.name} contains {marker!r}"
    nb = json.loads(text)
    source = json.loads((SOLUTIONS / nb_path.parent.name / nb_path.name).read_text())
    lecture = not is_homework(source)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    for cell in code:
        if not lecture:
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{nb_path.name} keeps outputs"
    if lecture:
        recorded = [c["outputs"] for c in source["cells"] if c["cell_type"] == "code"]
        assert [c["outputs"] for c in code] == recorded, f"{nb_path.name}: not the outputs of the recorded run"
