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

The modern CNNs of ``09_modern_cnns`` are built in :mod:`course_utils.modern` (VGG, AlexNet, NiN,
GoogLeNet) and :mod:`course_utils.resnets` (ResNet, DenseNet); every one is importable from here.

Example:
    >>> from course_utils.shapes import count_params
    >>> count_params(lenet5())
    61706
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .modern import (
    GOOGLENET_STAGES,
    VGG11_ARCH,
    VGG16_ARCH,
    Inception,
    alexnet,
    googlenet,
    nin,
    nin_block,
    vgg,
    vgg_block,
)
from .resnets import DenseBlock, Residual, densenet, resnet, transition_block

__all__ = ["mlp", "lenet5", "tutorial_net", "alexnet227"]
__all__ += [
    "VGG16_ARCH",
    "VGG11_ARCH",
    "GOOGLENET_STAGES",
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
