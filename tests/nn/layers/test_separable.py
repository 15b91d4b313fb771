"""Separable layers equal their compositions; SpatialSeparableConv2d from a rank-1 kernel reproduces
the full convolution, and from a rank>1 kernel is the best rank-r approximation with its error."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings, strategies as st

import convzoo
import convzoo.nn as nn
import convzoo.nn.functional as F
from tests.gradcheck import check_vjp


def test_separable_conv_equals_depthwise_then_pointwise_in_torch():
    layer = nn.SeparableConv2d(4, 6, 3, stride=2, padding=1, dilation=2, depth_multiplier=2, dtype=np.float64)
    assert list(layer.state_dict()) == ["depthwise.weight", "pointwise.weight", "pointwise.bias"]
    x = np.random.default_rng(0).standard_normal((2, 4, 9, 8))
    dw, pw, b = (torch.tensor(layer.state_dict()[k]) for k in ["depthwise.weight", "pointwise.weight", "pointwise.bias"])
    px = torch.tensor(x, requires_grad=True)
    ref = TF.conv2d(TF.conv2d(px, dw, None, 2, 1, 2, groups=4), pw, b)
    t = convzoo.tensor(x, requires_grad=True)
    out = layer(t)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    u = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(u)
    ref.backward(torch.tensor(u))
    np.testing.assert_allclose(t.grad.numpy(), px.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_separable_conv_with_norm_and_activation_equals_its_composition():
    layer = nn.SeparableConv2d(3, 5, 3, padding="same", activation=nn.ReLU(), batch_norm=True, dtype=np.float64)
    assert [name for name, _ in layer.named_children()] == ["depthwise", "norm", "activation", "pointwise"]
    x = np.random.default_rng(2).standard_normal((4, 3, 6, 6))
    with convzoo.no_grad():
        y = layer.depthwise(x)
        expected = layer.pointwise(F.relu(F.batch_norm(y, None, None, layer.norm.weight, layer.norm.bias, True)))
    layer2 = nn.SeparableConv2d(3, 5, 3, padding="same", activation=nn.ReLU(), batch_norm=True, dtype=np.float64)
    layer2.load_state_dict(layer.state_dict())
    np.testing.assert_allclose(layer2(x).numpy(), expected.numpy(), rtol=1e-12)
    check_vjp(lambda t: layer(t), x)


@settings(max_examples=12, deadline=None)
@given(kh=st.integers(1, 5), kw=st.integers(1, 5), sh=st.integers(1, 3), sw=st.integers(1, 3),
       dh=st.integers(1, 2), dw=st.integers(1, 2), padding=st.sampled_from(["same", "valid", 1, ((1, 0), (2, 1))]),
       mode=st.sampled_from(["zeros", "reflect", "circular"]), seed=st.integers(0, 1000))
def test_spatial_separable_from_rank1_kernel_reproduces_the_full_conv(kh, kw, sh, sw, dh, dw, padding, mode, seed):
    rng = np.random.default_rng(seed)
    c_in, c_out = 2, 3
    # a rank-1 unfolding: W[o, c, a, b] = v[c, a] * h[o, b]
    weight = np.einsum("ca,ob->ocab", rng.standard_normal((c_in, kh)), rng.standard_normal((c_out, kw)))
    bias = rng.standard_normal(c_out)
    x = rng.standard_normal((2, c_in, 9, 10))
    layer = nn.SpatialSeparableConv2d.from_kernel(weight, bias, (sh, sw), padding, (dh, dw), mode)
    assert layer.mid_channels == 1 and layer.approximation_error < 1e-12
    assert (layer.vertical.stride, layer.horizontal.stride) == ((sh, 1), (1, sw))
    assert (layer.vertical.dilation, layer.horizontal.dilation) == ((dh, 1), (1, dw))
    full = F.conv2d(x, weight, bias, (sh, sw), padding, (dh, dw), padding_mode=mode)
    np.testing.assert_allclose(layer(x).numpy(), full.numpy(), rtol=1e-10, atol=1e-10)


def test_from_kernel_rank_r_is_the_best_approximation_and_reports_its_error():
    rng = np.random.default_rng(3)
    weight = rng.standard_normal((4, 3, 5, 5))
    s = np.linalg.svd(weight.transpose(1, 2, 0, 3).reshape(15, 20), compute_uv=False)
    for rank in (1, 4, 15):
        layer = nn.SpatialSeparableConv2d.from_kernel(weight, rank=rank)
        error = np.linalg.norm(layer.to_kernel() - weight) / np.linalg.norm(weight)
        assert layer.approximation_error == pytest.approx(error, rel=1e-9, abs=1e-12)
        assert error == pytest.approx(np.sqrt(np.sum(s[rank:] ** 2) / np.sum(s ** 2)), abs=1e-12)
    assert layer.approximation_error < 1e-12  # full rank: exact
    x = rng.standard_normal((1, 3, 8, 8))
    np.testing.assert_allclose(layer(x).numpy(), F.conv2d(x, weight).numpy(), rtol=1e-10, atol=1e-10)
    # a single 2-D kernel, e.g. a Sobel filter, is rank 1
    sobel = np.outer([1.0, 2.0, 1.0], [-1.0, 0.0, 1.0])
    layer = nn.SpatialSeparableConv2d.from_kernel(sobel, padding=1)
    np.testing.assert_allclose(layer.to_kernel()[0, 0], sobel, atol=1e-12)
    with pytest.raises(ValueError, match=r"rank must be an int in \[1, 3\]"):
        nn.SpatialSeparableConv2d.from_kernel(sobel, rank=4)
    with pytest.raises(ValueError, match="weight must have shape"):
        nn.SpatialSeparableConv2d.from_kernel(np.ones(3))


def test_spatial_separable_layer_trains_and_exposes_conv_attributes():
    layer = nn.SpatialSeparableConv2d(3, 8, (7, 5), stride=2, padding="same", dilation=(1, 2), bias=False)
    assert (layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.dilation, layer.padding) == \
        (3, 8, (7, 5), (2, 2), (1, 2), "same")
    assert list(layer.state_dict()) == ["vertical.weight", "horizontal.weight"]
    assert layer.vertical.weight.shape == (8, 3, 7, 1) and layer.horizontal.weight.shape == (8, 8, 1, 5)
    x = np.random.default_rng(4).standard_normal((2, 3, 15, 16))
    out = layer(x.astype(np.float32))
    assert out.shape == (2, 8, 8, 8) and out.dtype == np.float32
    layer.double()
    check_vjp(lambda t: layer(t), x)
