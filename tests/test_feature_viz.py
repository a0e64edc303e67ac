"""course_utils.features takes the pretrained ResNet-50 only when its weights file is cached, never downloads,
and otherwise trains the small CNN; both give the same kinds of outputs."""

import pytest
import torch
import torchvision

from course_utils import features
from course_utils.data import synthetic_dataset


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to download fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"tried to download: {args[:1]}")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr("urllib.request.urlopen", refuse)


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


@pytest.fixture
def cached_weights(empty_cache):
    """A randomly initialised ResNet-50 saved where torchvision's cache would keep the real weights."""
    torch.manual_seed(0)
    net = torchvision.models.resnet50(weights=None)
    path = empty_cache / "hub" / "checkpoints" / "resnet50-11ad3fa6.pth"
    path.parent.mkdir(parents=True)
    torch.save(net.state_dict(), path)
    return path, net


def test_weights_file_follows_torch_home(empty_cache):
    assert features.pretrained_weights_file() == empty_cache / "hub" / "checkpoints" / "resnet50-11ad3fa6.pth"


def test_cached_weights_are_loaded_without_download(cached_weights, no_network, monkeypatch, capsys):
    path, original = cached_weights
    monkeypatch.delenv("COURSE_QUICK", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    fm = features.load_feature_model()
    assert fm.pretrained and "pretrained ResNet-50" in capsys.readouterr().out
    assert isinstance(fm.model, torchvision.models.ResNet) and len(fm.classes) == 1000
    torch.testing.assert_close(fm.model.conv1.weight, original.conv1.weight)  # the file's weights, not fresh ones
    x = features.prepare_images(fm, [torch.randint(0, 256, (3, 300, 451), dtype=torch.uint8)])
    assert x.shape == (1, 3, 224, 224)
    maps = features.feature_maps(fm.model, x, fm.layers)
    assert [tuple(maps[k].shape[1:]) for k in fm.layers] == [
        (64, 112, 112),
        (256, 56, 56),
        (512, 28, 28),
        (1024, 14, 14),
        (2048, 7, 7),
    ]
    assert features.embed(fm.model, x).shape == (1, 2048)


def test_quick_mode_takes_the_fallback_even_with_cached_weights(cached_weights, no_network, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_QUICK", "1")
    fm = features.load_feature_model(train_data=synthetic_dataset("cifar10", n=64), epochs=1, width=4)
    assert not fm.pretrained and "quick mode" in capsys.readouterr().out


def test_without_weights_the_small_cnn_is_trained(empty_cache, no_network, monkeypatch, capsys):
    monkeypatch.delenv("COURSE_QUICK", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    data = synthetic_dataset("cifar10", n=64)
    fm = features.load_feature_model(train_data=data, epochs=1, width=4)
    out = capsys.readouterr().out
    assert not fm.pretrained and "small CNN" in out and "no pretrained weights" in out
    assert fm.classes == data.classes and fm.input_size == 32
    x = features.prepare_images(fm, [torch.zeros(1, 40, 60, dtype=torch.uint8)])
    assert x.shape == (1, 3, 32, 32)
    maps = features.feature_maps(fm.model, x, fm.layers)
    assert [tuple(maps[k].shape[1:]) for k in fm.layers] == [(4, 32, 32), (4, 32, 32), (8, 16, 16), (16, 8, 8)]
    with pytest.raises(FileNotFoundError, match="no ResNet-50 weights"):
        features.load_feature_model(pretrained=True)


def test_a_broken_weights_file_says_so(empty_cache, monkeypatch):
    path = features.pretrained_weights_file()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a usable ResNet-50 weights file"):
        features.load_feature_model(pretrained=True)


def test_similarity_and_top_classes():
    f = torch.randn(6, 10, dtype=torch.float64)
    s = features.cosine_similarity_matrix(f)
    expected = torch.nn.functional.cosine_similarity(f[:, None], f[None, :], dim=2)
    torch.testing.assert_close(s, expected.float())
    p = torch.softmax(torch.randn(3, 5), 1)
    top = features.top_classes(p, list("abcde"), k=2)
    assert [t[0][0] for t in top] == [list("abcde")[int(i)] for i in p.argmax(1)]
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        features.cosine_similarity_matrix(torch.zeros(3))


def test_unknown_layer_is_named():
    with pytest.raises(ValueError, match="no layers named"):
        features.feature_maps(features.small_cnn(), torch.zeros(1, 3, 32, 32), ["layer9"])


def test_centred_similarity_removes_the_common_part():
    common = torch.full((1, 8), 10.0)
    f = common + torch.eye(4, 8)  # four nearly identical non-negative vectors
    assert features.cosine_similarity_matrix(f).min() > 0.99
    centred = features.cosine_similarity_matrix(f, center=True)
    expected = torch.nn.functional.cosine_similarity((f - f.mean(0))[:, None], (f - f.mean(0))[None], dim=2)
    torch.testing.assert_close(centred, expected)
    assert centred[0, 1] < 0
