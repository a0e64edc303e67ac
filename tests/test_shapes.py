"""course_utils.shapes against PyTorch itself on random layers."""

import random

import pytest
import torch
from torch import nn

from course_utils.shapes import count_macs, count_params, layer_table, output_size


def test_output_size_matches_pytorch_on_random_layers():
    rnd = random.Random(0)
    for _ in range(200):
        k, s, p, d = rnd.randint(1, 5), rnd.randint(1, 3), rnd.randint(0, 2), rnd.randint(1, 2)
        i = rnd.randint(d * (k - 1) + 1, 20)
        conv = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d)
        assert output_size(i, k, s, p, d) == conv(torch.zeros(1, 1, i, i)).shape[-1]
        if p <= k // 2:
            for ceil in (False, True):
                pool = nn.MaxPool2d(k, s, p, dilation=d, ceil_mode=ceil)
                assert output_size(i, k, s, p, d, ceil) == pool(torch.zeros(1, 1, i, i)).shape[-1], (
                    i,
                    k,
                    s,
                    p,
                    d,
                    ceil,
                )


def test_output_size_spec_example_and_errors():
    assert output_size(32, 5, 1, 2) == 32
    with pytest.raises(ValueError, match="larger than the padded input"):
        output_size(3, 5)
    with pytest.raises(ValueError, match="s must be an int >= 1"):
        output_size(8, 3, s=0)


def test_count_params_and_buffers():
    assert count_params(nn.Conv2d(3, 10, 5)) == 760
    bn = nn.BatchNorm2d(16)
    assert count_params(bn) == 32  # weight and bias; running stats are buffers
    frozen = nn.Linear(4, 4)
    frozen.weight.requires_grad_(False)
    assert count_params(frozen, trainable_only=True) == 4


def test_count_macs():
    assert count_macs(nn.Linear(4, 3), (1, 4)) == 12
    assert count_macs(nn.Conv2d(3, 10, 5, padding=2), (1, 3, 32, 32)) == 5 * 5 * 3 * 10 * 32 * 32
    assert count_macs(nn.Conv2d(8, 8, 3, groups=4), (1, 8, 10, 10)) == 3 * 3 * 2 * 8 * 8 * 8


def test_layer_table_rows_and_totals():
    net = nn.Sequential(
        nn.Conv2d(3, 10, 5, padding=2),
        nn.BatchNorm2d(10),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2560, 10),
    )
    t = layer_table(net, (1, 3, 32, 32))
    assert [r.kind for r in t] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Flatten", "Linear"]
    assert t[3].output_shape == (1, 10, 16, 16) and t[5].input_shape == (1, 2560)
    assert [r.params for r in t] == [760, 20, 0, 0, 0, 25610]
    assert t[0].macs == 75 * 10 * 1024 and t[5].macs == 25600
    assert t.total_params == 26390 and t.total_macs == 75 * 10 * 1024 + 25600
    text = str(t)
    assert "26,390" in text and "Conv2d" in text


def test_layer_table_nested_depth():
    import torchvision

    m = torchvision.models.resnet18()
    shallow = layer_table(m, (1, 3, 64, 64))
    deep = layer_table(m, (1, 3, 64, 64), depth=2)
    assert "layer1" in [r.name for r in shallow] and "layer1.0" in [r.name for r in deep]
    assert sum(r.params for r in shallow) == sum(r.params for r in deep) == 11_689_512


def test_layer_table_wrong_input_is_clear():
    with pytest.raises(ValueError, match=r"does not accept an input of shape \(1, 3, 28, 28\)"):
        layer_table(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), (1, 3, 28, 28))
    with pytest.raises(ValueError, match="input_size must be positive ints"):
        layer_table(nn.Linear(2, 2), (1, -2))
