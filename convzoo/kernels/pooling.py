"""Pooling kernels: max (remembering which tap won) and average, forward and backward, any rank.

They walk the same flat offsets as im2col (``geometry.window_offsets``): window ``p`` tap ``k``
reads ``x[b, start[p] + tap[k]]`` of the input flattened to (N*C, L), so every rank, stride and
dilation is one loop, and no (K, P) column buffer is ever built: pooling is memory-bound.

Padding is never materialised. Windows that lie wholly inside the input (the interior) use the flat
offsets; the few that touch the padding or the ceil_mode overhang (the border) read through a small
table of their taps' flat indices, -1 for a padded cell, which max pooling skips (as if it held
-inf) and average pooling adds as 0. So neither direction allocates or copies a padded input.

Each kernel is one serial loop over a range of (n, c) planes; large jobs run it on every core, one
range of planes per lane, small ones on the calling thread (``elementwise.by_size``, ``GRAIN``).

These table-driven loops serve every geometry but gather tap by tap, which LLVM cannot vectorise;
the 2-D windows CNNs use most (max over 2x2 and 3x3, average over 2x2, at stride 2) take the
unrolled, vectorised kernels of ``pool2d.py`` instead, which give the same results.

Geometry follows PyTorch: with ``ceil_mode`` the last window may hang over the right edge, but a
window that would *start* in the right padding is dropped; the overhang is never counted by an
average's divisor.
"""
import functools
import math
from collections import namedtuple

import numpy as np

from . import pool2d, pool2d_flat
from .geometry import effective_kernel, window_offsets
from .elementwise import GRAIN, STREAM_GRAIN, by_size
from .jit import jit, jit_sums

# border_row[p]: -1 for an interior window, else its row in border_index (n_border, K)
PoolGeometry = namedtuple("PoolGeometry", "in_shape out_shape kernel_size stride dilation pads tap start "
                                          "border_row border_index")


def pool_output_size(n, k, s, d, before, after, ceil_mode):
    """PyTorch's pooling_output_shape_pad_lr: floor or ceil, never a window starting in the padding."""
    span = n + before + after - effective_kernel(k, d)
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + before:
        out -= 1
    return out


@functools.lru_cache(maxsize=256)
def pool_geometry(in_shape, kernel_size, stride, dilation, pairs, ceil_mode):
    """Output shape, window offsets and the border table of a pooling over the spatial in_shape.

    Arguments are tuples (pairs: per-axis (before, after)). The result is cached per geometry, as a
    training loop pools the same shapes every step; its arrays are read-only.
    """
    in_shape, kernel_size = tuple(in_shape), tuple(kernel_size)
    out_shape = tuple(pool_output_size(n, k, s, d, b, a, ceil_mode)
                      for n, k, s, d, (b, a) in zip(in_shape, kernel_size, stride, dilation, pairs))
    tap, start = window_offsets(in_shape, kernel_size, out_shape, stride, dilation)
    elem_strides = np.cumprod((1,) + in_shape[:0:-1])[::-1]
    # window origins relative to the unpadded input: shift by the leading padding
    start = start - int(sum(b * e for (b, _), e in zip(pairs, elem_strides)))
    # per axis: is each output position's window wholly inside [0, n)?
    inside = [(np.arange(o) * s - b >= 0) & (np.arange(o) * s - b + effective_kernel(k, d) <= n)
              for n, o, k, s, d, (b, _) in zip(in_shape, out_shape, kernel_size, stride, dilation, pairs)]
    interior = np.ones(1, dtype=bool)
    for axis_inside in inside:
        interior = (interior[:, None] & axis_inside[None, :]).ravel()
    border = np.flatnonzero(~interior)
    border_row = np.full(interior.size, -1, dtype=np.int64)
    border_row[border] = np.arange(border.size)
    # (n_border, K) flat input index of every tap of every border window, -1 where it is padding
    coords = np.unravel_index(border, out_shape)
    taps = np.unravel_index(np.arange(tap.size), kernel_size)
    flat = np.zeros((border.size, tap.size), dtype=np.int64)
    valid = np.ones((border.size, tap.size), dtype=bool)
    for o, k_idx, n, s, d, (b, _), e in zip(coords, taps, in_shape, stride, dilation, pairs, elem_strides):
        pos = (o * s - b)[:, None] + k_idx[None, :] * d
        valid &= (pos >= 0) & (pos < n)
        flat += pos * e
    border_index = np.where(valid, flat, -1)
    for array in (tap, start, border_row, border_index):
        array.flags.writeable = False
    return PoolGeometry(in_shape, out_shape, kernel_size, tuple(stride), tuple(dilation), tuple(pairs), tap, start,
                        border_row, border_index)


@jit
def _max_forward_planes(x, tap, start, border_row, border_index, out, arg, lo, hi):
    # planes lo..hi of x: (B, L); out, arg: (B, P). The first maximum wins; a window holding NaN
    # gives its last NaN, as PyTorch's `v > best || isnan(v)`. The NaN test runs in a second pass
    # only for such windows, because testing it inside the comparison makes the hot loop several
    # times slower.
    for b in range(lo, hi):
        for p in range(start.shape[0]):
            row = border_row[p]
            if row < 0:
                s = start[p]
                best = x[b, s + tap[0]]
                best_k = 0
                nan = best != best
                for k in range(1, tap.shape[0]):
                    v = x[b, s + tap[k]]
                    nan |= v != v
                    if v > best:
                        best = v
                        best_k = k
                if nan:
                    for k in range(tap.shape[0]):
                        if x[b, s + tap[k]] != x[b, s + tap[k]]:
                            best = x[b, s + tap[k]]
                            best_k = k
            else:
                best_k = -1
                best = x[b, 0]
                for k in range(tap.shape[0]):
                    i = border_index[row, k]
                    if i >= 0:
                        v = x[b, i]
                        if best_k < 0 or v > best or v != v:
                            best = v
                            best_k = k
            out[b, p] = best
            arg[b, p] = best_k


@jit
def _max_backward_planes(grad_out, arg, tap, start, border_row, border_index, grad_x, lo, hi):
    # grad_x: (B, L), each plane zeroed here, while it is in cache, then accumulated into
    for b in range(lo, hi):
        grad_x[b, :] = 0
        for p in range(start.shape[0]):
            row = border_row[p]
            i = start[p] + tap[arg[b, p]] if row < 0 else border_index[row, arg[b, p]]
            grad_x[b, i] += grad_out[b, p]


@jit
def _sum_forward_planes(x, tap, start, border_row, border_index, divisor, out, lo, hi):
    for b in range(lo, hi):
        for p in range(start.shape[0]):
            row = border_row[p]
            acc = 0.0  # float64 accumulator, also for float32 input
            if row < 0:
                s = start[p]
                for k in range(tap.shape[0]):
                    acc += x[b, s + tap[k]]
            else:
                for k in range(tap.shape[0]):
                    i = border_index[row, k]
                    if i >= 0:
                        acc += x[b, i]
            out[b, p] = acc / divisor[p]


@jit
def _sum_backward_planes(grad_out, tap, start, border_row, border_index, divisor, grad_x, lo, hi):
    for b in range(lo, hi):
        grad_x[b, :] = 0  # zeroed plane by plane while in cache, not by a separate pass
        for p in range(start.shape[0]):
            g = grad_out[b, p] / divisor[p]
            row = border_row[p]
            if row < 0:
                s = start[p]
                for k in range(tap.shape[0]):
                    grad_x[b, s + tap[k]] += g
            else:
                for k in range(tap.shape[0]):
                    i = border_index[row, k]
                    if i >= 0:
                        grad_x[b, i] += g


def _run(serial, work, planes, *args, grain=GRAIN):
    """Over ``planes`` planes (or blocks of them); pooling's default grain is GRAIN (``elementwise.by_size``)."""
    by_size(serial, work, planes, *args, grain=grain)


def _planes(a):
    """(N, C, *S) -> (N*C, prod(S)), a view when a is contiguous."""
    return np.ascontiguousarray(a).reshape(a.shape[0] * a.shape[1], math.prod(a.shape[2:]))


_FAST_MAX = ((2, 2), (3, 3))  # max pooling windows with a pool2d kernel (at stride 2)
_FAST_AVG = ((2, 2),)


def _grain(geo, values_only=False):
    """Work below which a pool2d kernel runs serially. 2x2 windows stream like ReLU (each input read
    once) and take elementwise's STREAM_GRAIN, and so does 3x3's values-only forward (with a Numba
    parallel region serial won up to 3 Mi input elements; on lanes, 64x112x112 at batch 1 in one
    process, the 3x3 values-only forward ran 1.49x faster on two lanes than on one). 3x3 windows
    tracking the winning tap (overlapping, 2.25 reads an input, compute-bound) gain from the second
    core sooner."""
    return STREAM_GRAIN if tuple(geo.kernel_size) == (2, 2) or values_only else GRAIN


def _fast_args(geo):
    """The geometry arguments of the pool2d kernels: the window side, leading pads, interior spans."""
    (ph, _), (pw, _) = geo.pads
    return geo.kernel_size[0], (ph, pw), pool2d.spans(geo)


def max_pool_forward(x, geo, with_arg=True):
    """(N, C, *in) -> out (N, C, *out) and arg, the winning tap of each window (int8 or int32).

    ``with_arg=False`` (no gradient wanted) returns arg None, and may take a faster loop.
    """
    n, c = x.shape[:2]
    # the tap index, not a flat position: 1 byte per output for kernels up to 127 taps
    arg_dtype = np.int8 if geo.tap.size <= 127 else np.int32
    if pool2d.applies(geo, _FAST_MAX):
        out = np.empty((n * c,) + geo.out_shape, dtype=x.dtype)
        arg = np.empty(((n * c) if with_arg else 0,) + geo.out_shape, dtype=arg_dtype)
        planes = _planes(x).reshape((n * c,) + geo.in_shape)
        if pool2d_flat.applies(geo, pool2d.spans(geo)):
            per = pool2d_flat.planes_per_block(geo.in_shape, geo.out_shape)
            _run(pool2d_flat.max_forward_planes, out.size * geo.tap.size,
                 -(-n * c // per), planes, out, arg, per, grain=_grain(geo))
            return out.reshape((n, c) + geo.out_shape), arg.reshape(n * c, geo.start.size) if with_arg else None
        _run(pool2d.max_forward_planes, out.size * geo.tap.size, n * c,
             planes, *_fast_args(geo), out, arg, grain=_grain(geo, not with_arg))
        return out.reshape((n, c) + geo.out_shape), arg.reshape(n * c, geo.start.size) if with_arg else None
    out = np.empty((n * c, geo.start.size), dtype=x.dtype)
    arg = np.empty(out.shape, dtype=arg_dtype)
    _run(_max_forward_planes, out.size * geo.tap.size, n * c,
         _planes(x), geo.tap, geo.start, geo.border_row, geo.border_index, out, arg)
    return out.reshape((n, c) + geo.out_shape), arg if with_arg else None


def max_pool_backward(grad_out, arg, geo):
    """Route each output gradient to the input element its window picked; (N, C, *out) -> (N, C, *in)."""
    n, c = grad_out.shape[:2]
    # every kernel writes all of grad_x (zeros included), so it need not be zeroed here
    grad_x = np.empty((n * c, math.prod(geo.in_shape)), dtype=grad_out.dtype)
    if pool2d.applies(geo, _FAST_MAX) and pool2d_flat.tiles(geo, pool2d.spans(geo)):
        per = pool2d_flat.planes_per_block(geo.in_shape, geo.out_shape)
        planes = (n * c,) + geo.out_shape
        _run(pool2d_flat.max_backward_planes, grad_x.size, -(-n * c // per),
             _planes(grad_out).reshape(planes), arg.reshape(planes), grad_x.reshape((n * c,) + geo.in_shape), per,
             grain=_grain(geo))
    elif pool2d.applies(geo, _FAST_MAX):
        planes = (n * c,) + geo.out_shape
        _run(pool2d.max_backward_planes, grad_x.size, n * c,
             _planes(grad_out).reshape(planes), arg.reshape(planes), *_fast_args(geo),
             grad_x.reshape((n * c,) + geo.in_shape), grain=_grain(geo))
    else:
        _run(_max_backward_planes, grad_x.size, n * c,
             _planes(grad_out), arg, geo.tap, geo.start, geo.border_row, geo.border_index, grad_x)
    return grad_x.reshape((n, c) + geo.in_shape)


def max_pool_indices(arg, geo, batch_shape):
    """PyTorch's return_indices: the flat index of each window's maximum within its (n, c) input plane."""
    k = arg.astype(np.int64)
    index = geo.start[None, :] + geo.tap[k]
    border = geo.border_row >= 0
    index[:, border] = geo.border_index[geo.border_row[border][None, :], k[:, border]]
    return index.reshape(tuple(batch_shape) + geo.out_shape)


def avg_divisor(geo, pairs, count_include_pad, divisor_override):
    """Per-window divisor, as PyTorch: the window clipped to input+padding (or to the input alone).

    The ceil_mode overhang beyond the requested padding is never counted. Cached per geometry
    (read-only), as it was a third of a small pooling call's time.
    """
    return _divisor(geo.in_shape, geo.out_shape, geo.kernel_size, geo.stride, tuple(pairs), bool(count_include_pad),
                    divisor_override)


@functools.lru_cache(maxsize=256)
def _divisor(in_shape, out_shape, kernel_size, stride, pairs, count_include_pad, divisor_override):
    if divisor_override is not None:
        divisor = np.full(math.prod(out_shape), divisor_override, dtype=np.float64)
    else:
        divisor = np.ones(1)
        for n, o, k, s, (b, a) in zip(in_shape, out_shape, kernel_size, stride, pairs):
            lo = np.arange(o) * s - b
            hi = np.minimum(lo + k, n + a)
            if not count_include_pad:
                lo, hi = np.maximum(lo, 0), np.minimum(hi, n)
            divisor = (divisor[:, None] * (hi - lo)).ravel()
    divisor.flags.writeable = False
    return divisor


_scales = {}  # (id of a read-only divisor array, shape, dtype) -> (that array, scale, multiply)


def _divisors(divisor, shape, dtype):
    """(the divisors or their reciprocals as ``shape``, multiply) for the 2x2 kernels
    (``pool2d.divide``): the reciprocals where every divisor is a power of two, whose product then
    equals the quotient. Kept per cached divisor array (``avg_divisor``), as working them out took
    9 us of a 0.12 ms batch-1 call."""
    key = (id(divisor), shape, np.dtype(dtype).str)
    hit = _scales.get(key)
    if hit is not None and hit[0] is divisor:
        return hit[1], hit[2]
    exact = np.asarray(divisor, dtype=np.float64).reshape(shape)
    mantissa, _ = np.frexp(exact)
    multiply = bool(exact.size) and bool((mantissa == 0.5).all())
    scale = ((1.0 / exact) if multiply else exact).astype(dtype)
    if isinstance(divisor, np.ndarray) and not divisor.flags.writeable:
        if len(_scales) >= 256:
            _scales.clear()
        _scales[key] = (divisor, scale, multiply)
    return scale, multiply


def avg_pool_forward(x, geo, divisor):
    n, c = x.shape[:2]
    if pool2d.applies(geo, _FAST_AVG):
        out = np.empty((n * c,) + geo.out_shape, dtype=x.dtype)
        _, pads, spans = _fast_args(geo)
        scale, multiply = _divisors(divisor, geo.out_shape, x.dtype)
        if pool2d_flat.applies(geo, spans):
            per = pool2d_flat.planes_per_block(geo.in_shape, geo.out_shape)
            _run(pool2d_flat.avg_forward_planes, out.size * geo.tap.size,
                 -(-n * c // per), _planes(x).reshape((n * c,) + geo.in_shape), scale, multiply, out, per,
                 grain=_grain(geo))
            return out.reshape((n, c) + geo.out_shape)
        _run(pool2d.avg_forward_planes, out.size * geo.tap.size, n * c,
             _planes(x).reshape((n * c,) + geo.in_shape), pads, spans, scale, multiply, out, grain=_grain(geo))
        return out.reshape((n, c) + geo.out_shape)
    out = np.empty((n * c, geo.start.size), dtype=x.dtype)
    _run(_sum_forward_planes, out.size * geo.tap.size, n * c,
         _planes(x), geo.tap, geo.start, geo.border_row, geo.border_index, divisor.astype(x.dtype), out)
    return out.reshape((n, c) + geo.out_shape)


def avg_pool_backward(grad_out, geo, divisor):
    n, c = grad_out.shape[:2]
    grad_x = np.empty((n * c, math.prod(geo.in_shape)), dtype=grad_out.dtype)
    work = grad_x.size + grad_out.size * geo.tap.size
    if pool2d.applies(geo, _FAST_AVG):
        scale, multiply = _divisors(divisor, geo.out_shape, grad_out.dtype)
        _, pads, spans = _fast_args(geo)
        if pool2d_flat.tiles(geo, spans):
            per = pool2d_flat.planes_per_block(geo.in_shape, geo.out_shape)
            _run(pool2d_flat.avg_backward_planes, work, -(-n * c // per),
                 _planes(grad_out).reshape((n * c,) + geo.out_shape), scale, multiply,
                 grad_x.reshape((n * c,) + geo.in_shape), per, grain=_grain(geo))
        else:
            _run(pool2d.avg_backward_planes, work, n * c,
                 _planes(grad_out).reshape((n * c,) + geo.out_shape), pads, spans, scale, multiply,
                 grad_x.reshape((n * c,) + geo.in_shape), grain=_grain(geo))
    else:
        _run(_sum_backward_planes, work, n * c,
             _planes(grad_out), geo.tap, geo.start, geo.border_row, geo.border_index,
             divisor.astype(grad_out.dtype), grad_x)
    return grad_x.reshape((n, c) + geo.in_shape)


@jit_sums
def _plane_mean_planes(x, out, lo, hi):
    # x: (B, L). One running sum a plane, which jit_sums lets LLVM split into a vector register's
    # worth of partial sums (as many as it interleaves: 64 on the AVX-512 machine, each over L / 64
    # values, as the 64 column sums written out by hand before, which ran 1.9x slower: 64 x 112 x 112
    # on one thread, 65.6 -> 34.3 us); the partial sums are then added in the input's precision
    length = x.shape[1]
    for b in range(lo, hi):
        row = x[b]
        total = x.dtype.type(0)
        for i in range(length):
            total += row[i]
        out[b] = total / length


@jit
def _plane_broadcast_planes(grad_out, grad_x, lo, hi):
    length = grad_x.shape[1]
    for b in range(lo, hi):
        row = grad_x[b]
        g = grad_out[b] / length
        for i in range(length):
            row[i] = g


def global_avg_pool_forward(x):
    """Mean over every spatial axis: (N, C, *in) -> (N, C)."""
    n, c = x.shape[:2]
    out = np.empty(n * c, dtype=x.dtype)
    _run(_plane_mean_planes, x.size, n * c, _planes(x), out, grain=STREAM_GRAIN)
    return out.reshape(n, c)


def global_avg_pool_backward(grad_out, in_shape):
    n, c = grad_out.shape[:2]
    grad_x = np.empty((n * c, math.prod(in_shape)), dtype=grad_out.dtype)
    _run(_plane_broadcast_planes, grad_x.size, n * c,
         np.ascontiguousarray(grad_out).reshape(-1), grad_x, grain=STREAM_GRAIN)
    return grad_x.reshape((n, c) + tuple(in_shape))
