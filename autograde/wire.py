"""The one wire protocol between the grader's processes: framing, messages, and plain values.

Three kinds of process talk over it (see ``autograde/__init__.py`` for the whole picture):
the host (``grade.py``), the trusted test runner (``test_runner.py``) and the student runner
(``student_runner.py``, in the sandbox). Every message is one *frame*::

    u32 length of the header | header (JSON, UTF-8) | blob 0 | blob 1 | ...

The header is a JSON object with ``"m"`` (the message name) and ``"blobs"`` (the blob lengths);
tensor data and files travel as blobs, never inside JSON. Frames over ``MAX_FRAME`` bytes, headers
over ``MAX_HEADER``, values nested deeper than ``MAX_DEPTH`` are errors (:class:`WireError`).

Messages (who sends what, with which required fields) are registered in ``messages.py``;
:func:`send` and :func:`recv` refuse any other. ``k`` is a cell index, ``v`` a value as below.

Plain values (:func:`encode`/:func:`decode`) are ``None``, ``bool``, ``int``, ``float``, ``complex``,
``str``, ``bytes``, ``list``, ``tuple``, ``dict``, ``pathlib.Path``, ``torch.Tensor`` (dense, CPU), ``torch.Size``,
``torch.dtype``, ``slice`` and ``...``. Decoding rebuilds *exact* built-in types whatever the sender
claims: an ``int`` subclass arrives as an ``int``, a Tensor subclass as a plain tensor. Anything else
leaves the student's process only as a *handle* (``["h", id, type name]``): the trusted side can
drive it (call it, read attributes) but never holds the object. In the other direction only, from
the trusted side to the student's process, objects that are not plain (an ``nn.Module`` built by a
test, a ``functools.partial``) travel pickled: the student's process only ever unpickles what the
trusted side made, and the trusted side never unpickles anything.

This module imports only the standard library at load time (torch lazily), so that the torch-free
formula process can use it.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import socket
import struct

try:
    from autograde import messages
    from autograde.rules import LIMIT
except ImportError:  # in the sandbox, beside student_runner.py (sandbox.RUNNER_FILES)
    import messages  # type: ignore[no-redef]
    from rules import LIMIT  # type: ignore[no-redef]

# the limits (autograde/rules.py)
MAX_FRAME = LIMIT["frame_mb"] << 20  # one message, blobs included
MAX_HEADER = LIMIT["header_mb"] << 20  # its JSON part
MAX_DEPTH = LIMIT["depth"]  # nesting of lists, tuples and dicts
MAX_ITEMS = LIMIT["items"]  # elements of all containers of one value
MAX_NUMEL = LIMIT["numel_m"] << 20  # elements of one tensor
MAX_INT_BITS = LIMIT["int_bits"]  # ints crossing the wire
MAX_DIMS = LIMIT["tensor_dims"]  # dimensions of one tensor
MAX_FLOAT_INT_BITS = LIMIT["float_int_bits"]  # an int read as a float


class WireError(ValueError):
    """A frame or value that breaks the protocol (too big, malformed, of a type that cannot cross)."""


# ------------------------------------------------------------------------------------------ framing
def _check(header: dict) -> None:
    try:
        messages.check(header)
    except ValueError as e:
        raise WireError(str(e)) from None


def send(sock, header: dict, blobs: list[bytes] = ()) -> None:
    """Write one frame (``sock``: a socket or a writable binary file)."""
    _check(header)
    header = dict(header, blobs=[len(b) for b in blobs])
    h = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    data = b"".join([struct.pack(">I", len(h)), h, *blobs])
    if len(data) > MAX_FRAME:
        raise WireError(f"message over {MAX_FRAME >> 20} MB")
    if isinstance(sock, socket.socket):
        sock.sendall(data)
    elif isinstance(sock, int):
        view = memoryview(data)
        while view:
            view = view[os.write(sock, view) :]
    else:
        sock.write(data)
        sock.flush()


def _read_exact(sock, n: int) -> bytes:
    parts, left = [], n
    while left:
        if isinstance(sock, socket.socket):
            chunk = sock.recv(min(left, 1 << 20))
        elif isinstance(sock, int):
            chunk = os.read(sock, min(left, 1 << 20))
        else:
            chunk = sock.read1(min(left, 1 << 20)) if hasattr(sock, "read1") else sock.read(min(left, 1 << 20))
        if not chunk:
            raise EOFError("the other process closed the connection")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def recv(sock) -> tuple[dict, list[bytes]]:
    """Read one frame: (header, blobs). Raises EOFError at the end, WireError when malformed."""
    (n,) = struct.unpack(">I", _read_exact(sock, 4))
    if n > MAX_HEADER:
        raise WireError(f"header of {n} bytes")
    try:
        header = json.loads(_read_exact(sock, n))
    except (ValueError, RecursionError) as e:
        raise WireError(f"header is not valid JSON ({type(e).__name__})") from None
    if not isinstance(header, dict) or not isinstance(header.get("m"), str):
        raise WireError("header without a message name")
    _check(header)
    sizes = header.get("blobs", [])
    if (
        not isinstance(sizes, list)
        or not all(type(s) is int and 0 <= s <= MAX_FRAME for s in sizes)
        or sum(sizes) > MAX_FRAME
    ):
        raise WireError("bad blob sizes")
    return header, [_read_exact(sock, s) for s in sizes]


# ------------------------------------------------------------------------------------------ values
_PATHS = (pathlib.PurePath,)
_DTYPES = (
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "complex64",
    "complex128",
    "uint8",
    "int8",
    "int16",
    "int32",
    "int64",
    "bool",
)


def _float(x: float):
    return x if math.isfinite(x) else repr(x)


class Encoder:
    """Turns a value into JSON-able data plus blobs. ``handle(obj) -> id`` decides what is not plain:
    the student's side gives a function that stores the object and returns its id; the trusted side
    gives ``None`` and pickles instead (``allow_pickle``)."""

    def __init__(self, handle=None, allow_pickle: bool = False, handle_id=None):
        self.blobs: list[bytes] = []
        self.handle, self.allow_pickle, self.handle_id = handle, allow_pickle, handle_id
        self.items = 0

    def blob(self, data: bytes) -> int:
        self.blobs.append(bytes(data))
        return len(self.blobs) - 1

    def __call__(self, x, depth: int = 0):
        self.items += 1
        if depth > MAX_DEPTH or self.items > MAX_ITEMS:
            raise WireError("value too deeply nested or too large to send")
        t = type(x)
        if x is None or t is bool or t is str:
            return x
        if t is int:
            if x.bit_length() > MAX_INT_BITS:
                raise WireError(f"an int of {x.bit_length()} bits")
            return ["i", x]
        if t is float:
            return ["f", _float(x)]
        if t is complex:
            return ["c", _float(x.real), _float(x.imag)]
        if t is bytes:
            return ["y", self.blob(x)]
        if t in (list, tuple):
            return ["l" if t is list else "t", [self(v, depth + 1) for v in x]]
        if t is dict:
            return ["d", [[self(k, depth + 1), self(v, depth + 1)] for k, v in x.items()]]
        if x is Ellipsis:
            return ["e"]
        if t is slice:
            return ["sl", self(x.start, depth + 1), self(x.stop, depth + 1), self(x.step, depth + 1)]
        if isinstance(x, _PATHS):
            return ["pa", str(x)]
        if self.handle_id is not None:
            hid = self.handle_id(x)
            if hid is not None:
                return ["h", hid]
        tensor = _torch_value(self, x, depth)
        if tensor is not None:
            return tensor
        plain = _as_builtin(x)  # subclasses and numpy scalars: as exact built-in values
        if plain is not _NOT_PLAIN:
            return self(plain, depth)
        if self.handle is not None:
            return self.handle(x)
        if self.allow_pickle:
            import pickle

            try:
                return ["p", self.blob(pickle.dumps(x))]
            except Exception as e:
                raise WireError(f"cannot send a {type(x).__name__} to the notebook ({e})") from None
        raise WireError(f"cannot send a {type(x).__name__}")


_NOT_PLAIN = object()


def _as_builtin(x):
    """An exact built-in value for a subclass of one (or a numpy scalar), else ``_NOT_PLAIN``."""
    try:
        if type(x).__module__ == "numpy" and getattr(x, "ndim", None) == 0 and hasattr(x, "item"):
            return x.item()
        for base in (bool, int, float, complex, str, bytes):
            if isinstance(x, base):
                return base(x) if base is not int else int.__index__(x)
        for base in (tuple, list):
            if isinstance(x, base):
                return base(tuple.__iter__(x) if base is tuple else list.__iter__(x))
        if isinstance(x, dict):
            return dict(dict.items(x))
    except Exception:
        raise WireError(f"cannot send this {type(x).__name__}") from None
    return _NOT_PLAIN


def _torch_value(enc: Encoder, x, depth: int):
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        return None
    if isinstance(x, torch.Tensor):
        with torch._C.DisableTorchFunction():
            t = torch.Tensor.detach(x)
            if t.layout != torch.strided or t.device.type != "cpu" or t.is_quantized:
                raise WireError("only dense CPU tensors can be sent")
            name = str(t.dtype).replace("torch.", "")
            if name not in _DTYPES:
                raise WireError(f"tensors of {t.dtype} cannot be sent")
            shape = [int(s) for s in t.shape]
            flat = t.contiguous().reshape(-1)
            data = flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""
            return ["T", enc.blob(data), name, shape, bool(x.requires_grad)]
    if isinstance(x, torch.Size):
        return ["S", [int(v) for v in x]]
    if isinstance(x, torch.dtype):
        return ["dt", str(x).replace("torch.", "")]
    if isinstance(x, torch.device):
        return ["dv", str(x)]
    return None


def encode(x, handle=None, allow_pickle: bool = False, handle_id=None) -> tuple[object, list[bytes]]:
    """(JSON-able data, blobs) of a value; see :class:`Encoder`."""
    enc = Encoder(handle, allow_pickle, handle_id)
    return enc(x), enc.blobs


def decode(data, blobs: list[bytes], handle=None, allow_pickle: bool = False):
    """The value ``data`` describes, rebuilt from exact built-in types.

    ``handle(id, type_name)`` makes the receiving side's object for a handle (a stand-in on the
    trusted side, the stored object on the student's side); ``allow_pickle`` only on the student's
    side (it unpickles what the trusted side sent).
    """
    count = [0]

    def d(x, depth):
        count[0] += 1
        if depth > MAX_DEPTH or count[0] > MAX_ITEMS:
            raise WireError("value too deeply nested or too large")
        if x is None or type(x) is bool:
            return x
        if type(x) is str:
            return str(x)
        if type(x) is not list or not x or type(x[0]) is not str:
            raise WireError(f"not a value: {type(x).__name__}")
        tag, rest = x[0], x[1:]
        if tag == "i" and len(rest) == 1 and type(rest[0]) is int and rest[0].bit_length() <= MAX_INT_BITS:
            return int(rest[0])
        if tag == "f" and len(rest) == 1:
            return _to_float(rest[0])
        if tag == "c" and len(rest) == 2:
            return complex(_to_float(rest[0]), _to_float(rest[1]))
        if tag == "y" and len(rest) == 1:
            return bytes(_blob(blobs, rest[0]))
        if tag in ("l", "t") and len(rest) == 1 and type(rest[0]) is list:
            items = [d(v, depth + 1) for v in rest[0]]
            return items if tag == "l" else tuple(items)
        if tag == "d" and len(rest) == 1 and type(rest[0]) is list:
            out = {}
            for kv in rest[0]:
                if type(kv) is not list or len(kv) != 2:
                    raise WireError("bad dict item")
                k = d(kv[0], depth + 1)
                if type(k) not in (str, int, float, bool, tuple, type(None)):
                    raise WireError("bad dict key")
                out[k] = d(kv[1], depth + 1)
            return out
        if tag == "pa" and len(rest) == 1 and type(rest[0]) is str and len(rest[0]) < 4096:
            return pathlib.Path(rest[0])
        if tag == "e" and not rest:
            return Ellipsis
        if tag == "sl" and len(rest) == 3:
            return slice(*(d(v, depth + 1) for v in rest))
        if tag == "T" and len(rest) == 4:
            return _tensor(blobs, *rest)
        if tag == "S" and len(rest) == 1 and type(rest[0]) is list and all(type(v) is int for v in rest[0]):
            import torch

            return torch.Size([int(v) for v in rest[0]])
        if tag == "dt" and len(rest) == 1 and rest[0] in _DTYPES:
            import torch

            return getattr(torch, rest[0])
        if tag == "dv" and len(rest) == 1 and type(rest[0]) is str and len(rest[0]) < 64:
            import torch

            return torch.device(rest[0])
        if tag == "h" and 1 <= len(rest) <= 3 and type(rest[0]) is int and handle is not None:
            name = rest[1] if len(rest) > 1 and type(rest[1]) is str else "object"
            return handle(int(rest[0]), name[:200])
        if tag == "p" and len(rest) == 1 and allow_pickle:
            import pickle

            return pickle.loads(_blob(blobs, rest[0]))
        raise WireError(f"not a value: tag {tag[:20]!r}")

    return d(data, 0)


def _to_float(v) -> float:
    if type(v) in (int, float) and not (type(v) is int and v.bit_length() > MAX_FLOAT_INT_BITS):
        return float(v)
    if v in ("nan", "inf", "-inf"):
        return float(v)
    raise WireError("bad float")


def _blob(blobs: list[bytes], i) -> bytes:
    if type(i) is not int or not 0 <= i < len(blobs):
        raise WireError("bad blob index")
    return blobs[i]


def _tensor(blobs, i, dtype, shape, requires_grad):
    import torch

    if (
        dtype not in _DTYPES
        or type(shape) is not list
        or not all(type(s) is int and 0 <= s for s in shape)
        or len(shape) > MAX_DIMS
        or type(requires_grad) is not bool
    ):
        raise WireError("bad tensor header")
    numel = math.prod(shape)
    dt = getattr(torch, dtype)
    data = _blob(blobs, i)
    size = torch.empty((), dtype=dt).element_size()
    if numel > MAX_NUMEL or len(data) != numel * size:
        raise WireError("tensor data does not match its shape")
    if numel == 0:
        t = torch.empty(shape, dtype=dt)
    else:
        t = torch.frombuffer(bytearray(data), dtype=torch.uint8).view(dt).reshape(shape).clone()
    if requires_grad and t.is_floating_point():
        t.requires_grad_(True)
    return t
