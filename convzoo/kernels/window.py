"""Sliding windows over the spatial axes (im2col) and their adjoint scatter (col2im).

Shared by convolution and pooling. Both work on any rank through flat offsets
(see ``geometry.window_offsets``): window ``p`` tap ``k`` reads ``xp.flat[start[p] + tap[k]]``.
"""
import numpy as np

from .geometry import conv_output_size, window_offsets
from .jit import jit_parallel, prange


@jit_parallel
def _gather(xp, tap, start, cols):
    # xp: (B, L) flat padded blocks; cols: (B, K, P)
    for b in prange(xp.shape[0]):
        for k in range(tap.shape[0]):
            t = tap[k]
            for p in range(start.shape[0]):
                cols[b, k, p] = xp[b, start[p] + t]


@jit_parallel
def _scatter(cols, tap, start, out):
    # cols: (B, K, P); out: (B, L), accumulated into. Each b is its own block, so prange is safe.
    for b in prange(cols.shape[0]):
        for k in range(tap.shape[0]):
            t = tap[k]
            for p in range(start.shape[0]):
                out[b, start[p] + t] += cols[b, k, p]


def output_shape(padded_shape, kernel_size, stride, dilation):
    return tuple(conv_output_size(n, k, s, d, 0, 0)
                 for n, k, s, d in zip(padded_shape, kernel_size, stride, dilation))


def windows(xp, kernel_size, stride, dilation):
    """im2col: (N, C, *padded) -> (N, C, prod(kernel_size), prod(out_shape))."""
    lead, spatial = xp.shape[:2], xp.shape[2:]
    out_shape = output_shape(spatial, kernel_size, stride, dilation)
    tap, start = window_offsets(spatial, kernel_size, out_shape, stride, dilation)
    flat = np.ascontiguousarray(xp).reshape(lead[0] * lead[1], -1)
    cols = np.empty((flat.shape[0], tap.size, start.size), dtype=xp.dtype)
    _gather(flat, tap, start, cols)
    return cols.reshape(lead + (tap.size, start.size))


def windows_adjoint(cols, padded_shape, kernel_size, stride, dilation):
    """col2im, the adjoint of ``windows``: (N, C, K, P) -> (N, C, *padded), overlaps summed."""
    lead = cols.shape[:2]
    out_shape = output_shape(padded_shape, kernel_size, stride, dilation)
    tap, start = window_offsets(padded_shape, kernel_size, out_shape, stride, dilation)
    out = np.zeros((lead[0] * lead[1], int(np.prod(padded_shape))), dtype=cols.dtype)
    _scatter(np.ascontiguousarray(cols).reshape(out.shape[0], tap.size, start.size), tap, start, out)
    return out.reshape(lead + tuple(padded_shape))
