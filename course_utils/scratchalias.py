"""Names that may hold one object: the aliases of :mod:`course_utils.scratchflow`.

A store into an object (``l.append(v)``, ``l[0] = v``, ``o.x = v``) is seen through every name
that may hold that object: after ``_g = _fs`` and ``_g.append(torch.relu)``, ``_fs[0]`` may be
``torch.relu``. Names that may share an object are joined in one class (a union-find); what was
stored into any of them is the class's *contents*, which every name of the class may denote.
Holders are keys of names (``x``, ``x@3``), ``attr:<name>`` (what an attribute holds, on any
object) and ``ret:<k>`` (what the student's function ``k`` returns).

Example:
    >>> from course_utils.scratchflow import Cell, Flow
    >>> flow = Flow([Cell(1, "import torch\\n_fs = []\\n_g = _fs\\n_g.append(torch.relu)")])
    >>> sorted(flow.denote(ast.parse("_fs", mode="eval").body))
    ['torch.relu']
"""

from __future__ import annotations

import ast

from course_utils.scratchbase import Undecidable, _is_method

MAX_CONTENTS = 4000  # paths one class of aliases may hold before the analysis gives up (and fails)


# Parts of torch whose objects hold or call other Python objects: the rest of torch (tensors, functions
# on tensors, layers) takes and returns tensors and numbers, so it neither keeps nor returns an argument.
_HOLDING = ("torch.utils", "torch.optim", "torch.func", "torch.autograd", "torch.jit", "torch.fx", "torch.hub",
            "torch.package", "torch.multiprocessing", "torch.distributed", "torch.overrides", "torch.library",
            "torch.ops", "torch.nn.utils", "torch.nn.parallel")  # fmt: skip
_CONTAINERS = ("Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict", "Module")


def _container(p: str, objects: bool) -> bool:
    """``p`` names a container class of torch (``torch.nn.Sequential``), or (``objects``) one of its objects."""
    return any(seg.split("(")[0] in _CONTAINERS and (objects or "(" not in seg) for seg in p.split("."))


def tensor_api(paths: set[str], objects: bool = False) -> bool:
    """Every path is a tensor, a function on tensors or a layer of torch: calling it keeps no argument
    and returns no object but tensors (``objects``: a container's object counts too, when it is called)."""
    return bool(paths) and all(
        p.startswith("torch.") and not p.startswith(_HOLDING) and not _container(p, not objects) for p in paths
    )


def holds_objects(paths: set[str]) -> bool:
    """Some path may be an object holding others: the student's, a torch container's, or unknown."""
    return any(not p.startswith("torch.") or p.startswith(_HOLDING) or _container(p, True) for p in paths)


def static(paths: set[str]) -> bool:
    """Every path names a library's module, class or function (or a builtin): no object of the notebook."""
    return bool(paths) and all(p[:1] not in "<?" and "(" not in p and not p.endswith("…") for p in paths)


class Aliases:
    """The union-find of holders and their contents; mixed into :class:`~course_utils.scratchflow.Flow`."""

    parent: dict[str, str]
    contents: dict[str, set[str]]
    joined: set[str]
    super_self: dict[int, str]

    def find(self, key: str) -> str:
        """The representative of ``key``'s class."""
        root = key
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while key != root:  # path compression
            self.parent[key], key = root, self.parent.get(key, key)
        return root

    def held(self, key: str) -> set[str]:
        """What may have been stored into the object(s) ``key`` holds."""
        return self.contents.get(self.find(key), set())

    def union(self, a: str, b: str) -> bool:
        """Join the classes of ``a`` and ``b``; True when a name now sees contents it did not."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        self.parent[ra] = rb
        self.joined.update((a, b))
        ca, cb = self.contents.pop(ra, set()), self.contents.get(rb, set())
        merged = ca | cb
        if len(merged) > MAX_CONTENTS:
            raise Undecidable(f"objects that may hold more than {MAX_CONTENTS} things")
        if merged:
            self.contents[rb] = merged
        return merged != ca or merged != cb

    def put(self, key: str, paths: set[str]) -> bool:
        """``paths`` stored into the object ``key`` holds."""
        return self._add(self.contents, self.find(key), paths)

    def alias(self, key: str, value) -> bool:
        """``key`` may hold the object ``value`` (an expression) evaluates to."""
        changed = False
        for h in self.holders(value):
            changed |= self.union(key, h)
        return changed

    def selves(self, k: int) -> set[str]:
        """The first parameters (``self``, ``cls``) of class ``k``'s methods: the object itself."""
        node = self.nodes[k][0]
        if not isinstance(node, ast.ClassDef):
            return set()
        return {self.keys[id((f.args.posonlyargs or f.args.args)[0])] for f in node.body if _is_method(f)}

    def calls_of(self, k: int) -> list[int]:
        """The token numbers of class ``k``'s ``forward`` and ``__call__`` (what calling its object runs)."""
        node = self.nodes[k][0]
        if not isinstance(node, ast.ClassDef):
            return []
        names = ("forward", "__call__")
        return [int(self.token[id(f)][5:-1]) for f in node.body if isinstance(f, ast.FunctionDef) and f.name in names]

    def holders(self, e) -> set[str]:
        """The holders whose object the value of expression ``e`` may be (or contain)."""
        if not isinstance(e, ast.AST):
            return set()
        if isinstance(e, ast.Name):
            return {self.key(e)}
        if isinstance(e, ast.Attribute):  # an attribute the notebook sets, and the object (a bound method holds it)
            inner = self.holders(e.value) if not static(self.denote(e.value)) else set()
            return ({"attr:" + e.attr} if self.attrs.get(e.attr) else set()) | inner
        if isinstance(e, (ast.Subscript, ast.Starred, ast.Await, ast.NamedExpr, ast.YieldFrom)):
            return self.holders(e.value) | ({self.key(e.target)} if isinstance(e, ast.NamedExpr) else set())
        if isinstance(e, ast.Call):
            return self._call_holders(e)
        if isinstance(e, (ast.List, ast.Tuple, ast.Set)):
            return set().union(*(self.holders(x) for x in e.elts)) if e.elts else set()
        parts: list = []
        if isinstance(e, ast.Dict):
            parts = [*(k for k in e.keys if k is not None), *e.values]
        elif isinstance(e, ast.IfExp):
            parts = [e.body, e.orelse]
        elif isinstance(e, ast.BoolOp):
            parts = e.values
        elif isinstance(e, ast.BinOp):
            parts = [e.left, e.right]
        elif isinstance(e, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
            parts = [e.elt]
        elif isinstance(e, ast.DictComp):
            parts = [e.key, e.value]
        return set().union(*(self.holders(x) for x in parts)) if parts else set()

    def _call_holders(self, e: ast.Call) -> set[str]:
        if id(e) in self.super_self:
            return {self.super_self[id(e)]}  # super(): the method's object
        callee = self.denote(e.func)
        out = {f"ret:{p[5:-1]}" for p in callee if p.startswith("<def:") and p.endswith(">")}
        for p in callee:
            if p.startswith("<class:") and p.endswith(">"):
                out |= self.selves(int(p[7:-1]))  # a new object of the student's class
            elif p.startswith("<class:"):  # the student's object called: what its forward / __call__ returns
                out |= {f"ret:{k}" for k in self.calls_of(int(p[7:].split(">")[0]))}
        if callee and all(p.startswith("<") and p.endswith(">") for p in callee):
            return out  # only the student's functions and classes: what they return, the new object
        method = isinstance(e.func, ast.Attribute)
        receiver = self.denote(e.func.value) if method else set()
        if tensor_api(callee, objects=not method) and not (method and holds_objects(receiver)):
            return out  # a tensor or a number
        for a in [*e.args, *(k.value for k in e.keywords)]:
            out |= self.holders(a)  # a library call may return (or hold) its arguments
        if method and not static(receiver):
            out |= self.holders(e.func.value)  # x.pop(), x.copy(), x.children(): x's objects
        elif not method and any(not p.startswith("<") and not static({p}) for p in callee):
            out |= self.holders(e.func)  # a bound method or a partial in a name: what it holds
        return out
