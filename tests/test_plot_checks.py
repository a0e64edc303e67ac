"""course_utils.plot draws what it is given; course_utils.checks fails with readable messages."""

import matplotlib

matplotlib.use("Agg")
import pytest
import torch

from course_utils import plot
from course_utils.checks import check_close, check_equal, check_shape
from course_utils.train import History


def test_plot_history_overlays_runs():
    a, b = History(), History()
    for v in (1.0, 0.5):
        a.log(train_loss=v, val_loss=v + 0.1, train_acc=1 - v, val_acc=0.9 - v)
        b.log(train_loss=2 * v, train_acc=v)
    fig = plot.plot_history({"a": a, "b": b})
    loss_ax = fig.axes[0]
    labels = [ln.get_label() for ln in loss_ax.lines]
    assert labels == ["a train", "a val", "b train"]
    assert list(loss_ax.lines[0].get_ydata()) == [1.0, 0.5]


def test_show_images_titles_and_errors():
    imgs = torch.zeros(3, 3, 8, 8, dtype=torch.uint8)
    fig = plot.show_images(imgs, [0, 1, 2], classes=["cat", "dog", "cow"], preds=[0, 2, 2])
    titles = [ax.get_title() for ax in fig.axes[:3]]
    assert titles == ["cat\n(cat)", "cow\n(dog)", "cow\n(cow)"]
    assert fig.axes[1].title.get_color() == "red"
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        plot.show_images(torch.zeros(3, 8, 8))


def test_filters_feature_maps_activation():
    assert len(plot.show_filters(torch.randn(5, 3, 3, 3)).axes) == 5
    fig = plot.show_feature_maps(torch.randn(1, 4, 6, 6), title="conv1")
    assert "4 channels of 6x6" in fig._suptitle.get_text()
    with pytest.raises(ValueError, match="one image's feature map"):
        plot.show_feature_maps(torch.randn(2, 4, 6, 6))
    with pytest.raises(ValueError, match=r"\(out, in, kH, kW\)"):
        plot.show_filters(torch.randn(3, 3, 3))
    fig = plot.plot_activation(torch.relu, "ReLU")
    deriv = fig.axes[0].lines[1].get_ydata()
    assert deriv[0] == 0 and deriv[-1] == 1


def test_checks_messages():
    check_close(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0 + 1e-7]))
    with pytest.raises(AssertionError, match=r"relu: 1 of 3 values differ.*index \(1,\): expected 2, got 3"):
        check_close(torch.tensor([1.0, 3.0, 0.0]), torch.tensor([1.0, 2.0, 0.0]), "relu")
    with pytest.raises(AssertionError, match=r"expected shape \(2,\), got \(3,\)"):
        check_close(torch.zeros(3), torch.zeros(2))
    with pytest.raises(AssertionError, match="forget to return"):
        check_close(None, torch.zeros(2))
    with pytest.raises(AssertionError, match="NaN"):
        check_close(torch.tensor([float("nan")]), torch.tensor([1.0]))
    with pytest.raises(AssertionError, match="expected 760, got 750"):
        check_equal(750, 760)
    with pytest.raises(AssertionError, match="got list"):
        check_shape([1, 2], (2,))
