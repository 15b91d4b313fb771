"""The model zoo: shapes, gradients to every parameter, the registry, bad input naming the layer."""
import numpy as np
import pytest
import torch

from convzoo import data, models, nn, optim, train
from convzoo.nn import functional as F

from . import torch_twins

CLASSIFIERS = models.list_models("classification")


def test_registry():
    assert set(models.list_models()) == {"lenet5", "vgg", "mobilenet", "dilated", "spatial-separable", "autoencoder"}
    assert "autoencoder" not in CLASSIFIERS
    model = models.get_model("vgg", channels=(8, 16), hidden=32)
    assert models.architecture(model) == {"name": "vgg", "config": model.config}
    rebuilt = models.get_model("vgg", **model.config)
    assert list(rebuilt.state_dict()) == list(model.state_dict())
    with pytest.raises(ValueError, match="unknown model 'resnet'; choose one of autoencoder, dilated, lenet5"):
        models.get_model("resnet")
    with pytest.raises(ValueError, match=r"model 'lenet5' takes no argument\(s\) \['width'\]"):
        models.get_model("lenet5", width=3)
    with pytest.raises(ValueError, match="Flatten is not a registered convzoo model"):
        models.architecture(nn.Flatten())


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_classifiers_give_logits_and_gradients_for_every_parameter(name):
    train.manual_seed(0)
    model = models.get_model(name, num_classes=7)
    x = np.random.default_rng(0).random((3, 1, 28, 28)).astype(np.float32)
    out = model(x)
    assert out.shape == (3, 7) and out.dtype == np.float32
    F.cross_entropy(out, np.array([0, 3, 6])).backward()
    missing = [k for k, p in model.named_parameters() if p.grad is None or not np.any(p.grad.numpy())]
    assert not missing


@pytest.mark.parametrize("name, twin", [("lenet5", torch_twins.LeNet5), ("mobilenet", torch_twins.MobileNet)])
def test_state_dict_keys_and_shapes_are_pytorch_s(name, twin):
    ours = models.get_model(name).state_dict()
    theirs = twin().state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == tuple(theirs[k].shape) for k in ours)
    if name == "lenet5":
        assert sum(v.size for k, v in ours.items()) == 61706


def test_mobilenet_uses_depthwise_separable_convolutions():
    model = models.get_model("mobilenet")
    separable = [m for m in model.modules() if isinstance(m, nn.SeparableConv2d)]
    assert len(separable) == 3 and all(m.depthwise.groups == m.in_channels for m in separable)
    assert all(m.pointwise.kernel_size == (1, 1) for m in separable)


def test_spatial_separable_net_factors_every_convolution():
    model = models.get_model("spatial-separable")
    layers = [m for m in model.modules() if isinstance(m, nn.SpatialSeparableConv2d)]
    assert len(layers) == 4
    assert not [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]


def test_dilated_net_keeps_resolution_and_sees_the_whole_digit():
    model = models.get_model("dilated")
    dilations = [m.dilation for m in model.features if isinstance(m, nn.Conv2d)]
    assert dilations == [(1, 1), (2, 2), (4, 4), (8, 8)]
    assert model.features(np.zeros((1, 1, 28, 28), np.float32)).shape == (1, 32, 28, 28)
    # receptive field of the last layer: 1 + 2 * (1 + 2 + 4 + 8) = 31 > 28
    assert 1 + sum(2 * d[0] for d in dilations) == 31


@pytest.mark.parametrize("shape, message", [
    ((2, 1, 32, 32), r"LeNet5: expects input of shape \(N, 1, 28, 28\).*classifier.1 .*received \(2, 1, 32, 32\)"),
    ((2, 3, 28, 28), r"LeNet5: expects input of shape \(N, 1, 28, 28\).*received \(2, 3, 28, 28\)"),
    ((1, 28, 28), r"received \(1, 28, 28\)"),
])
def test_wrong_input_shape_names_the_layer_and_both_shapes(shape, message):
    with pytest.raises(ValueError, match=message):
        models.get_model("lenet5")(np.zeros(shape, np.float32))


def test_wrong_channels_in_a_size_agnostic_model_names_the_layer():
    with pytest.raises(ValueError, match=r"stem.0 \(Conv2d\): conv2d expects input .* C=1 .*received \(2, 3, 28, 28\)"):
        models.get_model("mobilenet")(np.zeros((2, 3, 28, 28), np.float32))


def test_autoencoder_reconstructs_its_input_size_and_learns_to_denoise():
    train.manual_seed(1)
    model = models.get_model("autoencoder", channels=8)
    assert any(isinstance(m, nn.ConvTranspose2d) for m in model.modules())
    clean = data.get_dataset("embedded", train=False).get_batch(np.arange(64))[0]
    noisy = (clean + np.random.default_rng(0).normal(0, 0.5, clean.shape)).astype(np.float32)
    opt = optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(30):
        loss = F.mse_loss(model(noisy[step % 4 * 16:(step % 4 + 1) * 16]), clean[step % 4 * 16:(step % 4 + 1) * 16])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert model(noisy[:2]).shape == (2, 1, 28, 28)
    assert np.mean(losses[-4:]) < 0.5 * np.mean(losses[:4])
    with pytest.raises(ValueError, match=r"H and W divisible by 4; received \(1, 1, 30, 30\)"):
        model(np.zeros((1, 1, 30, 30), np.float32))


def test_autoencoder_matches_a_pytorch_twin():
    train.manual_seed(2)
    model = models.get_model("autoencoder", channels=4).double()

    class Twin(torch.nn.Module):
        def __init__(self, c=4):
            super().__init__()
            conv, up, relu = torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.ReLU
            self.enc1 = torch.nn.Sequential(conv(1, c, 3, padding=1), relu())
            self.enc2 = torch.nn.Sequential(conv(c, 2 * c, 3, stride=2, padding=1), relu())
            self.enc3 = torch.nn.Sequential(conv(2 * c, 4 * c, 3, stride=2, padding=1), relu())
            self.dec3 = torch.nn.Sequential(up(4 * c, 2 * c, 3, stride=2, padding=1, output_padding=1), relu())
            self.dec2 = torch.nn.Sequential(up(2 * c, c, 3, stride=2, padding=1, output_padding=1), relu())
            self.head = conv(c, 1, 3, padding=1)

        def forward(self, x):
            e1 = self.enc1(x)
            e2 = self.enc2(e1)
            return self.head(self.dec2(self.dec3(self.enc3(e2)) + e2) + e1)

    twin = Twin().double()
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    x = np.random.default_rng(3).random((2, 1, 12, 16))
    out = model(x)
    want = twin(torch.from_numpy(x))
    np.testing.assert_allclose(out.numpy(), want.detach().numpy(), rtol=1e-9, atol=1e-12)
    out.sum().backward()
    want.sum().backward()
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), twin.get_parameter(name).grad.numpy(), rtol=1e-9, atol=1e-12)
