"""The pinned environment is the same for pip (requirements.txt) and conda (environment.yml)."""

import re
import tomllib

from harness import REPO


def _requirement_lines(lines):
    return {ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")}


def _yml_pip_list():
    text = (REPO / "environment.yml").read_text().splitlines()
    start = next(i for i, ln in enumerate(text) if re.match(r"\s*- pip:\s*$", ln))
    out = []
    for ln in text[start + 1 :]:
        m = re.match(r"\s{6,}- (.+)$", ln)
        if not m:
            break
        out.append(m.group(1))
    return _requirement_lines(out)


def test_pip_and_conda_lists_agree():
    pip = _requirement_lines((REPO / "requirements.txt").read_text().splitlines())
    conda = _yml_pip_list() - {"-e ."}
    assert pip == conda, f"only in requirements.txt: {pip - conda}; only in environment.yml: {conda - pip}"


def test_torch_pins():
    pip = _requirement_lines((REPO / "requirements.txt").read_text().splitlines())
    assert {"torch==2.14.1", "torchvision==0.29.1"} <= pip


def test_conda_python_is_311():
    assert "- python=3.11" in (REPO / "environment.yml").read_text()


def test_course_utils_dependencies_are_ranges():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = [d for d in deps if "==" in d]
    assert not pinned, f"course_utils must not pin (Colab keeps its own torch): {pinned}"
    assert any(d.startswith("torch") for d in deps)


def test_installed_versions_match_pins():
    import torch
    import torchvision

    assert torch.__version__.split("+")[0] == "2.14.1"
    assert torchvision.__version__.split("+")[0] == "0.29.1"


def test_installed_packages_satisfy_requirements():
    """Every line of requirements.txt holds in this environment (jsonschema below 4.25 among them: no
    rfc3987-syntax, whose import costs every nbgrader, alembic and Jupyter process 2 s)."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import Requirement

    wrong = []
    for line in _requirement_lines((REPO / "requirements.txt").read_text().splitlines()):
        req = Requirement(line)
        try:
            have = version(req.name)
        except PackageNotFoundError:
            wrong.append(f"{req.name}: not installed")
            continue
        if not req.specifier.contains(have.split("+")[0], prereleases=True):
            wrong.append(f"{req.name} {have} (wanted {req.specifier})")
    assert not wrong, "run make install: " + "; ".join(wrong)
