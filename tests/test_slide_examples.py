"""The slides' worked examples, recomputed here with PyTorch (or plain arithmetic), independently of the
notebooks, and compared with the helpers of ``course_utils`` and with the outputs the notebooks store.

Expected values are literals (worked out by hand or printed on the slides) or PyTorch's own functions,
never the helper under test. Where a slide's arithmetic is wrong, the test pins the right value and the
notebook's statement of the error.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.conv import sharing_params
from course_utils.losses import (
    binary_cross_entropy_sum,
    cross_entropy_probs,
    pytorch_smoothing,
    smooth_labels,
    softmax_beta,
)
from course_utils.normalization import batch_norm_dims, batch_stats, layer_norm_dims, normalize
from course_utils.regularization import (
    EarlyStopping,
    early_stopping_point,
    l1_proximal_step,
    soft_threshold,
    weight_decay_step,
)
from harness import SOLUTIONS


def stored_output(name: str, cell_id: str) -> str:
    """The text a solution notebook stores for one nbval-checked cell."""
    nb = json.loads((SOLUTIONS / name / f"{name}.ipynb").read_text())
    cell = next(c for c in nb["cells"] if c.get("id") == cell_id)
    parts = []
    for o in cell["outputs"]:
        text = o.get("text") or o.get("data", {}).get("text/plain", "")
        parts.append("".join(text) if isinstance(text, list) else text)
    assert parts, f"{name}: cell {cell_id} stores no output (run `make outputs NAMES={name}`)"
    return "".join(parts)


def markdown(name: str, cell_id: str) -> str:
    nb = json.loads((SOLUTIONS / name / f"{name}.ipynb").read_text())
    return "".join(next(c for c in nb["cells"] if c.get("id") == cell_id)["source"])


# ---------------------------------------------------------------- losses (02, section 7)

NN1 = [[0.9, 0.1], [0.1, 0.9], [0.4, 0.6]]
NN2 = [[0.6, 0.4], [0.3, 0.7], [0.1, 0.9]]
DOG_CAT = [0, 1, 0]  # true class per row: dog, cat, dog


def test_nn1_nn2_same_error_different_cross_entropy():
    labels = torch.tensor(DOG_CAT)
    for table, expected in (
        (NN1, -(math.log(0.9) * 2 + math.log(0.4)) / 3),
        (NN2, -(math.log(0.6) + math.log(0.7) + math.log(0.1)) / 3),
    ):
        p = torch.tensor(table, dtype=torch.float64)
        assert (p.argmax(1) != labels).double().mean().item() == pytest.approx(1 / 3)  # the slide: 0.33
        torch.testing.assert_close(F.nll_loss(p.log(), labels).item(), expected)
        torch.testing.assert_close(cross_entropy_probs(p, F.one_hot(labels, 2).double()).mean().item(), expected)
    out = stored_output("02_mlp_fundamentals", "code-loss-02")
    assert "NN1: classification error 0.33" in out and "mean 0.376" in out
    assert "NN2: classification error 0.33" in out and "mean 1.057" in out


def test_cross_entropy_and_binary_cross_entropy_of_0_4_0_1_0_5():
    y, y_hat = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.4, 0.1, 0.5])
    assert cross_entropy_probs(y_hat, y).item() == pytest.approx(-math.log(0.4), rel=1e-6)
    by_torch = F.binary_cross_entropy(y_hat, y, reduction="sum").item()
    assert by_torch == pytest.approx(-math.log(0.4) - math.log(0.9) - math.log(0.5), rel=1e-6)
    assert binary_cross_entropy_sum(y_hat, y).item() == pytest.approx(by_torch, rel=1e-6)
    out = stored_output("02_mlp_fundamentals", "code-loss-04")
    assert "-ln 0.4 = 0.9163" in out and "sum      = 1.7148" in out and "mean     = 0.5716" in out


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 2.0, 10.0])
def test_softmax_with_a_temperature_is_softmax_of_beta_z(beta):
    z = torch.tensor([2.0, 1.0, 0.1], dtype=torch.float64)
    torch.testing.assert_close(softmax_beta(z, beta), torch.softmax(beta * z, 0))
    assert "beta = 2.0  (T = 0.5 ): [0.8638, 0.1169, 0.0193]" in stored_output("02_mlp_fundamentals", "code-loss-06")


# ---------------------------------------------------------------- regularization (02, section 13)


def test_weight_decay_step_is_sgd_weight_decay():
    X = torch.tensor([[1.0, 2.0], [0.5, -1.0], [-1.5, 0.5]], dtype=torch.float64)
    t = torch.tensor([1.0, 0.0, -1.0], dtype=torch.float64)
    w0 = torch.tensor([2.0, -3.0], dtype=torch.float64)
    w_torch = w0.clone().requires_grad_(True)
    opt = torch.optim.SGD([w_torch], lr=0.1, weight_decay=0.5)
    opt.zero_grad()
    (0.5 * ((X @ w_torch - t) ** 2).mean()).backward()
    grad = w_torch.grad.clone()
    opt.step()
    torch.testing.assert_close(weight_decay_step(w0, grad, 0.1, 0.5), w_torch.detach())
    torch.testing.assert_close(w_torch.detach(), torch.tensor([1.825, -2.325], dtype=torch.float64))  # by hand
    assert "step 1: formula [1.825, -2.325]   SGD(weight_decay=0.5) [1.825, -2.325]" in stored_output(
        "02_mlp_fundamentals", "code-reg-02"
    )


def test_soft_threshold_is_the_l1_minimum():
    """argmin_w 1/2 (w - w*)^2 + alpha |w| satisfies the optimality conditions of the slides' formula."""
    w_star = torch.tensor([-3.0, -0.5, 0.0, 0.2, 0.99, 1.01, 2.0], dtype=torch.float64)
    alpha = 1.0
    w = soft_threshold(w_star, alpha)
    zero = w == 0
    assert torch.equal(zero, w_star.abs() <= alpha)
    torch.testing.assert_close(
        (w - w_star + alpha * torch.sign(w))[~zero], torch.zeros(int((~zero).sum()), dtype=torch.float64)
    )
    torch.testing.assert_close(l1_proximal_step(w_star, torch.zeros_like(w_star), lr=0.5, alpha=2.0), w)


def test_l1_gives_exact_zeros_in_the_notebook():
    lines = stored_output("02_mlp_fundamentals", "code-reg-04").splitlines()
    zeros = {line.split("  ")[0].strip(): int(line.rsplit(":", 1)[1]) for line in lines if "exact zeros" in line}
    assert zeros == {"L2 (weight decay)": 0, "L1, subgradient step": 0, "L1, proximal step": 7}


def test_early_stopping_follows_the_slides_algorithm():
    # Algorithm 7.1 by hand: the new best resets the count; patience 2 stops at evaluation 6; best is 4.
    curve = [0.9, 0.7, 0.6, 0.65, 0.55, 0.58, 0.6, 0.5]
    assert early_stopping_point(curve, patience=2) == (4, 6)
    assert early_stopping_point(curve, patience=3) == (7, 7)  # never fires: runs to the end
    es = EarlyStopping(patience=1)
    assert [es.step(v) for v in (1.0, 1.0)] == [False, True]  # equal is not better
    assert "evaluation 6: error 0.6   best so far 0.55  (at 4)  evaluations without a new best: 2  -> stop" in (
        stored_output("02_mlp_fundamentals", "code-reg-10")
    )


def test_label_smoothing_slides_and_pytorch():
    k, eps, label = 10, 0.1, torch.tensor([3])
    slides = smooth_labels(label, k, eps)[0]
    expected = torch.full((k,), eps / (k - 1))
    expected[3] = 1 - eps
    torch.testing.assert_close(slides, expected)
    logits = torch.tensor([[0.5, -1.0, 0.2, 2.5, 0.0, -0.3, 1.0, 0.1, -2.0, 0.4]])
    # PyTorch's own soft-target cross-entropy, against its label_smoothing
    for s, target in ((pytorch_smoothing(eps, k), slides), (eps, smooth_labels(label, k, eps, spread="all")[0])):
        torch.testing.assert_close(
            nn.CrossEntropyLoss(label_smoothing=s)(logits, label), F.cross_entropy(logits, target[None])
        )
    assert pytorch_smoothing(eps, k) == pytest.approx(1 / 9)
    out = stored_output("02_mlp_fundamentals", "code-reg-12")
    assert "by hand 0.8807, nn.CrossEntropyLoss(label_smoothing=0.1111) 0.8807" in out


def test_mnist_numbers_of_the_slides_are_quoted():
    text = markdown("02_mlp_fundamentals", "md-mnist-01")
    for number in ("0.3201", "0.0465", "0.9868", "0.97"):
        assert number in text


# ---------------------------------------------------------------- AlexNet's first layer (03, section 5)


def test_alexnet_first_layer_with_and_without_sharing():
    conv1 = nn.Conv2d(3, 96, kernel_size=11, stride=4)
    assert conv1(torch.zeros(1, 3, 227, 227)).shape == (1, 96, 55, 55)
    dense = nn.Linear(227 * 227 * 3, 55 * 55 * 96, device="meta")
    counts = sharing_params((3, 227, 227), (96, 55, 55), k=11)
    assert counts["shared"] == sum(p.numel() for p in conv1.parameters()) == 34_944  # the slide: 364 * 96 = 34K
    assert counts["unshared"] == 290_400 * 364 == 105_705_600  # the slide: 105M, right
    assert counts["dense_weights"] == dense.weight.numel() == 44_892_064_800
    assert counts["dense"] == sum(p.numel() for p in dense.parameters())
    # the slide's 230,187 is 277 * 277 * 3, not the 227 x 227 x 3 input: 66B instead of about 45B
    assert 277 * 277 * 3 == 230_187 and 227 * 227 * 3 == 154_587
    out = stored_output("03_convolution", "code-share-02")
    assert "44,892,064,800 weights   PyTorch: 44,892,064,800" in out and "105,705,600   PyTorch: 105,705,600" in out
    text = markdown("03_convolution", "md-share-03")
    assert "230{,}187 = 277 \\cdot 277 \\cdot 3" in text and "44{,}892{,}064{,}800" in text


# ---------------------------------------------------------------- batch norm and layer norm (07, section 2)


def test_batch_norm_and_layer_norm_axes():
    x = torch.tensor([[1.0, 2.0, 3.0, 6.0], [2.0, 4.0, 6.0, 0.0], [3.0, 0.0, 3.0, 2.0]])
    torch.testing.assert_close(normalize(x, batch_norm_dims(x)), nn.BatchNorm1d(4)(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(normalize(x, layer_norm_dims(x)), nn.LayerNorm(4)(x), atol=1e-5, rtol=1e-5)
    x4 = torch.randn(4, 3, 5, 5, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(normalize(x4, batch_norm_dims(x4)), nn.BatchNorm2d(3)(x4), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(normalize(x4, layer_norm_dims(x4)), nn.LayerNorm([3, 5, 5])(x4), atol=1e-5, rtol=1e-5)
    assert "layer norm: one mean per sample (row):     tensor([3., 3., 2.])" in stored_output(
        "07_training_cnns", "code-norm-02"
    )


# The second example of the MLP-to-CNN slides, as its text prints it.
SLIDE_MEAN, SLIDE_VAR = [2.0, 3.0], [6.0, 8.67]
SLIDE_X_HAT = [[[-0.94, 1.41], [0.47, -0.94]], [[1.56, -0.39], [-1.17, 0.0]]]


def test_second_batch_norm_example_mixes_biased_and_unbiased_variance():
    X = torch.tensor([[[[0.0, 5.0], [3.0, 0.0]], [[7.0, 2.0], [0.0, 3.0]]]])
    bn = nn.BatchNorm2d(2, momentum=1.0)
    out = bn(X)
    # PyTorch's output is the slide's X-hat (which cuts, not rounds, to two decimals) ...
    torch.testing.assert_close(out[0].detach(), torch.tensor(SLIDE_X_HAT), atol=0.01, rtol=0)
    # ... its running statistics are the slide's mean and (unbiased) variance ...
    torch.testing.assert_close(bn.running_mean, torch.tensor(SLIDE_MEAN))
    torch.testing.assert_close(bn.running_var, torch.tensor(SLIDE_VAR), atol=0.005, rtol=0)
    # ... and the variance it normalized with is the biased one, which the slide does not print.
    mean, var = batch_stats(X, batch_norm_dims(X))
    torch.testing.assert_close(var.flatten(), torch.tensor([4.5, 6.5]))
    torch.testing.assert_close(normalize(X, batch_norm_dims(X)), out.detach(), atol=1e-5, rtol=1e-5)
    _, var_u = batch_stats(X, batch_norm_dims(X), unbiased=True)
    assert not torch.allclose(((X - mean) / var_u.sqrt())[0], torch.tensor(SLIDE_X_HAT), atol=0.05)
    out_nb = stored_output("07_training_cnns", "code-norm-08")
    assert "divide by m = 4     : tensor([4.5000, 6.5000])" in out_nb
    assert "divide by m - 1 = 3 : tensor([6.0000, 8.6667])" in out_nb
    assert "running_var (unbiased): tensor([6.0000, 8.6667])" in stored_output("07_training_cnns", "code-norm-10")


# ---------------------------------------------------------------- Exercise 2-1: ResNet-50's layers (10, section 4)


def test_resnet50_conv21_is_layer1_0():
    torchvision = pytest.importorskip("torchvision")
    from torchvision.models.feature_extraction import create_feature_extractor

    from course_utils.features import torchvision_layer

    assert [torchvision_layer(n) for n in ("conv1", "Conv21", "conv2_1", "conv3_x", "conv4_6")] == [
        "conv1",
        "layer1.0",
        "layer1.0",
        "layer2",
        "layer3.5",
    ]
    with pytest.raises(ValueError):
        torchvision_layer("conv6_1")
    r50 = torchvision.models.resnet50(weights=None).eval()
    assert sum(p.numel() for p in r50.parameters()) == 25_557_032
    assert "layer1.0" in dict(r50.named_modules())
    with torch.no_grad():
        out = create_feature_extractor(r50, ["layer1.0", "layer4"])(torch.zeros(1, 3, 224, 224))
    assert out["layer1.0"].shape == (1, 256, 56, 56) and out["layer4"].shape == (1, 2048, 7, 7)
    nb_out = stored_output("10_feature_visualization", "code-r50-03")
    assert "conv2_1  = layer1.0    256 channels of  56 x 56" in nb_out
    assert "conv5_x  = layer4     2048 channels of   7 x 7" in nb_out
