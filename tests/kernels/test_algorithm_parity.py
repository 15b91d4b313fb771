"""Each algorithm forced through the public ops: PyTorch parity (forward and every gradient, float64 and
float32), finite-difference VJP checks, the workspace bound and Winograd's measured float32 error."""
import tracemalloc

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import convzoo
import convzoo.nn.functional as F
from convzoo.kernels import gemm, planner, winograd, workspace
from tests import naive
from tests.gradcheck import check_vjp

RTOL = {np.float64: 1e-9, np.float32: 1e-4}

# (rank, input shape, weight shape, stride, padding, dilation, groups, algorithms to force)
CONV_CASES = [
    (2, (2, 4, 9, 8), (6, 2, 3, 3), 1, 1, 1, 2, ("im2col", "fft", "winograd_f2", "winograd_f4", "subpixel")),
    (2, (2, 3, 10, 9), (6, 1, 3, 3), 2, 1, (2, 1), 3, ("im2col", "depthwise", "subpixel")),
    (2, (1, 4, 7, 7), (8, 4, 1, 1), 2, 0, 1, 1, ("im2col", "pointwise", "subpixel")),
    (1, (2, 2, 20), (2, 1, 9), 1, 4, 1, 2, ("im2col", "depthwise", "fft")),
    (1, (2, 4, 13), (6, 2, 5), 1, 2, 1, 2, ("im2col", "fft", "winograd1d")),
    (1, (1, 3, 6), (4, 3, 3), 1, 0, 1, 1, ("im2col", "winograd1d")),
    (2, (2, 4, 11, 5), (6, 2, 7, 1), 1, (3, 1), 1, 2, ("im2col", "fft", "winograd1d")),
    (2, (2, 4, 5, 11), (6, 2, 1, 7), 1, (1, 3), 1, 2, ("im2col", "fft", "winograd1d")),
    (2, (2, 3, 9, 8), (4, 3, 5, 5), 1, 2, 1, 1, ("im2col", "fft", "winograd2d")),
    (2, (1, 3, 10, 9), (4, 3, 7, 6), 1, (3, 2), 1, 1, ("im2col", "fft", "winograd2d")),
    (2, (2, 3, 11, 10), (4, 3, 4, 4), 2, 1, 1, 1, ("im2col", "winograd2d", "subpixel")),  # phases; h1's gradients
    # depthwise reads zero padding in place: per-axis padding, wider than the dilated kernel
    (2, (2, 3, 9, 8), (6, 1, 3, 3), 2, (1, 3), 1, 3, ("im2col", "depthwise")),
    (2, (1, 2, 5, 6), (2, 1, 3, 2), 1, (5, 2), (2, 1), 2, ("depthwise",)),
    (3, (1, 2, 5, 6, 5), (4, 2, 2, 3, 2), (1, 2, 1), 1, 1, 1, ("im2col", "subpixel")),
    (3, (1, 2, 5, 6, 5), (4, 1, 2, 3, 2), 1, 1, 1, 2, ("im2col", "fft", "subpixel")),
]
# transposed: (rank, input shape, weight shape (C_in, C_out/g, *k), stride, padding, groups, algorithms)
TRANSPOSED_CASES = [
    (2, (2, 4, 5, 6), (4, 3, 4, 4), 2, 1, 1, ("im2col", "subpixel", "winograd2d")),
    (2, (1, 4, 5, 5), (4, 2, 2, 2), 2, 0, 2, ("im2col", "subpixel")),
    (2, (1, 3, 6, 6), (3, 1, 3, 3), 1, 1, 3, ("im2col", "depthwise", "fft", "winograd_f4", "subpixel")),
    (1, (2, 2, 7), (2, 2, 5), 3, 2, 1, ("im2col", "subpixel")),
    # column phases in pairs (stride 2 across) under a stride of 3 down: subpixel's paired interleave
    (2, (1, 3, 4, 5), (3, 2, 3, 4), (3, 2), 1, 1, ("im2col", "subpixel")),
]


def _close(got, want, dtype, what):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: {got.shape} != {want.shape}"
    scale = max(np.abs(want).max(initial=0.0), 1e-30)
    err = np.abs(got - want).max(initial=0.0)
    assert err <= RTOL[dtype] * scale, f"{what}: max error {err:.3g} relative to {scale:.3g}"


def _parity(ours, theirs, x, w, b, dtype, label):
    rng = np.random.default_rng(7)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ref = theirs(xt, wt, bt)
    u = rng.standard_normal(tuple(ref.shape)).astype(dtype)
    ref.backward(torch.tensor(u))
    xc, wc, bc = (convzoo.tensor(a, requires_grad=True) for a in (x, w, b))
    out = ours(xc, wc, bc)
    out.backward(u)
    assert out.dtype == dtype
    _close(out.numpy(), ref.detach().numpy(), dtype, f"{label} forward")
    _close(xc.grad.numpy(), xt.grad.numpy(), dtype, f"{label} grad input")
    _close(wc.grad.numpy(), wt.grad.numpy(), dtype, f"{label} grad weight")
    _close(bc.grad.numpy(), bt.grad.numpy(), dtype, f"{label} grad bias")


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"conv{c[0]}d-{c[2]}")
def test_forced_conv_matches_torch(case, dtype):
    rank, x_shape, w_shape, stride, padding, dilation, groups, names = case
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    ours_op, theirs_op = getattr(F, f"conv{rank}d"), getattr(TF, f"conv{rank}d")
    for name in names:
        _parity(lambda xc, wc, bc: ours_op(xc, wc, bc, stride, padding, dilation, groups, algorithm=name),
                lambda xt, wt, bt: theirs_op(xt, wt, bt, stride, padding, dilation, groups),
                x, w, b, dtype, name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_depthwise_reading_zero_padding_in_place_matches_torch(dtype):
    rng = np.random.default_rng(3)
    for rank, x_shape, w_shape, stride, padding, dilation, groups, names in CONV_CASES:
        if "depthwise" not in names or not padding:
            continue
        per_axis = [tuple(int(v) for v in np.broadcast_to(a, (rank,))) for a in (padding, stride, dilation)]
        pairs = [(p, p) for p in per_axis[0]]
        assert planner.reads_padding(x_shape, w_shape, pairs, per_axis[1], per_axis[2], groups, 8)
        x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
        b = rng.standard_normal(w_shape[0]).astype(dtype)
        ours_op, theirs_op = getattr(F, f"conv{rank}d"), getattr(TF, f"conv{rank}d")
        _parity(lambda xc, wc, bc: ours_op(xc, wc, bc, stride, padding, dilation, groups),
                lambda xt, wt, bt: theirs_op(xt, wt, bt, stride, padding, dilation, groups),
                x, w, b, dtype, "depthwise, padding in place")
    x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((6, 1, 3, 2))
    check_vjp(lambda a, c: F.conv2d(a, c, groups=3, padding=((1, 2), (3, 0))), x, w)
    check_vjp(lambda a, c: F.conv2d(a, c, groups=3, stride=2, padding="same"), x, w)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", TRANSPOSED_CASES, ids=lambda c: f"convT{c[0]}d-{c[2]}")
def test_forced_conv_transpose_matches_torch(case, dtype):
    rank, x_shape, w_shape, stride, padding, groups, names = case
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[1] * groups).astype(dtype)
    ours_op, theirs_op = getattr(F, f"conv_transpose{rank}d"), getattr(TF, f"conv_transpose{rank}d")
    for name in names:
        _parity(lambda xc, wc, bc: ours_op(xc, wc, bc, stride, padding, 0, groups, algorithm=name),
                lambda xt, wt, bt: theirs_op(xt, wt, bt, stride, padding, 0, groups),
                x, w, b, dtype, name)


@pytest.mark.parametrize("name", tuple(planner.ALGORITHMS))
def test_forced_algorithm_passes_check_vjp(name):
    if name == "direct":
        # float32 only: finite differences need float64 (tests/kernels/test_direct.py checks its forward and
        # input gradient against the naive loops and each other, and a training step's gradients)
        pytest.skip("direct runs float32 only")
    rng = np.random.default_rng(2)
    if name == "pointwise":
        x, w, kw = rng.standard_normal((2, 4, 5, 6)), rng.standard_normal((6, 2, 1, 1)), dict(stride=2, groups=2)
    elif name == "winograd1d":
        x, w, kw = rng.standard_normal((2, 4, 9)), rng.standard_normal((6, 2, 4)), dict(groups=2, padding=((3, 1),))
        check_vjp(lambda a, b: F.conv1d(a, b, algorithm=name, **kw), x, w)
        x, w = rng.standard_normal((1, 2, 7, 3)), rng.standard_normal((2, 2, 3, 1))
        check_vjp(lambda a, b: F.conv2d(a, b, algorithm=name, padding=((2, 0), (1, 1))), x, w)
        return
    elif name == "winograd2d":
        x, w, kw = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 4, 5)), dict(padding=((2, 1), (2, 2)))
        # strided: all three ops on the input's phases
        check_vjp(lambda a, b: F.conv2d(a, b, algorithm=name, stride=(2, 3), padding=1), x, w)
    elif name == "depthwise":
        x, w, kw = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((6, 1, 3, 2)), dict(groups=3, dilation=2)
        check_vjp(lambda a, b: F.conv2d(a, b, groups=3, padding=((1, 2), (3, 0)), algorithm=name), x, w)
        check_vjp(lambda a, b: F.conv2d(a, b, groups=3, stride=2, padding="same", algorithm=name), x, w)
    else:
        x, w, kw = rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((4, 2, 3, 3)), dict(groups=2, padding=1)
    check_vjp(lambda a, b: F.conv2d(a, b, algorithm=name, **kw), x, w)
    u = rng.standard_normal((2, 4, 4, 3))
    wt = rng.standard_normal((4, 3, 3, 3))
    if name in ("im2col", "subpixel"):
        check_vjp(lambda a, b: F.conv_transpose2d(a, b, stride=2, padding=1, algorithm=name), u, wt)


def test_use_algorithm_reaches_the_functional_ops_and_their_backward():
    rng = np.random.default_rng(3)
    x = convzoo.tensor(rng.standard_normal((1, 2, 6, 6)), requires_grad=True)
    w = convzoo.tensor(rng.standard_normal((2, 2, 3, 3)), requires_grad=True)
    with convzoo.use_algorithm("fft"):
        y = F.conv2d(x, w, padding=1)
    with planner.record() as log:  # backward runs outside the block and still uses fft
        y.backward(np.ones(y.shape))
    assert [p["forward"].algorithm for _, p in log] == ["fft", "fft"]
    with pytest.raises(ValueError, match="algorithm 'winograd_f4' cannot run"):
        F.conv2d(x, w, stride=2, algorithm="winograd_f4")
    with pytest.raises(ValueError, match="algorithm must be one of"):
        F.conv2d(x, w, algorithm="cudnn")


def test_im2col_scratch_stays_within_the_workspace_limit():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 8, 40, 40)).astype(np.float32)
    w = rng.standard_normal((4, 8, 3, 3)).astype(np.float32)
    g = rng.standard_normal((3, 4, 38, 38)).astype(np.float32)
    full_cols = 3 * 8 * 9 * 38 * 38 * 4  # 1.2 MB unchunked
    budget = 64 * 1024
    expected = naive.conv(x.astype(np.float64), w.astype(np.float64), (1, 1), (1, 1), 1)
    runs = {"forward": lambda: gemm.im2col_forward(x, w, (1, 1), (1, 1), 1),
            "backward_input": lambda: gemm.im2col_backward_input(g, w, (40, 40), (1, 1), (1, 1), 1),
            "backward_weight": lambda: gemm.im2col_backward_weight(x, g, (3, 3), (1, 1), (1, 1), 1)}
    for op, run in runs.items():
        with workspace.limited(budget):
            run()  # a first call may compile (or load) the Numba kernels: that is not scratch
            tracemalloc.start()
            out = run()
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        scratch = peak - out.nbytes
        assert scratch < 3 * budget < full_cols, f"{op}: {scratch} bytes of scratch for a {budget} budget"
    _close(out, naive.conv_weight_grad(x.astype(np.float64), g.astype(np.float64), (3, 3), (1, 1), (1, 1), 1),
           np.float32, "chunked backward_weight")
    with workspace.limited(budget):
        _close(gemm.im2col_forward(x, w, (1, 1), (1, 1), 1), expected, np.float32, "chunked forward")
    with pytest.raises(ValueError, match="workspace limit must be a positive number of bytes"):
        workspace.set_limit(0)


def test_workspace_chunks_cover_the_work_exactly_once():
    for batch, rows, per_row, budget in ((5, 7, 10, 70), (5, 7, 10, 30), (2, 9, 100, 50), (3, 4, 1, 10**6)):
        seen = np.zeros((batch, rows), dtype=int)
        for (b0, b1), (r0, r1) in workspace.chunks(batch, rows, per_row, budget):
            seen[b0:b1, r0:r1] += 1
            assert (b1 - b0) * (r1 - r0) * per_row <= max(budget, per_row)
        assert (seen == 1).all()


@pytest.mark.parametrize("tile, bound", [(2, 2e-6), (4, 2e-5)])
def test_winograd_float32_error_against_float64(tile, bound):
    # README "Algorithms": the measured error of F(2x2,3x3) and F(4x4,3x3) in float32
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 64, 18, 18))
    w = rng.standard_normal((32, 64, 3, 3)) / np.sqrt(64 * 9)
    exact = gemm.im2col_forward(x, w, (1, 1), (1, 1), 1)  # float64, checked against the naive loops elsewhere
    direct32 = gemm.im2col_forward(x.astype(np.float32), w.astype(np.float32), (1, 1), (1, 1), 1)
    wino32 = winograd.winograd_forward(x.astype(np.float32), w.astype(np.float32), (1, 1), (1, 1), 1, tile)
    scale = np.abs(exact).max()
    direct_err = np.abs(direct32 - exact).max() / scale
    wino_err = np.abs(wino32 - exact).max() / scale
    assert wino_err < bound, wino_err
    assert direct_err < wino_err * 5  # direct conv is at least about as exact


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("activation", [None, "relu"])
def test_fused_bias_activation_epilogue_matches_torch(activation, dtype):
    rng = np.random.default_rng(8)
    x, w = rng.standard_normal((2, 4, 7, 6)).astype(dtype), rng.standard_normal((6, 2, 3, 3)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)

    def theirs(xt, wt, bt):
        y = TF.conv2d(xt, wt, bt, padding=1, groups=2)
        return torch.relu(y) if activation else y

    for name in ("im2col", "winograd_f4", "fft"):
        _parity(lambda xc, wc, bc: F.conv2d(xc, wc, bc, padding=1, groups=2, algorithm=name, activation=activation),
                theirs, x, w, b, dtype, f"{name} + {activation}")


def test_fused_relu_passes_check_vjp_and_rejects_unknown_activations():
    rng = np.random.default_rng(9)
    x, w, b = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    check_vjp(lambda a, c, d: F.conv2d(a, c, d, padding=1, activation="relu"), x, w, b)
    with pytest.raises(ValueError, match="activation must be None or 'relu'; received 'gelu'"):
        F.conv2d(x, w, b, activation="gelu")
