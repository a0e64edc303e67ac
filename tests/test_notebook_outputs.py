"""The outputs nbval compares are stored in the solutions, and nbval really compares them."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from harness import SOLUTIONS

CHECK = "nbval-check-output"
NOTEBOOKS = sorted(SOLUTIONS.glob("*/*.ipynb"))


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_checked_cells_have_stored_outputs(nb_path):
    nb = json.loads(nb_path.read_text())
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell["cell_type"] == "code" and CHECK in tags:
            assert cell["outputs"], (
                f"{nb_path.name}: a checked cell has no stored output "
                f"(run `make outputs`): {''.join(cell['source'])[:80]!r}"
            )
        elif cell["cell_type"] == "code":
            assert not cell["outputs"], f"{nb_path.name}: only checked cells keep outputs (run `make outputs`)"


def test_nbval_fails_on_a_changed_output(tmp_path):
    src = SOLUTIONS / "00_setup" / "00_setup.ipynb"
    nb = json.loads(src.read_text())
    cell = next(c for c in nb["cells"] if CHECK in c.get("metadata", {}).get("tags", []))
    cell["outputs"][0]["text"] = ["tensor([[ 7., 10.],\n", "        [15., 23.]])\n"]
    bad = tmp_path / "bad.ipynb"
    bad.write_text(json.dumps(nb))
    args = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "--nbval-lax",
        "--nbval-current-env",
        str(bad),
    ]
    r = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, env=dict(os.environ, COURSE_QUICK="1"))
    assert r.returncode != 0 and "23" in r.stdout, r.stdout[-2000:]
    shutil.copy(src, tmp_path / "good.ipynb")
    r = subprocess.run(
        args[:-1] + [str(tmp_path / "good.ipynb")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=dict(os.environ, COURSE_QUICK="1"),
    )
    assert r.returncode == 0, r.stdout[-2000:]
