"""The synthetic stand-in: generated images with the shapes, dtype and classes of a real data set.

Quick mode (CI, autograding) and machines without the data train on it, so every notebook runs
anywhere; a banner says so whenever :func:`course_utils.data.load_dataset` falls back to it. It is
learnable (a small CNN beats chance by far) but says nothing about the real data. Taught in
``00_setup``.

Example:
    >>> synthetic_dataset("cifar10", "test", n=4).is_synthetic
    True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .datasets import ImageData, check_split, dataset_spec

__all__ = ["SYNTHETIC_BANNER", "synthetic_dataset"]

SYNTHETIC_BANNER = (
    "=" * 72 + "\n"
    "  SYNTHETIC STAND-IN for {name} ({split}): {n} generated images.\n"
    "  These are NOT real {name} images. Accuracies here say nothing about\n"
    "  {name}; get the real data with `load_dataset(..., download=True)` or set\n"
    "  COURSE_DATA_DIR to a folder that holds it.\n" + "=" * 72
)


def _class_patterns(spec: dict) -> torch.Tensor:
    """(K, C, H, W) in [0, 1]: one smooth colour field and stripe orientation per class, fixed by the data set
    (independent of seed and split)."""
    C, H, W = spec["shape"]
    K = len(spec["classes"])
    g = torch.Generator().manual_seed(1234)
    fields = F.interpolate(torch.rand(K, C, 4, 4, generator=g), size=(H, W), mode="bicubic", align_corners=False)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, H), torch.linspace(-1, 1, W), indexing="ij")
    angles = torch.arange(K) * torch.pi / K
    freqs = 2.0 + torch.rand(K, generator=g) * 3.0
    stripes = torch.sin(
        freqs[:, None, None]
        * torch.pi
        * (xx * torch.cos(angles)[:, None, None] + yy * torch.sin(angles)[:, None, None])
    )
    return 0.6 * fields + 0.4 * (0.5 + 0.5 * stripes[:, None])


def synthetic_dataset(
    name: str, split: str = "train", n: int | None = None, seed: int = 0, announce: bool = False
) -> ImageData:
    """A deterministic, learnable stand-in with the shapes, dtype and classes of ``name``.

    Every class has its own smooth colour field and stripe orientation; each image is
    its class pattern, shifted, rescaled in contrast and brightness, mixed with a
    little of another class and with noise. A small CNN learns it well above chance,
    but it is **not** the real data set.

    Args:
        name: "cifar10" or "fashion_mnist".
        split: "train" or "test" (different images, same class patterns).
        n: number of images (default 10,000 train / 2,000 test).
        seed: changes the images, never the class patterns.
        announce: print the synthetic-data banner.

    Example:
        >>> d = synthetic_dataset("fashion_mnist", "train", n=8)
        >>> tuple(d.images.shape), d.classes[0]
        ((8, 1, 28, 28), 'T-shirt/top')
    """
    spec = dataset_spec(name)
    train = check_split(split)
    key = name.lower().replace("-", "_")
    n = n if n is not None else (10_000 if train else 2_000)
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    K = len(spec["classes"])
    patterns = _class_patterns(spec)

    g = torch.Generator().manual_seed(seed * 2 + (0 if train else 1) + 7)
    labels = torch.arange(n) % K
    labels = labels[torch.randperm(n, generator=g)]
    other = (labels + torch.randint(1, K, (n,), generator=g)) % K
    mix = 0.35 * torch.rand(n, 1, 1, 1, generator=g)
    x = (1 - mix) * patterns[labels] + mix * patterns[other]
    contrast = 0.6 + 0.8 * torch.rand(n, 1, 1, 1, generator=g)
    brightness = 0.25 * (torch.rand(n, 1, 1, 1, generator=g) - 0.5)
    x = (x - 0.5) * contrast + 0.5 + brightness
    x = x + 0.12 * torch.randn(x.shape, generator=g)
    shifts = torch.randint(-4, 5, (n, 2), generator=g)
    for dy in range(-4, 5):  # group images by shift: 81 rolls, not n
        for dx in range(-4, 5):
            m = (shifts[:, 0] == dy) & (shifts[:, 1] == dx)
            if m.any():
                x[m] = torch.roll(x[m], shifts=(dy, dx), dims=(2, 3))
    images = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    data = ImageData(images, labels.to(torch.int64), list(spec["classes"]), "synthetic", spec["mean"], spec["std"])
    if announce:
        print(SYNTHETIC_BANNER.format(name=key, split=split, n=n))
    return data
