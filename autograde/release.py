"""Generate the student notebooks in ``notebooks/`` from the sources in ``solutions/``.

This is nbgrader's own ``generate_assignment`` (solutions replaced by stubs, hidden
tests removed, outputs cleared -- except in lectures, which keep the outputs of their recorded
run --, checksums of grade cells recorded), run in a scratch
course folder so no gradebook or other state is touched, then copied into place.
``check`` does the same into a temporary folder and lists every file that differs
from what is committed, so a solution edited without ``make release`` is caught.

    python -m autograde.release            # regenerate notebooks/
    python -m autograde.release --check    # exit 1 and list differences
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from course_utils.nbcells import is_homework

REPO = Path(__file__).resolve().parent.parent
SOURCE, RELEASE = REPO / "solutions", REPO / "notebooks"


def nbgrader_env(root: Path) -> dict[str, str]:
    """Environment for an nbgrader subprocess on course root ``root``.

    nbgrader calls ``alembic`` by name, so this Python's ``bin/`` goes first on PATH.
    """
    bin_dir = str(Path(sys.executable).parent)
    return dict(os.environ, COURSE_NBGRADER_ROOT=str(root), PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))


def assignments(source: Path = SOURCE) -> list[str]:
    """Assignment folder names under ``solutions/`` (each holds one or more notebooks)."""
    return sorted(p.name for p in source.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def generate(dest: Path, names: list[str] | None = None, source: Path = SOURCE) -> Path:
    """Run ``nbgrader generate_assignment`` for ``names`` into ``dest/ASSIGNMENT``; return ``dest``.

    One nbgrader run for the homework and one for the lectures (which keep their recorded outputs),
    each on a scratch course holding only those assignments (``generate_assignment "*"``)."""
    names = names or assignments(source)
    homework = [
        n for n in names if any(is_homework(json.loads(nb.read_text("utf-8"))) for nb in (source / n).glob("*.ipynb"))
    ]
    groups = [(homework, []), ([n for n in names if n not in homework], ["--ClearOutput.enabled=False"])]
    dest.mkdir(parents=True, exist_ok=True)
    for group, extra in groups:
        if group:
            _generate(dest, group, source, extra)
    return dest


def _generate(dest: Path, names: list[str], source: Path, extra: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="course-release-") as tmp:
        root = Path(tmp)
        skip = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "checkpoints", "data")
        for name in names:
            shutil.copytree(source / name, root / "solutions" / name, ignore=skip)
        (root / "autograde").mkdir()
        cmd = [sys.executable, "-m", "nbgrader", "generate_assignment", "*", "--force", "--log-level=WARN", *extra]
        r = subprocess.run(cmd, cwd=REPO, env=nbgrader_env(root), capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment {', '.join(names)} failed:\n{r.stdout}\n{r.stderr}")
        for name in names:
            if (dest / name).exists():
                shutil.rmtree(dest / name)
            shutil.copytree(root / "notebooks" / name, dest / name)


def differences(generated: Path, committed: Path = RELEASE) -> list[str]:
    """Relative paths that differ, or exist on one side only, between two release trees."""
    out: list[str] = []

    def walk(cmp: filecmp.dircmp, prefix: str) -> None:
        out.extend(f"{prefix}{n} (only in the regenerated release)" for n in cmp.left_only)
        out.extend(f"{prefix}{n} (only in notebooks/)" for n in cmp.right_only)
        for n in cmp.common_files:
            if not filecmp.cmp(Path(cmp.left) / n, Path(cmp.right) / n, shallow=False):
                out.append(f"{prefix}{n} (differs)")
        for n, sub in cmp.subdirs.items():
            walk(sub, f"{prefix}{n}/")

    walk(filecmp.dircmp(generated, committed, ignore=["__pycache__", ".ipynb_checkpoints"]), "")
    return sorted(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help="assignments to release (default: all)")
    p.add_argument("--check", action="store_true", help="compare with notebooks/ instead of writing it")
    args = p.parse_args(argv)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            diff = differences(generate(Path(tmp), args.names or None))
        if diff:
            print("notebooks/ is out of date with solutions/ -- run `make release`:\n  " + "\n  ".join(diff))
            return 1
        print("notebooks/ matches solutions/")
        return 0
    generate(RELEASE, args.names or None)
    print(f"released {', '.join(args.names or assignments())} into {RELEASE.relative_to(REPO)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
