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

The parts live in :mod:`course_utils.recipe_config` (settings and result), :mod:`course_utils.recipe_net`
(network, initialization, evaluation) and :mod:`course_utils.recipe_optim` (optimizers, schedule,
lookahead); every name is importable from here too.

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
from dataclasses import asdict, replace

import torch
from torch import nn

from .data import ImageData, TensorLoader
from .recipe_config import RecipeConfig, RecipeResult
from .recipe_net import autocast, cpu_has_bf16, init_whitening, predict, recipe_net, use_bf16
from .recipe_optim import Lookahead, Muon, lr_factor, muon_optimizers, orthogonalize, recipe_optimizer
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
__all__ += ["cpu_has_bf16", "use_bf16"]  # defined in recipe_net, importable from here as before


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
    run = _Run(train, test, cfg, dev, budget_s, start, cpu_start)
    curve, p, epoch = [], 0.0, 0
    bar = tqdm(total=100, desc="recipe", unit="%", disable=not progress, leave=False)
    while p < 1.0:
        epoch += 1
        run.model[0].bias.requires_grad_(p < cfg.whiten_bias)
        p, loss_sum, n = run.epoch(p, bar if progress else None)
        if n == 0:
            break
        curve.append(run.curve_point(epoch, loss_sum / n))
        if progress:
            bar.write(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in curve[-1].items()))
    bar.close()
    if cfg.lookahead_every:
        run.lookahead.update(run.model, decay=1.0)  # finish on the slow weights
    logits, labels = predict(run.model, run.test_loader, tta_level=cfg.tta_level, bf16=cfg.bf16)
    acc = (logits.argmax(1) == labels).float().mean().item()
    seconds = time.perf_counter() - start
    if progress:
        print(f"final test accuracy {acc:.4f} (TTA level {cfg.tta_level}) after {seconds:.1f} s")
    return RecipeResult(run.model, acc, curve, seconds, run.seen, asdict(cfg))


class _Run:
    """One run of :func:`train_recipe`: its batches, network and optimizers, and how far it has got.

    :meth:`progress` runs from 0 to 1: the fraction of the steps done or, with a time budget, of the time
    left for training once the final test-time-augmented evaluation is set aside (its cost is measured
    on the way), whichever is larger.
    """

    def __init__(
        self,
        train: ImageData,
        test: ImageData,
        cfg: RecipeConfig,
        dev: torch.device,
        budget_s: float | None,
        start: float,
        cpu_start: float,
    ):
        self.cfg, self.dev, self.budget_s, self.start, self.cpu_start = cfg, dev, budget_s, start, cpu_start
        flip = {"random": True, "alternate": "alternate", "none": False}[cfg.flip]
        self.loader = TensorLoader(
            train,
            cfg.batch_size,
            shuffle=True,
            device=dev,
            drop_last=True,
            seed=cfg.seed,
            channels_last=True,
            augment=dict(flip=flip, translate=cfg.translate),
        )
        self.test_loader = TensorLoader(test, 1000, device=dev, channels_last=True)
        curve_test = test if len(test) <= cfg.curve_test_images else test.subset(cfg.curve_test_images)
        self.curve_loader = TensorLoader(curve_test, 1000, device=dev, channels_last=True)
        self.n_test, self.n_curve = len(test), len(curve_test)
        self.model, self.optimizers = _build(self.loader, len(train.classes), cfg, dev)
        self.lookahead = Lookahead(self.model)
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing, reduction="sum")
        self.total_steps = max(1, math.ceil(cfg.epochs * len(self.loader)))
        self.views = (1, 2, 6)[cfg.tta_level]  # images the final evaluation runs per test image
        self.step, self.seen = 0, 0
        self.mark, self.eval_s = (start, 0), 0.0  # eval_s: how long the last per-epoch evaluation took

    def progress(self) -> float:
        """How far the run is, from 0 to 1 (1: stop training now)."""
        p = self.step / self.total_steps
        if self.budget_s is None:
            return p
        now = time.perf_counter()  # leave time for the final test-time-augmented evaluation
        if self.step == 3:  # measure the speed after the first, slower steps
            self.mark = (now, self.seen)
        reserve = 0.0
        if self.eval_s:  # measured: the final evaluation sees `views` times the whole test set
            reserve = min(
                1.2 * self.eval_s * self.views * self.n_test / self.n_curve + self.eval_s, 0.4 * self.budget_s
            )
        elif self.step > 3:  # before the first evaluation: an evaluated image costs about a third of a trained one
            rate = (self.seen - self.mark[1]) / max(now - self.mark[0], 1e-9)
            reserve = min(1.3 * self.views * self.n_test / (3 * rate), 0.3 * self.budget_s)
        return max(p, (now - self.start) / max(self.budget_s - reserve, 1e-9))

    def set_rates(self, p: float) -> None:
        """Every learning rate at progress ``p``: with Muon a linear decay from the start (the whitening bias
        faster), with SGD warm-up then decay (:func:`lr_factor`)."""
        for opt in self.optimizers:
            for g in opt.param_groups:
                if self.cfg.optimizer == "muon":
                    end = self.cfg.whiten_bias if g.get("whiten") else 1.0
                    g["lr"] = g["base_lr"] * max(0.0, 1 - p / end)
                else:
                    g["lr"] = g["base_lr"] * lr_factor(p, self.cfg.warmup)

    def epoch(self, p: float, bar=None) -> tuple[float, float, int]:
        """One pass over the batches, or less when the run ends during it: (progress, summed loss, images)."""
        cfg, model = self.cfg, self.model
        loss_sum, n = 0.0, 0
        for x, y in self.loader:
            p = self.progress()
            if p >= 1.0:
                break
            self.set_rates(p)
            with autocast(self.dev, cfg.bf16):
                loss = self.loss_fn(model(x).float(), y)
            model.zero_grad(set_to_none=True)
            loss.backward()
            for opt in self.optimizers:
                opt.step()
            self.step += 1
            self.seen += len(y)
            if cfg.lookahead_every and self.step % cfg.lookahead_every == 0:
                self.lookahead.update(model, decay=(0.95**cfg.lookahead_every) * p**3)
            loss_sum += loss.item()
            n += len(y)
            if bar is not None and int(100 * p) > bar.n:
                bar.update(int(100 * p) - bar.n)
        return p, loss_sum, n

    def curve_point(self, epoch: int, train_loss: float) -> dict:
        """The curve's entry after ``epoch``: test accuracy without TTA on the curve's test images, and times."""
        eval_start = time.perf_counter()
        logits, labels = predict(self.model, self.curve_loader, tta_level=0, bf16=self.cfg.bf16)
        self.eval_s = time.perf_counter() - eval_start
        return dict(
            seconds=round(time.perf_counter() - self.start, 2),
            cpu_seconds=round(time.process_time() - self.cpu_start, 2),
            epoch=epoch,
            images=self.seen,
            test_acc=(logits.argmax(1) == labels).float().mean().item(),
            test_images=len(labels),
            train_loss=train_loss,
        )


def _build(loader: TensorLoader, num_classes: int, cfg: RecipeConfig, dev: torch.device):
    """The network, its whitening layer set from the first 5,000 training images, and its optimizers."""
    model = recipe_net(cfg.widths, num_classes, cfg.bn_momentum)
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
    return model, optimizers
