"""The modern CNN builders of course_utils.models match the published networks (09_modern_cnns, 11_autoencoders)."""

import pytest
import torch
import torchvision

from course_utils import models
from course_utils.shapes import count_params

META = torch.device("meta")


def _shapes(net):
    return [tuple(p.shape) for p in net.parameters()]


def test_vgg16_is_torchvisions_layer_for_layer():
    with META:
        ours, tv = models.vgg(models.VGG16_ARCH), torchvision.models.vgg16(weights=None)
    assert _shapes(ours) == _shapes(tv) and count_params(ours) == 138_357_544


def test_resnet18_is_torchvisions_layer_for_layer():
    with META:
        ours, tv = models.resnet(), torchvision.models.resnet18(weights=None)
    # same tensors in the same order (torchvision lists a block's downsample last, we list it first)
    assert sorted(_shapes(ours)) == sorted(_shapes(tv)) and count_params(ours) == 11_689_512


@pytest.mark.parametrize(
    "build, expected",
    [
        (lambda: models.alexnet(1, 10), 46_764_746),  # d2l / seed 004, 224x224 Fashion-MNIST
        (lambda: models.nin(1, 10), 1_992_166),
        (lambda: models.googlenet(1, 10), 5_977_530),
        (lambda: models.densenet(1, 10), 758_226),
    ],
)
def test_seed_004_networks_have_the_d2l_counts(build, expected):
    with META:
        assert count_params(build()) == expected


@pytest.mark.parametrize("name", ["alexnet", "nin", "googlenet", "densenet"])
@pytest.mark.parametrize("small", [False, True])
def test_every_builder_runs_at_its_input_size(name, small):
    net = getattr(models, name)(3, 10, width=0.0625, small_input=small)
    size = 32 if small else 224
    assert net(torch.zeros(2, 3, size, size)).shape == (2, 10)


def test_width_scales_channels_and_rejects_nonsense():
    assert count_params(models.resnet(width=0.5)) < count_params(models.resnet()) / 3
    with pytest.raises(ValueError, match="width must be positive"):
        models.resnet(width=0)


def test_dense_block_concatenates_its_input():
    blk = models.DenseBlock(3, 5, growth=4)
    x = torch.randn(2, 5, 6, 6)
    y = blk(x)
    assert y.shape == (2, 17, 6, 6)
    torch.testing.assert_close(y[:, :5], x)  # the input passes through unchanged


def test_residual_block_with_zero_branch_is_relu_of_input():
    blk = models.Residual(8, 8).eval()
    torch.nn.init.zeros_(blk.bn2.weight)  # F(x) = 0: the block reduces to relu(x)
    x = torch.randn(2, 8, 5, 5)
    torch.testing.assert_close(blk(x), torch.relu(x))


def test_autoencoder_shapes_and_error():
    ae = models.ConvAutoencoder(latent_dim=4)
    assert ae(torch.rand(3, 1, 28, 28)).shape == (3, 1, 28, 28)
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\), got \(3, 1, 32, 32\)"):
        ae(torch.rand(3, 1, 32, 32))
