"""Training batches from a data set held in memory: normalised, augmented and moved as whole tensors.

:class:`TensorLoader` replaces a ``DataLoader`` over PIL images: the images stay one uint8 tensor (on the
device), and each batch is cut from it, scaled, flipped, shifted and erased with tensor operations
(:func:`augment_batch`), with no per-image work. Taught in ``07_training_cnns`` (why in-memory tensors
make a CPU fast).

Example:
    >>> from course_utils.data import synthetic_dataset
    >>> len(TensorLoader(synthetic_dataset("cifar10", "test", n=10), batch_size=4))
    3
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from .datasets import ImageData

__all__ = ["augment_batch", "TensorLoader"]


def augment_batch(
    x: torch.Tensor, flip: bool = True, translate: int = 0, erase: float = 0.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Augment a batch of images on tensors: horizontal flip, translation with reflect padding, random erasing.

    Args:
        x: float tensor (N, C, H, W).
        flip: flip each image left-right with probability 1/2.
        translate: shift each image by up to this many pixels (reflect padding, then a crop).
        erase: probability of erasing one random rectangle (1/16 to 1/4 of the image) per image.
        generator: for reproducible augmentation.

    Example:
        >>> augment_batch(torch.zeros(4, 3, 32, 32), translate=2).shape
        torch.Size([4, 3, 32, 32])
    """
    if x.ndim != 4:
        raise ValueError(f"expected a batch of shape (N, C, H, W), got {tuple(x.shape)}")
    N, C, H, W = x.shape
    dev = x.device
    if flip:
        m = torch.rand(N, generator=generator).to(dev) < 0.5
        x = torch.where(m[:, None, None, None], x.flip(3), x)
    if translate > 0:
        t = translate
        padded = F.pad(x, (t, t, t, t), mode="reflect")
        dy = torch.randint(0, 2 * t + 1, (N,), generator=generator)
        dx = torch.randint(0, 2 * t + 1, (N,), generator=generator)
        out = torch.empty_like(x)
        for sy in range(2 * t + 1):  # one slice per offset pair, not per image
            for sx in range(2 * t + 1):
                m = ((dy == sy) & (dx == sx)).to(dev)
                if m.any():
                    out[m] = padded[m, :, sy : sy + H, sx : sx + W]
        x = out
    if erase > 0:
        area = (0.0625 + 0.1875 * torch.rand(N, generator=generator)) * H * W
        ratio = torch.exp((torch.rand(N, generator=generator) - 0.5) * 2 * 0.5)
        h = (area * ratio).sqrt().clamp(1, H).long()
        w = (area / ratio).sqrt().clamp(1, W).long()
        y0 = (torch.rand(N, generator=generator) * (H - h + 1)).long()
        x0 = (torch.rand(N, generator=generator) * (W - w + 1)).long()
        on = torch.rand(N, generator=generator) < erase
        rows = torch.arange(H)[None, :]
        cols = torch.arange(W)[None, :]
        mh = (rows >= y0[:, None]) & (rows < (y0 + h)[:, None])
        mw = (cols >= x0[:, None]) & (cols < (x0 + w)[:, None])
        mask = (mh[:, :, None] & mw[:, None, :] & on[:, None, None]).to(dev)
        x = x.masked_fill(mask[:, None], 0.0)
    return x


class TensorLoader:
    """Batches of a data set held in memory, normalised (and augmented) as tensors.

    Args:
        data: an :class:`ImageData`.
        batch_size: images per batch.
        shuffle: new random order every epoch.
        augment: dict of :func:`augment_batch` options (e.g. ``dict(flip=True, translate=2)``), or None.
            ``flip="alternate"`` flips a fixed random half of the images in even epochs and the other
            half in odd ones, so every image is seen both ways in any two epochs (airbench's trick).
        device: where batches go ("cpu", "cuda", ...).
        drop_last: drop the last incomplete batch.
        seed: seeds shuffling and augmentation.
        channels_last: return batches in ``torch.channels_last`` memory format (faster convolutions).

    Example:
        >>> from course_utils.data import synthetic_dataset
        >>> d = synthetic_dataset("cifar10", "test", n=10)
        >>> x, y = next(iter(TensorLoader(d, batch_size=4)))
        >>> x.shape, x.dtype, y.shape
        (torch.Size([4, 3, 32, 32]), torch.float32, torch.Size([4]))
    """

    def __init__(
        self,
        data: ImageData,
        batch_size: int = 256,
        shuffle: bool = False,
        augment: dict | None = None,
        device: str | torch.device = "cpu",
        drop_last: bool = False,
        seed: int = 0,
        channels_last: bool = False,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.data, self.batch_size, self.shuffle = data, batch_size, shuffle
        self.augment, self.device, self.drop_last = augment, torch.device(device), drop_last
        self.channels_last = channels_last
        self.generator = torch.Generator().manual_seed(seed)
        self.images = data.images.to(self.device)
        self.labels = data.labels.to(self.device)
        C = data.images.shape[1]
        if len(data.mean) != C:
            raise ValueError(f"mean has {len(data.mean)} channels, images have {C}")
        self.mean = torch.tensor(data.mean, device=self.device).view(1, C, 1, 1)
        self.std = torch.tensor(data.std, device=self.device).view(1, C, 1, 1)
        self.epoch = 0
        if augment and augment.get("flip") == "alternate":
            self.flipped = (torch.rand(len(self.labels), generator=self.generator) < 0.5).to(self.device)

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.labels)
        order = (
            torch.randperm(n, generator=self.generator).to(self.device)
            if self.shuffle
            else torch.arange(n, device=self.device)
        )
        augment = dict(self.augment or {})
        alternate = augment.get("flip") == "alternate"
        if alternate:
            augment["flip"] = False
        self.epoch += 1
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            x = self.images[idx].float().div_(255)
            if alternate:
                m = self.flipped[idx] ^ (self.epoch % 2 == 0)
                x = torch.where(m[:, None, None, None], x.flip(3), x)
            if augment:
                x = augment_batch(x, generator=self.generator, **augment)
            x = (x - self.mean) / self.std
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self.labels[idx]
