"""HW3 graded on the real CIFAR-10 test set, through `make grade`.

The reference solution's model and training settings (SGD with Nesterov momentum, one-cycle learning
rate, label smoothing, flips and shifts) train briefly on real CIFAR-10 training images here; the
checkpoint is zipped with the notebook and graded by `make grade ... --data FOLDER`. The test measures
the checkpoint's accuracy on the real test set itself and expects the levels that accuracy deserves,
and, for a level not reached, the grader's message must report that same accuracy against the real
threshold (not the stand-in's).

Real data: ``COURSE_TEST_DATA_DIR`` (the course's CI unpacks its copy of CIFAR-10 there), else the
course's data folder (``COURSE_DATA_DIR``, ``~/.cache/course_data``). Skipped, with the reason, without it.
"""

from __future__ import annotations

import csv
import json
import os
import re
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

from autograde.mock_submissions import filled, load
from course_utils import TensorLoader, fit, load_dataset, save_checkpoint, seed_everything
from course_utils.data import DataNotFoundError
from course_utils.nbcells import cell_kind, cell_source, grade_id
from harness import make

A = "08_hw3_cifar10"
TRAIN_IMAGES, EPOCHS = 2_000, 1  # a brief training: well below the first level, its message is checked
LEVELS = ("accuracy_level1", "accuracy_level2", "accuracy_level3")


def _real_data() -> Path | None:
    for root in (os.environ.get("COURSE_TEST_DATA_DIR"), os.environ.get("COURSE_DATA_DIR"), None):
        try:
            load_dataset("cifar10", "test", root=root, download=False, synthetic=False)
            return Path(root) if root else Path.home() / ".cache" / "course_data"
        except DataNotFoundError:
            continue
    return None


DATA = _real_data()
pytestmark = pytest.mark.skipif(
    DATA is None,
    reason="no real CIFAR-10 on this machine (set COURSE_TEST_DATA_DIR "
    "to a folder with cifar10-jpg/ or torchvision's files)",
)


def _thresholds(source: dict) -> dict[str, float]:
    """{level test: real-data threshold} read from each level's docstring ("at least 55% on ...")."""
    out = {}
    for c in source["cells"]:
        if grade_id(c) in LEVELS:
            out[grade_id(c)] = float(re.search(r"at least (\d+)%", cell_source(c))[1]) / 100
    return out


def _train(source: dict, tmp: Path) -> tuple[Path, float]:
    """The reference model trained briefly on real images; (checkpoint, its accuracy on the real test set)."""
    sol = {grade_id(c): cell_source(c) for c in source["cells"] if cell_kind(c) == "solution"}
    ns: dict = {"nn": nn, "torch": torch}
    exec("\n".join(line for line in sol["model_build"].splitlines() if "### " not in line), ns)
    seed_everything(0)
    train = load_dataset("cifar10", "train", root=DATA, synthetic=False).subset(TRAIN_IMAGES)
    loader = TensorLoader(train, 128, shuffle=True, augment=dict(flip=True, translate=2))
    model = ns["build_model"]()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=EPOCHS * len(loader))
    fit(
        model,
        loader,
        epochs=EPOCHS,
        optimizer=opt,
        scheduler=sched,
        progress=False,
        loss_fn=nn.CrossEntropyLoss(label_smoothing=0.1),
    )
    ckpt = tmp / "hw3_model.pt"
    save_checkpoint(ckpt, model)
    test = load_dataset("cifar10", "test", root=DATA, synthetic=False)
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in TensorLoader(test, 500):
            correct += (model(x).argmax(1) == y).sum().item()
    return ckpt, correct / len(test)


def test_hw3_on_real_images(tmp_path):
    source, release = load(A)
    ckpt, acc = _train(source, tmp_path)
    subs = tmp_path / "subs"
    subs.mkdir()
    with zipfile.ZipFile(subs / "ada_hw3.zip", "w") as z:
        z.writestr(f"hw3/{A}.ipynb", json.dumps(filled(source, release)))
        z.write(ckpt, "hw3/hw3_model.pt")
    out = tmp_path / "out"
    make("grade", f"ASSIGNMENT={A}", f"SUBMISSIONS={subs}", "WORKERS=1", f"GRADE_ARGS=--out {out} --data {DATA}")
    with open(out / f"grades_{A}.csv", newline="") as f:
        scores = next(r for r in csv.DictReader(f) if r["student"] == "ada")
    page = (out / "feedback" / "ada" / A / f"{A}.html").read_text()
    for level, threshold in _thresholds(source).items():
        if abs(acc - threshold) < 0.002:
            continue  # too close to call across two processes
        assert float(scores[level]) == (2.0 if acc >= threshold else 0.0), (level, acc, scores)
        if acc < threshold:
            said = re.search(rf"accuracy (0\.\d+) is below level \d \({threshold:.0%}\)", page)
            assert said, f"{level}: no message with the real threshold {threshold:.0%} in the feedback"
            assert abs(float(said[1]) - acc) < 0.002, f"graded on other images: {said[1]} vs measured {acc:.4f}"
    assert float(scores["checkpoint_loads"]) == 2 and float(scores["params_budget"]) == 2, scores
