"""The input gradient of the 3x3 stride-2 depthwise conv padded by one (MobileNet's downsampling layer),
computed in place, one output phase at a time.

At stride 2 an input pixel ``(i, j)`` takes gradient from the taps ``(ky, kx)`` with ``i = 2r + ky - 1``
and ``j = 2c + kx - 1``: an even row only from ``ky = 1`` (gradient row ``i / 2``), an odd row from
``ky = 0`` (row ``(i + 1) / 2``) and ``ky = 2`` (row ``(i - 1) / 2``), and the columns alike. So each pixel
sums one, two or four products of known gradient values, and every row of the input gradient is
written once, straight from one or two rows of the output gradient in cache, its even and odd columns
interleaved by the store. The general path (``depthwise_flat.backward_input_range``) zeroes a scratch
plane, adds each of the nine taps' products into it in a pass of its own and copies the plane out
without its padding; each pixel here sums the same products in the same order (taps in row-major order,
after the scratch's zero), so the bits are the same but for the sign of a zero sum.

One thread, 128 planes of 56 x 56: the general path 1.24 us a plane in cache (zeroing 0.13, the
gradient's wide copy 0.15, the nine passes 0.41, the copy out 0.53) and 2.1-2.2 at batch 32 (the copy out
then 1.14: it writes the plane to memory); here 1.13 and 1.14, bound by the stores of the input gradient.
Two lanes, batch 32, one process: 6.1-7.2 -> 5.0-6.4 ms; 64 planes of 112 x 112 at batch 1 0.148 -> 0.098 ms.
Streaming (non-temporal) stores of each pair of rows, through a row-pair scratch, ran 2.5x slower.
"""
import numpy as np

from .jit import jit


def applies(in_shape, kernel_size, stride, dilation, before, out_shape):
    """2-D 3x3 kernel, stride 2 and no dilation on both axes, padded by one before each axis, and the
    output every input pixel reaches (``(n - 1) // 2 + 1`` a side; the padding after does not matter)."""
    return (len(in_shape) == 2 and tuple(kernel_size) == (3, 3) and tuple(stride) == (2, 2)
            and tuple(dilation) == (1, 1) and tuple(before) == (1, 1)
            and tuple(out_shape) == tuple((n - 1) // 2 + 1 for n in in_shape))


@jit
def _even_row(g, a, wo, w3, w4, w5, out, at, width):
    # input row 2a: tap row 1 only, gradient row a; even columns tap 4, odd columns taps 3 (column + 1) and 5
    zero = out.dtype.type(0)
    ga, two, one = np.uint64(a * wo), np.uint64(2), np.uint64(1)
    for b in range(np.uint64(wo - 1)):
        out[at + two * b] = zero + w4 * g[ga + b]
        out[at + two * b + one] = (zero + w3 * g[ga + b + one]) + w5 * g[ga + b]
    last = np.uint64(wo - 1)
    out[at + two * last] = zero + w4 * g[ga + last]
    if 2 * wo <= width:
        out[at + two * last + one] = zero + w5 * g[ga + last]


@jit
def _odd_row(g, a, rows, wo, w, out, at, width):
    # input row 2a + 1: tap row 0 from gradient row a + 1 (where there is one), tap row 2 from row a
    zero = out.dtype.type(0)
    w0, w1, w2, w6, w7, w8 = w[0], w[1], w[2], w[6], w[7], w[8]
    ga, two, one = np.uint64(a * wo), np.uint64(2), np.uint64(1)
    last = np.uint64(wo - 1)
    odd_last = 2 * wo <= width
    if a + 1 < rows:
        gb = ga + np.uint64(wo)
        for b in range(last):
            out[at + two * b] = (zero + w1 * g[gb + b]) + w7 * g[ga + b]
            out[at + two * b + one] = (((zero + w0 * g[gb + b + one]) + w2 * g[gb + b])
                                       + w6 * g[ga + b + one]) + w8 * g[ga + b]
        out[at + two * last] = (zero + w1 * g[gb + last]) + w7 * g[ga + last]
        if odd_last:
            out[at + two * last + one] = (zero + w2 * g[gb + last]) + w8 * g[ga + last]
        return
    for b in range(last):
        out[at + two * b] = zero + w7 * g[ga + b]
        out[at + two * b + one] = (zero + w6 * g[ga + b + one]) + w8 * g[ga + b]
    out[at + two * last] = zero + w7 * g[ga + last]
    if odd_last:
        out[at + two * last + one] = zero + w8 * g[ga + last]


@jit
def backward_input_range(grad_out, w, height, width, out, lo, hi):
    """grad_out: (N, C, rows * wo) with rows = (height - 1) // 2 + 1, wo = (width - 1) // 2 + 1; w: (C, 9);
    out: (N, C, height * width); the planes lo..hi-1 (``applies`` geometries, no channel multiplier)."""
    channels = out.shape[1]
    for p in range(lo, hi):
        b, c = p // channels, p % channels
        plane(grad_out[b, c], w[c], height, width, out[b, c])


@jit
def plane(g, wc, height, width, res):
    """One input-gradient plane res (height x width, flat) from its gradient plane g and nine weights wc."""
    rows, wo = (height - 1) // 2 + 1, (width - 1) // 2 + 1
    for a in range(rows):
        _even_row(g, a, wo, wc[3], wc[4], wc[5], res, np.uint64(2 * a * width), width)
        if 2 * a + 1 < height:
            _odd_row(g, a, rows, wo, wc, res, np.uint64((2 * a + 1) * width), width)
