"""Interactive explorers for lectures, built on ipywidgets.

Each explorer is a function that returns a widget box; its drawing code is a plain
function too, so tests can call it without a browser. The activation explorer
(``02_mlp_fundamentals``: every activation of the slides, with its derivative) is here;
the convolution and receptive-field explorers (``03_convolution``, ``06b_hw2_receptive_field``)
are in :mod:`course_utils.conv_widgets`, and importable from here too.

Example:
    >>> # from course_utils.widgets import activation_explorer; activation_explorer()
"""

from __future__ import annotations

from collections.abc import Callable as _Callable

import torch as _torch

from .conv_widgets import (
    conv_explorer,
    draw_conv,
    draw_receptive_field,
    receptive_field_explorer,
    receptive_field_layers,
)
from .plot import figure_png as _png

__all__ = ["ACTIVATIONS", "make_activation", "draw_activation", "activation_explorer"]
__all__ += ["receptive_field_layers", "draw_receptive_field", "receptive_field_explorer", "draw_conv", "conv_explorer"]

# name -> (parameter name or None, default, (min, max, step) of the slider, formula)
ACTIVATIONS: dict[str, tuple[str | None, float | None, tuple[float, float, float] | None, str]] = {
    "Sigmoid": (None, None, None, "1 / (1 + exp(-x))"),
    "Tanh": (None, None, None, "(exp(x) - exp(-x)) / (exp(x) + exp(-x))"),
    "ReLU": (None, None, None, "max(0, x)"),
    "ReLU6": (None, None, None, "min(max(0, x), 6)"),
    "LeakyReLU": ("negative_slope", 0.1, (0.0, 1.0, 0.01), "x if x >= 0 else negative_slope * x"),
    "GELU": (None, None, None, "x * Phi(x)  (Phi: the standard normal CDF)"),
    "Swish": ("beta", 1.0, (0.1, 5.0, 0.1), "x * sigmoid(beta * x)  (SiLU when beta = 1)"),
    "Hardswish": (None, None, None, "0 if x <= -3, x if x >= 3, else x (x + 3) / 6"),
}


def make_activation(name: str, param: float | None = None) -> _Callable[[_torch.Tensor], _torch.Tensor]:
    """The activation ``name`` of :data:`ACTIVATIONS` as a function of a tensor (any shape in, same shape out).

    ``param`` is LeakyReLU's ``negative_slope`` or Swish's ``beta`` (default: the table's); other
    activations take none. Swish with ``beta = 1`` is ``torch.nn.SiLU``.

    Example:
        >>> make_activation("LeakyReLU", 0.2)(_torch.tensor([-1.0, 2.0]))
        tensor([-0.2000,  2.0000])
    """
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {list(ACTIVATIONS)}")
    pname, default = ACTIVATIONS[name][:2]
    if pname is None:
        if param is not None:
            raise ValueError(f"{name} takes no parameter, got {param!r}")
        return {
            "Sigmoid": _torch.nn.Sigmoid,
            "Tanh": _torch.nn.Tanh,
            "ReLU": _torch.nn.ReLU,
            "ReLU6": _torch.nn.ReLU6,
            "GELU": _torch.nn.GELU,
            "Hardswish": _torch.nn.Hardswish,
        }[name]()
    p = float(default if param is None else param)
    if name == "LeakyReLU":
        return _torch.nn.LeakyReLU(negative_slope=p)
    return lambda x: x * _torch.sigmoid(p * x)  # Swish


def _label(name: str, param: float | None) -> str:
    pname, default = ACTIVATIONS[name][:2]
    if pname is None:
        return name
    return f"{name}({pname}={float(default if param is None else param):g})"


def draw_activation(name: str, param: float | None = None, ax=None, x: _torch.Tensor | None = None):
    """Draw activation ``name`` (with its parameter) and its derivative; return the figure.

    The plain drawing function behind :func:`activation_explorer`, callable without a browser.

    Example:
        >>> fig = draw_activation("Swish", 2.0)
        >>> [line.get_label() for line in fig.axes[0].lines[:2]]
        ['Swish(beta=2)', 'derivative']
    """
    from .plot import plot_activation

    fig = plot_activation(make_activation(name, param), _label(name, param), x=x, ax=ax)
    ax = ax if ax is not None else fig.axes[0]
    ax.set_ylim(-2.5, 6.5)
    ax.set_xlabel("x")
    return fig


def activation_explorer(name: str = "LeakyReLU", param: float | None = None):
    """A widget: pick an activation, move its parameter, see the function and its derivative.

    Returns an ``ipywidgets.VBox`` whose parts are also attributes: ``choice`` (Dropdown),
    ``param`` (FloatSlider; disabled for activations without a parameter), ``caption`` (HTML
    with the formula and f, f' at x = -2, 0, 2) and ``image`` (Image, the plot as PNG).
    Changing ``choice.value`` or ``param.value`` redraws, in the notebook or from code.

    Example:
        >>> box = activation_explorer("ReLU")
        >>> box.choice.value, box.param.disabled
        ('ReLU', True)
    """
    import ipywidgets as w

    make_activation(name, param)  # unknown name or a parameter it does not take: ValueError
    pname, _, rng, _ = ACTIVATIONS[name]
    if param is not None and not rng[0] <= param <= rng[1]:
        raise ValueError(f"{pname} of the explorer must lie in [{rng[0]}, {rng[1]}], got {param}")
    choice = w.Dropdown(options=list(ACTIVATIONS), value=name, description="activation")
    slider = w.FloatSlider(
        value=0.1, min=0.0, max=1.0, step=0.01, description="parameter", continuous_update=False, readout_format=".2f"
    )
    caption = w.HTML()
    image = w.Image(format="png")
    busy = [False]  # no redraw while the slider is being reconfigured

    def configure(name: str, value: float | None) -> None:
        pname, default, rng, _ = ACTIVATIONS[name]
        slider.disabled = pname is None
        if pname is not None:
            busy[0] = True
            try:
                lo, hi, step = rng
                # widen first so that a new min/max never clashes with the old value
                slider.min, slider.max = min(lo, slider.min), max(hi, slider.max)
                slider.value = float(default if value is None else value)
                slider.min, slider.max, slider.step = lo, hi, step
                slider.description = pname.replace("_", " ")
            finally:
                busy[0] = False
        else:
            slider.description = "(no parameter)"

    def redraw(*_) -> None:
        if busy[0]:
            return
        name = choice.value
        p = slider.value if ACTIVATIONS[name][0] is not None else None
        fn = make_activation(name, p)
        x = _torch.tensor([-2.0, 0.0, 2.0], requires_grad=True)
        y = fn(x)
        (dy,) = _torch.autograd.grad(y.sum(), x)
        vals = ", ".join(
            f"f({a:g}) = {b:.3f}, f'({a:g}) = {c:.3f}" for a, b, c in zip(x.tolist(), y.tolist(), dy.tolist())
        )
        caption.value = f"<b>{_label(name, p)}</b>: f(x) = {ACTIVATIONS[name][3]}<br>{vals}"
        image.value = _png(draw_activation(name, p))

    def on_choice(change) -> None:
        configure(change["new"], None)
        redraw()

    configure(name, param)
    redraw()
    choice.observe(on_choice, names="value")
    slider.observe(redraw, names="value")
    box = w.VBox([w.HBox([choice, slider]), caption, image])
    box.choice, box.param, box.caption, box.image = choice, slider, caption, image
    return box
