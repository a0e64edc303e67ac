"""course_utils.grading: a checkpoint is graded, or fails with a CheckpointError that says why."""

import pytest
import torch
from torch import nn

from course_utils.data import synthetic_dataset
from course_utils.grading import CheckpointError, checkpoint_accuracy, load_model
from course_utils.train import save_checkpoint


def small():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))


def test_accuracy_of_a_saved_model_matches_its_predictions(tmp_path):
    torch.manual_seed(0)
    net = small()
    path = save_checkpoint(tmp_path / "m.pt", net)
    data = synthetic_dataset("cifar10", "test", n=50)
    mean = torch.tensor(data.mean).view(1, 3, 1, 1)
    std = torch.tensor(data.std).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = (net.eval()((data.images.float() / 255 - mean) / std).argmax(1) == data.labels).float().mean().item()
    assert checkpoint_accuracy(path, small, data, batch_size=7) == pytest.approx(expected)


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "no checkpoint at"),
        ("corrupt", "not a readable checkpoint"),
        ("other_net", "does not fit this model"),
        ("build_fails", "build_model\\(\\) failed"),
    ],
)
def test_every_failure_is_a_checkpoint_error_with_a_reason(tmp_path, case, message):
    path = tmp_path / "m.pt"
    build = small
    if case == "corrupt":
        path.write_bytes(b"this is not a checkpoint")
    elif case == "other_net":
        save_checkpoint(path, nn.Linear(3, 10))
    elif case == "build_fails":
        save_checkpoint(path, small())
        build = lambda: (_ for _ in ()).throw(NotImplementedError())
    with pytest.raises(CheckpointError, match=message):
        load_model(path, build)


def test_wrong_output_shape_is_reported(tmp_path):
    build = lambda: nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 3))
    path = save_checkpoint(tmp_path / "m.pt", build())
    with pytest.raises(CheckpointError, match=r"expected logits \(5, 10\)"):
        checkpoint_accuracy(path, build, synthetic_dataset("cifar10", "test", n=5))


def test_an_answer_that_depends_on_the_order_fails(tmp_path):
    """A model that answers from how many images it has seen: each image is shown twice, in two orders."""
    seen = [0]

    class Counting(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3 * 32 * 32, 10)

        def forward(self, x):
            labels = (torch.arange(seen[0], seen[0] + len(x)) // 5) % 10
            seen[0] += len(x)
            return nn.functional.one_hot(labels, 10).float()

    path = save_checkpoint(tmp_path / "m.pt", Counting())
    with pytest.raises(CheckpointError, match="got a different class when shown again"):
        checkpoint_accuracy(path, Counting, synthetic_dataset("cifar10", "test", n=50), batch_size=10)


def test_the_order_is_secret_and_new_each_time():
    from course_utils.grading import _secret_order

    orders = [_secret_order(500)[0] for _ in range(3)]
    assert not torch.equal(orders[0], orders[1]) and not torch.equal(orders[1], orders[2])
    assert not torch.equal(orders[0], torch.randperm(500, generator=torch.Generator().manual_seed(0)))
    assert sorted(orders[0].tolist()) == list(range(500))


def test_a_checkpoint_that_unpacks_to_too_much_is_refused_before_it_is_read(tmp_path):
    import zipfile

    path = tmp_path / "m.pt"
    save_checkpoint(path, small())
    with zipfile.ZipFile(path, "a") as z:  # a member of 300 MB of zeros, deflated to a few hundred KB
        entry = zipfile.ZipInfo("archive/padding")
        entry.compress_type = zipfile.ZIP_DEFLATED
        with z.open(entry, "w", force_zip64=True) as f:
            for _ in range(300):
                f.write(bytes(1 << 20))
    assert path.stat().st_size < 5 << 20
    with pytest.raises(CheckpointError, match="unpacks to 300 MB, more than the 200 MB"):
        load_model(path, small)


def test_the_level_tests_share_one_measurement_until_something_changes(tmp_path, monkeypatch):
    """Three level cells measure once; new checkpoint bytes or a redefined build_model measure again."""
    import course_utils.grading as grading

    calls = []
    real = grading._measure
    monkeypatch.setattr(grading, "_measure", lambda *a: calls.append(1) or real(*a))
    data = synthetic_dataset("cifar10", "test", n=30)
    torch.manual_seed(0)

    def build():
        return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))

    path = save_checkpoint(tmp_path / "m.pt", build())
    first = [checkpoint_accuracy(path, build, data) for _ in range(3)]
    assert len(calls) == 1 and len(set(first)) == 1
    save_checkpoint(path, build())  # retrained: other weights, other bytes
    checkpoint_accuracy(path, build, data)
    assert len(calls) == 2

    def build():  # the student redefines it in a later cell
        return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))

    checkpoint_accuracy(path, build, data)
    assert len(calls) == 3
