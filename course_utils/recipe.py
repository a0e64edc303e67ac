"""A fast reference recipe for CIFAR-10: 90% test accuracy in 10 minutes on a 2-core CPU.

Measured by ``benchmarks/cifar10_speed.py --minutes 10 --device cpu`` on CIFAR-10 (JPEG copy),
2-core AMD EPYC with native bf16, torch 2.14.1, data loading included, against the Exercise 2-4
network trained for the same time in the same run (the README's Benchmarks table has the figures).
On a CPU without bf16 instructions everything runs in fp32, about 1.8x slower. On a GPU
``RecipeConfig.for_device("cuda")`` uses airbench94_muon's sizes (not yet measured).

Everything the ``07_training_cnns`` ladders teach, put together, plus the tricks that make
the public speed records fast (studied from KellerJordan/cifar10-airbench and the
"how to train your ResNet" posts, written anew here, one screen per part):

1. **data**: the whole data set in memory as uint8; flip and 2-pixel translation on tensors
   (:class:`~course_utils.data.TensorLoader`; each image is mirrored in every other epoch),
   ``channels_last`` batches and bf16 autocast where the hardware has it (faster convolutions).
2. **network**: a frozen 2x2 *whitening* convolution, then three groups of
   conv -> max-pool -> BN -> GELU -> conv -> BN -> GELU, a global max-pool and a linear layer.
3. **initialization**: the first layer whitens 2x2 patches (from the data's covariance);
   every 3x3 convolution starts close to the identity (dirac init).
4. **optimization**: label smoothing; the filters learn with :class:`Muon` (momentum, then the
   update orthogonalized), the biases and the head with SGD and Nesterov momentum, the rates
   decaying linearly to zero; a lookahead/EMA of the weights. ``optimizer="sgd"`` is the plain
   alternative the lecture builds: SGD with Nesterov momentum everywhere, warm-up then decay.
5. **evaluation**: test-time augmentation (mirror, and one-pixel shifts).

On that CPU, bf16, Muon and alternating flips took the recipe from 88.4% (SGD, fp32, widths
32-128-128) to 90.1%, 90.3% and 90.4% (three runs) in the same ten minutes; with SGD and bf16, widths
32-128-128 (16 epochs) reached 89.3% and 48-192-192 (9 epochs) 89.6%; with Muon, 64-256-256
(5 epochs) 89.9%.

The schedule follows *progress* from 0 to 1: the fraction of epochs done or, with a time
budget, the fraction of the budget used, whichever is larger, so a run ends on time on a
busy machine too (with fewer epochs).

Example:
    >>> from course_utils.data import synthetic_dataset
    >>> cfg = RecipeConfig(widths=(8, 16, 16), epochs=1, batch_size=64, tta_level=1)
    >>> r = train_recipe(synthetic_dataset("cifar10", "train", n=256),
    ...                  synthetic_dataset("cifar10", "test", n=64), cfg, progress=False)
    >>> 0.0 <= r.accuracy <= 1.0, len(r.curve) >= 1
    (True, True)
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn

from .data import ImageData, TensorLoader
from .train import show_progress

__all__ = [
    "RecipeConfig",
    "RecipeResult",
    "recipe_net",
    "init_whitening",
    "Lookahead",
    "recipe_optimizer",
    "orthogonalize",
    "Muon",
    "muon_optimizers",
    "lr_factor",
    "predict",
    "train_recipe",
]


# --------------------------------------------------------------------------- 0. settings
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


# --------------------------------------------------------------------------- 2. network
class _Conv(nn.Conv2d):
    """3x3 convolution without bias whose first ``in_channels`` filters start as the identity."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 3, padding: int | str = "same", bias: bool = False):
        super().__init__(cin, cout, kernel_size, padding=padding, bias=bias)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        n = min(self.in_channels, self.out_channels)
        if self.kernel_size[0] % 2 == 1:  # dirac needs a centre tap
            nn.init.dirac_(self.weight.data[:n, :n])


def _bn(channels: int, momentum: float) -> nn.BatchNorm2d:
    """BN with a fixed scale of 1 (only the shift learns) and a tiny epsilon."""
    bn = nn.BatchNorm2d(channels, eps=1e-12, momentum=momentum)
    bn.weight.requires_grad_(False)
    return bn


class _Group(nn.Sequential):
    """conv -> max-pool (halves H, W) -> BN -> GELU -> conv -> BN -> GELU."""

    def __init__(self, cin: int, cout: int, bn_momentum: float):
        super().__init__(
            _Conv(cin, cout),
            nn.MaxPool2d(2),
            _bn(cout, bn_momentum),
            nn.GELU(),
            _Conv(cout, cout),
            _bn(cout, bn_momentum),
            nn.GELU(),
        )


class _Scale(nn.Module):
    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor:.4g}"


def recipe_net(
    widths: tuple[int, int, int] = (32, 128, 128), num_classes: int = 10, bn_momentum: float = 0.4
) -> nn.Sequential:
    """The recipe's network for (N, 3, 32, 32) images -> (N, num_classes) logits.

    ``whiten`` (2x2, 3 -> 24 channels, no padding: 32 -> 31), then groups at 31 -> 15,
    15 -> 7 and 7 -> 3 pixels, a 3x3 max-pool, a linear layer and a fixed 1/9 scale.

    Example:
        >>> recipe_net((16, 32, 32))(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """
    w1, w2, w3 = widths
    return nn.Sequential(
        _Conv(3, 24, kernel_size=2, padding=0, bias=True),  # whiten: set by init_whitening
        nn.GELU(),
        _Group(24, w1, bn_momentum),  # 31 -> 15
        _Group(w1, w2, bn_momentum),  # 15 -> 7
        _Group(w2, w3, bn_momentum),  # 7 -> 3
        nn.MaxPool2d(3),  # 3 -> 1
        nn.Flatten(),
        nn.Linear(w3, num_classes, bias=False),
        _Scale(1 / 9),
    )


# --------------------------------------------------------------------------- 3. initialization
@torch.no_grad()
def init_whitening(conv: nn.Conv2d, images: torch.Tensor, eps: float = 5e-4) -> None:
    """Set a (2C*k*k, C, k, k) convolution to whiten k x k patches of ``images`` (N, C, H, W).

    The filters are the eigenvectors of the patch covariance divided by the square root of
    their eigenvalues, each once with + and once with - sign (so a following GELU keeps both
    halves). The layer's outputs start decorrelated with unit variance; its weight is frozen.

    Example:
        >>> conv = nn.Conv2d(3, 24, 2)
        >>> init_whitening(conv, torch.randn(50, 3, 8, 8)); conv.weight.requires_grad
        False
    """
    cout, c, kh, kw = conv.weight.shape
    d = c * kh * kw
    if images.ndim != 4 or images.shape[1] != c:
        raise ValueError(f"images must be (N, {c}, H, W), got {tuple(images.shape)}")
    if cout != 2 * d:
        raise ValueError(f"a whitening conv needs 2*{c}*{kh}*{kw} = {2 * d} filters, has {cout}")
    patches = images.float().unfold(2, kh, 1).unfold(3, kw, 1)  # N, C, H', W', kh, kw
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, d)
    cov = patches.T @ patches / len(patches)
    eigval, eigvec = torch.linalg.eigh(cov)  # ascending
    filters = (eigvec.T / (eigval + eps).sqrt()[:, None]).flip(0).reshape(d, c, kh, kw)
    conv.weight.copy_(torch.cat([filters, -filters]).to(conv.weight))
    conv.weight.requires_grad_(False)


# --------------------------------------------------------------------------- 4. optimization
def recipe_optimizer(model: nn.Module, cfg: RecipeConfig) -> torch.optim.SGD:
    """SGD with Nesterov momentum; BN biases get ``bias_scaler`` times the learning rate.

    Converts the per-1024-examples ``lr``/``weight_decay`` of ``cfg`` to PyTorch's form: the
    weight decay per step stays ``weight_decay * batch_size / scale`` for every group.

    Example:
        >>> opt = recipe_optimizer(recipe_net((8, 16, 16)), RecipeConfig())
        >>> [round(g["lr"] / opt.param_groups[1]["lr"]) for g in opt.param_groups]
        [64, 1]
    """
    scale = 1024 * (1 + 1 / (1 - cfg.momentum))  # Nesterov's steady-state step amplification
    lr = cfg.lr / scale
    wd = cfg.weight_decay * cfg.batch_size / scale
    bn_ids = {id(m.bias) for m in model.modules() if isinstance(m, nn.BatchNorm2d)}
    biases = [p for p in model.parameters() if id(p) in bn_ids]
    others = [p for p in model.parameters() if id(p) not in bn_ids]
    lr_bias = lr * cfg.bias_scaler
    groups = [
        dict(params=biases, lr=lr_bias, weight_decay=wd / lr_bias),
        dict(params=others, lr=lr, weight_decay=wd / lr),
    ]
    for g in groups:
        g["base_lr"] = g["lr"]
    return torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum, nesterov=True)


def orthogonalize(g: torch.Tensor, steps: int = 3) -> torch.Tensor:
    """Roughly ``U @ V.T`` of the SVD ``g = U S V.T`` of a matrix: every direction gets the same size.

    A few Newton-Schulz iterations in bf16 (coefficients from Keller Jordan's Muon), so singular
    values land between about 0.5 and 1.5 rather than at exactly 1, which trains just as well.

    Example:
        >>> torch.linalg.svdvals(orthogonalize(torch.randn(8, 20))).min() > 0.3
        tensor(True)
    """
    a, b, c = 3.4445, -4.7750, 2.0315
    x = g.bfloat16() / (g.norm() + 1e-7)
    tall = x.size(0) > x.size(1)
    if tall:
        x = x.T
    for _ in range(steps):
        A = x @ x.T
        x = a * x + (b * A + c * A @ A) @ x
    return (x.T if tall else x).to(g.dtype)


class Muon(torch.optim.Optimizer):
    """Nesterov momentum whose update, per filter bank, is orthogonalized (:func:`orthogonalize`).

    The weights are rescaled to a fixed norm before each step (BN after every convolution makes
    their scale irrelevant), so ``lr`` sets how far each step turns them.

    Example:
        >>> conv = nn.Conv2d(3, 4, 3); opt = Muon([conv.weight], lr=0.1)
        >>> conv(torch.randn(2, 3, 8, 8)).sum().backward(); opt.step()
    """

    def __init__(self, params, lr: float = 0.24, momentum: float = 0.6, nesterov: bool = True):
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov))

    @torch.no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                buf = self.state[p].setdefault("momentum_buffer", torch.zeros_like(p.grad))
                buf.mul_(group["momentum"]).add_(p.grad)
                g = p.grad.add(buf, alpha=group["momentum"]) if group["nesterov"] else buf
                p.mul_(len(p) ** 0.5 / p.norm())
                p.add_(orthogonalize(g.reshape(len(g), -1)).view_as(p), alpha=-group["lr"])


def muon_optimizers(model: nn.Sequential, cfg: RecipeConfig) -> list[torch.optim.Optimizer]:
    """Muon for the 3x3 filters; SGD with Nesterov momentum for the whitening and BN biases and the head.

    The loss is a sum over the batch, so the SGD rates need no change with the batch size;
    weight decay removes ``2e-6`` of a weight per example seen.

    Example:
        >>> [type(o).__name__ for o in muon_optimizers(recipe_net((8, 16, 16)), RecipeConfig())]
        ['SGD', 'Muon']
    """
    filters = [p for p in model.parameters() if p.ndim == 4 and p.requires_grad]
    bn_biases = [m.bias for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    head = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
    wd = 2e-6 * cfg.batch_size
    groups = [
        dict(params=[model[0].bias], lr=cfg.bias_lr, weight_decay=wd / cfg.bias_lr, whiten=True),
        dict(params=bn_biases, lr=cfg.bias_lr, weight_decay=wd / cfg.bias_lr),
        dict(params=head, lr=cfg.head_lr, weight_decay=wd / cfg.head_lr),
    ]
    sgd = torch.optim.SGD(groups, lr=cfg.bias_lr, momentum=cfg.momentum, nesterov=True)
    muon = Muon(filters, lr=cfg.muon_lr * (cfg.batch_size / 2000) ** 0.5, momentum=cfg.muon_momentum)
    for opt in (sgd, muon):
        for g in opt.param_groups:
            g["base_lr"] = g["lr"]
    return [sgd, muon]


def lr_factor(progress: float, warmup: float = 0.23) -> float:
    """Learning-rate multiplier at ``progress`` in [0, 1]: 0.2 -> 1 linearly, then 1 -> 0.07.

    Example:
        >>> [round(lr_factor(p), 3) for p in (0.0, 0.23, 1.0)]
        [0.2, 1.0, 0.07]
    """
    p = min(max(progress, 0.0), 1.0)
    if p < warmup:
        return 0.2 + 0.8 * p / warmup
    return 1.0 - 0.93 * (p - warmup) / (1 - warmup)


class Lookahead:
    """Every few steps, pull the weights towards a slow copy and continue from there.

    The slow copy moves ``1 - decay`` of the way to the fast weights; ``decay`` grows
    as ``p**3`` over the run, so late in training the model averages many steps (an EMA).

    Example:
        >>> net = nn.Linear(2, 2); la = Lookahead(net)
        >>> with torch.no_grad(): _ = net.weight.add_(1.0)
        >>> la.update(net, decay=0.5)    # weights move half way back
    """

    def __init__(self, model: nn.Module):
        self.slow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module, decay: float) -> None:
        for k, v in model.state_dict().items():
            if v.is_floating_point():
                self.slow[k].lerp_(v, 1 - decay)
                v.copy_(self.slow[k])


# --------------------------------------------------------------------------- 5. evaluation
@torch.no_grad()
def predict(
    model: nn.Module, loader, tta_level: int = 0, bf16: bool | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (N, classes) and labels (N,) over ``loader``, with test-time augmentation.

    ``tta_level`` 1 averages each image and its mirror image; 2 also averages the images
    shifted one pixel up-left and down-right (reflect padding): six views in all.

    Example:
        >>> from course_utils.data import synthetic_dataset
        >>> loader = TensorLoader(synthetic_dataset("cifar10", "test", n=8), 4)
        >>> logits, y = predict(recipe_net((8, 16, 16)), loader, tta_level=2); logits.shape
        torch.Size([8, 10])
    """
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device

    def mirror(x):
        return 0.5 * (model(x) + model(x.flip(3))) if tta_level >= 1 else model(x)

    outs, ys = [], []
    for x, y in loader:
        x = x.to(dev)
        with _autocast(dev, bf16):
            logits = mirror(x)
            if tta_level >= 2:
                H, W = x.shape[2:]
                pad = F.pad(x, (1, 1, 1, 1), mode="reflect")
                shifted = [pad[:, :, :H, :W], pad[:, :, 2:, 2:]]
                logits = 0.5 * logits + 0.25 * sum(
                    mirror(s.contiguous(memory_format=torch.channels_last)) for s in shifted
                )
        outs.append(logits.float())
        ys.append(y.to(dev))
    model.train(was_training)
    return torch.cat(outs), torch.cat(ys)


def cpu_has_bf16() -> bool:
    """True when this CPU multiplies bf16 natively (AVX512-BF16 or AMX), where bf16 convolutions
    run about 1.8x faster than fp32; elsewhere oneDNN emulates bf16 and it is slower."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def use_bf16(dev: torch.device) -> bool:
    """Whether bf16 pays off on ``dev``: on CUDA (tensor cores) and on CPUs with native bf16."""
    return dev.type == "cuda" or (dev.type == "cpu" and cpu_has_bf16())


def _autocast(dev: torch.device, bf16: bool | None = None):
    """bf16 autocast when ``bf16`` says so (``None``: when :func:`use_bf16`), otherwise fp32."""
    return torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_bf16(dev) if bf16 is None else bf16)


# --------------------------------------------------------------------------- 6. training
def train_recipe(
    train: ImageData,
    test: ImageData,
    cfg: RecipeConfig | None = None,
    device: str | torch.device = "cpu",
    budget_s: float | None = None,
    start_time: float | None = None,
    progress: bool | None = None,
) -> RecipeResult:
    """Train :func:`recipe_net` on ``train`` and measure it on ``test`` (accuracy after TTA).

    Args:
        train, test: uint8 data sets in memory (:func:`~course_utils.data.load_dataset`).
        cfg: settings; default :meth:`RecipeConfig.for_device`.
        device: "cpu" or "cuda" (the whole data set moves there).
        budget_s: wall-clock budget in seconds, counted from ``start_time`` (default: now),
            final evaluation included; ``None`` trains for ``cfg.epochs``.
        start_time: a ``time.perf_counter()`` value, e.g. taken before loading the data.
        progress: a progress bar (percent of the epochs or of the time budget) and one line per epoch;
            default automatic (:func:`~course_utils.train.show_progress`: off under the grader and in CI).

    Returns a :class:`RecipeResult`; its curve has one test accuracy (no TTA) per epoch.
    """
    from tqdm.auto import tqdm

    start = time.perf_counter() if start_time is None else start_time
    cpu_start = time.process_time()
    progress = show_progress(progress)
    dev = torch.device(device)
    cfg = cfg or RecipeConfig.for_device(dev)
    if cfg.bf16 is None:  # record what "auto" chose
        cfg = replace(cfg, bf16=use_bf16(dev))
    torch.manual_seed(cfg.seed)
    loader = TensorLoader(
        train,
        cfg.batch_size,
        shuffle=True,
        device=dev,
        drop_last=True,
        seed=cfg.seed,
        channels_last=True,
        augment=dict(flip={"random": True, "alternate": "alternate", "none": False}[cfg.flip], translate=cfg.translate),
    )
    test_loader = TensorLoader(test, 1000, device=dev, channels_last=True)
    curve_test = test if len(test) <= cfg.curve_test_images else test.subset(cfg.curve_test_images)
    curve_loader = TensorLoader(curve_test, 1000, device=dev, channels_last=True)
    model = recipe_net(cfg.widths, len(train.classes), cfg.bn_momentum)
    model = model.to(dev, memory_format=torch.channels_last)
    first = loader.images[:5000].float().div(255)
    init_whitening(model[0], (first - loader.mean) / loader.std)
    if cfg.optimizer == "muon":  # airbench94_muon's head: unit-std weights, output / width
        head = model[-2]
        head.weight.data /= head.weight.data.std()
        model[-1].factor = 1 / head.in_features
        optimizers = muon_optimizers(model, cfg)
    elif cfg.optimizer == "sgd":
        optimizers = [recipe_optimizer(model, cfg)]
    else:
        raise ValueError(f"optimizer must be 'sgd' or 'muon', got {cfg.optimizer!r}")
    lookahead = Lookahead(model)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing, reduction="sum")

    total_steps = max(1, math.ceil(cfg.epochs * len(loader)))
    views = (1, 2, 6)[cfg.tta_level]
    step, seen, curve, p = 0, 0, [], 0.0
    mark, epoch, eval_s = (start, 0), 0, 0.0  # eval_s: how long the last per-epoch evaluation took
    bar = tqdm(total=100, desc="recipe", unit="%", disable=not progress, leave=False)
    while p < 1.0:
        epoch += 1
        model[0].bias.requires_grad_(p < cfg.whiten_bias)
        loss_sum, n = 0.0, 0
        for x, y in loader:
            p = step / total_steps
            if budget_s is not None:  # leave time for the final test-time-augmented evaluation
                now = time.perf_counter()
                if step == 3:  # measure the speed after the first, slower steps
                    mark = (now, seen)
                reserve = 0.0
                if eval_s:  # measured: the final evaluation sees `views` times the whole test set
                    reserve = min(1.2 * eval_s * views * len(test) / len(curve_test) + eval_s, 0.4 * budget_s)
                elif step > 3:  # before the first evaluation: an evaluated image costs about a third of a trained one
                    rate = (seen - mark[1]) / max(now - mark[0], 1e-9)
                    reserve = min(1.3 * views * len(test) / (3 * rate), 0.3 * budget_s)
                p = max(p, (now - start) / max(budget_s - reserve, 1e-9))
            if p >= 1.0:
                break
            for opt in optimizers:
                for g in opt.param_groups:
                    if cfg.optimizer == "muon":  # linear decay from the start; whitening bias: faster
                        end = cfg.whiten_bias if g.get("whiten") else 1.0
                        g["lr"] = g["base_lr"] * max(0.0, 1 - p / end)
                    else:
                        g["lr"] = g["base_lr"] * lr_factor(p, cfg.warmup)
            with _autocast(dev, cfg.bf16):
                loss = loss_fn(model(x).float(), y)
            model.zero_grad(set_to_none=True)
            loss.backward()
            for opt in optimizers:
                opt.step()
            step += 1
            seen += len(y)
            if cfg.lookahead_every and step % cfg.lookahead_every == 0:
                lookahead.update(model, decay=(0.95**cfg.lookahead_every) * p**3)
            loss_sum += loss.item()
            n += len(y)
            if progress and int(100 * p) > bar.n:
                bar.update(int(100 * p) - bar.n)
        if n == 0:
            break
        eval_start = time.perf_counter()
        logits, labels = predict(model, curve_loader, tta_level=0, bf16=cfg.bf16)
        eval_s = time.perf_counter() - eval_start
        curve.append(
            dict(
                seconds=round(time.perf_counter() - start, 2),
                cpu_seconds=round(time.process_time() - cpu_start, 2),
                epoch=epoch,
                images=seen,
                test_acc=(logits.argmax(1) == labels).float().mean().item(),
                test_images=len(labels),
                train_loss=loss_sum / n,
            )
        )
        if progress:
            bar.write(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in curve[-1].items()))
    bar.close()
    if cfg.lookahead_every:
        lookahead.update(model, decay=1.0)  # finish on the slow weights
    logits, labels = predict(model, test_loader, tta_level=cfg.tta_level, bf16=cfg.bf16)
    acc = (logits.argmax(1) == labels).float().mean().item()
    seconds = time.perf_counter() - start
    if progress:
        print(f"final test accuracy {acc:.4f} (TTA level {cfg.tta_level}) after {seconds:.1f} s")
    return RecipeResult(model, acc, curve, seconds, seen, asdict(cfg))
