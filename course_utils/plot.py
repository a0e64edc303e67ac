"""Plots: learning curves, image grids, filters and feature maps, activation functions.

Each function draws on a new matplotlib figure and returns it, so a notebook cell
shows it inline and a script can ``fig.savefig(...)`` it.

Example:
    >>> import torch
    >>> fig = plot_activation(torch.nn.ReLU(), name="ReLU")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

__all__ = [
    "plot_history",
    "plot_ladder",
    "show_images",
    "show_filters",
    "show_feature_maps",
    "plot_activation",
    "figure_png",
]


def _plt():
    import matplotlib.pyplot as plt

    return plt


def plot_history(
    histories: Mapping[str, object] | object, metrics: Sequence[str] = ("loss", "acc"), title: str | None = None
):
    """Overlay the learning curves of one or more :class:`~course_utils.train.History` objects.

    Args:
        histories: a History, or ``{"label": History, ...}`` to compare runs.
        metrics: which panels to draw: "loss" and/or "acc" (train dashed, validation solid).

    Example:
        >>> from course_utils.train import History
        >>> h = History(); h.log(train_loss=1.0, train_acc=0.4, val_loss=1.1, val_acc=0.35)
        >>> fig = plot_history({"run": h})
    """
    plt = _plt()
    if not isinstance(histories, Mapping):
        histories = {"": histories}
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.5), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for i, (label, h) in enumerate(histories.items()):
            color = f"C{i}"
            for split, style in (("train", "--"), ("val", "-")):
                ys = getattr(h, f"{split}_{metric}", [])
                if ys:
                    ax.plot(range(1, len(ys) + 1), ys, style, color=color, label=f"{label} {split}".strip())
        ax.set_xlabel("epoch")
        ax.set_ylabel({"loss": "loss", "acc": "accuracy"}.get(metric, metric))
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_ladder(ladder):
    """Train and test accuracy per rung of a ladder: the slides' (open markers) beside the measured (filled).

    Args:
        ladder: a :class:`~course_utils.ladder.LadderResults`; rungs without a slide number show no open marker.
    """
    plt = _plt()
    rs = ladder.results
    x = range(len(rs))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.75 * len(rs)), 4))
    for split, color in (("train", "C0"), ("test", "C1")):
        ax.plot(x, [getattr(r, f"{split}_acc") for r in rs], "o-", color=color, label=f"measured {split}")
        slide = [(i, getattr(r.rung, f"slide_{split}")) for i, r in enumerate(rs)]
        slide = [(i, v) for i, v in slide if v is not None]
        if slide:
            ax.plot(*zip(*slide), "o", mfc="none", ms=9, color=color, label=f"slides {split}")
    ax.axhline(0.1, color="gray", ls=":", label="chance (10%)")
    ax.set_xticks(list(x), [r.rung.name for r in rs], rotation=35, ha="right")
    ax.set(ylabel="accuracy", ylim=(0, 1.02), title=ladder.title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def _to_image(x: torch.Tensor, mean=None, std=None) -> torch.Tensor:
    """(C, H, W) uint8 or float (optionally normalised) -> (H, W, C) float in [0, 1]."""
    x = x.detach().cpu()
    if x.dtype == torch.uint8:
        x = x.float() / 255
    elif mean is not None and std is not None:
        C = x.shape[0]
        x = x * torch.tensor(std).view(C, 1, 1) + torch.tensor(mean).view(C, 1, 1)
    return x.clamp(0, 1).permute(1, 2, 0)


def show_images(
    images: torch.Tensor,
    labels: Sequence[int] | torch.Tensor | None = None,
    classes: Sequence[str] | None = None,
    preds: Sequence[int] | torch.Tensor | None = None,
    ncols: int = 8,
    mean=None,
    std=None,
    size: float = 1.4,
):
    """A grid of images (N, C, H, W) with their labels and, if given, predictions (red when wrong).

    Example:
        >>> fig = show_images(torch.zeros(4, 3, 32, 32, dtype=torch.uint8), [0, 1, 2, 3], classes="abcd")
    """
    plt = _plt()
    if images.ndim != 4:
        raise ValueError(f"show_images expects (N, C, H, W), got shape {tuple(images.shape)}")
    n = len(images)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i in range(n):
        ax = axes.flat[i]
        img = _to_image(images[i], mean, std)
        img = img.squeeze(-1).numpy() if img.shape[-1] == 1 else img.numpy()
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
        name = lambda k: classes[int(k)] if classes is not None else str(int(k))
        if labels is not None:
            text, color = name(labels[i]), "black"
            if preds is not None:
                text, color = f"{name(preds[i])}\n({text})", ("green" if int(preds[i]) == int(labels[i]) else "red")
            ax.set_title(text, fontsize=8, color=color)
    fig.tight_layout()
    return fig


def _grid(maps: torch.Tensor, ncols: int, titles: Sequence[str] | None, cmap: str, size: float):
    plt = _plt()
    n = len(maps)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i in range(n):
        m = maps[i]
        axes.flat[i].imshow((m.permute(1, 2, 0) if m.ndim == 3 else m).numpy(), cmap=cmap)
        if titles is not None:
            axes.flat[i].set_title(titles[i], fontsize=7)
    fig.tight_layout()
    return fig


def show_filters(weight: torch.Tensor, ncols: int = 8, size: float = 1.0):
    """First-layer filters (out, in, kH, kW) as images: RGB when in=3, else the first input channel.

    Each filter is rescaled to [0, 1] on its own so its pattern is visible.

    Example:
        >>> fig = show_filters(torch.randn(16, 3, 7, 7))
    """
    if weight.ndim != 4:
        raise ValueError(f"show_filters expects (out, in, kH, kW), got shape {tuple(weight.shape)}")
    w = weight.detach().cpu().float()
    w = w if w.shape[1] == 3 else w[:, :1]
    lo = w.amin(dim=(1, 2, 3), keepdim=True)
    hi = w.amax(dim=(1, 2, 3), keepdim=True)
    w = (w - lo) / (hi - lo).clamp_min(1e-8)
    maps = w if w.shape[1] == 3 else w[:, 0]
    return _grid(maps, ncols, None, "gray", size)


def show_feature_maps(
    fmap: torch.Tensor, max_maps: int = 32, ncols: int = 8, size: float = 1.2, title: str | None = None
):
    """The channels of one feature map (C, H, W) or (1, C, H, W) as a grid of heat maps.

    Example:
        >>> fig = show_feature_maps(torch.randn(1, 16, 8, 8))
    """
    f = fmap.detach().cpu().float()
    if f.ndim == 4:
        if f.shape[0] != 1:
            raise ValueError(f"pass one image's feature map, got a batch of {f.shape[0]}")
        f = f[0]
    if f.ndim != 3:
        raise ValueError(f"show_feature_maps expects (C, H, W), got shape {tuple(fmap.shape)}")
    fig = _grid(f[:max_maps], ncols, [f"ch {i}" for i in range(min(max_maps, len(f)))], "viridis", size)
    if title:
        fig.suptitle(f"{title}: {f.shape[0]} channels of {f.shape[1]}x{f.shape[2]}", y=1.02)
    return fig


def plot_activation(
    fn: Callable[[torch.Tensor], torch.Tensor], name: str | None = None, x: torch.Tensor | None = None, ax=None
):
    """Plot an activation function and its derivative (computed by autograd).

    Example:
        >>> fig = plot_activation(torch.sigmoid, "sigmoid")
    """
    plt = _plt()
    x = torch.linspace(-6, 6, 601) if x is None else x
    x = x.detach().clone().requires_grad_(True)
    y = fn(x)
    (dy,) = torch.autograd.grad(y.sum(), x)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.2))
    else:
        fig = ax.figure
    ax.plot(x.detach().numpy(), y.detach().numpy(), label=name or "f(x)")
    ax.plot(x.detach().numpy(), dy.numpy(), "--", label="derivative")
    ax.axhline(0, color="gray", lw=0.5)
    ax.axvline(0, color="gray", lw=0.5)
    ax.grid(alpha=0.3)
    ax.legend()
    if name:
        ax.set_title(name)
    return fig


def figure_png(fig, dpi: int = 80) -> bytes:
    """The figure as PNG bytes (what an ``ipywidgets.Image`` shows), and the figure closed.

    The lectures' explorers (:mod:`course_utils.widgets`) redraw through it, so figures never pile up.

    Example:
        >>> import torch
        >>> figure_png(plot_activation(torch.nn.ReLU(), name="ReLU"))[:4]
        b'\\x89PNG'
    """
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    _plt().close(fig)
    return buf.getvalue()
