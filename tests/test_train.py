"""course_utils.train: the loop learns, evaluate is right, seeding, schedules, checkpoints."""

import pytest
import torch
from torch import nn

from course_utils.data import TensorLoader, synthetic_dataset
from course_utils.train import (
    History,
    evaluate,
    fit,
    get_device,
    load_checkpoint,
    save_checkpoint,
    seed_everything,
    warmup_cosine,
)


def test_fit_learns_the_stand_in():
    seed_everything(0)
    train = synthetic_dataset("fashion_mnist", "train", n=1000)
    test = synthetic_dataset("fashion_mnist", "test", n=300)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    _, before = evaluate(net, TensorLoader(test, 100))
    h = fit(
        net,
        TensorLoader(train, 50, shuffle=True),
        TensorLoader(test, 100),
        epochs=3,
        lr=0.05,
        device="cpu",
        progress=False,
    )
    assert len(h.train_loss) == len(h.val_acc) == 3
    assert h.train_loss[-1] < h.train_loss[0]
    assert h.val_acc[-1] > max(before, 0.3)


def test_evaluate_counts_correctly():
    class Fixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))

        def forward(self, x):  # predicts class 0 for every input
            out = torch.zeros(len(x), 3)
            out[:, 0] = 1
            return out + 0 * self.w

    X, y = torch.zeros(4, 2), torch.tensor([0, 0, 1, 2])
    loss, acc = evaluate(Fixed(), [(X[:2], y[:2]), (X[2:], y[2:])])
    assert acc == 0.5
    assert loss == pytest.approx(nn.functional.cross_entropy(Fixed()(X), y).item())
    with pytest.raises(ValueError, match="no batches"):
        evaluate(Fixed(), [])


def test_seeding_is_reproducible():
    g1 = seed_everything(3)
    a = torch.randn(3), torch.rand(2, generator=g1)
    g2 = seed_everything(3)
    b = torch.randn(3), torch.rand(2, generator=g2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_device_is_usable():
    assert torch.zeros(1, device=get_device()).device.type == get_device().type


def test_warmup_cosine_shape():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = warmup_cosine(opt, total_steps=10, warmup_steps=2)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.5) and lrs[1] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[1:], lrs[2:])) and lrs[-1] < 0.05
    with pytest.raises(ValueError):
        warmup_cosine(opt, total_steps=5, warmup_steps=5)


def test_checkpoint_round_trip_and_errors(tmp_path):
    net = nn.Linear(3, 2)
    path = save_checkpoint(tmp_path / "sub" / "net.pt", net, epoch=4)
    other = nn.Linear(3, 2)
    extra = load_checkpoint(path, other)
    assert extra == {"epoch": 4} and torch.equal(other.weight, net.weight)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt", other)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt", other)
    with pytest.raises(ValueError, match="does not fit this model"):
        load_checkpoint(path, nn.Linear(4, 2))


def test_history_repr_and_log():
    h = History()
    h.log(train_loss=2, val_acc=0.25)
    assert h.train_loss == [2.0] and "1 epochs" in repr(h)
