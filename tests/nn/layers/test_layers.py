"""Pooling, activation, linear, normalisation, dropout and loss layers: PyTorch parity from the same
weights and buffers, train/eval behaviour, repr, state_dict names."""
import numpy as np
import pytest
import torch

import convzoo
import convzoo.nn as nn
from tests.nn.layers.test_conv import compare
from tests.nn.parity import assert_close

T = torch.nn
SIMPLE = [
    (lambda: nn.MaxPool2d(3, 2, 1, ceil_mode=True), lambda: T.MaxPool2d(3, 2, 1, ceil_mode=True), (2, 3, 9, 8)),
    (lambda: nn.MaxPool1d(2, dilation=2), lambda: T.MaxPool1d(2, dilation=2), (2, 3, 9)),
    (lambda: nn.MaxPool3d(2), lambda: T.MaxPool3d(2), (1, 2, 4, 4, 5)),
    (lambda: nn.AvgPool2d(3, 2, 1, count_include_pad=False), lambda: T.AvgPool2d(3, 2, 1, count_include_pad=False),
     (2, 3, 9, 8)),
    (lambda: nn.AvgPool1d(3, 2, ceil_mode=True), lambda: T.AvgPool1d(3, 2, ceil_mode=True), (2, 3, 10)),
    (lambda: nn.AvgPool3d(2, divisor_override=3), lambda: T.AvgPool3d(2, divisor_override=3), (1, 2, 4, 4, 5)),
    (lambda: nn.AdaptiveAvgPool2d((2, 3)), lambda: T.AdaptiveAvgPool2d((2, 3)), (2, 3, 7, 8)),
    (lambda: nn.AdaptiveAvgPool1d(3), lambda: T.AdaptiveAvgPool1d(3), (2, 3, 7)),
    (lambda: nn.AdaptiveAvgPool3d(1), lambda: T.AdaptiveAvgPool3d(1), (1, 2, 3, 4, 5)),
    (lambda: nn.AdaptiveMaxPool2d(2), lambda: T.AdaptiveMaxPool2d(2), (2, 3, 7, 8)),
    (lambda: nn.ReLU(), lambda: T.ReLU(), (3, 4)),
    (lambda: nn.LeakyReLU(0.3), lambda: T.LeakyReLU(0.3), (3, 4)),
    (lambda: nn.ELU(0.5), lambda: T.ELU(0.5), (3, 4)),
    (lambda: nn.GELU("tanh"), lambda: T.GELU("tanh"), (3, 4)),
    (lambda: nn.Sigmoid(), lambda: T.Sigmoid(), (3, 4)),
    (lambda: nn.Tanh(), lambda: T.Tanh(), (3, 4)),
    (lambda: nn.Softmax(1), lambda: T.Softmax(1), (3, 4)),
    (lambda: nn.LogSoftmax(1), lambda: T.LogSoftmax(1), (3, 4)),
    (lambda: nn.Flatten(), lambda: T.Flatten(), (3, 4, 2, 2)),
    (lambda: nn.Identity(54), lambda: T.Identity(54), (3, 4)),
    (lambda: nn.Linear(4, 6), lambda: T.Linear(4, 6), (3, 4)),
    (lambda: nn.Linear(4, 6, bias=False), lambda: T.Linear(4, 6, bias=False), (2, 3, 4)),
    (lambda: nn.BatchNorm2d(3), lambda: T.BatchNorm2d(3), (4, 3, 5, 5)),
    (lambda: nn.BatchNorm1d(3, momentum=None, affine=False), lambda: T.BatchNorm1d(3, momentum=None, affine=False),
     (4, 3)),
    (lambda: nn.BatchNorm1d(3, track_running_stats=False), lambda: T.BatchNorm1d(3, track_running_stats=False),
     (4, 3, 2)),
]


@pytest.mark.parametrize("make, make_torch, shape", SIMPLE)
def test_layer_matches_torch(make, make_torch, shape):
    ours, theirs = make().double(), make_torch().double()
    x = np.random.default_rng(0).standard_normal(shape)
    for step in range(2):  # twice, so BatchNorm's running statistics evolve
        compare(ours, theirs, x + step, np.float64)
        for (name, buf), (tname, tbuf) in zip(ours.state_dict().items(), theirs.state_dict().items()):
            assert name == tname
            assert_close(buf, tbuf.numpy(), np.float64, name)
        ours.zero_grad()
        theirs.zero_grad()
    ours.eval()
    theirs.eval()
    assert_close(ours(x).numpy(), theirs(torch.tensor(x)).detach().numpy(), np.float64, "eval forward")


def test_batchnorm_train_eval_and_state_dict_from_torch():
    theirs = T.BatchNorm2d(4)
    for _ in range(3):
        theirs(torch.randn(8, 4, 3, 3) * 2 + 1)
    theirs.eval()
    ours = nn.BatchNorm2d(4)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert int(ours.num_batches_tracked) == 3
    ours.eval()
    x = np.random.default_rng(1).standard_normal((2, 4, 3, 3)).astype(np.float32)
    np.testing.assert_allclose(ours(x).numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"BatchNorm2d expects input of shape \(N, C, H, W\); received shape \(2, 4\)"):
        ours(np.ones((2, 4), np.float32))


def test_dropout_layer_respects_train_and_eval():
    layer = nn.Dropout(0.5)
    x = np.ones((50, 50), np.float32)
    assert (layer(x).numpy() == 0).any()
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), x)
    with pytest.raises(ValueError, match="p must be in"):
        nn.Dropout(-0.1)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_loss_layers_match_torch(reduction):
    rng = np.random.default_rng(2)
    x, t = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    w = rng.uniform(0.5, 2, 4)
    pairs = [(nn.CrossEntropyLoss(w, reduction=reduction, label_smoothing=0.2),
              T.CrossEntropyLoss(torch.tensor(w), reduction=reduction, label_smoothing=0.2), t, torch.tensor(t)),
             (nn.NLLLoss(ignore_index=1, reduction=reduction), T.NLLLoss(ignore_index=1, reduction=reduction),
              t, torch.tensor(t)),
             (nn.MSELoss(reduction), T.MSELoss(reduction=reduction), x[::-1].copy(), torch.tensor(x[::-1].copy()))]
    for ours, theirs, target, ttarget in pairs:
        a = convzoo.tensor(x, requires_grad=True)
        b = torch.tensor(x, requires_grad=True)
        out, ref = ours(a, target), theirs(b, ttarget)
        assert_close(out.numpy(), ref.detach().numpy(), np.float64, type(ours).__name__)
        out.sum().backward()
        ref.sum().backward()
        assert_close(a.grad.numpy(), b.grad.numpy(), np.float64, type(ours).__name__ + " gradient")


def test_reprs_show_only_non_default_arguments():
    assert repr(nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=2)"
    assert repr(nn.MaxPool2d(3, 2, 1, ceil_mode=True)) == "MaxPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=True)"
    assert repr(nn.AvgPool2d(2, count_include_pad=False)) == "AvgPool2d(kernel_size=2, count_include_pad=False)"
    assert repr(nn.Linear(3, 4, bias=False)) == "Linear(in_features=3, out_features=4, bias=False)"
    assert repr(nn.BatchNorm2d(8, momentum=0.01)) == "BatchNorm2d(8, momentum=0.01)"
    assert repr(nn.LeakyReLU()) == "LeakyReLU()"
    assert repr(nn.CrossEntropyLoss(label_smoothing=0.1)) == "CrossEntropyLoss(label_smoothing=0.1)"
    assert repr(nn.Flatten()) == "Flatten()"
    assert repr(nn.AdaptiveAvgPool2d(1)) == "AdaptiveAvgPool2d(output_size=1)"


def test_pooling_layer_returns_indices():
    out, idx = nn.MaxPool2d(2, return_indices=True)(np.random.default_rng(0).standard_normal((1, 2, 4, 4)))
    assert out.shape == idx.shape == (1, 2, 2, 2) and idx.dtype == np.int64


@pytest.mark.parametrize("make, match", [
    (lambda: nn.MaxPool2d(0), "kernel_size must be positive"),
    (lambda: nn.MaxPool2d(2, stride=(1, 2, 3)), "stride must be an int or a tuple of 2 ints"),
    (lambda: nn.AvgPool1d(2, stride=0), "stride must be positive"),
    (lambda: nn.MaxPool3d(2, dilation=0), "dilation must be positive"),
])
def test_bad_pooling_arguments_fail_at_construction(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()
