"""course_utils.conv against PyTorch on random shapes, its errors, and the convolution explorer's callbacks."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.conv import conv_matrix, conv_params, fold_bn, kernel_positions
from course_utils.shapes import output_size
from course_utils.widgets import conv_explorer, draw_conv


def _random_conv_config(g: torch.Generator) -> dict:
    r = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=g))
    while True:
        cfg = dict(
            c_in=r(1, 3),
            c_out=r(1, 3),
            H=r(1, 9),
            W=r(1, 9),
            kh=r(1, 4),
            kw=r(1, 4),
            s=(r(1, 3), r(1, 3)),
            p=(r(0, 2), r(0, 2)),
            d=(r(1, 2), r(1, 2)),
        )
        if (
            cfg["H"] + 2 * cfg["p"][0] >= cfg["d"][0] * (cfg["kh"] - 1) + 1
            and cfg["W"] + 2 * cfg["p"][1] >= cfg["d"][1] * (cfg["kw"] - 1) + 1
        ):
            return cfg


@pytest.mark.parametrize("seed", range(25))
def test_conv_matrix_is_conv2d_and_its_transpose_is_conv_transpose2d(seed):
    g = torch.Generator().manual_seed(seed)
    c = _random_conv_config(g)
    w = torch.randn(c["c_out"], c["c_in"], c["kh"], c["kw"], generator=g, dtype=torch.float64)
    x = torch.randn(c["c_in"], c["H"], c["W"], generator=g, dtype=torch.float64)
    C = conv_matrix(w, (c["H"], c["W"]), c["s"], c["p"], c["d"])
    y = F.conv2d(x[None], w, stride=c["s"], padding=c["p"], dilation=c["d"])[0]
    assert C.shape == (y.numel(), x.numel())
    torch.testing.assert_close(C @ x.flatten(), y.flatten())
    up = nn.ConvTranspose2d(
        c["c_out"], c["c_in"], (c["kh"], c["kw"]), stride=c["s"], padding=c["p"], dilation=c["d"], bias=False
    ).double()
    with torch.no_grad():
        up.weight.copy_(w)
    z = torch.randn(y.shape, generator=g, dtype=torch.float64)
    torch.testing.assert_close(C.T @ z.flatten(), up(z[None], output_size=(c["H"], c["W"])).flatten())


def test_conv_matrix_of_a_2d_kernel_and_the_seed_example():
    C = conv_matrix(torch.tensor([[0.0, 1.0], [2.0, 3.0]]), 3)
    assert C.shape == (4, 9)
    assert (C @ torch.arange(9.0)).tolist() == [19.0, 25.0, 37.0, 43.0]
    # every row holds the 4 kernel weights once (one of them is 0), summing to 0 + 1 + 2 + 3
    assert (C != 0).sum(1).tolist() == [3, 3, 3, 3] and C.sum(1).tolist() == [6.0] * 4


@pytest.mark.parametrize(
    "bad, match",
    [
        (torch.zeros(3), r"\(kH, kW\) or \(C_out, C_in, kH, kW\), got \(3,\)"),
        (torch.zeros(1, 3, 3), r"got \(1, 3, 3\)"),
        ([[1.0, 2.0]], r"got list"),
    ],
)
def test_conv_matrix_rejects_bad_weights(bad, match):
    with pytest.raises(ValueError, match=match):
        conv_matrix(bad, (4, 4))


def test_conv_matrix_rejects_bad_sizes():
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv_matrix(torch.zeros(5, 5), (3, 3))
    with pytest.raises(ValueError, match="stride must be"):
        conv_matrix(torch.zeros(3, 3), (5, 5), stride=0)
    with pytest.raises(ValueError, match="input_size must be"):
        conv_matrix(torch.zeros(3, 3), (5, 5, 5))


@pytest.mark.parametrize("seed", range(10))
def test_kernel_positions_match_output_size_and_conv_matrix(seed):
    g = torch.Generator().manual_seed(100 + seed)
    c = _random_conv_config(g)
    i, k, s, p, d = c["H"], c["kh"], c["s"][0], c["p"][0], c["d"][0]
    pos = kernel_positions(i, k, s, p, d)
    assert len(pos) == output_size(i, k, s, p, d) and all(len(t) == k for t in pos)
    # 1-row input: the columns a row of the convolution matrix reads are the in-range positions
    C = conv_matrix(torch.ones(1, k), (1, i), (1, s), (0, p), (1, d))
    for row, taps in zip(C, pos):
        assert row.nonzero().flatten().tolist() == [t for t in taps if 0 <= t < i]


@pytest.mark.parametrize(
    "c_in, c_out, k, groups, bias",
    [
        (3, 10, 5, 1, True),
        (16, 32, 3, 4, True),
        (8, 8, 3, 8, False),
        (6, 12, (1, 3), 3, True),
        (64, 128, 1, 1, False),
        (12, 6, (5, 2), 6, True),
    ],
)
def test_conv_params_match_pytorch(c_in, c_out, k, groups, bias):
    conv = nn.Conv2d(c_in, c_out, k, groups=groups, bias=bias)
    assert conv_params(c_in, c_out, k, groups, bias) == sum(p.numel() for p in conv.parameters())


def test_conv_params_rejects_bad_groups_and_sizes():
    with pytest.raises(ValueError, match=r"divisible by groups \(4\)"):
        conv_params(6, 8, 3, groups=4)
    with pytest.raises(ValueError, match="c_in must be a positive int"):
        conv_params(0, 8, 3)
    with pytest.raises(ValueError, match="k must be"):
        conv_params(3, 8, 0)


@pytest.mark.parametrize("seed", range(6))
def test_fold_bn_equals_conv_then_bn_in_eval_mode(seed):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    r = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=g))
    groups = r(1, 2)
    c_in, c_out = groups * r(1, 3), groups * r(1, 3)
    conv = nn.Conv2d(c_in, c_out, r(1, 3), stride=r(1, 2), padding=r(0, 1), groups=groups, bias=seed % 2 == 0)
    bn = nn.BatchNorm2d(c_out, affine=seed % 3 != 0)
    with torch.no_grad():  # non-trivial statistics and affine parameters
        bn.running_mean.copy_(torch.randn(c_out, generator=g))
        bn.running_var.copy_(torch.rand(c_out, generator=g) + 0.5)
        if bn.affine:
            bn.weight.copy_(torch.randn(c_out, generator=g))
            bn.bias.copy_(torch.randn(c_out, generator=g))
    model = nn.Sequential(conv, bn).eval()
    x = torch.randn(2, c_in, 7, 6, generator=g)
    fused = fold_bn(conv, bn)
    assert isinstance(fused, nn.Conv2d) and not fused.training
    torch.testing.assert_close(fused(x), model(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fused.weight, torch.nn.utils.fusion.fuse_conv_bn_eval(conv, bn).weight)


def test_fold_bn_leaves_its_inputs_alone_and_rejects_mismatches():
    conv, bn = nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4).eval()
    before = conv.weight.detach().clone()
    fold_bn(conv, bn)
    assert torch.equal(conv.weight, before)
    with pytest.raises(ValueError, match="4 features but the convolution has 5 output channels"):
        fold_bn(nn.Conv2d(2, 5, 3), bn)
    with pytest.raises(ValueError, match="track_running_stats=False"):
        fold_bn(conv, nn.BatchNorm2d(4, track_running_stats=False))
    with pytest.raises(TypeError, match=r"got \(Linear, BatchNorm2d\)"):
        fold_bn(nn.Linear(2, 4), bn)


# --------------------------------------------------------------------------- the explorer, without a browser
def test_draw_conv_titles_and_errors():
    import matplotlib.pyplot as plt

    fig = draw_conv(32, k=5, s=1, p=2)
    assert [ax.get_title() for ax in fig.axes] == ["input 32x32, padded to 36x36", "output 32x32"]
    plt.close(fig)
    with pytest.raises(ValueError, match="larger than the padded input"):
        draw_conv(3, k=5)
    with pytest.raises(ValueError, match=r"0\.\.8 \(output 3x3\)"):
        draw_conv(5, k=3, step=9)


def test_conv_explorer_callbacks_follow_the_controls():
    box = conv_explorer(i=5, k=3)
    ctl, formula, image = box.controls, box.formula, box.image
    assert formula.value.endswith("= 3</code>: output 3x3") and ctl["step"].max == 8
    first = image.value
    assert first[:4] == b"\x89PNG"

    ctl["step"].value = 4  # walk the kernel: the picture changes, the size does not
    assert image.value != first and formula.value.endswith("output 3x3")
    ctl["p"].value = 1  # "same" padding
    assert formula.value.endswith("= 5</code>: output 5x5") and ctl["step"].max == 24 and ctl["play"].max == 24
    ctl["s"].value = 2
    assert formula.value.endswith("output 3x3") and ctl["step"].max == 8
    assert ctl["step"].value <= 8  # clamped to the new last cell
    ctl["d"].value = 2  # dilated 3x3 covers 5x5: (5 + 2 - 4 - 1) / 2 + 1 = 2
    assert "floor((5 + 2*1 - 2*(3 - 1) - 1) / 2) + 1 = 2" in formula.value

    ctl["k"].value = 7  # does not fit: a message, no picture, no crash
    assert "no output" in formula.value and "larger than the padded input" in formula.value
    assert image.value == b"" and ctl["step"].max == 0
    ctl["k"].value = 3  # and it recovers
    assert formula.value.endswith("output 2x2") and image.value[:4] == b"\x89PNG"


def test_conv_explorer_leaves_no_open_figures():
    import matplotlib.pyplot as plt

    before = len(plt.get_fignums())
    box = conv_explorer()
    for v in (2, 3, 1):
        box.controls["s"].value = v
    assert len(plt.get_fignums()) == before
