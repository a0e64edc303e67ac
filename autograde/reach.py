"""What a graded function's source reaches in the notebook, read from the notebook's text only.

The trusted test runner never runs student code, so ``inspect.getsource(relu)`` there cannot ask
the student's process (which could lie). Instead :func:`source_of` parses the student's cells
(text, with ``ast``) and returns:

1. the function's (or class method's) own source, exactly as written, first line first;
2. every top-level statement of the notebook it reaches, transitively: the helpers it calls, the
   names it reads (``_r = torch.relu`` in another cell), the imports those names come from;
3. the same code with imports resolved: ``import torch.nn.functional as G`` then ``G.relu(x)``
   becomes ``torch.nn.functional.relu(x)``, ``from torch import relu as r`` becomes
   ``r = torch.relu``, ``getattr(torch, "relu")`` becomes ``torch.relu``; docstrings dropped.

A hidden test's "must not use X" check then looks at all of it. Code a reader cannot follow
statically (``eval``, ``exec``, ``getattr`` with a computed name, ``__import__``, ``globals()``,
``__dict__``, ``__subclasses__``, ...) raises :class:`Unreadable`: graded code must be plain.

Example:
    >>> cells = [(0, "import torch as t"), (1, "_r = t.relu"), (2, "def relu(x):\\n    return _r(x)")]
    >>> "torch.relu" in source_of(("relu",), cells)
    True
"""

from __future__ import annotations

import ast
import copy

from autograde.rules import LIMIT

DYNAMIC_CALLS = {
    "eval",
    "exec",
    "compile",
    "__import__",
    "globals",
    "vars",
    "locals",
    "setattr",
    "delattr",
    "breakpoint",
}
DYNAMIC_ATTRS = {
    "__dict__",
    "__globals__",
    "__builtins__",
    "__subclasses__",
    "__getattribute__",
    "__code__",
    "__closure__",
    "__import__",
    "__loader__",
    "__spec__",
    "f_globals",
    "f_locals",
    "f_back",
    "gi_frame",
    "tb_frame",
    "import_module",
}
DYNAMIC_NAMES = {"importlib", "__builtins__", "builtins"}
MAX_REACHED = LIMIT["reached"]  # autograde/rules.py


class Unreadable(AssertionError):
    """Graded code that cannot be checked statically (the test fails with this message)."""


class _Stmt:
    def __init__(self, k: int, node: ast.stmt, text: str):
        self.k, self.node, self.text = k, node, text
        self.binds = _bound_names(node)


def _bound_names(node: ast.AST) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
    out: set[str] = set()
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
            out.add(child.id)
        elif not isinstance(child, (ast.expr_context, ast.Lambda)):
            out |= _bound_names(child)
    return out


_PARSED: dict = {}


def parse_cells(cells: list[tuple[int, str]]) -> list[_Stmt]:
    """Top-level statements of the cells that parse, in order (cells that do not parse are skipped)."""
    key = hash(tuple(cells))
    if key in _PARSED:
        return _PARSED[key]
    if len(_PARSED) > 8:
        _PARSED.clear()
    out = []
    for k, src in cells:
        try:
            tree = ast.parse(src)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in tree.body:
            out.append(_Stmt(k, node, ast.get_source_segment(src, node, padded=False) or ast.unparse(node)))
    _PARSED[key] = out
    return out


def aliases(stmts: list[_Stmt]) -> dict[str, str]:
    """Name -> dotted module path, from every import in the notebook (the last one wins)."""
    out: dict[str, str] = {}
    for s in stmts:
        for node in ast.walk(s.node):
            if isinstance(node, ast.Import):
                for a in node.names:
                    out[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                for a in node.names:
                    if a.name != "*":
                        out[a.asname or a.name] = f"{node.module}.{a.name}"
    return out


def _loaded(node: ast.AST) -> set[str]:
    """Global names a statement reads (a function's own locals and arguments are not followed)."""
    if id(node) in _LOADED:
        return _LOADED[id(node)][1]
    out = _globals_read(node)
    _LOADED[id(node)] = (node, out)  # the node is kept alive with its entry (ids stay unique)
    return out


_LOADED: dict = {}


def _globals_read(node: ast.AST) -> set[str]:
    import symtable

    try:
        src = ast.unparse(node)
        top = symtable.symtable(src, "<graded>", "exec")
    except Exception:
        return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    out: set[str] = set()
    todo = [top]
    while todo:
        t = todo.pop()
        for sym in t.get_symbols():
            if sym.is_referenced() and (t.get_type() == "module" or sym.is_global()):
                out.add(sym.get_name())
        todo.extend(t.get_children())
    return out


def _check_plain(node: ast.AST, what: str) -> None:
    for n in ast.walk(node):
        bad = None
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name):
            if n.func.id in DYNAMIC_CALLS:
                bad = f"{n.func.id}()"
            elif n.func.id in ("getattr", "hasattr") and (len(n.args) < 2 or not isinstance(n.args[1], ast.Constant)):
                bad = f"{n.func.id}() with a computed name"
        elif isinstance(n, ast.Attribute) and n.attr in DYNAMIC_ATTRS:
            bad = n.attr
        elif isinstance(n, ast.Name) and n.id in DYNAMIC_NAMES:
            bad = n.id
        elif isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names):
            bad = f"from {n.module} import *"
        if bad:
            raise Unreadable(f"{what} uses {bad}, which the grader cannot check: write it without dynamic lookups")


class _Resolve(ast.NodeTransformer):
    def __init__(self, names: dict[str, str]):
        self.names = names

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load) and node.id in self.names:
            return ast.copy_location(ast.parse(self.names[node.id], mode="eval").body, node)
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        if (
            isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and node.args[1].value.isidentifier()
        ):
            return ast.copy_location(ast.Attribute(node.args[0], node.args[1].value, ast.Load()), node)
        return node

    def visit_Import(self, node):
        return [
            ast.parse(f"{a.asname or a.name.split('.')[0]} = {a.name if a.asname else a.name.split('.')[0]}").body[0]
            for a in node.names
        ]

    def visit_ImportFrom(self, node):
        if node.level or not node.module:
            return node
        return [
            ast.parse(f"{a.asname or a.name} = {node.module}.{a.name}").body[0] for a in node.names if a.name != "*"
        ]


def _strip_docstrings(node: ast.AST) -> ast.AST:
    for n in ast.walk(node):
        if (
            isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module))
            and n.body
            and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)
            and isinstance(n.body[0].value.value, str)
        ):
            n.body = n.body[1:] or [ast.Pass()]
    return node


def _resolved(nodes: list[ast.AST], names: dict[str, str]) -> str:
    mod = ast.Module(body=[copy.deepcopy(n) for n in nodes], type_ignores=[])
    mod = ast.fix_missing_locations(_Resolve(names).visit(_strip_docstrings(mod)))
    try:
        return ast.unparse(mod)
    except Exception:
        return ""


def source_of(path: tuple[str, ...], cells: list[tuple[int, str]], before: int | None = None) -> str:
    """The source of ``path`` (("relu",) or ("BasicBlock", "forward")) as defined in ``cells`` before
    cell index ``before``, with what it reaches and resolved imports appended (module docstring)."""
    stmts = [s for s in parse_cells(cells) if before is None or s.k < before]
    name = path[0]
    owner = next((s for s in reversed(stmts) if name in s.binds), None)
    if owner is None:
        raise OSError(f"could not find the source of {'.'.join(path)} in the notebook")
    node, text = owner.node, owner.text
    if len(path) > 1 and isinstance(node, ast.ClassDef):
        method = next(
            (n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == path[1]), None
        )
        if method is not None:
            header = copy.copy(node)
            header.body = [ast.Pass()]
            header.decorator_list = node.decorator_list
            cell_src = dict(cells)[owner.k]
            text = (
                ast.unparse(header).rsplit("\n", 1)[0]
                + "\n"
                + (ast.get_source_segment(cell_src, method, padded=True) or ast.unparse(method))
            )
            node = ast.Module(
                body=[ast.ClassDef(node.name, node.bases, node.keywords, [method], node.decorator_list)],
                type_ignores=[],
            )
    what = ".".join(path)
    _check_plain(node, what)
    reached, seen, todo = [], {id(owner)}, set(_loaded(node))
    done_names: set[str] = {name}
    while todo and len(reached) < MAX_REACHED:
        n = todo.pop()
        if n in done_names:
            continue
        done_names.add(n)
        for s in stmts:
            if n in s.binds and id(s) not in seen:
                seen.add(id(s))
                _check_plain(s.node, f"{what} (through {n})")
                reached.append(s)
                todo |= _loaded(s.node) - done_names
    reached.sort(key=lambda s: stmts.index(s))
    names = aliases(stmts)
    body = node.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else [node]
    return (
        text
        + "\n# --- what it reaches in the notebook, imports resolved ---\n"
        + _resolved([s.node for s in reached], names)
        + "\n"
        + _resolved(body, names)
        + "\n"
    )


def formula_source(name: str, cells: list[tuple[int, str]], before: int | None = None) -> str:
    """The statements defining ``name`` and what it reaches, as written, in notebook order (to run in
    the torch-free process)."""
    stmts = [s for s in parse_cells(cells) if before is None or s.k < before]
    owner = next((s for s in reversed(stmts) if name in s.binds), None)
    if owner is None:
        raise OSError(f"could not find {name} in the notebook")
    _check_plain(owner.node, name)
    keep, todo, done = {id(owner)}, set(_loaded(owner.node)), {name}
    while todo:
        n = todo.pop()
        if n in done:
            continue
        done.add(n)
        last = next((s for s in reversed(stmts) if n in s.binds), None)
        if last is not None and id(last) not in keep:
            _check_plain(last.node, f"{name} (through {n})")
            keep.add(id(last))
            todo |= _loaded(last.node) - done
    return "\n".join(s.text for s in stmts if id(s) in keep) + "\n"
