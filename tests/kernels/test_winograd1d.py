"""1-D Winograd F(4, r) and F(2, r): the Toom-Cook matrices against the correlation they stand for,
the three ops against the naive loops (1-D, k x 1 and 1 x k kernels, zero padding read in place,
groups, chunks of images and of tiles), 1 x k kernels on columns as k x 1 on rows, float32 error against
float64 next to direct convolution's, and the planner's choice."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convzoo.kernels import cost, gemm, planner, winograd1d, workspace
from tests import naive


@pytest.mark.parametrize("r", winograd1d.TAPS)
@pytest.mark.parametrize("tile", [winograd1d.tile, winograd1d.tile_2d])
def test_matrices_compute_a_tile_of_the_correlation(r, tile):
    m = tile(r)
    at, g, bt = winograd1d.matrices(r, m)
    alpha = r + m - 1
    assert alpha <= 10 and at.shape == (m, alpha) and g.shape == (alpha, r) and bt.shape == (alpha, alpha)
    rng = np.random.default_rng(r)
    for _ in range(5):
        d, w = rng.standard_normal(alpha), rng.standard_normal(r)
        want = [sum(w[k] * d[i + k] for k in range(r)) for i in range(m)]
        np.testing.assert_allclose(at @ ((g @ w) * (bt @ d)), want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("r", [3, 7])
def test_kernel_transforms_are_g_w_and_its_adjoint_in_float64(r, dtype):
    # U = G w and dw = dU G summed in float64 whatever the dtype, on lanes by output channel
    m = winograd1d.tile(r)
    _, g, _ = winograd1d.matrices(r, m)
    alpha = r + m - 1
    rng = np.random.default_rng(r)
    w = rng.standard_normal((40, 24, r)).astype(dtype)
    u = np.empty((alpha, 40, 24), dtype)
    winograd1d._kernel_rows(w, g, u, 0, 40)
    # within one rounding of the float64 sum (the order of its terms may differ)
    tol = 1e-7 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(u, np.einsum("ak,ock->aoc", g, w.astype(np.float64)), rtol=tol, atol=tol)
    du = rng.standard_normal(u.shape).astype(dtype)
    dw = np.empty(w.shape, dtype)
    winograd1d._kernel_grad_rows(du, g, dw, 0, 40)
    np.testing.assert_allclose(dw, np.einsum("aoc,ak->ock", du.astype(np.float64), g), rtol=tol, atol=tol)
    # the adjoint identity <G w, dU> = <w, dU G>, in float64
    u64, dw64 = np.empty(u.shape), np.empty(w.shape)
    winograd1d._kernel_rows(w.astype(np.float64), g, u64, 0, 40)
    winograd1d._kernel_grad_rows(du.astype(np.float64), g, dw64, 0, 40)
    assert math.isclose(np.vdot(u64, du), np.vdot(w.astype(np.float64), dw64), rel_tol=1e-12)


def _reference(x, w, pads, groups, u):
    xp = naive.pad(x, pads)
    ones = (1,) * (x.ndim - 2)
    out = naive.conv(xp, w, ones, ones, groups)
    grad = naive.conv_transpose(u, w, ones, ones, groups, xp.shape[2:])
    grad = grad[(Ellipsis, *(slice(b, b + n) for (b, _), n in zip(pads, x.shape[2:])))]
    return out, grad, naive.conv_weight_grad(xp, u, w.shape[2:], ones, ones, groups)


def _check(x_shape, w_shape, pads, groups, dtype=np.float64, tol=1e-10):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    out_shape = tuple(n + b + a - k + 1 for n, (b, a), k in zip(x_shape[2:], pads, w_shape[2:]))
    u = rng.standard_normal((x_shape[0], w_shape[0]) + out_shape)
    want = _reference(x, w, pads, groups, u)
    x, w, u = x.astype(dtype), w.astype(dtype), u.astype(dtype)
    ones = (1,) * len(out_shape)
    got = (winograd1d.winograd1d_forward(x, w, ones, ones, groups, pads),
           winograd1d.winograd1d_backward_input(u, w, x_shape[2:], ones, ones, groups, pads),
           winograd1d.winograd1d_backward_weight(x, u, w_shape[2:], ones, ones, groups, pads))
    for name, a, b in zip(("forward", "backward_input", "backward_weight"), got, want):
        assert a.shape == b.shape and a.dtype == dtype, name
        err = np.abs(a - b).max() / np.abs(b).max()
        assert err <= tol, f"{name}: relative error {err:.3g}"


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 3), cg=st.integers(1, 3), og=st.integers(1, 3), groups=st.integers(1, 2),
       r=st.sampled_from(winograd1d.TAPS), length=st.integers(1, 30), before=st.integers(0, 6),
       after=st.integers(0, 6))
def test_ops_match_the_naive_loops(batch, cg, og, groups, r, length, before, after):
    if length + before + after < r:
        return
    _check((batch, cg * groups, length), (og * groups, cg, r), ((before, after),), groups)


@settings(max_examples=60, deadline=None)
@given(batch=st.integers(1, 2), cg=st.integers(1, 3), og=st.integers(1, 2), groups=st.integers(1, 2),
       r=st.sampled_from(winograd1d.TAPS), along=st.integers(1, 12), across=st.integers(1, 5),
       pads=st.lists(st.integers(0, 4), min_size=4, max_size=4), one_by_k=st.booleans())
def test_two_d_k_by_one_and_one_by_k_kernels_match_the_naive_loops(batch, cg, og, groups, r, along, across, pads,
                                                                   one_by_k):
    # k x 1: whole rows are the samples, and padding left and right adds zero output columns; 1 x k:
    # whole columns, read and written in place
    if along + pads[0] + pads[1] < r:
        return
    size, kernel = (along, across), (r, 1)
    if one_by_k:
        size, kernel, pads = size[::-1], kernel[::-1], pads[2:] + pads[:2]
    _check((batch, cg * groups) + size, (og * groups, cg) + kernel, ((pads[0], pads[1]), (pads[2], pads[3])), groups)


@pytest.mark.parametrize("shape, pads", [((2, 3, 17, 9), ((1, 0), (3, 3))), ((1, 4, 9, 17), ((0, 0), (2, 4))),
                                         ((2, 64, 28, 28), ((0, 0), (3, 3))), ((1, 2, 1, 13), ((2, 1), (0, 0)))])
def test_one_by_k_on_columns_is_k_by_one_on_the_transposed_planes_bit_for_bit(shape, pads):
    # the 1 x k kernel's transforms gather and scatter columns in place of a transposed copy: the same
    # sums in the same order as the k x 1 kernel's on transposed planes, for all three ops
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((5, shape[1], 1, 7)).astype(np.float32)
    ones = (1, 1)
    t = lambda a: np.ascontiguousarray(a.swapaxes(-1, -2))  # noqa: E731
    out = winograd1d.winograd1d_forward(x, w, ones, ones, 1, pads)
    np.testing.assert_array_equal(out, t(winograd1d.winograd1d_forward(t(x), t(w), ones, ones, 1, pads[::-1])))
    u = rng.standard_normal(out.shape).astype(np.float32)
    gi = winograd1d.winograd1d_backward_input(u, w, shape[2:], ones, ones, 1, pads)
    np.testing.assert_array_equal(gi, t(winograd1d.winograd1d_backward_input(t(u), t(w), shape[2:][::-1], ones, ones,
                                                                              1, pads[::-1])))
    gw = winograd1d.winograd1d_backward_weight(x, u, (1, 7), ones, ones, 1, pads)
    np.testing.assert_array_equal(gw, t(winograd1d.winograd1d_backward_weight(t(x), t(u), (7, 1), ones, ones, 1,
                                                                               pads[::-1])))


def test_chunks_of_images_and_of_tiles_give_the_same_result():
    # a budget of a few tiles cuts each image's tiles into ranges; one that fits two images cuts
    # the batch; the weight gradient sums the chunks in order
    for limit in (4096, 3 * 8 * 8 * 11 * 4 * 2, 1 << 20):
        with workspace.limited(limit):
            _check((5, 3, 41), (8, 3, 5), ((2, 2),), 1)
            _check((2, 4, 30), (6, 2, 3), ((1, 0),), 2)
            _check((3, 3, 17, 9), (4, 3, 7, 1), ((3, 3), (1, 0)), 1)
            _check((3, 3, 9, 17), (4, 3, 1, 7), ((1, 0), (3, 3)), 1)


@pytest.mark.parametrize("r, bound, times", [(5, 5e-6, 10), (7, 1.2e-5, 40)])
def test_float32_error_is_a_few_times_direct_convolutions(r, bound, times):
    # 64 -> 64 channels over 4096 samples, measured against the largest output: 5 taps (F(4, 5)) 1.3e-6,
    # 7 taps (F(4, 7), points up to 3/4) about 5e-6, F(4x4,3x3)'s range; direct convolution through
    # im2col 3-4e-7; the README's figures
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((1, 64, 4096)), rng.standard_normal((64, 64, r))
    pads = ((r // 2, r // 2),)
    want = naive.conv(naive.pad(x, pads), w, (1,), (1,), 1)
    x32, w32 = x.astype(np.float32), w.astype(np.float32)
    scale = np.abs(want).max()
    wino = np.abs(winograd1d.winograd1d_forward(x32, w32, (1,), (1,), 1, pads) - want).max() / scale
    direct = np.abs(gemm.im2col_forward(x32, w32, (1,), (1,), 1, pads) - want).max() / scale
    assert wino < bound and wino < times * direct, (wino, direct)


def test_float32_ops_stay_within_float32_tolerance():
    _check((2, 16, 100), (8, 16, 5), ((2, 2),), 1, np.float32, tol=2e-5)
    _check((2, 16, 100), (8, 8, 3), ((1, 1),), 2, np.float32, tol=2e-5)


def test_requirement_names_what_it_needs():
    def reason(x_shape, w_shape, stride=None, dilation=None):
        ones = (1,) * (len(x_shape) - 2)
        g = planner.ConvGeometry.of(x_shape, w_shape, stride or ones, dilation or ones, 1, 4)
        return winograd1d.requirement(g)

    assert reason((1, 2, 10), (2, 2, 5)) is None
    assert reason((1, 2, 10), (2, 2, 7)) is None
    assert reason((1, 2, 10, 10), (2, 2, 6, 1)) is None
    assert reason((1, 2, 10, 10), (2, 2, 7, 1), dilation=(1, 3)) is None  # across a one-wide kernel
    assert reason((1, 2, 10, 10), (2, 2, 1, 7)) is None
    assert reason((1, 2, 10, 10), (2, 2, 1, 7), dilation=(3, 1)) is None
    assert "k x 1" in reason((1, 2, 10, 10), (2, 2, 3, 3))
    assert "k x 1" in reason((1, 2, 10, 10, 10), (2, 2, 3, 1, 1))
    assert "taps" in reason((1, 2, 10, 10), (2, 2, 1, 1))
    assert "taps" in reason((1, 2, 10, 10), (2, 2, 1, 8))
    assert "dilation" in reason((1, 2, 10, 10), (2, 2, 3, 1), dilation=(2, 1))
    assert "dilation" in reason((1, 2, 10, 10), (2, 2, 1, 3), dilation=(1, 2))
    assert "stride" in reason((1, 2, 10, 10), (2, 2, 1, 3), stride=(2, 1))
    assert "stride" in reason((1, 2, 10, 10), (2, 2, 3, 1), stride=(1, 2))
    assert "taps" in reason((1, 2, 10), (2, 2, 9))
    assert "stride" in reason((1, 2, 10), (2, 2, 3), stride=(2,))
    assert "dilation" in reason((1, 2, 10), (2, 2, 3), dilation=(2,))


def test_planner_picks_it_for_a_long_conv1d_and_not_for_a_tiny_one():
    for batch in (1, 32):
        g = planner.ConvGeometry.of((batch, 64, 4100), (64, 64, 5), (1,), (1,), 1, 4, inner=(4096,))
        for op in ("forward", "backward_input", "backward_weight"):
            assert planner.plan(op, g).algorithm == "winograd1d", (batch, op)
    # a spatially separable conv's halves at batch 32 (64 -> 64 at 28 x 28): both run 1-D Winograd
    for kernel, padded in (((7, 1), (34, 28)), ((1, 7), (28, 34))):
        g = planner.ConvGeometry.of((32, 64) + padded, (64, 64) + kernel, (1, 1), (1, 1), 1, 4, inner=(28, 28))
        assert planner.plan("forward", g).algorithm == "winograd1d", kernel
    tiny = planner.ConvGeometry.of((1, 2, 12), (2, 2, 3), (1,), (1,), 1, 4)
    assert planner.plan("forward", tiny).algorithm == "im2col"


def test_cost_counts_the_kernel_transform(monkeypatch):
    # U = G w of alpha x O x C elements, r multiply-adds each: g's 1 x 7 half at batch 1 (F(4, 7), alpha =
    # 10: 287 Ki multiply-adds) on the two lanes, from KERNEL_GRAIN; 5 taps (164 Ki) on one thread
    for taps, lanes in ((7, 2), (5, 1)):
        g = planner.ConvGeometry.of((1, 64, 28, 28 + taps - 1), (64, 64, 1, taps), (1, 1), (1, 1), 1, 4,
                                    inner=(28, 28))
        alpha = taps + winograd1d.tile(taps) - 1
        assert (alpha * 64 * 64 * taps >= winograd1d.KERNEL_GRAIN) == (lanes == 2)
        with monkeypatch.context() as patch:
            with_kernel, per = {op: cost.winograd1d_cost(op, g, 2) for op in planner.OPS}, cost.KERNEL_1D
            patch.setattr(cost, "KERNEL_1D", 0.0)
            for op in planner.OPS:
                assert with_kernel[op] - cost.winograd1d_cost(op, g, 2) == pytest.approx(
                    alpha * 64 * 64 * taps * per / lanes)


def test_transformed_kernel_over_the_workspace_limit_rules_it_out():
    # U is alpha x O x C (8 x 64 x 64 float32: 128 KiB for 5 taps); over the budget the estimate is
    # infinite and the planner takes another algorithm unless forced
    g = planner.ConvGeometry.of((32, 64, 4100), (64, 64, 5), (1,), (1,), 1, 4, inner=(4096,))
    with workspace.limited(100 << 10):
        assert math.isinf(planner.ALGORITHMS["winograd1d"].cost("forward", g, 2))
        assert planner.plan("forward", g).algorithm != "winograd1d"
    assert not math.isinf(planner.ALGORITHMS["winograd1d"].cost("forward", g, 2))
