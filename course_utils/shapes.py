"""Shapes and counting: output sizes, parameter counts, MACs and layer tables.

Built on torchinfo (shapes and parameters per layer) and ``torch.utils.flop_counter``
(multiply-accumulates), so the numbers are PyTorch's own, not a hand-written guess.
Taught in ``03_convolution`` and checked against students' own formulas in ``04_hw1_layer_sizes``.

Example:
    >>> from torch import nn
    >>> count_params(nn.Conv2d(3, 10, 5))
    760
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["output_size", "count_params", "count_macs", "LayerRow", "LayerTable", "layer_table"]


def output_size(i: int, k: int, s: int = 1, p: int = 0, d: int = 1, ceil_mode: bool = False) -> int:
    """Output length of a convolution or pooling along one axis.

    ``o = floor((i + 2p - d(k - 1) - 1) / s) + 1`` (``ceil`` instead of ``floor`` with
    ``ceil_mode``, where PyTorch also drops a last window that would start in the padding).

    Example:
        >>> output_size(32, k=5, s=1, p=2)
        32
    """
    for name, v, low in (("i", i, 1), ("k", k, 1), ("s", s, 1), ("p", p, 0), ("d", d, 1)):
        if not isinstance(v, int) or v < low:
            raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
    span = i + 2 * p - d * (k - 1) - 1
    if span < 0:
        raise ValueError(f"kernel (k={k}, d={d}) is larger than the padded input ({i} + 2*{p})")
    o = (math.ceil if ceil_mode else math.floor)(span / s) + 1
    if ceil_mode and (o - 1) * s >= i + p:
        o -= 1
    return o


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (buffers such as BatchNorm's running mean are not parameters).

    Example:
        >>> count_params(nn.BatchNorm2d(16))
        32
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _example_input(model: nn.Module, input_size: Sequence[int] | torch.Tensor) -> torch.Tensor:
    if isinstance(input_size, torch.Tensor):
        return input_size
    if not all(isinstance(v, int) and v > 0 for v in input_size):
        raise ValueError(f"input_size must be positive ints like (1, 3, 32, 32), got {input_size!r}")
    p = next(model.parameters(), None)
    return torch.zeros(*input_size, device=p.device if p is not None else "cpu")


def count_macs(model: nn.Module, input_size: Sequence[int] | torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass (``torch.utils.flop_counter`` FLOPs / 2).

    Counts matrix multiplies and convolutions (bias additions and activations are not MACs).

    Example:
        >>> count_macs(nn.Linear(4, 3), (1, 4))
        12
    """
    from torch.utils.flop_counter import FlopCounterMode

    x = _example_input(model, input_size)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() // 2


@dataclass
class LayerRow:
    """One row of a :class:`LayerTable`."""

    name: str
    kind: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int
    macs: int


class LayerTable(list):
    """A list of :class:`LayerRow` that prints as a fixed-width table with totals."""

    total_params: int = 0
    total_macs: int = 0

    def __str__(self) -> str:
        head = f"{'layer':<22}{'input':>18}{'output':>18}{'params':>13}{'MACs':>15}"
        lines = [head, "-" * len(head)]
        for r in self:
            lines.append(
                f"{(r.name + ' ' + r.kind)[:21]:<22}{str(list(r.input_shape)):>18}"
                f"{str(list(r.output_shape)):>18}{r.params:>13,}{r.macs:>15,}"
            )
        lines += ["-" * len(head), f"{'total':<58}{self.total_params:>13,}{self.total_macs:>15,}"]
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle) -> None:  # IPython shows the table, not a list
        p.text(str(self))


def layer_table(model: nn.Module, input_size: Sequence[int] | torch.Tensor, depth: int = 1) -> LayerTable:
    """Each layer's input shape, output shape, parameters and MACs for one forward pass.

    Args:
        model: any ``nn.Module``.
        input_size: input shape with the batch dimension, e.g. ``(1, 3, 32, 32)``, or a tensor.
        depth: how deep to list nested modules (1: the model's direct children).

    The totals (``.total_params``, ``.total_macs``) count the whole model.

    Example:
        >>> t = layer_table(nn.Sequential(nn.Conv2d(3, 10, 5, padding=2), nn.ReLU()), (1, 3, 32, 32))
        >>> t[0].output_shape, t[0].params, t.total_params
        ((1, 10, 32, 32), 760, 760)
    """
    import torchinfo
    from torch.utils.flop_counter import FlopCounterMode

    x = _example_input(model, input_size)
    try:
        stats = torchinfo.summary(model, input_data=[x], depth=depth, verbose=0)
    except Exception as e:
        msg = str(e).split("\n")[-1] or str(e)
        raise ValueError(f"the model does not accept an input of shape {tuple(x.shape)}: {msg}") from None
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    flops = counter.get_flop_counts()
    names = {id(m): n for n, m in model.named_modules()}
    root = type(model).__name__
    table = LayerTable()
    for info in stats.summary_list:
        # the requested depth, plus leaf layers that stop above it (e.g. a stem conv)
        if not (info.depth == depth or (1 <= info.depth < depth and info.is_leaf_layer)):
            continue
        name = names.get(id(info.module), info.var_name)
        mac = sum(flops.get(f"{root}.{name}", {}).values()) // 2
        table.append(
            LayerRow(
                name,
                info.class_name,
                tuple(info.input_size),
                tuple(info.output_size),
                sum(p.numel() for p in info.module.parameters()),
                mac,
            )
        )
    table.total_params = count_params(model)
    table.total_macs = counter.get_total_flops() // 2
    return table
