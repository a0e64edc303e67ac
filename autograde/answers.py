"""What the student's process sends back (``student_runner.py``, in the sandbox): a call's answer made
plain, the figures a cell left open, messages and reprs cut to the protocol's limits.

Standard library only (the torch-free formula process reads it too), copied into the sandbox beside the
runner (``sandbox.RUNNER_FILES``). Every limit is a ``rules.LIMIT`` entry.

    >>> list(take(iter(range(3))))
    [0, 1, 2]
"""

from __future__ import annotations

import sys

try:
    from autograde.rules import LIMIT
except ImportError:  # in the sandbox, beside student_runner.py (sandbox.RUNNER_FILES)
    from rules import LIMIT  # type: ignore[no-redef]

MAX_IMAGE = LIMIT["image_kb"] * 1024  # bytes of one PNG kept


def figures() -> list[dict]:
    """PNGs of the matplotlib figures a cell left open (as Jupyter's inline backend shows them)."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return []
    outs = []
    try:
        import base64
        import io

        for num in plt.get_fignums()[: LIMIT["figures"]]:
            buf = io.BytesIO()
            plt.figure(num).savefig(buf, format="png", dpi=60)
            data = buf.getvalue()
            if len(data) <= MAX_IMAGE:
                outs.append(
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {"image/png": base64.b64encode(data).decode(), "text/plain": "<Figure>"},
                    }
                )
        plt.close("all")
    except Exception:
        pass
    return outs


def apply(op: str, target, args, kwargs, name):
    """What the host asked for: ``op`` ("call", "getattr", ...) on ``target``, the answer as it is."""
    if op == "call":
        return target(*args, **kwargs)
    if op == "getattr":
        return getattr(target, str(name))
    if op == "getitem":
        return target[args[0]]
    if op == "len":
        return len(target)
    if op == "iter":
        return list(take(iter(target)))
    if op == "call_many":  # course_utils.checks.call_many: many cases in one message
        return [target(*a, **k) for a, k in args[0]]
    if op == "call_here":  # a library function (ResNet) given the student's objects
        return args[0](*args[1:], **kwargs)
    if op == "repr":
        return short_repr(target, LIMIT["repr_chars"])
    raise ValueError(f"unknown operation {op!r}")


def take(it, n: int = LIMIT["iter_items"]):
    for i, x in enumerate(it):
        if i >= n:
            raise ValueError(f"more than {n} items")
        yield x


def plain(x):
    """Generators and iterators are sent as lists (``model.parameters()``); the rest as it is
    (``wire`` turns subclasses such as a state_dict's OrderedDict into exact built-ins)."""
    import types

    if isinstance(x, (types.GeneratorType, map, filter, zip, enumerate, reversed)):
        return list(take(x))
    return x


def type_name(x) -> str:
    t = type(x)
    return f"{getattr(t, '__module__', '?')}.{getattr(t, '__qualname__', '?')}"[: LIMIT["type_chars"]]


def short(e: BaseException) -> str:
    try:
        return str(e)[: LIMIT["message_chars"]]
    except Exception:
        return "(unprintable message)"


def short_repr(x, n: int) -> str:
    try:
        return repr(x)[:n]
    except Exception:
        return f"<{type(x).__name__}>"
