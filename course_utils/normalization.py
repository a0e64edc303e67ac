"""Batch normalization and layer normalization written out: which axes each one averages over.

Taught in ``03_convolution`` (batch normalization by hand) and ``07_training_cnns`` (section
"Batch norm and layer norm"), where both are compared with ``nn.BatchNorm2d`` and ``nn.LayerNorm``.

For a batch of shape (N, C, H, W): batch norm computes one mean and variance **per channel**, over
(N, H, W); layer norm one **per sample**, over (C, H, W). Both divide by the count (the *biased*
variance), as PyTorch does when it normalizes.

Example:
    >>> import torch
    >>> x = torch.tensor([[1.0, 2.0], [3.0, 6.0]])          # (N=2, features=2)
    >>> normalize(x, dims=(0,))                             # per feature, over the batch
    tensor([[-1.0000, -1.0000],
            [ 1.0000,  1.0000]])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["normalize", "batch_norm_dims", "layer_norm_dims", "batch_stats"]


def batch_norm_dims(x: torch.Tensor) -> tuple[int, ...]:
    """The axes batch norm averages over: all but the channel axis 1, (0,) for (N, C), (0, 2, 3) for (N, C, H, W).

    Example:
        >>> batch_norm_dims(torch.zeros(8, 3, 4, 4))
        (0, 2, 3)
    """
    if x.ndim < 2:
        raise ValueError(f"batch norm needs a batch axis and a channel axis, got shape {tuple(x.shape)}")
    return (0,) + tuple(range(2, x.ndim))


def layer_norm_dims(x: torch.Tensor) -> tuple[int, ...]:
    """The axes layer norm averages over: all but the batch axis 0, i.e. (1,) for (N, C) and (1, 2, 3) for (N, C, H, W).

    Example:
        >>> layer_norm_dims(torch.zeros(8, 3, 4, 4))
        (1, 2, 3)
    """
    if x.ndim < 2:
        raise ValueError(f"layer norm needs a batch axis and at least one more, got shape {tuple(x.shape)}")
    return tuple(range(1, x.ndim))


def batch_stats(x: torch.Tensor, dims: Sequence[int], unbiased: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of ``x`` over ``dims`` (kept as size-1 axes, so they broadcast against ``x``).

    ``unbiased=False`` divides by the count ``m`` (what normalization uses); ``unbiased=True`` by ``m - 1``
    (what PyTorch's BatchNorm stores in its running variance).

    Example:
        >>> m, v = batch_stats(torch.tensor([[0.0], [5.0], [3.0], [0.0]]), dims=(0,), unbiased=True)
        >>> m.item(), v.item()
        (2.0, 6.0)
    """
    dims = tuple(dims)
    mean = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, keepdim=True, correction=1 if unbiased else 0)
    return mean, var


def normalize(x: torch.Tensor, dims: Sequence[int], eps: float = 1e-5) -> torch.Tensor:
    """``(x - mean) / sqrt(var + eps)`` with mean and biased variance over ``dims``; same shape as ``x``.

    ``normalize(x, batch_norm_dims(x))`` is ``nn.BatchNorm2d`` (or ``1d``) in training mode at its start
    (``gamma = 1``, ``beta = 0``); ``normalize(x, layer_norm_dims(x))`` is ``nn.LayerNorm(x.shape[1:])``.

    Example:
        >>> normalize(torch.tensor([[1.0, 3.0]]), dims=(1,))   # one sample, over its features
        tensor([[-1.0000,  1.0000]])
    """
    mean, var = batch_stats(x, dims)
    return (x - mean) / torch.sqrt(var + eps)
