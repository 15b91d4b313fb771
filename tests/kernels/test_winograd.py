"""Winograd kernels (forward, input and weight gradients) against the naive loops: the hard-coded
transforms against their matrices, zero padding read in place, dilation by polyphase sub-images,
chunking across work items, and the planner's choices for them."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import convzoo
import convzoo.nn.functional as F
from convzoo.kernels import lanes, microkernel, planner, winograd, winograd_transforms, workspace
from tests import naive


def _reference(x, w, pads, dilation, groups):
    """(forward, backward_input of u, backward_weight of u, u) in float64 by the naive loops, x
    zero-padded by pads."""
    xp = naive.pad(x.astype(np.float64), pads)
    d = (dilation, dilation)
    out = naive.conv(xp, w.astype(np.float64), (1, 1), d, groups)
    u = np.random.default_rng(1).standard_normal(out.shape)
    grad = naive.conv_transpose(u, w.astype(np.float64), (1, 1), d, groups, xp.shape[2:])
    (top, _), (left, _) = pads
    grad_w = naive.conv_weight_grad(xp, u, (3, 3), (1, 1), d, groups)
    return out, grad[:, :, top:top + x.shape[2], left:left + x.shape[3]], grad_w, u


def _check(x_shape, w_shape, pads, dilation, groups, tile, dtype=np.float64, minor=None):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    out, grad, grad_w, u = _reference(x, w, pads, dilation, groups)
    d, u = (dilation, dilation), u.astype(dtype)
    got = winograd.winograd_forward(x, w, (1, 1), d, groups, tile, pads=pads, minor=minor)
    got_grad = winograd.winograd_backward_input(u, w, x_shape[2:], (1, 1), d, groups, tile, pads=pads, minor=minor)
    got_w = winograd.winograd_backward_weight(x, u, (3, 3), (1, 1), d, groups, tile, pads=pads, minor=minor)
    tol = 1e-10 if dtype == np.float64 else 2e-5
    for name, a, b in (("forward", got, out), ("backward_input", got_grad, grad),
                       ("backward_weight", got_w, grad_w)):
        assert a.shape == b.shape and a.dtype == dtype, (name, a.shape, b.shape)
        err = np.abs(a - b).max(initial=0.0)
        assert err <= tol * max(np.abs(b).max(initial=0.0), 1.0), (name, err)


@pytest.mark.parametrize("tile", [2, 4])
def test_hard_coded_transforms_equal_their_matrices(tile):
    bt, _, at = winograd_transforms.MATRICES[tile]
    a = np.random.default_rng(2).standard_normal((tile + 2, 5))
    transform_b, transform_a = {2: (winograd_transforms._bt4, winograd_transforms._at4), 4: (winograd_transforms._bt6, winograd_transforms._at6)}[tile]
    np.testing.assert_allclose(np.array(transform_b(*a)), bt @ a, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(np.array(transform_a(*a)), at @ a, rtol=1e-13, atol=1e-13)
    transform_g = {2: winograd_transforms._a4, 4: winograd_transforms._a6}[tile]  # the weight gradient's A g
    np.testing.assert_allclose(np.array(transform_g(*a[:tile])), at.T @ a[:tile], rtol=1e-13, atol=1e-13)


# (x shape, weight shape, pads ((top, bottom), (left, right)), dilation, groups)
CASES = [
    ((2, 4, 9, 8), (6, 2, 3, 3), ((1, 1), (1, 1)), 1, 2),     # grouped 'same'; 9 rows: a partial tile
    ((1, 3, 11, 13), (5, 3, 3, 3), ((2, 2), (2, 2)), 2, 1),   # dilation 2 'same', odd sizes: unequal phases
    ((2, 2, 12, 10), (4, 2, 3, 3), ((0, 1), (2, 0)), 3, 1),   # asymmetric padding, dilation 3
    ((1, 2, 7, 7), (3, 2, 3, 3), ((3, 0), (0, 4)), 1, 1),     # padding wider than the kernel
    ((2, 3, 20, 17), (2, 3, 3, 3), ((4, 4), (1, 2)), 4, 1),   # dilation 4
    ((1, 2, 5, 6), (2, 2, 3, 3), ((0, 0), (0, 0)), 2, 1),     # valid: a single output row per phase or none
]


# both layouts of the transforms: planes (winograd_transforms) and channels-minor (winograd_channels)
LAYOUTS = pytest.mark.parametrize("minor", [False, True], ids=["planes", "channels-minor"])


@LAYOUTS
@pytest.mark.parametrize("tile", [2, 4])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-d{c[3]}")
def test_forward_and_input_gradient_match_the_naive_loops(case, tile, minor):
    _check(*case, tile, minor=minor)


@LAYOUTS
@pytest.mark.parametrize("tile", [2, 4])
def test_float32_within_the_documented_error(tile, minor):
    _check((1, 8, 12, 12), (8, 8, 3, 3), ((2, 2), (2, 2)), 2, 1, tile, np.float32, minor)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizes=st.tuples(st.integers(1, 12), st.integers(1, 12)), dilation=st.integers(1, 3),
       pads=st.tuples(*[st.integers(0, 4)] * 4), groups=st.integers(1, 2), tile=st.sampled_from([2, 4]),
       minor=st.booleans())
def test_drawn_geometries(sizes, dilation, pads, groups, tile, minor):
    top, bottom, left, right = pads
    if min(n + b + a - 2 * dilation for n, b, a in zip(sizes, (top, left), (bottom, right))) < 1:
        return  # no output
    _check((2, 2 * groups) + sizes, (2 * groups, 2, 3, 3), ((top, bottom), (left, right)), dilation, groups, tile,
           minor=minor)


@LAYOUTS
def test_chunks_split_images_and_phases_anywhere(minor):
    # a workspace of one (image, phase) item per chunk: chunk boundaries fall inside images' phases
    with workspace.limited(1):
        _check((3, 2, 9, 10), (3, 2, 3, 3), ((2, 2), (2, 2)), 2, 1, 4, minor=minor)
        _check((3, 2, 9, 10), (4, 1, 3, 3), ((1, 1), (1, 1)), 1, 2, 2, minor=minor)


@pytest.mark.parametrize("size", [2, 4, 5])
def test_chunks_that_split_a_row_of_column_phases(size, monkeypatch):
    # the channels-minor copies take the column phases of one image and phase row in one pass over its
    # rows; chunks of 2, 4 or 5 items of a 3-dilated conv (9 items an image) start and end inside such runs
    def small(items, per_item, shares=None):
        return [(k, min(items, k + size)) for k in range(0, items, size)]
    monkeypatch.setattr(winograd, "item_chunks", small)
    _check((2, 3, 13, 14), (4, 3, 3, 3), ((3, 3), (2, 3)), 3, 1, 4, minor=True)


@pytest.mark.parametrize("tile", [2, 4])
@pytest.mark.parametrize("shape", [(3, 5, 8, 8), (1, 6, 13, 11)], ids=["batch3-8x8", "batch1-13x11-bands"])
def test_both_layouts_agree(shape, tile):
    # the channels-minor transforms compute the same sums in the same order as the planes layout;
    # only the GEMMs' operand order differs, so the results agree to float32 rounding of the products
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((7, shape[1], 3, 3)).astype(np.float32)
    u = rng.standard_normal((shape[0], 7) + shape[2:]).astype(np.float32)
    pads = ((1, 1), (1, 1))
    for op, args in ((winograd.winograd_forward, (x, w, (1, 1), (1, 1), 1, tile)),
                     (winograd.winograd_backward_input, (u, w, shape[2:], (1, 1), (1, 1), 1, tile)),
                     (winograd.winograd_backward_weight, (x, u, (3, 3), (1, 1), (1, 1), 1, tile))):
        planes, minor = (op(*args, pads=pads, minor=flag) for flag in (False, True))
        np.testing.assert_allclose(minor, planes, rtol=2e-5, atol=2e-5 * np.abs(planes).max())


def test_the_layout_follows_the_tiles_of_a_plane():
    assert winograd.channels_minor(winograd.CHANNELS_MINOR_TILES, 1)
    assert not winograd.channels_minor(winograd.CHANNELS_MINOR_TILES + 1, 1)
    wide = winograd.CHANNELS_MINOR_TILES_WIDE
    assert wide > winograd.CHANNELS_MINOR_TILES
    assert winograd.channels_minor(wide, 1, weight_gradient=True) and winograd.channels_minor(wide, 1, dilation=2)
    assert not winograd.channels_minor(wide + 1, 1, weight_gradient=True)
    assert not winograd.channels_minor(wide + 1, 1, dilation=2)
    assert not winograd.channels_minor(4, 2)  # grouped convs keep the planes layout


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_dilated_padded_conv_through_the_functional_op_matches_torch(dtype):
    # zero padding read in place, as the planner does for every Winograd conv
    rng = np.random.default_rng(3)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((2, 4, 10, 9), (6, 4, 3, 3), (6,)))
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ref = TF.conv2d(xt, wt, bt, padding=2, dilation=2)
    u = rng.standard_normal(tuple(ref.shape)).astype(dtype)
    ref.backward(torch.tensor(u))
    tol = 1e-9 if dtype == np.float64 else 1e-4
    for name in ("winograd_f2", "winograd_f4"):
        xc, wc, bc = (convzoo.tensor(a, requires_grad=True) for a in (x, w, b))
        with planner.record() as log:
            out = F.conv2d(xc, wc, bc, padding=2, dilation=2, algorithm=name)
        out.backward(u)
        assert log[0][1]["forward"].algorithm == name
        for got, want in ((out, ref), (xc.grad, xt.grad), (wc.grad, wt.grad)):
            want = want.detach().numpy()
            assert np.abs(got.numpy() - want).max() <= tol * np.abs(want).max(), name


def test_planner_picks_winograd_for_wide_3x3_and_keeps_im2col_for_stems():
    def choice(op, x, w, dilation=1):
        geometry = planner.ConvGeometry.of(x, w, (1, 1), (dilation, dilation), 1, 4)
        return planner.plan(op, geometry).algorithm

    assert choice("forward", (32, 64, 58, 58), (64, 64, 3, 3)) == "winograd_f4"
    assert choice("backward_input", (32, 64, 58, 58), (64, 64, 3, 3)) == "winograd_f4"
    assert choice("forward", (32, 64, 60, 60), (64, 64, 3, 3), dilation=2) == "winograd_f4"
    # few input channels: the transforms cost more than the multiplies saved (direct's register tiles
    # beat im2col there where they run: 2.4-3x on VGG's 3 -> 64 conv at 32 px)
    stem = "direct" if microkernel.available() else "im2col"
    assert choice("forward", (32, 3, 34, 34), (32, 3, 3, 3)) == stem
    assert choice("forward", (32, 3, 34, 34), (64, 3, 3, 3)) == stem
    geometry = planner.ConvGeometry.of((1, 4, 9, 9), (4, 4, 3, 3), (1, 1), (1, 2), 1, 8)
    with pytest.raises(ValueError, match="same dilation on both axes"):
        planner.plan("forward", geometry, "winograd_f4")


def test_the_input_gradient_is_costed_on_the_unpadded_input():
    # Winograd computes the input gradient on the input's own size (8x8: 2x2 tiles of F(4x4,3x3)), not
    # on the padded 10x10 (3x3 tiles); the planner must know, or it keeps im2col for VGG's late layers
    def geometry(inner):
        return planner.ConvGeometry.of((32, 128, 10, 10), (256, 128, 3, 3), (1, 1), (1, 1), 1, 4, inner=inner)

    def estimate(inner):
        return planner.ALGORITHMS["winograd_f4"].cost("backward_input", geometry(inner), 2)

    assert estimate((8, 8)) < 0.6 * estimate(None)
    assert planner.plan("backward_input", geometry((8, 8))).algorithm == "winograd_f4"


def test_the_transformed_kernel_counts_against_the_workspace():
    # U of F(4x4,3x3) for 256 x 256 channels is 9.4 MiB, over the default 8 MiB budget: the planner
    # leaves it out (VGG's peak memory) unless the budget allows it or the algorithm is forced
    geometry = planner.ConvGeometry.of((32, 256, 10, 10), (256, 256, 3, 3), (1, 1), (1, 1), 1, 4, inner=(8, 8))
    assert planner.plan("forward", geometry).estimates["winograd_f4"] == float("inf")
    assert planner.plan("forward", geometry).algorithm != "winograd_f4"
    assert planner.plan("forward", geometry, "winograd_f4").algorithm == "winograd_f4"
    with workspace.limited(64 << 20):
        assert planner.plan("forward", geometry).estimates["winograd_f4"] < float("inf")


@pytest.mark.parametrize("tile", [2, 4])
def test_kernel_transforms_on_both_threads_match_the_matrices(tile):
    # 128 x 128 channels: U has at least winograd_channels.KERNEL_GRAIN elements, so both transforms run
    # a range of output channels per lane; against G w G^T and G^T dU G by the textbook matrices in float64
    from convzoo.kernels import winograd_channels
    g_mat = winograd_transforms.MATRICES[tile][1]
    alpha = tile + 2
    rng = np.random.default_rng(5)
    w = rng.standard_normal((128, 128, 3, 3)).astype(np.float32)
    u = np.empty((alpha * alpha, 128, 128), np.float32)
    winograd_channels.weight_transform(w, g_mat, u)
    want = np.einsum("ak,ocki,bi->aboc", g_mat, w.astype(np.float64), g_mat).reshape(alpha * alpha, 128, 128)
    np.testing.assert_allclose(u, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    du = rng.standard_normal((alpha * alpha, 128, 128)).astype(np.float32)
    dw = np.empty((128, 128, 3, 3), np.float32)
    winograd_channels.weight_gradient_transform(du, g_mat, dw)
    want = np.einsum("ak,aboc,bl->ockl", g_mat, du.astype(np.float64).reshape(alpha, alpha, 128, 128), g_mat)
    np.testing.assert_allclose(dw, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def _points_limit(x_shape, o, tile, dtype, groups=1):
    """A workspace limit under which the weight gradient of x_shape -> o channels takes the "points"
    plan: dU and a point per lane fit, dU and a partial sum of a further chunk do not."""
    points = (tile + 2) ** 2
    du = points * o * (x_shape[1] // groups) * np.dtype(dtype).itemsize
    return du + 2 * (du // points)


def _plans(monkeypatch):
    seen, real = [], winograd.weight_gradient_plan

    def spy(*args):
        seen.append(real(*args))
        return seen[-1]
    monkeypatch.setattr(winograd, "weight_gradient_plan", spy)
    return seen


@pytest.mark.parametrize("tile", [2, 4])
@LAYOUTS
def test_weight_gradient_by_points_matches_the_naive_loops(tile, minor, monkeypatch):
    # chunks of one item (the budget holds no more), one after the other, each point's GEMM on a lane
    # and added into dU; grouped and dilated too
    seen = _plans(monkeypatch)
    for x_shape, o, groups, dilation, dtype in (((3, 4, 9, 10), 5, 1, 1, np.float64),
                                                 ((2, 4, 11, 8), 6, 2, 2, np.float64),
                                                 ((3, 6, 8, 8), 4, 1, 1, np.float32)):
        with workspace.limited(_points_limit(x_shape, o, tile, dtype, groups)):
            _check(x_shape, (o, x_shape[1] // groups, 3, 3), ((1, 1), (1, 1)), dilation, groups, tile, dtype, minor)
        mode, chunks = seen[-1]
        assert mode == "points" and len(chunks) == x_shape[0] * dilation ** 2


@pytest.mark.parametrize("tile", [2, 4])
def test_weight_gradient_by_points_does_not_depend_on_the_threads(tile, monkeypatch):
    import numba
    monkeypatch.setattr(lanes, "SERIAL_BELOW", 0)  # test-sized products on lanes too
    seen = _plans(monkeypatch)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 8, 8, 8)).astype(np.float32)
    u = rng.standard_normal((4, 6, 8, 8)).astype(np.float32)
    results = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        previous = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            with workspace.limited(_points_limit(x.shape, 6, tile, np.float32)):
                results.append(winograd.winograd_backward_weight(x, u, (3, 3), (1, 1), (1, 1), 1, tile,
                                                                 pads=((1, 1), (1, 1))))
        finally:
            numba.set_num_threads(previous)
        assert seen[-1][0] == "points"
    np.testing.assert_array_equal(results[0], results[1])


def test_vggs_widest_weight_gradient_runs_winograd_within_the_default_workspace():
    # 256 x 256 channels at 8x8, batch 32: dU of F(4x4,3x3) (9.4 MiB) is over the 8 MiB default, but
    # F(2x2,3x3)'s (4.2 MiB) fits by points, where im2col took twice as long
    geometry = planner.ConvGeometry.of((32, 256, 10, 10), (256, 256, 3, 3), (1, 1), (1, 1), 1, 4, inner=(8, 8))
    plan = planner.plan("backward_weight", geometry)
    assert plan.estimates["winograd_f4"] == float("inf") and plan.algorithm == "winograd_f2"
    points, du, per_item = 16, 16 * 256 * 256 * 4, 16 * 16 * 512 * 4
    assert winograd.weight_gradient_plan(32, per_item, du, points)[0] == "points"
    with workspace.limited(64 << 20):
        assert winograd.weight_gradient_plan(32, per_item, du, points)[0] == "chunks"
        # one chunk (batch 1) on several threads: by points, not on BLAS's threads
        assert winograd.weight_gradient_plan(1, per_item, du, points)[0] == "points"
    with workspace.limited(du):
        assert winograd.weight_gradient_plan(32, per_item, du, points) is None


def test_the_weight_gradient_plan_follows_the_process_threads_not_the_calls():
    # one partial sum of 4 MiB fits 8 MiB with dU, two do not: were the plan to follow the threads a
    # call uses, one thread would sum chunks and two would sum points, in other orders
    import numba
    points, du, per_item = 16, 4 << 20, 16 * 16 * 512 * 4
    plans = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        previous = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            plans.append(winograd.weight_gradient_plan(32, per_item, du, points))
        finally:
            numba.set_num_threads(previous)
    assert plans[0] == plans[1]
