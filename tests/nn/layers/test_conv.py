"""Conv layers: PyTorch parity from the same weights (state_dict one to one), PyTorch's default
initialisation, output_size on transposed layers, depthwise as groups=C, repr, bad input."""
import math

import numpy as np
import pytest
import torch

import convzoo
import convzoo.nn as nn
from tests.nn.parity import assert_close

pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")


def load_from_torch(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def compare(ours, theirs, x, dtype, **forward_kwargs):
    load_from_torch(ours, theirs)
    t = convzoo.tensor(x, requires_grad=True)
    p = torch.tensor(x, requires_grad=True)
    out, ref = ours(t, **forward_kwargs), theirs(p, **forward_kwargs)
    assert_close(out.numpy(), ref.detach().numpy(), dtype, "forward")
    u = np.random.default_rng(0).standard_normal(out.shape).astype(dtype)
    out.backward(u)
    ref.backward(torch.tensor(u))
    assert_close(t.grad.numpy(), p.grad.numpy(), dtype, "input gradient")
    for (name, param), (_, tparam) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert_close(param.grad.numpy(), tparam.grad.numpy(), dtype, f"gradient of {name}")


CASES = [
    (nn.Conv1d, torch.nn.Conv1d, (3, 4, 3), dict(stride=2, padding=1), (2, 3, 11)),
    (nn.Conv2d, torch.nn.Conv2d, (4, 6, 3), dict(padding=1, dilation=2, groups=2, padding_mode="reflect"), (2, 4, 8, 7)),
    (nn.Conv2d, torch.nn.Conv2d, (3, 5, (3, 2)), dict(padding="same", bias=False), (1, 3, 6, 6)),
    (nn.Conv3d, torch.nn.Conv3d, (2, 3, 2), dict(stride=(1, 2, 1), padding_mode="circular", padding=1), (1, 2, 4, 5, 3)),
    (nn.ConvTranspose1d, torch.nn.ConvTranspose1d, (3, 4, 4), dict(stride=2, padding=1, output_padding=1), (2, 3, 5)),
    (nn.ConvTranspose2d, torch.nn.ConvTranspose2d, (4, 6, 3), dict(stride=2, groups=2, dilation=2), (2, 4, 4, 5)),
    (nn.ConvTranspose3d, torch.nn.ConvTranspose3d, (2, 2, 2), dict(stride=2, bias=False), (1, 2, 3, 2, 3)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ours, theirs, args, kwargs, shape", CASES)
def test_layer_matches_torch_from_the_same_weights(ours, theirs, args, kwargs, shape, dtype):
    torch.manual_seed(0)
    theirs = theirs(*args, **kwargs, dtype=torch.float64 if dtype == np.float64 else torch.float32)
    ours = ours(*args, **kwargs, dtype=dtype)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    compare(ours, theirs, np.random.default_rng(1).standard_normal(shape).astype(dtype), dtype)


def test_transposed_layer_takes_output_size():
    ours, theirs = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, dtype=np.float64), \
        torch.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, dtype=torch.float64)
    x = np.random.default_rng(0).standard_normal((1, 3, 4, 5))
    for size in [(7, 9), (8, 10), (1, 3, 8, 9)]:
        compare(ours, theirs, x, np.float64, output_size=size)
        ours.zero_grad()
        theirs.zero_grad()
    with pytest.raises(ValueError, match="not reachable"):
        ours(x, output_size=(12, 12))


def test_depthwise_is_a_grouped_conv_with_multiplier():
    dw = nn.DepthwiseConv2d(4, 3, depth_multiplier=2, padding=1, dtype=np.float64)
    assert (dw.groups, dw.out_channels, dw.weight.shape) == (4, 8, (8, 1, 3, 3))
    theirs = torch.nn.Conv2d(4, 8, 3, padding=1, groups=4, dtype=torch.float64)
    compare(dw, theirs, np.random.default_rng(0).standard_normal((2, 4, 6, 6)), np.float64)
    assert repr(dw) == "DepthwiseConv2d(4, kernel_size=(3, 3), depth_multiplier=2, padding=(1, 1))"


@pytest.mark.parametrize("layer, fan_in", [(lambda: nn.Conv2d(8, 16, 3), 72), (lambda: nn.Linear(50, 400), 50),
                                           (lambda: nn.ConvTranspose2d(16, 8, 4, groups=2), 64),
                                           (lambda: nn.Conv1d(6, 3, 5, groups=3), 10)])
def test_default_init_is_uniform_one_over_sqrt_fan_in(layer, fan_in):
    nn.init.seed(0)
    m = layer()
    bound = 1 / math.sqrt(fan_in)
    w, b = m.weight.numpy(), m.bias.numpy()
    assert w.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(b).max() <= bound
    if w.size >= 1000:  # uniform: variance bound^2 / 3
        assert abs(w.var() / (bound ** 2 / 3) - 1) < 0.15
    assert nn.init.calculate_fan_in_and_fan_out(m.weight)[0] == torch.nn.init._calculate_fan_in_and_fan_out(
        torch.empty(m.weight.shape))[0]


def test_init_is_seedable():
    nn.init.seed(3)
    a = nn.Conv2d(2, 3, 3).weight.numpy().copy()
    nn.init.seed(3)
    assert np.array_equal(a, nn.Conv2d(2, 3, 3).weight.numpy())


def test_init_functions_match_torch_statistics():
    nn.init.seed(0)
    t = convzoo.tensor(np.zeros((256, 128, 3, 3)))
    for fn, std in [(lambda: nn.init.kaiming_normal_(t, nonlinearity="relu"), math.sqrt(2 / 1152)),
                    (lambda: nn.init.kaiming_uniform_(t, nonlinearity="relu"), math.sqrt(2 / 1152)),
                    (lambda: nn.init.xavier_uniform_(t), math.sqrt(2 / (1152 + 2304))),
                    (lambda: nn.init.xavier_normal_(t, gain=2.0), 2 * math.sqrt(2 / (1152 + 2304)))]:
        assert abs(fn().numpy().std() / std - 1) < 0.02
    assert nn.init.calculate_gain("leaky_relu", 0.2) == torch.nn.init.calculate_gain("leaky_relu", 0.2)
    assert nn.init.calculate_gain("tanh") == torch.nn.init.calculate_gain("tanh")
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        nn.init.calculate_gain("swish")


def test_repr_shows_only_non_default_hyperparameters():
    assert repr(nn.Conv2d(3, 6, 5)) == "Conv2d(3, 6, kernel_size=(5, 5))"
    assert repr(nn.Conv2d(3, 6, 3, stride=2, padding="same", bias=False, padding_mode="reflect")) == \
        "Conv2d(3, 6, kernel_size=(3, 3), stride=(2, 2), padding='same', padding_mode='reflect', bias=False)"
    assert repr(nn.ConvTranspose1d(4, 2, 4, stride=2, output_padding=1)) == \
        "ConvTranspose1d(4, 2, kernel_size=(4,), stride=(2,), output_padding=(1,))"
    assert repr(nn.Conv2d(3, 6, 3, padding=((0, 1), (1, 1)))) == \
        "Conv2d(3, 6, kernel_size=(3, 3), padding=((0, 1), (1, 1)))"


@pytest.mark.parametrize("make, match", [
    (lambda: nn.Conv2d(6, 8, 3, groups=4), r"in_channels \(6\) must be divisible by groups \(4\)"),
    (lambda: nn.Conv2d(4, 6, 3, groups=4), r"out_channels \(6\) must be divisible by groups \(4\)"),
    (lambda: nn.Conv2d(0, 6, 3), r"in_channels must be a positive int; received 0"),
    (lambda: nn.Conv2d(3, 6, (3, 3, 3)), "kernel_size must be an int or a tuple of 2 ints"),
    (lambda: nn.Conv2d(3, 6, 3, padding="full"), "'valid', 'same'"),
    (lambda: nn.Conv2d(3, 6, 3, padding_mode="mirror"), "padding_mode must be one of"),
    (lambda: nn.Conv2d(3, 6, 3, stride=0), "stride must be positive"),
    (lambda: nn.DepthwiseConv2d(3, 3, depth_multiplier=0), "depth_multiplier must be a positive int"),
])
def test_bad_construction_is_named(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_wrong_input_shape_names_the_layer_and_both_shapes():
    model = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(6 * 12 * 12, 10))
    with pytest.raises(nn.LayerError, match=r"^0 \(Conv2d\): conv2d expects .* C=1 .* received \(2, 3, 28, 28\)"):
        model(np.ones((2, 3, 28, 28), np.float32))
    outer = nn.Sequential()
    outer.features = model
    with pytest.raises(ValueError, match=r"^features\.4 \(Linear\): .*in_features=864; received \(2, 600\)"):
        outer(np.ones((2, 1, 24, 24), np.float32))
