"""The fast CIFAR-10 recipe's network: its layers, its whitening initialization, its predictions.

Three groups of conv -> max-pool -> BN -> GELU -> conv -> BN -> GELU after a frozen 2x2 *whitening*
convolution (:func:`init_whitening` sets it from the data), every 3x3 convolution starting close to the
identity; :func:`predict` evaluates it with test-time augmentation, in bf16 where the hardware has it
(:func:`use_bf16`). Trained by :func:`course_utils.recipe.train_recipe`; taught in ``07_training_cnns``.

Example:
    >>> from course_utils.shapes import count_params
    >>> count_params(recipe_net((16, 32, 32)))
    38968
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["recipe_net", "init_whitening", "predict", "cpu_has_bf16", "use_bf16", "autocast"]


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


# --------------------------------------------------------------------------- evaluation
@torch.no_grad()
def predict(
    model: nn.Module, loader, tta_level: int = 0, bf16: bool | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (N, classes) and labels (N,) over ``loader``, with test-time augmentation.

    ``tta_level`` 1 averages each image and its mirror image; 2 also averages the images
    shifted one pixel up-left and down-right (reflect padding): six views in all.

    Example:
        >>> from course_utils.data import TensorLoader, synthetic_dataset
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
        with autocast(dev, bf16):
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


def autocast(dev: torch.device, bf16: bool | None = None):
    """bf16 autocast when ``bf16`` says so (``None``: when :func:`use_bf16`), otherwise fp32.

    Example:
        >>> with autocast(torch.device("cpu"), bf16=False):
        ...     (torch.ones(2, 2) @ torch.ones(2, 2)).dtype
        torch.float32
    """
    return torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_bf16(dev) if bf16 is None else bf16)
