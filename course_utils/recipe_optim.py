"""How the fast CIFAR-10 recipe learns: Muon and SGD, the learning-rate schedule, and a lookahead of the weights.

The filters learn with :class:`Muon` (momentum, then the update orthogonalized), the biases and the head
with SGD and Nesterov momentum (:func:`muon_optimizers`); ``optimizer="sgd"`` is the plain alternative
the lecture builds (:func:`recipe_optimizer`, warm-up then decay, :func:`lr_factor`). :class:`Lookahead`
averages the weights late in the run. Used by :func:`course_utils.recipe.train_recipe`; taught in
``07_training_cnns``.

Example:
    >>> [round(lr_factor(p), 2) for p in (0.0, 0.5, 1.0)]
    [0.2, 0.67, 0.07]
"""

from __future__ import annotations

import torch
from torch import nn

from .recipe_config import RecipeConfig

__all__ = ["recipe_optimizer", "orthogonalize", "Muon", "muon_optimizers", "lr_factor", "Lookahead"]


def recipe_optimizer(model: nn.Module, cfg: RecipeConfig) -> torch.optim.SGD:
    """SGD with Nesterov momentum; BN biases get ``bias_scaler`` times the learning rate.

    Converts the per-1024-examples ``lr``/``weight_decay`` of ``cfg`` to PyTorch's form: the
    weight decay per step stays ``weight_decay * batch_size / scale`` for every group.

    Example:
        >>> from course_utils.recipe_net import recipe_net
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
        >>> from course_utils.recipe_net import recipe_net
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
