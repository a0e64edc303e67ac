"""Loss functions written out by their formulas: softmax with a temperature, cross-entropy on
probabilities, binary cross-entropy and label-smoothed targets.

Taught in ``02_mlp_fundamentals`` (section "Losses on the slides' examples" and "Regularization"), where
each is compared with PyTorch's own (``torch.softmax``, ``F.cross_entropy``, ``F.binary_cross_entropy``,
``nn.CrossEntropyLoss(label_smoothing=...)``).

Example:
    >>> import torch
    >>> round(cross_entropy_probs(torch.tensor([0.4, 0.1, 0.5]), torch.tensor([1.0, 0.0, 0.0])).item(), 4)
    0.9163
"""

from __future__ import annotations

import torch

__all__ = ["softmax_beta", "cross_entropy_probs", "binary_cross_entropy_sum", "smooth_labels", "pytorch_smoothing"]


def softmax_beta(z: torch.Tensor, beta: float = 1.0, dim: int = -1) -> torch.Tensor:
    """Softmax with base ``b = e**beta``: ``exp(beta z_i) / sum_j exp(beta z_j)`` along ``dim``.

    ``beta = 1`` is the ordinary softmax; a larger ``beta`` concentrates the probability on the largest
    entries, a smaller one spreads it out (``beta = 1 / T`` for a temperature ``T``). Any shape; the
    output has the shape of ``z`` and sums to 1 along ``dim``.

    Example:
        >>> softmax_beta(torch.tensor([1.0, 2.0, 3.0]), beta=0.0)      # beta 0: uniform
        tensor([0.3333, 0.3333, 0.3333])
    """
    return torch.softmax(beta * torch.as_tensor(z), dim=dim)  # HW0 writes softmax itself


def cross_entropy_probs(p: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy ``-sum_i y_i ln p_i`` of probabilities ``p`` against a target distribution ``y``.

    Args:
        p: probabilities, shape (..., K), each row summing to 1 (after a softmax).
        target: one-hot or soft targets, the same shape (..., K).

    Returns:
        one loss per row, shape (...).

    Example:
        >>> cross_entropy_probs(torch.tensor([[0.9, 0.1], [0.4, 0.6]]), torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
        tensor([0.1054, 0.9163])
    """
    p, target = torch.as_tensor(p), torch.as_tensor(target, dtype=torch.as_tensor(p).dtype)
    if p.shape != target.shape:
        raise ValueError(f"p and target must have the same shape, got {tuple(p.shape)} and {tuple(target.shape)}")
    return -(target * torch.log(p)).sum(-1)


def binary_cross_entropy_sum(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The slide's ``E(y, p) = -sum_i [y_i ln p_i + (1 - y_i) ln(1 - p_i)]``, summed over the last axis.

    Every output unit is treated as its own yes/no question. ``F.binary_cross_entropy(p, y,
    reduction="sum")`` is the same for one row; with the default ``reduction="mean"`` it divides by the
    number of entries.

    Args:
        p: probabilities in (0, 1), shape (..., K).
        y: targets in [0, 1], the same shape.

    Returns:
        one loss per row, shape (...).

    Example:
        >>> round(binary_cross_entropy_sum(torch.tensor([0.4, 0.1, 0.5]), torch.tensor([1.0, 0.0, 0.0])).item(), 4)
        1.7148
    """
    p, y = torch.as_tensor(p), torch.as_tensor(y, dtype=torch.as_tensor(p).dtype)
    if p.shape != y.shape:
        raise ValueError(f"p and y must have the same shape, got {tuple(p.shape)} and {tuple(y.shape)}")
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).sum(-1)


def smooth_labels(labels: torch.Tensor, k: int, eps: float, spread: str = "others") -> torch.Tensor:
    """Label-smoothed target vectors, shape (N, k), for integer ``labels`` of shape (N,).

    ``spread="others"`` is the feed-forward slides' rule: the true class gets ``1 - eps`` and each of the
    ``k - 1`` other classes ``eps / (k - 1)``. ``spread="all"`` is PyTorch's rule
    (``nn.CrossEntropyLoss(label_smoothing=eps)``): ``eps`` is spread over *all* ``k`` classes, so the true
    class gets ``1 - eps + eps / k`` and the others ``eps / k``. Rows sum to 1 either way.

    Example:
        >>> smooth_labels(torch.tensor([0]), k=4, eps=0.3)
        tensor([[0.7000, 0.1000, 0.1000, 0.1000]])
    """
    labels = torch.as_tensor(labels)
    if spread not in ("others", "all"):
        raise ValueError(f"spread must be 'others' or 'all', got {spread!r}")
    if not 0 <= eps <= 1 or k < 2:
        raise ValueError(f"need 0 <= eps <= 1 and k >= 2, got eps={eps}, k={k}")
    off = eps / (k - 1) if spread == "others" else eps / k
    on = 1 - eps if spread == "others" else 1 - eps + eps / k
    out = torch.full((labels.shape[0], k), off)
    out[torch.arange(labels.shape[0]), labels] = on
    return out


def pytorch_smoothing(eps: float, k: int) -> float:
    """The ``label_smoothing`` to give PyTorch for the slides' targets (``1 - eps`` and ``eps / (k - 1)``).

    PyTorch gives the others ``s / k``; equal to ``eps / (k - 1)`` when ``s = eps k / (k - 1)``.

    Example:
        >>> round(pytorch_smoothing(0.1, 10), 4)
        0.1111
    """
    return eps * k / (k - 1)
