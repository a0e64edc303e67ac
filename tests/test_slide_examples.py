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
from course_utils.losses import (binary_cross_entropy_sum, cross_entropy_probs, pytorch_smoothing,
                                 smooth_labels, softmax_beta)
from course_utils.normalization import batch_norm_dims, batch_stats, layer_norm_dims, normalize
from course_utils.regularization import (EarlyStopping, early_stopping_point, l1_proximal_step,
                                         soft_threshold, weight_decay_step)
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
DOG_CAT = [0, 1, 0]                                     # true class per row: dog, cat, dog


def test_nn1_nn2_same_error_different_cross_entropy():
    labels = torch.tensor(DOG_CAT)
    for table, expected in ((NN1, -(math.log(0.9) * 2 + math.log(0.4)) / 3),
                            (NN2, -(math.log(0.6) + math.log(0.7) + math.log(0.1)) / 3)):
        p = torch.tensor(table, dtype=torch.float64)
        assert (p.argmax(1) != labels).double().mean().item() == pytest.approx(1 / 3)     # the slide: 0.33
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
        "02_mlp_fundamentals", "code-reg-02")


def test_soft_threshold_is_the_l1_minimum():
    """argmin_w 1/2 (w - w*)^2 + alpha |w| satisfies the optimality conditions of the slides' formula."""
    w_star = torch.tensor([-3.0, -0.5, 0.0, 0.2, 0.99, 1.01, 2.0], dtype=torch.float64)
    alpha = 1.0
    w = soft_threshold(w_star, alpha)
    zero = w == 0
    assert torch.equal(zero, w_star.abs() <= alpha)
    torch.testing.assert_close((w - w_star + alpha * torch.sign(w))[~zero], torch.zeros(int((~zero).sum()),
                                                                                       dtype=torch.float64))
    torch.testing.assert_close(l1_proximal_step(w_star, torch.zeros_like(w_star), lr=0.5, alpha=2.0), w)


def test_l1_gives_exact_zeros_in_the_notebook():
    lines = stored_output("02_mlp_fundamentals", "code-reg-04").splitlines()
    zeros = {line.split("  ")[0].strip(): int(line.rsplit(":", 1)[1]) for line in lines if "exact zeros" in line}
    assert zeros == {"L2 (weight decay)": 0, "L1, subgradient step": 0, "L1, proximal step": 7}


def test_early_stopping_follows_the_slides_algorithm():
    # Algorithm 7.1 by hand: the new best resets the count; patience 2 stops at evaluation 6; best is 4.
    curve = [0.9, 0.7, 0.6, 0.65, 0.55, 0.58, 0.6, 0.5]
    assert early_stopping_point(curve, patience=2) == (4, 6)
    assert early_stopping_point(curve, patience=3) == (7, 7)                 # never fires: runs to the end
    es = EarlyStopping(patience=1)
    assert [es.step(v) for v in (1.0, 1.0)] == [False, True]                 # equal is not better
    assert "evaluation 6: error 0.6   best so far 0.55  (at 4)  evaluations without a new best: 2  -> stop" in (
        stored_output("02_mlp_fundamentals", "code-reg-10"))


def test_label_smoothing_slides_and_pytorch():
    k, eps, label = 10, 0.1, torch.tensor([3])
    slides = smooth_labels(label, k, eps)[0]
    expected = torch.full((k,), eps / (k - 1))
    expected[3] = 1 - eps
    torch.testing.assert_close(slides, expected)
    logits = torch.tensor([[0.5, -1.0, 0.2, 2.5, 0.0, -0.3, 1.0, 0.1, -2.0, 0.4]])
    # PyTorch's own soft-target cross-entropy, against its label_smoothing
    for s, target in ((pytorch_smoothing(eps, k), slides), (eps, smooth_labels(label, k, eps, spread="all")[0])):
        torch.testing.assert_close(nn.CrossEntropyLoss(label_smoothing=s)(logits, label),
                                   F.cross_entropy(logits, target[None]))
    assert pytorch_smoothing(eps, k) == pytest.approx(1 / 9)
    out = stored_output("02_mlp_fundamentals", "code-reg-12")
    assert "by hand 0.8807, nn.CrossEntropyLoss(label_smoothing=0.1111) 0.8807" in out


def test_mnist_numbers_of_the_slides_are_quoted():
    text = markdown("02_mlp_fundamentals", "md-mnist-01")
    for number in ("0.3201", "0.0465", "0.9868", "0.97"):
        assert number in text
