"""Pooling kernels: max (remembering which tap won) and average, forward and backward, any rank.

They walk the same flat offsets as im2col (``geometry.window_offsets``): window ``p`` tap ``k``
reads ``xp[b, start[p] + tap[k]]`` of a padded block flattened to (N*C, L), so every rank, stride
and dilation is one loop, and no (K, P) column buffer is ever built: pooling is memory-bound, and
each element is read once per window that covers it.

Geometry follows PyTorch: with ``ceil_mode`` the last window may hang over the right edge, but a
window that would *start* in the right padding is dropped; the overhang is padded too (with -inf
for max, 0 for average) and never counted by an average's divisor.
"""
from collections import namedtuple

import numpy as np

from .geometry import effective_kernel, window_offsets
from .jit import jit_parallel, prange
from .padding import pad, pad_adjoint

# pads: per-axis (before, after) of the padded block, after including the ceil_mode overhang
PoolGeometry = namedtuple("PoolGeometry", "in_shape out_shape pads kernel_size stride dilation tap start")


def pool_output_size(n, k, s, d, before, after, ceil_mode):
    """PyTorch's pooling_output_shape_pad_lr: floor or ceil, never a window starting in the padding."""
    span = n + before + after - effective_kernel(k, d)
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + before:
        out -= 1
    return out


def pool_geometry(in_shape, kernel_size, stride, dilation, pairs, ceil_mode):
    """Output shape, padded-block pads and window offsets of a pooling over spatial in_shape."""
    out_shape = tuple(pool_output_size(n, k, s, d, b, a, ceil_mode)
                      for n, k, s, d, (b, a) in zip(in_shape, kernel_size, stride, dilation, pairs))
    # the ceil_mode overhang: the last window may read past n + before + after
    pads = tuple((b, max(a, (o - 1) * s + effective_kernel(k, d) - n - b))
                 for n, o, k, s, d, (b, a) in zip(in_shape, out_shape, kernel_size, stride, dilation, pairs))
    padded = tuple(n + b + a for n, (b, a) in zip(in_shape, pads))
    tap, start = window_offsets(padded, kernel_size, out_shape, stride, dilation)
    return PoolGeometry(tuple(in_shape), out_shape, pads, tuple(kernel_size), tuple(stride), tuple(dilation),
                        tap, start)


def _padded_blocks(x, geo, fill):
    """(N, C, *in) -> (N*C, L) padded with fill; a view when there is nothing to pad."""
    xp = pad(np.ascontiguousarray(x), geo.pads, "zeros", fill)
    return xp.reshape(x.shape[0] * x.shape[1], -1)


@jit_parallel
def _max_forward(xp, tap, start, out, arg):
    # xp: (B, L); out, arg: (B, P). A window holding NaN gives its last NaN, as PyTorch's
    # `v > best || isnan(v)`; the NaN test runs in a second pass only for such windows, because
    # testing it inside the comparison makes the hot loop several times slower.
    for b in prange(xp.shape[0]):
        for p in range(start.shape[0]):
            s = start[p]
            best = xp[b, s + tap[0]]
            best_k = 0
            nan = best != best
            for k in range(1, tap.shape[0]):
                v = xp[b, s + tap[k]]
                nan |= v != v
                if v > best:
                    best = v
                    best_k = k
            if nan:
                for k in range(tap.shape[0]):
                    v = xp[b, s + tap[k]]
                    if v != v:
                        best = v
                        best_k = k
            out[b, p] = best
            arg[b, p] = best_k


@jit_parallel
def _max_backward(grad_out, arg, tap, start, grad_xp):
    # grad_xp: (B, L) zeros; each b is its own plane, so prange is safe
    for b in prange(grad_out.shape[0]):
        for p in range(start.shape[0]):
            grad_xp[b, start[p] + tap[arg[b, p]]] += grad_out[b, p]


@jit_parallel
def _sum_forward(xp, tap, start, divisor, out):
    for b in prange(xp.shape[0]):
        for p in range(start.shape[0]):
            s = start[p]
            acc = xp[b, s + tap[0]]
            for k in range(1, tap.shape[0]):
                acc += xp[b, s + tap[k]]
            out[b, p] = acc / divisor[p]


@jit_parallel
def _sum_backward(grad_out, tap, start, divisor, grad_xp):
    for b in prange(grad_out.shape[0]):
        for p in range(start.shape[0]):
            g = grad_out[b, p] / divisor[p]
            s = start[p]
            for k in range(tap.shape[0]):
                grad_xp[b, s + tap[k]] += g


def max_pool_forward(x, geo):
    """(N, C, *in) -> out (N, C, *out) and arg, the winning tap of each window (uint8 or int32)."""
    n, c = x.shape[:2]
    xp = _padded_blocks(x, geo, -np.inf)
    out = np.empty((xp.shape[0], geo.start.size), dtype=x.dtype)
    # the tap index, not a flat position: 1 byte per output for any kernel up to 256 taps
    arg = np.empty(out.shape, dtype=np.uint8 if geo.tap.size <= 256 else np.int32)
    _max_forward(xp, geo.tap, geo.start, out, arg)
    return out.reshape((n, c) + geo.out_shape), arg


def max_pool_backward(grad_out, arg, geo):
    """Route each output gradient to the input element its window picked; (N, C, *out) -> (N, C, *in)."""
    n, c = grad_out.shape[:2]
    padded = tuple(m + b + a for m, (b, a) in zip(geo.in_shape, geo.pads))
    grad_xp = np.zeros((n * c, int(np.prod(padded))), dtype=grad_out.dtype)
    _max_backward(np.ascontiguousarray(grad_out).reshape(n * c, -1), arg, geo.tap, geo.start, grad_xp)
    return pad_adjoint(grad_xp.reshape((n, c) + padded), geo.pads)


def max_pool_indices(arg, geo, batch_shape):
    """PyTorch's return_indices: the flat index of each window's maximum within its input (n, c) plane."""
    padded = tuple(m + b + a for m, (b, a) in zip(geo.in_shape, geo.pads))
    flat = geo.start[None, :] + geo.tap[arg.astype(np.int64)]
    coords = np.unravel_index(flat, padded)
    # an all -inf window may pick a padding cell; clip it onto the nearest input element
    coords = tuple(np.clip(i - b, 0, m - 1) for i, (b, _), m in zip(coords, geo.pads, geo.in_shape))
    return np.ravel_multi_index(coords, geo.in_shape).reshape(tuple(batch_shape) + geo.out_shape)


def avg_divisor(geo, pairs, count_include_pad, divisor_override):
    """Per-window divisor, as PyTorch: the window clipped to input+padding (or to the input alone).

    The ceil_mode overhang beyond the requested padding is never counted.
    """
    if divisor_override is not None:
        return np.full(geo.start.size, divisor_override, dtype=np.float64)
    divisor = np.ones(1)
    for n, o, k, s, (b, a) in zip(geo.in_shape, geo.out_shape, geo.kernel_size, geo.stride, pairs):
        lo = np.arange(o) * s - b
        hi = np.minimum(lo + k, n + a)
        if not count_include_pad:
            lo, hi = np.maximum(lo, 0), np.minimum(hi, n)
        divisor = (divisor[:, None] * (hi - lo)).ravel()
    return divisor


def avg_pool_forward(x, geo, divisor):
    n, c = x.shape[:2]
    xp = _padded_blocks(x, geo, 0.0)
    out = np.empty((xp.shape[0], geo.start.size), dtype=x.dtype)
    _sum_forward(xp, geo.tap, geo.start, divisor.astype(x.dtype), out)
    return out.reshape((n, c) + geo.out_shape)


def avg_pool_backward(grad_out, geo, divisor):
    n, c = grad_out.shape[:2]
    padded = tuple(m + b + a for m, (b, a) in zip(geo.in_shape, geo.pads))
    grad_xp = np.zeros((n * c, int(np.prod(padded))), dtype=grad_out.dtype)
    _sum_backward(np.ascontiguousarray(grad_out).reshape(n * c, -1), geo.tap, geo.start,
                  divisor.astype(grad_out.dtype), grad_xp)
    return pad_adjoint(grad_xp.reshape((n, c) + padded), geo.pads)


@jit_parallel
def _plane_mean(x, out):
    # x: (B, L). Eight interleaved partial sums keep the adds independent (the loop is latency-bound
    # otherwise, since without fastmath LLVM may not reorder a single running sum).
    length = x.shape[1]
    for b in prange(x.shape[0]):
        acc = np.zeros(8, dtype=x.dtype)
        stop = length - length % 8
        for i in range(0, stop, 8):
            for j in range(8):
                acc[j] += x[b, i + j]
        total = acc.sum()
        for i in range(stop, length):
            total += x[b, i]
        out[b] = total / length


@jit_parallel
def _plane_broadcast(grad_out, length, grad_x):
    for b in prange(grad_out.shape[0]):
        g = grad_out[b] / length
        for i in range(length):
            grad_x[b, i] = g


def global_avg_pool_forward(x):
    """Mean over every spatial axis: (N, C, *in) -> (N, C)."""
    n, c = x.shape[:2]
    out = np.empty(n * c, dtype=x.dtype)
    _plane_mean(np.ascontiguousarray(x).reshape(n * c, -1), out)
    return out.reshape(n, c)


def global_avg_pool_backward(grad_out, in_shape):
    n, c = grad_out.shape[:2]
    length = int(np.prod(in_shape))
    grad_x = np.empty((n * c, length), dtype=grad_out.dtype)
    _plane_broadcast(np.ascontiguousarray(grad_out).reshape(-1), length, grad_x)
    return grad_x.reshape((n, c) + tuple(in_shape))
