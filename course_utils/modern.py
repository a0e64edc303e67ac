"""The modern CNNs of the modern CNNs slides: VGG, AlexNet, NiN and GoogLeNet, built from their blocks.

Every builder takes ``in_channels``, ``num_classes``, ``width`` (a multiplier on every channel count:
1.0 is the published network) and ``small_input``: False keeps the ImageNet stem (large strided
kernels and pooling, for 224x224 inputs); True swaps it for a 3x3 stride-1 convolution so the same
design fits 32x32 images (CIFAR-10). The networks with shortcuts (ResNet, DenseNet) are in
:mod:`course_utils.resnets`; all are importable from :mod:`course_utils.models`. Taught in
``09_modern_cnns``.

Example:
    >>> from course_utils.shapes import count_params
    >>> count_params(vgg_block(2, 3, 64)), channels(64, width=0.5)
    (38720, 32)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = [
    "VGG16_ARCH",
    "VGG11_ARCH",
    "vgg_block",
    "vgg",
    "alexnet",
    "nin_block",
    "nin",
    "Inception",
    "GOOGLENET_STAGES",
    "googlenet",
    "channels",
    "classifier",
]

VGG16_ARCH = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))
VGG11_ARCH = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))


def channels(n: int, width: float) -> int:
    """A channel count ``n`` scaled by ``width`` and rounded (at least 1): how ``width`` thins every builder.

    Example:
        >>> channels(64, 0.125), channels(3, 0.1)
        (8, 1)
    """
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    return max(1, int(round(n * width)))


def classifier(in_features: int, hidden: int, num_classes: int) -> list[nn.Module]:
    """The fully connected head VGG and AlexNet share: two hidden layers with ReLU and dropout 0.5.

    Returned as a list of layers, so the network that splices it in stays one flat ``nn.Sequential``.

    Example:
        >>> [type(m).__name__ for m in classifier(8, 4, 2)]
        ['Linear', 'ReLU', 'Dropout', 'Linear', 'ReLU', 'Dropout', 'Linear']
    """
    return [
        nn.Linear(in_features, hidden),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(hidden, num_classes),
    ]


def vgg_block(num_convs: int, in_channels: int, out_channels: int) -> nn.Sequential:
    """A VGG block (the modern CNNs slides): ``num_convs`` 3x3 convolutions with ReLU, then 2x2 max pooling.

    Each block halves H and W.

    (N, in_channels, H, W) -> (N, out_channels, H/2, W/2).

    Example:
        >>> import torch
        >>> vgg_block(2, 3, 64)(torch.zeros(1, 3, 32, 32)).shape
        torch.Size([1, 64, 16, 16])
    """
    layers: list[nn.Module] = []
    for _ in range(num_convs):
        layers += [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1), nn.ReLU()]
        in_channels = out_channels
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


def vgg(
    arch: Sequence[tuple[int, int]] = VGG16_ARCH,
    in_channels: int = 3,
    num_classes: int = 1000,
    hidden: int = 4096,
    width: float = 1.0,
    small_input: bool = False,
) -> nn.Sequential:
    """VGG: one :func:`vgg_block` per ``(num_convs, out_channels)`` in ``arch``, then three linear layers.

    ``vgg()`` is VGG16 for 224x224 inputs (138,357,544 parameters, like torchvision's ``vgg16``);
    ``small_input=True`` sizes the classifier for 32x32 inputs.

    Example:
        >>> import torch
        >>> vgg(VGG11_ARCH, num_classes=10, hidden=64, width=0.125, small_input=True)(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """
    blocks, c = [], in_channels
    for num_convs, out in arch:
        blocks.append(vgg_block(num_convs, c, channels(out, width)))
        c = channels(out, width)
    side = (32 if small_input else 224) // 2 ** len(arch)
    if side < 1:
        raise ValueError(f"{len(arch)} blocks halve a {32 if small_input else 224}-pixel input to nothing")
    return nn.Sequential(
        *blocks,
        nn.Flatten(),
        *classifier(c * side * side, hidden, num_classes),
    )


def alexnet(
    in_channels: int = 1, num_classes: int = 10, width: float = 1.0, small_input: bool = False
) -> nn.Sequential:
    """AlexNet as in the modern CNNs slides (for 224x224 Fashion-MNIST, 10 classes; 46,764,746 parameters).

    ``small_input=True``: a 3x3 first convolution and 2x2 pooling, for 32x32 inputs. (The 227x227 ImageNet
    table of the CNN slides of Introduction to Deep Learning is :func:`alexnet227`.)

    Example:
        >>> import torch
        >>> alexnet(3, 10, width=0.125, small_input=True)(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """
    c1, c2, c3, fc = channels(96, width), channels(256, width), channels(384, width), channels(4096, width)
    if small_input:  # 32 -> 16 -> 8 -> 4
        stem = [nn.Conv2d(in_channels, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        pool, side = nn.MaxPool2d(2), 4
    else:  # 224 -> 54 -> 26 -> 12 -> 5
        stem = [nn.Conv2d(in_channels, c1, 11, stride=4, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2)]
        pool, side = nn.MaxPool2d(3, 2), 5
    return nn.Sequential(
        *stem,
        nn.Conv2d(c1, c2, 5, padding=2),
        nn.ReLU(),
        (nn.MaxPool2d(2) if small_input else nn.MaxPool2d(3, 2)),
        nn.Conv2d(c2, c3, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(c3, c3, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(c3, c2, 3, padding=1),
        nn.ReLU(),
        pool,
        nn.Flatten(),
        *classifier(c2 * side * side, fc, num_classes),
    )


def nin_block(
    in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0
) -> nn.Sequential:
    """A NiN block (the modern CNNs slides): one convolution, then two 1x1 convolutions (a per-pixel MLP).

    Each convolution is followed by a ReLU.

    Example:
        >>> import torch
        >>> nin_block(3, 16, 3, padding=1)(torch.zeros(1, 3, 8, 8)).shape
        torch.Size([1, 16, 8, 8])
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 1),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 1),
        nn.ReLU(),
    )


def nin(in_channels: int = 1, num_classes: int = 10, width: float = 1.0, small_input: bool = False) -> nn.Sequential:
    """Network in Network: NiN blocks and pooling, no linear layer; the last block has one channel per
    class and global average pooling turns each channel into a score.

    Example:
        >>> import torch
        >>> nin(3, 10, width=0.125, small_input=True)(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """
    c1, c2, c3 = channels(96, width), channels(256, width), channels(384, width)
    first = nin_block(in_channels, c1, 3, 1, 1) if small_input else nin_block(in_channels, c1, 11, 4, 0)
    pool = (lambda: nn.MaxPool2d(2)) if small_input else (lambda: nn.MaxPool2d(3, 2))
    return nn.Sequential(
        first,
        pool(),
        nin_block(c1, c2, 5, 1, 2),
        pool(),
        nin_block(c2, c3, 3, 1, 1),
        pool(),
        nn.Dropout(0.5),
        nin_block(c3, num_classes, 3, 1, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )


class Inception(nn.Module):
    """GoogLeNet's Inception block: four parallel paths concatenated along the channels.

    Paths: 1x1 conv (``c1``); 1x1 then 3x3 (``c2 = (reduce, out)``); 1x1 then 5x5 (``c3``);
    3x3 max pooling then 1x1 (``c4``). (N, in, H, W) -> (N, c1 + c2[1] + c3[1] + c4, H, W).

    Example:
        >>> import torch
        >>> Inception(192, 64, (96, 128), (16, 32), 32)(torch.zeros(1, 192, 28, 28)).shape
        torch.Size([1, 256, 28, 28])
    """

    def __init__(self, in_channels: int, c1: int, c2: tuple[int, int], c3: tuple[int, int], c4: int):
        super().__init__()
        self.p1 = nn.Sequential(nn.Conv2d(in_channels, c1, 1), nn.ReLU())
        self.p2 = nn.Sequential(
            nn.Conv2d(in_channels, c2[0], 1), nn.ReLU(), nn.Conv2d(c2[0], c2[1], 3, padding=1), nn.ReLU()
        )
        self.p3 = nn.Sequential(
            nn.Conv2d(in_channels, c3[0], 1), nn.ReLU(), nn.Conv2d(c3[0], c3[1], 5, padding=2), nn.ReLU()
        )
        self.p4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(in_channels, c4, 1), nn.ReLU())
        self.out_channels = c1 + c2[1] + c3[1] + c4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.p1(x), self.p2(x), self.p3(x), self.p4(x)], dim=1)


# (c1, (c2 reduce, c2), (c3 reduce, c3), c4) of GoogLeNet's nine Inception blocks, in stages 3, 4 and 5
GOOGLENET_STAGES = (
    ((64, (96, 128), (16, 32), 32), (128, (128, 192), (32, 96), 64)),
    (
        (192, (96, 208), (16, 48), 64),
        (160, (112, 224), (24, 64), 64),
        (128, (128, 256), (24, 64), 64),
        (112, (144, 288), (32, 64), 64),
        (256, (160, 320), (32, 128), 128),
    ),
    ((256, (160, 320), (32, 128), 128), (384, (192, 384), (48, 128), 128)),
)


def googlenet(
    in_channels: int = 1, num_classes: int = 10, width: float = 1.0, small_input: bool = False
) -> nn.Sequential:
    """GoogLeNet (the modern CNNs slides, as in d2l): a stem, nine :class:`Inception` blocks with max pooling between
    stages, global average pooling and one linear layer.

    Example:
        >>> import torch
        >>> googlenet(3, 10, width=0.125, small_input=True)(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """
    s = lambda n: channels(n, width)
    if small_input:
        stem = [nn.Conv2d(in_channels, s(192), 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]  # 32 -> 16
    else:
        stem = [
            nn.Conv2d(in_channels, s(64), 7, stride=2, padding=3),
            nn.ReLU(),
            nn.MaxPool2d(3, 2, 1),
            nn.Conv2d(s(64), s(64), 1),
            nn.ReLU(),
            nn.Conv2d(s(64), s(192), 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(3, 2, 1),
        ]
    layers, c = list(stem), s(192)
    for k, stage in enumerate(GOOGLENET_STAGES):
        for c1, c2, c3, c4 in stage:
            block = Inception(c, s(c1), (s(c2[0]), s(c2[1])), (s(c3[0]), s(c3[1])), s(c4))
            layers.append(block)
            c = block.out_channels
        if k < len(GOOGLENET_STAGES) - 1:
            layers.append(nn.MaxPool2d(3, 2, 1))
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))
