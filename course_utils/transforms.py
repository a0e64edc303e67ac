"""The MLP-to-CNN slides' torchvision augmentations, drawn per image on a normalized batch of tensors.

The slides write them as a ``transforms.Compose`` applied to one PIL image at a time::

    RandomCrop(32, padding=2), RandomHorizontalFlip(0.5), RandomRotation(5), ToTensor(), Normalize(mean, std),
    RandomErasing(p=0.75, scale=(0.01, 0.3), ratio=(1.0, 1.0), value=0)

Here each one acts on a whole batch at once, with its own random draw for every image, after the
normalization: what the slides fill with black (padding of the crop, corners of the rotation) is filled
with the normalized black, ``-mean / std``; RandomErasing fills with 0, the data set's mean colour, as in
the slides (it comes after ``Normalize`` there too). Taught in ``07_training_cnns`` (the generalization ladder).

Example:
    >>> import torch
    >>> aug = SlideAugment(("crop", "flip", "rotate", "erase"), mean=(0.5,) * 3, std=(0.25,) * 3)
    >>> aug(torch.zeros(4, 3, 32, 32), torch.Generator().manual_seed(0)).shape
    torch.Size([4, 3, 32, 32])
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F

__all__ = ["OPS", "random_crop", "random_flip", "random_rotation", "random_erasing", "SlideAugment", "Augmented"]

OPS = ("crop", "flip", "rotate", "erase")


def random_crop(x: torch.Tensor, padding: int, fill: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``RandomCrop(H, padding)``: pad each image of (N, C, H, W) with ``fill`` (shape (1, C, 1, 1)),
    then cut an H x W window at a random position."""
    N, C, H, W = x.shape
    padded = F.pad(x - fill, (padding,) * 4) + fill
    dy = torch.randint(0, 2 * padding + 1, (N,), generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (N,), generator=generator)
    rows = (dy[:, None] + torch.arange(H))[:, :, None]  # (N, H, 1)
    cols = (dx[:, None] + torch.arange(W))[:, None, :]  # (N, 1, W)
    out = padded.permute(0, 2, 3, 1)[torch.arange(N)[:, None, None], rows, cols]  # (N, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


def random_flip(x: torch.Tensor, generator: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """``RandomHorizontalFlip(p)`` on (N, C, H, W): mirror each image left-right with probability ``p``."""
    m = torch.rand(len(x), generator=generator) < p
    return torch.where(m[:, None, None, None], x.flip(3), x)


def random_rotation(x: torch.Tensor, degrees: float, fill: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``RandomRotation(degrees)`` on (N, C, H, W): rotate each image about its centre by an angle drawn
    from [-degrees, degrees] (nearest neighbour, as torchvision's default), corners filled with ``fill``."""
    angle = (torch.rand(len(x), generator=generator) * 2 - 1) * math.radians(degrees)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, 0 * cos], 1), torch.stack([sin, cos, 0 * cos], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x - fill, grid, mode="nearest", padding_mode="zeros", align_corners=False) + fill


def random_erasing(
    x: torch.Tensor,
    generator: torch.Generator,
    p: float = 0.75,
    scale: tuple[float, float] = (0.01, 0.3),
    value: float = 0.0,
) -> torch.Tensor:
    """``RandomErasing(p, scale, ratio=(1, 1), value)`` on (N, C, H, W): with probability ``p`` set a square
    covering a fraction of the image drawn from ``scale`` to ``value`` (in every channel)."""
    N, C, H, W = x.shape
    frac = scale[0] + (scale[1] - scale[0]) * torch.rand(N, generator=generator)
    side = (frac * H * W).sqrt().round().long().clamp(1, min(H, W) - 1)
    y0 = (torch.rand(N, generator=generator) * (H - side + 1)).long()
    x0 = (torch.rand(N, generator=generator) * (W - side + 1)).long()
    on = torch.rand(N, generator=generator) < p
    rows, cols = torch.arange(H)[None, :], torch.arange(W)[None, :]
    in_rows = (rows >= y0[:, None]) & (rows < (y0 + side)[:, None])
    in_cols = (cols >= x0[:, None]) & (cols < (x0 + side)[:, None])
    mask = in_rows[:, :, None] & in_cols[:, None, :] & on[:, None, None]
    return x.masked_fill(mask[:, None], value)


class SlideAugment:
    """The slides' augmentations named in ``ops`` (a subset of :data:`OPS`), in the slides' order.

    Args:
        ops: e.g. ``("erase",)`` or ``("crop", "flip")``.
        mean, std: the normalization the batches went through (for the black fill).
    """

    def __init__(self, ops: Sequence[str], mean: Sequence[float], std: Sequence[float]):
        unknown = set(ops) - set(OPS)
        if unknown:
            raise ValueError(f"unknown augmentations {sorted(unknown)}; known: {OPS}")
        self.ops = tuple(op for op in OPS if op in ops)
        C = len(mean)
        self.black = -torch.tensor(mean).view(1, C, 1, 1) / torch.tensor(std).view(1, C, 1, 1)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        black = self.black.to(x.device)
        if "crop" in self.ops:
            x = random_crop(x, 2, black, generator)
        if "flip" in self.ops:
            x = random_flip(x, generator)
        if "rotate" in self.ops:
            x = random_rotation(x, 5.0, black, generator)
        if "erase" in self.ops:
            x = random_erasing(x, generator)
        return x

    def __repr__(self) -> str:
        return f"SlideAugment({self.ops})"


class Augmented:
    """Batches ``(X, y)`` of ``loader`` with ``augment`` applied to X (on the CPU, then moved back to X's
    device and memory format)."""

    def __init__(self, loader: Iterable, augment: SlideAugment, seed: int = 0):
        self.loader, self.augment = loader, augment
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.loader)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for X, y in self.loader:
            fmt = torch.channels_last if X.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
            yield self.augment(X.cpu(), self.generator).to(X.device).contiguous(memory_format=fmt), y
