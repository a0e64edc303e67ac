"""Does a graded function use what it must write from scratch? Judged from the notebook's code.

:func:`violations` reads every code cell of a notebook (text, with ``ast``; nothing is run) and
answers, for one graded name, the reasons it may use a banned object. The analysis is
conservative: where it cannot decide, it says so, and the test fails. This module holds the rules
and the messages; the flow analysis of point 2 is :mod:`course_utils.scratchflow`.

1. **Dynamic code anywhere in the notebook** fails: ``exec``, ``eval``, ``compile``,
   ``__import__``, ``globals()``, ``vars()``, ``locals()``, ``getattr``/``setattr``/``hasattr``/
   ``delattr`` with a computed name, ``__dict__``, ``__builtins__``, frames (``f_back`` ...),
   ``sys.modules``, ``get_ipython`` (magics and ``!`` lines excepted: they do nothing when
   grading), ``from X import *``, private members of a library (``torch._softmax``), loaders of
   objects from data (``torch.load``, ``pickle``) and modules outside :data:`MODULES`
   (``inspect``, ``gc``, ``ctypes``, ``importlib``, a ``.py`` file of the submission ...).
2. **What the graded name may denote.** Every binding in every cell, in any scope, flows into a
   set of dotted paths per name (``_t = torch`` gives ``_t`` the path ``torch``; ``import
   torch.nn.functional as G`` gives ``G`` ``torch.nn.functional``; a call's value may be any of
   its arguments, a container any of its elements, a method call or store on ``x`` may put its
   arguments in ``x``; ``x.attr = v`` makes every ``.attr`` possibly ``v``). A chain the
   analysis cannot finish (:data:`MAX_ROUNDS`, :data:`MAX_PATHS`) fails.
3. **What it reaches**: the graded name's values, and the student's functions, classes and
   lambdas among them, their bodies, decorators, defaults and bases, transitively.
4. **A banned object is used** where, in what it reaches, an expression may denote it (or
   something under it: ``torch.nn.ReLU()``, ``torchvision.models``), an attribute or an imported
   name has its last name (``x.relu()`` counts as ``torch.Tensor.relu``, whatever ``x`` is), or a
   string constant is its name (``operator.methodcaller("relu")``). Names compare after NFKC, as
   Python's own identifiers do (``ｒelu`` is ``relu``).

Example:
    >>> cells = ["import torch", "_t = torch", "def relu(x):\\n    return _t.relu(x)"]
    >>> violations(cells, "relu", ["torch.relu"])
    ['relu uses torch.relu (cell 3, line 2: _t.relu(x))']
"""

from __future__ import annotations

import ast
import functools

from course_utils.scratchflow import (
    DANGEROUS,
    MAX_DEPTH,
    MAX_PATHS,
    MAX_ROUNDS,
    MODULES,
    NAMED_CALLS,
    Cell,
    Flow,
    Undecidable,
    _named_call,
    _norm,
    _token_number,
)
from course_utils.scratchreal import MISSING, inspectable, resolve
from course_utils.scratchtime import TestTime

__all__ = ["MAX_DEPTH", "MAX_PATHS", "MAX_ROUNDS", "MODULES", "Ban", "dynamic_code", "violations"]

DYNAMIC_CALLS = {"eval", "exec", "compile", "__import__", "globals", "vars", "locals", "breakpoint", "get_ipython"}
DYNAMIC_NAMES = {"__builtins__", "__loader__", "__spec__", "__import__", "get_ipython"}
DYNAMIC_ATTRS = {
    "__dict__", "__globals__", "__builtins__", "__subclasses__", "__getattribute__", "__getattr__", "__setattr__",
    "__delattr__", "__code__", "__closure__", "__import__", "__loader__", "__spec__", "__reduce__", "__reduce_ex__",
    "__self__", "__func__", "__wrapped__", "__mro__", "__bases__", "__base__", "__class__", "__init_subclass__",
    "f_globals", "f_locals", "f_back", "f_builtins", "gi_frame", "tb_frame", "cr_frame", "ag_frame",
    "import_module", "get_ipython", "methodcaller", "attrgetter", "_getframe", "modules", "get_field",
    "get_type_hints", "getoutput", "load", "loads", "jit", "hub", "package", "cpp_extension", "load_library",
    "overrides", "library", "serialization", "_jit_get_operation", "decomposition_table",
}  # fmt: skip
# attribute names that are only dynamic on a library object (``self.load(...)`` of a student class is fine)
LIBRARY_ONLY = {"load", "loads", "jit", "hub", "package", "modules", "library", "overrides", "serialization"}


# ------------------------------------------------------------------------------------ the verdict
def _is_library(paths: set[str]) -> bool:
    return any(not p.startswith("<") for p in paths)


def dynamic_code(cells: list[Cell], flow: Flow | None = None) -> list[str]:
    """Where the notebook's code hides what it uses (module docstring, 1); [] when it hides nothing."""
    out = []
    for cell in cells:
        if cell.tree is None:
            continue
        for n in ast.walk(cell.tree):
            bad = None
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name):
                if n.func.id in DYNAMIC_CALLS:
                    bad = f"{n.func.id}()"
                elif n.func.id in NAMED_CALLS and _named_call(n) is None:
                    bad = f"{n.func.id}() with a computed name"
            elif isinstance(n, ast.Name) and n.id in DYNAMIC_NAMES:
                bad = n.id
            elif (
                isinstance(n, ast.Name)
                and flow is not None
                and isinstance(n.ctx, ast.Load)
                and flow.key(n) in flow.bound
            ):
                used = sorted(p for p in flow.denote(n) if p.split(".")[0].split("(")[0] in DANGEROUS)
                bad = f"the module {used[0].split('.')[0].split('(')[0]}" if used else None
            elif isinstance(n, ast.Attribute):
                if n.attr in DYNAMIC_ATTRS and n.attr not in LIBRARY_ONLY:
                    bad = n.attr
                elif flow is not None and (n.attr in LIBRARY_ONLY or (n.attr[:1] == "_" and n.attr[:2] != "__")):
                    base = flow.denote(n.value)
                    if n.attr == "modules":
                        bad = "sys.modules" if any(p == "sys" for p in base) else None
                    elif _is_library(base):
                        bad = f"{sorted(p for p in base if not p.startswith('<'))[0]}.{n.attr}"
            elif isinstance(n, ast.ImportFrom):
                if n.level or not n.module:
                    bad = "a relative import"
                elif any(a.name == "*" for a in n.names):
                    bad = f"from {n.module} import *"
                else:
                    names = [a.name for a in n.names if a.name in DYNAMIC_ATTRS or a.name in DYNAMIC_CALLS]
                    names += [a.name for a in n.names if a.name[:1] == "_" and a.name[:2] != "__"]
                    bad = f"{n.module}.{names[0]}" if names else None
            if bad:
                out.append(f"{bad} ({cell.where(n)})")
    return out


class Ban:
    """What a graded function must not use: dotted names (``torch.relu``, ``torch.nn.functional``)."""

    def __init__(self, banned: list[str]):
        if isinstance(banned, str) or not banned or not all(isinstance(b, str) and b for b in banned):
            raise TypeError("banned must be a non-empty list of dotted names, e.g. ['torch.relu']")
        self.paths = [_norm(b) for b in banned]
        self.names = {p.rsplit(".", 1)[-1] for p in self.paths}
        # the objects themselves: ``torch.nn.modules.upsampling.F.interpolate`` is ``torch.nn.functional.interpolate``
        self.objects = {id(o): b for b in self.paths if (o := resolve(b)) is not MISSING and inspectable(o)}
        self._seen: dict[str, str | None] = {}

    def path(self, p: str) -> str | None:
        """The banned name that path ``p`` may denote, or None."""
        if p not in self._seen:
            self._seen[p] = self._path(p)
        return self._seen[p]

    def _path(self, p: str) -> str | None:
        if p.startswith("?"):
            return f"{p[1:].split('(')[0]}, from a module the grader cannot check"
        base, cut = (p[:-1], True) if p.endswith("…") else (p, False)
        for b in self.paths:
            if base == b or base.startswith((b + ".", b + "(")) or (cut and b.startswith(base)):
                return b
            if base.startswith("~") and base[1:].split("(")[0].split(".")[0] == b:
                return b
        if base[:1] not in "<~?":  # a library path: does it, or a module or class on its way, name a banned object?
            segs = base.split("(")[0].split(".")
            for i in range(1, len(segs) + 1):
                o = resolve(".".join(segs[:i]))
                if o is not MISSING and id(o) in self.objects:
                    return self.objects[id(o)]
        return None

    def name(self, s: str) -> str | None:
        s = _norm(s).strip()
        for b in self.paths:
            if s == b or s == b.rsplit(".", 1)[-1] or s.startswith(b + "."):
                return b
        return None


def _uses(flow: Flow, at_test: Flow, ban: Ban, graded: str) -> list[str]:
    """Where what ``graded`` reaches may use a banned name (module docstring, 3 and 4); ``at_test``: the
    values its code works on when a test calls it (:class:`course_utils.scratchtime.TestTime`)."""
    out: list[str] = []
    values = flow.env.get(graded, set())
    for p in sorted(values):
        b = ban.path(p)
        if b:
            out.append(f"{graded} may be {b}")
    todo = sorted({_token_number(p) for p in values if p.startswith("<")})
    done: set[int] = set()
    seen: set[tuple] = set()
    while todo:
        k = todo.pop()
        if k in done:
            continue
        done.add(k)
        node, cell = flow.nodes[k]
        for n in ast.walk(node):
            b = None
            if isinstance(getattr(n, "ctx", None), ast.Store):
                continue  # a store uses nothing: what it stores is checked where it is read, and as a value
            if isinstance(n, ast.Attribute) and n.attr in ban.names:
                b = ban.name(n.attr)
            elif isinstance(n, ast.Constant) and isinstance(n.value, str):
                b = ban.name(n.value)
            elif isinstance(n, ast.alias):
                b = ban.name((n.asname or n.name).split(".")[-1]) or ban.name(n.name)
            elif isinstance(n, ast.ImportFrom):
                b = next((ban.path(f"{n.module}.{a.name}") for a in n.names if ban.path(f"{n.module}.{a.name}")), None)
            if b is None and isinstance(n, (ast.Name, ast.Attribute, ast.Call, ast.Subscript)):
                paths = at_test.denote(n)
                b = next((b for p in sorted(paths) if (b := ban.path(p))), None)
                todo += [_token_number(p) for p in paths if p.startswith("<")]
            key = (b, cell.number, getattr(n, "lineno", 0))
            if b and key not in seen:
                seen.add(key)
                out.append(f"{b} ({cell.where(n) if hasattr(n, 'lineno') else f'cell {cell.number}'})")
    return out


@functools.lru_cache(maxsize=2)
def _analysis(cells: tuple[str, ...]) -> tuple[list[Cell], Flow, list[str]]:
    """The parsed cells, their flows and their dynamic code: once per notebook, whatever the rules."""
    parsed = [Cell(i + 1, src) for i, src in enumerate(cells)]
    flow = Flow(parsed)
    return parsed, flow, dynamic_code(parsed, flow)


def violations(cells: list[str], graded: str | list[str], banned: list[str]) -> list[str]:
    """Why the graded name(s) may use something in ``banned``, read from the notebook's code cells
    (in order, IPython syntax already turned into Python); [] when nothing banned is used.

    Example:
        >>> violations(["import torch", "def relu(x):\\n    return torch.where(x > 0, x, 0)"], "relu", ["torch.relu"])
        []
    """
    ban = Ban(banned)
    names = [graded] if isinstance(graded, str) else list(graded)
    try:
        parsed, flow, dyn = _analysis(tuple(cells))
    except (Undecidable, RecursionError) as e:
        return [f"the grader cannot follow this notebook's code ({e}): write it plainly"]
    if dyn:
        return [f"{d}, which the grader cannot check (no dynamic lookups in a graded notebook)" for d in dyn]
    out: list[str] = []
    for name in names:
        if name not in flow.bound:
            continue
        try:
            at_test = TestTime(flow, name)
        except (Undecidable, RecursionError) as e:
            return [f"the grader cannot follow this notebook's code ({e}): write it plainly"]
        out += [f"{name} uses {u}" for u in _uses(flow, at_test, ban, name)]
    return out
