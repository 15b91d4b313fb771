"""The depthwise forward at stride 2 along rows of even width: the plane split by column parity in one pass.

``depthwise.PlaneTable`` gives every phase row its own padding columns, so its fill deinterleaves
each input row on its own: a loop of ``n / 2`` pairs a row, which the compiler vectorises with a
64-element body and runs one element at a time on rows shorter than that (a 3x3 stride-2 layer at
56 px: 28 pairs a row). Here the scratch holds the plane's even columns as one block and its odd
columns as another, each in input row order at a pitch of ``n / 2`` with no padding column, so one
unit-step loop over the whole plane fills both (128 planes of 56 x 56 on one thread: 28 against
67 us). Zero rows above and below each block stand for the padding rows, as in PlaneTable.

The price is the padding columns: a tap whose window crosses the left or right edge of a row reads
the neighbouring row's last or first column (or a zero guard) instead of a zero. The rows are
computed by ``depthwise_loops._correlate`` as for any table, and the few output columns some tap
reads outside its row (``SplitTable.edges``: column 0 of a 3x3 stride-2 "same" layer) are then
computed again from the taps' values with zeros for the padding, summed as the rows were (``_fix9``
for a 3x3 kernel, else ``_pass`` on a run of one), so every output is the sum, in the same order,
that PlaneTable's scratch gives: bit for bit.

Measured in one process on the AVX-512 machine (``applies`` has the figures per width): the fill of
128 planes of 56 x 56 on one thread 67 -> 28 us; the rows then cost more than PlaneTable's one run
of the whole plane, so the whole forward gains 1.03x at batch 1, 1.16x at batch 8.
"""
import functools

import numpy as np

from . import depthwise_loops as loops
from .jit import VECTOR, jit


# Output widths this layout takes (the whole-plane fill pays where rows are short, but rows of fewer
# than MIN_WIDTH outputs are all edge and loop start). 3x3 stride 2 "same", batch 1, in one process
# (old/new): 56 -> 28 px 1.03x (batch 8: 1.16x), 28 -> 14 px 1.22x; 14 -> 7 px 0.92x, 112 -> 56 px
# 0.95x, 224 -> 112 px 0.98x
MIN_WIDTH, MAX_WIDTH = 8, 48


def applies(in_shape, kernel_size, stride, dilation, before, out_shape):
    """2-D planes with stride 2 along rows of even width, outputs more than MIN_WIDTH and fewer than
    MAX_WIDTH wide, where the recomputed edge columns are few."""
    if len(in_shape) != 2 or stride[1] != 2 or in_shape[1] % 2 or min(out_shape) < 1:
        return False
    if not MIN_WIDTH < out_shape[1] < MAX_WIDTH:
        return False
    offsets = _offsets(kernel_size, dilation, before)[1]
    return 4 * len(_edges(in_shape[1] // 2, out_shape[1], offsets)) <= out_shape[1]


def _offsets(kernel_size, dilation, before):
    """Per tap column: the parity block it reads (0 even, 1 odd input columns) and its column offset
    in the block; output column j of tap column kx reads block column j + offset."""
    raw = np.arange(kernel_size[1]) * dilation[1] - before[1]
    return raw % 2, raw // 2


def _edges(half, out_width, offsets):
    """The output columns some tap column reads outside [0, half) of its block."""
    j = np.arange(out_width)[:, None]
    return np.flatnonzero(((j + offsets[None, :] < 0) | (j + offsets[None, :] >= half)).any(axis=1))


class SplitTable:
    """Where each tap reads in the parity-split scratch (see the module docstring).

    Output row ``r``, column ``j`` of tap ``(ky, kx)`` reads scratch element ``rowtab[r, ky] *
    buf_width + colofs[kx] + j``, as with PlaneTable; column ``j`` of tap column ``kx`` is inside its
    row for ``valid_lo[kx] <= j < valid_hi[kx]``. Input row ``i``'s even columns start at
    ``bases[0] + i * buf_width``, its odd ones at ``bases[1] + i * buf_width``. Each block has
    ``guard`` zero elements before and after it, so the reads of the edge columns (and of the rows
    rounded up to whole vectors) stay inside the scratch of ``length`` elements.
    """

    def __init__(self, in_shape, kernel_size, stride, dilation, before, out_shape):
        (h, n), (kh, kw), (sh, _), (dh, _), (top, _) = in_shape, kernel_size, stride, dilation, before
        out_rows, out_width = out_shape
        self.buf_width = half = n // 2
        parity, offsets = _offsets(kernel_size, dilation, before)
        above = max(top, 0)
        rows = np.arange(out_rows)[:, None] * sh + np.arange(kh)[None, :] * dh - top + above
        block_rows = max(above + h, int(rows.max()) + 1)
        self.guard = guard = int(max(-offsets.min(), offsets.max() + out_width - half, 0)) + VECTOR
        block = block_rows * half + guard
        self.rowtab = rows.astype(np.int64)
        self.colofs = (guard + parity * block + offsets).astype(np.int64)
        self.bases = np.array([guard + q * block + above * half for q in (0, 1)], dtype=np.int64)
        self.length = guard + 2 * block + VECTOR
        self.valid_lo = np.clip(-offsets, 0, out_width).astype(np.int64)
        self.valid_hi = np.clip(half - offsets, 0, out_width).astype(np.int64)
        self.edges = _edges(half, out_width, offsets).astype(np.int64)
        self.out_shape = tuple(int(p) for p in out_shape)
        for array in (self.rowtab, self.colofs, self.bases, self.valid_lo, self.valid_hi, self.edges):
            array.flags.writeable = False

    def args(self):
        """The table arguments of forward_range, in their order."""
        return (self.rowtab, self.colofs, self.bases, self.length, self.buf_width, self.valid_lo, self.valid_hi,
                self.edges)


@functools.lru_cache(maxsize=256)
def split_table(in_shape, kernel_size, stride, dilation, before, out_shape):
    """The cached SplitTable of one geometry (the tuples of geometry.table_key)."""
    return SplitTable(in_shape, kernel_size, stride, dilation, before, out_shape)


@jit
def _fill(plane, bases, buf):
    # the whole plane in one pass: even columns to one block, odd columns to the other
    even, odd = np.uint64(bases[0]), np.uint64(bases[1])
    for k in range(np.uint64(plane.shape[0] // 2)):
        buf[even + k] = plane[np.uint64(2) * k]
        buf[odd + k] = plane[np.uint64(2) * k + np.uint64(1)]


@jit
def _fix9(buf, buf_width, wo, rowtab, colofs, valid_lo, valid_hi, edges, res):
    # _fix_edges for a 3x3 kernel, each sum written as _pass9's. Every read stays inside the scratch
    # (the rows read it too), so each value is loaded and then replaced by the padding's zero where
    # its column is outside the row: a select, not a branch (a branch per tap ran 3x slower)
    w0, w1, w2, w3, w4, w5, w6, w7, w8 = wo[0], wo[1], wo[2], wo[3], wo[4], wo[5], wo[6], wo[7], wo[8]
    width = res.shape[0] // rowtab.shape[0]
    zero = buf.dtype.type(0.0)
    for e in range(edges.shape[0]):
        j = edges[e]
        in0, in1, in2 = valid_lo[0] <= j < valid_hi[0], valid_lo[1] <= j < valid_hi[1], valid_lo[2] <= j < valid_hi[2]
        c0, c1, c2 = np.uint64(colofs[0] + j), np.uint64(colofs[1] + j), np.uint64(colofs[2] + j)
        for r in range(rowtab.shape[0]):
            p0, p1 = np.uint64(rowtab[r, 0] * buf_width), np.uint64(rowtab[r, 1] * buf_width)
            p2 = np.uint64(rowtab[r, 2] * buf_width)
            x0, x1, x2 = buf[p0 + c0], buf[p0 + c1], buf[p0 + c2]
            x3, x4, x5 = buf[p1 + c0], buf[p1 + c1], buf[p1 + c2]
            x6, x7, x8 = buf[p2 + c0], buf[p2 + c1], buf[p2 + c2]
            res[r * width + j] = (w0 * (x0 if in0 else zero) + w1 * (x1 if in1 else zero)
                                  + w2 * (x2 if in2 else zero) + w3 * (x3 if in0 else zero)
                                  + w4 * (x4 if in1 else zero) + w5 * (x5 if in2 else zero)
                                  + w6 * (x6 if in0 else zero) + w7 * (x7 if in1 else zero)
                                  + w8 * (x8 if in2 else zero))


@jit
def _fix_edges(buf, buf_width, wo, rowtab, colofs, valid_lo, valid_hi, edges, taps, values, res):
    # the edge columns again, from their taps' values with zeros for the padding, summed as
    # _correlate summed their rows (_rows9 as _pass9, else _pass on a run of one), so each output
    # is the sum PlaneTable's scratch gives, bit for bit
    kh, kw = rowtab.shape[1], colofs.shape[0]
    if kh == 3 and kw == 3:
        _fix9(buf, buf_width, wo, rowtab, colofs, valid_lo, valid_hi, edges, res)
        return
    width = res.shape[0] // rowtab.shape[0]
    for r in range(rowtab.shape[0]):
        for e in range(edges.shape[0]):
            j = edges[e]
            for ko in range(kh):
                for kl in range(kw):
                    inside = valid_lo[kl] <= j < valid_hi[kl]
                    values[ko * kw + kl] = buf[rowtab[r, ko] * buf_width + colofs[kl] + j] if inside else 0.0
            loops._pass(res, np.uint64(r * width + j), 1, values, taps, wo)


@jit
def forward_range(x, w, rowtab, colofs, bases, length, buf_width, valid_lo, valid_hi, edges, out, lo, hi):
    """depthwise_loops.forward_range on this layout: the (image, input channel) planes lo..hi-1."""
    channels = x.shape[1]
    m = out.shape[1] // channels
    taps = w.shape[1]
    buf = np.zeros(length, dtype=x.dtype)
    starts = np.empty(taps, dtype=np.int64)
    identity = np.arange(taps)
    values = np.empty(taps, dtype=x.dtype)
    for p in range(lo, hi):
        b, c = p // channels, p % channels
        _fill(x[b, c], bases, buf)
        for o in range(c * m, c * m + m):
            loops._correlate(buf, buf_width, w[o], rowtab, colofs, False, starts, out[b, o])
            _fix_edges(buf, buf_width, w[o], rowtab, colofs, valid_lo, valid_hi, edges, identity, values, out[b, o])
