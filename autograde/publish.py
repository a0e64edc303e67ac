"""Publish the students' repository: the released notebooks, ``course_utils`` and the files around them.

The students' repository is a git repository of its own, made from this one: ``notebooks/`` as released
(``make release``), ``course_utils/``, the environment files, and a students' README, Makefile and
``.gitignore`` from the templates in ``autograde/students/``. Nothing else of this repository goes there
(no ``solutions/``, hidden tests, rubrics, ``autograde/``, tests or benchmarks).

Each publication is one commit on top of the students' repository and a version tag. The Colab set-up
cell of every published notebook installs ``course_utils`` from the students' repository at that tag, so a
notebook opened from a release runs with the helpers of the same release. The students' repository URL
is ``[tool.course] students_repository`` in pyproject.toml; the version defaults to ``[project] version``.

    python -m autograde.publish DEST [--version v0.1.0]      # make publish DEST=... [VERSION=...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from course_utils.nbcells import is_homework

REPO = Path(__file__).resolve().parent.parent
RELEASE, TEMPLATES = REPO / "notebooks", Path(__file__).resolve().parent / "students"
ENVIRONMENT_FILES = ("requirements.txt", "environment.yml")
# packages only instructors and TAs use (grading database, tests, linter): not in the students' files
# the graders' tools: nbgrader (its server extensions add formgrader and "Create assignment" to JupyterLab),
# Dask and its certificates, the similarity report, the database driver, the test and lint tools
INSTRUCTORS_ONLY = (
    "nbgrader",
    "dask",
    "cryptography",
    "copydetect",
    "psycopg2-binary",
    "playwright",
    "ruff",
    "pytest",
    "nbval",
)
# the sections of pyproject.toml that build course_utils; the rest configures this repository's tools
PACKAGE_SECTIONS = ("build-system", "project", "project.optional-dependencies", "project.urls", "tool.setuptools")


class PublishError(RuntimeError):
    """The students' repository cannot be published as asked (the message says why)."""


def settings(pyproject: Path = REPO / "pyproject.toml") -> tuple[str, str, str]:
    """(instructors' repository URL, students' repository URL, default tag) from pyproject.toml."""
    data = tomllib.loads(pyproject.read_text())
    students = data.get("tool", {}).get("course", {}).get("students_repository")
    if not students:
        raise PublishError('pyproject.toml has no [tool.course] students_repository = "https://github.com/..."')
    return data["project"]["urls"]["Repository"], students.rstrip("/"), "v" + data["project"]["version"]


def install_spec(url: str, tag: str | None = None) -> str:
    """The quoted requirement a Colab set-up cell installs: course-utils from ``url`` (at ``tag``)."""
    return f'"course-utils @ git+{url}' + (f"@{tag}" if tag else "") + '"'


def pin_setup_cell(nb: dict, source_url: str, students_url: str, tag: str) -> None:
    """Make the first code cell (the Colab set-up cell) install from ``students_url`` at ``tag``, in place."""
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
    old, new = install_spec(source_url), install_spec(students_url, tag)
    text = "".join(cell["source"])
    if text.count(old) != 1 or cell["metadata"].get("nbgrader", {}).get("checksum"):
        raise PublishError(f"the set-up cell must install {old} exactly once and carry no nbgrader checksum")
    cell["source"] = text.replace(old, new).splitlines(keepends=True)


def colab_badge(students_url: str, tag: str, notebook: str) -> str:
    """Markdown badge opening ``notebook`` (a path in the students' repository) at ``tag`` on Colab."""
    repo = re.sub(r"^https://github\.com/|\.git$", "", students_url)
    return (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"(https://colab.research.google.com/github/{repo}/blob/{tag}/{notebook})"
    )


def notebook_table(readme: str, notebooks: list[str], students_url: str, tag: str) -> str:
    """README's notebook table with badges to the students' repository (rows taken from this README)."""
    rows = [ln for ln in readme.splitlines() if ln.startswith("| ")]
    out = ["| # | notebook | kind | Colab |", "|---|---|---|---|"]
    for path in notebooks:
        name = path.split("/")[1]
        row = next((r for r in rows if f"`{name}`" in r), f"| {name.split('_')[0]} | `{name}` | | |")
        cells = row.strip("|").split(" | ")
        out.append("| " + " | ".join([c.strip() for c in cells[:3]] + [colab_badge(students_url, tag, path)]) + " |")
    return "\n".join(out)


def students_requirements(text: str, header: str) -> str:
    """An environment file without the instructors' packages and comments, under the comment ``header``."""
    only = re.compile(r"^\s*(#|(-\s+)?(" + "|".join(map(re.escape, INSTRUCTORS_ONLY)) + r")\b)")
    return header + "\n".join(ln for ln in text.splitlines() if not only.match(ln)) + "\n"


def students_pyproject(text: str, students_url: str) -> str:
    """pyproject.toml with only the sections that build course_utils, its Repository the students' one."""
    kept, section = [], ""
    for ln in text.splitlines():
        m = re.match(r"^\[([\w.-]+)\]\s*$", ln)
        section = m[1] if m else section
        if section not in PACKAGE_SECTIONS or (section == "project.urls" and ln.startswith("#")):
            continue  # the urls' comments speak of the instructors' repository
        kept.append(f'Repository = "{students_url}"' if ln.startswith("Repository =") else ln)
    return "\n".join(kept).strip() + "\n"


def write_tree(dest: Path, students_url: str, tag: str, source_url: str) -> None:
    """Write the students' files into ``dest`` (whose tracked files were removed)."""
    notebooks, lectures = [], []
    for src in sorted(RELEASE.glob("*/*.ipynb")):
        rel = src.relative_to(REPO).as_posix()
        nb = json.loads(src.read_text(encoding="utf-8"))
        pin_setup_cell(nb, source_url, students_url, tag)
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        notebooks.append(rel)
        if not is_homework(nb):
            lectures.append(rel)
    shutil.copytree(
        REPO / "course_utils",
        dest / "course_utils",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        dirs_exist_ok=True,
    )
    header = {
        "requirements.txt": "# The course's environment (make lab and make test install it; pip).\n",
        "environment.yml": "# The course's environment for conda: conda env create -f environment.yml\n",
    }
    for name in ENVIRONMENT_FILES:
        (dest / name).write_text(students_requirements((REPO / name).read_text(), header[name]))
    (dest / "pyproject.toml").write_text(students_pyproject((REPO / "pyproject.toml").read_text(), students_url))
    fill = {
        "@TAG@": tag,
        "@URL@": students_url,
        "@NAME@": students_url.rsplit("/", 1)[-1].removesuffix(".git"),
        "@NOTEBOOKS@": notebook_table((REPO / "README.md").read_text(), notebooks, students_url, tag),
        "@LECTURES@": " \\\n            ".join(lectures),
    }
    for template, target in (("README.md", "README.md"), ("Makefile", "Makefile"), ("gitignore", ".gitignore")):
        text = (TEMPLATES / template).read_text()
        for key, value in fill.items():
            text = text.replace(key, value)
        (dest / target).write_text(text)


def git(dest: Path, *args: str, check: bool = True) -> str | None:
    """Run git in ``dest`` (ignoring the caller's GIT_* variables): its stripped stdout, None if it failed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    r = subprocess.run(["git", *args], cwd=dest, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        if check:
            raise PublishError(f"git {' '.join(args)} failed in {dest}:\n{r.stderr.strip()}")
        return None
    return r.stdout.strip()


def remove_tracked(dest: Path) -> None:
    """Delete the files git tracks in ``dest``, and the folders they leave empty."""
    folders = set()
    for rel in filter(None, git(dest, "ls-files", "-z").split("\0")):
        (dest / rel).unlink(missing_ok=True)
        folders.update((dest / rel).parents)
    for folder in sorted((f for f in folders if dest in f.parents), key=lambda f: -len(f.parts)):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def prepare(dest: Path) -> None:
    """Make ``dest`` a clean git repository to publish into: a new one, or an existing students' one."""
    dest = dest.resolve()
    if dest == REPO or REPO in dest.parents or dest in REPO.parents:
        raise PublishError(f"{dest} is this repository or inside it: publish into a folder of its own")
    if dest.exists() and any(dest.iterdir()) and not (dest / ".git").exists():
        raise PublishError(
            f"{dest} is a folder with files but no git repository: give a new folder or a "
            "clone of the students' repository"
        )
    if not (dest / ".git").exists():
        dest.mkdir(parents=True, exist_ok=True)
        git(dest, "init", "-q", "-b", "main")
    elif git(dest, "status", "--porcelain"):
        raise PublishError(f"{dest} has uncommitted changes: commit or discard them first")
    if not git(dest, "config", "user.name", check=False):
        git(dest, "config", "user.name", "Course staff")
        git(dest, "config", "user.email", "course-staff@users.noreply.github.com")


def publish(dest: str | Path, version: str | None = None) -> str:
    """Publish the students' repository into ``dest`` and tag it; return the tag's commit.

    Publishing a version again with the same content does nothing; with other content it is refused.
    """
    dest = Path(dest)
    source_url, students_url, default_tag = settings()
    tag = version or default_tag
    if not re.fullmatch(r"\w[\w.+-]*", tag) or git(REPO, "check-ref-format", f"refs/tags/{tag}", check=False) is None:
        raise PublishError(f"{tag!r} is not a usable tag name")
    prepare(dest)
    has_head = bool(git(dest, "rev-parse", "--verify", "-q", "HEAD", check=False))
    remove_tracked(dest)
    write_tree(dest, students_url, tag, source_url)
    git(dest, "add", "-A", ".")
    tree = git(dest, "write-tree")
    old = git(dest, "rev-parse", "-q", "--verify", f"refs/tags/{tag}^{{commit}}", check=False)
    if old:
        if git(dest, "rev-parse", f"{old}^{{tree}}") != tree:
            if has_head:
                git(dest, "reset", "-q", "--hard", "HEAD")
            raise PublishError(f"the tag {tag} exists in {dest} with other content: publish under a new version")
        if has_head:
            git(dest, "reset", "-q", "--hard", "HEAD")
        return old
    if not has_head or git(dest, "rev-parse", "HEAD^{tree}") != tree:
        git(dest, "commit", "-q", "-m", f"Course release {tag}")
    git(dest, "tag", "-a", tag, "-m", f"Course release {tag}")
    return git(dest, "rev-parse", "HEAD")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dest", help="the students' repository: a new folder, or a clone of it")
    p.add_argument("--version", help="the tag (default: v + [project] version of pyproject.toml)")
    args = p.parse_args(argv)
    try:
        commit = publish(args.dest, args.version)
    except PublishError as e:
        print(f"make publish: {e}", file=sys.stderr)
        return 1
    tag = args.version or settings()[2]
    if git(REPO, "status", "--porcelain", "--", "notebooks", "course_utils", *ENVIRONMENT_FILES, check=False):
        print("note: notebooks/, course_utils/ or the environment files have changes not committed here: published")
    remote = git(Path(args.dest), "remote", check=False)
    if remote:
        name = "origin" if "origin" in remote.split() else remote.split()[0]
        push = f"git -C {args.dest} push {name} main {tag}"
        print(f"published {tag} ({commit[:10]}) into {args.dest}; push it with: {push}")
    else:
        print(
            f"published {tag} ({commit[:10]}) into {args.dest}, a repository with no remote; to push it: "
            f"git -C {args.dest} remote add origin URL && git -C {args.dest} push origin main {tag}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
