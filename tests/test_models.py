"""The classic networks have the parameter counts of COURSE_SPEC and of torchvision."""

import pytest
import torchvision

from course_utils import models
from course_utils.shapes import count_params, layer_table


@pytest.mark.parametrize(
    "build, expected",
    [
        (lambda: models.mlp([784, 16, 16, 10]), 13_002),
        (models.lenet5, 61_706),
        (models.tutorial_net, 62_006),
        (models.alexnet227, 62_378_344),
        (lambda: torchvision.models.vgg16(weights=None), 138_357_544),
        (lambda: torchvision.models.resnet18(weights=None), 11_689_512),
    ],
)
def test_parameter_counts(build, expected):
    assert count_params(build()) == expected


def test_alexnet_shapes_follow_the_seed_table():
    t = layer_table(models.alexnet227(), (1, 3, 227, 227))
    outs = [r.output_shape[1:] for r in t if r.kind in ("Conv2d", "MaxPool2d")]
    assert outs == [
        (96, 55, 55),
        (96, 27, 27),
        (256, 27, 27),
        (256, 13, 13),
        (384, 13, 13),
        (384, 13, 13),
        (256, 13, 13),
        (256, 6, 6),
    ]


def test_mlp_rejects_bad_sizes():
    with pytest.raises(ValueError, match="at least two"):
        models.mlp([10])
    with pytest.raises(ValueError):
        models.mlp([10, 0])


def test_lenet_input_mismatch_is_clear():
    with pytest.raises(ValueError, match=r"does not accept an input of shape \(1, 1, 32, 32\)"):
        layer_table(models.lenet5(), (1, 1, 32, 32))
