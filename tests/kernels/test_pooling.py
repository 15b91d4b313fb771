"""Pooling kernels against naive loops written from PyTorch's definitions (window by window, with
explicit bounds instead of padded copies and flat offsets), and the 2-D fast paths (pool2d.py)
against both. Runs again with NUMBA_DISABLE_JIT=1."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from convzoo.kernels import elementwise, pool2d, pool2d_flat, pooling


def naive_output_size(n, k, s, d, pad, ceil_mode):
    span = n + 2 * pad - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + pad:
        out -= 1
    return out


def naive_pool(x, kernel, stride, pad, dilation, ceil_mode, kind, include_pad=True):
    """Per (n, c) plane and window: max (first maximum wins) with its flat index, or the average."""
    spatial = x.shape[2:]
    outs = [naive_output_size(n, k, s, d, p, ceil_mode) for n, k, s, d, p in zip(spatial, kernel, stride, dilation, pad)]
    out = np.zeros(x.shape[:2] + tuple(outs))
    index = np.zeros(out.shape, dtype=np.int64)
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for o in itertools.product(*(range(m) for m in outs)):
            best, best_i, total, count = -np.inf, -1, 0.0, 1
            for kk in itertools.product(*(range(k) for k in kernel)):
                pos = [oi * s - p + ki * d for oi, s, p, ki, d in zip(o, stride, pad, kk, dilation)]
                if all(0 <= q < m for q, m in zip(pos, spatial)):
                    v = x[(n, c) + tuple(pos)]
                    total += v
                    if v > best or best_i < 0:
                        best, best_i = v, int(np.ravel_multi_index(pos, spatial))
            for oi, s, p, k, m in zip(o, stride, pad, kernel, spatial):
                lo, hi = oi * s - p, min(oi * s - p + k, m + p)
                count *= (hi - lo) if include_pad else (min(hi, m) - max(lo, 0))
            out[(n, c) + o] = best if kind == "max" else total / count
            index[(n, c) + o] = best_i
    return out, index


def naive_pool_backward(x, grad_out, index, kernel, stride, pad, ceil_mode, kind, include_pad=True):
    """The transpose, written directly: max routes to its index, avg spreads over its window."""
    grad = np.zeros(x.shape)
    spatial = x.shape[2:]
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        plane = grad[n, c].reshape(-1)
        for o in itertools.product(*(range(m) for m in grad_out.shape[2:])):
            g = grad_out[(n, c) + o]
            if kind == "max":
                plane[index[(n, c) + o]] += g
                continue
            count, cells = 1, []
            for oi, s, p, k, m in zip(o, stride, pad, kernel, spatial):
                lo, hi = oi * s - p, min(oi * s - p + k, m + p)
                count *= (hi - lo) if include_pad else (min(hi, m) - max(lo, 0))
                cells.append(range(max(lo, 0), min(hi, m)))
            for pos in itertools.product(*cells):
                plane[np.ravel_multi_index(pos, spatial)] += g / count
    return grad


@st.composite
def geometry(draw):
    rank = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(rank))
    pad = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    sizes = tuple(draw(st.integers(d * (k - 1) + 1, d * (k - 1) + 4)) for k, d in zip(kernel, dilation))
    return sizes, kernel, stride, pad, dilation, draw(st.booleans())


@settings(max_examples=30, deadline=None)
@given(geo=geometry(), seed=st.integers(0, 1000))
def test_max_pool_kernels_match_naive_loops(geo, seed):
    sizes, kernel, stride, pad, dilation, ceil_mode = geo
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 2) + sizes)
    g = pooling.pool_geometry(sizes, kernel, stride, dilation, tuple((p, p) for p in pad), ceil_mode)
    out, arg = pooling.max_pool_forward(x, g)
    ref, ref_index = naive_pool(x, kernel, stride, pad, dilation, ceil_mode, "max")
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(pooling.max_pool_indices(arg, g, x.shape[:2]), ref_index)
    grad_out = rng.standard_normal(out.shape)
    np.testing.assert_allclose(pooling.max_pool_backward(grad_out, arg, g),
                               naive_pool_backward(x, grad_out, ref_index, kernel, stride, pad, ceil_mode, "max"),
                               rtol=1e-12, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(geo=geometry(), seed=st.integers(0, 1000), include=st.booleans())
def test_avg_pool_kernels_match_naive_loops(geo, seed, include):
    sizes, kernel, stride, pad, _, ceil_mode = geo
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 2) + sizes)
    pairs = tuple((p, p) for p in pad)
    g = pooling.pool_geometry(sizes, kernel, stride, (1,) * len(sizes), pairs, ceil_mode)
    divisor = pooling.avg_divisor(g, pairs, include, None)
    out = pooling.avg_pool_forward(x, g, divisor)
    ref, _ = naive_pool(x, kernel, stride, pad, (1,) * len(sizes), ceil_mode, "avg", include)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    grad_out = rng.standard_normal(out.shape)
    np.testing.assert_allclose(pooling.avg_pool_backward(grad_out, g, divisor),
                               naive_pool_backward(x, grad_out, None, kernel, stride, pad, ceil_mode, "avg", include),
                               rtol=1e-12, atol=1e-12)


def test_avg_pool_backward_is_the_adjoint_of_forward():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 8))
    pairs = ((1, 1), (1, 1))
    g = pooling.pool_geometry((9, 8), (3, 3), (2, 2), (1, 1), pairs, True)
    divisor = pooling.avg_divisor(g, pairs, False, None)
    u = rng.standard_normal((2, 3) + g.out_shape)
    lhs = np.sum(pooling.avg_pool_forward(x, g, divisor) * u)
    rhs = np.sum(x * pooling.avg_pool_backward(u, g, divisor))
    assert abs(lhs - rhs) < 1e-10 * abs(lhs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spatial", [(5, 7), (30, 31)])  # shorter than one 64-lane segment; 14 segments + a tail
def test_global_average_pool_kernels(dtype, spatial):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4) + spatial).astype(dtype)
    reference = x.astype(np.float64).mean(axis=(2, 3))
    np.testing.assert_allclose(pooling.global_avg_pool_forward(x), reference, rtol=1e-6, atol=1e-7)
    g = rng.standard_normal((3, 4)).astype(dtype)
    np.testing.assert_allclose(pooling.global_avg_pool_backward(g, spatial),
                               np.broadcast_to(g[:, :, None, None] / np.prod(spatial), x.shape), rtol=1e-6)


def test_elementwise_relu_and_gelu_kernels():
    from math import erf
    x = np.array([[-2.0, -0.0, 0.0, 1.5], [np.nan, 3.0, -1e-300, 7.0]])
    out = elementwise.relu(x)
    np.testing.assert_array_equal(out, [[0, 0, 0, 1.5], [np.nan, 3, 0, 7]])
    g = np.ones_like(x)
    np.testing.assert_array_equal(elementwise.relu_backward(g, out), [[0, 0, 0, 1], [0, 1, 0, 1]])
    y = np.linspace(-4, 4, 9)
    expected = np.array([v * 0.5 * (1 + erf(v / np.sqrt(2))) for v in y])
    np.testing.assert_allclose(elementwise.gelu(y), expected, rtol=1e-14)
    eps = 1e-6
    np.testing.assert_allclose(elementwise.gelu_backward(np.ones_like(y), y),
                               (elementwise.gelu(y + eps) - elementwise.gelu(y - eps)) / (2 * eps), rtol=1e-7)


@st.composite
def fast_geometry(draw):
    """A 2-D geometry the pool2d kernels take: 2x2 or 3x3 at stride 2, any padding and ceil_mode."""
    k = draw(st.sampled_from([2, 3]))
    pad = tuple(draw(st.integers(0, k // 2)) for _ in range(2))
    sizes = tuple(draw(st.integers(k, k + 8)) for _ in range(2))
    return sizes, k, pad, draw(st.booleans())


def general_max_pool(x, g):
    """The table-driven kernels of pooling.py, which the fast paths must reproduce exactly."""
    planes = x.reshape(x.shape[0] * x.shape[1], -1)
    out, arg = np.empty((planes.shape[0], g.start.size), x.dtype), np.empty((planes.shape[0], g.start.size), np.int8)
    pooling._max_forward_planes(planes, g.tap, g.start, g.border_row, g.border_index, out, arg, 0, planes.shape[0])
    return out.reshape(x.shape[:2] + g.out_shape), arg


@settings(max_examples=40, deadline=None)
@given(geo=fast_geometry(), seed=st.integers(0, 1000), dtype=st.sampled_from([np.float32, np.float64]))
def test_fast_2d_kernels_match_naive_loops(geo, seed, dtype):
    sizes, k, pad, ceil_mode = geo
    rng = np.random.default_rng(seed)
    # small integers: many ties, where the first maximum in tap order must win
    x = rng.integers(-2, 3, (2, 3) + sizes).astype(dtype)
    pairs = tuple((p, p) for p in pad)
    g = pooling.pool_geometry(sizes, (k, k), (2, 2), (1, 1), pairs, ceil_mode)
    assert pool2d.applies(g, pooling._FAST_MAX)
    out, arg = pooling.max_pool_forward(x, g)
    ref, ref_index = naive_pool(x, (k, k), (2, 2), pad, (1, 1), ceil_mode, "max")
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(pooling.max_pool_indices(arg, g, x.shape[:2]), ref_index)
    np.testing.assert_array_equal(pooling.max_pool_forward(x, g, with_arg=False)[0], ref)
    grad_out = rng.standard_normal(out.shape).astype(dtype)
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pooling.max_pool_backward(grad_out, arg, g),
                               naive_pool_backward(x, grad_out, ref_index, (k, k), (2, 2), pad, ceil_mode, "max"),
                               **tol)
    if k == 2:
        include = bool(seed % 2)
        divisor = pooling.avg_divisor(g, pairs, include, None)
        ref, _ = naive_pool(x, (k, k), (2, 2), pad, (1, 1), ceil_mode, "avg", include)
        np.testing.assert_allclose(pooling.avg_pool_forward(x, g, divisor), ref, **tol)
        np.testing.assert_allclose(pooling.avg_pool_backward(grad_out, g, divisor),
                                   naive_pool_backward(x, grad_out, None, (k, k), (2, 2), pad, ceil_mode, "avg",
                                                       include), **tol)


@settings(max_examples=30, deadline=None)
@given(geo=fast_geometry(), seed=st.integers(0, 1000))
def test_fast_max_pool_equals_the_general_kernels_with_nan_inf_and_ties(geo, seed):
    # NaN follows PyTorch's `v > best || isnan(v)`: the last NaN of a window wins (the naive loops
    # above do not model it; the general kernels are checked against PyTorch in tests/nn)
    sizes, k, pad, ceil_mode = geo
    rng = np.random.default_rng(seed)
    x = rng.integers(-1, 2, (2, 2) + sizes).astype(np.float32)
    x[rng.random(x.shape) < 0.15] = np.nan
    # -inf: the values-only 3x3 loop pads its columns with -inf, which must never change a maximum
    x[rng.random(x.shape) < 0.15] = -np.inf
    g = pooling.pool_geometry(sizes, (k, k), (2, 2), (1, 1), tuple((p, p) for p in pad), ceil_mode)
    out, arg = pooling.max_pool_forward(x, g)
    ref, ref_arg = general_max_pool(x, g)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(arg, ref_arg)
    np.testing.assert_array_equal(pooling.max_pool_forward(x, g, with_arg=False)[0], ref)
    # the backward's bits too: the 3x3 rows gather in window order what the general kernel scatters
    grad_out = np.where(rng.random(out.shape) < 0.3, 0.0, rng.standard_normal(out.shape)).astype(np.float32)
    planes = grad_out.reshape(grad_out.shape[0] * grad_out.shape[1], -1)
    ref_grad = np.empty((planes.shape[0], sizes[0] * sizes[1]), np.float32)
    pooling._max_backward_planes(planes, ref_arg, g.tap, g.start, g.border_row, g.border_index, ref_grad, 0,
                                 planes.shape[0])
    np.testing.assert_array_equal(pooling.max_pool_backward(grad_out, arg, g).reshape(ref_grad.shape), ref_grad)


def test_parallel_kernels_equal_the_serial_loops(monkeypatch):
    # big enough (work >= GRAIN) for the public functions to take the parallel path; 3x3 at
    # stride 1 takes the general kernels, at stride 2 the pool2d ones
    monkeypatch.setattr(pooling, "STREAM_GRAIN", pooling.GRAIN)  # the global mean's parallel path too
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 64, 64)).astype(np.float32)
    planes = x.reshape(8, -1)
    pairs = ((1, 1), (1, 1))
    g = pooling.pool_geometry((64, 64), (3, 3), (1, 1), (1, 1), pairs, True)
    assert not pool2d.applies(g, pooling._FAST_MAX)
    args = (g.tap, g.start, g.border_row, g.border_index)
    assert 8 * g.start.size * g.tap.size >= pooling.GRAIN
    out, arg = pooling.max_pool_forward(x, g)
    serial_out, serial_arg = general_max_pool(x, g)
    np.testing.assert_array_equal(out, serial_out)
    np.testing.assert_array_equal(arg, serial_arg)
    grad_out = rng.standard_normal(out.shape).astype(np.float32)
    serial = np.empty((8, 64 * 64), np.float32)
    pooling._max_backward_planes(grad_out.reshape(8, -1), arg, *args, serial, 0, 8)
    np.testing.assert_array_equal(pooling.max_pool_backward(grad_out, arg, g).reshape(8, -1), serial)
    divisor = pooling.avg_divisor(g, pairs, True, None)
    serial = np.empty((8, g.start.size), np.float32)
    pooling._sum_forward_planes(planes, *args, divisor.astype(np.float32), serial, 0, 8)
    np.testing.assert_array_equal(pooling.avg_pool_forward(x, g, divisor).reshape(8, -1), serial)
    serial = np.empty((8, 64 * 64), np.float32)
    pooling._sum_backward_planes(grad_out.reshape(8, -1), *args, divisor.astype(np.float32), serial, 0, 8)
    np.testing.assert_array_equal(pooling.avg_pool_backward(grad_out, g, divisor).reshape(8, -1), serial)
    serial = np.empty(8, np.float32)
    pooling._plane_mean_planes(planes, serial, 0, 8)
    np.testing.assert_array_equal(pooling.global_avg_pool_forward(x).reshape(-1), serial)
    grad = rng.standard_normal((2, 4)).astype(np.float32)
    serial = np.empty((8, 64 * 64), np.float32)
    pooling._plane_broadcast_planes(grad.reshape(-1), serial, 0, 8)
    np.testing.assert_array_equal(pooling.global_avg_pool_backward(grad, (64, 64)).reshape(8, -1), serial)


@pytest.mark.parametrize("k, pad", [(2, 0), (3, 1)])
def test_parallel_fast_kernels_equal_the_serial_loops(k, pad, monkeypatch):
    monkeypatch.setattr(pooling, "STREAM_GRAIN", pooling.GRAIN)  # 2x2 windows run serially below it
    assert pooling._grain(pooling.pool_geometry((64, 63), (k, k), (2, 2), (1, 1), ((0, 0), (0, 0)), True)) \
        == pooling.GRAIN
    rng = np.random.default_rng(k)
    x = rng.standard_normal((2, 4, 64, 63)).astype(np.float32)
    pairs = ((pad, pad), (pad, pad))
    g = pooling.pool_geometry((64, 63), (k, k), (2, 2), (1, 1), pairs, True)
    size, pads, spans = pooling._fast_args(g)
    shape = (8,) + g.out_shape
    out, arg = pooling.max_pool_forward(x, g)
    serial_out, serial_arg = np.empty(shape, np.float32), np.empty(shape, np.int8)
    pool2d.max_forward_planes(x.reshape(8, 64, 63), size, pads, spans, serial_out, serial_arg, 0, 8)
    np.testing.assert_array_equal(out.reshape(shape), serial_out)
    np.testing.assert_array_equal(arg.reshape(shape), serial_arg)
    grad_out = rng.standard_normal(shape).astype(np.float32)
    serial = np.empty((8, 64, 63), np.float32)
    pool2d.max_backward_planes(grad_out, serial_arg, size, pads, spans, serial, 0, 8)
    np.testing.assert_array_equal(pooling.max_pool_backward(grad_out.reshape(out.shape), arg, g).reshape(serial.shape),
                                  serial)
    if k == 2:
        divisor = pooling.avg_divisor(g, pairs, True, None).astype(np.float32).reshape(g.out_shape)
        pool2d.avg_forward_planes(x.reshape(8, 64, 63), pads, spans, divisor, False, serial_out, 0, 8)
        np.testing.assert_array_equal(pooling.avg_pool_forward(x, g, divisor.ravel()).reshape(shape), serial_out)
        pool2d.avg_backward_planes(grad_out, pads, spans, divisor, False, serial, 0, 8)
        np.testing.assert_array_equal(
            pooling.avg_pool_backward(grad_out.reshape(out.shape), g, divisor.ravel()).reshape(serial.shape), serial)


def test_parallel_elementwise_kernels_equal_numpy(monkeypatch):
    # the parallel path at a test-sized array (it normally starts at STREAM_GRAIN elements)
    monkeypatch.setattr(elementwise, "STREAM_GRAIN", elementwise.GRAIN)
    x = np.random.default_rng(6).standard_normal(3 * elementwise.GRAIN + 5)
    out = elementwise.relu(x)
    np.testing.assert_array_equal(out, np.maximum(x, 0))
    np.testing.assert_array_equal(elementwise.relu_backward(np.ones_like(x), out), (x > 0).astype(float))
    small = x[:100]
    np.testing.assert_allclose(elementwise.gelu(x)[:100], elementwise.gelu(small), rtol=0, atol=0)
    np.testing.assert_allclose(elementwise.gelu_backward(np.ones_like(x), x)[:100],
                               elementwise.gelu_backward(np.ones_like(small), small), rtol=0, atol=0)


@pytest.mark.parametrize("sizes", [(28, 28), (10, 10), (8, 8), (9, 7), (64, 62), (2, 2), (3, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flat_2x2_loops_equal_the_row_loops(sizes, dtype):
    # short rows take pool2d_flat (one loop at the input row pitch, several planes per block when
    # the height is even); it must give pool2d's per-row results bit for bit, NaN and ties included,
    # serially and on lanes (one range of blocks a lane), over enough planes for several blocks
    rng = np.random.default_rng(sizes[0] * 100 + sizes[1])
    planes = max(3, 3 * pool2d_flat.BLOCK // (sizes[0] * sizes[1]) + 1)
    x = rng.integers(-2, 3, (planes, 1) + sizes).astype(dtype)
    x[rng.random(x.shape) < 0.05] = np.nan
    g = pooling.pool_geometry(sizes, (2, 2), (2, 2), (1, 1), ((0, 0), (0, 0)), False)
    size, pads, spans = pooling._fast_args(g)
    assert pool2d_flat.applies(g, spans)
    shape = (planes,) + g.out_shape
    ref, ref_arg = np.empty(shape, dtype), np.empty(shape, np.int8)
    pool2d.max_forward_planes(x.reshape((planes,) + sizes), size, pads, spans, ref, ref_arg, 0, planes)
    divisor = pooling.avg_divisor(g, ((0, 0), (0, 0)), True, None).astype(dtype).reshape(g.out_shape)
    ref_avg = np.empty(shape, dtype)
    pool2d.avg_forward_planes(x.reshape((planes,) + sizes), pads, spans, divisor, False, ref_avg, 0, planes)
    # the flat loops take the reciprocals (every divisor here is 4): the product must be the quotient
    recip, multiply = pooling._divisors(divisor, g.out_shape, dtype)
    assert multiply and (recip == 0.25).all()
    per = pool2d_flat.planes_per_block(sizes, g.out_shape)
    assert (per > 1) == (sizes[0] % 2 == 0 and sizes[0] * sizes[1] <= pool2d_flat.BLOCK)
    blocks = -(-planes // per)
    for run in ("serial", "lanes"):
        out, arg, values, avg = (np.full(shape, 7, dtype), np.full(shape, 9, np.int8), np.full(shape, 7, dtype),
                                 np.full(shape, 7, dtype))
        none = np.empty((0,) + g.out_shape, np.int8)
        x3 = x.reshape((planes,) + sizes)
        for kernel, args in ((pool2d_flat.max_forward_planes, (x3, out, arg, per)),
                             (pool2d_flat.max_forward_planes, (x3, values, none, per)),
                             (pool2d_flat.avg_forward_planes, (x3, recip, True, avg, per))):
            if run == "serial":
                kernel(*args, 0, blocks)
            else:
                elementwise.by_size(kernel, 1, blocks, *args, grain=0)
        np.testing.assert_array_equal(out, ref)
        np.testing.assert_array_equal(arg, ref_arg)
        np.testing.assert_array_equal(values, ref)
        np.testing.assert_array_equal(avg, ref_avg)
    if pool2d_flat.tiles(g, spans):
        grad = rng.standard_normal(shape).astype(dtype)
        ref_dx, ref_avg_dx = np.empty((planes,) + sizes, dtype), np.empty((planes,) + sizes, dtype)
        pool2d.max_backward_planes(grad, ref_arg, size, pads, spans, ref_dx, 0, planes)
        pool2d.avg_backward_planes(grad, pads, spans, divisor, False, ref_avg_dx, 0, planes)
        for run in ("serial", "lanes"):
            dx, avg_dx = np.full(ref_dx.shape, 7, dtype), np.full(ref_dx.shape, 7, dtype)
            for kernel, args in ((pool2d_flat.max_backward_planes, (grad, ref_arg, dx, per)),
                                 (pool2d_flat.avg_backward_planes, (grad, recip, True, avg_dx, per))):
                if run == "serial":
                    kernel(*args, 0, blocks)
                else:
                    elementwise.by_size(kernel, 1, blocks, *args, grain=0)
            np.testing.assert_array_equal(dx, ref_dx)
            np.testing.assert_array_equal(avg_dx, ref_avg_dx)
        np.testing.assert_array_equal(pooling.max_pool_backward(grad.reshape(x.shape[:2] + g.out_shape), arg, g)
                                      .reshape(ref_dx.shape), ref_dx)
    # and the public entry points take them
    out, arg = pooling.max_pool_forward(x, g)
    np.testing.assert_array_equal(out.reshape(shape), ref)
    np.testing.assert_array_equal(arg.reshape(shape), ref_arg)
    np.testing.assert_array_equal(pooling.avg_pool_forward(x, g, divisor.ravel()).reshape(shape), ref_avg)


def test_flat_2x2_loops_apply_only_to_short_rows_wholly_inside():
    def applies(sizes, pad=0, ceil_mode=False):
        g = pooling.pool_geometry(sizes, (2, 2), (2, 2), (1, 1), ((pad, pad), (pad, pad)), ceil_mode)
        return pool2d_flat.applies(g, pool2d.spans(g))
    assert applies((28, 28)) and applies((65, 65)) and applies((9, 9), ceil_mode=False)
    tiles = pooling.pool_geometry((28, 28), (2, 2), (2, 2), (1, 1), ((0, 0), (0, 0)), False)
    odd = pooling.pool_geometry((28, 27), (2, 2), (2, 2), (1, 1), ((0, 0), (0, 0)), False)
    assert pool2d_flat.tiles(tiles, pool2d.spans(tiles)) and not pool2d_flat.tiles(odd, pool2d.spans(odd))
    assert not applies((112, 112))  # rows of 56: pool2d's row loops vectorise
    assert not applies((28, 28), pad=1)  # border windows
    assert not applies((9, 9), ceil_mode=True)  # an overhanging last window


def test_average_pooling_multiplies_by_reciprocals_only_where_they_are_exact():
    # powers of two (2x2 windows: 4, border windows without padding counted: 2 or 1) multiply by
    # the reciprocal, any other divisor divides
    recip, multiply = pooling._divisors(np.array([[4.0, 2.0], [1.0, 0.5]]), (2, 2), np.float32)
    assert multiply and recip.dtype == np.float32 and recip.tolist() == [[0.25, 0.5], [1.0, 2.0]]
    for divisor in (np.array([4.0, 3.0]), np.array([6.0]), np.array([0.0, 4.0])):
        kept, multiply = pooling._divisors(divisor, divisor.shape, np.float64)
        assert not multiply and kept.tolist() == divisor.tolist()
    # and a padded 2x2 average pooling that counts only real cells (divisors 4, 2, 1) gives the bits
    # of the same loops dividing, at float32's smallest and largest magnitudes
    rng = np.random.default_rng(8)
    x = (rng.standard_normal((2, 3, 9, 8)) * 10.0 ** rng.integers(-44, 38, (2, 3, 9, 8))).astype(np.float32)
    pairs = ((1, 1), (1, 1))
    g = pooling.pool_geometry((9, 8), (2, 2), (2, 2), (1, 1), pairs, False)
    divisor = pooling.avg_divisor(g, pairs, False, None)
    assert set(divisor.tolist()) == {1.0, 2.0, 4.0}
    _, pads, spans = pooling._fast_args(g)
    planes = x.reshape(6, 9, 8)
    want = np.empty((6,) + g.out_shape, np.float32)
    pool2d.avg_forward_planes(planes, pads, spans, divisor.astype(np.float32).reshape(g.out_shape), False, want, 0, 6)
    np.testing.assert_array_equal(pooling.avg_pool_forward(x, g, divisor).reshape(want.shape), want)
    grad = (rng.standard_normal((6,) + g.out_shape) * 1e-40).astype(np.float32)
    want_dx = np.empty((6, 9, 8), np.float32)
    pool2d.avg_backward_planes(grad, pads, spans, divisor.astype(np.float32).reshape(g.out_shape), False, want_dx, 0, 6)
    np.testing.assert_array_equal(pooling.avg_pool_backward(grad.reshape((2, 3) + g.out_shape), g, divisor)
                                  .reshape(want_dx.shape), want_dx)
