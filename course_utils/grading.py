"""Grading a trained model from its checkpoint: the held-out set, loading, accuracy, thresholds.

Used by the autograded cells of ``08_hw3_cifar10``: the autograder never trains; it rebuilds the
student's network with their ``build_model()``, loads the submitted checkpoint and measures it on
held-out images.

Under the autograder the network is built and the checkpoint opened in the student's process (the
sandbox, with its memory limit: :func:`open_checkpoint` through ``checks.student_side``); the trusted
side only sends it batches of images and reads back logits as plain tensors, whose shapes it checks.
A model is judged on each image alone: :func:`checkpoint_accuracy` shows every held-out image twice,
in two secret random orders (drawn from ``os.urandom``) and in batches of two sizes, and fails when
an image gets a different class the second time (its answer may depend on that image only, not on
the order, the batch or what the model saw before). An image counts as correct when both answers are.

Every failure (no file, a corrupt file, weights that do not fit the network, a
network that raises) becomes a :class:`CheckpointError` with a message that says what to fix, so a
test cell fails with that message and the rest of the batch is graded as usual.

Example:
    >>> from torch import nn
    >>> build = lambda: nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    >>> try:
    ...     checkpoint_accuracy("no_such_file.pt", build, synthetic_dataset("cifar10", "test", n=20))
    ... except CheckpointError as e:
    ...     print(str(e).splitlines()[0])
    no checkpoint at no_such_file.pt: train your model and save it with save_checkpoint first
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from . import checks
from .data import ImageData, load_dataset, quick_mode, synthetic_dataset  # noqa: F401
from .train import load_checkpoint

__all__ = ["CheckpointError", "heldout_set", "load_model", "open_checkpoint", "checkpoint_accuracy", "THRESHOLDS"]

# accuracy thresholds of 08_hw3_cifar10: on real CIFAR-10, and on the synthetic stand-in (CI)
THRESHOLDS = {"real": (0.55, 0.70, 0.80), "synthetic": (0.40, 0.60, 0.75)}
CHECKPOINT_MB = 200  # the most a checkpoint may unpack to: what a submission may hand in (rules.LIMITS)
# Two answers for one image that differ are forgiven only as float noise: both sets of logits
# agree within this (relative to the largest logit), so the two classes were tied to rounding.
TIE_TOLERANCE = 1e-4


class CheckpointError(RuntimeError):
    """The checkpoint cannot be graded; the message says why and what to do."""


def heldout_set(n: int | None = None) -> ImageData:
    """The images a homework model is graded on: CIFAR-10's test split (never trained on).

    In quick mode (CI, autograding without the real data) this is the synthetic stand-in's test
    split; ``n`` keeps a seeded subset (quick mode: 2,000 images).

    Example:
        >>> import contextlib, io
        >>> with contextlib.redirect_stdout(io.StringIO()):   # the stand-in's banner
        ...     data = heldout_set(n=10)
        >>> data.images.shape
        torch.Size([10, 3, 32, 32])
    """
    data = load_dataset("cifar10", "test")
    n = n if n is not None else (2_000 if quick_mode() else None)
    return data.subset(n) if n is not None and n < len(data) else data


def _no_file(path: Path) -> str:
    return (
        f"no checkpoint at {path}: train your model and save it with "
        f"save_checkpoint first\n(the autograder does not train; it only loads this file)"
    )


def open_checkpoint(path: str, build_model: Callable[[], nn.Module]) -> nn.Module:
    """``build_model()`` with the weights of the checkpoint at ``path``, in eval mode on the CPU.

    Under the autograder this runs in the student's process (:func:`load_model` sends it there);
    raises :class:`CheckpointError` when that is not possible.

    Example:
        >>> try:
        ...     open_checkpoint("no_such_file.pt", lambda: nn.Linear(2, 2))
        ... except CheckpointError as e:
        ...     print(str(e).splitlines()[0])
        no checkpoint at no_such_file.pt: train your model and save it with save_checkpoint first
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(_no_file(path))
    try:
        model = build_model()
    except Exception as e:
        raise CheckpointError(f"build_model() failed ({type(e).__name__}: {e}); fix it first") from None
    if not isinstance(model, nn.Module):
        raise CheckpointError(f"build_model() must return an nn.Module, got {type(model).__name__}")
    try:
        load_checkpoint(path, model, max_mb=CHECKPOINT_MB)
    except (FileNotFoundError, ValueError) as e:
        raise CheckpointError(f"{e}\nSave the checkpoint again from the model build_model() builds.") from None
    except MemoryError:
        raise CheckpointError(f"{path} does not fit in the memory the grader gives a notebook") from None
    return model.eval()


def load_model(path: str | os.PathLike, build_model: Callable[[], nn.Module]) -> nn.Module:
    """``build_model()`` with the weights of the checkpoint at ``path``, in eval mode on the CPU.

    Under the autograder, the model lives in the student's process and what comes back is its
    stand-in. Raises :class:`CheckpointError` (never anything else) when that is not possible.

    Example:
        >>> try:
        ...     load_model(3, lambda: nn.Linear(2, 2))
        ... except CheckpointError as e:
        ...     print(e)
        the checkpoint must be a path (a str or pathlib.Path), got int
    """
    if not isinstance(path, (str, os.PathLike)) or getattr(type(path), "stand_in", False):
        raise CheckpointError(f"the checkpoint must be a path (a str or pathlib.Path), got {type(path).__name__}")
    path = Path(path)
    inside = os.environ.get("COURSE_SUBMISSION_DIR")  # set by the autograder: the submission's own files
    if inside:
        root = Path(inside).resolve()
        if not path.resolve().is_relative_to(root):
            raise CheckpointError(f"the checkpoint must be a file handed in with the notebook, not {path}")
        path = path.resolve().relative_to(root)  # the student's process holds the same files
        if not (root / path).is_file():
            raise CheckpointError(_no_file(path))
    try:
        model = checks.student_side(open_checkpoint)(str(path), build_model)
    except CheckpointError:
        raise
    except Exception as e:
        if type(e).__name__ == "StudentGone":  # the notebook's process stopped: the grader says so
            raise
        raise CheckpointError(str(e).removeprefix("CheckpointError: ")) from None
    if not isinstance(model, nn.Module) and not getattr(type(model), "stand_in", False):
        raise CheckpointError(f"loading the checkpoint gave a {type(model).__name__}, not a model")
    return model


def _secret_order(n: int) -> tuple[torch.Tensor, torch.Generator]:
    """A random order of ``n`` images nobody can predict (seeded from ``os.urandom``), and its generator."""
    g = torch.Generator().manual_seed(int.from_bytes(os.urandom(8), "little"))
    return torch.randperm(n, generator=g), g


def _logits(model, data: ImageData, order: torch.Tensor, batch_size: int) -> torch.Tensor:
    """The model's logits for every image of ``data`` (row i: image i), shown in ``order``, in batches."""
    k = len(data.classes)
    images = _normalized(data)
    out = torch.empty(len(data), k, dtype=torch.float64)
    for start in range(0, len(data), batch_size):
        idx = order[start : start + batch_size]
        x = images[idx]
        try:
            y = model(x)
        except Exception as e:
            if type(e).__name__ == "StudentGone":
                raise
            raise CheckpointError(f"the model failed on a batch of images ({type(e).__name__}: {e})") from None
        if type(y) is not torch.Tensor or y.shape != (len(idx), k) or not (y.is_floating_point() or y.is_complex()):
            what = f"{tuple(y.shape)} ({y.dtype})" if type(y) is torch.Tensor else f"a {type(y).__name__}"
            raise CheckpointError(
                f"the model maps a batch {tuple(x.shape)} to {what}, expected logits ({len(idx)}, {k})"
            )
        out[idx] = y.detach().real.to(torch.float64)
    return out


def _normalized(data: ImageData) -> torch.Tensor:
    """All images normalized at once: an image is the same bits in whichever batch it is sent."""
    mean = torch.tensor(data.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.std).view(1, -1, 1, 1)
    return (data.images.float() / 255 - mean) / std


def _disagreements(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Images whose class differs between two evaluations beyond float noise (:data:`TIE_TOLERANCE`)."""
    differ = first.argmax(1) != second.argmax(1)
    scale = torch.maximum(first.abs().amax(1), second.abs().amax(1)).clamp_min(1.0)
    noise = ((first - second).abs().amax(1) <= TIE_TOLERANCE * scale) & torch.isfinite(first).all(1)
    return differ & ~noise


@torch.no_grad()
def checkpoint_accuracy(
    path: str | os.PathLike, build_model: Callable[[], nn.Module], data: ImageData | None = None, batch_size: int = 500
) -> float:
    """Accuracy on ``data`` (default :func:`heldout_set`) of the model saved at ``path``.

    Inputs are normalized with the data set's mean and std, as :class:`~course_utils.data.TensorLoader`
    gives them in training. Every image is shown twice, in two secret orders and batch sizes
    (``batch_size``, then a random smaller one); an image is correct when both answers are, and a
    :class:`CheckpointError` says so when an image's class differs between the two. Calls with the same
    checkpoint bytes, images, batch size and ``build_model`` object share one measurement (the three
    level tests); retrain or redefine ``build_model`` to measure again.

    Example:
        >>> import contextlib, io, tempfile
        >>> from course_utils.train import save_checkpoint
        >>> build = lambda: nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
        >>> p = save_checkpoint(Path(tempfile.mkdtemp()) / "m.pt", build())
        >>> 0 <= checkpoint_accuracy(p, build, synthetic_dataset("cifar10", "test", n=20)) <= 1
        True
    """
    data = data if data is not None else heldout_set()
    key = _measured_key(path, build_model, data, batch_size)
    if key is not None and key in _MEASURED:  # the three level tests share one measurement
        result = _MEASURED[key][1]
    else:
        try:
            result = _measure(load_model(path, build_model), data, batch_size)
        except CheckpointError as e:
            result = e
        if key is not None:
            _MEASURED[key] = (build_model, result)  # kept alive: its id stays its own
    if isinstance(result, CheckpointError):
        raise CheckpointError(str(result))
    return result


def _measure(model, data: ImageData, batch_size: int) -> float:
    n = len(data)
    order, g = _secret_order(n)
    first = _logits(model, data, order, batch_size)
    second_size = int(torch.randint(max(1, batch_size // 2), max(2, batch_size), (1,), generator=g))
    second = _logits(model, data, _secret_order(n)[0], second_size)
    bad = _disagreements(first, second)
    if bad.any():
        raise CheckpointError(
            f"{int(bad.sum())} of {n} held-out images got a different class when shown again in another "
            f"order and other batches (batches of {batch_size}, then {second_size}): a model must answer "
            "for each image alone, not from the order, the batch or what it saw before"
        )
    correct = (first.argmax(1) == data.labels) & (second.argmax(1) == data.labels)
    return int(correct.sum()) / n


_MEASURED: dict[tuple, tuple[object, float | CheckpointError]] = {}


def _measured_key(path, build_model, data: ImageData, batch_size: int) -> tuple | None:
    """What a measurement depends on: the checkpoint's bytes, the images, the batch size and the network.

    Under the autograder (a fresh process per student, the network built in the student's process)
    the checkpoint must lie in the submission's folder; elsewhere (a student's kernel, nbval) the key
    also holds the ``build_model`` object itself, so redefining it measures again."""
    import hashlib

    if not isinstance(path, (str, os.PathLike)) or getattr(type(path), "stand_in", False):
        return None
    file = Path(path).resolve()
    inside = os.environ.get("COURSE_SUBMISSION_DIR")
    if (inside and not file.is_relative_to(Path(inside).resolve())) or not file.is_file():
        return None
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    seen = hashlib.sha256(data.images.numpy().tobytes() + data.labels.numpy().tobytes()).hexdigest()
    network = "graded" if inside else id(build_model)
    return str(file), digest, seen, tuple(data.images.shape), batch_size, network
