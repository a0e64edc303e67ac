"""Which library paths exist: the real objects behind the dotted names of :mod:`course_utils.scratchflow`.

A path such as ``torch.nn.modules.utils._pair.ceil_mode`` arises when the flow analysis reads an
attribute name on every value a name may have; most such paths name nothing (``_pair`` has no
``ceil_mode``), and reading them at run time raises ``AttributeError``. :func:`extend` gives ``p``
itself for them (a value the analysis gives the path ``p`` may also be an object holding ``p``: an
exception, a container), so value sets stay small and stay sound; what a student stores on a
library object is still in the analysis's attribute table. Only modules, classes and functions are
looked into (``getattr`` on them runs no student code); a path through any other object is cut
short (``…``), which the ban reads as "anything under it".

Example:
    >>> extend("torch.nn", ".functional")
    'torch.nn.functional'
    >>> extend("torch.nn.modules.utils._pair", ".ceil_mode")
    'torch.nn.modules.utils._pair'
"""

from __future__ import annotations

import functools
import importlib
import inspect

MISSING = object()


@functools.lru_cache(maxsize=65536)
def resolve(path: str) -> object:
    """The object ``path`` names, or MISSING."""
    head, *rest = path.split(".")
    try:
        obj = importlib.import_module(head)
    except Exception:
        return MISSING
    done = head
    for seg in rest:
        done = f"{done}.{seg}"
        if not (inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isroutine(obj)):
            return MISSING
        try:
            obj = inspect.getattr_static(obj, seg) if inspect.isclass(obj) else getattr(obj, seg)
        except AttributeError:
            if not inspect.ismodule(obj):
                return MISSING
            try:
                obj = importlib.import_module(done)
            except Exception:
                return MISSING
        except Exception:
            return MISSING
    return obj


def inspectable(obj: object) -> bool:
    return inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isroutine(obj)


def extend(p: str, tail: str) -> str:
    """``p + tail`` for a library path ``p`` (``tail`` = ".name"); ``p`` when no such object exists;
    ``p`` cut short (``p…``) when ``p`` is an object this module does not look into.

    Example:
        >>> extend("torch", ".relu")
        'torch.relu'
    """
    obj = resolve(p)
    if obj is MISSING or not inspectable(obj):
        return p + "…"  # unknown (a module outside the libraries, a value): anything under it
    if resolve(p + tail) is MISSING:
        if inspect.isclass(obj) and not any("__getattr__" in vars(c) for c in obj.__mro__[:-1]):
            return p
        if inspect.ismodule(obj) and "__getattr__" not in vars(obj):
            return p
        if inspect.isroutine(obj):
            return p
    return p + tail
