"""What HW1's hidden tests (``04_hw1_layer_sizes``) check in the same way in several cells, written once.

Each hidden test draws its own random cases (a generator with a fixed start) and compares the
student's answers with PyTorch's through these helpers. A helper never asserts: it yields
``(ok, message)`` pairs and the test cell asserts each one,
``for _ok, _why in formula_checks(...): assert _ok, _why``, so every comparison is an ``assert`` of
the test cell itself (what the autograder counts, docs/grading.md) and a failure says what it said
when the code was in the cell. The cases are made and checked in order, one at a time, as they were.

Under the autograder these helpers run in the trusted process with the test cell: a student's
function arrives as a stand-in, and ``course_utils.checks.formula_only`` and ``call_many`` are
looked up when they are called. What a function must not use is :data:`FORMULA_BANNED` and
:data:`TABLE_BANNED`, which each test cell gives to ``course_utils.checks.from_scratch``.

- :func:`one_thread` -- PyTorch on one thread while a test builds its many small layers;
- :func:`formula_checks` -- a formula's answers against PyTorch's, many calls in one batch;
- :func:`random_layer`, :func:`output_shape`, :func:`layer_row_checks` -- random layers and ``layer_row``;
- :func:`reference_rows`, :func:`table_checks`, :func:`nethw_copy`, :func:`nethw_unchanged` -- layer tables.

Example:
    >>> with one_thread():
    ...     torch.get_num_threads()
    1
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn

from . import checks

__all__ = [
    "FORMULA_BANNED",
    "TABLE_BANNED",
    "one_thread",
    "formula_checks",
    "random_layer",
    "output_shape",
    "layer_row_checks",
    "reference_rows",
    "table_checks",
    "nethw_copy",
    "nethw_unchanged",
]

Check = tuple[bool, str]  # (passed, what the test says when it did not)
Case = tuple[tuple, dict, object, str]  # (args, kwargs, PyTorch's answer, the call as the student reads it)

# What a formula (conv2d_output_size ... linear_macs) must not use: it computes its answer with integers
# (under the autograder it runs where there is no torch at all).
FORMULA_BANNED = ["torch", "torchvision", "torchinfo", "course_utils"]
# What layer_row and layer_table_by_hand must not use: no counting, no running or probing a layer.
TABLE_BANNED = [
    "course_utils", "torchinfo", "torchvision", "torch.utils.flop_counter", "torch.nn.Module.parameters",
    "torch.nn.Module.named_parameters", "torch.nn.Module.buffers", "torch.nn.Module.named_buffers",
    "torch.nn.Module.state_dict", "torch.nn.Module.forward", "torch.nn.Module.register_forward_hook",
    "torch.nn.Module.register_forward_pre_hook", "torch.nn.modules.module.register_module_forward_hook",
    "torch.nn.modules.module.register_module_forward_pre_hook", "torch.nn.Conv2d.weight", "torch.Tensor.numel",
    "torch.Tensor.nelement", "torch.numel", "torch.zeros", "torch.ones", "torch.empty", "torch.full", "torch.rand",
    "torch.randn", "torch.tensor", "torch.ops",
]  # fmt: skip


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """PyTorch on one thread inside the block, the number of threads it had restored after.

    Example:
        >>> before = torch.get_num_threads()
        >>> with one_thread():
        ...     torch.get_num_threads()
        1
        >>> torch.get_num_threads() == before
        True
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def formula_checks(
    fn: Callable, name: str, cases: Sequence[Case], reference: str, then: Callable[[], Check] | None = None
) -> Iterator[Check]:
    """The checks of a formula ``fn`` (named ``name``): ``then()`` if given, then one check per case,
    all called at once (``call_many``; under the autograder in a process without torch, ``formula_only``).
    A case is (args, kwargs, PyTorch's answer, the call as written in a message); a wrong answer reads
    ``"{call} returned {answer}; {reference} {want}"``.

    Example:
        >>> def square(x):
        ...     return x * x
        >>> cases = [((3,), {}, 9, "square(3)"), ((2,), {}, 5, "square(2)")]
        >>> [why for ok, why in formula_checks(square, "square", cases, "PyTorch:") if not ok]
        ['square(2) returned 4; PyTorch: 5']
    """
    formula = checks.formula_only(fn)
    if then is not None:
        yield then()
    answers = checks.call_many(formula, [(args, kwargs) for args, kwargs, _, _ in cases])
    for (_, _, want, what), got in zip(cases, answers, strict=True):
        ok = got == want
        yield ok, "" if ok else f"{what} returned {got}; {reference} {want}"


def random_layer(shape: tuple[int, ...], g: torch.Generator) -> nn.Module:
    """A random layer (drawn from ``g``) that takes an input of ``shape`` (no batch dimension): a
    ``Linear``, ``ReLU`` or ``Dropout`` after a flat shape; after a ``(C, H, W)`` one, any layer HW1 counts.

    Example:
        >>> isinstance(random_layer((8,), torch.Generator().manual_seed(0)), nn.Module)
        True
    """

    def ri(lo: int, hi: int) -> int:
        return int(torch.randint(lo, hi, (1,), generator=g))

    if len(shape) == 1:
        kind = ri(0, 3)
        if kind == 0:
            return nn.Linear(shape[0], ri(1, 50), bias=bool(ri(0, 2)))
        return [nn.ReLU(), nn.Dropout(0.3)][kind - 1]
    c, _, _ = shape
    kind = ri(0, 10)
    if kind <= 2:
        grp = [1, 1, 2, c][ri(0, 4)] if c % 2 == 0 else 1
        k, d = ri(1, 6), ri(1, 4)
        return nn.Conv2d(
            c, grp * ri(1, 6), k, stride=ri(1, 4), padding=ri(0, 4), dilation=d, groups=grp, bias=bool(ri(0, 2))
        )
    if kind == 3:
        s = ri(1, 4)
        d = ri(1, 3)
        return nn.ConvTranspose2d(
            c, ri(1, 6), ri(1, 5), stride=s, padding=ri(0, 3), dilation=d, output_padding=ri(0, max(s, d)),
            bias=bool(ri(0, 2)),
        )  # fmt: skip
    if kind == 4:
        k = ri(1, 5)
        return nn.MaxPool2d(k, stride=ri(1, 4), padding=ri(0, k // 2 + 1), dilation=ri(1, 3), ceil_mode=bool(ri(0, 2)))
    if kind == 5:
        k = ri(1, 5)
        return nn.AvgPool2d(k, stride=ri(1, 4), padding=ri(0, k // 2 + 1), ceil_mode=bool(ri(0, 2)))
    if kind == 6:
        return nn.BatchNorm2d(c, affine=bool(ri(0, 4)))
    if kind == 7:
        return nn.AdaptiveAvgPool2d((ri(1, 5), ri(1, 5)))
    if kind == 8:
        return nn.Flatten()
    return [nn.ReLU(), nn.LeakyReLU(0.1), nn.Dropout(0.2), nn.Identity()][ri(0, 4)]


def output_shape(layer: nn.Module, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """PyTorch's own output shape of ``layer`` for one input of ``shape`` (no batch dimension); None when
    PyTorch rejects the configuration or the output is empty.

    Example:
        >>> output_shape(nn.Conv2d(3, 8, 3), (3, 10, 10)), output_shape(nn.Conv2d(3, 8, 5), (3, 2, 2))
        ((8, 8, 8), None)
    """
    try:
        with torch.no_grad():
            y = layer.eval()(torch.zeros((1,) + tuple(shape)))
    except RuntimeError:
        return None
    return tuple(y.shape[1:]) if y.numel() > 0 else None


def layer_row_checks(fn: Callable, cases: Sequence[tuple[nn.Module, tuple, tuple, int]]) -> Iterator[Check]:
    """The checks of ``layer_row`` (``fn``) on ``cases`` (layer, input shape, PyTorch's output shape,
    parameters), all called at once: one that it ran no layer (a layer with
    ``course_utils.checks.refuse_forward`` raises), then per case a pair (output shape, params), the right one.

    Example:
        >>> def layer_row(layer, shape):
        ...     return shape, 0
        >>> [why for ok, why in layer_row_checks(layer_row, [(nn.ReLU(), (3,), (3,), 0)]) if not ok]
        []
    """
    try:
        answers = checks.call_many(fn, [((layer, shape), {}) for layer, shape, _, _ in cases])
    except RuntimeError as e:
        yield "must not be run" not in str(e), "layer_row ran a layer: use your formulas instead"
        raise
    for (layer, shape, want, params), got in zip(cases, answers, strict=True):
        ok = isinstance(got, tuple) and len(got) == 2
        yield ok, "" if ok else f"layer_row must return (output shape, params), got {got!r}"
        ok = (tuple(got[0]), got[1]) == (want, params)
        why = f"layer_row({layer}, {shape}) returned {got}; PyTorch gives shape {want} and {params} parameters"
        yield ok, "" if ok else why


def reference_rows(model: nn.Module, in_shape: tuple[int, ...]) -> list[tuple[str, str, tuple, tuple, int]]:
    """[(name, kind, input shape, output shape, params)] of every leaf module, in the order the forward pass
    first calls them, measured by PyTorch with forward hooks on the meta device (``model`` moves there).

    Example:
        >>> reference_rows(nn.Sequential(nn.Conv2d(3, 10, 5, padding=2), nn.ReLU()), (3, 32, 32))[0]
        ('0', 'Conv2d', (3, 32, 32), (10, 32, 32), 760)
    """
    names = {id(m): n for n, m in model.named_modules()}
    rows, done = [], set()

    def hook(m, args, out):
        if id(m) not in done:
            done.add(id(m))
            params = sum(p.numel() for p in m.parameters())
            rows.append((names[id(m)], type(m).__name__, tuple(args[0].shape[1:]), tuple(out.shape[1:]), params))

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        model = model.to("meta").eval()
        with torch.no_grad():
            model(torch.zeros((1,) + tuple(in_shape), device="meta"))
    finally:
        for h in handles:
            h.remove()
    return rows


def _flat(kind: str, shape: Sequence[int]) -> tuple[int, ...]:
    """A Linear row may give its input before or after flattening: compare the number of features."""
    shape = tuple(shape)
    if kind != "Linear":
        return shape
    n = 1
    for v in shape:
        n *= v
    return (n,)


def table_checks(got: object, want: list[tuple], what: str) -> Iterator[Check]:
    """The checks of the rows ``layer_table_by_hand`` returned (``got``) against :func:`reference_rows`
    (``want``): a list, the same layer names, then each row the same (``what`` names the network).

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
        >>> rows = [("0", "Flatten", (1, 2, 2), (4,), 0), ("1", "Linear", (4,), (2,), 9)]
        >>> [why for ok, why in table_checks(rows, reference_rows(net, (1, 2, 2)), "the net") if not ok]
        ["the net: row ('1', 'Linear', (4,), (2,), 9) should be ('1', 'Linear', (4,), (2,), 10)"]
    """
    ok = isinstance(got, list)
    yield ok, "" if ok else f"{what}: layer_table_by_hand must return a list of rows, got {type(got).__name__}"
    got = [tuple(r) for r in got]
    ok = [r[0] for r in got] == [r[0] for r in want]
    yield ok, "" if ok else f"{what}: layer names {[r[0] for r in got]} differ from {[r[0] for r in want]}"
    for a, b in zip(got, want, strict=True):
        ok = (a[1], _flat(a[1], a[2]), tuple(a[3]), a[4]) == (b[1], _flat(b[1], b[2])) + b[3:]
        yield ok, "" if ok else f"{what}: row {a} should be {b}"


def nethw_copy() -> nn.Sequential:
    """HW1's network ``NetHW`` as its (locked) cell defines it, built here: the reference for the tests.

    Example:
        >>> [name for name, _ in nethw_copy().named_children()][:3]
        ['conv1', 'bn1', 'relu1']
    """
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(3, 32, kernel_size=5, stride=2, padding=2)),
        ("bn1", nn.BatchNorm2d(32)), ("relu1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)),
        ("conv2", nn.Conv2d(32, 64, kernel_size=3, padding=2, dilation=2, bias=False)),
        ("bn2", nn.BatchNorm2d(64)), ("relu2", nn.ReLU()),
        ("conv3", nn.Conv2d(64, 128, kernel_size=3, stride=2, padding=1, groups=4)), ("relu3", nn.ReLU()),
        ("conv4", nn.Conv2d(128, 128, kernel_size=3, padding=1, groups=128)),
        ("conv5", nn.Conv2d(128, 64, kernel_size=1)), ("relu4", nn.ReLU()),
        ("pool2", nn.AvgPool2d(kernel_size=3, stride=2, padding=1)),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(64 * 4 * 4, 128)), ("relu5", nn.ReLU()), ("drop", nn.Dropout(0.5)),
        ("fc2", nn.Linear(128, 10)),
    ]))  # fmt: skip


def nethw_unchanged(net: nn.Module) -> bool:
    """Whether ``net`` (a ``NetHW()``) has the layers of :func:`nethw_copy`, named and set up the same.

    Example:
        >>> nethw_unchanged(nethw_copy()), nethw_unchanged(nn.Sequential(nn.ReLU()))
        (True, False)
    """
    return [(a, repr(b)) for a, b in net.named_children()] == [(a, repr(b)) for a, b in nethw_copy().named_children()]
