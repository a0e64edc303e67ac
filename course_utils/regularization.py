"""Regularization as the feed-forward slides write it: the weight-decay step, the L1 proximal step
(soft-thresholding) and early stopping with patience.

Taught in ``02_mlp_fundamentals`` (section "Regularization"), where the weight-decay step is compared
with ``torch.optim.SGD(weight_decay=...)``.

Example:
    >>> import torch
    >>> weight_decay_step(torch.tensor([1.0, -2.0]), torch.tensor([0.5, 0.5]), lr=0.1, alpha=0.5)
    tensor([ 0.9000, -1.9500])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

__all__ = ["weight_decay_step", "soft_threshold", "l1_proximal_step", "EarlyStopping", "early_stopping_point"]


def weight_decay_step(w: torch.Tensor, grad: torch.Tensor, lr: float, alpha: float) -> torch.Tensor:
    """One gradient step on ``J(w) + alpha/2 ||w||^2``: ``(1 - lr alpha) w - lr grad``.

    ``grad`` is the gradient of the unregularized cost ``J``; ``w`` and ``grad`` have the same shape.
    The weights are first shrunk by the constant factor ``1 - lr alpha``, then moved as usual.

    Example:
        >>> weight_decay_step(torch.tensor([2.0]), torch.tensor([0.0]), lr=0.1, alpha=1.0)   # shrink only
        tensor([1.8000])
    """
    if w.shape != grad.shape:
        raise ValueError(f"w and grad must have the same shape, got {tuple(w.shape)} and {tuple(grad.shape)}")
    return (1 - lr * alpha) * w - lr * grad


def soft_threshold(w: torch.Tensor, t: float) -> torch.Tensor:
    """``sign(w) max(|w| - t, 0)``: move every entry ``t`` towards 0, and stop *at* 0.

    The slides' L1 solution ``w_i = sign(w_i*) max(|w_i*| - alpha / H_ii, 0)`` with ``t = alpha / H_ii``.
    Entries with ``|w| <= t`` become exactly 0 -- the sparsity of L1. Any shape.

    Example:
        >>> soft_threshold(torch.tensor([-3.0, -0.5, 0.2, 2.0]), 1.0)
        tensor([-2., -0., 0., 1.])
    """
    return torch.sign(w) * torch.clamp(w.abs() - t, min=0)


def l1_proximal_step(w: torch.Tensor, grad: torch.Tensor, lr: float, alpha: float) -> torch.Tensor:
    """One proximal step on ``J(w) + alpha ||w||_1``: a gradient step on ``J``, then soft-thresholding by ``lr alpha``.

    Unlike a plain subgradient step (``w - lr (grad + alpha sign(w))``), which makes small weights jump
    back and forth across 0, this lands small weights exactly on 0.

    Example:
        >>> l1_proximal_step(torch.tensor([0.05, 1.0]), torch.tensor([0.0, 0.0]), lr=0.1, alpha=1.0)
        tensor([0.0000, 0.9000])
    """
    return soft_threshold(w - lr * grad, lr * alpha)


@dataclass
class EarlyStopping:
    """The slides' early-stopping rule (Algorithm 7.1): stop after ``patience`` evaluations in a row
    without a new best validation error; remember the best one.

    Call :meth:`step` with each new validation error; it returns ``True`` when training should stop.
    ``best_step`` is the (0-based) evaluation with the lowest error: restore the weights saved there.

    Example:
        >>> es = EarlyStopping(patience=2)
        >>> [es.step(v) for v in [1.0, 0.8, 0.9, 0.85]], es.best_step, es.best
        ([False, False, False, True], 1, 0.8)
    """

    patience: int
    best: float = math.inf
    best_step: int = -1
    bad: int = 0
    history: list[float] = field(default_factory=list)

    def step(self, value: float) -> bool:
        """Record one validation error; ``True`` means: stop now."""
        self.history.append(float(value))
        if value < self.best:
            self.best, self.best_step, self.bad = float(value), len(self.history) - 1, 0
        else:
            self.bad += 1
        return self.bad >= self.patience


def early_stopping_point(errors: Sequence[float], patience: int) -> tuple[int, int]:
    """Where :class:`EarlyStopping` would stop on a whole validation curve: ``(best, stopped)`` indices.

    ``stopped`` is the index of the evaluation after which training stops (the last index if the rule
    never fires).

    Example:
        >>> early_stopping_point([5, 4, 3, 3.5, 3.2, 2.9, 3.0, 3.1, 3.3], patience=3)
        (5, 8)
    """
    es = EarlyStopping(patience)
    for i, v in enumerate(errors):
        if es.step(v):
            return es.best_step, i
    return es.best_step, len(errors) - 1
