"""The code's layout: no file over the house limit of about 400 lines, and no import cycle.

A module over the limit does more than one thing: split it by concern into modules with plain names
(CONTRIBUTING.md). Two modules that import each other, even when one of the imports waits inside a
function, are one module in two files: what both need belongs in a third that imports neither (as
``course_utils.modes`` holds quick mode for ``data`` and ``runinfo``). Imports are read from the source
(``ast``), not run, so the check costs nothing and sees every branch.
"""

from __future__ import annotations

import ast
from pathlib import Path

from harness import REPO

MAX_LINES = 400
SIZED = ("course_utils", "autograde", "benchmarks", "tests")  # every .py file below these folders
PACKAGES = ("course_utils", "autograde")  # the import graph: every module of these packages

# Files allowed over the limit while they are split, with their length when listed (none now): a file
# here may not grow, and leaves the list once it is under the limit.
OVER_LIMIT: dict[str, int] = {}
# Import cycles through imports deferred into a function, still to be broken. None may be added; one that
# is gone leaves the list.
KNOWN_DEFERRED_CYCLES: list[set[str]] = []


def python_files(root: Path, folders=SIZED) -> list[Path]:
    return sorted(p for f in folders for p in (root / f).rglob("*.py") if "__pycache__" not in p.parts)


def line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


# --------------------------------------------------------------------------- the import graph
def module_names(root: Path, packages=PACKAGES) -> dict[str, Path]:
    """{dotted module name: file} of every module of ``packages`` under ``root`` (a package by its __init__)."""
    out = {}
    for path in python_files(root, packages):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(body: list[ast.stmt], deferred: bool):
    """(import statement, whether it waits inside a function) of ``body``, without ``if TYPE_CHECKING:`` blocks."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, deferred
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _imports(node.orelse, deferred)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _imports(node.body, True)
        else:
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                for child in getattr(node, field, []) or []:
                    yield from _imports([child], deferred)


def import_edges(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, int, bool]]:
    """(module imported, line, deferred) for each import of a module of ``known`` by module ``name``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    edges = []
    for node, deferred in _imports(ast.parse(path.read_text(encoding="utf-8")).body, False):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([node.module] if node.module else []))
            # `from pkg import mod` imports the module mod; `from pkg import name` needs pkg itself
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        edges += [(t, node.lineno, deferred) for t in targets if t in known and t != name]
    return edges


def import_cycles(root: Path, known: dict[str, Path], deferred_too: bool) -> list[tuple[set[str], list[str]]]:
    """Each import cycle among ``known``: its modules, and its imports as ``file:line a -> b``."""
    graph: dict[str, dict[str, str]] = {m: {} for m in known}
    for m, path in known.items():
        for target, line, deferred in import_edges(m, path, known):
            if deferred_too or not deferred:
                graph[m].setdefault(target, f"{path.relative_to(root).as_posix()}:{line}")
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            members = set()
            while True:
                w = stack.pop()
                members.add(w)
                if w == v:
                    break
            if len(members) > 1:
                how = sorted(f"{graph[a][b]} {a} -> {b}" for a in members for b in graph[a] if b in members)
                cycles.append((members, how))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


# --------------------------------------------------------------------------- the tests
def test_no_file_over_the_limit():
    over = {}
    for path in python_files(REPO):
        rel, n = path.relative_to(REPO).as_posix(), line_count(path)
        if n > MAX_LINES and n > OVER_LIMIT.get(rel, 0):
            over[rel] = n
    assert not over, (
        f"over {MAX_LINES} lines (split each by concern into modules of plain names, keeping every public "
        f"name importable where it is imported today): {over}"
    )


def test_the_list_of_files_over_the_limit_is_current():
    now = {rel: line_count(REPO / rel) if (REPO / rel).exists() else 0 for rel in OVER_LIMIT}
    stale = {rel: n for rel, n in now.items() if n <= MAX_LINES}
    assert not stale, f"{MAX_LINES} lines or fewer now (0: gone); remove them from OVER_LIMIT: {stale}"


def test_no_import_cycle_at_import_time():
    cycles = import_cycles(REPO, module_names(REPO), deferred_too=False)
    assert not cycles, "modules that import each other when imported:\n" + "\n".join(
        "  " + "; ".join(how) for _, how in cycles
    )


def test_no_import_cycle_through_deferred_imports():
    cycles = import_cycles(REPO, module_names(REPO), deferred_too=True)
    new = [how for members, how in cycles if members not in KNOWN_DEFERRED_CYCLES]
    gone = [c for c in KNOWN_DEFERRED_CYCLES if c not in [members for members, _ in cycles]]
    assert not new, "modules that import each other (one import inside a function):\n" + "\n".join(
        "  " + "; ".join(how) for how in new
    )
    assert not gone, f"no longer a cycle: remove it from KNOWN_DEFERRED_CYCLES in tests/test_layout.py: {gone}"


def test_the_cycle_check_finds_cycles(tmp_path):
    """The analysis itself: a deferred cycle, a cycle through `from . import`, and what is not a cycle."""
    pkg = tmp_path / "course_utils"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "from .a import f\n",
        "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import C\n\ndef f():\n"
        "    from .b import g\n    return g()\n",
        "b.py": "import course_utils.a\n\ndef g():\n    return 1\n",
        "c.py": "from . import d\n\nclass C:\n    pass\n",
        "d.py": "try:\n    from course_utils.sub import e\nexcept ImportError:\n    e = None\n",
        "sub/__init__.py": "",
        "sub/e.py": "from .. import c\n",
    }
    for rel, text in files.items():
        (pkg / rel).write_text(text)
    known = module_names(tmp_path, ("course_utils",))
    assert set(known) == {f"course_utils.{m}" for m in ("a", "b", "c", "d", "sub", "sub.e")} | {"course_utils"}
    at_import = import_cycles(tmp_path, known, deferred_too=False)
    assert [m for m, _ in at_import] == [{"course_utils.c", "course_utils.d", "course_utils.sub.e"}]
    assert "course_utils/d.py:2 course_utils.d -> course_utils.sub.e" in at_import[0][1]
    every = sorted((sorted(m) for m, _ in import_cycles(tmp_path, known, deferred_too=True)), key=len)
    assert every[0] == ["course_utils.a", "course_utils.b"]  # the import in f() counts; TYPE_CHECKING's does not
