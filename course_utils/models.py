"""The classic networks of the slides, built compactly so lessons and homework share one definition.

Parameter counts (checked in ``tests/test_models.py`` and shown in the notebooks):

=====================  ============  ==========================================
network                 parameters    input
=====================  ============  ==========================================
``mlp([784,16,16,10])``      13,002  (N, 784) or (N, 1, 28, 28)
``lenet5()``                 61,706  (N, 1, 28, 28)   seed 003's version
``tutorial_net()``           62,006  (N, 3, 32, 32)   seed 001 Exercise 2-4
``alexnet227()``         62,378,344  (N, 3, 227, 227) seed 001's table
torchvision ``vgg16``   138,357,544  (N, 3, 224, 224)
torchvision ``resnet18`` 11,689,512  (N, 3, 224, 224)
=====================  ============  ==========================================

Example:
    >>> from course_utils.shapes import count_params
    >>> count_params(lenet5())
    61706
"""
from __future__ import annotations

from typing import Sequence

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
    """LeNet-5 as in seed 003 (ReLU and max pooling), for 28x28 inputs: 61,706 parameters.

    Example:
        >>> import torch
        >>> lenet5()(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),   # 28x28 -> 14x14
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2, 2),                      # 14x14 -> 10x10 -> 5x5
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, num_classes),
    )


def tutorial_net(num_classes: int = 10) -> nn.Sequential:
    """The CIFAR-10 network of seed 001's Exercise 2-4 (PyTorch's classic tutorial net): 62,006 parameters.

    Example:
        >>> import torch
        >>> tutorial_net()(torch.zeros(1, 3, 32, 32)).shape
        torch.Size([1, 10])
    """
    return nn.Sequential(
        nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2, 2),     # 32 -> 28 -> 14
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2, 2),    # 14 -> 10 -> 5
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, num_classes),
    )


def alexnet227(num_classes: int = 1000) -> nn.Sequential:
    """AlexNet as in seed 001's table (one tower, no LRN), for 227x227 inputs: 62,378,344 parameters.

    torchvision's ``alexnet`` differs (64/192 channels in the first convolutions, 224x224 inputs,
    adaptive pooling): 61,100,840 parameters.

    Example:
        >>> import torch
        >>> alexnet227()[:3](torch.zeros(1, 3, 227, 227)).shape
        torch.Size([1, 96, 27, 27])
    """
    return nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(), nn.MaxPool2d(3, 2),       # 227 -> 55 -> 27
        nn.Conv2d(96, 256, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),     # 27 -> 27 -> 13
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),    # 13 -> 6
        nn.Flatten(),
        nn.Dropout(0.5), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(),
        nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(),
        nn.Linear(4096, num_classes),
    )
