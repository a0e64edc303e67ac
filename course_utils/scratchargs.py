"""Which parameter each argument of a call goes to: the argument binding of :mod:`course_utils.scratchflow`.

``f(a, b=c)`` gives ``a`` to ``f``'s first parameter and ``c`` to ``b``, as Python does; ``*xs``
and ``**d`` may go to any parameter they could reach. Calling the student's class runs its
``__init__`` / ``__new__`` (its own or a base class's, the object itself skipped); calling its
object runs ``forward`` / ``__call__``; ``x.m(a)`` skips ``m``'s ``self``, ``C.m(x, a)`` does not.
A function with a decorator other than ``staticmethod`` / ``classmethod`` gets every argument in
every parameter (the decorator may change how it is called).

Example:
    >>> import ast
    >>> f = ast.parse("def f(a, b=0, *rest, c=1):\\n    pass").body[0]
    >>> call = ast.parse("f(x, y, z, c=w)", mode="eval").body
    >>> keys = {id(p): p.arg for p in [*f.args.args, f.args.vararg, *f.args.kwonlyargs]}
    >>> [(k, [ast.unparse(e) for e in es]) for k, es in bind(call, f, 0, keys)]
    [('a', ['x']), ('b', ['y']), ('rest', ['z']), ('c', ['w'])]
"""

from __future__ import annotations

import ast

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)


def bind(call: ast.Call, f: ast.AST, skip: int, keys: dict) -> list[tuple[str, list[ast.expr]]]:
    """(parameter key, the argument expressions it may get) for calling ``f`` with ``call``'s
    arguments, its first ``skip`` positional parameters given already (``self``)."""
    a = f.args
    pos = [*a.posonlyargs, *a.args][skip:]
    args = list(call.args)
    star = next((i for i, x in enumerate(args) if isinstance(x, ast.Starred)), len(args))
    fixed, rest = args[:star], args[star:]
    out = [(keys[id(p)], [x]) for p, x in zip(pos, fixed)]
    if a.vararg is not None and (fixed[len(pos) :] or rest):
        out.append((keys[id(a.vararg)], fixed[len(pos) :] + rest))
    if rest:  # *xs: any positional parameter not filled yet
        out += [(keys[id(p)], rest) for p in pos[len(fixed) :]]
    by_name = {p.arg: p for p in [*a.args[max(0, skip - len(a.posonlyargs)) :], *a.kwonlyargs]}
    every = [*pos, *a.kwonlyargs, *([a.kwarg] if a.kwarg is not None else [])]
    for k in call.keywords:
        if k.arg is None:  # **d: any parameter
            out += [(keys[id(p)], [k.value]) for p in every]
        elif k.arg in by_name:
            out.append((keys[id(by_name[k.arg])], [k.value]))
        elif a.kwarg is not None:
            out.append((keys[id(a.kwarg)], [k.value]))
    return out


def decorators(f: ast.AST) -> set[str]:
    """The decorators of ``f`` by name (``"?"`` for one that is not a plain name)."""
    return {d.id if isinstance(d, ast.Name) else "?" for d in getattr(f, "decorator_list", [])}


def plain(f: ast.AST) -> bool:
    """``f`` is called as written: no decorator but ``staticmethod`` / ``classmethod``."""
    return decorators(f) <= {"staticmethod", "classmethod"}


def methods(cls: ast.ClassDef, names: tuple[str, ...]) -> list[ast.AST]:
    """``cls``'s own methods called ``names``."""
    return [f for f in cls.body if isinstance(f, _DEFS) and f.name in names]
