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

Taught in ``00_setup`` (where the data comes from) and ``07_training_cnns``
(why in-memory tensors make a CPU fast).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .runinfo import note_data, recording

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

SYNTHETIC_BANNER = (
    "=" * 72 + "\n"
    "  SYNTHETIC STAND-IN for {name} ({split}): {n} generated images.\n"
    "  These are NOT real {name} images. Accuracies here say nothing about\n"
    "  {name}; get the real data with `load_dataset(..., download=True)` or set\n"
    "  COURSE_DATA_DIR to a folder that holds it.\n" + "=" * 72
)


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


def quick_mode() -> bool:
    """True when the course runs in quick mode (CI, autograding): small budgets, stand-in data.

    Quick mode is on when ``COURSE_QUICK=1`` or when nbgrader is executing the notebook.

    Example:
        >>> isinstance(quick_mode(), bool)
        True
    """
    return os.environ.get("COURSE_QUICK", "0") not in ("", "0") or "NBGRADER_EXECUTION" in os.environ


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


def _check_name(name: str) -> dict:
    key = name.lower().replace("-", "_")
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}")
    return DATASETS[key]


def _check_split(split: str) -> bool:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return split == "train"


# --------------------------------------------------------------------------- image folders
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _find_image_folder(root: Path, name: str, split: str) -> Path | None:
    """A ``split/`` folder of class sub-folders under root, root/name or root/name-jpg."""
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
def _torchvision_dataset(name: str, root: Path, train: bool, download: bool):
    import torchvision

    cls = {"cifar10": torchvision.datasets.CIFAR10, "fashion_mnist": torchvision.datasets.FashionMNIST}[name]
    return cls(str(root), train=train, download=download)


def _from_torchvision(ds, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    data = torch.as_tensor(ds.data)
    if data.ndim == 4:  # CIFAR-10: (N, H, W, C) numpy
        images = data.permute(0, 3, 1, 2).contiguous()
    else:  # MNIST-like: (N, H, W)
        images = data.unsqueeze(1).contiguous()
    labels = torch.as_tensor(ds.targets, dtype=torch.int64)
    return images.to(torch.uint8), labels


def _network_available(host: str = "www.cs.toronto.edu", timeout: float = 3.0) -> bool:
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------- synthetic stand-in
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
    spec = _check_name(name)
    train = _check_split(split)
    key = name.lower().replace("-", "_")
    n = n if n is not None else (10_000 if train else 2_000)
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    C, H, W = spec["shape"]
    K = len(spec["classes"])
    # class patterns: fixed by the data set, independent of seed and split
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
    patterns = 0.6 * fields + 0.4 * (0.5 + 0.5 * stripes[:, None])  # (K, C, H, W) in [0, 1]

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


# --------------------------------------------------------------------------- the one entry point
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
    spec = _check_name(name)
    train = _check_split(split)
    key = name.lower().replace("-", "_")
    base = data_root(root)
    quick = quick_mode()
    recorded = recording()  # `make outputs`: never download
    download = (not quick and not recorded) if download is None else download
    synthetic = (quick or recorded) if synthetic is None else synthetic
    looked: list[str] = []

    folder = _find_image_folder(base, key, split)
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
        ds = _torchvision_dataset(key, base, train, download=False)
        images, labels = _from_torchvision(ds, key)
        note_data(key, split, "torchvision files")
        return ImageData(images, labels, list(spec["classes"]), "torchvision", spec["mean"], spec["std"])
    except (RuntimeError, FileNotFoundError):
        pass

    if download:
        looked.append("a download through torchvision")
        if _network_available():
            try:
                ds = _torchvision_dataset(key, base, train, download=True)
                images, labels = _from_torchvision(ds, key)
                note_data(key, split, "downloaded")
                return ImageData(images, labels, list(spec["classes"]), "torchvision", spec["mean"], spec["std"])
            except Exception as e:  # network dropped half way, disk full, ...
                looked[-1] += f" (failed: {e})"
        else:
            looked[-1] += " (no network)"

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


# --------------------------------------------------------------------------- batches of tensors
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
