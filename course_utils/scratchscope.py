"""Which binding each name of a notebook refers to: Python's scopes, for :mod:`course_utils.scratchflow`.

:func:`scope_keys` gives every place a name is read or bound (``ast.Name``, ``ast.arg``, a ``def`` or
``class`` name, an import alias, an ``except ... as`` name, a ``match`` capture) the key of the binding
it refers to: the plain name for the notebook's globals (``x``), ``x@k`` for a local of the function,
lambda, class body or comprehension number ``k``. The rules are Python's own: a name bound in a
function is local to it unless declared ``global``/``nonlocal``; a class body's names are not seen by
its methods; a comprehension's targets are its own, while ``:=`` binds in the enclosing function;
decorators, defaults, bases and a comprehension's first iterable are read in the enclosing scope.
So a function's local ``x`` no longer shares its values with every other ``x`` of the notebook.

Example:
    >>> import ast
    >>> tree = ast.parse("x = 1\\ndef f(x):\\n    return x")
    >>> keys = scope_keys([tree])
    >>> sorted(set(keys.values()))
    ['f', 'x', 'x@0']
"""

from __future__ import annotations

import ast

_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_COMPS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_SCOPES = (*_FUNCS, ast.ClassDef, *_COMPS)


class _Scope:
    def __init__(self, number: int | None, kind: str, local: set[str], glob: set[str]):
        self.number, self.kind, self.local, self.glob = number, kind, local, glob


def _bindings(nodes: list[ast.AST], into: set[str], declared: dict[str, set[str]], in_comp: bool = False) -> None:
    """The names ``nodes`` bind in their own scope (not inside nested functions, classes, comprehensions)."""
    for node in nodes:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            into.add(node.name)
            outer = [*node.decorator_list]
            if isinstance(node, ast.ClassDef):
                outer += [*node.bases, *(k.value for k in node.keywords)]
            else:
                outer += [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]
            _bindings(outer, into, declared)
            continue
        if isinstance(node, ast.Lambda):
            _bindings([*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)], into, declared)
            continue
        if isinstance(node, _COMPS):  # only its := targets belong here; its first iterable is read here
            _bindings([node.generators[0].iter], into, declared)
            _walrus(node, into)
            continue
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load) and not in_comp:
            into.add(node.id)
        elif isinstance(node, ast.alias):
            into.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            into.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            into.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            into.add(node.rest)
        elif isinstance(node, ast.Global):
            declared["global"].update(node.names)
        elif isinstance(node, ast.Nonlocal):
            declared["nonlocal"].update(node.names)
        _bindings(list(ast.iter_child_nodes(node)), into, declared, in_comp)


def _walrus(comp: ast.AST, into: set[str]) -> None:
    """The ``:=`` targets inside a comprehension (nested comprehensions included, not nested functions)."""
    for child in ast.iter_child_nodes(comp):
        if isinstance(child, ast.NamedExpr) and isinstance(child.target, ast.Name):
            into.add(child.target.id)
        if not isinstance(child, (*_FUNCS, ast.ClassDef)):
            _walrus(child, into)


class _Resolver:
    def __init__(self) -> None:
        self.keys: dict = {}
        self.count = 0

    def resolve(self, name: str, chain: list[_Scope], walrus: bool = False) -> str:
        scopes = [s for s in chain if s.kind != "comp"] if walrus else chain
        if scopes and name in scopes[-1].glob:
            return name
        for i, s in enumerate(reversed(scopes)):
            if s.kind == "class" and i > 0:
                continue  # a class body's names are not seen from inside its methods
            if name in s.local:
                return f"{name}@{s.number}"
        return name

    def scope(self, kind: str, nodes: list[ast.AST], chain: list[_Scope], extra: set[str] = frozenset()) -> _Scope:
        local, declared = set(extra), {"global": set(), "nonlocal": set()}
        if kind != "comp":
            _bindings(nodes, local, declared)
        local -= declared["global"] | declared["nonlocal"]
        s = _Scope(self.count, kind, local, declared["global"])
        self.count += 1
        return s

    def visit(self, node: ast.AST, chain: list[_Scope]) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            self.function(node, chain)
        elif isinstance(node, ast.ClassDef):
            self.keys[id(node)] = self.resolve(node.name, chain)
            for n in [*node.decorator_list, *node.bases, *node.keywords]:
                self.visit(n, chain)
            inner = [*chain, self.scope("class", node.body, chain)]
            for n in node.body:
                self.visit(n, inner)
        elif isinstance(node, _COMPS):
            self.visit(node.generators[0].iter, chain)
            targets: set[str] = set()
            for g in node.generators:
                targets |= {n.id for n in ast.walk(g.target) if isinstance(n, ast.Name)}
            inner = [*chain, self.scope("comp", [], chain, targets)]
            for i, g in enumerate(node.generators):
                for n in [g.target, *([] if i == 0 else [g.iter]), *g.ifs]:
                    self.visit(n, inner)
            for n in (node.key, node.value) if isinstance(node, ast.DictComp) else (node.elt,):
                self.visit(n, inner)
        else:
            self.leaf(node, chain)
            for child in ast.iter_child_nodes(node):
                if isinstance(node, ast.NamedExpr) and child is node.target:
                    self.keys[id(child)] = self.resolve(child.id, chain, walrus=True)
                else:
                    self.visit(child, chain)

    def leaf(self, node: ast.AST, chain: list[_Scope]) -> None:
        if isinstance(node, ast.Name):
            self.keys[id(node)] = self.resolve(node.id, chain)
        elif isinstance(node, ast.alias):
            self.keys[id(node)] = self.resolve(node.asname or node.name.split(".")[0], chain)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            self.keys[id(node)] = self.resolve(node.name, chain)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar, ast.MatchMapping)):
            name = node.rest if isinstance(node, ast.MatchMapping) else node.name
            if name:
                self.keys[id(node)] = self.resolve(name, chain)

    def function(self, node: ast.AST, chain: list[_Scope]) -> None:
        if not isinstance(node, ast.Lambda):
            self.keys[id(node)] = self.resolve(node.name, chain)
            for n in node.decorator_list:
                self.visit(n, chain)
        a = node.args
        for n in [*a.defaults, *(d for d in a.kw_defaults if d is not None)]:
            self.visit(n, chain)
        for arg in _args(node):
            if arg.annotation is not None:
                self.visit(arg.annotation, chain)
        if getattr(node, "returns", None) is not None:
            self.visit(node.returns, chain)
        body = node.body if isinstance(node.body, list) else [node.body]
        s = self.scope("function", body, chain, {arg.arg for arg in _args(node)})
        inner = [*chain, s]
        for arg in _args(node):
            self.keys[id(arg)] = self.resolve(arg.arg, inner)
        for n in body:
            self.visit(n, inner)


def _args(f: ast.AST) -> list[ast.arg]:
    a = f.args
    return [*a.posonlyargs, *a.args, *a.kwonlyargs, *([a.vararg] if a.vararg else []), *([a.kwarg] if a.kwarg else [])]


def scope_keys(trees: list[ast.Module]) -> dict[int, str]:
    """id(node) -> the key of the binding it refers to, for every name of ``trees`` (module docstring).

    Example:
        >>> import ast
        >>> t = ast.parse("def f():\\n    global g\\n    g = 1")
        >>> sorted(set(scope_keys([t]).values()))
        ['f', 'g']
    """
    r = _Resolver()
    for tree in trees:
        for node in tree.body:
            r.visit(node, [])
    return r.keys
