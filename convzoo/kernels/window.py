"""Sliding windows over the spatial axes (im2col) and their adjoint scatter (col2im).

Shared by convolution and pooling. Both work on any rank through flat offsets into a C-ordered
padded block: window ``p`` tap ``k`` reads ``xp.flat[start[p] + tap[k]]`` (``geometry.window_offsets``).
The output positions are walked as rows of the last spatial axis, ``start[r * width + j] =
row_start[r] + j * step``, so the innermost loop is a unit- (or stride-) step run that the compiler
vectorises, and a caller can gather any range of rows (the GEMM kernels chunk by rows to bound memory).
"""
import numpy as np

from .geometry import conv_output_size, window_offsets
from .jit import jit_parallel, prange


@jit_parallel
def _gather_rows(xp, tap, row_start, width, step, r0, cols):
    # xp: (B, C, L) flat padded planes; cols: (B, C, K, R * width), any strides; rows r0.. of the output.
    # Rows are copied as slices so the inner loop indexes from 0 (no wraparound test) and vectorises
    planes = xp.shape[0] * xp.shape[1]
    rows = cols.shape[3] // width
    span = (width - 1) * step + 1
    for bc in prange(planes):
        b, c = bc // xp.shape[1], bc % xp.shape[1]
        plane = xp[b, c]
        for k in range(tap.shape[0]):
            dst = cols[b, c, k]
            for r in range(rows):
                base = row_start[r0 + r] + tap[k]
                out = dst[r * width:(r + 1) * width]
                if step == 1:
                    src = plane[base:base + width]
                    for j in range(width):
                        out[j] = src[j]
                else:
                    src_s = plane[base:base + span:step]
                    for j in range(width):
                        out[j] = src_s[j]


@jit_parallel
def _scatter_rows(cols, tap, row_start, width, step, r0, out):
    # the adjoint of _gather_rows, accumulated into out: (B, C, L); each (b, c) plane is its own
    # iteration, so the prange writes are disjoint
    planes = out.shape[0] * out.shape[1]
    rows = cols.shape[3] // width
    span = (width - 1) * step + 1
    for bc in prange(planes):
        b, c = bc // out.shape[1], bc % out.shape[1]
        plane = out[b, c]
        for k in range(tap.shape[0]):
            src = cols[b, c, k]
            for r in range(rows):
                base = row_start[r0 + r] + tap[k]
                row = src[r * width:(r + 1) * width]
                if step == 1:
                    dst = plane[base:base + width]
                    for j in range(width):
                        dst[j] += row[j]
                else:
                    dst_s = plane[base:base + span:step]
                    for j in range(width):
                        dst_s[j] += row[j]


def output_shape(padded_shape, kernel_size, stride, dilation):
    return tuple(conv_output_size(n, k, s, d, 0, 0)
                 for n, k, s, d in zip(padded_shape, kernel_size, stride, dilation))


class RowOffsets:
    """The flat offsets of a window op, split into taps and rows of the last spatial axis.

    Attributes:
        out_shape: spatial output shape.
        tap: (K,) flat offset of each kernel tap.
        row_start: (R,) flat offset of the first window of each output row (R = prod(out_shape[:-1])).
        width, step: output row length and the flat step between neighbouring windows in a row.
    """

    def __init__(self, padded_shape, kernel_size, stride, dilation):
        padded_shape = tuple(int(n) for n in padded_shape)
        self.out_shape = output_shape(padded_shape, kernel_size, stride, dilation)
        self.width, self.step = self.out_shape[-1], int(stride[-1])
        rows = self.out_shape[:-1] + (1,)
        self.tap, self.row_start = window_offsets(padded_shape, kernel_size, rows, stride, dilation)
        self.taps, self.rows = self.tap.size, self.row_start.size

    def gather(self, xp_flat, cols, r0=0):
        """cols[b, c, k, (r - r0) * width + j] = window value; cols may be any strided 4-D view."""
        _gather_rows(xp_flat, self.tap, self.row_start, self.width, self.step, r0, cols)

    def scatter(self, cols, out_flat, r0=0):
        """The adjoint of gather, added into out_flat: (B, C, L)."""
        _scatter_rows(cols, self.tap, self.row_start, self.width, self.step, r0, out_flat)


def windows(xp, kernel_size, stride, dilation):
    """im2col: (N, C, *padded) -> (N, C, prod(kernel_size), prod(out_shape))."""
    offsets = RowOffsets(xp.shape[2:], kernel_size, stride, dilation)
    flat = np.ascontiguousarray(xp).reshape(xp.shape[0], xp.shape[1], -1)
    cols = np.empty(xp.shape[:2] + (offsets.taps, offsets.rows * offsets.width), dtype=xp.dtype)
    offsets.gather(flat, cols)
    return cols


def windows_adjoint(cols, padded_shape, kernel_size, stride, dilation):
    """col2im, the adjoint of ``windows``: (N, C, K, P) -> (N, C, *padded), overlaps summed."""
    offsets = RowOffsets(padded_shape, kernel_size, stride, dilation)
    out = np.zeros(cols.shape[:2] + (int(np.prod(padded_shape)),), dtype=cols.dtype)
    offsets.scatter(np.ascontiguousarray(cols), out)
    return out.reshape(cols.shape[:2] + tuple(padded_shape))
