"""One rule decides whether training shows a progress bar: course_utils.train.show_progress."""

import pytest
import torch
from torch import nn

from course_utils.data import TensorLoader, synthetic_dataset
from course_utils.ladder import TRAINING_LADDER, Budget, climb, train_rung
from course_utils.recipe import RecipeConfig, train_recipe
from course_utils.train import fit, show_progress

QUIET = ("NBGRADER_EXECUTION", "COURSE_QUICK", "CI", "TQDM_DISABLE")


@pytest.fixture
def lab(monkeypatch):
    """The environment of JupyterLab or Colab: none of the variables that turn the bar off."""
    for k in QUIET:
        monkeypatch.delenv(k, raising=False)
    return monkeypatch


def test_explicit_choice_wins(lab):
    assert show_progress(True) is True and show_progress(False) is False
    lab.setenv("NBGRADER_EXECUTION", "autograde")
    assert show_progress(True) is True


def test_automatic_is_on_where_someone_watches(lab):
    assert show_progress() is True and show_progress(None) is True


@pytest.mark.parametrize(
    "name, value",
    [
        ("NBGRADER_EXECUTION", "autograde"),
        ("NBGRADER_EXECUTION", ""),
        ("COURSE_QUICK", "1"),
        ("CI", "true"),
        ("CI", "1"),
        ("TQDM_DISABLE", "1"),
    ],
)
def test_automatic_is_off_under_the_grader_and_in_ci(lab, name, value):
    lab.setenv(name, value)
    assert show_progress() is False, f"{name}={value!r} should turn the bar off"


@pytest.mark.parametrize("name, value", [("COURSE_QUICK", "0"), ("CI", "false"), ("CI", ""), ("TQDM_DISABLE", "0")])
def test_switched_off_variables_leave_it_on(lab, name, value):
    lab.setenv(name, value)
    assert show_progress() is True


def _data():
    return synthetic_dataset("cifar10", "test", n=64)


def test_fit_follows_the_rule(lab, capsys):
    d = _data()
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    fit(net, TensorLoader(d, 32), epochs=1, device="cpu")
    assert "epoch 1:" in capsys.readouterr().out  # automatic, someone watching: on
    lab.setenv("NBGRADER_EXECUTION", "autograde")
    fit(net, TensorLoader(d, 32), epochs=1, device="cpu")
    assert capsys.readouterr().out == ""  # under the grader: silent


def test_ladder_and_rung_follow_the_rule(lab, capsys):
    d = _data()
    lab.setenv("COURSE_QUICK", "1")
    b = Budget(len(d), len(d), epochs=1, width_scale=0.0625, batch_size=32)
    train_rung(TRAINING_LADDER[0], d, d, b)
    assert capsys.readouterr().out == ""
    climb(TRAINING_LADDER[:1], d, d, b, progress=True)
    assert "epoch 1:" in capsys.readouterr().out


def test_recipe_follows_the_rule(lab, capsys):
    torch.manual_seed(0)
    train, test = synthetic_dataset("cifar10", "train", n=128), _data()
    cfg = RecipeConfig(widths=(8, 16, 16), epochs=1, batch_size=64, tta_level=0, bf16=False)
    lab.setenv("CI", "true")
    train_recipe(train, test, cfg)
    assert capsys.readouterr().out == ""
    lab.delenv("CI")
    train_recipe(train, test, cfg)
    assert "final test accuracy" in capsys.readouterr().out
