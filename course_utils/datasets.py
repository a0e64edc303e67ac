"""The course's two data sets as the code knows them, and one held in memory (:class:`ImageData`).

:data:`DATASETS` gives each data set's image shape, class names, sizes and per-channel statistics;
:func:`data_root` says where its files are looked for. Loading is :func:`course_utils.data.load_dataset`
(taught in ``00_setup``); this module is what the loaders, the stand-in and the batches share.

Example:
    >>> DATASETS["cifar10"]["shape"], dataset_spec("Fashion-MNIST")["classes"][0]
    ((3, 32, 32), 'T-shirt/top')
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = [
    "CIFAR10_CLASSES",
    "FASHION_CLASSES",
    "DATASETS",
    "DataNotFoundError",
    "ImageData",
    "data_root",
    "dataset_spec",
    "check_split",
]

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]

# name -> (image shape C,H,W; class names; train size; test size; mean; std)
DATASETS: dict[str, dict] = {
    "cifar10": dict(
        shape=(3, 32, 32),
        classes=CIFAR10_CLASSES,
        sizes=(50_000, 10_000),
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
    ),
    "fashion_mnist": dict(
        shape=(1, 28, 28), classes=FASHION_CLASSES, sizes=(60_000, 10_000), mean=(0.2860,), std=(0.3530,)
    ),
}


class DataNotFoundError(FileNotFoundError):
    """The real data is not on disk, could not be downloaded, and no stand-in was allowed."""


@dataclass
class ImageData:
    """A data set held in memory.

    Attributes:
        images: uint8 tensor of shape (N, C, H, W).
        labels: int64 tensor of shape (N,).
        classes: class names, ``classes[label]``.
        source: where it came from: "image_folder", "torchvision" or "synthetic".
        mean, std: per-channel statistics (of the real data set) for normalising.

    Example:
        >>> from course_utils.data import synthetic_dataset
        >>> d = synthetic_dataset("cifar10", "test", n=20)
        >>> d.images.shape, d.images.dtype, d.source
        (torch.Size([20, 3, 32, 32]), torch.uint8, 'synthetic')
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    source: str
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def is_synthetic(self) -> bool:
        return self.source == "synthetic"

    def subset(self, n: int, seed: int = 0) -> ImageData:
        """The first ``n`` images after a seeded shuffle (same classes and stats)."""
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(self), generator=g)[:n]
        return ImageData(self.images[idx], self.labels[idx], self.classes, self.source, self.mean, self.std)

    def __repr__(self) -> str:
        return (
            f"ImageData({len(self)} images of {tuple(self.images.shape[1:])}, "
            f"{len(self.classes)} classes, source={self.source!r})"
        )


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The folder data sets are read from: ``root``, else ``$COURSE_DATA_DIR``, else ``~/.cache/course_data``.

    Example:
        >>> data_root("/tmp/data")
        PosixPath('/tmp/data')
    """
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get("COURSE_DATA_DIR"):
        return Path(os.environ["COURSE_DATA_DIR"]).expanduser()
    return Path.home() / ".cache" / "course_data"


def dataset_spec(name: str) -> dict:
    """The entry of :data:`DATASETS` for ``name`` (any case, ``-`` or ``_``); ``ValueError`` for others.

    Example:
        >>> dataset_spec("CIFAR10")["sizes"]
        (50000, 10000)
    """
    key = name.lower().replace("-", "_")
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}")
    return DATASETS[key]


def check_split(split: str) -> bool:
    """True for ``"train"``, False for ``"test"``; ``ValueError`` for anything else.

    Example:
        >>> check_split("test")
        False
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return split == "train"
