"""Pooling ops: PyTorch parity (values, gradients, indices) on drawn geometries, ceil_mode and
count_include_pad edge cases, "same" padding, check_vjp, bad input."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings, strategies as st

import convzoo.nn.functional as F
from tests.gradcheck import check_vjp
from tests.nn.parity import check_parity

DTYPES = [np.float64, np.float32]
MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
TMAX = {1: TF.max_pool1d, 2: TF.max_pool2d, 3: TF.max_pool3d}
TAVG = {1: TF.avg_pool1d, 2: TF.avg_pool2d, 3: TF.avg_pool3d}


@st.composite
def pool_case(draw, max_rank=3):
    rank = draw(st.integers(1, max_rank))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(rank))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    sizes = tuple(draw(st.integers(d * (k - 1) + 1, d * (k - 1) + 6)) for k, d in zip(kernel, dilation))
    batch = (draw(st.integers(1, 2)), draw(st.integers(1, 3)))
    return rank, batch + sizes, kernel, stride, padding, dilation, draw(st.booleans())


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=25, deadline=None)
@given(case=pool_case(), seed=st.integers(0, 2 ** 16))
def test_max_pool_matches_torch(case, seed, dtype):
    rank, shape, kernel, stride, padding, dilation, ceil_mode = case
    x = np.random.default_rng(seed).standard_normal(shape)
    kw = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode)
    check_parity(lambda t: MAX[rank](t, **kw), lambda t: TMAX[rank](t, **kw), [x], dtype)
    ours = MAX[rank](x.astype(dtype), return_indices=True, **kw)[1].numpy()
    theirs = TMAX[rank](torch.tensor(x.astype(dtype)), return_indices=True, **kw)[1].numpy()
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=25, deadline=None)
@given(case=pool_case(), seed=st.integers(0, 2 ** 16), include=st.booleans(),
       divisor=st.sampled_from([None, None, 3]))
def test_avg_pool_matches_torch(case, seed, include, divisor, dtype):
    rank, shape, kernel, stride, padding, _, ceil_mode = case
    x = np.random.default_rng(seed).standard_normal(shape)
    kw = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode, count_include_pad=include)
    if rank > 1:
        kw["divisor_override"] = divisor
    check_parity(lambda t: AVG[rank](t, **kw), lambda t: TAVG[rank](t, **kw), [x], dtype)


@pytest.mark.parametrize("size, kernel, stride, padding", [
    (5, 2, 2, 0),   # ceil adds a half-covered last window
    (6, 3, 2, 1),   # the extra window would start in the right padding: dropped
    (7, 3, 3, 1),
    (4, 2, 3, 1),   # stride larger than kernel
])
@pytest.mark.parametrize("include", [True, False])
def test_ceil_mode_and_count_include_pad_edges(size, kernel, stride, padding, include):
    x = np.random.default_rng(size).standard_normal((2, 3, size, size + 1))
    for ceil_mode in (False, True):
        kw = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode)
        check_parity(lambda t: F.avg_pool2d(t, count_include_pad=include, **kw),
                     lambda t: TF.avg_pool2d(t, count_include_pad=include, **kw), [x], np.float64)
        check_parity(lambda t: F.max_pool2d(t, **kw), lambda t: TF.max_pool2d(t, **kw), [x], np.float64)


def test_max_pool_ties_nan_and_unbatched_follow_torch():
    x = np.zeros((1, 4, 4))
    x[0, 1, 1] = np.nan
    x[0, 2, 3] = np.nan
    x[0, 3, 3] = np.nan
    ours, idx = F.max_pool2d(x, 2, return_indices=True)
    theirs, tidx = TF.max_pool2d(torch.tensor(x), 2, return_indices=True)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_same_padding_pools_to_ceil_n_over_stride(stride):
    x = np.random.default_rng(stride).standard_normal((2, 3, 7, 8))
    out = F.max_pool2d(x, 3, stride, padding="same")
    assert out.shape[2:] == (-(-7 // stride), -(-8 // stride))
    # -inf padding: the result equals max pooling of the explicitly padded input
    pad_h = max((out.shape[2] - 1) * stride + 3 - 7, 0)
    pad_w = max((out.shape[3] - 1) * stride + 3 - 8, 0)
    padded = np.pad(x, ((0, 0), (0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2)),
                    constant_values=-np.inf)
    np.testing.assert_array_equal(out.numpy(), TF.max_pool2d(torch.tensor(padded), 3, stride).numpy())
    # count_include_pad=False averages only the input cells (what Keras/TF do for "same")
    avg = F.avg_pool2d(x, 3, stride, padding="same", count_include_pad=False).numpy()
    ones = np.pad(np.ones_like(x), ((0, 0), (0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2)))
    zeros = np.where(np.isinf(padded), 0, padded)
    expected = TF.avg_pool2d(torch.tensor(zeros), 3, stride).numpy() / TF.avg_pool2d(torch.tensor(ones), 3, stride).numpy()
    np.testing.assert_allclose(avg, expected, rtol=1e-12)


@pytest.mark.parametrize("out_size", [1, 3, (2, 5), (None, 4)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_adaptive_pools_match_torch(out_size, dtype):
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 9))
    check_parity(lambda t: F.adaptive_avg_pool2d(t, out_size), lambda t: TF.adaptive_avg_pool2d(t, out_size),
                 [x], dtype)
    check_parity(lambda t: F.adaptive_max_pool2d(t, out_size), lambda t: TF.adaptive_max_pool2d(t, out_size),
                 [x], dtype)
    _, idx = F.adaptive_max_pool2d(x.astype(dtype), out_size, return_indices=True)
    _, tidx = TF.adaptive_max_pool2d(torch.tensor(x.astype(dtype)), out_size, return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())


@pytest.mark.parametrize("dtype", DTYPES)
def test_adaptive_avg_pool_1d_3d_match_torch(dtype):
    rng = np.random.default_rng(1)
    check_parity(lambda t: F.adaptive_avg_pool1d(t, 4), lambda t: TF.adaptive_avg_pool1d(t, 4),
                 [rng.standard_normal((2, 3, 11))], dtype)
    check_parity(lambda t: F.adaptive_avg_pool3d(t, (2, 1, 3)), lambda t: TF.adaptive_avg_pool3d(t, (2, 1, 3)),
                 [rng.standard_normal((1, 2, 5, 4, 7))], dtype)
    check_parity(lambda t: F.adaptive_avg_pool3d(t, 1), lambda t: TF.adaptive_avg_pool3d(t, 1),
                 [rng.standard_normal((1, 2, 5, 4, 7))], dtype)


def test_vjps_by_finite_differences():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 2, 7, 6))
    check_vjp(lambda t: F.max_pool2d(t, 3, 2, 1, ceil_mode=True), x)
    check_vjp(lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False), x)
    check_vjp(lambda t: F.max_pool1d(t, 2, 1, dilation=2), rng.standard_normal((2, 3, 9)))
    check_vjp(lambda t: F.avg_pool3d(t, 2), rng.standard_normal((1, 2, 4, 4, 5)))
    check_vjp(lambda t: F.adaptive_avg_pool2d(t, (3, 2)), x)
    check_vjp(lambda t: F.adaptive_avg_pool2d(t, 1), x)
    check_vjp(lambda t: F.adaptive_max_pool2d(t, (3, 2)), x)


def test_unbatched_input():
    x = np.random.default_rng(3).standard_normal((3, 8, 8))
    out, idx = F.max_pool2d(x, 2, return_indices=True)
    ref, ridx = TF.max_pool2d(torch.tensor(x), 2, return_indices=True)
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    np.testing.assert_array_equal(idx.numpy(), ridx.numpy())
    assert F.avg_pool1d(np.ones((3, 8)), 2).shape == (3, 4)


@pytest.mark.parametrize("call, match", [
    (lambda: F.max_pool2d(np.ones((1, 1, 6, 6)), 3, padding=2), "at most half of kernel_size"),
    (lambda: F.max_pool2d(np.ones((1, 1, 2, 2)), 3), r"output would be empty .*\(1, 1, 2, 2\)"),
    (lambda: F.max_pool2d(np.ones(6), 2), r"\(N, C, H, W\) or \(C, H, W\); received shape"),
    (lambda: F.max_pool2d(np.ones((1, 1, 6, 6)), 0), "kernel_size must be positive"),
    (lambda: F.avg_pool2d(np.ones((1, 1, 6, 6)), 2, stride=-1), "stride must be positive"),
    (lambda: F.avg_pool2d(np.ones((1, 1, 6, 6)), 2, padding="full"), "'valid', 'same'"),
    (lambda: F.avg_pool2d(np.ones((1, 1, 6, 6)), 2, divisor_override=0), "divisor_override"),
    (lambda: F.adaptive_avg_pool2d(np.ones((1, 1, 6, 6)), 0), "output_size must be positive"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_integer_input_is_refused_with_a_hint():
    with pytest.raises(TypeError, match="astype"):
        F.max_pool2d(np.ones((1, 1, 4, 4), dtype=np.int64), 2)


def test_empty_batch_pools_to_an_empty_batch():
    x = np.ones((0, 3, 4, 4))
    assert F.max_pool2d(x, 2).shape == F.avg_pool2d(x, 2).shape == (0, 3, 2, 2)
    assert F.adaptive_avg_pool2d(x, 1).shape == (0, 3, 1, 1)


def test_a_cached_call_shape_still_rejects_arguments_that_equal_valid_ones():
    # validated geometries are kept per call shape and argument repr: stride=2.0 and True equal 2 and
    # hash alike, and must still be refused after a call with stride=2 filled the cache
    x = np.ones((1, 2, 8, 8), np.float32)
    assert F.max_pool2d(x, 2, stride=2).shape == (1, 2, 4, 4)
    for bad in (2.0, True):
        with pytest.raises(TypeError, match="stride"):
            F.max_pool2d(x, 2, stride=bad)
        with pytest.raises(TypeError, match="stride"):
            F.avg_pool2d(x, 2, stride=bad)
    assert F.max_pool2d(x, [2, 2], stride=(2, 2)).shape == (1, 2, 4, 4)


@pytest.mark.parametrize("bad", [True, 1.0, "2", (1, 2, 3), {1: 1}])
def test_adaptive_output_size_of_the_wrong_type_is_named(bad):
    # a bool, a float, a string or a mapping is refused by name, as a tuple of the wrong length (True
    # had failed inside tuple() with "'bool' object is not iterable")
    x = np.ones((1, 2, 6, 6), np.float32)
    for pool in (F.adaptive_avg_pool2d, F.adaptive_max_pool2d):
        with pytest.raises(TypeError, match=r"output_size must be an int or a tuple of 2 ints or None; received"):
            pool(x, bad)
