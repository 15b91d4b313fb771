"""Depthwise convolution (groups == C_in, a channel multiplier m = C_out / C_in) in Numba.

GEMM degenerates here (a K x 1 by 1 x P product per channel), so these kernels walk each (image,
channel) plane directly, one output row at a time: the row stays in L1 while every tap adds its
shifted input row to it, and the innermost loop over the row is a unit-step run the compiler
vectorises. Dilation only changes the tap offsets, so dilated kernels never touch a zero. Every
``prange`` runs over planes (forward, backward-input) or output channels (backward-weight), which
write disjoint slices, so results do not depend on the thread count.
"""
import numpy as np

from .jit import jit_parallel, prange
from .window import RowOffsets


@jit_parallel
def _forward(xp, w, tap, row_start, width, step, kernel_width, out):
    # xp: (N, C, L); w: (O, K); out: (N, O, R * width); output channel o reads input channel o // m.
    # Rows are taken as slices so the inner loops index from 0 (no wraparound test) and vectorise;
    # at unit step the taps of a kernel row go three at a time (one pass over the output row each)
    batch, channels_out = out.shape[0], out.shape[1]
    m = channels_out // xp.shape[1]
    taps = tap.shape[0]
    span = (width - 1) * step + 1
    for bo in prange(batch * channels_out):
        b, o = bo // channels_out, bo % channels_out
        x, plane = xp[b, o // m], out[b, o]
        for r in range(row_start.shape[0]):
            orow = plane[r * width:(r + 1) * width]
            orow[:] = 0.0
            start = row_start[r]
            if step == 1:
                for k0 in range(0, taps, kernel_width):
                    q = 0
                    while q + 3 <= kernel_width:
                        k = k0 + q
                        w0, w1, w2 = w[o, k], w[o, k + 1], w[o, k + 2]
                        x0 = x[start + tap[k]:start + tap[k] + width]
                        x1 = x[start + tap[k + 1]:start + tap[k + 1] + width]
                        x2 = x[start + tap[k + 2]:start + tap[k + 2] + width]
                        for j in range(width):
                            orow[j] += w0 * x0[j] + w1 * x1[j] + w2 * x2[j]
                        q += 3
                    while q < kernel_width:
                        wk = w[o, k0 + q]
                        xrow = x[start + tap[k0 + q]:start + tap[k0 + q] + width]
                        for j in range(width):
                            orow[j] += wk * xrow[j]
                        q += 1
            else:
                for k in range(taps):
                    wk = w[o, k]
                    xrow_s = x[start + tap[k]:start + tap[k] + span:step]
                    for j in range(width):
                        orow[j] += wk * xrow_s[j]


@jit_parallel
def _backward_input(grad_out, w, tap, row_start, width, step, out):
    # grad_out: (N, O, R * width); out: (N, C, L), zeroed; plane (b, c) gathers its m output channels
    batch, channels = out.shape[0], out.shape[1]
    m = grad_out.shape[1] // channels
    span = (width - 1) * step + 1
    for bc in prange(batch * channels):
        b, c = bc // channels, bc % channels
        plane = out[b, c]
        for o in range(c * m, c * m + m):
            g = grad_out[b, o]
            for r in range(row_start.shape[0]):
                grow = g[r * width:(r + 1) * width]
                for k in range(tap.shape[0]):
                    wk = w[o, k]
                    base = row_start[r] + tap[k]
                    if step == 1:
                        dst = plane[base:base + width]
                        for j in range(width):
                            dst[j] += wk * grow[j]
                    else:
                        dst_s = plane[base:base + span:step]
                        for j in range(width):
                            dst_s[j] += wk * grow[j]


@jit_parallel
def _backward_weight(xp, grad_out, tap, row_start, width, step, grad_w):
    # grad_w: (O, K). Per output channel, one float64 accumulator per (tap, column): the inner
    # loop is then an elementwise multiply-add the compiler vectorises, not a serial reduction
    batch, channels_out = grad_out.shape[0], grad_out.shape[1]
    m = channels_out // xp.shape[1]
    span = (width - 1) * step + 1
    for o in prange(channels_out):
        acc = np.zeros((tap.shape[0], width), dtype=np.float64)
        for b in range(batch):
            x, g = xp[b, o // m], grad_out[b, o]
            for r in range(row_start.shape[0]):
                grow = g[r * width:(r + 1) * width]
                for k in range(tap.shape[0]):
                    base = row_start[r] + tap[k]
                    acc_k = acc[k]
                    if step == 1:
                        xrow = x[base:base + width]
                        for j in range(width):
                            acc_k[j] += grow[j] * xrow[j]
                    else:
                        xrow_s = x[base:base + span:step]
                        for j in range(width):
                            acc_k[j] += grow[j] * xrow_s[j]
        for k in range(tap.shape[0]):
            grad_w[o, k] = acc[k].sum()


def depthwise_forward(xp, weight, stride, dilation, groups):
    n, c = xp.shape[:2]
    o = weight.shape[0]
    offsets = RowOffsets(xp.shape[2:], weight.shape[2:], stride, dilation)
    out = np.empty((n, o, offsets.rows * offsets.width), dtype=xp.dtype)
    _forward(np.ascontiguousarray(xp).reshape(n, c, -1), np.ascontiguousarray(weight).reshape(o, -1),
             offsets.tap, offsets.row_start, offsets.width, offsets.step, weight.shape[-1], out)
    return out.reshape((n, o) + offsets.out_shape)


def depthwise_backward_input(grad_out, weight, padded_shape, stride, dilation, groups):
    n, o = grad_out.shape[:2]
    if o == groups and all(s == 1 for s in stride):
        # stride 1, no multiplier: the gradient is the correlation of the gradient, zero-padded by
        # the dilated kernel extent, with the flipped kernel; the output-stationary forward kernel
        # then writes each row once instead of scattering into it once per tap
        reach = [d * (k - 1) for k, d in zip(weight.shape[2:], dilation)]
        pads = [(0, 0), (0, 0)] + [(r, m - p) for r, m, p in zip(reach, padded_shape, grad_out.shape[2:])]
        flipped = weight[(Ellipsis,) + (slice(None, None, -1),) * (weight.ndim - 2)]
        return depthwise_forward(np.pad(grad_out, pads), np.ascontiguousarray(flipped), stride, dilation, groups)
    offsets = RowOffsets(padded_shape, weight.shape[2:], stride, dilation)
    out = np.zeros((n, groups, int(np.prod(padded_shape))), dtype=grad_out.dtype)
    _backward_input(np.ascontiguousarray(grad_out).reshape(n, o, -1), np.ascontiguousarray(weight).reshape(o, -1),
                    offsets.tap, offsets.row_start, offsets.width, offsets.step, out)
    return out.reshape((n, groups) + tuple(padded_shape))


def depthwise_backward_weight(xp, grad_out, kernel_size, stride, dilation, groups):
    n, c = xp.shape[:2]
    o = grad_out.shape[1]
    offsets = RowOffsets(xp.shape[2:], kernel_size, stride, dilation)
    grad_w = np.empty((o, offsets.taps), dtype=xp.dtype)
    _backward_weight(np.ascontiguousarray(xp).reshape(n, c, -1), np.ascontiguousarray(grad_out).reshape(n, o, -1),
                     offsets.tap, offsets.row_start, offsets.width, offsets.step, grad_w)
    return grad_w.reshape((o, 1) + tuple(kernel_size))
