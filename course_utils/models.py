"""The classic networks of the slides, built compactly so lessons and homework share one definition.

Parameter counts (checked in ``tests/test_models.py`` and shown in the notebooks):

=====================  ============  ==========================================
network                 parameters    input
=====================  ============  ==========================================
``mlp([784,16,16,10])``      13,002  (N, 784) or (N, 1, 28, 28)
``lenet5()``                 61,706  (N, 1, 28, 28)   the MLP-to-CNN slides' version
``tutorial_net()``           62,006  (N, 3, 32, 32)   Exercise 2-4 (1)
``alexnet227()``         62,378,344  (N, 3, 227, 227) the table of (1)
torchvision ``vgg16``   138,357,544  (N, 3, 224, 224)
torchvision ``resnet18`` 11,689,512  (N, 3, 224, 224)
=====================  ============  ==========================================

(1) the CNN slides of Introduction to Deep Learning (Computer Vision lecture series).

Example:
    >>> from course_utils.shapes import count_params
    >>> count_params(lenet5())
    61706
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

__all__ = ["mlp", "lenet5", "tutorial_net", "alexnet227"]


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """A fully connected network: ``Flatten``, then ``Linear`` layers of the given widths with activations between.

    Example:
        >>> mlp([784, 16, 16, 10])
        Sequential(
          (0): Flatten(start_dim=1, end_dim=-1)
          (1): Linear(in_features=784, out_features=16, bias=True)
          (2): ReLU()
          (3): Linear(in_features=16, out_features=16, bias=True)
          (4): ReLU()
          (5): Linear(in_features=16, out_features=10, bias=True)
        )
    """
    if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
        raise ValueError(f"sizes must list at least two positive widths, got {list(sizes)}")
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def lenet5(in_channels: int = 1, num_classes: int = 10) -> nn.Sequential:
    """LeNet-5 as in the MLP-to-CNN slides (ReLU and max pooling), for 28x28 inputs: 61,706 parameters.

    Example:
        >>> import torch
        >>> lenet5()(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2, 2),  # 28x28 -> 14x14
        nn.Conv2d(6, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2, 2),  # 14x14 -> 10x10 -> 5x5
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, num_classes),
    )


def tutorial_net(num_classes: int = 10) -> nn.Sequential:
    """The CIFAR-10 network of Exercise 2-4 (PyTorch's classic tutorial net): 62,006 parameters.

    Example:
        >>> import torch
        >>> tutorial_net()(torch.zeros(1, 3, 32, 32)).shape
        torch.Size([1, 10])
    """
    return nn.Sequential(
        nn.Conv2d(3, 6, 5),
        nn.ReLU(),
        nn.MaxPool2d(2, 2),  # 32 -> 28 -> 14
        nn.Conv2d(6, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2, 2),  # 14 -> 10 -> 5
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, num_classes),
    )


def alexnet227(num_classes: int = 1000) -> nn.Sequential:
    """AlexNet as in the table of the CNN slides of Introduction to Deep Learning (Computer Vision lecture
    series): one tower, no LRN, for 227x227 inputs; 62,378,344 parameters.

    torchvision's ``alexnet`` differs (64/192 channels in the first convolutions, 224x224 inputs,
    adaptive pooling): 61,100,840 parameters.

    Example:
        >>> import torch
        >>> alexnet227()[:3](torch.zeros(1, 3, 227, 227)).shape
        torch.Size([1, 96, 27, 27])
    """
    return nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),  # 227 -> 55 -> 27
        nn.Conv2d(96, 256, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),  # 27 -> 27 -> 13
        nn.Conv2d(256, 384, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),  # 13 -> 6
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(256 * 6 * 6, 4096),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(4096, 4096),
        nn.ReLU(),
        nn.Linear(4096, num_classes),
    )


# --------------------------------------------------------------------------- modern CNNs (09_modern_cnns)
# Every builder takes ``in_channels``, ``num_classes``, ``width`` (a multiplier on every channel count:
# 1.0 is the published network) and ``small_input``: False keeps the ImageNet stem (large strided
# kernels and pooling, for 224x224 inputs); True swaps it for a 3x3 stride-1 convolution so the same
# design fits 32x32 images (CIFAR-10). Taught in ``09_modern_cnns``.

import torch  # noqa: E402  (the blocks below concatenate tensors)

VGG16_ARCH = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))
VGG11_ARCH = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))


def _ch(n: int, width: float) -> int:
    """A channel count scaled by ``width`` (at least 1)."""
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    return max(1, int(round(n * width)))


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
        blocks.append(vgg_block(num_convs, c, _ch(out, width)))
        c = _ch(out, width)
    side = (32 if small_input else 224) // 2 ** len(arch)
    if side < 1:
        raise ValueError(f"{len(arch)} blocks halve a {32 if small_input else 224}-pixel input to nothing")
    return nn.Sequential(
        *blocks,
        nn.Flatten(),
        nn.Linear(c * side * side, hidden),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(hidden, num_classes),
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
    c1, c2, c3, fc = _ch(96, width), _ch(256, width), _ch(384, width), _ch(4096, width)
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
        nn.Linear(c2 * side * side, fc),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(fc, fc),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(fc, num_classes),
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
    c1, c2, c3 = _ch(96, width), _ch(256, width), _ch(384, width)
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
    s = lambda n: _ch(n, width)
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
    c = _ch(64, width)
    if small_input:
        stem = [nn.Conv2d(in_channels, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
    else:
        stem = [nn.Conv2d(in_channels, c, 7, 2, 3, bias=False), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    stages = []
    for i, (n, out) in enumerate(zip(blocks, (64, 128, 256, 512))):
        out = _ch(out, width)
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
    c, g = _ch(64, width), _ch(growth, width)
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


__all__ += [
    "VGG16_ARCH",
    "VGG11_ARCH",
    "vgg_block",
    "vgg",
    "alexnet",
    "nin_block",
    "nin",
    "Inception",
    "googlenet",
    "Residual",
    "resnet",
    "DenseBlock",
    "transition_block",
    "densenet",
]


# --------------------------------------------------------------------------- autoencoders (11_autoencoders)
class ConvAutoencoder(nn.Module):
    """A convolutional autoencoder for 28x28 grey images, with a transposed-convolution decoder.

    encoder: (N, 1, 28, 28) -> conv stride 2 -> (N, 16, 14, 14) -> conv stride 2 -> (N, 32, 7, 7)
             -> linear -> (N, latent_dim)
    decoder: (N, latent_dim) -> linear -> (N, 32, 7, 7) -> transposed conv stride 2 -> (N, 16, 14, 14)
    -> transposed conv stride 2 -> (N, 1, 28, 28), a sigmoid keeps pixels in [0, 1].
    Taught in ``11_autoencoders``.

    Example:
        >>> import torch
        >>> ae = ConvAutoencoder(latent_dim=8)
        >>> ae.encoder(torch.zeros(2, 1, 28, 28)).shape, ae(torch.zeros(2, 1, 28, 28)).shape
        (torch.Size([2, 8]), torch.Size([2, 1, 28, 28]))
    """

    def __init__(self, latent_dim: int = 16, channels: tuple[int, int] = (16, 32)):
        super().__init__()
        c1, c2 = channels
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 3, stride=2, padding=1),
            nn.ReLU(),  # 28 -> 14
            nn.Conv2d(c1, c2, 3, stride=2, padding=1),
            nn.ReLU(),  # 14 -> 7
            nn.Flatten(),
            nn.Linear(c2 * 7 * 7, latent_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, c2 * 7 * 7),
            nn.ReLU(),
            nn.Unflatten(1, (c2, 7, 7)),
            nn.ConvTranspose2d(c2, c1, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(),  # 7 -> 14
            nn.ConvTranspose2d(c1, 1, 3, stride=2, padding=1, output_padding=1),
            nn.Sigmoid(),
        )  # 14 -> 28

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1:] != (1, 28, 28):
            raise ValueError(f"expected images of shape (N, 1, 28, 28), got {tuple(x.shape)}")
        return self.decoder(self.encoder(x))


__all__ += ["ConvAutoencoder"]
