"""The constants and small helpers of the "from scratch" analysis (:mod:`course_utils.scratch`):
which modules a graded notebook may import, which calls store, the limits, and path helpers.

Example:
    >>> _extend("torch", ".relu")
    'torch.relu'
"""

from __future__ import annotations

import ast
import functools
import unicodedata

from course_utils.scratchreal import extend as real_extend

MAX_ROUNDS = 60  # rounds of the flow analysis before it gives up (and fails)
MAX_PATHS = 4000  # dotted paths one name may have before the analysis gives up (and fails)
MAX_DEPTH = 12  # segments of one dotted path

# Top-level modules a graded notebook may import (all imported before any student cell when grading,
# so no file of the submission can stand in for them).
MODULES = {
    "torch", "torchvision", "numpy", "math", "cmath", "matplotlib", "course_utils", "collections", "functools",
    "itertools", "time", "typing", "dataclasses", "contextlib", "random", "copy", "IPython", "tqdm", "torchinfo",
    "PIL", "statistics", "fractions", "numbers", "enum", "abc", "warnings", "re", "json", "os", "pathlib", "sys",
    "__future__", "operator", "string", "textwrap", "skimage",
}  # fmt: skip
# Modules that reach objects by name, read frames or run code from data: any use of them is dynamic.
DANGEROUS = {
    "inspect", "gc", "ctypes", "importlib", "builtins", "pickle", "marshal", "types", "code", "codeop", "runpy",
    "pydoc", "pkgutil", "timeit", "doctest", "pdb", "cProfile", "profile", "trace", "copyreg", "shelve", "dill",
    "cloudpickle", "joblib", "dis", "symtable", "ast", "sysconfig", "site", "zipimport", "imp", "threading",
    "multiprocessing", "subprocess", "unittest", "typing_extensions", "annotationlib",
}  # fmt: skip
NAMED_CALLS = {"getattr", "setattr", "hasattr", "delattr"}  # fine with a constant name (read as an attribute)
# calls that put their later arguments into their first (``setattr(o, "f", torch.relu)``, ``heapq.heappush``)
MUTATORS = {
    "setattr", "update_wrapper", "wraps", "setitem", "iadd", "heappush", "heappushpop", "heapreplace", "insort",
    "insort_left", "insort_right", "append", "extend", "insert", "update", "setdefault", "add", "appendleft",
    "extendleft", "add_module", "register_module", "register_buffer", "register_parameter", "copy_", "set_",
    "put", "push", "__setitem__",
}  # fmt: skip


class Undecidable(Exception):
    """The analysis could not finish (a chain too long): the graded function fails."""


def _norm(s: str) -> str:
    return unicodedata.normalize("NFKC", s)


_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _is_method(f: ast.AST) -> bool:
    """A method whose first parameter is the object (or class): not a ``staticmethod``."""
    if not isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) or not (f.args.posonlyargs or f.args.args):
        return False
    return not any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in f.decorator_list)


def _args(f: ast.AST) -> list[ast.arg]:
    a = f.args
    return [*a.posonlyargs, *a.args, *a.kwonlyargs, *([a.vararg] if a.vararg else []), *([a.kwarg] if a.kwarg else [])]


def _roots(e: ast.AST) -> list[ast.Name]:
    while isinstance(e, (ast.Attribute, ast.Subscript, ast.Starred)):
        e = e.value
    return [e] if isinstance(e, ast.Name) else []


def _attrs(e: ast.AST) -> list[str]:
    out = []
    while isinstance(e, (ast.Attribute, ast.Subscript, ast.Starred)):
        if isinstance(e, ast.Attribute):
            out.append(e.attr)
        e = e.value
    return out


def _named_call(e: ast.Call) -> tuple[str, str] | None:
    """("getattr", "relu") for ``getattr(x, "relu")``; None for other calls."""
    if (
        isinstance(e.func, ast.Name)
        and e.func.id in NAMED_CALLS
        and len(e.args) >= 2
        and isinstance(e.args[1], ast.Constant)
        and isinstance(e.args[1].value, str)
    ):
        return e.func.id, e.args[1].value
    return None


def _only_library(paths: set[str]) -> bool:
    """Every path is a library's module, function or class, or a library object (a tensor)."""
    return bool(paths) and not any(p.startswith("<") for p in paths)


def _token_number(p: str) -> int:
    """3 for "<def:3>", "<class:3>()" or "<def:3>.x"."""
    return int(p[1:].split(":")[1].split(">")[0])


def _segments(p: str) -> int:
    return p.count(".") + p.count("(")


@functools.lru_cache(maxsize=1 << 18)
def _extend(p: str, tail: str) -> str | None:
    """``p`` followed by ``tail`` (".relu" or "()"). Only a library's dotted names grow; a call's value,
    a builtin and the student's objects are cut short ("torch.zeros()…"): whether such a value is
    banned is decided by what was called, and what its attributes hold is in the attribute table."""
    if p.endswith("…"):
        return p
    if _segments(p) >= MAX_DEPTH or "(" in p or p[:1] in "<~":
        return p + "…"  # what the student's objects, builtins and call values hold is in the attribute table
    return real_extend(p, tail) if tail.startswith(".") else p + tail
