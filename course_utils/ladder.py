"""The "training" and "generalization" ladders of the MLP-to-CNN slides: one configurable CNN, one training call.

Each rung of a ladder changes one thing (the activation, BN, the initialization, skip
connections, dropout, augmentation, ...) and keeps the rest, so its effect can be read off
overlaid learning curves. Taught in ``07_training_cnns``; ``08_hw3_cifar10`` uses the same
pieces as a starting point.

Example:
    >>> import torch
    >>> net = ladder_net(activation="relu", bn=True, skip=True, width=8, depth=2)
    >>> net(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from .data import ImageData, TensorLoader
from .train import History, fit, warmup_cosine

__all__ = ["ACTIVATIONS", "ladder_net", "raw_pixels", "train_rung", "Ladder"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "sigmoid": nn.Sigmoid,
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
}


class _Block(nn.Module):
    """conv 3x3 (+ BN) + activation; with ``skip``: act(BN(conv(x)) + shortcut(x))."""

    def __init__(self, cin: int, cout: int, act: type[nn.Module], bn: bool, skip: bool):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, padding=1, bias=not bn)]
        self.body = nn.Sequential(*layers, *([nn.BatchNorm2d(cout)] if bn else []))
        self.shortcut = None
        if skip:
            self.shortcut = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1, bias=False)
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return self.act(y if self.shortcut is None else y + self.shortcut(x))


def ladder_net(
    activation: str = "relu",
    bn: bool = False,
    init: str = "xavier",
    skip: bool = False,
    dropout: float = 0.0,
    width: int = 32,
    depth: int = 3,
    num_classes: int = 10,
    in_channels: int = 3,
) -> nn.Sequential:
    """A plain VGG-style CNN with switches for every rung of the ladders.

    Three stages of ``depth`` blocks (widths ``width``, ``2 width``, ``4 width``), a 2x2 max-pool
    after the first two stages (32 -> 16 -> 8 pixels), global average pooling, dropout and a
    linear layer. A block is one 3x3 convolution (+ BN) and the activation; ``skip`` adds its
    input back before the activation (a 1x1 convolution where the width changes), so a network
    with skip connections has the same depth and nearly the same cost.

    Args:
        activation: "sigmoid", "relu", "silu", "tanh" or "gelu".
        bn: batch normalization after every convolution.
        init: "xavier" (Glorot uniform, as in the MLP-to-CNN slides) or "he" (Kaiming normal, fan-out).
        skip: residual blocks.
        dropout: dropout probability before the last layer.

    Example:
        >>> from course_utils.shapes import count_params
        >>> count_params(ladder_net(width=8, depth=1))
        6362
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if init not in ("xavier", "he"):
        raise ValueError(f"init must be 'xavier' or 'he', got {init!r}")
    act = ACTIVATIONS[activation]
    layers: list[nn.Module] = []
    cin = in_channels
    for stage in range(3):
        cout = width * 2**stage
        for _ in range(depth):
            layers.append(_Block(cin, cout, act, bn, skip))
            cin = cout
        if stage < 2:
            layers.append(nn.MaxPool2d(2))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin, num_classes)]
    net = nn.Sequential(*layers)
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if init == "he" and isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            else:
                nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return net


def raw_pixels(data: ImageData) -> ImageData:
    """The same data without standardization: inputs stay in [0, 1] (the ladders' first rungs).

    Example:
        >>> from course_utils.data import synthetic_dataset
        >>> raw_pixels(synthetic_dataset("cifar10", "test", n=4)).mean
        (0.0, 0.0, 0.0)
    """
    C = data.images.shape[1]
    return replace(data, mean=(0.0,) * C, std=(1.0,) * C)


def train_rung(
    net: nn.Module,
    train: ImageData,
    test: ImageData,
    epochs: int = 5,
    lr: float = 1e-3,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    augment: dict | None = None,
    lr_decay: bool = False,
    batch_size: int = 128,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool | None = None,
) -> History:
    """Train ``net`` for one rung of a ladder; return its :class:`~course_utils.train.History`.

    Args:
        optimizer: "adam" (the MLP-to-CNN slides' choice) or "sgd" (momentum 0.9, Nesterov).
        weight_decay: decoupled weight decay (AdamW) or L2 (SGD).
        augment: :func:`~course_utils.data.augment_batch` options, e.g. ``dict(flip=True, translate=4)``.
        lr_decay: cosine decay of the learning rate to zero (with a short warm-up).
        progress: a progress bar per epoch; default automatic (:func:`~course_utils.train.show_progress`).

    Example:
        >>> from course_utils.data import synthetic_dataset
        >>> d = synthetic_dataset("cifar10", "test", n=64)
        >>> h = train_rung(ladder_net(width=4, depth=1), d, d, epochs=1, batch_size=32, progress=False)
        >>> len(h.val_acc)
        1
    """
    torch.manual_seed(seed)
    train_loader = TensorLoader(train, batch_size, shuffle=True, augment=augment, seed=seed)
    test_loader = TensorLoader(test, 500)
    if optimizer == "adam":
        opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    elif optimizer == "sgd":
        opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    else:
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    steps = epochs * len(train_loader)
    sched = warmup_cosine(opt, steps, warmup_steps=max(1, steps // 20)) if lr_decay else None
    return fit(
        net,
        train_loader,
        test_loader,
        epochs=epochs,
        optimizer=opt,
        scheduler=sched,
        device=device or "cpu",
        progress=progress,
    )


class Ladder:
    """Climb a ladder: each :meth:`step` changes a few settings, trains a fresh network, keeps its history.

    Settings (and their starting values): the :func:`ladder_net` switches ``activation="relu"``,
    ``bn=False``, ``init="xavier"``, ``skip=False``, ``dropout=0.0``, ``width=32``, ``depth=3``;
    the data ``raw_pixels=False``; the training ``lr=1e-3``, ``weight_decay=0.0``,
    ``lr_decay=False``; augmentation ``flip=False``, ``translate=0``, ``erase=0.0``. ``progress``: a bar
    per epoch of every rung, automatic by default (:func:`~course_utils.train.show_progress`).

    Example:
        >>> from course_utils.data import synthetic_dataset
        >>> d = synthetic_dataset("cifar10", "test", n=64)
        >>> lad = Ladder(d, d, epochs=1, width=4, depth=1, progress=False)
        >>> _ = lad.step("start"); _ = lad.step("BN", bn=True)
        >>> list(lad.histories), lad.config["bn"]
        (['start', 'BN'], True)
    """

    NET = ("activation", "bn", "init", "skip", "dropout", "width", "depth")
    DEFAULTS = dict(
        activation="relu",
        bn=False,
        init="xavier",
        skip=False,
        dropout=0.0,
        width=32,
        depth=3,
        raw_pixels=False,
        lr=1e-3,
        weight_decay=0.0,
        lr_decay=False,
        flip=False,
        translate=0,
        erase=0.0,
    )

    def __init__(
        self,
        train: ImageData,
        test: ImageData,
        epochs: int = 5,
        batch_size: int = 128,
        device: str | torch.device | None = None,
        progress: bool | None = None,
        **start,
    ):
        unknown = set(start) - set(self.DEFAULTS)
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}; known: {sorted(self.DEFAULTS)}")
        self.train, self.test, self.epochs, self.batch_size, self.device = train, test, epochs, batch_size, device
        self.progress = progress
        self.config = dict(self.DEFAULTS, **start)
        self.histories: dict[str, History] = {}
        self.params: dict[str, int] = {}

    def step(self, name: str, **changes) -> History:
        """Apply ``changes`` to the settings, train a new network from scratch, return its history."""
        unknown = set(changes) - set(self.DEFAULTS)
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}; known: {sorted(self.DEFAULTS)}")
        self.config.update(changes)
        c = self.config
        net = ladder_net(
            **{k: c[k] for k in self.NET}, num_classes=len(self.train.classes), in_channels=self.train.images.shape[1]
        )
        train, test = (raw_pixels(self.train), raw_pixels(self.test)) if c["raw_pixels"] else (self.train, self.test)
        augment = (
            dict(flip=c["flip"], translate=c["translate"], erase=c["erase"])
            if c["flip"] or c["translate"] or c["erase"]
            else None
        )
        h = train_rung(
            net,
            train,
            test,
            epochs=self.epochs,
            lr=c["lr"],
            weight_decay=c["weight_decay"],
            augment=augment,
            lr_decay=c["lr_decay"],
            batch_size=self.batch_size,
            device=self.device,
            progress=self.progress,
        )
        self.histories[name] = h
        self.params[name] = sum(p.numel() for p in net.parameters())
        return h

    def __repr__(self) -> str:
        lines = [f"{'rung':<24}{'params':>10}{'train acc':>11}{'val acc':>9}"]
        for name, h in self.histories.items():
            lines.append(f"{name:<24}{self.params[name]:>10,}{h.train_acc[-1]:>11.3f}{h.val_acc[-1]:>9.3f}")
        return "\n".join(lines)
