"""The activation explorer of 02_mlp_fundamentals: its drawing and callback code paths, without a browser."""

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch

from course_utils.widgets import ACTIVATIONS, activation_explorer, draw_activation, make_activation

TORCH = {  # what each name must compute, written with PyTorch's own functions
    "Sigmoid": lambda x, p: torch.sigmoid(x),
    "Tanh": lambda x, p: torch.tanh(x),
    "ReLU": lambda x, p: torch.relu(x),
    "ReLU6": lambda x, p: torch.nn.functional.relu6(x),
    "LeakyReLU": lambda x, p: torch.nn.functional.leaky_relu(x, p),
    "GELU": lambda x, p: torch.nn.functional.gelu(x),
    "Swish": lambda x, p: x * torch.sigmoid(p * x),
    "Hardswish": lambda x, p: torch.nn.functional.hardswish(x),
}
CASES = [
    (n, p)
    for n, (pname, default, rng, _) in ACTIVATIONS.items()
    for p in ([None] if pname is None else [None, rng[0], default, rng[1]])
]


def test_the_slides_activations_are_all_there():
    assert set(ACTIVATIONS) == set(TORCH)


@pytest.mark.parametrize("name, param", CASES)
def test_draw_activation_plots_the_function_and_its_derivative(name, param):
    fig = draw_activation(name, param)
    try:
        f_line, d_line = fig.axes[0].lines[:2]
        x = torch.as_tensor(f_line.get_xdata(), dtype=torch.float64)
        p = param if param is not None else ACTIVATIONS[name][1]
        torch.testing.assert_close(
            torch.as_tensor(f_line.get_ydata(), dtype=torch.float64), TORCH[name](x, p), rtol=1e-4, atol=1e-5
        )
        xg = x.clone().requires_grad_(True)
        (dy,) = torch.autograd.grad(TORCH[name](xg, p).sum(), xg)
        torch.testing.assert_close(torch.as_tensor(d_line.get_ydata(), dtype=torch.float64), dy, rtol=1e-4, atol=1e-4)
        assert d_line.get_label() == "derivative"
        if param is not None:
            assert f"={param:g}" in f_line.get_label()
    finally:
        plt.close(fig)


def test_draw_activation_on_given_axes_and_points():
    fig, ax = plt.subplots()
    try:
        out = draw_activation("ReLU6", ax=ax, x=torch.tensor([-1.0, 3.0, 8.0]))
        assert out is fig and list(ax.lines[0].get_ydata()) == [0.0, 3.0, 6.0]
    finally:
        plt.close(fig)


def test_swish_with_beta_one_is_silu():
    x = torch.linspace(-5, 5, 101)
    torch.testing.assert_close(make_activation("Swish", 1.0)(x), torch.nn.SiLU()(x))


@pytest.mark.parametrize(
    "bad, match", [(("Softplus", None), "unknown activation"), (("ReLU", 0.5), "takes no parameter")]
)
def test_make_activation_rejects_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        make_activation(*bad)


def test_explorer_redraws_when_the_activation_changes():
    matplotlib.pyplot.close("all")  # figures other tests of this process left open are not the explorer's
    box = activation_explorer("Sigmoid")
    assert box.param.disabled and box.image.value[:4] == b"\x89PNG"
    seen = {box.image.value}
    for name in ACTIVATIONS:
        if name == "Sigmoid":
            continue
        before = (box.image.value, box.caption.value)
        box.choice.value = name
        assert box.image.value != before[0] and box.caption.value != before[1], name
        assert name in box.caption.value
        assert box.param.disabled == (ACTIVATIONS[name][0] is None)
        if not box.param.disabled:
            assert box.param.value == ACTIVATIONS[name][1]  # each starts at its default
        seen.add(box.image.value)
    assert len(seen) == len(ACTIVATIONS)
    assert len(matplotlib.pyplot.get_fignums()) == 0, "the explorer must close its figures"


@pytest.mark.parametrize("name, values", [("LeakyReLU", [0.0, 0.3, 1.0]), ("Swish", [0.5, 2.0, 5.0])])
def test_explorer_redraws_when_the_parameter_changes(name, values):
    box = activation_explorer(name)
    assert box.param.description == ACTIVATIONS[name][0].replace("_", " ")
    lo, hi = ACTIVATIONS[name][2][:2]
    assert (box.param.min, box.param.max) == (lo, hi)
    for v in values:
        before = box.image.value
        box.param.value = v
        assert box.image.value != before
        f_m2 = float(TORCH[name](torch.tensor(-2.0), v))
        assert f"f(-2) = {f_m2:.3f}" in box.caption.value, box.caption.value


def test_explorer_keeps_a_parameter_within_the_next_activations_range():
    box = activation_explorer("Swish", 4.0)  # beyond LeakyReLU's slider range
    box.choice.value = "LeakyReLU"
    assert box.param.value == ACTIVATIONS["LeakyReLU"][1] and box.param.max == 1.0
    box.choice.value = "Swish"
    assert box.param.value == 1.0 and box.param.max == 5.0


@pytest.mark.parametrize("args", [("Softplus",), ("ReLU", 0.2), ("LeakyReLU", 3.0)])
def test_explorer_rejects_bad_arguments(args):
    with pytest.raises(ValueError):
        activation_explorer(*args)
