"""The receptive-field explorer of 06b: layer stacks, the drawing function and the widget's callbacks (no browser)."""

import matplotlib
import pytest
import torch
import torch.nn.functional as F

from course_utils.widgets import draw_receptive_field, receptive_field_explorer, receptive_field_layers


def probe_gradient(layers, size, unit):
    """A reference gradient_map (all-ones one-channel convolutions), as a student would write it."""
    x = torch.zeros(1, 1, size, size, requires_grad=True)
    y = x
    for k, s, p, d in layers:
        y = F.conv2d(y, torch.ones(1, 1, k, k), stride=s, padding=p, dilation=d)
    y[0, 0, unit[0], unit[1]].backward()
    return x.grad[0, 0]


def formula(layers):
    rf, jump, start = 1, 1, 0
    for k, s, p, d in layers:
        rf += d * (k - 1) * jump
        start -= p * jump
        jump *= s
    return rf, jump, start


def test_layers_same_padding_and_pooling():
    assert receptive_field_layers(3, kernel=5) == [(5, 1, 2, 1)] * 3
    assert receptive_field_layers(1, kernel=3, stride=2, dilation=3, pool=True) == [(3, 2, 3, 3), (2, 2, 0, 1)]
    with pytest.raises(ValueError, match="kernel"):
        receptive_field_layers(2, kernel=0)


def test_draw_marks_zero_gradient_and_box():
    g = torch.zeros(10, 10)
    g[2:5, 3:6] = 1.0
    fig = draw_receptive_field(g, box=(2, 3, 3, 3), title="t")
    ax = fig.axes[0]
    assert ax.get_title() == "t"
    (rect,) = ax.patches
    assert (rect.get_x(), rect.get_y(), rect.get_width(), rect.get_height()) == (2.5, 1.5, 3, 3)
    shown = ax.images[0].get_array()
    assert shown.mask[0, 0] and not shown.mask[2, 3]  # zeros are left blank
    matplotlib.pyplot.close(fig)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        draw_receptive_field(torch.zeros(1, 4, 4))


def test_explorer_redraws_and_reports_the_field():
    box = receptive_field_explorer(probe_gradient, formula)
    st = box.state
    assert st["layers"] == [(3, 1, 1, 1)] * 2 and st["unit"] == (32, 32)
    assert st["box"] == (30, 30, 5, 5) and box.image.value[:4] == b"\x89PNG"
    assert "measured: non-zero gradient over 5x5" in box.caption.value
    box.stride.value = 2  # a callback path: the map and the box change
    assert box.state["layers"] == [(3, 2, 1, 1)] * 2 and box.state["box"][2] == 7
    nz = box.state["grad"].nonzero()
    assert (nz.max(0).values - nz.min(0).values + 1).tolist() == [7, 7]
    box.pool.value = True
    box.depth.value = 6
    box.size.value = 32  # 6 x (stride 2 + pool 4) cannot fit into 32 pixels
    assert "too small" in box.state["message"] and box.image.value == b""
    box.depth.value = 2  # 32 -> 16 -> 8 -> 4 -> 2: fits again
    rf, jump, start = formula(box.state["layers"])
    assert box.state["message"] == "" and box.state["unit"] == (1, 1)
    assert box.state["box"] == (start + jump, start + jump, rf, rf)


def test_explorer_before_the_student_implemented_anything():
    def stub(*args):
        raise NotImplementedError()

    box = receptive_field_explorer(stub)
    assert "Implement gradient_map" in box.caption.value and box.state["box"] is None
    box = receptive_field_explorer(probe_gradient)  # no formula: no red box, still a map
    assert box.state["box"] is None and box.state["grad"].shape == (64, 64)
    with pytest.raises(ValueError, match="size"):
        receptive_field_explorer(probe_gradient, size=50)
