"""Strided "same", transposed "same" and output_size, adjoint identities, and check_vjp of every conv primitive."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

import convzoo
import convzoo.nn.functional as F
from convzoo.autograd.conv import BiasAdd, Conv, ConvTranspose, Pad, PadAdjoint
from convzoo.kernels.padding import MODES
from tests.gradcheck import check_vjp

rng = np.random.default_rng(0)


def onnx_same_upper(n, k, s, d):
    """ONNX auto_pad=SAME_UPPER: output ceil(n/s), pads split with the extra one at the end."""
    out = math.ceil(n / s)
    total = max(0, (out - 1) * s + ((k - 1) * d + 1) - n)
    return total // 2, total - total // 2


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 17), k=st.integers(1, 7), s=st.integers(1, 4), d=st.integers(1, 3))
def test_strided_same_matches_the_tf_onnx_formula(n, k, s, d):
    x = rng.standard_normal((1, 2, n))
    w = rng.standard_normal((3, 2, k))
    out = F.conv1d(x, w, stride=s, dilation=d, padding="same")
    assert out.shape == (1, 3, math.ceil(n / s))
    b, a = onnx_same_upper(n, k, s, d)
    ref = TF.conv1d(TF.pad(torch.tensor(x), (b, a)), torch.tensor(w), stride=s, dilation=d)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-12, atol=1e-12)


def test_same_2d_even_kernel_puts_the_odd_pixel_at_the_end():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 3, 3] = 1.0
    w = np.ones((1, 1, 2, 2))
    out = F.conv2d(x, w, padding="same").numpy()[0, 0]
    # pads (0, 1): output (3, 3) sees x[3:5, 3:5] = the one; (2, 2) sees it too
    assert out[3, 3] == 1.0 and out[2, 2] == 1.0 and out.sum() == 4.0


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 9), k=st.integers(1, 7), s=st.integers(1, 4), d=st.integers(1, 3))
def test_transposed_same_is_n_times_stride_and_the_adjoint_of_same_conv(n, k, s, d):
    u = rng.standard_normal((2, 3, n))
    w = rng.standard_normal((3, 2, k))  # transposed layout (C_in, C_out, k)
    y = F.conv_transpose1d(u, w, stride=s, dilation=d, padding="same")
    assert y.shape == (2, 2, n * s)
    # definition: the adjoint of the "same" conv on an input of length n * s (same weight, conv layout)
    x = rng.standard_normal((2, 2, n * s))
    fwd = F.conv1d(x, w, stride=s, dilation=d, padding="same")
    assert fwd.shape == u.shape
    assert np.isclose(np.sum(fwd.numpy() * u), np.sum(x * y.numpy()), rtol=1e-10)


@pytest.mark.parametrize("extra", [0, 1])
def test_output_size_matches_torch_module(extra):
    torch.manual_seed(0)
    layer = torch.nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1).double()
    u = rng.standard_normal((1, 4, 5, 6))
    size = (9 + extra, 11 + extra)
    ref = layer(torch.tensor(u), output_size=size).detach().numpy()
    out = F.conv_transpose2d(u, layer.weight.detach().numpy(), layer.bias.detach().numpy(), stride=2, padding=1,
                             output_size=size)
    assert out.shape == ref.shape == (1, 2) + size
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-12)
    # a full (N, C, H, W) output_size is accepted too, as in PyTorch
    assert F.conv_transpose2d(u, layer.weight.detach().numpy(), stride=2, padding=1,
                              output_size=(1, 2) + size).shape == (1, 2) + size


def test_output_size_out_of_range_names_the_valid_range():
    with pytest.raises(ValueError, match=r"output_size \(12, 11\) is not reachable.*\(9, 11\) to \(10, 12\)"):
        F.conv_transpose2d(np.ones((1, 4, 5, 6)), np.ones((4, 2, 3, 3)), stride=2, padding=1, output_size=(12, 11))


CASES = [  # rank, x spatial, kernel, stride, dilation, groups, padding
    (1, (11,), (3,), (2,), (1,), 1, ((2, 1),)),
    (2, (7, 8), (3, 2), (2, 1), (1, 2), 2, ((1, 1), (2, 0))),
    (2, (6, 6), (3, 3), (1, 1), (2, 2), 4, ((2, 2), (2, 2))),
    (3, (5, 4, 6), (2, 3, 2), (1, 2, 2), (1, 1, 2), 1, ((1, 0), (1, 1), (0, 1))),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES)
def test_adjoint_identity_for_every_padding_mode(case, mode):
    rank, sizes, kernel, stride, dilation, groups, padding = case
    x = rng.standard_normal((2, 4) + sizes)
    w = rng.standard_normal((4, 4 // groups) + kernel)
    conv = getattr(F, f"conv{rank}d")
    y = conv(x, w, stride=stride, padding=padding, dilation=dilation, groups=groups, padding_mode=mode)
    u = rng.standard_normal(y.shape)
    # the transposed conv's output_size makes it return x's shape when stride leaves trailing samples
    back = getattr(F, f"conv_transpose{rank}d")(u, w, stride=stride, padding=padding, dilation=dilation,
                                                groups=groups, padding_mode=mode, output_size=sizes)
    assert back.shape == x.shape
    assert np.isclose(np.sum(y.numpy() * u), np.sum(x * back.numpy()), rtol=1e-11)


@pytest.mark.parametrize("mode", MODES)
def test_check_vjp_pad_and_pad_adjoint(mode):
    pairs = ((2, 1), (0, 3))
    check_vjp(lambda x: Pad.apply(x, pairs, mode), rng.standard_normal((2, 3, 4, 5)))
    check_vjp(lambda g: PadAdjoint.apply(g, pairs, mode), rng.standard_normal((2, 3, 7, 8)))


@pytest.mark.parametrize("case", CASES)
def test_check_vjp_conv_and_conv_transpose(case):
    rank, sizes, kernel, stride, dilation, groups, _ = case
    x = rng.standard_normal((2, 4) + sizes)
    w = rng.standard_normal((8, 4 // groups) + kernel)
    check_vjp(lambda x, w: Conv.apply(x, w, stride=stride, dilation=dilation, groups=groups), x, w)
    u = rng.standard_normal(Conv.apply(x, w, stride=stride, dilation=dilation, groups=groups).shape)
    wt = rng.standard_normal(w.shape)  # transposed layout (C_in = 8, C_out/groups, *k)
    check_vjp(lambda u, w: ConvTranspose.apply(u, w, stride=stride, dilation=dilation, groups=groups,
                                               padded_shape=sizes), u, wt)


def test_check_vjp_bias_add_and_full_functional_ops():
    check_vjp(BiasAdd.apply, rng.standard_normal((2, 3, 4, 5)), rng.standard_normal(3))
    check_vjp(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding="same", padding_mode="reflect"),
              rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4))
    check_vjp(lambda u, w, b: F.conv_transpose2d(u, w, b, stride=2, padding=1, output_padding=1,
                                                 padding_mode="symmetric"),
              rng.standard_normal((2, 4, 4, 3)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(3))


def test_transposed_padding_modes_fold_the_border_like_the_adjoint():
    # circular transposed conv of a periodic signal wraps around (pytorch/pytorch#46027's use case)
    u = np.zeros((1, 1, 4))
    u[0, 0, 0] = 1.0
    w = np.ones((1, 1, 3))
    zeros = F.conv_transpose1d(u, w, padding=1).numpy()[0, 0]
    circ = F.conv_transpose1d(u, w, padding=1, padding_mode="circular").numpy()[0, 0]
    np.testing.assert_array_equal(zeros, [1, 1, 0, 0])
    np.testing.assert_array_equal(circ, [1, 1, 0, 1])


def test_float32_results_stay_float32_and_are_accurate():
    x = rng.standard_normal((2, 3, 10, 10)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    out = F.conv2d(convzoo.tensor(x), w, padding=1)
    assert out.dtype == np.float32
    ref = F.conv2d(x.astype(np.float64), w.astype(np.float64), padding=1).numpy()
    assert np.abs(out.numpy() - ref).max() <= 1e-5 * np.abs(ref).max()
