"""Reading a data set's files: an ImageFolder-style copy, or torchvision's own files (and its download).

:func:`course_utils.data.load_dataset` tries these sources in order (taught in ``00_setup``); each
returns uint8 tensors, decoded once. A decoded image folder is cached under ``data_root()/cache``, so
a read-only copy works too and later runs load in a second.

Example:
    >>> # images, labels, classes = load_image_folder("cifar10-jpg/test")
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import torch

from .datasets import DataNotFoundError, data_root

__all__ = [
    "IMAGE_SUFFIXES",
    "find_image_folder",
    "load_image_folder",
    "torchvision_dataset",
    "from_torchvision",
    "network_available",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


# --------------------------------------------------------------------------- image folders
def find_image_folder(root: Path, name: str, split: str) -> Path | None:
    """A ``split/`` folder of class sub-folders under root, root/name or root/name-jpg (None when there is none).

    Example:
        >>> find_image_folder(Path("/nonexistent"), "cifar10", "test") is None
        True
    """
    for base in (root, root / name, root / f"{name}-jpg", root / f"{name.replace('_', '-')}-jpg"):
        d = base / split
        if d.is_dir() and any(p.is_dir() for p in d.iterdir()):
            return d
    return None


def load_image_folder(
    folder: str | os.PathLike, classes: list[str] | None = None, cache: bool = True
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Decode an ImageFolder tree ``folder/CLASS/*.jpg|png`` into uint8 tensors.

    The decoded tensors are cached next to nothing in the folder itself: the cache
    file goes to ``data_root()/cache`` so a read-only copy works too.

    Returns:
        images (N, C, H, W) uint8, labels (N,) int64, class names (sorted folder names
        unless ``classes`` gives the order).

    Example:
        >>> # images, labels, classes = load_image_folder("cifar10-jpg/test")
    """
    from torchvision.io import ImageReadMode, decode_image

    folder = Path(folder)
    if not folder.is_dir():
        raise DataNotFoundError(f"image folder {folder} does not exist")
    found = sorted(p.name for p in folder.iterdir() if p.is_dir())
    classes = list(classes) if classes is not None else found
    missing = [c for c in classes if c not in found]
    if missing:
        raise DataNotFoundError(f"{folder} lacks class folders {missing}; it has {found}")
    files = [
        (f, i)
        for i, c in enumerate(classes)
        for f in sorted((folder / c).iterdir())
        if f.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not files:
        raise DataNotFoundError(f"no .jpg/.png images under {folder}/CLASS/")
    stat = folder.stat()
    cache_file = data_root() / "cache" / f"{folder.parent.name}-{folder.name}-{len(files)}-{int(stat.st_mtime)}.pt"
    if cache and cache_file.exists():
        blob = torch.load(cache_file)
        return blob["images"], blob["labels"], blob["classes"]
    first = decode_image(str(files[0][0]))
    mode = ImageReadMode.GRAY if first.shape[0] == 1 else ImageReadMode.RGB
    images = torch.empty((len(files), *decode_image(str(files[0][0]), mode=mode).shape), dtype=torch.uint8)
    for k, (f, _) in enumerate(files):
        img = decode_image(str(f), mode=mode)
        if img.shape != images.shape[1:]:
            raise ValueError(f"{f} has shape {tuple(img.shape)}, expected {tuple(images.shape[1:])} like the others")
        images[k] = img
    labels = torch.tensor([i for _, i in files], dtype=torch.int64)
    if cache:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"images": images, "labels": labels, "classes": classes}, cache_file)
        except OSError:
            pass
    return images, labels, classes


# --------------------------------------------------------------------------- torchvision
def torchvision_dataset(name: str, root: Path, train: bool, download: bool):
    """torchvision's ``CIFAR10`` or ``FashionMNIST`` over its files under ``root`` (``RuntimeError`` when absent).

    Example:
        >>> # ds = torchvision_dataset("cifar10", data_root(), train=False, download=False)
    """
    folder = {"cifar10": "cifar-10-batches-py", "fashion_mnist": "FashionMNIST"}[name]
    if not download and not (Path(root) / folder).is_dir():  # what torchvision would say, without its import (seconds)
        raise RuntimeError(f"Dataset not found: no {folder} under {root}")
    import torchvision

    cls = {"cifar10": torchvision.datasets.CIFAR10, "fashion_mnist": torchvision.datasets.FashionMNIST}[name]
    return cls(str(root), train=train, download=download)


def from_torchvision(ds, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A torchvision data set's images as uint8 (N, C, H, W) and its labels as int64 (N,).

    Example:
        >>> # images, labels = from_torchvision(torchvision_dataset("cifar10", data_root(), False, False), "cifar10")
    """
    data = torch.as_tensor(ds.data)
    if data.ndim == 4:  # CIFAR-10: (N, H, W, C) numpy
        images = data.permute(0, 3, 1, 2).contiguous()
    else:  # MNIST-like: (N, H, W)
        images = data.unsqueeze(1).contiguous()
    labels = torch.as_tensor(ds.targets, dtype=torch.int64)
    return images.to(torch.uint8), labels


def network_available(host: str = "www.cs.toronto.edu", timeout: float = 3.0) -> bool:
    """Whether ``host`` answers on port 443 within ``timeout`` seconds (before trying a download).

    Example:
        >>> # network_available()  # True on Colab, False on a machine without network
    """
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False
