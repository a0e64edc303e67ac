"""The settings of the fast CIFAR-10 recipe, and what a run of it returns.

:class:`RecipeConfig` holds every number of :func:`course_utils.recipe.train_recipe` (widths, epochs,
learning rates, augmentation, test-time augmentation), with defaults for a CPU and airbench94_muon's sizes
for a GPU; :class:`RecipeResult` is the trained model, its accuracy and its curve. Taught in
``07_training_cnns``.

Example:
    >>> RecipeConfig.for_device("cuda").batch_size, RecipeConfig(epochs=2).epochs
    (2000, 2)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["RecipeConfig", "RecipeResult"]


@dataclass
class RecipeConfig:
    """Settings of :func:`train_recipe`; ``for_device`` picks sizes that fit a CPU or a GPU.

    ``lr`` and ``weight_decay`` are per 1024 examples and independent of momentum
    (the loss is a *sum* over the batch and the step is divided by ``1 + 1/(1 - momentum)``),
    so the batch size and momentum can change without re-tuning them.

    Example:
        >>> RecipeConfig.for_device("cpu").widths
        (48, 192, 192)
    """

    widths: tuple[int, int, int] = (48, 192, 192)
    epochs: float = 10.0
    batch_size: int = 512
    optimizer: str = "muon"  # "muon": Muon for the filters, SGD for biases and head; "sgd": SGD only
    muon_lr: float = 0.24  # Muon's step for batches of 2000 (scaled by sqrt(batch_size / 2000))
    muon_momentum: float = 0.6
    head_lr: float = 0.67  # with "muon": SGD learning rates of the head and of the biases
    bias_lr: float = 0.053
    lr: float = 11.5  # with "sgd": learning rate and weight decay per 1024 examples
    momentum: float = 0.85
    weight_decay: float = 0.0153
    bias_scaler: float = 64.0  # BN biases learn this much faster (not decayed faster)
    label_smoothing: float = 0.2
    warmup: float = 0.23  # with "sgd": fraction of the run spent warming up
    whiten_bias: float = 0.375  # the whitening layer's bias trains for this fraction of the run
    flip: str = "alternate"  # "alternate" (see TensorLoader), "random" (each image, each epoch), "none"
    translate: int = 2
    bn_momentum: float = 0.4  # PyTorch convention: weight of the new batch statistics
    lookahead_every: int = 5  # 0: no lookahead
    tta_level: int = 2  # 0 none, 1 mirror, 2 mirror and one-pixel shifts
    bf16: bool | None = None  # bf16 autocast; None: on CUDA and on CPUs with native bf16
    curve_test_images: int = 2000  # the per-epoch curve uses a random subset of the test set this big
    seed: int = 0

    @classmethod
    def for_device(cls, device: str | torch.device, **changes) -> RecipeConfig:
        """The defaults on a CPU (three quarters of airbench's widths); airbench94_muon's sizes on a GPU."""
        if torch.device(device).type == "cuda":
            changes = dict(dict(widths=(64, 256, 256), epochs=8.0, batch_size=2000, lookahead_every=0), **changes)
        return cls(**changes)


@dataclass
class RecipeResult:
    """What :func:`train_recipe` returns: the model (with the lookahead weights), the final
    test accuracy (with TTA), the curve
    ``[{seconds, cpu_seconds, epoch, images, test_acc, test_images, train_loss}, ...]``
    (``test_acc`` without TTA, on ``test_images`` test images; ``cpu_seconds``: CPU time of this
    process, all threads, since the call: on a busy machine it shows how much of the wall time
    the run actually got)."""

    model: nn.Module
    accuracy: float
    curve: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    images_seen: int = 0
    config: dict = field(default_factory=dict)
