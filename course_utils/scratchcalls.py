"""What a call does to the values of :mod:`course_utils.scratchflow`: its arguments into the student's
parameters (:mod:`course_utils.scratchargs`), into its receiver, into each other, and the objects
that library calls keep (a mixin of :class:`~course_utils.scratchflow.Flow`).

Example:
    >>> from course_utils.scratchflow import Cell, Flow
    >>> flow = Flow([Cell(1, "import torch\\ndef f(a):\\n    return a\\nf(torch.relu)")])
    >>> sorted(flow.env["a@0"])
    ['torch.relu']
"""

from __future__ import annotations

import ast

from course_utils import scratchargs
from course_utils.scratchalias import static, tensor_api
from course_utils.scratchbase import MUTATORS, _extend, _named_call, _token_number


class Calls:
    """The flows of one call (mixed into :class:`~course_utils.scratchflow.Flow`, whose tables it uses)."""

    def _flows(self, call: ast.Call, p: str, recv: ast.AST | None) -> list[tuple[str, list[ast.expr]]]:
        """(parameter, argument expressions) for calling the student's ``p`` with ``call`` (scratchargs)."""
        k = _token_number(p)
        node = self.nodes[k][0]
        args = [*call.args, *(kw.value for kw in call.keywords)]
        if isinstance(node, ast.ClassDef):
            names = ("__init__", "__new__") if p.endswith(">") else ("forward", "__call__")
            found = [f for c in self._student_mro(k) for f in scratchargs.methods(c, names)]
            if any(not scratchargs.plain(f) for f in found):
                return [(name, args) for name in self.params.get(k, [])]
            return [b for f in found for b in scratchargs.bind(call, f, 1, self.keys)]
        if not scratchargs.plain(node):
            return [(name, args) for name in self.params.get(k, [])]
        skips = {0}
        if id(node) in self.method_of and "staticmethod" not in scratchargs.decorators(node):
            if "classmethod" in scratchargs.decorators(node):
                skips = {1}
            elif recv is None:
                skips = {0, 1}  # a bound method in a name, or C.m itself
            else:
                r = self.denote(recv)
                skips = {0} if r and all(q.startswith("<class:") and q.endswith(">") for q in r) else {0, 1}
                skips = {1} if r and not any(q.startswith("<class:") and q.endswith(">") for q in r) else skips
        return [b for s in sorted(skips) for b in scratchargs.bind(call, node, s, self.keys)]

    def _student_mro(self, k: int) -> list[ast.ClassDef]:
        """Class ``k`` and its student base classes, nearest first."""
        out, todo = [], [k]
        while todo:
            node = self.nodes[todo.pop(0)][0]
            if isinstance(node, ast.ClassDef) and node not in out:
                out.append(node)
                todo += [_token_number(q) for b in node.bases for q in self.denote(b) if q.startswith("<class:")]
        return out

    def _library_init(self, k: int) -> bool:
        """Creating class ``k`` runs a library's ``__init__``: no student one, and a library base but ``object``."""
        if any(scratchargs.methods(c, ("__init__", "__new__")) for c in self._student_mro(k)):
            return False
        return any(
            any(not q.startswith("<") and q != "~object" for q in self.denote(b))
            for c in self._student_mro(k)
            for b in c.bases
        )

    def _call(self, call: ast.Call) -> bool:
        """A call's flows: arguments into the student's parameters; into its receiver; into arguments."""
        args = [*call.args, *(k.value for k in call.keywords)]
        given, held = self._all(args), set().union(*(self.holders(a) for a in args)) if args else set()
        changed = False
        callee = self.denote(call.func)
        student = [p for p in callee if p.startswith("<")]
        recv = call.func.value if isinstance(call.func, ast.Attribute) else None
        if recv is not None:  # x.f(...) on the student's object: its own methods are in the attribute
            mine = self.attrs.get(call.func.attr, set())  # table; ``<class:3>…`` alone is a library's method
            ext = {_extend(p, "." + call.func.attr) for p in self.denote(recv)}
            student = [p for p in student if p in mine or p not in ext]
        for p in student:  # arguments into the parameters (which then hold the arguments' objects)
            for key, exprs in self._flows(call, p, recv):
                changed |= self._add(self.env, key, self._all(exprs))
                for h in set().union(*(self.holders(x) for x in exprs)):
                    changed |= self.union(key, h)
            if p.startswith("<class:") and p.endswith(">") and self._library_init(_token_number(p)):
                for h in self.selves(_token_number(p)):  # a library's __init__ (list, nn.Sequential) keeps them
                    changed |= self.put(h, given)
                    for a in held:
                        changed |= self.union(h, a)
            if recv is None and p.startswith("<class:") and p.endswith("…"):  # calling the object: its self
                for m in self.calls_of(_token_number(p)):
                    first = (self.nodes[m][0].args.posonlyargs or self.nodes[m][0].args.args)[:1]
                    for h in self.holders(call.func) if first else ():
                        changed |= self.union(self.keys[id(first[0])], h)
        if recv is not None and id(recv) in self.super_self:  # super().__init__(*m): a library's may keep m
            changed |= self.put(self.super_self[id(recv)], given)
            for a in held:
                changed |= self.union(self.super_self[id(recv)], a)
        name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
        library = [p for p in callee if not p.startswith("<")]
        mutator = name in MUTATORS or any(p.rsplit(".", 1)[-1] in MUTATORS for p in library)
        if mutator and recv is not None:  # x.append(v): v into x
            for h in self.holders(recv):
                changed |= self.put(h, given)
                for a in held:
                    changed |= self.union(h, a)
        named = _named_call(call)
        if named is not None and named[0] == "setattr" and len(call.args) > 2:
            changed |= self._add(self.attrs, named[1], self.denote(call.args[2]))
            changed |= self.alias("attr:" + named[1], call.args[2])
        if student or tensor_api(set(library), objects=recv is None):  # the student's code (followed above), or torch
            unknown = False
        elif recv is None:  # a value called (``_m(v)`` with ``_m = l.append``, a partial): it may keep anything
            unknown = not callee or not static(set(library))
        else:  # x.f(v): a library's method keeps nothing (MUTATORS aside), unless ``.f`` was assigned a value
            a = call.func.attr
            unknown = not callee or "attr:" + a in self.joined
            unknown = unknown or any(not p.startswith("<") for p in self.attrs.get(a, set()))
        if (mutator and recv is None) or unknown:  # setitem(d, k, v), _m(v) with _m = l.append: args into args
            into = sorted(held | (self.holders(call.func) if unknown else set()))
            for h in into:
                changed |= self.put(h, given)
            for h in into[1:]:
                changed |= self.union(into[0], h)
        return changed
