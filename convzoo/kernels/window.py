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

from .geometry import cached_table
from .jit import VECTOR, jit, jit_parallel, prange


# A row copy that has room (in the source plane, and in the next row of the column block, which is
# written after it) copies its length rounded up to a multiple of VECTOR, so the vectorised loop
# never falls to its scalar tail; the next row then overwrites the extra elements. On rows of 28 (a
# 7x7 "same" conv at 28 px) this made the gather 1.6x faster, and 2.6x with the unsigned indices of
# _gather_plane, against slices with a scalar tail


@jit
def _pairs(plane):
    """A float32 plane's whole pairs of elements as uint64 (element 2i the low half of pair i)."""
    return plane[:plane.shape[0] - plane.shape[0] % 2].view(np.uint64)


@jit
def _keep_halves(pairs, first, bits, at, count):
    # bits[at + j] = element first + 2j of the plane whose pairs these are: the low halves from an
    # even first element, the high ones from an odd. A unit-step loop LLVM vectorises at any count;
    # with the elements read at stride 2 it ran a vector body of 64 and the rest one by one (the
    # stem's gather, 3 x 224 x 224 by 3x3 taps at stride 2, one thread: 148 -> 80 us an image)
    start = first // np.uint64(2)
    if first % np.uint64(2) == 0:
        for j in range(count):
            bits[at + j] = np.uint32(pairs[start + j] & np.uint64(0xFFFFFFFF))
    else:
        for j in range(count):
            bits[at + j] = np.uint32(pairs[start + j] >> np.uint64(32))


@jit
def _gather_plane(plane, row_off, col_off, lo, hi, width, step, r0, cols, c, b):
    # plane: (L,) one flat unpadded plane, that of image b, channel c; cols: (C, K, B, R * width) C-contiguous
    # (the layout the GEMM reads, and one Numba knows is unit-stride: a strided view of it gathered
    # 1.5-2.4x slower); output rows r0.. Indices are unsigned and no slice is built per row: Numba
    # then drops its wraparound tests, which with the slices took half the time of rows of 28. A
    # row's first read is summed signed (its column offset may be negative) and is never negative
    rows = cols.shape[3] // width
    last = col_off.shape[0]
    w, s, size = np.uint64(width), np.uint64(step), np.uint64(plane.shape[0])
    # stride 2 on a float32 plane of even length: the plane as pairs of elements, so each row is a unit-step
    # loop that keeps one half of every pair (the bits moved as they are)
    pairs = _pairs(plane)
    by_pairs = step == 2 and plane.itemsize == 4 and plane.shape[0] % 2 == 0
    for ko in range(row_off.shape[1]):
        for kl in range(last):
            dst = cols[c, ko * last + kl, b]
            bits = dst.view(np.uint32) if by_pairs else dst[:0].view(np.uint32)
            j0, j1 = np.uint64(lo[kl]), np.uint64(hi[kl])
            n = j1 - j0
            wide = (n + np.uint64(VECTOR - 1)) // np.uint64(VECTOR) * np.uint64(VECTOR)
            for r in range(rows):
                o = np.uint64(r) * w
                start = row_off[r0 + r, ko]
                if start < 0:  # the whole row lies in the padding
                    for j in range(w):
                        dst[o + j] = 0
                    continue
                for j in range(j0):
                    dst[o + j] = 0
                first, at = np.uint64(start + col_off[kl] + lo[kl] * step), o + j0
                count = n
                if r < rows - 1 and j0 + wide <= w + w and first + (wide - np.uint64(1)) * s < size:
                    count = wide
                if step == 1:
                    for j in range(count):
                        dst[at + j] = plane[first + j]
                elif by_pairs:
                    _keep_halves(pairs, first, bits, at, count)
                elif step == 2:
                    # the stride as a constant: LLVM loads whole vectors and shuffles the even
                    # elements out (a bare copy 2.4x faster than with the stride a variable)
                    for j in range(count):
                        dst[at + j] = plane[first + np.uint64(2) * j]
                else:
                    for j in range(count):
                        dst[at + j] = plane[first + s * j]
                for j in range(j1, w):
                    dst[o + j] = 0


@jit
def _scatter_plane(cols, c, b, row_off, col_off, lo, hi, width, step, r0, plane, split, pairs):
    # the adjoint of _gather_plane, accumulated into the flat plane; what falls in the padding is
    # dropped (unsigned indices, as there). ``split``: _scatter_split's scratch (stride 2, rows of
    # even length) and ``pairs`` the part it touches (_split_pairs), else empty
    if split.shape[0]:
        _scatter_split(cols, c, b, row_off, col_off, lo, hi, width, r0, plane, split, pairs)
        return
    rows = cols.shape[3] // width
    last = col_off.shape[0]
    w, s = np.uint64(width), np.uint64(step)
    for ko in range(row_off.shape[1]):
        for kl in range(last):
            src = cols[c, ko * last + kl, b]
            j0, j1 = np.uint64(lo[kl]), np.uint64(hi[kl])
            n = j1 - j0
            for r in range(rows):
                start = row_off[r0 + r, ko]
                if start < 0 or n == 0:
                    continue
                first, at = np.uint64(start + col_off[kl] + lo[kl] * step), np.uint64(r) * w + j0
                if step == 1:
                    for j in range(n):
                        plane[first + j] += src[at + j]
                else:
                    for j in range(n):
                        plane[first + s * j] += src[at + j]


@jit
def _split_pairs(row_off, col_off, lo, hi, rows, r0):
    """The element pairs [p0, p1) of a plane that a stride-2 scatter of rows [r0, r0 + rows) touches
    (the same for every plane of the call); (0, 0) for none."""
    first, end = -1, 0
    for ko in range(row_off.shape[1]):
        for kl in range(col_off.shape[0]):
            for r in range(rows):
                start = row_off[r0 + r, ko]
                if start >= 0 and hi[kl] > lo[kl]:
                    at = start + col_off[kl] + lo[kl] * 2
                    first = at if first < 0 else min(first, at)
                    end = max(end, start + col_off[kl] + hi[kl] * 2 - 1)
    if first < 0:
        return 0, 0
    return first // 2, (end + 1) // 2


@jit
def _scatter_split(cols, c, b, row_off, col_off, lo, hi, width, r0, plane, split, pairs):
    # _scatter_plane at stride 2 on rows of even length (split: a scratch as long as the plane): the
    # pairs of the plane the rows of [r0, r0 + rows) touch (_split_pairs) are split into their even
    # and odd elements (split[:half] and split[half:], one unit-step pass), each tap adds its row of
    # columns to a unit-step run of one half, and the halves go back interleaved. The stride-2 loop
    # over a row's 28 elements ran one element at a time (LLVM vectorises it with a body of 64). Each
    # element still receives its terms from its own value and in the order of the stride-2 loop: the
    # same bits
    rows = cols.shape[3] // width
    last = col_off.shape[0]
    w, half, two = np.uint64(width), np.uint64(plane.shape[0] // 2), np.uint64(2)
    p0, p1 = np.uint64(pairs[0]), np.uint64(pairs[1])
    for k in range(p0, p1):
        split[k] = plane[two * k]
        split[half + k] = plane[two * k + np.uint64(1)]
    for ko in range(row_off.shape[1]):
        for kl in range(last):
            src = cols[c, ko * last + kl, b]
            j0, j1 = np.uint64(lo[kl]), np.uint64(hi[kl])
            n = j1 - j0
            odd = np.uint64((col_off[kl] % 2) * half)
            for r in range(rows):
                start = row_off[r0 + r, ko]
                if start < 0 or n == 0:
                    continue
                # rows start at even elements, so the tap's parity is that of its column offset
                dst, at = odd + np.uint64((start + col_off[kl] + lo[kl] * 2) // 2), np.uint64(r) * w + j0
                for j in range(n):
                    split[dst + j] += src[at + j]
    for k in range(p0, p1):
        plane[two * k] = split[k]
        plane[two * k + np.uint64(1)] = split[half + k]


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
def _scatter_parallel(cols, row_off, col_off, lo, hi, width, step, r0, out, split):
    pairs = _split_pairs(row_off, col_off, lo, hi, cols.shape[3] // width, r0) if split else (0, 0)
    for bc in prange(out.shape[0] * out.shape[1]):
        b, c = bc // out.shape[1], bc % out.shape[1]
        scratch = np.empty(out.shape[2] if split else 0, dtype=out.dtype)
        _scatter_plane(cols, c, b, row_off, col_off, lo, hi, width, step, r0, out[b, c], scratch, pairs)


@jit
def _scatter_serial(cols, row_off, col_off, lo, hi, width, step, r0, out, split):
    pairs = _split_pairs(row_off, col_off, lo, hi, cols.shape[3] // width, r0) if split else (0, 0)
    scratch = np.empty(out.shape[2] if split else 0, dtype=out.dtype)
    for b in range(out.shape[0]):
        for c in range(out.shape[1]):
            _scatter_plane(cols, c, b, row_off, col_off, lo, hi, width, step, r0, out[b, c], scratch, pairs)


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
        # the scatter splits rows into even and odd elements (_scatter_split): stride 2, rows of even length
        self.split = self.step == 2 and int(n) % 2 == 0
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
                                                             self.width, self.step, r0, out_flat, self.split)


@functools.lru_cache(maxsize=256)
def row_table(in_shape, kernel_size, stride, dilation, before, out_shape):
    """The cached RowTable of one geometry (tuples), as a training loop repeats its shapes."""
    return RowTable(in_shape, kernel_size, stride, dilation, before, out_shape)


def table(in_shape, kernel_size, stride, dilation, pads=None, out_shape=None):
    """The RowTable of a window op on an input of spatial size in_shape zero-padded by pads
    ((before, after) per axis, None for none); out_shape defaults to every window that fits."""
    return cached_table(row_table, in_shape, kernel_size, stride, dilation, pads, out_shape)


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
