"""The depthwise gradients over whole planes at the scratch pitch (``PlaneTable.flat`` geometries).

``depthwise_loops.backward_weight_range`` multiplies one gradient row by the run each tap read, row by row:
on LeNet-5's 28-wide rows that is 700 loops of 28 elements a plane for a 5x5 kernel, and their
set-up, not the arithmetic, was the time. Where output row ``r`` reads scratch rows
``rowtab[0, ko] + r`` (1-D and 2-D planes at any stride: the scratch splits rows by stride phase),
tap ``(ko, kl)`` reads ONE run of the scratch plane for the whole output plane, starting at
``rowtab[0, ko] * buf_width + colofs[kl]``, if the gradient is laid out at the scratch pitch with
zeros in the extra columns. So per plane: the gradient is copied once into that
wide layout, and each tap's weight gradient is one long dot product of it with the tap's run,
summed in vector registers (``jit_sums``: partial sums in any order) four taps at a time, or a 3x3
kernel's nine in one pass, so each gradient element is loaded once for four (nine) taps and no
accumulator goes through memory. Each plane's dot products are added to a float64 total per tap and
channel, so a long batch loses no precision; a range walks its planes in memory order (image by
image, its channels within each), each channel's total still summed in image order. At stride 1, and
at stride 2 where the scratch holds every input column, the input plane's copy and the gradient's
are one loop (``_fill_with_gradient``), so the two planes stream from memory together. Against
separate copies, four-tap passes and channel by channel, one process on the AVX-512 machine, two
lanes: 3x3 128 @56 at batch 32 7.5 -> 6.7 ms, at stride 2 5.4 -> 5.0, 256 @14 1.5 -> 1.3, 256 @28
stride 2 3.7 -> 3.1; batch 1 unchanged. A tap's run
also crosses the scratch columns past each row, where the gradient's zeros meet input values that
no output reads: a plane whose sums are not all finite (an infinity there would make 0 * inf = NaN)
is summed again over the output columns alone (``_row_taps``). Parallel over
output channels, as the row loop: the result does not depend on the thread count.

The input gradient (stride > 1 or a multiplier) is the adjoint: each tap adds its weight times the
wide gradient plane to its run of the zeroed scratch, one pass per tap, then the scratch is copied
out without its padding (``backward_input_range``).

One thread, against the row loop (and the whole-plane loop this replaced, which kept one float32
accumulator row per tap and was bound by its loads and stores, about 8 G multiply-adds/s): LeNet-5's
first conv (1 -> 6, 5x5 on 28 x 28) at batch 64 0.48 ms (row loop 1.64, accumulators 1.2-1.7); 3x3
on 128 x 56 x 56 at batch 1 0.28 (0.53), batch 8 4.0 (5.5); 3x3 on 32 x 112 x 112 at batch 8 3.7 (4.3).
"""
import numpy as np

from .depthwise_loops import _copy_map, _extract_plane, _fill_plane, _out_map, _pair_starts, _scatter, same_plane, \
    same_scratch
from .depthwise_phases import plane as phases_plane
from .jit import jit, jit_sums


@jit_sums
def _dot9(gw, buf, starts, part):
    # _dot_taps of nine taps, all in one pass
    run = gw.shape[0]
    x0, x1, x2 = buf[starts[0]:starts[0] + run], buf[starts[1]:starts[1] + run], buf[starts[2]:starts[2] + run]
    x3, x4, x5 = buf[starts[3]:starts[3] + run], buf[starts[4]:starts[4] + run], buf[starts[5]:starts[5] + run]
    x6, x7, x8 = buf[starts[6]:starts[6] + run], buf[starts[7]:starts[7] + run], buf[starts[8]:starts[8] + run]
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = s8 = gw.dtype.type(0)
    for j in range(run):
        v = gw[j]
        s0 += v * x0[j]
        s1 += v * x1[j]
        s2 += v * x2[j]
        s3 += v * x3[j]
        s4 += v * x4[j]
        s5 += v * x5[j]
        s6 += v * x6[j]
        s7 += v * x7[j]
        s8 += v * x8[j]
    part[0], part[1], part[2], part[3], part[4], part[5], part[6], part[7], part[8] = s0, s1, s2, s3, s4, s5, s6, s7, s8


@jit_sums
def _dot_taps(gw, buf, starts, part):
    # part[k] = gw . buf[starts[k]:starts[k] + len(gw)], four taps a pass (one load of gw for four)
    run = gw.shape[0]
    taps = starts.shape[0]
    if taps == 9:  # a 3x3 kernel in one pass: ten loads for nine multiply-adds
        _dot9(gw, buf, starts, part)
        return
    k = 0
    while k + 4 <= taps:
        x0, x1 = buf[starts[k]:starts[k] + run], buf[starts[k + 1]:starts[k + 1] + run]
        x2, x3 = buf[starts[k + 2]:starts[k + 2] + run], buf[starts[k + 3]:starts[k + 3] + run]
        s0 = s1 = s2 = s3 = gw.dtype.type(0)
        for j in range(run):
            v = gw[j]
            s0 += v * x0[j]
            s1 += v * x1[j]
            s2 += v * x2[j]
            s3 += v * x3[j]
        part[k], part[k + 1], part[k + 2], part[k + 3] = s0, s1, s2, s3
        k += 4
    while k < taps:
        x = buf[starts[k]:starts[k] + run]
        s = gw.dtype.type(0)
        for j in range(run):
            s += gw[j] * x[j]
        part[k] = s
        k += 1


@jit
def _row_taps(g, width, buf, buf_width, starts, part):
    # the same sums over the output columns only: a tap's run also crosses the scratch columns past
    # each row, where the wide gradient's zeros meet input values no output reads; 0 * inf would be
    # NaN there, so a plane whose sums are not all finite is summed again this way
    rows = g.shape[0] // width
    for k in range(starts.shape[0]):
        s = g.dtype.type(0)
        for r in range(rows):
            x = buf[starts[k] + r * buf_width:starts[k] + r * buf_width + width]
            row = g[r * width:(r + 1) * width]
            for j in range(width):
                s += row[j] * x[j]
        part[k] = s


@jit
def _wide_gradient(g, width, at, gw, buf_width):
    # the gradient plane at the scratch pitch: its rows copied into gw (element by element through
    # ``at``, _out_map, where it has any), whose extra columns stay zero
    if at.shape[0]:
        for i in range(at.shape[0]):
            gw[at[i]] = g[i]
        return
    for r in range(g.shape[0] // width):
        src, dst = g[r * width:(r + 1) * width], gw[r * buf_width:r * buf_width + width]
        for j in range(width):
            dst[j] = src[j]


@jit
def _fill_with_gradient(plane, g, width, fill_row, col_lo, col_hi, src_lo, step, buf, buf_width, gw):
    # _fill and _wide_gradient together, at stride 1 on rows copied whole or at stride 2 with every input
    # column in the scratch (_fill_pairs), neither through index maps: input row i and gradient row i in
    # one loop where as many elements of each are copied, so both planes stream from memory at once
    n = plane.shape[0] // fill_row.shape[0]
    rows = g.shape[0] // width
    pairs = step == 2
    if pairs:
        even, odd = _pair_starts(col_lo, src_lo)
        count = np.uint64(n // 2)
    else:
        count = np.uint64(col_hi[0] - col_lo[0])
    two = np.uint64(2)
    for i in range(max(fill_row.shape[0], rows)):
        into, at = np.uint64(i * buf_width), np.uint64(i * width)
        gradient = i < rows  # gradient row i still to copy
        if i < fill_row.shape[0] and fill_row[i] >= 0:
            row, src = np.uint64(fill_row[i] * buf_width), np.uint64(i * n)
            both = gradient and count == width
            if pairs:
                if both:
                    for k in range(count):
                        buf[row + even + k] = plane[src + two * k]
                        buf[row + odd + k] = plane[src + two * k + np.uint64(1)]
                        gw[into + k] = g[at + k]
                else:
                    for k in range(count):
                        buf[row + even + k] = plane[src + two * k]
                        buf[row + odd + k] = plane[src + two * k + np.uint64(1)]
                if n % 2:
                    buf[row + even + count] = plane[src + np.uint64(n - 1)]
            else:
                dst = row + np.uint64(col_lo[0])
                src += np.uint64(src_lo[0])
                if both:
                    for j in range(count):
                        buf[dst + j] = plane[src + j]
                        gw[into + j] = g[at + j]
                else:
                    for j in range(count):
                        buf[dst + j] = plane[src + j]
            gradient = gradient and not both
        if gradient:
            for j in range(np.uint64(width)):
                gw[into + j] = g[at + j]


@jit
def _tap_starts(rowtab, colofs, buf_width, starts):
    # where each tap's run for the whole plane starts in the scratch plane
    kw = colofs.shape[0]
    for k in range(starts.shape[0]):
        starts[k] = rowtab[0, k // kw] * buf_width + colofs[k % kw]


@jit
def backward_input_range(grad_out, w, rowtab, colofs, fill_row, col_lo, col_hi, src_lo, buf_rows, buf_width, step,
                         full, out, lo, hi):
    """As ``depthwise_loops.backward_input_range`` (grad_out: (N, O, R * width); out: (N, C, rows_in * n);
    input planes lo..hi-1), for a flat table: each tap adds its weight times the wide gradient plane to
    the one run it read, a pass per tap (the runs of a kernel row overlap). The wide gradient's zeros
    add nothing to the scratch columns past each row, unless a weight is not finite (0 * inf = NaN),
    where that output channel scatters row by row instead."""
    channels = out.shape[1]
    m = grad_out.shape[1] // channels
    rows, taps = rowtab.shape[0], w.shape[1]
    width = grad_out.shape[2] // rows
    run = np.uint64((rows - 1) * buf_width + width)
    gw = np.zeros(run, dtype=out.dtype)
    buf = np.empty(buf_rows * buf_width, dtype=out.dtype)
    starts = np.empty(taps, dtype=np.int64)
    _tap_starts(rowtab, colofs, buf_width, starts)
    pairs = _copy_map(fill_row, col_lo, col_hi, src_lo, step, out.shape[2] // fill_row.shape[0], buf_width)
    at = _out_map(rows, width, buf_width)
    for p in range(lo, hi):
        b, c = p // channels, p % channels
        buf[:] = 0.0
        for o in range(c * m, c * m + m):
            finite = True
            for k in range(taps):
                finite = finite and np.isfinite(w[o, k])
            if not finite:
                _scatter(grad_out[b, o], w[o], rowtab, colofs, buf, buf_width)
                continue
            _wide_gradient(grad_out[b, o], width, at, gw, buf_width)
            for k in range(taps):
                wk, dst = w[o, k], np.uint64(starts[k])
                for j in range(run):
                    buf[dst + j] += wk * gw[j]
        _extract_plane(buf, buf_width, fill_row, col_lo, col_hi, src_lo, step, full, pairs, out[b, c])


# the input gradient ``backward_range`` computes with the weight gradient, plane by plane
NO_INPUT, SAME, PHASES = 0, 1, 2


@jit
def backward_weight_range(x, grad_out, rowtab, colofs, fill_row, col_lo, col_hi, src_lo, buf_rows, buf_width, step,
                          full, grad_w, lo, hi):
    """As ``depthwise_loops.backward_weight_range`` (x: (N, C, rows_in * n); grad_out: (N, O, R * width);
    grad_w: (O, taps); output channels lo..hi-1), for a flat table."""
    none = grad_w.reshape((1, grad_w.shape[0], grad_w.shape[1]))  # no input gradient: never written
    backward_range(x, grad_out, grad_w, NO_INPUT, 0, rowtab, colofs, fill_row, col_lo, col_hi, src_lo, buf_rows,
                   buf_width, step, full, grad_w, none, lo, hi)


@jit
def backward_range(x, grad_out, w, kind, height, rowtab, colofs, fill_row, col_lo, col_hi, src_lo, buf_rows,
                   buf_width, step, full, grad_w, grad_x, lo, hi):
    """``backward_weight_range`` (channels lo..hi-1, no channel multiplier) and, from each gradient plane
    while it is in cache, that plane's input gradient (grad_x: (N, C, height * in_width)): ``kind``
    SAME, the 3x3 "same" correlation with the flipped weights ``w`` (C, 9) (``depthwise_loops.same_plane``),
    or PHASES, the 3x3 stride-2 phases with the weights ``w`` (``depthwise_phases.plane``); NO_INPUT none.
    Each gradient and input plane is then read from memory once for both gradients."""
    batch = grad_out.shape[0]
    m = grad_out.shape[1] // x.shape[1]
    rows, taps = rowtab.shape[0], grad_w.shape[1]
    width = grad_out.shape[2] // rows
    # the run stops at the last row's width, so no tap reads past the scratch plane
    gw = np.zeros((rows - 1) * buf_width + width, dtype=x.dtype)
    buf = np.zeros(buf_rows * buf_width, dtype=x.dtype)
    starts = np.empty(taps, dtype=np.int64)
    _tap_starts(rowtab, colofs, buf_width, starts)
    part = np.empty(taps, dtype=x.dtype)
    total = np.zeros((hi - lo, taps), dtype=np.float64)
    pairs = _copy_map(fill_row, col_lo, col_hi, src_lo, step, x.shape[2] // fill_row.shape[0], buf_width)
    at = _out_map(rows, width, buf_width)
    together = (step == 1 or (step == 2 and full)) and pairs.shape[1] == 0 and at.shape[0] == 0
    in_width = x.shape[2] // max(height, 1)
    scratch = same_scratch(height if kind == SAME else 3, in_width if kind == SAME else 3)
    for b in range(batch):  # the planes in memory order; each channel's sum over the batch in image order
        for o in range(lo, hi):
            g = grad_out[b, o]
            if together:
                _fill_with_gradient(x[b, o // m], g, width, fill_row, col_lo, col_hi, src_lo, step, buf, buf_width,
                                    gw)
            else:
                _fill_plane(x[b, o // m], pairs, fill_row, col_lo, col_hi, src_lo, step, full, buf, buf_width)
                _wide_gradient(g, width, at, gw, buf_width)
            _dot_taps(gw, buf, starts, part)
            finite = True
            for k in range(taps):
                finite = finite and np.isfinite(part[k])
            if not finite:
                _row_taps(g, width, buf, buf_width, starts, part)
            for k in range(taps):
                total[o - lo, k] += part[k]
            if kind == SAME:
                same_plane(g, height, in_width, w[o], scratch, grad_x[b, o])
            elif kind == PHASES:
                phases_plane(g, w[o], height, in_width, grad_x[b, o])
    for o in range(lo, hi):
        for k in range(taps):
            grad_w[o, k] = total[o - lo, k]
