"""Looking inside a trained CNN: pretrained-or-train model choice, feature maps, embeddings, similarity.

Taught in ``10_feature_visualization`` (exercises 2-1..2-3 of the CNN slides of Introduction to Deep
Learning, Computer Vision lecture series). Two models can be looked at,
through the same code:

- torchvision's **pretrained ResNet-50** (ImageNet, 1000 classes), used only when its weights file is
  already in torch's hub cache (``torch.hub.get_dir()/checkpoints/resnet50-....pth``, which
  ``torchvision.models.resnet50(weights="DEFAULT")`` fills on a machine with internet, e.g. Colab).
  The file is read with ``torch.load``: nothing here ever downloads.
- otherwise a **small CIFAR-10 CNN** (:func:`small_cnn`) the course trains in seconds, with the same
  layer names (``conv1``, ``layer1`` .. ``layer3``, ``avgpool``, ``fc``), so every plot works on both.

Example:
    >>> import torch
    >>> net = small_cnn(width=8)
    >>> maps = feature_maps(net, torch.zeros(1, 3, 32, 32), ["conv1", "layer3"])
    >>> {k: tuple(v.shape) for k, v in maps.items()}
    {'conv1': (1, 8, 32, 32), 'layer3': (1, 32, 8, 8)}
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "FeatureModel",
    "pretrained_weights_file",
    "small_cnn",
    "load_feature_model",
    "prepare_images",
    "feature_maps",
    "torchvision_layer",
    "embed",
    "cosine_similarity_matrix",
    "plot_similarity",
    "top_classes",
]


@dataclass
class FeatureModel:
    """A classifier to look inside, with what is needed to feed it.

    Attributes:
        model: the network, in eval mode.
        pretrained: True for the ImageNet ResNet-50, False for the small CIFAR-10 CNN.
        description: one line saying which model and which data it learned from.
        classes: class names, ``classes[k]`` for output ``k``.
        input_size: side of the square input (224 or 32).
        mean, std: per-channel normalisation the model was trained with.
        layers: names of layers worth looking at, from the input towards the output.
        resize: the shorter side is resized to this before the centre crop (default ``input_size``).
    """

    model: nn.Module
    pretrained: bool
    description: str
    classes: list[str]
    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    layers: list[str]
    resize: int | None = None

    def __repr__(self) -> str:
        return (
            f"FeatureModel({self.description}, {len(self.classes)} classes, input {self.input_size}x{self.input_size})"
        )


def pretrained_weights_file(weights=None) -> Path:
    """Where torch's hub cache keeps the file of torchvision ``weights`` (default ``ResNet50_Weights.DEFAULT``).

    The folder follows ``$TORCH_HOME`` (``torch.hub.get_dir()``); the file name is the last part of the
    weights' URL.

    Example:
        >>> pretrained_weights_file().name
        'resnet50-11ad3fa6.pth'
    """
    from torchvision.models import ResNet50_Weights

    weights = weights or ResNet50_Weights.DEFAULT
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name


def small_cnn(num_classes: int = 10, width: int = 32) -> nn.Sequential:
    """A small CIFAR-10 CNN whose layers carry ResNet's names (conv1, layer1..layer3, avgpool, fc).

    (N, 3, 32, 32) -> (N, num_classes); ``layer1`` keeps 32x32, ``layer2`` 16x16, ``layer3`` 8x8.

    Example:
        >>> small_cnn()(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def stage(c_in: int, c_out: int, stride: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
        )

    w = width
    return nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(3, w, 3, padding=1, bias=False),
            bn1=nn.BatchNorm2d(w),
            relu=nn.ReLU(),
            layer1=stage(w, w, 1),
            layer2=stage(w, 2 * w, 2),
            layer3=stage(2 * w, 4 * w, 2),
            avgpool=nn.AdaptiveAvgPool2d(1),
            flatten=nn.Flatten(),
            fc=nn.Linear(4 * w, num_classes),
        )
    )


def _load_resnet50(path: Path) -> nn.Module:
    from torchvision.models import resnet50

    net = resnet50(weights=None)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    except Exception as e:
        raise ValueError(
            f"{path} is not a usable ResNet-50 weights file ({type(e).__name__}: {e}); "
            "delete it and let torchvision download it again"
        ) from None
    return net.eval()


def _train_small_cnn(train_data, epochs: int, width: int, batch_size: int, seed: int) -> nn.Module:
    from .data import TensorLoader
    from .train import fit, seed_everything, warmup_cosine

    seed_everything(seed)
    net = small_cnn(len(train_data.classes), width)
    loader = TensorLoader(train_data, batch_size, shuffle=True, augment=dict(flip=True), seed=seed)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    fit(
        net, loader, epochs=epochs, optimizer=opt, scheduler=warmup_cosine(opt, epochs * len(loader)), device="cpu"
    )  # a progress bar where someone watches (show_progress)
    return net.eval()


def load_feature_model(
    pretrained: bool | None = None,
    train_data=None,
    epochs: int = 2,
    width: int = 32,
    batch_size: int = 128,
    seed: int = 0,
) -> FeatureModel:
    """The model to look inside: the cached pretrained ResNet-50, or else a small CNN trained now.

    Args:
        pretrained: None (default): the ResNet-50 when its weights file is in the hub cache and the course
            is not in quick mode (CI always takes the small CNN); True: the ResNet-50 or an error if its
            file is missing; False: the small CNN.
        train_data: an :class:`~course_utils.data.ImageData` (32x32 RGB) to train the small CNN on;
            default :func:`~course_utils.data.load_dataset` ("cifar10", "train").
        epochs, width, batch_size, seed: the small CNN's training budget and size.

    Prints one line saying which model is used and why. Never downloads.

    Example:
        >>> from course_utils.data import synthetic_dataset
        >>> fm = load_feature_model(False, synthetic_dataset("cifar10", n=64), epochs=1, width=4)  # doctest: +ELLIPSIS
        Using a small CNN ...
        >>> fm.pretrained, fm.input_size, fm.layers
        (False, 32, ['conv1', 'layer1', 'layer2', 'layer3'])
    """
    from .data import quick_mode

    path = pretrained_weights_file()
    if pretrained is None:
        pretrained = path.is_file() and not quick_mode()
        why = (
            "its weights are in the cache"
            if pretrained
            else "quick mode"
            if path.is_file()
            else f"no pretrained weights at {path}"
        )
    elif pretrained and not path.is_file():
        raise FileNotFoundError(
            f"no ResNet-50 weights at {path}. On a machine with internet, run "
            "`torchvision.models.resnet50(weights='DEFAULT')` once to fill the cache."
        )
    else:
        why = "asked for"
    if pretrained:
        from torchvision.models import ResNet50_Weights

        w = ResNet50_Weights.DEFAULT
        print(f"Using torchvision's pretrained ResNet-50 ({w.name}, ImageNet) -- {why}.")
        t = w.transforms()
        return FeatureModel(
            _load_resnet50(path),
            True,
            f"ResNet-50 pretrained on ImageNet ({w.name})",
            list(w.meta["categories"]),
            t.crop_size[0],
            tuple(t.mean),
            tuple(t.std),
            ["conv1", "layer1", "layer2", "layer3", "layer4"],
            t.resize_size[0],
        )
    if train_data is None:
        from .data import load_dataset

        train_data = load_dataset("cifar10", "train")
    if tuple(train_data.images.shape[1:]) != (3, 32, 32):
        raise ValueError(f"the small CNN trains on 32x32 RGB images, got {tuple(train_data.images.shape[1:])}")
    data_name = "synthetic stand-in" if train_data.is_synthetic else "real CIFAR-10"  # the loader's name says little
    print(f"Using a small CNN trained now for {epochs} epoch(s) on {len(train_data)} {data_name} images ({why}).")
    net = _train_small_cnn(train_data, epochs, width, batch_size, seed)
    return FeatureModel(
        net,
        False,
        f"small CNN trained on {len(train_data)} {data_name} images",
        list(train_data.classes),
        32,
        tuple(train_data.mean),
        tuple(train_data.std),
        ["conv1", "layer1", "layer2", "layer3"],
    )


def prepare_images(fm: FeatureModel, images: Sequence[torch.Tensor]) -> torch.Tensor:
    """Resize (shorter side), centre-crop and normalise uint8 images (C, H, W) for ``fm``: (N, 3, S, S) float.

    Grey images (1, H, W) are repeated to three channels.

    Example:
        >>> fm = FeatureModel(small_cnn(), False, "demo", list("abcdefghij"), 32, (0.5,) * 3, (0.25,) * 3, [])
        >>> prepare_images(fm, [torch.zeros(3, 300, 451, dtype=torch.uint8)]).shape
        torch.Size([1, 3, 32, 32])
    """
    from torchvision.transforms.v2 import functional as TF

    out = []
    for img in images:
        if img.ndim != 3 or img.shape[0] not in (1, 3):
            raise ValueError(f"expected an image of shape (3, H, W) or (1, H, W), got {tuple(img.shape)}")
        img = img.expand(3, -1, -1) if img.shape[0] == 1 else img
        s = fm.input_size
        x = TF.resize(img, [fm.resize or s], antialias=True)
        x = TF.center_crop(x, [s, s]).float() / 255
        out.append(TF.normalize(x, list(fm.mean), list(fm.std)))
    return torch.stack(out)


@torch.no_grad()
def feature_maps(model: nn.Module, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """The outputs of the named layers for input ``x`` (N, C, H, W): ``{name: (N, C_l, H_l, W_l)}``.

    Uses ``torchvision.models.feature_extraction`` (the layer names of ``model.named_modules()``).

    Example:
        >>> {k: tuple(v.shape) for k, v in feature_maps(small_cnn(), torch.zeros(1, 3, 32, 32), ["layer2"]).items()}
        {'layer2': (1, 64, 16, 16)}
    """
    from torchvision.models.feature_extraction import create_feature_extractor

    known = {n for n, _ in model.named_modules()}
    missing = [n for n in layers if n not in known]
    if missing:
        raise ValueError(f"no layers named {missing}; the model has {sorted(n for n in known if n and '.' not in n)}")
    was_training = model.training
    model.eval()
    out = create_feature_extractor(model, return_nodes=list(layers))(x)
    model.train(was_training)
    return dict(out)


def torchvision_layer(paper_name: str) -> str:
    """The torchvision name of a ResNet layer named as in the ResNet paper (He et al., 2015).

    The paper calls the stages ``conv1`` and ``conv2_x`` .. ``conv5_x`` and their blocks ``conv2_1``,
    ``conv2_2``, ...; torchvision calls them ``conv1`` and ``layer1`` .. ``layer4`` with blocks ``layer1.0``,
    ``layer1.1``, ... (counted from 0). Exercise 2-1's "Conv21" is ``conv2_1``. Taught in
    ``10_feature_visualization``.

    Example:
        >>> torchvision_layer("conv2_1"), torchvision_layer("conv4_x"), torchvision_layer("Conv21")
        ('layer1.0', 'layer3', 'layer1.0')
    """
    name = paper_name.strip().lower()
    if name == "conv1":
        return "conv1"
    m = re.fullmatch(r"conv([2-5])_?(x|[1-9]\d*)", name)
    if m:
        stage = f"layer{int(m.group(1)) - 1}"
        return stage if m.group(2) == "x" else f"{stage}.{int(m.group(2)) - 1}"
    raise ValueError(f"expected conv1, conv2_x .. conv5_x or a block like conv2_1, got {paper_name!r}")


def embed(model: nn.Module, x: torch.Tensor, layer: str = "avgpool") -> torch.Tensor:
    """Penultimate-layer features (after global average pooling, the input of the classifier): (N, C, H, W) -> (N, D).

    Example:
        >>> embed(small_cnn(width=8), torch.zeros(5, 3, 32, 32)).shape
        torch.Size([5, 32])
    """
    return feature_maps(model, x, [layer])[layer].flatten(1)


def cosine_similarity_matrix(features: torch.Tensor, center: bool = False) -> torch.Tensor:
    """Cosine similarity of every pair of rows: (N, D) -> (N, N), 1 on the diagonal.

    ``center=True`` first subtracts the mean row: features after a ReLU are all non-negative and share a
    large common part, which pushes every raw similarity towards 1; centring shows how the images differ.

    Example:
        >>> cosine_similarity_matrix(torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])).round(decimals=3)
        tensor([[1.0000, 0.7070, 0.0000],
                [0.7070, 1.0000, 0.7070],
                [0.0000, 0.7070, 1.0000]])
    """
    if features.ndim != 2:
        raise ValueError(f"expected features of shape (N, D), got {tuple(features.shape)}")
    f = features.float()
    f = F.normalize(f - f.mean(0) if center else f, dim=1)
    return f @ f.T


def plot_similarity(S: torch.Tensor, names: Sequence[str], title: str = "cosine similarity"):
    """A similarity matrix (N, N) as an annotated heat map, rows and columns labelled with ``names``.

    Example:
        >>> fig = plot_similarity(torch.eye(3), ["a", "b", "c"])
    """
    import matplotlib.pyplot as plt

    if S.ndim != 2 or S.shape != (len(names), len(names)):
        raise ValueError(f"expected S of shape ({len(names)}, {len(names)}), got {tuple(S.shape)}")
    S = S.detach().cpu()
    fig, ax = plt.subplots(figsize=(0.6 * len(names) + 2, 0.55 * len(names) + 1.5))
    im = ax.imshow(S.numpy(), cmap="viridis", vmin=min(0.0, S.min().item()), vmax=1)
    ax.set_xticks(range(len(names)), list(names), rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), list(names), fontsize=8)
    mid = (min(0.0, S.min().item()) + 1) / 2
    for i in range(len(S)):
        for j in range(len(S)):
            ax.text(j, i, f"{S[i, j]:.2f}", ha="center", va="center", fontsize=6, color="w" if S[i, j] < mid else "k")
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def top_classes(probs: torch.Tensor, classes: Sequence[str], k: int = 3) -> list[list[tuple[str, float]]]:
    """The ``k`` most probable classes of each row of ``probs`` (N, K): ``[[(name, p), ...], ...]``.

    Example:
        >>> top_classes(torch.tensor([[0.1, 0.7, 0.2]]), ["cat", "dog", "cow"], k=2)
        [[('dog', 0.7), ('cow', 0.2)]]
    """
    if probs.ndim != 2 or probs.shape[1] != len(classes):
        raise ValueError(f"expected probs of shape (N, {len(classes)}), got {tuple(probs.shape)}")
    p, i = probs.topk(min(k, len(classes)), dim=1)
    return [[(classes[int(c)], round(float(v), 4)) for v, c in zip(pr, ir)] for pr, ir in zip(p, i)]
