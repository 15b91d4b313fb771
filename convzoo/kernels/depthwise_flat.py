"""The depthwise weight gradient over whole planes at the scratch pitch (``PlaneTable.flat`` geometries).

``depthwise_loops.backward_weight`` multiplies one gradient row by the run each tap read, row by row:
on LeNet-5's 28-wide rows that is 700 loops of 28 elements a plane for a 5x5 kernel, and their
set-up, not the arithmetic, was the time (LeNet-5's first conv at batch 64: 1.9 ms, here 1.1 ms).
Where output row ``r`` reads scratch rows ``r + ko*d`` (stride 1 across rows), tap ``(ko, kl)``
reads ONE run of the scratch plane for the whole output plane, starting at ``rowtab[0, ko] *
buf_width + colofs[kl]``, if the gradient is laid out at the scratch pitch with zeros in the extra
columns. So per plane: the gradient
is copied once into that wide layout, and each tap is one long vectorised multiply-add into its own
accumulator row (taps x plane; ``fits`` bounds its size). The accumulators collect ``FLUSH`` images in
float32, then their rows are added (vectorised) and the columns summed into a float64 total per tap,
so a long batch loses no precision. Parallel over output channels, as the row loop: the result does
not depend on the thread count.
"""
import numpy as np

from .depthwise_loops import LONG_ROWS, _fill
from .jit import jit, jit_parallel, prange

# images whose products the float32 accumulators collect before they are summed into float64
FLUSH = 16
# accumulator elements (taps x rows x scratch pitch) per thread up to which this loop is used: 256 KiB
# of float32, in L2 (LeNet-5's 5x5 on 28 x 28: 22 400; a 3x3 on 56 x 56: 29 232; a 31x31 would need millions)
MAX_ACCUMULATOR = 1 << 16


def fits(taps, rows, width, buf_width):
    """Whether this loop takes a flat table's weight gradient: rows shorter than the row loop's
    LONG_ROWS (on 56-wide rows its four-row passes won: a 3x3 on 128 x 56 x 56 at batch 32, 17 against
    21 ms) and accumulators within MAX_ACCUMULATOR."""
    return width < LONG_ROWS and taps * rows * buf_width <= MAX_ACCUMULATOR


@jit
def _accumulate(g, width, gw, buf, buf_width, rowtab, colofs, acc):
    # g: (rows * width,) one gradient plane; gw: (run,) its wide copy, extra columns kept zero;
    # acc: (taps, run). The run stops at the last row's width, so no tap reads past the scratch plane
    rows = rowtab.shape[0]
    run = gw.shape[0]
    for r in range(rows):
        src, dst = g[r * width:(r + 1) * width], gw[r * buf_width:r * buf_width + width]
        for j in range(width):
            dst[j] = src[j]
    kw = colofs.shape[0]
    for k in range(acc.shape[0]):
        start = rowtab[0, k // kw] * buf_width + colofs[k % kw]
        a, x = acc[k], buf[start:start + run]
        for j in range(run):
            a[j] += gw[j] * x[j]


@jit
def _flush(acc, rows, width, buf_width, total):
    # adds the accumulator rows (vectorised), then sums the row of each tap into its float64 total
    col = np.empty(buf_width, dtype=acc.dtype)
    for k in range(acc.shape[0]):
        col[:] = 0.0
        for r in range(rows):
            part = acc[k, r * buf_width:r * buf_width + width]
            for j in range(width):
                col[j] += part[j]
        for j in range(width):
            total[k] += col[j]
    acc[:] = 0.0


@jit
def backward_weight_range(x, grad_out, rowtab, colofs, fill_row, col_lo, col_hi, src_lo, buf_rows, buf_width, step,
                          full, grad_w, lo, hi):
    """As ``depthwise_loops.backward_weight_range`` (x: (N, C, rows_in * n); grad_out: (N, O, R * width);
    grad_w: (O, taps); output channels lo..hi-1), for a flat table that ``fits``."""
    batch = grad_out.shape[0]
    m = grad_out.shape[1] // x.shape[1]
    rows, taps = rowtab.shape[0], grad_w.shape[1]
    width = grad_out.shape[2] // rows
    run = (rows - 1) * buf_width + width
    buf = np.zeros(buf_rows * buf_width, dtype=x.dtype)
    gw = np.zeros(run, dtype=x.dtype)
    acc = np.zeros((taps, run), dtype=x.dtype)
    total = np.empty(taps, dtype=np.float64)
    for o in range(lo, hi):
        total[:] = 0.0
        for b in range(batch):
            _fill(x[b, o // m], fill_row, col_lo, col_hi, src_lo, step, full, buf, buf_width)
            _accumulate(grad_out[b, o], width, gw, buf, buf_width, rowtab, colofs, acc)
            if (b + 1) % FLUSH == 0 or b == batch - 1:
                _flush(acc, rows, width, buf_width, total)
        for k in range(taps):
            grad_w[o, k] = total[k]


@jit_parallel
def backward_weight(x, grad_out, rowtab, colofs, fill_row, col_lo, col_hi, src_lo, buf_rows, buf_width, step,
                    full, grad_w, chunks):
    channels_out = grad_out.shape[1]
    for t in prange(chunks):
        backward_weight_range(x, grad_out, rowtab, colofs, fill_row, col_lo, col_hi, src_lo, buf_rows, buf_width,
                              step, full, grad_w, t * channels_out // chunks, (t + 1) * channels_out // chunks)
