"""The fast CIFAR-10 recipe (course_utils.recipe) and its benchmark script, on tiny synthetic budgets.

Only behaviour is checked here; speed and accuracy targets live in benchmarks/cifar10_speed.py.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from course_utils.data import TensorLoader, synthetic_dataset
from course_utils.recipe import (
    Lookahead,
    Muon,
    RecipeConfig,
    init_whitening,
    lr_factor,
    muon_optimizers,
    orthogonalize,
    predict,
    recipe_net,
    recipe_optimizer,
    train_recipe,
)

REPO = Path(__file__).resolve().parent.parent


def test_whitening_conv_decorrelates_patches():
    g = torch.Generator().manual_seed(0)
    mix = torch.tensor([[1.0, 0.8, 0.2], [0.0, 0.6, 0.5], [0.0, 0.0, 0.3]])
    x = torch.einsum("dc,nchw->ndhw", mix, torch.randn(400, 3, 8, 8, generator=g))  # correlated channels
    conv = torch.nn.Conv2d(3, 24, 2, bias=False)
    init_whitening(conv, x, eps=0.0)
    out = conv(x)[:, :12].permute(0, 2, 3, 1).reshape(-1, 12)
    cov = out.T @ out / len(out)
    torch.testing.assert_close(cov, torch.eye(12), atol=2e-3, rtol=0)
    torch.testing.assert_close(conv.weight[12:], -conv.weight[:12])
    assert not conv.weight.requires_grad


def test_whitening_rejects_wrong_shapes():
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        init_whitening(torch.nn.Conv2d(3, 24, 2), torch.zeros(4, 1, 8, 8))
    with pytest.raises(ValueError, match="24 filters"):
        init_whitening(torch.nn.Conv2d(3, 16, 2), torch.zeros(4, 3, 8, 8))


def test_convolutions_start_as_identity_and_bn_scale_is_frozen():
    net = recipe_net((8, 16, 16))
    conv = net[2][4]  # second conv of the first group: 8 -> 8 channels
    x = torch.randn(1, 8, 5, 5)
    torch.testing.assert_close(conv(x), x)
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(not b.weight.requires_grad and b.bias.requires_grad for b in bns)


def test_optimizer_groups_and_schedule():
    cfg = RecipeConfig(batch_size=256)
    opt = recipe_optimizer(recipe_net((8, 16, 16)), cfg)
    bias_group, other = opt.param_groups
    assert bias_group["nesterov"] and bias_group["lr"] == pytest.approx(64 * other["lr"])
    # the same absolute weight decay per step in both groups
    assert bias_group["lr"] * bias_group["weight_decay"] == pytest.approx(other["lr"] * other["weight_decay"])
    factors = [lr_factor(p / 100) for p in range(101)]
    peak = max(range(101), key=factors.__getitem__)
    assert 20 <= peak <= 25 and factors[0] < factors[peak] and factors[-1] < factors[peak]


@pytest.mark.parametrize("shape", [(16, 40), (40, 16), (24, 24)])
def test_orthogonalize_equalises_singular_values(shape):
    gen = torch.Generator().manual_seed(sum(shape))
    k = min(shape)
    u, _ = torch.linalg.qr(torch.randn(shape[0], k, generator=gen))
    v, _ = torch.linalg.qr(torch.randn(shape[1], k, generator=gen))
    g = u @ torch.diag(torch.logspace(-1, 0, k)) @ v.T  # singular values 0.1 ... 1
    o = orthogonalize(g)
    s = torch.linalg.svdvals(o)
    assert o.shape == g.shape and s.min() > 0.5 and s.max() < 1.5, s
    cos = torch.nn.functional.cosine_similarity((u @ v.T).flatten(), o.flatten(), dim=0)
    assert cos > 0.95, f"not the direction U V^T of g: cosine {cos:.3f}"


def test_muon_keeps_the_filter_norm_and_moves_every_direction():
    conv = torch.nn.Conv2d(4, 6, 3, bias=False)
    opt = Muon([conv.weight], lr=0.05, momentum=0.0)
    before = conv.weight.detach().clone()
    conv(torch.randn(8, 4, 7, 7)).square().sum().backward()
    opt.step()
    step = (conv.weight - before * (6**0.5 / before.norm())).reshape(6, -1) / -0.05
    torch.testing.assert_close(step, orthogonalize(conv.weight.grad.reshape(6, -1)), atol=1e-2, rtol=0)


def test_muon_groups_cover_every_trainable_parameter_once():
    net = recipe_net((8, 16, 16))
    init_whitening(net[0], torch.randn(20, 3, 8, 8))
    opts = muon_optimizers(net, RecipeConfig(optimizer="muon"))
    seen = [id(p) for o in opts for g in o.param_groups for p in g["params"]]
    assert sorted(seen) == sorted(id(p) for p in net.parameters() if p.requires_grad)
    assert all(p.ndim == 4 for p in opts[1].param_groups[0]["params"])


def test_alternating_flip_shows_each_image_both_ways_in_two_epochs():
    d = synthetic_dataset("cifar10", "train", n=64)
    loader = TensorLoader(d, 64, augment=dict(flip="alternate"))
    (a, _), (b, _) = next(iter(loader)), next(iter(loader))
    plain = (d.images.float() / 255 - loader.mean) / loader.std
    flipped = plain.flip(3)
    a_flipped = (a - flipped).flatten(1).abs().amax(1) < 1e-5
    b_flipped = (b - flipped).flatten(1).abs().amax(1) < 1e-5
    a_plain = (a - plain).flatten(1).abs().amax(1) < 1e-5
    assert torch.all(a_flipped ^ a_plain) and torch.all(a_flipped ^ b_flipped)
    assert 10 < a_flipped.sum() < 54


def test_recipe_records_whether_it_used_bf16():
    train = synthetic_dataset("cifar10", "train", n=256)
    test = synthetic_dataset("cifar10", "test", n=50)
    for forced in (True, False):
        cfg = RecipeConfig(widths=(8, 16, 16), epochs=1, batch_size=64, tta_level=0, bf16=forced)
        assert train_recipe(train, test, cfg, progress=False).config["bf16"] is forced
    auto = train_recipe(
        train, test, RecipeConfig(widths=(8, 16, 16), epochs=1, batch_size=64, tta_level=0), progress=False
    )
    assert isinstance(auto.config["bf16"], bool)


def test_lookahead_pulls_weights_back():
    net = torch.nn.Linear(3, 2)
    la = Lookahead(net)
    before = net.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(2.0)
    la.update(net, decay=0.75)
    torch.testing.assert_close(net.weight, before + 0.5)


def test_tta_on_a_mirror_symmetric_model_changes_nothing():
    net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 10))
    d = synthetic_dataset("cifar10", "test", n=12)
    plain, y = predict(net, TensorLoader(d, 5), tta_level=0)
    mirrored, _ = predict(net, TensorLoader(d, 5), tta_level=1)
    torch.testing.assert_close(plain, mirrored)
    assert plain.shape == (12, 10) and torch.equal(y, d.labels)


def test_recipe_learns_the_stand_in():
    train = synthetic_dataset("cifar10", "train", n=2048)
    test = synthetic_dataset("cifar10", "test", n=500)
    cfg = RecipeConfig(widths=(16, 32, 32), epochs=3, batch_size=128, optimizer="sgd", flip="random")
    r = train_recipe(train, test, cfg, progress=False)
    assert r.accuracy > 0.5, f"10 classes: chance is 0.1, the recipe reached only {r.accuracy:.3f}"
    assert [c["epoch"] for c in r.curve] == [1, 2, 3]
    assert r.images_seen == 3 * (2048 // 128) * 128


def test_recipe_with_muon_learns_the_stand_in():
    train = synthetic_dataset("cifar10", "train", n=2048)
    test = synthetic_dataset("cifar10", "test", n=500)
    cfg = RecipeConfig(
        widths=(16, 32, 32), epochs=3, batch_size=128, optimizer="muon", lookahead_every=0, flip="alternate"
    )
    r = train_recipe(train, test, cfg, progress=False)
    assert r.accuracy > 0.5, f"10 classes: chance is 0.1, the recipe reached only {r.accuracy:.3f}"


def test_time_budget_stops_training():
    train = synthetic_dataset("cifar10", "train", n=4096)
    test = synthetic_dataset("cifar10", "test", n=100)
    cfg = RecipeConfig(widths=(8, 16, 16), epochs=1000, batch_size=64, tta_level=0)
    r = train_recipe(train, test, cfg, budget_s=3.0, progress=False)
    assert r.images_seen < 1000 * 4096


def test_benchmark_script_end_to_end(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [
        sys.executable,
        str(REPO / "benchmarks" / "cifar10_speed.py"),
        "--synthetic",
        "--minutes",
        "0.05",
        "--device",
        "cpu",
        "--limit",
        "1000",
        "--out",
        str(out),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(out.read_text())
    for key in (
        "budget_minutes",
        "device",
        "torch",
        "hardware",
        "data",
        "recipe",
        "baseline",
        "load_average_before",
        "load_average_after",
    ):
        assert key in res, f"missing {key!r} in the benchmark JSON"
    assert res["data"]["source"] == "synthetic" and res["data"]["train_images"] == 1000
    for run in ("recipe", "baseline"):
        for key in (
            "final_accuracy",
            "wall_seconds",
            "images_per_second",
            "curve",
            "peak_rss_mb_process",
            "train_images_seen",
            "params",
        ):
            assert key in res[run], f"missing {key!r} in {run}"
        assert 0.0 <= res[run]["final_accuracy"] <= 1.0
    assert res["baseline"]["optimizer"] == dict(name="SGD", lr=0.001, momentum=0.9, batch_size=4)
    assert res["baseline"]["params"] == 62_006
    assert "recipe" in r.stdout and "baseline" in r.stdout
