"""course_utils.data: sources in order, the stand-in, tensor batches, clear errors."""

import pytest
import torch
from PIL import Image

from course_utils import data
from course_utils.data import DataNotFoundError, ImageData, TensorLoader, augment_batch, load_dataset, synthetic_dataset


@pytest.fixture
def no_quick(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_QUICK", "0")
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "course_data"))  # decoded-image caches stay here


def _write_folder(root, split, classes, per_class, size=(32, 32), mode="RGB", fmt="png"):
    g = torch.Generator().manual_seed(len(split))
    for c in classes:
        d = root / split / c
        d.mkdir(parents=True)
        for i in range(per_class):
            arr = torch.randint(0, 256, (*size, 3 if mode == "RGB" else 1), generator=g, dtype=torch.uint8)
            img = Image.fromarray(arr.squeeze(-1).numpy() if mode == "L" else arr.numpy(), mode=mode)
            img.save(d / f"{i:04d}.{fmt}")


def test_unknown_name_and_split():
    with pytest.raises(ValueError, match="unknown dataset 'mnist3'"):
        load_dataset("mnist3")
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        load_dataset("cifar10", "val")


def test_missing_data_error_says_where_and_how(tmp_path, no_quick):
    with pytest.raises(DataNotFoundError) as e:
        load_dataset("cifar10", "test", root=tmp_path, download=False)
    msg = str(e.value)
    assert str(tmp_path) in msg and "download=True" in msg and "COURSE_DATA_DIR" in msg and "synthetic" in msg


def test_quick_mode_falls_back_to_the_stand_in(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_QUICK", "1")
    d = load_dataset("fashion_mnist", "train", root=tmp_path, synthetic_size=50)
    assert d.source == "synthetic" and d.is_synthetic
    assert d.images.shape == (50, 1, 28, 28) and d.images.dtype == torch.uint8
    assert "SYNTHETIC STAND-IN" in capsys.readouterr().out


def test_root_then_env_then_default(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "env"))
    assert data.data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data.data_root() == tmp_path / "env"
    monkeypatch.delenv("COURSE_DATA_DIR")
    assert data.data_root().name == "course_data"


def test_image_folder_copy_is_read(tmp_path, no_quick, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache-root"))
    classes = data.CIFAR10_CLASSES
    _write_folder(tmp_path / "cifar10-jpg", "test", classes, per_class=2)
    d = load_dataset("cifar10", "test", root=tmp_path, download=False)
    assert d.source == "image_folder" and len(d) == 20
    assert d.images.shape == (20, 3, 32, 32) and d.classes == classes
    assert torch.equal(d.labels.bincount(), torch.full((10,), 2))
    first = torch.from_numpy(__import__("numpy").array(Image.open(tmp_path / "cifar10-jpg/test/airplane/0000.png")))
    assert torch.equal(d.images[0], first.permute(2, 0, 1))
    again = load_dataset("cifar10", "test", root=tmp_path, download=False)  # from the cache
    assert torch.equal(again.images, d.images)


def test_image_folder_with_wrong_shape_is_refused(tmp_path, no_quick):
    _write_folder(tmp_path, "train", data.CIFAR10_CLASSES, per_class=1, size=(16, 16))
    with pytest.raises(ValueError, match=r"shape \(3, 16, 16\).*\(3, 32, 32\)"):
        load_dataset("cifar10", "train", root=tmp_path, download=False)


def test_image_folder_missing_class(tmp_path, no_quick):
    _write_folder(tmp_path, "train", data.CIFAR10_CLASSES[:3], per_class=1)
    with pytest.raises(DataNotFoundError, match="lacks class folders"):
        load_dataset("cifar10", "train", root=tmp_path, download=False)


def test_torchvision_files_are_used(tmp_path, no_quick, monkeypatch):
    """Write a tiny CIFAR-10 in torchvision's own pickle layout; load_dataset must read it."""
    import pickle

    import numpy as np

    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(base / name, "wb") as f:
            pickle.dump({"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 3]}, f)
    with open(base / "batches.meta", "wb") as f:
        pickle.dump({"label_names": data.CIFAR10_CLASSES}, f)
    import torchvision.datasets.cifar as tv_cifar

    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *a, **k: True)  # our files have other checksums
    d = load_dataset("cifar10", "train", root=tmp_path, download=False)
    assert d.source == "torchvision" and d.images.shape == (20, 3, 32, 32)
    assert d.labels.tolist() == [0, 1, 2, 3] * 5


def test_stand_in_is_deterministic_and_learnable():
    a = synthetic_dataset("cifar10", "train", n=200)
    b = synthetic_dataset("cifar10", "train", n=200)
    c = synthetic_dataset("cifar10", "test", n=200)
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    # nearest class mean in pixel space already beats chance: there is signal to learn
    x = a.images.float().flatten(1)
    means = torch.stack([x[a.labels == k].mean(0) for k in range(10)])
    pred = torch.cdist(c.images.float().flatten(1), means).argmin(1)
    assert (pred == c.labels).float().mean() > 0.3


def test_stand_in_rejects_bad_size():
    with pytest.raises(ValueError, match="n must be positive"):
        synthetic_dataset("cifar10", n=0)


def test_loader_batches_normalise_and_cover_everything():
    d = synthetic_dataset("cifar10", "test", n=70)
    loader = TensorLoader(d, batch_size=32, shuffle=True, seed=1)
    batches = list(loader)
    assert len(loader) == 3 and [len(y) for _, y in batches] == [32, 32, 6]
    seen = torch.cat([y for _, y in batches])
    assert sorted(seen.tolist()) == sorted(d.labels.tolist())
    x0, _ = next(iter(TensorLoader(d, batch_size=70)))
    expected = (d.images.float() / 255 - torch.tensor(d.mean).view(1, 3, 1, 1)) / torch.tensor(d.std).view(1, 3, 1, 1)
    torch.testing.assert_close(x0, expected)
    assert len(TensorLoader(d, 32, drop_last=True)) == 2


def test_loader_rejects_bad_arguments():
    d = synthetic_dataset("cifar10", "test", n=4)
    with pytest.raises(ValueError, match="batch_size"):
        TensorLoader(d, batch_size=0)
    bad = ImageData(d.images, d.labels, d.classes, "synthetic", (0.5,), (0.5,))
    with pytest.raises(ValueError, match="mean has 1 channels, images have 3"):
        TensorLoader(bad)


def test_augment_flip_translate_erase():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    flipped = augment_batch(x, flip=True, generator=torch.Generator().manual_seed(3))
    for i in range(2):
        assert torch.equal(flipped[i], x[i]) or torch.equal(flipped[i], x[i].flip(2))
    shifted = augment_batch(x, flip=False, translate=2, generator=g)
    assert shifted.shape == x.shape
    erased = augment_batch(torch.ones(16, 3, 8, 8), flip=False, erase=1.0, generator=g)
    zeros = (erased == 0).float().mean(dim=(1, 2, 3))
    assert ((zeros > 0) & (zeros <= 0.3)).all()
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        augment_batch(torch.zeros(3, 8, 8))


def test_translate_matches_reflect_pad_and_crop():
    x = torch.randn(1, 1, 6, 6)
    out = augment_batch(x, flip=False, translate=1, generator=torch.Generator().manual_seed(5))
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    crops = [padded[..., i : i + 6, j : j + 6] for i in range(3) for j in range(3)]
    assert any(torch.equal(out, c) for c in crops)
