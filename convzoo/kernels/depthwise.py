"""Depthwise convolution (groups == C_in, a channel multiplier m = C_out / C_in) in Numba.

GEMM degenerates here (a K x 1 by 1 x P product per channel), so these kernels walk each (image,
channel) plane directly, one output row at a time: the row stays in L1 while every tap adds its
shifted input row to it, and the innermost loop over the row is a unit-step run the compiler
vectorises. Dilation only changes the tap offsets, so dilated kernels never touch a zero. Every
``prange`` runs over planes (forward, backward-input) or output channels (backward-weight), which
write disjoint slices, so results do not depend on the thread count.

Zero padding is never materialised: the kernels read the unpadded input and each tap only covers
the output columns whose input lies inside it (``RowTable``), so a padded depthwise conv costs no
copy of its input in either direction.
"""
import functools

import numpy as np

from .jit import jit_parallel, prange


@jit_parallel
def _forward(x, w, row_off, col_off, lo, hi, width, step, j_in, j_end, fringe_tap, fringe_col, out):
    # x: (N, C, L) unpadded planes; w: (O, Ko * Kl); out: (N, O, R * width); output channel o reads
    # input channel o // m. Rows are taken as slices so the inner loops index from 0 and vectorise.
    # At unit step, the columns every tap of a kernel row reads inside the input, [j_in, j_end),
    # take the taps three at a time (one pass over the output row each); the few (tap, column)
    # pairs near the padding outside that range (fringe_tap, fringe_col) are added one by one
    batch, channels_out = out.shape[0], out.shape[1]
    m = channels_out // x.shape[1]
    kernel_width = col_off.shape[0]
    inner = j_end - j_in
    for bo in prange(batch * channels_out):
        b, o = bo // channels_out, bo % channels_out
        plane, res = x[b, o // m], out[b, o]
        for r in range(row_off.shape[0]):
            orow = res[r * width:(r + 1) * width]
            orow[:] = 0.0
            for ko in range(row_off.shape[1]):
                start = row_off[r, ko]
                if start < 0:
                    continue
                if step == 1:
                    dst = orow[j_in:j_end]
                    q = 0
                    while inner > 0 and q + 3 <= kernel_width:
                        k = ko * kernel_width + q
                        w0, w1, w2 = w[o, k], w[o, k + 1], w[o, k + 2]
                        b0 = start + col_off[q] + j_in
                        b1 = start + col_off[q + 1] + j_in
                        b2 = start + col_off[q + 2] + j_in
                        x0, x1, x2 = plane[b0:b0 + inner], plane[b1:b1 + inner], plane[b2:b2 + inner]
                        for j in range(inner):
                            dst[j] += w0 * x0[j] + w1 * x1[j] + w2 * x2[j]
                        q += 3
                    while inner > 0 and q < kernel_width:
                        wk = w[o, ko * kernel_width + q]
                        b0 = start + col_off[q] + j_in
                        xrow = plane[b0:b0 + inner]
                        for j in range(inner):
                            dst[j] += wk * xrow[j]
                        q += 1
                    for f in range(fringe_tap.shape[0]):
                        kl, j = fringe_tap[f], fringe_col[f]
                        orow[j] += w[o, ko * kernel_width + kl] * plane[start + col_off[kl] + j]
                else:
                    for kl in range(kernel_width):
                        j0, count = lo[kl], hi[kl] - lo[kl]
                        if count <= 0:
                            continue
                        wk = w[o, ko * kernel_width + kl]
                        base = start + col_off[kl] + j0 * step
                        dst_s = orow[j0:j0 + count]
                        xrow_s = plane[base:base + (count - 1) * step + 1:step]
                        for j in range(count):
                            dst_s[j] += wk * xrow_s[j]


@jit_parallel
def _backward_input(grad_out, w, row_off, col_off, lo, hi, width, step, out):
    # grad_out: (N, O, R * width); out: (N, C, L), zeroed; plane (b, c) gathers its m output channels
    batch, channels = out.shape[0], out.shape[1]
    m = grad_out.shape[1] // channels
    kernel_width = col_off.shape[0]
    for bc in prange(batch * channels):
        b, c = bc // channels, bc % channels
        plane = out[b, c]
        for o in range(c * m, c * m + m):
            g = grad_out[b, o]
            for r in range(row_off.shape[0]):
                grow = g[r * width:(r + 1) * width]
                for ko in range(row_off.shape[1]):
                    start = row_off[r, ko]
                    if start < 0:
                        continue
                    for kl in range(kernel_width):
                        j0, count = lo[kl], hi[kl] - lo[kl]
                        wk = w[o, ko * kernel_width + kl]
                        base = start + col_off[kl] + j0 * step
                        src = grow[j0:j0 + count]
                        if step == 1:
                            dst = plane[base:base + count]
                            for j in range(count):
                                dst[j] += wk * src[j]
                        elif count > 0:
                            dst_s = plane[base:base + (count - 1) * step + 1:step]
                            for j in range(count):
                                dst_s[j] += wk * src[j]


@jit_parallel
def _backward_weight(x, grad_out, row_off, col_off, lo, hi, width, step, grad_w):
    # grad_w: (O, Ko * Kl). Per output channel, one float64 accumulator per (tap, column): the inner
    # loop is then an elementwise multiply-add the compiler vectorises, not a serial reduction
    batch, channels_out = grad_out.shape[0], grad_out.shape[1]
    m = channels_out // x.shape[1]
    kernel_width = col_off.shape[0]
    for o in prange(channels_out):
        acc = np.zeros((grad_w.shape[1], width), dtype=np.float64)
        for b in range(batch):
            plane, g = x[b, o // m], grad_out[b, o]
            for r in range(row_off.shape[0]):
                grow = g[r * width:(r + 1) * width]
                for ko in range(row_off.shape[1]):
                    start = row_off[r, ko]
                    if start < 0:
                        continue
                    for kl in range(kernel_width):
                        j0, count = lo[kl], hi[kl] - lo[kl]
                        acc_row = acc[ko * kernel_width + kl]
                        acc_k = acc_row[j0:j0 + count]
                        src = grow[j0:j0 + count]
                        base = start + col_off[kl] + j0 * step
                        if step == 1:
                            xrow = plane[base:base + count]
                            for j in range(count):
                                acc_k[j] += src[j] * xrow[j]
                        elif count > 0:
                            xrow_s = plane[base:base + (count - 1) * step + 1:step]
                            for j in range(count):
                                acc_k[j] += src[j] * xrow_s[j]
        for k in range(grad_w.shape[1]):
            grad_w[o, k] = acc[k].sum()


class RowTable:
    """Where each tap of a zero-padded window op reads in the unpadded input, row by row.

    Output positions are walked as rows of the last spatial axis. For output row ``r`` and tap
    ``(ko, kl)`` (``ko`` over the leading kernel axes, ``kl`` over the last one) the tap adds
    ``x.flat[row_off[r, ko] + col_off[kl] + j * step]`` to output column ``j`` for ``lo[kl] <= j <
    hi[kl]``; ``row_off`` is -1 where the tap's row lies in the padding. ``before`` may be negative
    (a crop). The tables are built once per geometry and are read-only.
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
        # columns every tap reads inside the input, and the (tap, column) pairs in range outside them
        self.j_in = int(self.lo.max())
        self.j_end = max(int(self.hi.min()), self.j_in)
        fringe = [(kl, j) for kl in range(k) for j in range(int(self.lo[kl]), int(self.hi[kl]))
                  if not self.j_in <= j < self.j_end]
        self.fringe_tap = np.array([kl for kl, _ in fringe], dtype=np.int64)
        self.fringe_col = np.array([j for _, j in fringe], dtype=np.int64)
        self.out_shape = tuple(int(p) for p in out_shape)
        for array in (self.row_off, self.col_off, self.lo, self.hi, self.fringe_tap, self.fringe_col):
            array.flags.writeable = False


@functools.lru_cache(maxsize=256)
def row_table(in_shape, kernel_size, stride, dilation, before, out_shape):
    """The cached RowTable of one geometry (tuples), as a training loop repeats its shapes."""
    return RowTable(in_shape, kernel_size, stride, dilation, before, out_shape)


def _table(in_shape, kernel_size, stride, dilation, pads, out_shape=None):
    in_shape, kernel_size = tuple(int(n) for n in in_shape), tuple(int(k) for k in kernel_size)
    pads = tuple((0, 0) for _ in in_shape) if pads is None else tuple((int(b), int(a)) for b, a in pads)
    if out_shape is None:
        out_shape = tuple((n + b + a - d * (k - 1) - 1) // s + 1
                          for n, k, s, d, (b, a) in zip(in_shape, kernel_size, stride, dilation, pads))
    return row_table(in_shape, kernel_size, tuple(stride), tuple(dilation), tuple(b for b, _ in pads),
                     tuple(int(o) for o in out_shape))


def depthwise_forward(x, weight, stride, dilation, groups, pads=None):
    """(N, C, *in) * (O, 1, *k) with zero padding ``pads`` ((before, after) per axis) -> (N, O, *out)."""
    n, c = x.shape[:2]
    o = weight.shape[0]
    t = _table(x.shape[2:], weight.shape[2:], stride, dilation, pads)
    out = np.empty((n, o, int(np.prod(t.out_shape))), dtype=x.dtype)
    _forward(np.ascontiguousarray(x).reshape(n, c, -1), np.ascontiguousarray(weight).reshape(o, -1),
             t.row_off, t.col_off, t.lo, t.hi, t.width, t.step, t.j_in, t.j_end, t.fringe_tap, t.fringe_col, out)
    return out.reshape((n, o) + t.out_shape)


def depthwise_backward_input(grad_out, weight, in_shape, stride, dilation, groups, pads=None):
    """Gradient of depthwise_forward with respect to its (unpadded) input of spatial size in_shape."""
    n, o = grad_out.shape[:2]
    in_shape = tuple(int(s) for s in in_shape)
    pads = tuple((0, 0) for _ in in_shape) if pads is None else tuple(pads)
    if o == groups and all(s == 1 for s in stride):
        # stride 1, no multiplier: the gradient is the correlation of the gradient, zero-padded by
        # the dilated kernel extent less the forward's leading padding, with the flipped kernel; the
        # output-stationary forward kernel then writes each row once instead of scattering per tap
        before = tuple(d * (k - 1) - b for k, d, (b, _) in zip(weight.shape[2:], dilation, pads))
        flipped = np.ascontiguousarray(weight[(Ellipsis,) + (slice(None, None, -1),) * (weight.ndim - 2)])
        t = row_table(tuple(int(s) for s in grad_out.shape[2:]), tuple(weight.shape[2:]), tuple(stride),
                      tuple(dilation), before, in_shape)
        out = np.empty((n, o, int(np.prod(in_shape))), dtype=grad_out.dtype)
        _forward(np.ascontiguousarray(grad_out).reshape(n, o, -1), flipped.reshape(o, -1), t.row_off, t.col_off,
                 t.lo, t.hi, t.width, t.step, t.j_in, t.j_end, t.fringe_tap, t.fringe_col, out)
        return out.reshape((n, o) + in_shape)
    t = _table(in_shape, weight.shape[2:], stride, dilation, pads, grad_out.shape[2:])
    out = np.zeros((n, groups, int(np.prod(in_shape))), dtype=grad_out.dtype)
    _backward_input(np.ascontiguousarray(grad_out).reshape(n, o, -1), np.ascontiguousarray(weight).reshape(o, -1),
                    t.row_off, t.col_off, t.lo, t.hi, t.width, t.step, out)
    return out.reshape((n, groups) + in_shape)


def depthwise_backward_weight(x, grad_out, kernel_size, stride, dilation, groups, pads=None):
    """Gradient of depthwise_forward with respect to weight: (O, 1, *kernel_size)."""
    n, c = x.shape[:2]
    o = grad_out.shape[1]
    t = _table(x.shape[2:], kernel_size, stride, dilation, pads, grad_out.shape[2:])
    grad_w = np.empty((o, t.row_off.shape[1] * t.col_off.shape[0]), dtype=x.dtype)
    _backward_weight(np.ascontiguousarray(x).reshape(n, c, -1), np.ascontiguousarray(grad_out).reshape(n, o, -1),
                     t.row_off, t.col_off, t.lo, t.hi, t.width, t.step, grad_w)
    return grad_w.reshape((o, 1) + tuple(kernel_size))
