"""What the graded code works on when a test calls it: the test-time view of :mod:`course_utils.scratchflow`.

:class:`~course_utils.scratchflow.Flow` answers what every name may hold *at any time*: a
parameter holds every argument any cell ever passed. That is what a notebook's stores need
(``keep(torch.relu)`` at notebook time leaves ``torch.relu`` wherever ``keep`` put it), but it is
not what a test sees: the test calls the graded function with its own arguments, so what a
student's other cells passed to ``conv2d_output_size`` or to ``BasicBlock`` says nothing about
what the graded code uses. :class:`TestTime` keeps every store of the full analysis (globals,
attributes, what was stored into objects) and recomputes only the parameters and locals of the
functions the graded name reaches, from the calls made inside that code (and the defaults).

A function keeps its full-analysis values when that would not be sound: when a function,
lambda, class or generator expression defined inside it reads its locals (a closure made at
notebook time holds notebook-time values), and when it is a generator or a coroutine. A parameter
whose default is an object (``l=[]``) also holds what was stored into it at notebook time.

Example:
    >>> from course_utils.scratchflow import Cell, Flow
    >>> cells = [Cell(1, "import torch"), Cell(2, "def f(a):\\n    return a"), Cell(3, "f(torch.relu)")]
    >>> flow = Flow(cells)
    >>> sorted(flow.env["a@0"]), sorted(TestTime(flow, "f").env["a@0"])
    (['torch.relu'], [])
"""

from __future__ import annotations

import ast

from course_utils.scratchflow import _FUNCS, MAX_ROUNDS, Flow, Undecidable, _token_number

_ESCAPING = (*_FUNCS, ast.ClassDef, ast.GeneratorExp)  # scopes that may outlive the call that made them
_SUSPENDING = (ast.Yield, ast.YieldFrom, ast.Await)
_COMPS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_CONSUMERS = {"sum", "max", "min", "any", "all", "tuple", "list", "set", "frozenset", "sorted", "dict", "join"}


def reached(flow: Flow, graded: str) -> list[ast.AST]:
    """The student's functions, classes and lambdas that ``graded`` may reach (its values, transitively)."""
    todo = sorted({_token_number(p) for p in flow.env.get(graded, set()) if p.startswith("<")})
    done: set[int] = set()
    while todo:
        k = todo.pop()
        if k in done:
            continue
        done.add(k)
        for n in ast.walk(flow.nodes[k][0]):
            if isinstance(n, (ast.Name, ast.Attribute, ast.Call, ast.Subscript)):
                todo += [_token_number(p) for p in flow.denote(n) if p.startswith("<")]
    return [flow.nodes[k][0] for k in sorted(done)]


def _consumed(f: ast.AST) -> set[int]:
    """The generator expressions in ``f`` that a builtin consumes at once (``sum(x for x in xs)``)."""
    out = set()
    for n in ast.walk(f):
        func = getattr(n, "func", None)
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if isinstance(n, ast.Call) and name in _CONSUMERS:
            out |= {id(a) for a in n.args if isinstance(a, ast.GeneratorExp)}
    return out


def _closes_over(flow: Flow, scope: ast.AST, suffix: str, safe: set[int]) -> bool:
    """A function, class or generator defined inside ``scope`` reads the locals ending with ``suffix``."""
    for inner in ast.walk(scope):
        if inner is not scope and isinstance(inner, _ESCAPING) and id(inner) not in safe:
            if any(flow.keys.get(id(n), "").endswith(suffix) for n in ast.walk(inner) if n is not inner):
                return True
    return False


def _own_keys(flow: Flow, f: ast.AST) -> set[str]:
    """The parameters and locals of function ``f`` (and of its comprehensions) when a test-time call may
    recompute them (else empty)."""
    args = [*f.args.posonlyargs, *f.args.args, *f.args.kwonlyargs, f.args.vararg, f.args.kwarg]
    args = [a for a in args if a is not None]
    if not args or any(isinstance(n, _SUSPENDING) for n in ast.walk(f)):
        return set()
    safe = _consumed(f)
    suffix = "@" + flow.keys[id(args[0])].rsplit("@", 1)[-1]
    if _closes_over(flow, f, suffix, safe):
        return set()  # a closure over f's locals
    suffixes = [suffix]
    for comp in ast.walk(f):  # comprehensions run inside the call: their variables too
        if isinstance(comp, _COMPS) and (id(comp) in safe or not isinstance(comp, ast.GeneratorExp)):
            names = [n for g in comp.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)]
            inner = "@" + flow.keys.get(id(names[0]), "@").rsplit("@", 1)[-1] if names else ""
            if inner != "@" and inner and not _closes_over(flow, comp, inner, safe):
                suffixes.append(inner)
    return {k for n in ast.walk(f) if (k := flow.keys.get(id(n), "")) and k.endswith(tuple(suffixes))}


def _defaulted(flow: Flow, f: ast.AST) -> set[str]:
    """The parameters of ``f`` whose default is an object (``l=[]``): made once, it keeps what was stored."""
    pos = [*f.args.posonlyargs, *f.args.args]
    pairs = [*zip(pos[len(pos) - len(f.args.defaults) :], f.args.defaults), *zip(f.args.kwonlyargs, f.args.kw_defaults)]
    return {flow.keys[id(a)] for a, d in pairs if d is not None and not isinstance(d, ast.Constant)}


class TestTime(Flow):
    """The full analysis ``base``, with the parameters and locals of the code ``graded`` reaches
    recomputed from the calls inside that code (module docstring)."""

    def __init__(self, base: Flow, graded: str):
        self.__dict__.update(base.__dict__)
        nodes = reached(base, graded)
        funcs = [f for node in nodes for f in ast.walk(node) if isinstance(f, _FUNCS)]
        self.inside = {id(n) for node in nodes for n in ast.walk(node)}
        self.own = set().union(*(_own_keys(base, f) for f in funcs)) if funcs else set()
        self.fresh_ret = {int(self.token[id(f)][5:-1]) for f in funcs}
        self.defaulted = {k for f in funcs for k in _defaulted(base, f)} & self.own
        self.env = {**base.env, **{k: set() for k in self.own}}
        self.ret = {**base.ret, **{k: set() for k in self.fresh_ret}}
        self._solve()

    def _add(self, table: dict, key, paths: set[str]) -> bool:
        mine = key in self.own if table is self.env else table is self.ret and key in self.fresh_ret
        return mine and Flow._add(self, table, key, paths)  # the rest is base's, never written here

    def held(self, key: str) -> set[str]:
        # A store made at test time is a store of the graded code's own expressions, which are checked
        # where they are written; what a parameter's default object got at notebook time is base's.
        return Flow.held(self, key) if key not in self.own or key in self.defaulted else set()

    def union(self, a: str, b: str) -> bool:
        return False  # the classes are base's

    def put(self, key: str, paths: set[str]) -> bool:
        return False

    def _solve(self) -> None:
        for _ in range(MAX_ROUNDS):
            changed = False
            for f in self.facts:
                if f[0] == "env" and f[1] in self.own:
                    changed |= self._add(self.env, f[1], self._value(f[2]))
                elif f[0] == "ret" and f[1] in self.fresh_ret:
                    changed |= self._add(self.ret, f[1], self._value(f[2]))
                elif f[0] == "raised" and f[1] in self.own:
                    changed |= self._add(self.env, f[1], self._all(self.raised))
                elif f[0] == "call" and id(f[1]) in self.inside:
                    changed |= self._call(f[1])
            if not changed:
                return
        raise Undecidable(f"the graded code's bindings did not settle in {MAX_ROUNDS} rounds")
