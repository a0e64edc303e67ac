"""The "CNN training" and "model generalization" ladders of the MLP-to-CNN slides, rung by rung.

Each rung is a :class:`Rung`: the network, data and training settings the slides give for it, and the
train/test accuracy the slides report (``None`` where they give none). :func:`slide_net` builds a rung's
network, :func:`train_rung` trains it on a :class:`Budget`, :func:`climb` trains a whole ladder and
returns a :class:`LadderResults` table of slide and measured numbers side by side.
Taught in ``07_training_cnns``.

Example:
    >>> import torch
    >>> net = slide_net(TRAINING_LADDER[0], width_scale=0.25)
    >>> net(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from .data import ImageData, TensorLoader
from .train import History, fit
from .transforms import Augmented, SlideAugment

__all__ = [
    "ACTIVATIONS",
    "Rung",
    "TRAINING_LADDER",
    "GENERALIZATION_LADDER",
    "slide_net",
    "Budget",
    "train_rung",
    "RungResult",
    "LadderResults",
    "climb",
    "ladder_budgets",
]

ACTIVATIONS: dict[str, type[nn.Module]] = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "silu": nn.SiLU}


@dataclass(frozen=True)
class Rung:
    """One rung of a ladder: the slides' settings and the slides' numbers.

    Network: ``widths`` (channels of each stage), ``convs`` (3x3 convolutions per stage, each followed
    by ``activation`` and, with ``bn``, ``BatchNorm2d``: the slides' conv-act-BN order), a 2x2 max-pool
    closing every stage, with ``skip`` a shortcut ``act(conv3x3 stride 2)`` from the stage's input added
    after the pool, with ``dropout`` a ``Dropout`` after every stage; then Flatten, Dense-``dense`` +
    activation, Dense-10. ``init``: "xavier" (Glorot uniform) or "he" (Kaiming normal), biases zero.
    Data: ``standardize`` (0 mean, 1 deviation per channel; else pixels in [0, 1]), ``augment``
    (:data:`~course_utils.transforms.OPS`). Training: Adam with ``lr`` and (coupled, L2) ``weight_decay``,
    with ``lr_gamma`` an ``ExponentialLR`` stepped once per epoch.
    """

    name: str
    widths: tuple[int, ...]
    convs: int = 1
    activation: str = "relu"
    bn: bool = False
    skip: bool = False
    dropout: float = 0.0
    dense: int = 512
    init: str = "xavier"
    standardize: bool = False
    augment: tuple[str, ...] = ()
    lr: float = 1e-3
    weight_decay: float = 0.0
    lr_gamma: float | None = None
    slide_train: float | None = None
    slide_test: float | None = None
    slide_says: str = ""


def _ladder(start: Rung, steps: list[dict]) -> list[Rung]:
    """``start``, then one rung per dict of changes to the previous rung; a dict with ``fix=True`` changes
    the last rung without ``fix`` instead (the slides' solutions, each tried alone)."""
    rungs, base = [start], start
    for changes in steps:
        changes = dict(changes)
        fix = changes.pop("fix", False)
        slide = dict(slide_train=None, slide_test=None, slide_says="")
        rung = replace(base if fix else rungs[-1], **{**slide, **changes})
        rungs.append(rung)
        base = base if fix else rung
    return rungs


_T1 = Rung(
    "2 conv, sigmoid",
    (64, 128),
    activation="sigmoid",
    slide_train=0.693,
    slide_test=0.645,
    slide_says="Accuracy: 69.3% - Val_accuracy: 64.5%",
)
TRAINING_LADDER: list[Rung] = _ladder(
    _T1,
    [
        dict(
            name="3 conv, sigmoid",
            widths=(64, 128, 256),
            slide_train=0.938,
            slide_test=0.687,
            slide_says="Accuracy: 93.8% - Val_accuracy: 68.7%",
        ),
        dict(name="9 conv, sigmoid", convs=3, slide_says="the network does not learn"),
        dict(name="9 conv, ReLU", activation="relu", slide_train=0.99, slide_says="training accuracy up to 99%"),
        dict(name="12 conv, ReLU", widths=(64, 128, 256, 512), slide_says="network does not learn again"),
        dict(fix=True, name="fix 1: standardized inputs", standardize=True),
        dict(fix=True, name="fix 2: batch norm", bn=True),
        dict(fix=True, name="fix 3: He init", init="he"),
        dict(fix=True, name="fix 4: SiLU", activation="silu", standardize=True),
        dict(fix=True, name="fix 5: skip connections", skip=True),
        dict(fix=True, name="fix 6: lr 1e-4", lr=1e-4),
    ],
)
"""The slides' "CNN training" ladder: five rungs that make a deeper network, then the slides' six
solutions, each applied alone to the 12-layer ReLU network that does not learn (the slides give each
solution its own settings: He init keeps pixels in [0, 1], SiLU comes with standardized inputs)."""

_ERASE_TO_BN = "val_accuracy from ~78% to ~80% (~80.9% on the next slide)"
GENERALIZATION_LADDER: list[Rung] = _ladder(
    Rung(
        "plain",
        (32, 64, 128),
        convs=2,
        init="he",
        standardize=True,
        slide_test=0.78,
        slide_says="val_accuracy ~78% (before RandomErasing)",
    ),
    [
        dict(name="+ RandomErasing", augment=("erase",), slide_test=0.809, slide_says=_ERASE_TO_BN),
        dict(name="+ batch norm", bn=True, slide_test=0.84, slide_says="val_accuracy from ~80.9% to ~84%"),
        dict(name="+ dropout", dropout=0.25, slide_test=0.866, slide_says="val_accuracy from ~84% to ~86.6%"),
        dict(name="+ weight decay", weight_decay=5e-4, slide_says="no number"),
        dict(
            name="flip and crop",
            augment=("crop", "flip"),
            slide_train=0.92,
            slide_test=0.906,
            slide_says="val_accuracy ~90.6%, train_accuracy ~92%",
        ),
        dict(
            name="+ LR decay",
            lr_gamma=0.96,
            slide_train=0.98,
            slide_test=0.906,
            slide_says="val_accuracy ~90.6%, train_accuracy ~98%",
        ),
        dict(
            name="+ capacity, more aug",
            widths=(64, 128, 256),
            augment=("crop", "flip", "rotate", "erase"),
            slide_train=0.96,
            slide_test=0.93,
            slide_says="val_accuracy ~93%, train_accuracy ~96%",
        ),
        dict(
            name="+ skip connections",
            skip=True,
            slide_train=0.97,
            slide_test=0.93,
            slide_says="val_accuracy ~93%, train_accuracy ~97%",
        ),
        dict(
            name="+ capacity once more",
            widths=(128, 256, 512),
            slide_train=0.983,
            slide_test=0.945,
            slide_says="val_accuracy ~94.5%, train_accuracy ~98.3%",
        ),
    ],
)
"""The slides' "model generalization" ladder; every rung keeps the previous rung's settings. The slides
show the first block (3 -> 32, 32 -> 32 channels) and a Dense-512 head; the later blocks (64, 128
channels), the dropout rate 0.25 and the capacity steps (doubling every width) are this course's reading."""


class _Stage(nn.Module):
    """``convs`` x (conv 3x3 + act (+ BN)), 2x2 max-pool, (+ the shortcut ``act(conv 3x3, stride 2)``), dropout."""

    def __init__(self, cin: int, cout: int, r: Rung):
        super().__init__()
        act = ACTIVATIONS[r.activation]
        layers: list[nn.Module] = []
        for i in range(r.convs):
            layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1), act()]
            layers += [nn.BatchNorm2d(cout)] if r.bn else []
        self.body = nn.Sequential(*layers, nn.MaxPool2d(2))
        short = [nn.Conv2d(cin, cout, 3, stride=2, padding=1), act()] + ([nn.BatchNorm2d(cout)] if r.bn else [])
        self.shortcut = nn.Sequential(*short) if r.skip else None
        self.drop = nn.Dropout(r.dropout) if r.dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return self.drop(y if self.shortcut is None else y + self.shortcut(x))


def slide_net(rung: Rung, width_scale: float = 1.0, num_classes: int = 10, in_channels: int = 3) -> nn.Sequential:
    """The network of ``rung`` for 32x32 inputs, every stage ``width_scale`` times as wide as the slides'.

    Example:
        >>> from course_utils.shapes import count_params
        >>> count_params(slide_net(TRAINING_LADDER[0]))  # 1,792 + 73,856 + 4,194,816 + 5,130
        4275594
    """
    if rung.activation not in ACTIVATIONS or rung.init not in ("xavier", "he"):
        raise ValueError(f"unknown activation {rung.activation!r} or init {rung.init!r}")
    widths = [max(1, round(w * width_scale)) for w in rung.widths]
    stages, cin = [], in_channels
    for w in widths:
        stages.append(_Stage(cin, w, rung))
        cin = w
    side = 32 // 2 ** len(widths)
    act = ACTIVATIONS[rung.activation]
    head = [nn.Flatten(), nn.Linear(cin * side * side, rung.dense), act(), nn.Linear(rung.dense, num_classes)]
    net = nn.Sequential(*stages, *head)
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if rung.init == "he":
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            else:
                nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return net


@dataclass(frozen=True)
class Budget:
    """How much data and training every rung of a ladder gets: ``n_train`` training and ``n_test`` test
    images, ``epochs``, ``batch_size``, and every convolution ``width_scale`` times as wide as the slides'."""

    n_train: int
    n_test: int
    epochs: int
    width_scale: float = 1.0
    batch_size: int = 256


def _loaders(rung: Rung, train: ImageData, test: ImageData, budget: Budget, seed: int, device):
    if not rung.standardize:
        C = train.images.shape[1]
        train, test = (replace(d, mean=(0.0,) * C, std=(1.0,) * C) for d in (train, test))
    last = device.type == "cpu"  # channels_last: faster convolutions on a CPU
    train_loader = TensorLoader(train, budget.batch_size, shuffle=True, device=device, seed=seed, channels_last=last)
    if rung.augment:
        train_loader = Augmented(train_loader, SlideAugment(rung.augment, train.mean, train.std), seed=seed)
    return train_loader, TensorLoader(test, 500, device=device, channels_last=last)


def train_rung(
    rung: Rung,
    train: ImageData,
    test: ImageData,
    budget: Budget,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool | None = None,
) -> History:
    """Train a fresh :func:`slide_net` of ``rung`` with Adam on ``budget``; return its history.

    The training accuracy is measured during each epoch, on the augmented batches and with dropout on
    (what the slides' "accuracy" is), the test accuracy after it.

    Example:
        >>> from course_utils.data import synthetic_dataset
        >>> d = synthetic_dataset("cifar10", "test", n=64)
        >>> h = train_rung(TRAINING_LADDER[0], d, d, Budget(64, 64, epochs=1, width_scale=0.05), progress=False)
        >>> len(h.val_acc)
        1
    """
    device = torch.device(device or "cpu")
    torch.manual_seed(seed)
    net = slide_net(rung, budget.width_scale, len(train.classes), train.images.shape[1])
    if device.type == "cpu":
        net = net.to(memory_format=torch.channels_last)
    train_loader, test_loader = _loaders(rung, train, test, budget, seed, device)
    opt = torch.optim.Adam(net.parameters(), lr=rung.lr, weight_decay=rung.weight_decay)
    sched = None
    if rung.lr_gamma is not None:  # ExponentialLR stepped once per epoch; fit steps a scheduler once per batch
        gamma, per_epoch = rung.lr_gamma, len(train_loader)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: gamma ** (step // per_epoch))
    return fit(
        net, train_loader, test_loader, budget.epochs, optimizer=opt, scheduler=sched, device=device, progress=progress
    )


@dataclass
class RungResult:
    """A trained rung: its settings (with the slides' numbers), history, parameter count and seconds."""

    rung: Rung
    history: History
    params: int
    seconds: float
    cpu_seconds: float = 0.0

    @property
    def train_acc(self) -> float:
        return self.history.train_acc[-1]

    @property
    def test_acc(self) -> float:
        return self.history.val_acc[-1]


def _pct(x: float | None) -> str:
    return "   -" if x is None else f"{100 * x:4.1f}"


@dataclass
class LadderResults:
    """The rungs of one ladder, trained: ``repr`` is the table of slide and measured accuracies (in %)."""

    title: str
    results: list[RungResult] = field(default_factory=list)

    def __repr__(self) -> str:
        head = f"{'rung':<28}{'slide train':>12}{'slide test':>11}{'train':>8}{'test':>7}{'params':>11}{'s':>6}"
        lines = [self.title, head]
        for r in self.results:
            g = r.rung
            lines.append(
                f"{g.name:<28}{_pct(g.slide_train):>12}{_pct(g.slide_test):>11}{_pct(r.train_acc):>8}"
                f"{_pct(r.test_acc):>7}{r.params:>11,}{r.seconds:>6.0f}"
            )
        return "\n".join(lines)

    def plot(self):
        """Slide (open markers) and measured (filled) train and test accuracy per rung."""
        from .plot import plot_ladder

        return plot_ladder(self)


def climb(
    rungs: list[Rung],
    train: ImageData,
    test: ImageData,
    budget: Budget,
    title: str = "",
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool | None = None,
) -> LadderResults:
    """Train every rung from scratch with the same ``budget`` and ``seed``; print one line per rung."""
    out = LadderResults(title)
    for rung in rungs:
        start, cpu = time.perf_counter(), time.process_time()
        h = train_rung(rung, train, test, budget, seed=seed, device=device, progress=progress)
        params = sum(p.numel() for p in slide_net(rung, budget.width_scale).parameters())
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        out.results.append(RungResult(rung, h, params, seconds, cpu))
        print(
            f"{rung.name:<28} train {h.train_acc[-1]:.3f}  test {h.val_acc[-1]:.3f}  ({out.results[-1].seconds:.0f} s)"
        )
    return out


def ladder_budgets(kind: str) -> dict[str, Budget]:
    """The budgets of the two ladders in ``07_training_cnns``: "quick" (the course's automatic checks),
    "cpu" (real CIFAR-10 on a 2-core CPU, both ladders in about a quarter of an hour) or "gpu" (all of it).

    Example:
        >>> ladder_budgets("gpu")["training"].n_train
        50000
    """
    if kind == "quick":
        b = Budget(n_train=128, n_test=64, epochs=1, width_scale=0.0625, batch_size=32)
        return {"training": b, "generalization": b}
    if kind == "cpu":
        return {
            "training": Budget(n_train=2000, n_test=1000, epochs=30, width_scale=0.125, batch_size=32),
            "generalization": Budget(n_train=2000, n_test=1000, epochs=15, width_scale=0.25, batch_size=64),
        }
    if kind == "gpu":
        return {
            "training": Budget(n_train=50_000, n_test=10_000, epochs=15),
            "generalization": Budget(n_train=50_000, n_test=10_000, epochs=30),
        }
    raise ValueError(f"kind must be 'quick', 'cpu' or 'gpu', got {kind!r}")
