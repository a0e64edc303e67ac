"""Data sets for the course, held in memory as uint8 tensors.

Where the images come from, in order:

1. an ImageFolder-style copy (``train/CLASS/*.jpg|png`` and ``test/CLASS/...``);
2. torchvision's own files (``CIFAR10``, ``FashionMNIST``) under the data root;
3. a download through torchvision, when the network allows it (Colab, a laptop);
4. a deterministic **synthetic stand-in** with the same shapes, dtypes and class
   names, used in quick mode (CI) or when asked for; it is announced with a banner.

The data root is the ``root`` argument, else ``$COURSE_DATA_DIR``, else
``~/.cache/course_data``. Images are decoded once and cached as one tensor
file, so later runs load in a second. Training then works on whole batches of
tensors (:class:`TensorLoader`): normalisation and augmentation (flip,
translate, random erasing) are tensor operations, with no per-image PIL work.

This module is the one entry point, :func:`load_dataset`; its parts live in
:mod:`course_utils.datasets` (what each data set is, :class:`ImageData`),
:mod:`course_utils.datafiles` (image folders, torchvision's files),
:mod:`course_utils.standins` (the stand-in) and :mod:`course_utils.batches`
(:class:`TensorLoader`), and every name is importable from here too.

Taught in ``00_setup`` (where the data comes from) and ``07_training_cnns``
(why in-memory tensors make a CPU fast).

Example:
    >>> d = load_dataset("cifar10", "test", root="/nonexistent", synthetic=True, synthetic_size=4)  # doctest: +ELLIPSIS
    =...
    >>> d.source, DATASETS["cifar10"]["classes"] == CIFAR10_CLASSES
    ('synthetic', True)
"""

from __future__ import annotations

import os
from pathlib import Path

from .batches import TensorLoader, augment_batch
from .datafiles import (
    IMAGE_SUFFIXES,
    find_image_folder,
    from_torchvision,
    load_image_folder,
    network_available,
    torchvision_dataset,
)
from .datasets import (
    CIFAR10_CLASSES,
    DATASETS,
    FASHION_CLASSES,
    DataNotFoundError,
    ImageData,
    check_split,
    data_root,
    dataset_spec,
)
from .modes import quick_mode, recording
from .runinfo import note_data
from .standins import SYNTHETIC_BANNER, synthetic_dataset

__all__ = [
    "DATASETS",
    "ImageData",
    "DataNotFoundError",
    "data_root",
    "quick_mode",
    "load_dataset",
    "load_image_folder",
    "synthetic_dataset",
    "TensorLoader",
    "augment_batch",
]
__all__ += ["CIFAR10_CLASSES", "FASHION_CLASSES", "IMAGE_SUFFIXES", "SYNTHETIC_BANNER"]  # defined in the parts


def load_dataset(
    name: str,
    split: str = "train",
    root: str | os.PathLike | None = None,
    download: bool | None = None,
    synthetic: bool | None = None,
    synthetic_size: int | None = None,
) -> ImageData:
    """Load CIFAR-10 or Fashion-MNIST into memory, from the first source that has it.

    Args:
        name: "cifar10" or "fashion_mnist".
        split: "train" or "test".
        root: data folder (default: ``$COURSE_DATA_DIR`` or ``~/.cache/course_data``).
        download: try torchvision's download when the files are missing. Default: yes,
            except in quick mode (CI), which never touches the network.
        synthetic: allow the synthetic stand-in when the real data is missing.
            Default: only in quick mode, and while ``make outputs`` records the lectures (then
            1,000 images at most: what a stand-in computes is not stored). ``True`` also allows it elsewhere.
        synthetic_size: number of stand-in images (default 10,000 train / 2,000 test).

    Raises:
        ValueError: unknown name or split.
        DataNotFoundError: the data is missing, and no download or stand-in was allowed;
            the message says where it looked and how to get the data.

    Example:
        >>> d = load_dataset("cifar10", "test", root="/nonexistent",  # doctest: +ELLIPSIS
        ...                  synthetic=True, synthetic_size=10)
        ===...
        >>> d.images.shape
        torch.Size([10, 3, 32, 32])
    """
    dataset_spec(name)
    check_split(split)
    key = name.lower().replace("-", "_")
    base = data_root(root)
    quick = quick_mode()
    recorded = recording()  # `make outputs`: never download
    download = (not quick and not recorded) if download is None else download
    synthetic = (quick or recorded) if synthetic is None else synthetic
    looked: list[str] = []

    found = _from_disk(key, split, base, looked)
    if found is None and download:
        found = _download(key, split, base, looked)
    if found is not None:
        return found

    if synthetic:  # recording: results on a stand-in are not stored, so keep it small
        n = min(synthetic_size or 1000, 1000) if recorded and not quick else synthetic_size
        note_data(key, split, "synthetic")
        return synthetic_dataset(key, split, n=n, announce=True)

    raise DataNotFoundError(
        f"{key} ({split}) not found. Looked for:\n  - "
        + "\n  - ".join(looked)
        + "\nTo fix: run once with download=True where there is internet, or copy the data "
        "there (torchvision's files or an image folder), or set COURSE_DATA_DIR to where "
        "it is. To practise without it, pass synthetic=True or set COURSE_QUICK=1 "
        "(a synthetic stand-in, NOT the real data)."
    )


def _from_disk(key: str, split: str, base: Path, looked: list[str]) -> ImageData | None:
    """An image folder under ``base``, else torchvision's files there; None (and ``looked`` extended) when neither."""
    spec = DATASETS[key]
    folder = find_image_folder(base, key, split)
    looked.append(f"an image folder {base}/[{key}/]{split}/CLASS/*.jpg")
    if folder is not None:
        images, labels, classes = load_image_folder(folder, classes=spec["classes"] if key == "cifar10" else None)
        if tuple(images.shape[1:]) != spec["shape"]:
            raise ValueError(
                f"{folder} holds images of shape {tuple(images.shape[1:])}, but {key} images are {spec['shape']}"
            )
        note_data(key, split, "image folder")
        return ImageData(images, labels, classes, "image_folder", spec["mean"], spec["std"])

    looked.append(f"torchvision's {key} files under {base}")
    try:
        ds = torchvision_dataset(key, base, split == "train", download=False)
        images, labels = from_torchvision(ds, key)
        note_data(key, split, "torchvision files")
        return ImageData(images, labels, list(spec["classes"]), "torchvision", spec["mean"], spec["std"])
    except (RuntimeError, FileNotFoundError):
        return None


def _download(key: str, split: str, base: Path, looked: list[str]) -> ImageData | None:
    """torchvision's download into ``base``; None (and why, in ``looked``) when there is no network or it fails."""
    spec = DATASETS[key]
    looked.append("a download through torchvision")
    if not network_available():
        looked[-1] += " (no network)"
        return None
    try:
        ds = torchvision_dataset(key, base, split == "train", download=True)
        images, labels = from_torchvision(ds, key)
        note_data(key, split, "downloaded")
        return ImageData(images, labels, list(spec["classes"]), "torchvision", spec["mean"], spec["std"])
    except Exception as e:  # network dropped half way, disk full, ...
        looked[-1] += f" (failed: {e})"
        return None
