"""What each name of a notebook may denote: the binding and flow analysis of :mod:`course_utils.scratch`.

:class:`Cell` parses one code cell (IPython magics blanked); :class:`Flow` reads every binding of every
cell, in any scope, and solves, per name, the set of dotted paths it may denote (``_t = torch`` gives
``_t`` the path ``torch``; a call's value may be any of its arguments, a container any of its elements;
``x.attr = v`` makes every ``.attr`` possibly ``v``). The student's functions, classes and lambdas are
tokens (``<def:3>``, ``<class:4>``). A chain the analysis cannot finish (:data:`MAX_ROUNDS`,
:data:`MAX_PATHS`) raises :class:`Undecidable`, and the graded function fails. The rules built on it
(what is dynamic, what is banned, the messages) are in :mod:`course_utils.scratch`.

Example:
    >>> flow = Flow([Cell(1, "import torch"), Cell(2, "_t = torch")])
    >>> sorted(flow.env["_t"])
    ['torch']
"""

from __future__ import annotations

import ast

from course_utils import scratchargs
from course_utils.scratchalias import Aliases, tensor_api
from course_utils.scratchbase import (  # noqa: F401 (the names scratch and scratchtime use)
    _FUNCS,
    DANGEROUS,
    MAX_DEPTH,
    MAX_PATHS,
    MAX_ROUNDS,
    MODULES,
    MUTATORS,
    NAMED_CALLS,
    Undecidable,
    _args,
    _extend,
    _is_method,
    _named_call,
    _norm,
    _token_number,
)
from course_utils.scratchcalls import Calls
from course_utils.scratchscope import scope_keys


def _is_magic(node: ast.AST) -> bool:
    """``get_ipython().run_line_magic('pip', ...)`` and friends, as IPython writes magics and ``!`` lines."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("run_line_magic", "run_cell_magic", "system", "getoutput")
        and isinstance(node.func.value, ast.Call)
        and isinstance(node.func.value.func, ast.Name)
        and node.func.value.func.id == "get_ipython"
        and not node.func.value.args
        and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)
        and not node.keywords
    )


def _is_modules_membership(node: ast.AST) -> bool:
    """``"google.colab" in sys.modules``: reads a name, gives no object (the set-up cell's test)."""
    return (
        isinstance(node, ast.Compare)
        and len(node.ops) == 1
        and isinstance(node.ops[0], (ast.In, ast.NotIn))
        and isinstance(node.left, ast.Constant)
        and isinstance(node.comparators[0], ast.Attribute)
        and node.comparators[0].attr == "modules"
        and isinstance(node.comparators[0].value, ast.Name)
        and node.comparators[0].value.id == "sys"
    )


class Cell:
    """One parsed cell: its number (1-based, as shown in messages) and its tree (magics blanked)."""

    def __init__(self, number: int, src: str):
        self.number, self.src = number, src
        try:
            self.tree: ast.Module | None = ast.parse(src)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            self.tree = None
        if self.tree is not None:
            for n in ast.walk(self.tree):
                for field, value in ast.iter_fields(n):
                    if isinstance(value, ast.AST) and (_is_magic(value) or _is_modules_membership(value)):
                        setattr(n, field, ast.copy_location(ast.Constant(None), value))

    def where(self, node: ast.AST) -> str:
        seg = ast.get_source_segment(self.src, node) or ast.unparse(node)
        seg = seg.splitlines()[0] if seg else ""
        return f"cell {self.number}, line {getattr(node, 'lineno', '?')}: {seg[:80]}"


# ------------------------------------------------------------------------------------ the flows
class Flow(Aliases, Calls):
    """Name -> the dotted paths it may denote, over every binding of every cell (module docstring, 2)."""

    def __init__(self, cells: list[Cell]):
        self.cells = cells
        self.env: dict[str, set[str]] = {}
        self.attrs: dict[str, set[str]] = {}
        self.ret: dict[int, set[str]] = {}
        self.parent: dict[str, str] = {}  # the classes of aliases (course_utils.scratchalias)
        self.joined: set[str] = set()  # holders joined with another
        self.contents: dict[str, set[str]] = {}  # a class -> what may have been stored into its objects
        self.nodes: dict[int, tuple[ast.AST, Cell]] = {}  # token number -> def, class or lambda
        self.token: dict[int, str] = {}  # id(node) -> "<def:k>" or "<class:k>"
        self.params: dict[int, list[str]] = {}  # every parameter (for a call the analysis cannot bind)
        self.method_of: dict[int, ast.ClassDef] = {}  # id(def) -> the class whose body holds it
        self.super_self: dict[int, str] = {}  # id(super() call) -> the method's first parameter
        self.super_class: dict[int, int] = {}  # id(super() call) -> the token number of its class
        self.facts: list[tuple] = []
        self.raised: list[ast.AST] = []
        self.bound: set[str] = set()
        self.keys = scope_keys([c.tree for c in cells if c.tree is not None])  # id(node) -> its binding
        for cell in cells:
            if cell.tree is not None:
                self._collect(cell)
        self._solve()

    # -- facts
    def _register(self, node: ast.AST, cell: Cell) -> str:
        k = len(self.nodes)
        self.nodes[k] = (node, cell)
        tok = f"<{'class' if isinstance(node, ast.ClassDef) else 'def'}:{k}>"
        self.token[id(node)] = tok
        inner = [node] if not isinstance(node, ast.ClassDef) else [n for n in ast.walk(node) if isinstance(n, _FUNCS)]
        # calling a class passes its arguments to its methods, never as their ``self``: the new object
        selves = {id(_args(f)[0]) for f in node.body if _is_method(f)} if isinstance(node, ast.ClassDef) else set()
        self.params[k] = [self.keys[id(a)] for f in inner for a in _args(f) if id(a) not in selves]
        if isinstance(node, ast.ClassDef):
            for f in node.body:
                if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    self.method_of[id(f)] = node
                    first = (f.args.posonlyargs or f.args.args)[:1]
                    for n in ast.walk(f) if first else ():  # super() in a method: its object
                        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "super":
                            self.super_self[id(n)] = self.keys[id(first[0])]
                            self.super_class[id(n)] = k
        return tok

    def _collect(self, cell: Cell) -> None:
        for node in ast.walk(cell.tree):
            if isinstance(node, (*_FUNCS, ast.ClassDef)):
                self._register(node, cell)
        for node in ast.walk(cell.tree):
            self._facts_of(node)

    def _bind(self, target: ast.AST, value) -> None:
        """``target = value`` (value: an expression, or a set of paths)."""
        if isinstance(target, (ast.Name, ast.arg, ast.MatchAs, ast.MatchStar, ast.MatchMapping)):
            self.bound.add(self.key(target))
            self.facts.append(("env", self.key(target), value))
        elif isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                self._bind(t, value)
        elif isinstance(target, ast.Starred):
            self._bind(target.value, value)
        elif isinstance(target, (ast.Attribute, ast.Subscript)):
            self._into(target.value, value)
            if isinstance(target, ast.Attribute):
                self.facts.append(("attr", target.attr, value))

    def key(self, node: ast.AST) -> str:
        """The binding a name refers to (``x``, a global; ``x@3``, a local of scope 3)."""
        return self.keys.get(id(node)) or node.id

    def _into(self, base: ast.AST, value) -> None:
        """``value`` may be stored into the object ``base`` (and every attribute on the way)."""
        while isinstance(base, (ast.Attribute, ast.Subscript, ast.Call, ast.Starred)):
            if isinstance(base, ast.Attribute):
                self.facts.append(("attr", base.attr, value))
            base = base.func if isinstance(base, ast.Call) else base.value
        if isinstance(base, ast.Name):
            self.facts.append(("stored", self.key(base), value))

    def _facts_of(self, node: ast.AST) -> None:
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and node.value is not None:
            for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                self._bind(t, node.value)
        elif isinstance(node, ast.NamedExpr):
            self._bind(node.target, node.value)
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            self._bind(node.target, node.iter)
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            self._bind(node.optional_vars, node.context_expr)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                if isinstance(node, ast.Import):
                    name, path = (a.asname, a.name) if a.asname else (a.name.split(".")[0], a.name.split(".")[0])
                else:
                    name, path = a.asname or a.name, f"{node.module}.{a.name}"
                if path.split(".")[0] not in MODULES | DANGEROUS:
                    path = "?" + path  # a module the grader cannot vouch for (a file of the submission?)
                self.bound.add(self.keys[id(a)])
                self.facts.append(("env", self.keys[id(a)], {path}))
        elif isinstance(node, (*_FUNCS, ast.ClassDef)):
            tok = self.token[id(node)]
            if not isinstance(node, ast.Lambda):
                name = self.keys[id(node)]
                self.bound.add(name)
                self.facts.append(("env", name, {tok}))
                for d in node.decorator_list:  # the name is what the decorator returns
                    self.facts.append(("env", name, ast.Call(d, [], [])))
            if not isinstance(node, ast.ClassDef):
                pos = [*node.args.posonlyargs, *node.args.args]
                for a, d in zip(pos[len(pos) - len(node.args.defaults) :], node.args.defaults):
                    self._bind(a, d)
                for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults):
                    if d is not None:
                        self._bind(a, d)
                for a in _args(node):
                    self.bound.add(self.keys[id(a)])
                k = int(tok[5:-1])
                if isinstance(node, ast.Lambda):
                    self.facts.append(("ret", k, node.body))
                for n in ast.walk(node):
                    if isinstance(n, (ast.Return, ast.Yield, ast.YieldFrom)) and n.value is not None:
                        self.facts.append(("ret", k, n.value))
            else:
                for stmt in node.body:  # class attributes and methods are attributes of every object
                    if isinstance(stmt, (*_FUNCS, ast.ClassDef)):
                        self.facts.append(("attr", stmt.name, {self.token[id(stmt)]}))
                    elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
                        for t in stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]:
                            if isinstance(t, ast.Name):
                                self.facts.append(("attr", t.id, stmt.value))
        elif isinstance(node, ast.Call):
            self.facts.append(("call", node))
        elif isinstance(node, ast.Match):
            for case in node.cases:
                for p in ast.walk(case.pattern):
                    if id(p) in self.keys:
                        self._bind(p, node.subject)
        elif isinstance(node, ast.Raise) and node.exc is not None:
            self.raised.append(node.exc)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            self.bound.add(self.keys[id(node)])
            self.facts.append(("raised", self.keys[id(node)]))

    # -- solving
    def denote(self, e: ast.AST | None) -> set[str]:
        """The paths an expression may denote (module docstring, 2)."""
        if e is None:
            return set()
        if isinstance(e, ast.Name):
            if self.key(e) in self.bound:
                return self.env.get(self.key(e), set()) | self.held(self.key(e))
            return {f"~{e.id}"}  # a builtin
        if isinstance(e, ast.Attribute):
            grown = {_extend(p, "." + e.attr) for p in self.denote(e.value)}
            attrs = self.attrs.get(e.attr, set()) | self.held("attr:" + e.attr)
            if isinstance(e.value, ast.Call) and id(e.value) in self.super_class:  # super().m: a base class's m
                bases = self._student_mro(self.super_class[id(e.value)])[1:]
                mine = {self.token[id(f)] for c in bases for f in scratchargs.methods(c, (e.attr,))}
                attrs = {p for p in attrs if not p.startswith("<")} | mine
            return {p for p in grown if p is not None} | attrs
        if isinstance(e, ast.Call):
            named = _named_call(e)
            if named is not None and named[0] in ("getattr", "hasattr"):
                return self.denote(ast.Attribute(e.args[0], named[1], ast.Load())) | self._all(e.args[2:])
            callee = self.denote(e.func)
            if callee and all(p.startswith("<def:") and p.endswith(">") for p in callee):
                # only the student's own functions: the call's value is what they return
                return set().union(*(self.ret.get(int(p[5:-1]), set()) for p in callee))
            if tensor_api(callee):  # torch on tensors and numbers: a tensor, a number or a layer, never an argument
                return {_extend(p, "()") for p in callee}
            out = self._all([e.func, *e.args, *(k.value for k in e.keywords)])
            for p in callee:
                out.add(_extend(p, "()"))
                if p.startswith("<def:") and p.endswith(">"):
                    out |= self.ret.get(int(p[5:-1]), set())
            return out
        if isinstance(e, (*_FUNCS, ast.ClassDef)):
            return {self.token[id(e)]}
        if isinstance(e, (ast.Compare, ast.Constant, ast.JoinedStr, ast.FormattedValue, ast.Slice)):
            return set()
        if isinstance(e, ast.Dict):
            return self._all([*(k for k in e.keys if k is not None), *e.values])
        if isinstance(e, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
            return self.denote(e.elt)
        if isinstance(e, ast.DictComp):
            return self.denote(e.key) | self.denote(e.value)
        if isinstance(e, ast.Subscript):
            return self.denote(e.value)
        if isinstance(e, ast.NamedExpr):
            return self.denote(e.value)
        return self._all([c for c in ast.iter_child_nodes(e) if isinstance(c, ast.expr)])

    def _all(self, exprs) -> set[str]:
        out: set[str] = set()
        for x in exprs:
            out |= self.denote(x)
        return out

    def _value(self, v) -> set[str]:
        return set(v) if isinstance(v, set) else self.denote(v)

    def _add(self, table: dict, key, paths: set[str]) -> bool:
        have = table.setdefault(key, set())
        if paths <= have:
            return False
        have |= paths
        if len(have) > MAX_PATHS:
            raise Undecidable(f"{key!r} may denote more than {MAX_PATHS} things")
        return True

    def _solve(self) -> None:
        for _ in range(MAX_ROUNDS):
            changed = False
            for f in self.facts:
                if f[0] == "env":
                    changed |= self._add(self.env, f[1], self._value(f[2])) | self.alias(f[1], f[2])
                elif f[0] == "attr":
                    changed |= self._add(self.attrs, f[1], self._value(f[2])) | self.alias("attr:" + f[1], f[2])
                elif f[0] == "ret":
                    changed |= self._add(self.ret, f[1], self._value(f[2])) | self.alias(f"ret:{f[1]}", f[2])
                elif f[0] == "stored":
                    changed |= self.put(f[1], self._value(f[2])) | self.alias(f[1], f[2])
                elif f[0] == "raised":
                    changed |= self._add(self.env, f[1], self._all(self.raised))
                else:
                    changed |= self._call(f[1])
            if not changed:
                return
        raise Undecidable(f"the notebook's bindings did not settle in {MAX_ROUNDS} rounds")
