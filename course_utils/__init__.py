"""Helpers for the deep-learning course: data, training, shapes and counting, plots, widgets, checks.

Each module has one concern; its own docstring names the notebooks that teach it:

- :mod:`course_utils.data`     -- CIFAR-10 / Fashion-MNIST in memory, the synthetic stand-in, tensor batches; its parts:
  :mod:`~course_utils.datasets` (what each data set is, ``ImageData``), :mod:`~course_utils.datafiles` (image
  folders, torchvision's files), :mod:`~course_utils.standins` (the stand-in), :mod:`~course_utils.batches`
  (``TensorLoader``)
- :mod:`course_utils.modes`    -- quick mode (tests, autograding) and the recording of the lectures
- :mod:`course_utils.train`    -- device, seeding, a plain fit/evaluate loop, history, checkpoints
- :mod:`course_utils.shapes`   -- output sizes, parameter counts, MACs and layer tables
- :mod:`course_utils.conv`     -- convolution as linear algebra: kernel positions, the convolution matrix, BN folding
- :mod:`course_utils.losses`   -- losses by their formulas: softmax with a temperature, cross-entropy, label smoothing
- :mod:`course_utils.normalization` -- batch norm and layer norm written out: which axes each averages over
- :mod:`course_utils.regularization` -- the weight-decay step, the L1 proximal step, early stopping with patience
- :mod:`course_utils.models`   -- the slides' networks: MLP, LeNet, AlexNet, VGG, NiN, GoogLeNet, ResNet, DenseNet,
  a convolutional autoencoder; the modern CNNs are built in :mod:`~course_utils.modern` (VGG, AlexNet, NiN,
  GoogLeNet) and :mod:`~course_utils.resnets` (ResNet, DenseNet)
- :mod:`course_utils.ladder`   -- the training and generalization ladders: each rung's settings and the slides'
  numbers, its network, its training, a table of slide and measured accuracies
- :mod:`course_utils.transforms` -- the slides' augmentations (crop, flip, rotation, erasing) on batches of tensors
- :mod:`course_utils.recipe`   -- the fast CIFAR-10 recipe (``benchmarks/cifar10_speed.py`` measures it); its parts:
  :mod:`~course_utils.recipe_config`, :mod:`~course_utils.recipe_net`, :mod:`~course_utils.recipe_optim`
- :mod:`course_utils.features` -- looking inside a trained CNN: feature maps, embeddings, similarity
- :mod:`course_utils.plot`     -- learning curves, image grids, filters and feature maps, activations
- :mod:`course_utils.widgets`  -- ipywidgets explorers used in lectures (the convolution ones in
  :mod:`~course_utils.conv_widgets`)
- :mod:`course_utils.checks`   -- readable comparisons for test cells, and where a test's code runs when graded
- :mod:`course_utils.hw1checks` -- what HW1's hidden tests check the same way in several cells (layer tables)
- :mod:`course_utils.grading`  -- HW3's grading from a checkpoint: held-out set, loading, accuracy
- :mod:`course_utils.submit_check` -- checking a homework before submitting it
- :mod:`course_utils.nbcells`  -- nbgrader's cell metadata, read the same way by release, grading and submit_check
- :mod:`course_utils.runinfo`  -- what a notebook ran on and what the run cost (the last cell of each lecture)

Example:
    >>> from course_utils import get_device, seed_everything
    >>> _ = seed_everything(0); get_device().type in ("cpu", "cuda", "mps")
    True
"""

from .runinfo import run_report  # noqa: I001  (first: it notes when the notebook started)
from .data import ImageData, TensorLoader, load_dataset, quick_mode, synthetic_dataset
from .shapes import count_macs, count_params, layer_table, output_size
from .train import History, evaluate, fit, get_device, load_checkpoint, save_checkpoint, seed_everything

__version__ = "0.1.0"
__all__ = [
    "ImageData",
    "TensorLoader",
    "load_dataset",
    "quick_mode",
    "synthetic_dataset",
    "History",
    "evaluate",
    "fit",
    "get_device",
    "load_checkpoint",
    "save_checkpoint",
    "seed_everything",
    "count_macs",
    "count_params",
    "layer_table",
    "output_size",
    "run_report",
]
