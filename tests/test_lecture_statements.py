"""Statements in the lectures' text, checked against PyTorch (or scikit-learn, torchvision) and against the
numbers the recorded run stores beside them.

Expected values come from the libraries themselves or from literals worked out by hand, never from the
notebook under test; the notebook's text and stored outputs are then compared with them.
"""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn

from course_utils import models
from course_utils.ladder import GENERALIZATION_LADDER, TRAINING_LADDER, Budget, ladder_budgets, slide_net, train_rung
from test_slide_examples import markdown, stored_output

# ---------------------------------------------------------------- 02: autograd at the kinks of an activation

# (module, kink, left slope, right slope): the one-sided slopes worked out from each formula
KINKS = {
    "ReLU at 0": (nn.ReLU(), 0.0, 0.0, 1.0),
    "ReLU6 at 0": (nn.ReLU6(), 0.0, 0.0, 1.0),
    "ReLU6 at 6": (nn.ReLU6(), 6.0, 1.0, 0.0),
    "Hardtanh at -1": (nn.Hardtanh(), -1.0, 0.0, 1.0),
    "Hardtanh at 1": (nn.Hardtanh(), 1.0, 1.0, 0.0),
    "LeakyReLU(0.1) at 0": (nn.LeakyReLU(0.1), 0.0, 0.1, 1.0),
    "Hardswish at -3": (nn.Hardswish(), -3.0, 0.0, -0.5),  # (2x + 3) / 6 at x = -3
    "Hardswish at 3": (nn.Hardswish(), 3.0, 1.5, 1.0),  # (2x + 3) / 6 at x = 3
}


def test_autograd_at_kinks_is_each_functions_convention():
    rows = {}
    for line in stored_output("02_mlp_fundamentals", "code-kink-02").splitlines()[1:]:
        name, numbers = line[:22].strip(), [float(v) for v in line[22:].split()]
        rows[name] = numbers
    assert sorted(rows) == sorted(KINKS)
    chosen = set()
    for name, (fn, x0, left, right) in KINKS.items():
        x = torch.tensor(x0, requires_grad=True)
        (grad,) = torch.autograd.grad(fn(x), x)
        assert grad.item() in (pytest.approx(left), pytest.approx(right)), name  # one of the one-sided slopes
        assert rows[name] == pytest.approx([left, right, grad.item()], abs=0.005), name
        chosen.add("left" if grad.item() == pytest.approx(left) else "right")
    assert chosen == {"left", "right"}  # no single side: "the slope of the left piece" would be wrong
    before, after = markdown("02_mlp_fundamentals", "md-017"), markdown("02_mlp_fundamentals", "md-kink-01")
    assert "left piece there" not in before
    assert "*right* slope at\nReLU6's 6" in after and "LeakyReLU returns its negative slope at 0" in after


# ---------------------------------------------------------------- 02: scikit-learn's MLP and PyTorch's set-up


def test_sklearn_sgd_is_nesterov_with_l2_on_weights_over_the_batch():
    from sklearn.neural_network import MLPClassifier

    X = torch.randn(16, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64).numpy()
    y = (X[:, 0] > 0).astype(int)

    def one_step(alpha):
        clf = MLPClassifier(
            (4,), solver="sgd", learning_rate_init=0.1, alpha=alpha, momentum=0.0, batch_size=16, random_state=0
        )
        clf.partial_fit(X, y, classes=[0, 1])
        return clf

    start = MLPClassifier(
        (4,), solver="sgd", learning_rate_init=1e-12, alpha=0.0, momentum=0.0, batch_size=16, random_state=0
    )
    start.partial_fit(X, y, classes=[0, 1])  # a step of 1e-12 leaves the starting weights (same random_state)
    with_l2, without = one_step(0.5), one_step(0.0)
    for W0, a, b in zip(start.coefs_, with_l2.coefs_, without.coefs_):  # the penalty's step: -lr * alpha * W / n
        torch.testing.assert_close(torch.tensor(a - b), torch.tensor(-0.1 * 0.5 * W0 / 16), rtol=1e-6, atol=1e-9)
    for a, b in zip(with_l2.intercepts_, without.intercepts_):  # biases carry no penalty
        torch.testing.assert_close(torch.tensor(a), torch.tensor(b))
    assert MLPClassifier().nesterovs_momentum is True
    assert torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9).defaults["nesterov"] is False
    text = markdown("02_mlp_fundamentals", "md-060")
    assert "*Nesterov* momentum 0.9" in text and "plain (heavy-ball) momentum" in text
    assert "on the weights (not the\n  biases), divided by the batch size" in text


# ---------------------------------------------------------------- 05: how often a CNN uses each parameter


def _macs(net: nn.Module, shape: tuple[int, ...]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        net(torch.zeros(shape))
    return counter.get_total_flops() // 2  # one multiply-accumulate is two floating-point operations


def test_macs_per_parameter_in_05():
    def cnn(c, side):
        convs = [nn.Conv2d(a, b, 7) for a, b in ((c, 32), (32, 64), (64, 128), (128, 256))]
        return nn.Sequential(*convs, nn.Flatten(), nn.Linear(side * side * 256, 128), nn.Linear(128, 10))

    nets = {
        "fm_mlp": (nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.Linear(256, 10)), (1, 1, 28, 28)),
        "fm_cnn": (cnn(1, 4), (1, 1, 28, 28)),
        "c10_mlp": (nn.Sequential(nn.Flatten(), nn.Linear(3072, 256), nn.Linear(256, 10)), (1, 3, 32, 32)),
        "c10_cnn": (cnn(3, 8), (1, 3, 32, 32)),
    }
    macs = {k: _macs(net, shape) for k, (net, shape) in nets.items()}
    per_param = {k: macs[k] / sum(p.numel() for p in nets[k][0].parameters()) for k in nets}
    assert round(per_param["fm_cnn"]) == 35 and round(per_param["c10_cnn"]) == 54
    assert round(macs["c10_cnn"] / macs["c10_mlp"], -1) == 290 and round(macs["fm_cnn"] / macs["fm_mlp"], -1) == 460
    table = stored_output("05_mlp_vs_cnn", "code-026")
    assert re.search(r"Fashion-MNIST  simple CNN .* 35\.2\n", table) and re.search(
        r"CIFAR-10 +simple CNN .* 53\.9", table
    )
    summary = markdown("05_mlp_vs_cnn", "md-054")
    assert "hundreds of times" not in summary
    assert "uses each one 35 (Fashion-MNIST) and 54 (CIFAR-10) times per image" in summary
    assert "290 to 460 times" in summary


# ---------------------------------------------------------------- 07: weight decay, the ladders' details


@pytest.mark.parametrize("optimizer", [torch.optim.SGD, torch.optim.Adam])
def test_weight_decay_is_the_gradient_of_half_lambda_w_squared(optimizer):
    lam, X = 5e-2, torch.randn(8, 3, generator=torch.Generator().manual_seed(1))
    w0 = torch.tensor([1.0, -2.0, 0.5])
    w_decay, w_penalty = nn.Parameter(w0.clone()), nn.Parameter(w0.clone())
    for _ in range(3):
        for w, wd, extra in ((w_decay, lam, 0.0), (w_penalty, 0.0, lam / 2)):
            opt = optimizer([w], lr=0.1, weight_decay=wd)
            opt.zero_grad()
            ((X @ w).square().mean() + extra * w.square().sum()).backward()
            opt.step()
        torch.testing.assert_close(w_decay.detach(), w_penalty.detach())
    text = markdown("07_training_cnns", "md-028")
    assert "$\\frac{\\lambda}{2} \\lVert W \\rVert^2$ to the loss, whose gradient is $\\lambda W$" in text


def test_lr_decay_trains_its_last_epoch_at_gamma_to_the_epochs_minus_one(monkeypatch):
    from course_utils.data import synthetic_dataset

    rung = next(r for r in GENERALIZATION_LADDER if r.name == "+ LR decay")
    used = []
    step = torch.optim.Adam.step
    monkeypatch.setattr(
        torch.optim.Adam,
        "step",
        lambda self, *a, **k: (used.append(self.param_groups[0]["lr"]), step(self, *a, **k))[1],
    )
    data = synthetic_dataset("cifar10", "test", n=64)
    train_rung(rung, data, data, Budget(64, 64, epochs=3, width_scale=0.05, batch_size=32), progress=False)
    assert used == pytest.approx([rung.lr * rung.lr_gamma**e for e in (0, 0, 1, 1, 2, 2)])
    epochs = ladder_budgets("cpu")["generalization"].epochs
    assert epochs == 15 and 0.96 ** (epochs - 1) == pytest.approx(0.5647, abs=1e-4)
    for cid in ("md-034", "md-036"):
        assert "0.96^14" in markdown("07_training_cnns", cid) and "0.96^15" not in markdown("07_training_cnns", cid)


def test_the_generalization_ladders_shortcut_has_batch_norm_and_the_text_says_so():
    def shortcut(rung):
        return slide_net(rung, 0.25)[0].shortcut

    fix5 = next(r for r in TRAINING_LADDER if r.name == "fix 5: skip connections")
    skip = next(r for r in GENERALIZATION_LADDER if r.name == "+ skip connections")
    assert [type(m) for m in shortcut(fix5)] == [nn.Conv2d, nn.ReLU]
    assert [type(m) for m in shortcut(skip)] == [nn.Conv2d, nn.ReLU, nn.BatchNorm2d]
    assert "the shortcut also ends with a `BatchNorm2d`" in markdown("07_training_cnns", "md-036")
    assert ladder_budgets("cpu")["generalization"].n_test == ladder_budgets("cpu")["training"].n_test == 1000
    se = math.sqrt(0.4 * 0.6 / 1000)  # the standard error of one accuracy near 40% on 1,000 images
    assert round(se * 100, 1) == 1.5
    for cid in ("md-017", "md-036"):
        assert "the same 1,000 of CIFAR-10's 10,000 test images" in markdown("07_training_cnns", cid)


def test_07_text_quotes_the_recorded_ladders():
    """Each figure the reading of the ladders quotes is the recorded run's (train and test, in %)."""
    rows = {}
    for cid in ("code-012", "code-031"):
        for line in stored_output("07_training_cnns", cid).splitlines()[2:]:
            name, cols = line[:29].strip(), line[29:].split()
            rows[name] = (float(cols[2]), float(cols[3]))
    reading = markdown("07_training_cnns", "md-015") + markdown("07_training_cnns", "md-034")
    quoted = {
        "2 conv, sigmoid": "33.6% training, 28.6% against\n  30.7% test",
        "plain": "training accuracy 99.9%, test 38.8%",
        "+ RandomErasing": "75.8% training, 40.4% test",
        "+ batch norm": "85.7% and 41.1%",
        "+ dropout": "48.8% and 43.6%",
        "+ skip connections": "fell from 42.4% to 36.5%",
    }
    for text in quoted.values():
        assert text in reading, text
    assert rows["2 conv, sigmoid"] == (33.6, 30.7) and rows["3 conv, sigmoid"] == (30.0, 28.6)
    assert rows["plain"] == (99.9, 38.8) and rows["+ RandomErasing"] == (75.8, 40.4)
    assert rows["+ batch norm"] == (85.7, 41.1) and rows["+ dropout"] == (48.8, 43.6)
    assert rows["+ capacity, more aug"][1] == 42.4 and rows["+ skip connections"] == (43.7, 36.5)
    gaps = [round(rows[r][0] - rows[r][1]) for r in ("+ RandomErasing", "+ batch norm", "+ dropout")]
    assert gaps == [35, 45, 5]  # narrowed, widened, closed: as the text says


# ---------------------------------------------------------------- 09: published parameter counts


def test_09_summary_gives_published_counts_and_the_lectures_versions():
    from torchvision.models import get_model_weights

    rows = {}
    for line in markdown("09_modern_cnns", "md-049").splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 4 and cells[0] not in ("network", "---"):
            rows[cells[0]] = cells[2:]
    published = {"AlexNet": "alexnet", "VGG16": "vgg16", "GoogLeNet": "googlenet", "ResNet-18": "resnet18"}
    published["DenseNet"] = "densenet121"
    for row, name in published.items():
        n = get_model_weights(name).DEFAULT.meta["num_params"]
        assert f"{n:,}" in rows[row][0], (row, n, rows[row][0])
    with torch.device("meta"):
        ours = {
            "LeNet-5": models.lenet5(),
            "AlexNet": models.alexnet(in_channels=1, num_classes=10),
            "VGG16": models.vgg(models.VGG16_ARCH),
            "NiN": models.nin(in_channels=1, num_classes=10),
            "GoogLeNet": models.googlenet(in_channels=1, num_classes=10),
            "ResNet-18": models.resnet(),
            "DenseNet": models.densenet(in_channels=1, num_classes=10),
        }
    for row, net in ours.items():
        n = sum(p.numel() for p in net.parameters())
        assert f"{n:,}" in rows[row][1], (row, n, rows[row][1])
    assert "DenseNet-121: 7,978,856" in rows["DenseNet"][0] and "under 1 M" not in markdown("09_modern_cnns", "md-049")


# ---------------------------------------------------------------- 11: the 8-3-8 codes


def test_838_text_quotes_the_codes_that_are_not_near_0_or_1():
    hidden = {}
    for line in stored_output("11_autoencoders", "code-008").splitlines():
        m = re.match(r"input (\d): hidden \[(.*)\]", line)
        hidden[int(m.group(1))] = [float(v) for v in m.group(2).split(",")]
    far = [(i, v) for i, code in sorted(hidden.items()) for v in code if 0.15 < v < 0.85]  # near neither 0 nor 1
    text = markdown("11_autoencoders", "md-009")
    assert len(hidden) == 8 and far == [(0, 0.57), (2, 0.3), (5, 0.3), (7, 0.71)]
    assert "but four are not: 0.57 (input 0), 0.3 (inputs 2 and 5) and 0.71 (input 7)" in text
