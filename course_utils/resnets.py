"""The networks with shortcuts of the modern CNNs slides: ResNet's residual blocks and DenseNet's dense blocks.

The builders take the same ``in_channels``, ``num_classes``, ``width`` and ``small_input`` as those of
:mod:`course_utils.modern`; all are importable from :mod:`course_utils.models`. Taught in
``09_modern_cnns``; HW2a (``06a_hw2_residual_blocks``) has students build the residual block themselves.

Example:
    >>> from course_utils.shapes import count_params
    >>> count_params(Residual(64, 64)), count_params(Residual(64, 128, stride=2))
    (73984, 230144)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .modern import channels

__all__ = ["Residual", "resnet", "DenseBlock", "transition_block", "densenet"]


class Residual(nn.Module):
    """ResNet's basic residual block: ``relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))``.

    Convolutions have no bias (BatchNorm follows). When the stride or the channels change, the
    shortcut is a 1x1 convolution with BatchNorm (torchvision's ``downsample``); otherwise the identity.
    (N, in, H, W) -> (N, out, H/stride, W/stride).

    Example:
        >>> import torch
        >>> Residual(64, 128, stride=2)(torch.zeros(1, 64, 56, 56)).shape
        torch.Size([1, 128, 28, 28])
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


def resnet(
    blocks: Sequence[int] = (2, 2, 2, 2),
    in_channels: int = 3,
    num_classes: int = 1000,
    width: float = 1.0,
    small_input: bool = False,
) -> nn.Sequential:
    """ResNet of :class:`Residual` blocks: a stem, four stages (64, 128, 256, 512 channels; each after
    the first halves H and W), global average pooling, one linear layer.

    ``resnet()`` is ResNet-18 with torchvision's layout: 11,689,512 parameters.

    Example:
        >>> import torch
        >>> resnet(num_classes=10, width=0.125, small_input=True)(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """
    c = channels(64, width)
    if small_input:
        stem = [nn.Conv2d(in_channels, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
    else:
        stem = [nn.Conv2d(in_channels, c, 7, 2, 3, bias=False), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    stages = []
    for i, (n, out) in enumerate(zip(blocks, (64, 128, 256, 512))):
        out = channels(out, width)
        stage = [Residual(c, out, stride=1 if i == 0 else 2)] + [Residual(out, out) for _ in range(n - 1)]
        stages.append(nn.Sequential(*stage))
        c = out
    return nn.Sequential(*stem, *stages, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))


def _bn_relu_conv(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(
        nn.BatchNorm2d(in_channels),
        nn.ReLU(),
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
    )


class DenseBlock(nn.Module):
    """DenseNet's dense block: ``num_convs`` BN-ReLU-3x3 convolutions, each fed the concatenation of the
    block's input and every earlier output. (N, in, H, W) -> (N, in + num_convs * growth, H, W).

    Example:
        >>> import torch
        >>> DenseBlock(2, 3, growth=10)(torch.zeros(4, 3, 8, 8)).shape
        torch.Size([4, 23, 8, 8])
    """

    def __init__(self, num_convs: int, in_channels: int, growth: int):
        super().__init__()
        self.convs = nn.ModuleList(_bn_relu_conv(in_channels + i * growth, growth, 3) for i in range(num_convs))
        self.out_channels = in_channels + num_convs * growth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = torch.cat([x, conv(x)], dim=1)
        return x


def transition_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """DenseNet's transition layer: BN, ReLU, a 1x1 convolution to fewer channels, 2x2 average pooling.

    (N, in, H, W) -> (N, out, H/2, W/2).

    Example:
        >>> import torch
        >>> transition_block(23, 10)(torch.zeros(4, 23, 8, 8)).shape
        torch.Size([4, 10, 4, 4])
    """
    return nn.Sequential(
        nn.BatchNorm2d(in_channels), nn.ReLU(), nn.Conv2d(in_channels, out_channels, 1), nn.AvgPool2d(2, 2)
    )


def densenet(
    in_channels: int = 1,
    num_classes: int = 10,
    width: float = 1.0,
    small_input: bool = False,
    convs: Sequence[int] = (4, 4, 4, 4),
    growth: int = 32,
) -> nn.Sequential:
    """DenseNet (the modern CNNs slides, as in d2l): a stem, dense blocks of ``convs`` convolutions with ``growth``
    new channels each, a transition layer halving the channels between blocks, then BN, ReLU, global
    average pooling and one linear layer.

    Example:
        >>> import torch
        >>> densenet(3, 10, width=0.25, small_input=True)(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """
    c, g = channels(64, width), channels(growth, width)
    if small_input:
        layers: list[nn.Module] = [nn.Conv2d(in_channels, c, 3, padding=1)]
    else:
        layers = [nn.Conv2d(in_channels, c, 7, 2, 3), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    for i, n in enumerate(convs):
        block = DenseBlock(n, c, g)
        layers.append(block)
        c = block.out_channels
        if i < len(convs) - 1:
            layers.append(transition_block(c, c // 2))
            c //= 2
    return nn.Sequential(
        *layers, nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes)
    )
