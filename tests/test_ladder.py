"""The ladders of 07: each rung's settings and numbers as the MLP-to-CNN slides give them, the networks
they build (against networks written out as in the slides' code), the slides' augmentations, the budgets."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_utils.data import synthetic_dataset
from course_utils.ladder import (
    GENERALIZATION_LADDER,
    TRAINING_LADDER,
    Budget,
    climb,
    ladder_budgets,
    slide_net,
    train_rung,
)
from course_utils.transforms import SlideAugment, random_crop, random_erasing, random_flip, random_rotation

# transcribed from the slides: (activation, widths, convs per stage, init, standardized inputs, bn, skip, lr,
# slide train accuracy, slide test accuracy)
TRAINING = [
    ("sigmoid", (64, 128), 1, "xavier", False, False, False, 1e-3, 0.693, 0.645),
    ("sigmoid", (64, 128, 256), 1, "xavier", False, False, False, 1e-3, 0.938, 0.687),
    ("sigmoid", (64, 128, 256), 3, "xavier", False, False, False, 1e-3, None, None),
    ("relu", (64, 128, 256), 3, "xavier", False, False, False, 1e-3, 0.99, None),
    ("relu", (64, 128, 256, 512), 3, "xavier", False, False, False, 1e-3, None, None),
    ("relu", (64, 128, 256, 512), 3, "xavier", True, False, False, 1e-3, None, None),  # solution 1
    ("relu", (64, 128, 256, 512), 3, "xavier", False, True, False, 1e-3, None, None),  # solution 2: BN
    ("relu", (64, 128, 256, 512), 3, "he", False, False, False, 1e-3, None, None),  # solution 3
    ("silu", (64, 128, 256, 512), 3, "xavier", True, False, False, 1e-3, None, None),  # solution 4
    ("relu", (64, 128, 256, 512), 3, "xavier", False, False, True, 1e-3, None, None),  # solution 5
    ("relu", (64, 128, 256, 512), 3, "xavier", False, False, False, 1e-4, None, None),  # solution 6
]

# (augmentations, bn, dropout after every block, Adam weight_decay, ExponentialLR gamma, skip, slide train, test)
GENERALIZATION = [
    ((), False, 0.0, 0.0, None, False, None, 0.78),
    (("erase",), False, 0.0, 0.0, None, False, None, 0.809),
    (("erase",), True, 0.0, 0.0, None, False, None, 0.84),
    (("erase",), True, 0.25, 0.0, None, False, None, 0.866),
    (("erase",), True, 0.25, 5e-4, None, False, None, None),
    (("crop", "flip"), True, 0.25, 5e-4, None, False, 0.92, 0.906),
    (("crop", "flip"), True, 0.25, 5e-4, 0.96, False, 0.98, 0.906),
    (("crop", "flip", "rotate", "erase"), True, 0.25, 5e-4, 0.96, False, 0.96, 0.93),
    (("crop", "flip", "rotate", "erase"), True, 0.25, 5e-4, 0.96, True, 0.97, 0.93),
    (("crop", "flip", "rotate", "erase"), True, 0.25, 5e-4, 0.96, True, 0.983, 0.945),
]


@pytest.mark.parametrize("i", range(len(TRAINING)))
def test_training_rungs_have_the_slides_settings(i):
    act, widths, convs, init, standardize, bn, skip, lr, slide_train, slide_test = TRAINING[i]
    r = TRAINING_LADDER[i]
    got = (r.activation, r.widths, r.convs, r.init, r.standardize, r.bn, r.skip, r.lr, r.slide_train, r.slide_test)
    assert got == TRAINING[i], f"rung {i} ({r.name})"
    assert (r.dense, r.dropout, r.weight_decay, r.lr_gamma, r.augment) == (512, 0.0, 0.0, None, ())


@pytest.mark.parametrize("i", range(len(GENERALIZATION)))
def test_generalization_rungs_have_the_slides_settings(i):
    r = GENERALIZATION_LADDER[i]
    got = (r.augment, r.bn, r.dropout, r.weight_decay, r.lr_gamma, r.skip, r.slide_train, r.slide_test)
    assert got == GENERALIZATION[i], f"rung {i} ({r.name})"
    assert (r.activation, r.init, r.standardize, r.lr, r.convs, r.dense) == ("relu", "he", True, 1e-3, 2, 512)


def test_capacity_steps_double_the_widths():
    assert [r.widths for r in GENERALIZATION_LADDER] == [(32, 64, 128)] * 7 + [(64, 128, 256)] * 2 + [(128, 256, 512)]


def _count(*modules: nn.Module) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


def _convs(channels: list[int]) -> list[nn.Conv2d]:
    return [nn.Conv2d(a, b, 3, stride=1, padding="same") for a, b in zip(channels, channels[1:])]


NINE = [3, 64, 64, 64, 128, 128, 128, 256, 256, 256]
TWELVE = NINE + [512, 512, 512]


def test_training_networks_match_the_slides_code():
    """The slides' layers written out (conv_layer1..n, fc_layer1, fc_layer2), counted by PyTorch."""
    assert _count(slide_net(TRAINING_LADDER[0])) == _count(
        *_convs([3, 64, 128]), nn.Linear(128 * 8 * 8, 512), nn.Linear(512, 10)
    )
    assert _count(slide_net(TRAINING_LADDER[1])) == _count(
        *_convs([3, 64, 128, 256]), nn.Linear(256 * 4 * 4, 512), nn.Linear(512, 10)
    )
    nine = _count(*_convs(NINE), nn.Linear(256 * 4 * 4, 512), nn.Linear(512, 10))
    assert _count(slide_net(TRAINING_LADDER[2])) == _count(slide_net(TRAINING_LADDER[3])) == nine
    twelve = _count(*_convs(TWELVE), nn.Linear(512 * 2 * 2, 512), nn.Linear(512, 10))
    assert _count(slide_net(TRAINING_LADDER[4])) == twelve
    bns = [nn.BatchNorm2d(c) for c in TWELVE[1:]]
    assert _count(slide_net(TRAINING_LADDER[6])) == twelve + _count(*bns)
    res = [nn.Conv2d(a, b, 3, stride=2, padding=1) for a, b in [(3, 64), (64, 128), (128, 256), (256, 512)]]
    assert _count(slide_net(TRAINING_LADDER[9])) == twelve + _count(*res)


def test_the_twelve_layer_network_has_the_slides_layer_order():
    net = slide_net(TRAINING_LADDER[6])
    kinds = [type(m).__name__ for m in net.modules() if not isinstance(m, (nn.Sequential,)) and m is not net]
    assert kinds[:10] == [
        "_Stage",
        "Conv2d",
        "ReLU",
        "BatchNorm2d",
        "Conv2d",
        "ReLU",
        "BatchNorm2d",
        "Conv2d",
        "ReLU",
        "BatchNorm2d",
    ]
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_generalization_network_and_width_scale():
    plain = _count(*_convs([3, 32, 32, 64, 64, 128, 128]), nn.Linear(128 * 4 * 4, 512), nn.Linear(512, 10))
    assert _count(slide_net(GENERALIZATION_LADDER[0])) == plain
    quarter = _count(*_convs([3, 8, 8, 16, 16, 32, 32]), nn.Linear(32 * 4 * 4, 512), nn.Linear(512, 10))
    assert _count(slide_net(GENERALIZATION_LADDER[0], width_scale=0.25)) == quarter
    dropouts = [m.p for m in slide_net(GENERALIZATION_LADDER[3]).modules() if isinstance(m, nn.Dropout)]
    assert dropouts == [0.25, 0.25, 0.25]


def test_he_and_glorot_initialization():
    torch.manual_seed(0)
    he = slide_net(TRAINING_LADDER[7])[3].body[0].weight  # 256 -> 512 channels, fan_in 256 * 9
    assert he.std().item() == pytest.approx(math.sqrt(2 / (256 * 9)), rel=0.02)
    glorot = slide_net(TRAINING_LADDER[4])[3].body[0].weight
    assert glorot.abs().max().item() <= math.sqrt(6 / (256 * 9 + 512 * 9))
    assert glorot.std().item() == pytest.approx(math.sqrt(2 / (256 * 9 + 512 * 9)), rel=0.02)


def test_lr_decay_is_exponential_lr_stepped_once_per_epoch():
    d = synthetic_dataset("cifar10", "test", n=64)
    h = train_rung(
        GENERALIZATION_LADDER[6], d, d, Budget(64, 64, epochs=3, width_scale=0.0625, batch_size=16), progress=False
    )
    opt = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=1e-3)
    sched, expected = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.96), []
    for _ in range(3):
        opt.step()
        sched.step()
        expected.append(opt.param_groups[0]["lr"])
    assert h.lr == pytest.approx(expected)


def test_augmentations_do_what_torchvision_does():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    fill = torch.full((1, 3, 1, 1), -7.0)
    cropped = random_crop(x, 2, fill, g)
    for img, out in zip(x, cropped):  # every crop is a window of the padded image
        padded = nn.functional.pad(img, (2, 2, 2, 2), value=-7.0)
        windows = [padded[:, i : i + 8, j : j + 8] for i in range(5) for j in range(5)]
        assert any(torch.equal(out, w) for w in windows)
    flipped = random_flip(x, g, p=1.0)
    assert torch.equal(flipped, x.flip(3))
    assert torch.equal(random_rotation(x, 0.0, fill, g), x)
    erased = random_erasing(torch.ones(500, 1, 32, 32), g, p=1.0)
    frac = (erased == 0).float().mean((1, 2, 3))
    assert frac.min() >= 0.008 and frac.max() <= 0.32 and frac.mean() == pytest.approx(0.155, abs=0.02)
    assert (random_erasing(torch.ones(2000, 1, 8, 8), g).amin((1, 2, 3)) == 0).float().mean() == pytest.approx(
        0.75, abs=0.04
    )
    with pytest.raises(ValueError, match="unknown augmentations"):
        SlideAugment(("cutmix",), (0.5,), (0.5,))


def test_budgets_and_a_tiny_climb(capsys):
    budgets = ladder_budgets("cpu")
    assert budgets["training"].width_scale < 1 and ladder_budgets("gpu")["training"].n_train == 50_000
    with pytest.raises(ValueError):
        ladder_budgets("tpu")
    d = synthetic_dataset("cifar10", "test", n=64)
    b = Budget(64, 64, epochs=1, width_scale=0.0625, batch_size=32)
    res = climb(TRAINING_LADDER[:2], d, d, b, title="t", progress=False)
    table = repr(res)
    assert "69.3" in table and "93.8" in table and len(res.results) == 2
    assert "2 conv, sigmoid" in capsys.readouterr().out
    h = train_rung(GENERALIZATION_LADDER[-1], d, d, b, progress=False)
    assert len(h.val_acc) == 1 and 0.0 <= h.val_acc[0] <= 1.0
    fig = res.plot()
    assert len(fig.axes[0].get_xticklabels()) == 2
