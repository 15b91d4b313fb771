"""Sliding windows over the spatial axes (im2col) and their adjoint scatter (col2im), zero padding included.

Work on any rank. Output positions are walked as rows of the last spatial axis; a ``RowTable``
says, for each output row and kernel tap, where in the *unpadded* input the row's windows read and
which of its columns fall in the padding. The gather writes zeros there, and the scatter drops
what lands there, so no padded copy of the input (or of its gradient) is ever made. The innermost
loop is a unit- (or stride-) step run of one row that the compiler vectorises, and a caller can
gather any range of rows (the GEMM kernels chunk by rows to bound memory).
"""
import functools

import numpy as np

from .geometry import table_key
from .jit import jit, jit_parallel, prange


@jit
def _gather_plane(plane, row_off, col_off, lo, hi, width, step, r0, cols, c, b):
    # plane: (L,) one flat unpadded plane, that of image b, channel c; cols: (C, K, B, R * width) C-contiguous
    # (the layout the GEMM reads, and one Numba knows is unit-stride: a strided view of it gathered
    # 1.5-2.4x slower); output rows r0.. Rows are copied as slices so the inner loop indexes from 0
    # (no wraparound test) and vectorises
    rows = cols.shape[3] // width
    last = col_off.shape[0]
    for ko in range(row_off.shape[1]):
        for kl in range(last):
            dst = cols[c, ko * last + kl, b]
            j0, j1 = lo[kl], hi[kl]
            for r in range(rows):
                out = dst[r * width:(r + 1) * width]
                start = row_off[r0 + r, ko]
                if start < 0:  # the whole row lies in the padding
                    j0r, j1r = 0, 0
                else:
                    j0r, j1r = j0, j1
                    first = start + col_off[kl] + j0 * step
                    seg = out[j0:j1]
                    if step == 1:
                        src = plane[first:first + (j1 - j0)]
                        for j in range(j1 - j0):
                            seg[j] = src[j]
                    else:
                        src_s = plane[first:first + (j1 - j0 - 1) * step + 1:step]
                        for j in range(j1 - j0):
                            seg[j] = src_s[j]
                for j in range(j0r):
                    out[j] = 0
                for j in range(j1r, width):  # hi >= lo, so j1r >= j0r
                    out[j] = 0


@jit
def _scatter_plane(cols, c, b, row_off, col_off, lo, hi, width, step, r0, plane):
    # the adjoint of _gather_plane, accumulated into the flat plane; what falls in the padding is dropped
    rows = cols.shape[3] // width
    last = col_off.shape[0]
    for ko in range(row_off.shape[1]):
        for kl in range(last):
            src = cols[c, ko * last + kl, b]
            j0, j1 = lo[kl], hi[kl]
            for r in range(rows):
                start = row_off[r0 + r, ko]
                if start < 0 or j1 <= j0:
                    continue
                first = start + col_off[kl] + j0 * step
                row = src[r * width + j0:r * width + j1]
                if step == 1:
                    dst = plane[first:first + (j1 - j0)]
                    for j in range(j1 - j0):
                        dst[j] += row[j]
                else:
                    dst_s = plane[first:first + (j1 - j0 - 1) * step + 1:step]
                    for j in range(j1 - j0):
                        dst_s[j] += row[j]


# x / out: (B, C, L) flat planes; cols: (C, K, B, R * width). One (b, c) plane per iteration: disjoint
# writes. The serial twins run a chunk on a lane of lanes.py

@jit_parallel
def _gather_parallel(x, row_off, col_off, lo, hi, width, step, r0, cols):
    for bc in prange(x.shape[0] * x.shape[1]):
        b, c = bc // x.shape[1], bc % x.shape[1]
        _gather_plane(x[b, c], row_off, col_off, lo, hi, width, step, r0, cols, c, b)


@jit
def _gather_serial(x, row_off, col_off, lo, hi, width, step, r0, cols):
    for b in range(x.shape[0]):
        for c in range(x.shape[1]):
            _gather_plane(x[b, c], row_off, col_off, lo, hi, width, step, r0, cols, c, b)


@jit_parallel
def _scatter_parallel(cols, row_off, col_off, lo, hi, width, step, r0, out):
    for bc in prange(out.shape[0] * out.shape[1]):
        b, c = bc // out.shape[1], bc % out.shape[1]
        _scatter_plane(cols, c, b, row_off, col_off, lo, hi, width, step, r0, out[b, c])


@jit
def _scatter_serial(cols, row_off, col_off, lo, hi, width, step, r0, out):
    for b in range(out.shape[0]):
        for c in range(out.shape[1]):
            _scatter_plane(cols, c, b, row_off, col_off, lo, hi, width, step, r0, out[b, c])


class RowTable:
    """Where each tap of a zero-padded window op reads in the unpadded input, row by row.

    Output positions are walked as rows of the last spatial axis. For output row ``r`` and tap
    ``(ko, kl)`` (``ko`` over the leading kernel axes, ``kl`` over the last one; flat tap
    ``ko * k_last + kl``) the tap reads ``x.flat[row_off[r, ko] + col_off[kl] + j * step]`` for
    output column ``j`` with ``lo[kl] <= j < hi[kl]``, and padding elsewhere; ``row_off`` is -1 where
    the tap's row lies in the padding. ``before`` may be negative (a crop). The tables are built
    once per geometry (``row_table`` caches them) and are read-only.
    """

    def __init__(self, in_shape, kernel_size, stride, dilation, before, out_shape):
        elem = np.cumprod((1,) + tuple(in_shape)[:0:-1])[::-1]
        # row_off, valid: (rows, outer taps), grown one leading axis at a time to (rows * o, taps * k)
        row_off, valid = np.zeros((1, 1), dtype=np.int64), np.ones((1, 1), dtype=bool)
        for n, k, s, d, b, o, e in list(zip(in_shape, kernel_size, stride, dilation, before, out_shape, elem))[:-1]:
            pos = (np.arange(o) * s - b)[:, None] + np.arange(k)[None, :] * d  # (o, k) input coordinate
            shape = (row_off.shape[0] * o, row_off.shape[1] * k)
            row_off = (row_off[:, None, :, None] + (pos * e)[None, :, None, :]).reshape(shape)
            valid = (valid[:, None, :, None] & ((pos >= 0) & (pos < n))[None, :, None, :]).reshape(shape)
        self.row_off = np.where(valid, row_off, -1).astype(np.int64)
        n, k, s, d, b, o = in_shape[-1], kernel_size[-1], stride[-1], dilation[-1], before[-1], out_shape[-1]
        self.col_off = np.arange(k, dtype=np.int64) * d - b
        # output column j reads input column j * s + col_off: inside [0, n) for lo <= j < hi
        self.lo = np.clip(-(self.col_off // s), 0, o)
        self.hi = np.maximum(np.clip((n - 1 - self.col_off) // s + 1, 0, o), self.lo)
        self.width, self.step = int(o), int(s)
        self.out_shape = tuple(int(p) for p in out_shape)
        self.rows, self.taps = self.row_off.shape[0], self.row_off.shape[1] * int(k)
        for array in (self.row_off, self.col_off, self.lo, self.hi):
            array.flags.writeable = False

    def gather(self, x_flat, cols, r0=0, parallel=True):
        """cols[c, k, b, (r - r0) * width + j] = the window value (0 in the padding); x_flat: (B, C, L)
        unpadded planes; cols: (C, K, B, R * width), C-contiguous. ``parallel``: on Numba's threads."""
        (_gather_parallel if parallel else _gather_serial)(x_flat, self.row_off, self.col_off, self.lo, self.hi,
                                                           self.width, self.step, r0, cols)

    def scatter(self, cols, out_flat, r0=0, parallel=True):
        """The adjoint of gather, added into the unpadded planes out_flat: (B, C, L); cols as gather's."""
        (_scatter_parallel if parallel else _scatter_serial)(cols, self.row_off, self.col_off, self.lo, self.hi,
                                                             self.width, self.step, r0, out_flat)


@functools.lru_cache(maxsize=256)
def row_table(in_shape, kernel_size, stride, dilation, before, out_shape):
    """The cached RowTable of one geometry (tuples), as a training loop repeats its shapes."""
    return RowTable(in_shape, kernel_size, stride, dilation, before, out_shape)


def table(in_shape, kernel_size, stride, dilation, pads=None, out_shape=None):
    """The RowTable of a window op on an input of spatial size in_shape zero-padded by pads
    ((before, after) per axis, None for none); out_shape defaults to every window that fits."""
    return row_table(*table_key(in_shape, kernel_size, stride, dilation, pads, out_shape))


def windows(x, kernel_size, stride, dilation, pads=None):
    """im2col: (N, C, *in) zero-padded by pads -> (N, C, prod(kernel_size), prod(out_shape)) (a view)."""
    t = table(x.shape[2:], kernel_size, stride, dilation, pads)
    flat = np.ascontiguousarray(x).reshape(x.shape[0], x.shape[1], -1)
    cols = np.empty((x.shape[1], t.taps, x.shape[0], t.rows * t.width), dtype=x.dtype)
    t.gather(flat, cols)
    return cols.transpose(2, 0, 1, 3)


def windows_adjoint(cols, in_shape, kernel_size, stride, dilation, pads=None):
    """col2im, the adjoint of ``windows``: (N, C, K, P) -> (N, C, *in), overlaps summed, padding dropped."""
    t = table(in_shape, kernel_size, stride, dilation, pads)
    out = np.zeros(cols.shape[:2] + (int(np.prod(in_shape)),), dtype=cols.dtype)
    t.scatter(np.ascontiguousarray(cols.transpose(1, 2, 0, 3)), out)
    return out.reshape(cols.shape[:2] + tuple(in_shape))
