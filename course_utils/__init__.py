"""Helpers for the deep-learning course: data, training, shapes and counting, plots, widgets, checks.

Each module has one concern and names the notebook that teaches it:

- :mod:`course_utils.data`    -- CIFAR-10 / Fashion-MNIST in memory, the synthetic stand-in, tensor batches
- :mod:`course_utils.train`   -- device, seeding, a plain fit/evaluate loop, history, checkpoints
- :mod:`course_utils.shapes`  -- output sizes, parameter counts, MACs and layer tables
- :mod:`course_utils.plot`    -- learning curves, image grids, filters and feature maps, activations
- :mod:`course_utils.widgets` -- ipywidgets explorers used in lectures
- :mod:`course_utils.checks`  -- readable comparisons for exercises and their tests

Example:
    >>> from course_utils import get_device, seed_everything
    >>> _ = seed_everything(0); get_device().type in ("cpu", "cuda", "mps")
    True
"""
from .data import ImageData, TensorLoader, load_dataset, quick_mode, synthetic_dataset
from .train import History, evaluate, fit, get_device, load_checkpoint, save_checkpoint, seed_everything
from .shapes import count_macs, count_params, layer_table, output_size

__version__ = "0.1.0"
__all__ = [
    "ImageData", "TensorLoader", "load_dataset", "quick_mode", "synthetic_dataset",
    "History", "evaluate", "fit", "get_device", "load_checkpoint", "save_checkpoint",
    "seed_everything", "count_macs", "count_params", "layer_table", "output_size",
]
