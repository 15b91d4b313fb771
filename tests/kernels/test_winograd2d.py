"""2-D Winograd from the 1-D matrices (winograd2d): the three ops against the naive loops on drawn
kernels of 2-7 taps a side with zero padding read in place, chunks of images and of tile rows, the
kernel's transforms against einsum and their adjoint, float32 error against float64 next to direct
convolution's, what it refuses, and the planner's choice for the 7x7 case g0. Strided (all three ops), the
stride-1 conv of the input's phases: drawn kernels and strides against the naive loops, the phase kernel's
transforms against einsum, the weight gradient's blocked sums on two lanes against one, and the planner's
choices for case h1's 4x4 stride-2 conv and for 3x3 and 5x5 ones."""
import math

import numba
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from convzoo.kernels import cost, gemm, microkernel, planner, winograd1d, winograd2d, winograd_channels, workspace
from tests import naive


def _reference(x, w, pads, u):
    xp = naive.pad(x, pads)
    out = naive.conv(xp, w, (1, 1), (1, 1), 1)
    grad = naive.conv_transpose(u, w, (1, 1), (1, 1), 1, xp.shape[2:])
    grad = grad[(Ellipsis, *(slice(b, b + n) for (b, _), n in zip(pads, x.shape[2:])))]
    return out, grad, naive.conv_weight_grad(xp, u, w.shape[2:], (1, 1), (1, 1), 1)


def _check(x_shape, w_shape, pads, dtype=np.float64, tol=1e-10):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    out_shape = tuple(n + b + a - k + 1 for n, (b, a), k in zip(x_shape[2:], pads, w_shape[2:]))
    u = rng.standard_normal((x_shape[0], w_shape[0]) + out_shape)
    want = _reference(x, w, pads, u)
    x, w, u = x.astype(dtype), w.astype(dtype), u.astype(dtype)
    got = (winograd2d.winograd2d_forward(x, w, (1, 1), (1, 1), 1, pads),
           winograd2d.winograd2d_backward_input(u, w, x_shape[2:], (1, 1), (1, 1), 1, pads),
           winograd2d.winograd2d_backward_weight(x, u, w_shape[2:], (1, 1), (1, 1), 1, pads))
    for name, a, b in zip(("forward", "backward_input", "backward_weight"), got, want):
        assert a.shape == b.shape and a.dtype == dtype, name
        err = np.abs(a - b).max() / np.abs(b).max()
        assert err <= tol, f"{name}: relative error {err:.3g}"


@settings(max_examples=60, deadline=None)
@given(batch=st.integers(1, 3), c=st.integers(1, 4), o=st.integers(1, 4),
       kernel=st.tuples(st.sampled_from(winograd1d.TAPS), st.sampled_from(winograd1d.TAPS)).filter(
           lambda k: k != (3, 3)),
       size=st.tuples(st.integers(1, 14), st.integers(1, 14)), pads=st.lists(st.integers(0, 4), min_size=4, max_size=4))
def test_ops_match_the_naive_loops(batch, c, o, kernel, size, pads):
    # F(4, r) on an axis of up to 5 taps, F(2, r) of 6 and 7; rectangular kernels mix the two; the
    # last tiles of a row or column are completed by zeros and cropped
    pads = ((pads[0], pads[1]), (pads[2], pads[3]))
    if any(n + b + a < k for n, (b, a), k in zip(size, pads, kernel)):
        return
    _check((batch, c) + size, (o, c) + kernel, pads)


def _assert_close(got, want, bound, tol):
    # relative to the largest value, or, where every value is (near) zero (windows over padding alone),
    # to a thousandth of the largest any could be: a tile mixing such a window with one that reads the
    # input rounds its zero to about 1e-16 of the input's products (3.5e-18 for a 1 x 1 input)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= tol * max(np.abs(want).max(), 1e-3 * bound)


def _check_strided(x_shape, w_shape, stride, pads, tol=1e-10):
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    xp = naive.pad(x, pads)
    want = naive.conv(xp, w, stride, (1, 1), 1)
    u = rng.standard_normal(want.shape)
    got = winograd2d.winograd2d_forward(x, w, stride, (1, 1), 1, pads)
    _assert_close(got, want, np.abs(x).max() * np.abs(w).sum(), tol)
    want = naive.conv_weight_grad(xp, u, w_shape[2:], stride, (1, 1), 1)
    got = winograd2d.winograd2d_backward_weight(x, u, w_shape[2:], stride, (1, 1), 1, pads)
    _assert_close(got, want, np.abs(x).max() * np.abs(u).sum(), tol)
    # the input gradient, the transposed conv cropped to x (padding, and rows no window reads, get none back)
    want = naive.conv_transpose(u, w, stride, (1, 1), 1, xp.shape[2:])
    want = want[(Ellipsis, *(slice(b, b + n) for (b, _), n in zip(pads, x_shape[2:])))]
    got = winograd2d.winograd2d_backward_input(u, w, x_shape[2:], stride, (1, 1), 1, pads)
    _assert_close(got, want, np.abs(u).max() * np.abs(w).sum(), tol)


@settings(max_examples=60, deadline=None)
@given(batch=st.integers(1, 2), c=st.integers(1, 3), o=st.integers(1, 3), stride=st.tuples(
           st.integers(1, 3), st.integers(1, 3)).filter(lambda s: s != (1, 1)),
       kernel=st.tuples(st.integers(2, 9), st.integers(2, 9)),
       size=st.tuples(st.integers(1, 20), st.integers(1, 20)), pads=st.lists(st.integers(0, 3), min_size=4, max_size=4))
@example(batch=1, c=1, o=1, stride=(1, 2), kernel=(2, 3), size=(1, 1), pads=[0, 1, 3, 0])  # an output of padding alone
def test_strided_ops_match_the_naive_loops(batch, c, o, stride, kernel, size, pads):
    # ceil(k / s) taps an axis on the input's phases, each zero past the kernel; the phases of the last
    # rows and columns (read by no window, or past the input) are zeros
    pads = ((pads[0], pads[1]), (pads[2], pads[3]))
    g = planner.ConvGeometry.of((batch, c) + tuple(n + b + a for n, (b, a) in zip(size, pads)), (o, c) + kernel,
                                stride, (1, 1), 1, 8)
    if any(n + b + a < k for n, (b, a), k in zip(size, pads, kernel)) or winograd2d.requirement(g) is not None:
        return
    _check_strided((batch, c) + size, (o, c) + kernel, stride, pads)


def test_strided_ops_in_chunks_of_images_and_tile_rows():
    for limit in (4096, 1 << 20):
        with workspace.limited(limit):
            _check_strided((3, 3, 20, 17), (4, 3, 4, 4), (2, 2), ((1, 1), (1, 1)))
            _check_strided((2, 2, 19, 23), (3, 2, 5, 7), (2, 3), ((2, 0), (1, 3)))


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two threads")
@pytest.mark.parametrize("stride", [(1, 1), (2, 2)])
def test_the_weight_gradient_by_blocks_of_points_gives_the_bits_of_one_lane(stride):
    # dU summed a block of Winograd points at a time (gradient_block), each block in chunk order: the bits
    # do not depend on the lanes, and dU and a block's partial sum per lane is the scratch the cost counts
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, 5, 17, 15)).astype(np.float32)
    g = rng.standard_normal((6, 4, 8 if stride == (2, 2) else 15, 7 if stride == (2, 2) else 13)).astype(np.float32)
    pads = ((1, 0), (1, 0)) if stride == (2, 2) else ((1, 1), (1, 1))

    def run():
        with workspace.limited(6 * 5 * 17 * 15 * 4):  # about one image a chunk: six chunks
            return winograd2d.winograd2d_backward_weight(x, g, (4, 4) if stride == (2, 2) else (5, 5), stride,
                                                         (1, 1), 1, pads)
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run()
    finally:
        numba.set_num_threads(previous)
    np.testing.assert_array_equal(run(), one)
    assert winograd2d.gradient_block(25) == 7 and winograd2d.gradient_block(64) == 16


def test_the_phase_kernels_transforms_are_those_of_the_rearranged_kernel():
    # stride (2, 3) on a 5x7 kernel: 3x3 taps on 6 phases of each channel, the taps past the kernel zero
    rng = np.random.default_rng(6)
    w = rng.standard_normal((20, 3, 5, 7))
    padded = np.zeros((20, 3, 6, 9))
    padded[:, :, :5, :7] = w
    phases = padded.reshape(20, 3, 3, 2, 3, 3).transpose(0, 1, 3, 5, 2, 4).reshape(20, 18, 3, 3)
    (m_h, m_w), _ = winograd2d.shape((3, 3))
    g_h, g_w = winograd1d.matrices(3, m_h)[1], winograd1d.matrices(3, m_w)[1]
    u = winograd_channels.kernel_transform(w, g_h, g_w, np.float64, (2, 3))
    want = np.einsum("ak,bl,ockl->abco", g_h, g_w, phases).reshape(u.shape)
    np.testing.assert_allclose(u, want, rtol=1e-14, atol=1e-14)
    du = rng.standard_normal((u.shape[0], 20, 18))
    dw = winograd_channels.kernel_gradient_transform(du, g_h, g_w, (5, 7), (2, 3))
    assert dw.shape == w.shape
    # the adjoint identity <U(w), dU> = <w, dw>
    assert math.isclose(np.vdot(u.transpose(0, 2, 1), du), np.vdot(w, dw), rel_tol=1e-12)


def test_chunks_of_images_and_of_tile_rows_give_the_same_result():
    # a budget of a few tile rows cuts each image into bands; one that fits two images cuts the
    # batch; the weight gradient sums the chunks in order
    for limit in (4096, 2 * 64 * 7 * 10 * 8, 1 << 20):
        with workspace.limited(limit):
            _check((3, 3, 17, 13), (4, 3, 7, 7), ((3, 3), (3, 3)))
            _check((2, 4, 12, 9), (3, 4, 5, 2), ((2, 1), (0, 1)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel", [(7, 7), (5, 2), (2, 6)])
def test_kernel_transforms_are_g_w_g_t_and_its_adjoint_in_float64(kernel, dtype):
    (m_h, m_w), (alpha_h, alpha_w) = winograd2d.shape(kernel)
    g_h, g_w = winograd1d.matrices(kernel[0], m_h)[1], winograd1d.matrices(kernel[1], m_w)[1]
    rng = np.random.default_rng(sum(kernel))
    tol = 1e-7 if dtype == np.float32 else 1e-14  # within one rounding of the float64 sum
    for o, c in ((20, 12), (96, 64)):  # the second on two lanes (KERNEL_GRAIN)
        w = rng.standard_normal((o, c) + kernel).astype(dtype)
        u = winograd_channels.kernel_transform(w, g_h, g_w, dtype)
        assert u.dtype == dtype and u.shape == (alpha_h * alpha_w, c, o)
        want = np.einsum("ak,bl,ockl->abco", g_h, g_w, w.astype(np.float64)).reshape(u.shape)
        np.testing.assert_allclose(u, want, rtol=tol, atol=tol)
        du = rng.standard_normal((alpha_h * alpha_w, o, c)).astype(dtype)
        dw = winograd_channels.kernel_gradient_transform(du, g_h, g_w, kernel)
        want = np.einsum("ak,bl,aboc->ockl", g_h, g_w, du.astype(np.float64).reshape(alpha_h, alpha_w, o, c))
        assert dw.dtype == dtype
        np.testing.assert_allclose(dw, want, rtol=tol, atol=tol)
        # the adjoint identity <G_h w G_w^T, dU> = <w, G_h^T dU G_w>, in float64 (U is stored C x O)
        u64 = winograd_channels.kernel_transform(w.astype(np.float64), g_h, g_w, np.float64)
        dw64 = winograd_channels.kernel_gradient_transform(du.astype(np.float64), g_h, g_w, kernel)
        assert math.isclose(np.vdot(u64.transpose(0, 2, 1), du), np.vdot(w.astype(np.float64), dw64), rel_tol=1e-12)


@pytest.mark.parametrize("k, bound", [(7, 1.5e-5), (5, 2e-5)])
def test_float32_error_is_about_ten_times_direct_convolutions(k, bound):
    # 64 -> 64 channels at 28 x 28, 'same' padding: measured 4.6e-6 (7x7, F(2x2, 7x7)) and 6.7e-6 (5x5,
    # F(4x4, 5x5)) of the largest output, direct convolution through im2col 4-7e-7: the README's figures
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((1, 64, 28, 28)), rng.standard_normal((64, 64, k, k))
    pads = ((k // 2, k // 2),) * 2
    want = naive.conv(naive.pad(x, pads), w, (1, 1), (1, 1), 1)
    x32, w32 = x.astype(np.float32), w.astype(np.float32)
    scale = np.abs(want).max()
    wino = np.abs(winograd2d.winograd2d_forward(x32, w32, (1, 1), (1, 1), 1, pads) - want).max() / scale
    direct = np.abs(gemm.im2col_forward(x32, w32, (1, 1), (1, 1), 1, pads) - want).max() / scale
    assert wino < bound and wino < 30 * direct, (wino, direct)


def test_float32_ops_stay_within_float32_tolerance():
    _check((2, 16, 20, 18), (8, 16, 7, 7), ((3, 3), (3, 3)), np.float32, tol=3e-5)
    _check((2, 16, 20, 18), (8, 16, 5, 4), ((2, 2), (1, 2)), np.float32, tol=3e-5)


def test_float32_error_on_the_phases_of_case_h1s_strided_conv():
    # 4x4 stride 2, 64 -> 128 channels at 56 px, padding 1: F(4x4, 2x2) over 256 phase channels. Measured 7.0e-6
    # of the largest output forward, 4.5e-6 for the input gradient and 1.3e-6 for the weight gradient; im2col
    # 5.1e-7, 2.7e-7 and 5.2e-7: the README's
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((1, 64, 56, 56)), rng.standard_normal((128, 64, 4, 4))
    pads = ((1, 1), (1, 1))
    xp = naive.pad(x, pads)
    want = naive.conv(xp, w, (2, 2), (1, 1), 1)
    u = rng.standard_normal(want.shape)
    grad = naive.conv_weight_grad(xp, u, (4, 4), (2, 2), (1, 1), 1)
    grad_x = naive.conv_transpose(u, w, (2, 2), (1, 1), 1, xp.shape[2:])[:, :, 1:57, 1:57]
    x32, w32, u32 = x.astype(np.float32), w.astype(np.float32), u.astype(np.float32)
    for got, direct, exact, bound in (
            (winograd2d.winograd2d_forward(x32, w32, (2, 2), (1, 1), 1, pads),
             gemm.im2col_forward(x32, w32, (2, 2), (1, 1), 1, pads), want, 1.5e-5),
            (winograd2d.winograd2d_backward_weight(x32, u32, (4, 4), (2, 2), (1, 1), 1, pads),
             gemm.im2col_backward_weight(x32, u32, (4, 4), (2, 2), (1, 1), 1, pads), grad, 5e-6),
            (winograd2d.winograd2d_backward_input(u32, w32, (56, 56), (2, 2), (1, 1), 1, pads),
             gemm.im2col_backward_input(u32, w32, (56, 56), (2, 2), (1, 1), 1, pads), grad_x, 1.5e-5)):
        scale = np.abs(exact).max()
        wino, reference = np.abs(got - exact).max() / scale, np.abs(direct - exact).max() / scale
        assert wino < bound and wino < 30 * reference, (wino, reference)


def test_requirement_names_what_it_needs():
    def reason(x_shape, w_shape, stride=(1, 1), dilation=(1, 1), groups=1):
        return winograd2d.requirement(planner.ConvGeometry.of(x_shape, w_shape, stride, dilation, groups, 4))

    assert reason((1, 2, 10, 10), (2, 2, 7, 7)) is None
    assert reason((1, 2, 10, 10), (2, 2, 2, 2)) is None
    assert reason((1, 2, 10, 10), (2, 2, 5, 3)) is None
    assert "3x3" in reason((1, 2, 10, 10), (2, 2, 3, 3))
    assert "2-D" in reason((1, 2, 10), (2, 2, 5))
    assert "2-D" in reason((1, 2, 10, 10), (2, 2, 7, 1))
    assert "taps" in reason((1, 2, 10, 10), (2, 2, 9, 9))
    assert "groups" in reason((1, 2, 10, 10), (2, 1, 5, 5), groups=2)
    assert "dilation" in reason((1, 2, 10, 10), (2, 2, 5, 5), dilation=(1, 2))
    # strided, the stride-1 kernel on the input's phases: ceil(k / s) taps an axis
    assert reason((1, 2, 10, 10), (2, 2, 5, 5), stride=(2, 2)) is None
    assert reason((1, 2, 10, 10), (2, 2, 3, 3), stride=(2, 2)) is None  # 2x2 on the phases
    assert reason((1, 2, 30, 30), (2, 2, 9, 9), stride=(2, 2)) is None  # 5x5 on the phases
    assert "phases ((1, 1))" in reason((1, 2, 10, 10), (2, 2, 4, 4), stride=(4, 4))
    assert "phases ((1, 3))" in reason((1, 2, 10, 10), (2, 2, 2, 6), stride=(2, 2))
    assert "3x3" in reason((1, 2, 10, 10), (2, 2, 3, 3))


def test_planner_picks_it_for_the_7x7_case_and_not_for_lenets_small_layers():
    # g0: 7x7 64 -> 64 at 28 px (timed at batch 1 1.3-1.8 ms against im2col's 2.0-2.5 per pass, at
    # batch 32 28-29 against FFT's 31-35 forward and input gradient; the weight gradient at batch 32,
    # 32-34 against 33-39, is a near tie in the model too); LeNet-5's 6 -> 16 at 10 px stays where it was
    for batch in (1, 32):
        g = planner.ConvGeometry.of((batch, 64, 34, 34), (64, 64, 7, 7), (1, 1), (1, 1), 1, 4, inner=(28, 28))
        for op in ("forward", "backward_input") + (("backward_weight",) if batch == 1 else ()):
            assert planner.plan(op, g).algorithm == "winograd2d", (batch, op)
    lenet = planner.ConvGeometry.of((64, 6, 14, 14), (16, 6, 5, 5), (1, 1), (1, 1), 1, 4)
    for op in planner.OPS:
        assert planner.plan(op, lenet).algorithm != "winograd2d", op


def test_cost_charges_the_kernel_transform_on_one_thread_below_the_grain(monkeypatch):
    g = planner.ConvGeometry.of((1, 32, 34, 34), (32, 32, 7, 7), (1, 1), (1, 1), 1, 4, inner=(28, 28))
    with_kernel = cost.winograd2d_cost("forward", g, 2)
    monkeypatch.setattr(cost, "KERNEL_1D", 0.0)
    # 32 x 32 channels of 7 x 7 taps: 7 x (7 x 8) along the rows and 8 x 8 x 7 along the columns each
    assert with_kernel - cost.winograd2d_cost("forward", g, 2) == pytest.approx(32 * 32 * 7 * (7 * 8 + 8 * 8) * 0.15e-9)


def test_planner_picks_it_for_case_h1s_strided_conv_within_the_budget():
    # the 4x4 stride-2 conv 64 -> 128 at 56 px (case h1's gradients; padding 1): 2x2 taps on 256 phase channels,
    # F(4x4, 2x2). At batch 32 the forward 27 against im2col's 39 ms, the weight gradient 31 against 42 (dU, 3.3
    # MB, and a block of 7 points per lane within the 8 MiB workspace; a whole partial dU per lane was 9.8 MB;
    # under 5.1 MB, im2col), the input gradient (h1's forward, a transposed conv) 33 against 38. At batch 1 im2col
    # (cost.STRIDED_WINOGRAD2D: after a GEMM on OpenBLAS's threads winograd2d's second lane shares a core), but
    # for the forward, which direct's strided tiles run fastest (1.05-1.07 ms against 1.15 and 1.28: plan audit bv)
    for batch in (1, 32):
        g = planner.ConvGeometry.of((batch, 64, 58, 58), (128, 64, 4, 4), (2, 2), (1, 1), 1, 4, inner=(56, 56))
        chosen = "winograd2d" if batch == 32 else "im2col"
        forward = "direct" if batch == 1 and microkernel.available() else chosen
        assert planner.plan("forward", g).algorithm == forward
        assert planner.plan("backward_weight", planner._read_extent(g, "backward_weight")).algorithm == chosen
        assert planner.plan("backward_input", g).algorithm == chosen
    with workspace.limited(4 << 20):  # dU alone 3.3 MB, with two lanes' blocks of 7 points 5.1 MB
        assert planner.plan("backward_weight", planner._read_extent(g, "backward_weight")).algorithm == "im2col"


@pytest.mark.parametrize("kernel, chosen", [(3, "im2col"), (5, "winograd2d")])
def test_a_strided_3x3_keeps_off_the_phases_and_a_5x5_takes_them(kernel, chosen):
    # 64 -> 128 at 56 px, batch 32, stride 2 (cost.STRIDED_WINOGRAD2D): 3x3, 2x2 taps on the phases with 7 of
    # 16 zero, ran 31 ms forward on winograd2d against im2col's 26 and direct's 24 (which plans it:
    # cost.DIRECT_STRIDED), its input gradient 34 against 22, its weight gradient 33 against 24; 5x5 (3x3 on
    # the phases) 43 against im2col's 71, 36 against 56, 44 against 69
    pad = kernel // 2
    g = planner.ConvGeometry.of((32, 64, 56 + 2 * pad, 56 + 2 * pad), (128, 64, kernel, kernel), (2, 2), (1, 1), 1, 4,
                                inner=(56, 56))
    for op in planner.OPS:
        plan = planner.plan(op, g if op != "backward_weight" else planner._read_extent(g, op))
        want = "direct" if kernel == 3 and op == "forward" and microkernel.available() else chosen
        assert plan.algorithm == want and "winograd2d" in plan.estimates, op
