"""`make publish` writes a students' repository that holds no answers and works on its own.

It is published into a temporary folder once; the checks read it as a student would get it: its files
(no solution, hidden test or rubric text; no instructors' folders), its git history (the tag points at
the commit), its Colab set-up cells (the students' repository at that tag), and its own Makefile (a
lecture runs; a homework's visible tests fail with their messages on a wrong answer and pass on a right one).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from autograde import publish
from harness import REPO, SOLUTIONS
from test_colab import setup_cell_problems

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
STUDENTS_URL = PYPROJECT["tool"]["course"]["students_repository"]
INSTRUCTORS_URL = PYPROJECT["project"]["urls"]["Repository"]
TAG = "v" + PYPROJECT["project"]["version"]
BLOCKS = [("### BEGIN SOLUTION", "### END SOLUTION"), ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")]
STUDENTS_FILES = {
    ".gitignore",
    "Makefile",
    "README.md",
    "course_utils",
    "environment.yml",
    "notebooks",
    "pyproject.toml",
    "requirements.txt",
}
SHORTEST_SECRET = 26  # shorter lines (`for m in net.modules():`) say nothing of an answer
# Published files that hold an assignment's answer on purpose, with the reason.
ACCEPTED = {
    ("course_utils/shapes.py", "04_hw1_layer_sizes"): "the course's reference tables: HW1 has students compare "
    "their answers with course_utils.shapes at the end",
    ("course_utils/resnets.py", "06a_hw2_residual_blocks"): "the lectures' ResNets are built from "
    "course_utils.models.Residual (defined in course_utils/resnets.py), the same public design as torchvision's "
    "BasicBlock that HW2a asks students to match (torchvision's source is as readable); HW2a grades the "
    "Bottleneck, the gradients and the written answers too",
}


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, check=True).stdout.strip()


def secret_lines() -> dict[str, str]:
    """{line: assignment} of solution blocks, hidden tests and rubrics in solutions/ that the notebooks'
    visible text does not also hold (a prompt may quote a line of its answer, on purpose)."""
    secret, public = {}, []
    for path in sorted(SOLUTIONS.glob("*/*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            text = "".join(cell["source"])
            for begin, end in BLOCKS:
                block = re.compile(re.escape(begin) + r"(.*?)" + re.escape(end), re.S)
                for m in block.finditer(text):
                    for line in m.group(1).splitlines():
                        secret.setdefault(line.strip(), path.parent.name)
                text = block.sub("", text)
            public.append(text)
    visible = "\n".join(public)
    return {s: a for s, a in secret.items() if len(s) >= SHORTEST_SECRET and s not in visible}


def leaks(files: list[Path], root: Path) -> list[str]:
    secret = secret_lines()
    out = []
    for f in files:
        text = f.read_text(encoding="utf-8", errors="replace")
        rel = f.relative_to(root).as_posix()
        out += [f"{rel}: {s!r} (from {a})" for s, a in secret.items() if s in text and (rel, a) not in ACCEPTED]
    return out


@pytest.fixture(scope="module")
def students(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("publish") / "students"
    publish.publish(dest)
    return dest


def published_files(root: Path, under: str = "") -> list[Path]:
    return [root / p for p in git(root, "ls-files").splitlines() if p.startswith(under)]


def test_secret_lines_are_found():
    secret = secret_lines()
    assert any("raise NotImplementedError" not in s and "relu" in s for s in secret), "HW0's solutions are missing"
    assert len({a for a in secret.values()}) >= 5, "every homework has solution blocks"


def test_no_solution_hidden_test_or_rubric_in_notebooks_and_docs(students):
    files = [f for f in published_files(students) if not f.relative_to(students).as_posix().startswith("course_utils/")]
    problems = leaks(files, students)
    for f in files:
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "Rubric (TAs)"):
            if marker in f.read_text(encoding="utf-8"):
                problems.append(f"{f.relative_to(students)} contains {marker!r}")
    assert not problems, "the students' repository holds answers:\n" + "\n".join(problems)


def test_no_solution_or_hidden_test_in_course_utils(students):
    problems = leaks(published_files(students, "course_utils/"), students)
    assert not problems, "course_utils (published, and readable by students) holds lines of an answer:\n" + "\n".join(
        problems
    )


def test_only_the_students_files(students):
    paths = git(students, "ls-files").splitlines()
    assert {p.split("/")[0] for p in paths} == STUDENTS_FILES
    bad = [p for p in paths if re.search(r"(^|/)(solutions|autograde|tests|benchmarks|rubric)", p)]
    assert not bad, bad
    released = sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir())
    assert sorted(p.split("/")[1] for p in paths if p.endswith(".ipynb")) == released


def test_tag_points_at_the_commit(students):
    assert git(students, "rev-parse", f"{TAG}^{{commit}}") == git(students, "rev-parse", "HEAD")
    assert git(students, "status", "--porcelain") == ""
    assert git(students, "rev-list", "--count", "HEAD") == "1"


def test_setup_cells_install_the_tagged_release(students):
    import nbformat

    notebooks = sorted(students.glob("notebooks/*/*.ipynb"))
    assert len(notebooks) == len(list(SOLUTIONS.glob("*/*.ipynb")))
    problems = [
        f"{p.name}: {q}"
        for p in notebooks
        for q in setup_cell_problems(nbformat.read(p, as_version=4), url=f"{STUDENTS_URL}@{TAG}")
    ]
    assert not problems, "\n".join(problems)
    mentions = [
        f.relative_to(students).as_posix()
        for f in published_files(students)
        if re.search(re.escape(INSTRUCTORS_URL) + r"(?![\w-])", f.read_text(encoding="utf-8"))
    ]
    assert not mentions, f"the instructors' repository is named in {mentions}"


def test_readme_badges_open_the_tagged_release(students):
    readme = (students / "README.md").read_text()
    owner_name = STUDENTS_URL.removeprefix("https://github.com/")
    for nb in sorted(students.glob("notebooks/*/*.ipynb")):
        link = f"https://colab.research.google.com/github/{owner_name}/blob/{TAG}/{nb.relative_to(students)}"
        assert f"]({link})" in readme, f"README has no Colab badge {link}"
    assert "make check NOTEBOOK=" in readme and "COURSE_DATA_DIR" in readme
    assert "seed" not in readme.lower() and "solutions/" not in readme


def test_environment_files_agree_and_leave_out_the_instructors_tools(students):
    pip = {ln for ln in (students / "requirements.txt").read_text().splitlines() if ln and not ln.startswith("#")}
    conda = set(re.findall(r"^ {6}- (.+)$", (students / "environment.yml").read_text(), re.M)) - {"-e ."}
    assert pip == conda and "torch==2.14.1" in pip
    tools = r"(ruff|playwright|psycopg2|pytest|nbgrader|dask|copydetect|cryptography)"
    assert not [r for r in pip if re.match(tools, r)]
    built = tomllib.loads((students / "pyproject.toml").read_text())
    assert built["project"]["urls"]["Repository"] == STUDENTS_URL
    assert set(built.get("tool", {})) == {"setuptools"}, "only the tools that build course_utils"


def test_a_new_version_goes_on_top_and_a_tag_is_never_moved(tmp_path):
    dest = tmp_path / "students"
    first = publish.publish(dest, "v1.0.0")
    assert publish.publish(dest, "v1.0.0") == first, "publishing the same version again changes nothing"
    second = publish.publish(dest, "v1.0.1")
    assert git(dest, "rev-parse", f"{second}^") == first
    assert git(dest, "rev-parse", "v1.0.0^{commit}") == first
    git(dest, "tag", "v2.0.0", first)  # a tag made elsewhere, with other content
    with pytest.raises(publish.PublishError, match="exists .* with other content"):
        publish.publish(dest, "v2.0.0")
    assert git(dest, "rev-parse", "HEAD") == second and git(dest, "status", "--porcelain") == ""
    (dest / "README.md").write_text("edited")
    with pytest.raises(publish.PublishError, match="uncommitted changes"):
        publish.publish(dest, "v1.0.2")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("not a repository")
    with pytest.raises(publish.PublishError, match="no git repository"):
        publish.publish(tmp_path / "other")
    with pytest.raises(publish.PublishError, match="inside it"):
        publish.publish(REPO / "students")
    with pytest.raises(publish.PublishError, match="not a usable tag"):
        publish.publish(tmp_path / "new", "v1..0")


def students_make(students: Path, *args: str, quick: bool) -> subprocess.CompletedProcess:
    """The students' Makefile with this environment (``-o kernel``: set up already), their course_utils first."""
    venv = Path(sys.executable).parent.parent
    env = {k: v for k, v in os.environ.items() if k != "COURSE_QUICK"}
    env.update(PYTHONPATH=str(students), MPLBACKEND="Agg", **({"COURSE_QUICK": "1"} if quick else {}))
    return subprocess.run(
        ["make", "-s", "-o", "kernel", f"VENV={venv}", *args],
        cwd=students,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_a_lecture_runs_with_the_published_course_utils(students, tmp_path):
    lecture = students / "notebooks" / "00_setup" / "00_setup.ipynb"
    nb = json.loads(lecture.read_text())
    nb["cells"].append(
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "where",
            "metadata": {},
            "outputs": [],
            "source": "import course_utils\nassert course_utils.__file__.startswith("
            f"{str(students)!r}), course_utils.__file__",
        }
    )
    copy = tmp_path / "00_setup.ipynb"
    copy.write_text(json.dumps(nb))
    r = students_make(students, "test", f"LECTURES={copy}", quick=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Every lecture notebook ran." in r.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_homework_check_reports_visible_tests(students, tmp_path):
    """HW0 with a wrong relu, the instructors' sigmoid, the rest unsolved: `make check` says which is which."""
    source = json.loads((SOLUTIONS / "01_hw0_warmup" / "01_hw0_warmup.ipynb").read_text())
    sigmoid = next(
        c["source"] for c in source["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "sigmoid_impl"
    )
    nb = json.loads((students / "notebooks" / "01_hw0_warmup" / "01_hw0_warmup.ipynb").read_text())
    for cell in nb["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if gid == "relu_impl":
            cell["source"] = "def relu(x):\n    return x\n"
        elif gid == "sigmoid_impl":
            cell["source"] = sigmoid
    work = tmp_path / "01_hw0_warmup.ipynb"
    work.write_text(json.dumps(nb))
    r = students_make(students, "check", f"NOTEBOOK={work}", quick=False)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert re.search(r"FAIL\s+relu_tests .*relu\(\[-2, -0\.5, 0, 1\.5, 3\]\)", out), out
    assert re.search(r"PASS\s+sigmoid_tests", out), out
    assert re.search(r"FAIL\s+softmax_tests .*NotImplementedError", out), out
    assert "Fix the problems above before submitting." in out, out


def test_the_push_hint_names_a_remote_the_folder_has(tmp_path, capsys):
    dest = tmp_path / "students"
    assert publish.main([str(dest), "--version", "v1.0.0"]) == 0
    said = capsys.readouterr().out
    assert "no remote" in said and f"git -C {dest} remote add origin URL" in said
    git(dest, "remote", "add", "course", "https://example.org/course.git")
    assert publish.main([str(dest), "--version", "v1.0.1"]) == 0
    said = capsys.readouterr().out
    assert f"git -C {dest} push course main v1.0.1" in said and "origin" not in said


def test_make_export_without_an_assignment_says_how_to_call_it():
    import subprocess

    r = subprocess.run(["make", "-s", "-C", str(publish.REPO), "export"], capture_output=True, text=True)
    assert r.returncode != 0
    assert "ASSIGNMENT=" in r.stdout and "FORMAT=plain|canvas|moodle" in r.stdout and "EXPORT_ARGS=" in r.stdout
