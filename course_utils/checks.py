"""Readable checks for exercises: compare a student's answer with PyTorch and say what differs.

Visible test cells of the graded notebooks use these so a failure message names the
input, the expected value and the actual one. (Hidden tests use plain ``assert`` and
``torch.testing`` so that nothing a student redefines can change them.)

Example:
    >>> import torch
    >>> check_close(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0]), "relu([1, 2])")
"""
from __future__ import annotations

from typing import Sequence

import torch

__all__ = ["check_close", "check_shape", "check_equal"]


def check_shape(t: torch.Tensor, expected: Sequence[int], what: str = "tensor") -> None:
    """Raise ``AssertionError`` naming expected and actual shapes when they differ.

    Example:
        >>> check_shape(torch.zeros(2, 3), (2, 3))
    """
    if not isinstance(t, torch.Tensor):
        raise AssertionError(f"{what}: expected a tensor of shape {tuple(expected)}, got {type(t).__name__}")
    if tuple(t.shape) != tuple(expected):
        raise AssertionError(f"{what}: expected shape {tuple(expected)}, got {tuple(t.shape)}")


def check_close(actual: torch.Tensor, expected: torch.Tensor, what: str = "result",
                rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Raise ``AssertionError`` unless ``actual`` matches ``expected`` in shape and value (with tolerance).

    The message gives the shape or the largest difference and where it is.

    Example:
        >>> check_close(torch.tensor(0.5), torch.sigmoid(torch.tensor(0.0)), "sigmoid(0)")
    """
    if actual is None:
        raise AssertionError(f"{what}: got None -- did the function forget to return its result?")
    if not isinstance(actual, torch.Tensor):
        actual = torch.as_tensor(actual, dtype=expected.dtype)
    check_shape(actual, expected.shape, what)
    a, e = actual.detach().to(torch.float64).cpu(), expected.detach().to(torch.float64).cpu()
    if torch.isnan(a).any() and not torch.isnan(e).any():
        raise AssertionError(f"{what}: contains NaN where the expected result has none")
    diff = (a - e).abs()
    bad = diff > atol + rtol * e.abs()
    if bad.any():
        i = int(diff.flatten().argmax())
        idx = tuple(int(v) for v in torch.unravel_index(torch.tensor(i), diff.shape)) if diff.ndim else ()
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {bad.numel()} values differ; the largest difference is "
            f"{diff.flatten()[i].item():.3g} at index {idx}: expected {e.flatten()[i].item():.6g}, "
            f"got {a.flatten()[i].item():.6g}")


def check_equal(actual: object, expected: object, what: str = "result") -> None:
    """Raise ``AssertionError`` with both values when ``actual != expected``.

    Example:
        >>> check_equal(760, 760, "parameters of Conv2d(3, 10, 5)")
    """
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")
