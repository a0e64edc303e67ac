"""Explorers of convolution geometry: where a kernel lands, and how far a stack of layers sees.

:func:`conv_explorer` (``03_convolution``) moves a kernel over a padded input for any size, stride,
padding and dilation; :func:`receptive_field_explorer` (``06b_hw2_receptive_field``) shows the
input gradient of one output unit of a stack of convolutions next to its analytic receptive field.
Each returns an ipywidgets box; the drawing functions behind them (:func:`draw_conv`,
:func:`draw_receptive_field`) are plain functions, callable without a browser. All are importable
from :mod:`course_utils.widgets` too.

Example:
    >>> receptive_field_layers(1, kernel=5)
    [(5, 1, 2, 1)]
"""

from __future__ import annotations

from .conv import kernel_positions
from .plot import figure_png
from .shapes import output_size

__all__ = ["receptive_field_layers", "draw_receptive_field", "receptive_field_explorer", "draw_conv", "conv_explorer"]


# --------------------------------------------------------------------------- receptive field (06b_hw2_receptive_field)
# The explorer only wires sliders to functions the student writes in 06b (``gradient_map`` and,
# optionally, ``receptive_field``): the answers stay in the notebook, the plumbing lives here.

LayerSpec = tuple  # (kernel, stride, padding, dilation) of one conv or pooling layer


def receptive_field_layers(
    depth: int, kernel: int = 3, stride: int = 1, dilation: int = 1, pool: bool = False
) -> list[LayerSpec]:
    """A stack of ``depth`` convolutions as ``(kernel, stride, padding, dilation)`` tuples.

    Each convolution has "same" padding ``dilation * (kernel - 1) // 2``; with ``pool`` each one is
    followed by a 2x2 pooling of stride 2, ``(2, 2, 0, 1)``. Used by :func:`receptive_field_explorer`
    (taught in ``06b_hw2_receptive_field``).

    Example:
        >>> receptive_field_layers(2, kernel=3, stride=1, dilation=2, pool=True)
        [(3, 1, 2, 2), (2, 2, 0, 1), (3, 1, 2, 2), (2, 2, 0, 1)]
    """
    for name, v in (("depth", depth), ("kernel", kernel), ("stride", stride), ("dilation", dilation)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    conv = (kernel, stride, dilation * (kernel - 1) // 2, dilation)
    layers: list[LayerSpec] = []
    for _ in range(depth):
        layers.append(conv)
        if pool:
            layers.append((2, 2, 0, 1))
    return layers


def draw_receptive_field(grad, box: tuple[int, int, int, int] | None = None, ax=None, title: str | None = None):
    """Heat map of an input-gradient map (H, W), with the analytic receptive field as a rectangle.

    Args:
        grad: tensor or array of shape (H, W): |d output unit / d input|.
        box: ``(top, left, height, width)`` of the analytic receptive field in input pixels
            (it may stick out of the image: that part lies in the padding).
        ax: draw into this matplotlib axis (default: a new figure).

    Returns the figure.

    Example:
        >>> import torch
        >>> fig = draw_receptive_field(torch.ones(8, 8), box=(2, 2, 3, 3), title="3x3")
    """
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import Rectangle

    g = np.abs(np.asarray(grad.detach().cpu() if hasattr(grad, "detach") else grad, dtype=float))
    if g.ndim != 2:
        raise ValueError(f"draw_receptive_field expects a map of shape (H, W), got {g.shape}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.2, 4.2))
    else:
        fig = ax.figure
    shown = np.where(g > 0, g, np.nan)  # zero gradient (outside the field) stays white
    ax.imshow(shown, cmap="viridis", interpolation="nearest")
    ax.set_xlim(-0.5, g.shape[1] - 0.5)
    ax.set_ylim(g.shape[0] - 0.5, -0.5)
    if box is not None:
        top, left, h, w = box
        ax.add_patch(
            Rectangle(
                (left - 0.5, top - 0.5), w, h, fill=False, edgecolor="red", lw=1.5, label="analytic receptive field"
            )
        )
        ax.legend(loc="lower right", fontsize="small")
    ax.set_title(title or "input gradient of one output unit", fontsize=9)
    ax.set_xlabel("input column")
    ax.set_ylabel("input row")
    return fig


def receptive_field_explorer(gradient_map, receptive_field=None, size: int = 64):
    """Sliders for depth, kernel, stride, dilation and pooling; shows the gradient map of one output unit.

    Args:
        gradient_map: ``gradient_map(layers, size, unit) -> (size, size)`` tensor, the student's
            function of ``06b_hw2_receptive_field``.
        receptive_field: optional ``receptive_field(layers) -> (rf, jump, start)``; when given, its
            answer is drawn as a red rectangle over the measured map.
        size: input size to start with (32, 64 or 128; a dropdown changes it).

    Returns an ``ipywidgets.VBox`` whose controls are also attributes (``depth``, ``kernel``,
    ``stride``, ``dilation``, ``pool``, ``size``), with ``caption`` (HTML), ``image`` (the plot
    as PNG) and ``state`` (the last layers, unit, gradient map, box and message). Changing a
    control redraws, in the notebook or from code.

    Example:
        >>> # receptive_field_explorer(gradient_map, receptive_field)
    """
    import ipywidgets as W

    if size not in (32, 64, 128):
        raise ValueError(f"size must be 32, 64 or 128, got {size!r}")
    depth = W.IntSlider(value=2, min=1, max=6, description="depth")
    kernel = W.Dropdown(options=[1, 3, 5, 7], value=3, description="kernel")
    stride = W.Dropdown(options=[1, 2], value=1, description="stride")
    dilation = W.IntSlider(value=1, min=1, max=4, description="dilation")
    pool = W.Checkbox(value=False, description="2x2 pool after each conv")
    size_w = W.Dropdown(options=[32, 64, 128], value=size, description="input size")
    caption = W.HTML()
    image = W.Image(format="png")
    controls = [depth, kernel, stride, dilation, pool, size_w]
    box = W.VBox([W.HBox(controls[:3]), W.HBox(controls[3:]), caption, image])
    box.depth, box.kernel, box.stride, box.dilation, box.pool, box.size = controls
    box.caption, box.image = caption, image

    def update(_=None) -> None:
        layers = receptive_field_layers(depth.value, kernel.value, stride.value, dilation.value, pool.value)
        n = size_w.value
        state = {"layers": layers, "size": n, "unit": None, "grad": None, "box": None, "message": ""}
        box.state = state
        try:
            o = n
            for k, s, p, d in layers:
                o = output_size(o, k, s, p, d)
        except ValueError:
            state["message"] = f"An input of {n}x{n} is too small for this stack: pick a larger input."
            caption.value, image.value = state["message"], b""
            return
        state["unit"] = unit = (o // 2, o // 2)
        text = f"{len(layers)} layers, output {o}x{o}, gradient of output unit {unit}"
        try:
            state["grad"] = grad = gradient_map(layers, n, unit)
            if receptive_field is not None:
                rf, jump, start = receptive_field(layers)
                state["box"] = (start + unit[0] * jump, start + unit[1] * jump, rf, rf)
                text += f"<br>analytic: receptive field {rf}, jump {jump}, start {start} (red box)"
        except NotImplementedError:
            state["message"] = "Implement gradient_map (and receptive_field) first."
            caption.value, image.value = state["message"], b""
            return
        nz = (grad.detach().abs() > 0).nonzero()
        if len(nz):
            h, w = (nz.max(0).values - nz.min(0).values + 1).tolist()
            text += f"<br>measured: non-zero gradient over {h}x{w} input pixels"
        caption.value = text
        image.value = figure_png(draw_receptive_field(grad, state["box"]))

    for w in controls:
        w.observe(update, names="value")
    update()
    return box


# --------------------------------------------------------------------------- convolution explorer (03_convolution)
# Where a kernel lands for a given input size, stride, padding and dilation.


def draw_conv(i: int = 5, k: int = 3, s: int = 1, p: int = 0, d: int = 1, step: int = 0):
    """Where a k x k kernel lands on an i x i input: the padded input with the taps of one output cell, and the output.

    ``step`` numbers the output cells row by row (0 .. o*o - 1). Padding cells are grey, the input
    pixels read for output cell ``step`` are blue (the window's outline shows the dilation), and that
    output cell is orange. Returns the matplotlib ``Figure`` (end a notebook line with ``;`` to show it
    once). Raises ``ValueError`` when the kernel does not fit the padded input.

    Example:
        >>> fig = draw_conv(5, k=3, s=2, p=1, step=4); fig.axes[1].get_title()
        'output 3x3'
    """
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import Rectangle

    o = output_size(i, k, s, p, d)
    if not isinstance(step, int) or not 0 <= step < o * o:
        raise ValueError(f"step must be an output cell index in 0..{o * o - 1} (output {o}x{o}), got {step!r}")
    windows = kernel_positions(i, k, s, p, d)
    r, c = divmod(step, o)
    n = i + 2 * p
    grid = np.ones((n, n, 3))
    grid[:p, :], grid[n - p :, :], grid[:, :p], grid[:, n - p :] = 0.85, 0.85, 0.85, 0.85
    for y in windows[r]:
        for x in windows[c]:
            grid[y + p, x + p] = (0.35, 0.6, 0.9)
    out = np.ones((o, o, 3))
    out[r, c] = (1.0, 0.65, 0.2)
    fig, (ax_in, ax_out) = plt.subplots(1, 2, figsize=(7.5, 3.6), gridspec_kw={"width_ratios": [n, max(o, n / 3)]})
    for ax, img, size in ((ax_in, grid, n), (ax_out, out, o)):
        ax.imshow(img, extent=(0, size, size, 0), interpolation="nearest")
        ax.set_xticks(range(size + 1), [])
        ax.set_yticks(range(size + 1), [])
        ax.tick_params(length=0)
        ax.grid(color="0.45", lw=0.6)
        ax.set_xlim(0, size)
        ax.set_ylim(size, 0)
    y0, x0 = windows[r][0] + p, windows[c][0] + p
    span = d * (k - 1) + 1
    ax_in.add_patch(Rectangle((x0, y0), span, span, fill=False, edgecolor="tab:blue", lw=2.5))
    if n <= 14:
        for y in range(n):
            for x in range(n):
                if not (p <= y < n - p and p <= x < n - p):
                    ax_in.text(x + 0.5, y + 0.5, "0", ha="center", va="center", fontsize=7, color="0.4")
    ax_in.set_title(f"input {i}x{i}" + (f", padded to {n}x{n}" if p else ""))
    ax_out.set_title(f"output {o}x{o}")
    fig.suptitle(f"kernel {k}x{k}, stride {s}, padding {p}, dilation {d}: output cell ({r}, {c})", fontsize=10)
    fig.tight_layout()
    return fig


def conv_explorer(i: int = 7, k: int = 3, s: int = 1, p: int = 0, d: int = 1):
    """Sliders for input size, kernel, stride, padding and dilation -> the output size and where the kernel lands.

    The "output cell" slider (and its play button, which animates it) walks the kernel over the input.
    Returns a ``VBox``; ``box.controls`` maps "i", "k", "s", "p", "d", "step" and "play" to their widgets,
    ``box.formula`` is the line with the output size and ``box.image`` the picture (PNG bytes of
    :func:`draw_conv`), so code can drive it as a student would: ``box.controls["s"].value = 2``.

    Example:
        >>> box = conv_explorer(i=7, k=3); box.controls["p"].value = 1; box.formula.value.endswith("7x7")
        True
    """
    import ipywidgets as W

    layout = W.Layout(width="260px")
    sliders = {
        "i": W.IntSlider(i, min=1, max=16, description="input i", layout=layout),
        "k": W.IntSlider(k, min=1, max=7, description="kernel k", layout=layout),
        "s": W.IntSlider(s, min=1, max=4, description="stride s", layout=layout),
        "p": W.IntSlider(p, min=0, max=4, description="padding p", layout=layout),
        "d": W.IntSlider(d, min=1, max=3, description="dilation d", layout=layout),
    }
    step = W.IntSlider(0, min=0, max=0, description="output cell", layout=layout)
    play = W.Play(value=0, min=0, max=0, interval=700, description="animate")
    W.jslink((play, "value"), (step, "value"))
    formula = W.HTML()
    image = W.Image(format="png")
    busy = [False]

    def render(_=None) -> None:
        if busy[0]:
            return
        busy[0] = True
        try:
            v = {name: w.value for name, w in sliders.items()}
            lhs = f"o = floor(({v['i']} + 2*{v['p']} - {v['d']}*({v['k']} - 1) - 1) / {v['s']}) + 1"
            try:
                o = output_size(v["i"], v["k"], v["s"], v["p"], v["d"])
            except ValueError as e:
                formula.value = f"<code>{lhs}</code>: no output, {e}"
                image.value = b""
                step.max = play.max = 0
                return
            step.max = play.max = o * o - 1
            formula.value = f"<code>{lhs} = {o}</code>: output {o}x{o}"
            image.value = figure_png(draw_conv(v["i"], v["k"], v["s"], v["p"], v["d"], step=step.value))
        finally:
            busy[0] = False

    for w in (*sliders.values(), step):
        w.observe(render, names="value")
    render()
    box = W.VBox(
        [
            W.HBox([sliders["i"], sliders["k"], sliders["s"]]),
            W.HBox([sliders["p"], sliders["d"]]),
            W.HBox([step, play]),
            formula,
            image,
        ]
    )
    box.controls = {**sliders, "step": step, "play": play}
    box.formula, box.image = formula, image
    return box
