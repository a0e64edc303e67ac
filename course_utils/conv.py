"""Convolution as linear algebra: where a kernel lands, the convolution matrix, BatchNorm folding.

Taught in ``03_convolution``:

- :func:`kernel_positions` -- which input indices each output position reads (stride, padding, dilation);
- :func:`conv_matrix` -- the matrix ``C`` with ``C @ x.flatten() == conv2d(x, w).flatten()``; its
  transpose ``C.T`` is exactly what ``ConvTranspose2d`` computes;
- :func:`conv_params` -- ``K_h K_w C_in C_out / G`` weights (+ ``C_out`` biases);
- :func:`sharing_params` -- parameters with weight sharing, without it, and fully connected (AlexNet's
  first layer is the slides' case study);
- :func:`fold_bn` -- a Conv2d followed by BatchNorm2d in eval mode, folded into one Conv2d.

Example:
    >>> import torch
    >>> w = torch.arange(9.).reshape(3, 3)
    >>> conv_matrix(w, (4, 4)).shape        # 4x4 input, 3x3 kernel: 2x2 = 4 outputs, 16 inputs
    torch.Size([4, 16])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .shapes import output_size

__all__ = ["kernel_positions", "conv_matrix", "conv_params", "sharing_params", "fold_bn"]

IntOrPair = int | Sequence[int]


def _pair(v: IntOrPair, name: str, low: int) -> tuple[int, int]:
    t = (v, v) if isinstance(v, int) else tuple(v)
    if len(t) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) and x >= low for x in t):
        raise ValueError(f"{name} must be an int >= {low} or a pair of them, got {v!r}")
    return t  # type: ignore[return-value]


def kernel_positions(i: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> list[list[int]]:
    """For each output position along one axis, the input indices the kernel's taps read.

    Indices are in the coordinates of the unpadded input: ``-1`` or ``i`` mean a padding cell.
    There are ``output_size(i, k, s, p, d)`` lists of ``k`` indices each.

    Example:
        >>> kernel_positions(5, k=3, s=2, p=1)          # 5 inputs, 3 outputs
        [[-1, 0, 1], [1, 2, 3], [3, 4, 5]]
    """
    o = output_size(i, k, s, p, d)
    return [[j * s - p + t * d for t in range(k)] for j in range(o)]


def conv_matrix(
    weight: torch.Tensor, input_size: IntOrPair, stride: IntOrPair = 1, padding: IntOrPair = 0, dilation: IntOrPair = 1
) -> torch.Tensor:
    """The matrix of a 2-D convolution (PyTorch's cross-correlation, without bias).

    Args:
        weight: a kernel (kH, kW), or a Conv2d weight (C_out, C_in, kH, kW).
        input_size: (H, W) of the input (an int for square inputs).
        stride, padding, dilation: as in ``torch.nn.functional.conv2d`` (int or pair; zero padding).

    Returns:
        ``C`` of shape (C_out * oH * oW, C_in * H * W), same dtype as ``weight``, such that for ``x`` of
        shape (C_in, H, W): ``C @ x.flatten() == conv2d(x[None], weight).flatten()``, and for ``y`` of
        shape (C_out, oH, oW): ``C.T @ y.flatten()`` equals ``ConvTranspose2d`` with the same weight,
        stride, padding and dilation, asked for ``output_size=(H, W)``.

    Example:
        >>> C = conv_matrix(torch.tensor([[0., 1.], [2., 3.]]), (3, 3))
        >>> (C @ torch.arange(9.)).reshape(2, 2)
        tensor([[19., 25.],
                [37., 43.]])
    """
    if not isinstance(weight, torch.Tensor) or weight.ndim not in (2, 4):
        shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise ValueError(f"weight must have shape (kH, kW) or (C_out, C_in, kH, kW), got {shape}")
    w = weight.detach()
    w = w[None, None] if w.ndim == 2 else w
    c_out, c_in, kh, kw = w.shape
    (H, W), (sh, sw) = _pair(input_size, "input_size", 1), _pair(stride, "stride", 1)
    (ph, pw), (dh, dw) = _pair(padding, "padding", 0), _pair(dilation, "dilation", 1)
    oh, ow = output_size(H, kh, sh, ph, dh), output_size(W, kw, sw, pw, dw)
    C = torch.zeros(c_out * oh * ow, c_in * H * W, dtype=w.dtype, device=w.device)
    co = torch.arange(c_out).view(-1, 1, 1, 1)  # broadcast over (C_out, C_in, oH, oW)
    ci = torch.arange(c_in).view(1, -1, 1, 1)
    oy = torch.arange(oh).view(1, 1, -1, 1)
    ox = torch.arange(ow).view(1, 1, 1, -1)
    for a in range(kh):
        for b in range(kw):
            iy, ix = oy * sh - ph + a * dh, ox * sw - pw + b * dw  # input pixel this tap reads
            inside = ((iy >= 0) & (iy < H) & (ix >= 0) & (ix < W)).expand(c_out, c_in, oh, ow)
            rows = (co * oh * ow + oy * ow + ox).expand(c_out, c_in, oh, ow)
            cols = (ci * H * W + iy * W + ix).expand(c_out, c_in, oh, ow)
            vals = w[:, :, a, b].view(c_out, c_in, 1, 1).expand(c_out, c_in, oh, ow)
            C.index_put_((rows[inside], cols[inside]), vals[inside], accumulate=True)
    return C


def conv_params(c_in: int, c_out: int, k: IntOrPair, groups: int = 1, bias: bool = True) -> int:
    """Parameters of ``nn.Conv2d(c_in, c_out, k, groups=groups, bias=bias)``: ``kH kW c_in c_out / G (+ c_out)``.

    Each of the ``G`` groups maps ``c_in / G`` input channels to ``c_out / G`` output channels, so a
    group convolution has ``1/G`` of the weights of an ordinary one; depthwise is ``G = c_in = c_out``.

    Example:
        >>> conv_params(3, 10, 5)                       # 10 filters of 5x5x3, one bias each
        760
    """
    kh, kw = _pair(k, "k", 1)
    for name, v in (("c_in", c_in), ("c_out", c_out), ("groups", groups)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if c_in % groups or c_out % groups:
        raise ValueError(f"c_in ({c_in}) and c_out ({c_out}) must both be divisible by groups ({groups})")
    return kh * kw * c_in * c_out // groups + (c_out if bias else 0)


def sharing_params(in_shape: Sequence[int], out_shape: Sequence[int], k: int) -> dict[str, int]:
    """Parameters of one layer mapping ``in_shape`` = (C_in, H, W) to ``out_shape`` = (C_out, oH, oW), three ways.

    - ``"shared"``: a convolution, one ``k x k x C_in`` filter (+ 1 bias) per output channel, reused at every
      position: ``(k^2 C_in + 1) C_out``;
    - ``"unshared"``: the same local windows, but an independent filter (+ bias) for every output number:
      ``(k^2 C_in + 1) C_out oH oW``;
    - ``"dense_weights"`` and ``"dense"``: a fully connected layer, one weight per (input, output) pair,
      without and with the ``C_out oH oW`` biases.

    Example:
        >>> sharing_params((3, 227, 227), (96, 55, 55), k=11)["shared"]      # AlexNet's first layer
        34944
    """
    (c_in, h, w), (c_out, oh, ow) = tuple(in_shape), tuple(out_shape)
    per_filter = k * k * c_in + 1
    outputs = c_out * oh * ow
    return {
        "shared": per_filter * c_out,
        "unshared": per_filter * outputs,
        "dense_weights": c_in * h * w * outputs,
        "dense": c_in * h * w * outputs + outputs,
    }


@torch.no_grad()
def fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """One Conv2d equal to ``bn(conv(x))`` with BatchNorm in eval mode (its running statistics).

    With ``scale = gamma / sqrt(running_var + eps)`` per output channel:
    ``new_weight = weight * scale`` and ``new_bias = (bias - running_mean) * scale + beta``.
    The result is a new module in eval mode; ``conv`` and ``bn`` are not changed.
    (PyTorch's own version is ``torch.nn.utils.fusion.fuse_conv_bn_eval``.)

    Example:
        >>> conv, bn = nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8).eval()
        >>> x = torch.randn(2, 3, 6, 6)
        >>> torch.allclose(fold_bn(conv, bn)(x), bn(conv(x)), atol=1e-6)
        True
    """
    if not isinstance(conv, nn.Conv2d) or not isinstance(bn, nn.BatchNorm2d):
        raise TypeError(f"expected (nn.Conv2d, nn.BatchNorm2d), got ({type(conv).__name__}, {type(bn).__name__})")
    if bn.num_features != conv.out_channels:
        raise ValueError(
            f"BatchNorm2d has {bn.num_features} features but the convolution has {conv.out_channels} output channels"
        )
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError(
            "BatchNorm2d(track_running_stats=False) normalizes with each batch's own "
            "statistics, even in eval mode; there is nothing fixed to fold"
        )
    w = conv.weight
    ones, zeros = torch.ones_like(bn.running_var), torch.zeros_like(bn.running_mean)
    gamma = bn.weight if bn.weight is not None else ones
    beta = bn.bias if bn.bias is not None else zeros
    bias = conv.bias if conv.bias is not None else zeros
    scale = gamma / torch.sqrt(bn.running_var + bn.eps)
    fused = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
        bias=True,
        padding_mode=conv.padding_mode,
        device=w.device,
        dtype=w.dtype,
    )
    fused.weight.copy_(w * scale.view(-1, 1, 1, 1))
    fused.bias.copy_((bias - bn.running_mean) * scale + beta)
    return fused.eval()
