"""Every notebook also works on Google Colab, without this repository around it.

The repository URL has one home, ``[project.urls] Repository`` in pyproject.toml; the set-up cell's
install line and README's "Open in Colab" badges must name exactly that URL. For every notebook in
``solutions/`` and ``notebooks/``:

- the first code cell is the set-up cell: on Colab only (``"google.colab" in sys.modules``) it
  ``%pip install``-s ``course-utils`` from the repository URL, and nothing else;
- no cell installs packages (no ``!pip install torch`` that would replace Colab's own torch), and no
  cell fetches files (``wget``, ``git clone``, ``urlretrieve``, ...);
- no cell uses a path that assumes the repository's folders or this machine (``../data``,
  ``checkpoints/x.pt``, ``/home/...``, ``os.chdir``, ``sys.path``): data and checkpoints go to the
  cache folder, ``course_utils.data.data_root()``.

course_utils' dependencies are ranges that Colab's preinstalled packages satisfy, so installing it
replaces nothing Colab ships (torch above all). README's notebook table has a badge per notebook.
"""

from __future__ import annotations

import io
import re
import tokenize
import tomllib

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from harness import RELEASED, REPO, SOLUTIONS

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
REPO_URL = PYPROJECT["project"]["urls"]["Repository"]
BRANCH = "main"  # the branch Colab badges open
NOTEBOOKS = sorted(SOLUTIONS.glob("*/*.ipynb")) + sorted(RELEASED.glob("*/*.ipynb"))
SETUP_TAG = "colab-setup"

# What a fresh Colab runtime has installed: googlecolab/backend-info, pip-freeze.txt and os-info.txt
# (August 2026). Update when Colab moves; course_utils' ranges must contain these versions.
COLAB = {
    "python": "3.13.15",
    "torch": "2.11.0",
    "torchvision": "0.26.0",
    "numpy": "2.1.3",
    "matplotlib": "3.10.0",
    "tqdm": "4.67.3",
    "ipywidgets": "7.7.1",
}

GUARD = re.compile(r"""^if\s+["']google\.colab["']\s+in\s+sys\.modules\s*:\s*$""")
INSTALL = re.compile(r"""^%pip\s+install\s+(?P<args>.+)$""")
SHELL = re.compile(r"^\s*[!%]")  # IPython shell commands and line magics
PIP_ANYWHERE = re.compile(r"\b(pip3?|conda|mamba|micromamba|uv|apt-get|apt)\b[\s\"',]+(install|add)\b")
TORCH = re.compile(r"\btorch(vision|audio)?\b")
FETCH = re.compile(
    r"^\s*!\s*(wget|curl|git\s+clone|gdown|aria2c)\b|\b(urlretrieve|urlopen|requests\.get|"
    r"httpx\.get|torch\.hub\.load|load_state_dict_from_url|download_url|gdown\.download)\b"
)
LAYOUT_DIRS = "solutions|notebooks|course_utils|autograde|tests|artifacts|benchmarks|data|checkpoints"
BAD_PATH = re.compile(rf"^(/(?!/)[\w.~-]+|~/|\.\.?/|[A-Za-z]:\\|({LAYOUT_DIRS})/)")
LAYOUT_CODE = re.compile(
    r"\bos\.chdir\(|^\s*%cd\b|\bsys\.path\.(insert|append)\(|\b__file__\b|"
    r"(Path\.cwd\(\)|os\.getcwd\(\))\s*\.\s*parent|^\s*%run\b",
    re.MULTILINE,
)
# a file name given as a literal to something that writes or reads files: relative to the current folder
LITERAL_FILE = re.compile(
    r"""\b(save_checkpoint|load_checkpoint|torch\.load|np\.load|np\.save|open|"""
    r"""pd\.read_csv)\(\s*[rbf]*["']|\b(torch\.save|np\.savez?)\(.*,\s*[rbf]*["']"""
)


def _rel(path) -> str:
    return str(path.relative_to(REPO))


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def colab_link(notebook: str) -> str:
    """The Colab address of ``notebook`` (a path in the repository), from the repository URL."""
    m = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(\.git)?/?", REPO_URL)
    assert m, f"[project.urls] Repository in pyproject.toml must be https://github.com/OWNER/NAME, got {REPO_URL!r}"
    return f"https://colab.research.google.com/github/{m[1]}/{m[2]}/blob/{BRANCH}/{notebook}"


def badge(notebook: str) -> str:
    """The README badge (markdown) that opens ``notebook`` in Colab."""
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_link(notebook)})"


# --------------------------------------------------------------------------- the rules, as functions


def setup_cell_problems(nb, url: str = REPO_URL) -> list[str]:
    """What is wrong with the notebook's first code cell as the Colab set-up cell."""
    cells = _code_cells(nb)
    if not cells:
        return ["the notebook has no code cell, so no set-up cell"]
    tagged = [i for i, c in enumerate(cells) if SETUP_TAG in c.metadata.get("tags", [])]
    problems = []
    if tagged != [0]:
        problems.append(f"the first code cell must be the only one tagged {SETUP_TAG!r} (tagged: code cells {tagged})")
    lines = cells[0].source.splitlines()
    guard = [i for i, ln in enumerate(lines) if GUARD.match(ln)]
    if not guard:
        return problems + ['the first code cell has no `if "google.colab" in sys.modules:` guard']
    if not any(re.match(r"^import sys\b", ln) for ln in lines[: guard[0]]):
        problems.append("the set-up cell must `import sys` before its guard")
    body = [ln for ln in lines[guard[0] + 1 :] if ln.strip() and not ln.strip().startswith("#")]
    if any(not ln[:1].isspace() for ln in body):
        problems.append("the set-up cell must do nothing after its Colab-only block")
    installs = [INSTALL.match(ln.strip()) for ln in body]
    if len(body) != 1 or not installs[0]:
        return problems + [f"on Colab the set-up cell must run exactly one `%pip install` line, found {body}"]
    for ln in lines[: guard[0]]:
        if SHELL.match(ln) or (ln.strip() and not re.match(r"^(import sys\b|#)", ln.strip())):
            problems.append(f"the set-up cell runs {ln.strip()!r} outside Colab too")
    args = installs[0]["args"].split()
    flags = [a for a in args if a.startswith("-")]
    if set(flags) - {"-q", "--quiet", "-qq"}:
        problems.append(
            f"the install must not use {sorted(set(flags) - {'-q', '--quiet', '-qq'})} "
            "(an upgrade or reinstall would replace Colab's torch)"
        )
    want = f'"course-utils @ git+{url}"'
    reqs = " ".join(a for a in args if not a.startswith("-"))
    if reqs != want:
        problems.append(
            f"the set-up cell must install exactly {want} (the Repository URL of pyproject.toml), it installs {reqs}"
        )
    return problems


def install_problems(nb) -> list[str]:
    """Package installs outside the set-up cell, and any install that names torch."""
    problems = []
    for i, cell in enumerate(_code_cells(nb)):
        for ln in cell.source.splitlines():
            if not PIP_ANYWHERE.search(ln):
                continue
            spec = ln.split("install", 1)[-1]
            if TORCH.search(spec):
                problems.append(f"code cell {i} reinstalls torch (Colab keeps its own): {ln.strip()!r}")
            elif i > 0:
                problems.append(f"code cell {i} installs packages (only the set-up cell may): {ln.strip()!r}")
    return problems


def fetch_problems(nb) -> list[str]:
    """Cells that download files themselves (data comes from course_utils.data.load_dataset)."""
    return [
        f"code cell {i} fetches from the network: {ln.strip()!r}"
        for i, cell in enumerate(_code_cells(nb))
        for ln in cell.source.splitlines()
        if FETCH.search(ln)
    ]


def _string_literals(source: str) -> list[str]:
    """The string literals of a cell (IPython magics and shell lines left out)."""
    py = "\n".join("" if SHELL.match(ln) else ln for ln in source.splitlines())
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(py).readline):
            if tok.type == tokenize.STRING:
                out.append(re.sub(r"^[rRbBuUfF]{0,2}('''|\"\"\"|'|\")|('''|\"\"\"|'|\")$", "", tok.string))
            elif tok.type == getattr(tokenize, "FSTRING_MIDDLE", -1):
                out.append(tok.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return out


def path_problems(nb) -> list[str]:
    """Paths that assume the repository's folders or this machine, instead of the cache folder."""
    problems = []
    for i, cell in enumerate(_code_cells(nb)):
        if i == 0:
            continue  # the set-up cell is checked on its own
        for s in _string_literals(cell.source):
            if BAD_PATH.match(s.strip()):
                problems.append(
                    f"code cell {i} uses the path {s.strip()!r}: build paths from "
                    "course_utils.data.data_root() (the cache folder) instead"
                )
        for m in LAYOUT_CODE.finditer(cell.source):
            problems.append(f"code cell {i} relies on the folder it runs in: {m.group(0).strip()!r}")
        for m in (m for ln in cell.source.splitlines() for m in [LITERAL_FILE.search(ln)] if m):
            problems.append(
                f"code cell {i} reads or writes a file named by a literal ({m.group(0)!r}): "
                "build the path from course_utils.data.data_root() (the cache folder)"
            )
    return problems


def badge_problems(readme: str, notebooks: list[str]) -> list[str]:
    """Which notebook (path in the repository) lacks its badge in README's notebook table, and stale badges."""
    rows = [ln for ln in readme.splitlines() if ln.startswith("|")]
    problems = []
    for nb in notebooks:
        name = nb.split("/")[-2]
        row = [ln for ln in rows if f"`{name}`" in ln]
        if not row:
            problems.append(f"README.md's notebook table has no row for {name}; add one ending in | {badge(nb)} |")
        elif colab_link(nb) + ")" not in row[0]:
            problems.append(
                f"README.md's row of {name} has no Open-in-Colab badge for {nb}; add this cell to it: {badge(nb)}"
            )
    prefix = colab_link("")
    for link in re.findall(r"https://colab\.research\.google\.com/github/[^)\s]+", readme):
        target = link[len(prefix) :] if link.startswith(prefix) else None
        if target is None:
            problems.append(
                f"README.md's Colab link {link} does not start with {prefix} "
                "(made from [project.urls] Repository and the branch)"
            )
        elif target not in notebooks:
            problems.append(f"README.md has a Colab badge for {target}, which is not a released notebook")
    return problems


def colab_range_problems(project: dict, colab: dict[str, str] = COLAB) -> list[str]:
    """Dependencies of course_utils (and its Python range) that Colab's own versions do not satisfy."""
    problems = []
    if colab["python"] not in SpecifierSet(project.get("requires-python", "")):
        problems.append(f"requires-python {project.get('requires-python')!r} excludes Colab's Python {colab['python']}")
    for dep in project["dependencies"]:
        req = Requirement(dep)
        have = colab.get(req.name.lower())
        if have is not None and not req.specifier.contains(have, prereleases=True):
            problems.append(
                f"{dep!r} is not satisfied by Colab's {req.name} {have}: installing course_utils would "
                f"replace it (and a restart of the runtime would be needed)"
            )
    return problems


# --------------------------------------------------------------------------- the checks


def test_repository_url_has_one_home():
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", REPO_URL), REPO_URL
    # other files name it only through the notebooks' set-up cells and README's badges (checked below)
    others = []
    for path in (
        list(REPO.glob("*.toml"))
        + list(REPO.glob("*.cfg"))
        + list(REPO.glob("course_utils/*.py"))
        + list(REPO.glob("autograde/*.py"))
        + [REPO / "Makefile"]
    ):
        if path.name != "pyproject.toml" and path.is_file() and REPO_URL in path.read_text():
            others.append(_rel(path))
    assert not others, f"the repository URL is written in {others}: read it from pyproject.toml instead"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_rel)
def test_setup_cell(path):
    problems = setup_cell_problems(nbformat.read(path, as_version=4))
    assert not problems, f"{_rel(path)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_rel)
def test_no_installs_no_downloads(path):
    nb = nbformat.read(path, as_version=4)
    problems = install_problems(nb) + fetch_problems(nb)
    assert not problems, f"{_rel(path)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_rel)
def test_no_paths_of_the_repository(path):
    problems = path_problems(nbformat.read(path, as_version=4))
    assert not problems, f"{_rel(path)}:\n" + "\n".join(problems)


def test_readme_has_a_colab_badge_per_notebook():
    notebooks = [_rel(p) for p in sorted(RELEASED.glob("*/*.ipynb"))]
    problems = badge_problems((REPO / "README.md").read_text(), notebooks)
    assert not problems, "\n".join(problems)


def test_course_utils_keeps_colabs_packages():
    problems = colab_range_problems(PYPROJECT["project"])
    assert not problems, "pyproject.toml [project]:\n" + "\n".join(problems)


# --------------------------------------------------------------------------- the rules can fail


def _nb(*sources: str, tag_first: bool = True):
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    if tag_first:
        nb.cells[0].metadata["tags"] = [SETUP_TAG]
    return nb


GOOD_SETUP = f'import sys\nif "google.colab" in sys.modules:\n    %pip install -q "course-utils @ git+{REPO_URL}"'


def test_the_rules_accept_a_good_notebook():
    nb = _nb(
        GOOD_SETUP,
        "import torch\nfrom course_utils.data import data_root, load_dataset",
        'ckpt = data_root() / "checkpoints" / "cnn.pt"\nprint(f"{3 / 2}", "a/b")',
    )
    assert setup_cell_problems(nb) == install_problems(nb) == fetch_problems(nb) == path_problems(nb) == []


@pytest.mark.parametrize(
    "first, fragment",
    [
        ("import torch", 'no `if "google.colab" in sys.modules:` guard'),
        (GOOD_SETUP.replace(REPO_URL, "https://github.com/someone/fork"), "must install exactly"),
        (GOOD_SETUP.replace("-q", "-q --upgrade"), "must not use ['--upgrade']"),
        (GOOD_SETUP + "\n    !wget https://example.com/data.zip", "exactly one `%pip install` line"),
        (GOOD_SETUP + "\n    %pip install -q torch==2.3", "exactly one `%pip install` line"),
        (GOOD_SETUP.replace('"course-utils', 'torch "course-utils'), "must install exactly"),
        ("import sys\n%pip install -q tqdm\n" + GOOD_SETUP.split("\n", 1)[1], "outside Colab too"),
        (GOOD_SETUP + "\nprint('done')", "nothing after its Colab-only block"),
    ],
)
def test_a_bad_setup_cell_is_caught(first, fragment):
    problems = setup_cell_problems(_nb(first, "x = 1"))
    assert any(fragment in p for p in problems), problems


def test_a_setup_cell_that_is_not_first_is_caught():
    problems = setup_cell_problems(_nb("import torch", GOOD_SETUP, tag_first=False))
    assert problems and "tagged" in problems[0], problems


@pytest.mark.parametrize(
    "line, fragment",
    [
        ("!pip install torch==2.3.0", "reinstalls torch"),
        ("%pip install -U torchvision", "reinstalls torch"),
        ("!pip install -q seaborn", "only the set-up cell may"),
        ('subprocess.run(["pip", "install", "torch"])', "reinstalls torch"),
        ("!wget -q https://example.com/cifar.tgz", "fetches from the network"),
        ("!git clone https://github.com/x/y", "fetches from the network"),
        ("urllib.request.urlretrieve(url, 'x.zip')", "fetches from the network"),
    ],
)
def test_installs_and_downloads_are_caught(line, fragment):
    nb = _nb(GOOD_SETUP, line)
    problems = install_problems(nb) + fetch_problems(nb)
    assert any(fragment in p for p in problems), problems


@pytest.mark.parametrize(
    "line",
    [
        'd = load_dataset("cifar10", "train", root="../data")',
        'save_checkpoint("checkpoints/cnn.pt", net)',
        'torch.save(net.state_dict(), "cnn.pt")',
        'root = "/home/student/course"',
        "img = plt.imread('notebooks/00_setup/cat.png')",
        'os.chdir("..")',
        'sys.path.insert(0, "..")',
        "%cd ..",
        'path = Path.cwd().parent / "solutions"',
        'root = f"~/courses/{name}"',
    ],
)
def test_paths_of_the_repository_are_caught(line):
    assert path_problems(_nb(GOOD_SETUP, line)), line


def test_a_missing_badge_names_the_notebook():
    nbs = ["notebooks/00_setup/00_setup.ipynb", "notebooks/03_convolution/03_convolution.ipynb"]
    readme = (
        "| # | notebook | kind | Colab |\n|---|---|---|---|\n"
        f"| 00 | `00_setup` — set-up | lecture | {badge(nbs[0])} |\n"
        "| 03 | `03_convolution` — convolution | lecture | |\n"
        f"| 09 | `09_modern_cnns` | lecture | {badge('notebooks/09_modern_cnns/09_modern_cnns.ipynb')} |\n"
    )
    problems = badge_problems(readme, nbs)
    assert len(problems) == 2, problems
    assert "notebooks/03_convolution/03_convolution.ipynb" in problems[0] and badge(nbs[1]) in problems[0]
    assert "09_modern_cnns" in problems[1] and "not a released notebook" in problems[1]
    assert (
        badge_problems(
            readme.replace("| lecture | |", f"| lecture | {badge(nbs[1])} |"),
            nbs + ["notebooks/09_modern_cnns/09_modern_cnns.ipynb"],
        )
        == []
    )


def test_a_range_colab_does_not_satisfy_is_caught():
    project = {"requires-python": ">=3.10,<3.12", "dependencies": ["torch==2.3.1", "ipywidgets>=8", "tqdm>=4"]}
    problems = colab_range_problems(project)
    assert len(problems) == 3 and "Python" in problems[0] and "torch" in problems[1] and "ipywidgets" in problems[2]
