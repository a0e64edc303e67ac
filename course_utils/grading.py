"""Grading a trained model from its checkpoint: the held-out set, loading, accuracy, thresholds.

Used by the autograded cells of ``08_hw3_cifar10``: the autograder never trains; it rebuilds the
student's network with their ``build_model()``, loads the submitted checkpoint and measures it on
held-out images. Every failure (no file, a corrupt file, weights that do not fit the network, a
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

from .data import ImageData, TensorLoader, load_dataset, quick_mode, synthetic_dataset  # noqa: F401
from .train import load_checkpoint

__all__ = ["CheckpointError", "heldout_set", "load_model", "checkpoint_accuracy", "THRESHOLDS"]

# accuracy thresholds of 08_hw3_cifar10: on real CIFAR-10, and on the synthetic stand-in (CI)
THRESHOLDS = {"real": (0.55, 0.70, 0.80), "synthetic": (0.40, 0.60, 0.75)}


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


def load_model(path: str | os.PathLike, build_model: Callable[[], nn.Module]) -> nn.Module:
    """``build_model()`` with the weights of the checkpoint at ``path``, in eval mode on the CPU.

    Raises :class:`CheckpointError` (never anything else) when that is not possible.
    """
    path = Path(path)
    inside = os.environ.get("COURSE_SUBMISSION_DIR")  # set by the autograder: the submission's own files
    if inside and not path.resolve().is_relative_to(Path(inside).resolve()):
        raise CheckpointError(f"the checkpoint must be a file handed in with the notebook, not {path}")
    if not path.is_file():
        raise CheckpointError(
            f"no checkpoint at {path}: train your model and save it with "
            f"save_checkpoint first\n(the autograder does not train; it only loads this file)"
        )
    try:
        model = build_model()
    except Exception as e:
        raise CheckpointError(f"build_model() failed ({type(e).__name__}: {e}); fix it first") from None
    if not isinstance(model, nn.Module) and not getattr(type(model), "stand_in", False):  # autograder stand-in
        raise CheckpointError(f"build_model() must return an nn.Module, got {type(model).__name__}")
    try:
        load_checkpoint(path, model)
    except (FileNotFoundError, ValueError) as e:
        raise CheckpointError(f"{e}\nSave the checkpoint again from the model build_model() builds.") from None
    return model.eval()


@torch.no_grad()
def checkpoint_accuracy(
    path: str | os.PathLike, build_model: Callable[[], nn.Module], data: ImageData | None = None, batch_size: int = 500
) -> float:
    """Accuracy on ``data`` (default :func:`heldout_set`) of the model saved at ``path``.

    Inputs are normalized with the data set's mean and std, as :class:`~course_utils.data.TensorLoader`
    gives them in training.
    """
    model = load_model(path, build_model)
    data = data if data is not None else heldout_set()
    correct = 0
    try:
        for x, y in TensorLoader(data, batch_size):
            out = model(x)
            if out.shape != (len(y), len(data.classes)):
                raise CheckpointError(
                    f"the model maps a batch {tuple(x.shape)} to {tuple(out.shape)}, "
                    f"expected ({len(y)}, {len(data.classes)})"
                )
            correct += (out.argmax(1) == y).sum().item()
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"the model failed on a batch of images ({type(e).__name__}: {e})") from None
    return correct / len(data)
