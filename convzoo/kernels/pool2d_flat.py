"""2x2 stride-2 pooling forward of planes with short rows: one loop over a block of planes.

``pool2d``'s loops run once per output row. On rows of 16 outputs or fewer (LeNet-5's 28x28 and 10x10
maps, a VGG's 32x32 down to 8x8) LLVM's vector body never starts and the scalar remainder turns the
max rule's selects into branches, mispredicted on real data: 16-20 ns an output against 1 ns on rows
of 56. Here the windows are computed at the input's row pitch instead: window ``u = i * W + j`` reads
``x[2u], x[2u + 1], x[2u + W], x[2u + W + 1]`` of the flat plane, an affine function of ``u``, so one
vectorised loop covers a whole plane (and consecutive planes when the height is even, as their
pitch is then ``2 * OH * W``) into a small scratch row; the ``W - OW`` columns past each output row
are junk and are dropped as the results are copied out. That doubles the compares and adds a copy,
and measured 7x faster on 28x28 planes and 2.5x on 8x8 ones.

Backward, when the windows tile the plane exactly (even height and width), the same pitch makes the
whole gradient one loop: writing ``dx[2u]`` and ``dx[2u + 1]`` for ``u`` over ``[0, OH * W)`` covers
every cell once, the first ``OW`` values of each ``u`` row landing in input row ``2i`` and the next
``OW`` in row ``2i + 1``. So each output row is copied into the scratch twice, the second copy of the
argmax lowered by 2 (the taps of the window's second row are 2 and 3), and one vectorised select per
cell does the rest.

Only for windows wholly inside the input (no padding, no ceil_mode overhang); the results are the
same as ``pool2d``'s (the same tap order and NaN rule, the same sum order and divisor).
"""
import numpy as np

from .jit import jit
from .pool2d import _pick, divide

MAX_WIDTH = 32  # output rows this wide or narrower take the flat loops
BLOCK = 4096  # windows per scratch block (16 KiB of float32 and its taps: stays in L1/L2)


def applies(geo, spans):
    """Whether a 2x2 stride-2 pooling geometry (``pool2d.applies``) takes the flat loops."""
    oh, ow = geo.out_shape
    return (tuple(geo.kernel_size) == (2, 2) and 0 < ow <= MAX_WIDTH and tuple(spans) == (0, oh, 0, ow)
            and all(b == 0 and a == 0 for b, a in geo.pads))


def tiles(geo, spans):
    """Whether the flat backward loops apply: ``applies``, and the windows tile the plane exactly."""
    (h, w), (oh, ow) = geo.in_shape, geo.out_shape
    return applies(geo, spans) and h == 2 * oh and w == 2 * ow


def planes_per_block(in_shape, out_shape):
    """Consecutive planes one flat loop covers: several when the height is even (their pitch matches)."""
    (h, w), (oh, _) = in_shape, out_shape
    return max(1, BLOCK // (oh * w)) if h == 2 * oh else 1


@jit
def _max_block(xf, base, count, w, tmp, tmpa):
    w = np.uint64(w)
    one, two = np.uint64(1), np.uint64(2)
    for u in range(np.uint64(count)):
        q = base + two * u
        best, t = xf[q], 0
        best, t = _pick(xf[q + one], best, t, 1)
        best, t = _pick(xf[q + w], best, t, 2)
        best, t = _pick(xf[q + w + one], best, t, 3)
        tmp[u], tmpa[u] = best, t


@jit
def _sum_block(xf, base, count, w, tmp):
    w = np.uint64(w)
    one, two = np.uint64(1), np.uint64(2)
    for u in range(np.uint64(count)):
        q = base + two * u
        # the order of pool2d.avg_forward_planes: row 0's two taps, then row 1's, in x's dtype
        tmp[u] = xf[q] + xf[q + one] + xf[q + w] + xf[q + w + one]


@jit
def _block_bounds(k, per, planes, in_size, rows, w, ow):
    # planes [b0, b1) of block k; where they start in the flat input; how many windows the loop runs
    b0 = k * per
    b1 = min(planes, b0 + per)
    return b0, b1, np.uint64(b0 * in_size), (b1 - b0) * rows * w - (w - ow)


@jit
def max_forward_planes(x, out, arg, per, lo, hi):
    """Blocks lo..hi of ``per`` planes: x (B, H, W) -> out, arg (B, OH, OW); an arg with no planes
    asks for the values only."""
    planes, h, w = x.shape
    rows, ow = out.shape[1], out.shape[2]
    xf = x.reshape(-1)
    of = out.reshape(-1)
    with_arg = arg.shape[0] > 0
    af = arg.reshape(-1)
    tmp = np.empty(per * rows * w, x.dtype)
    tmpa = np.empty(per * rows * w, arg.dtype)  # the taps, kept only with_arg
    for k in range(lo, hi):
        b0, b1, base, count = _block_bounds(k, per, planes, h * w, rows, w, ow)
        _max_block(xf, base, count, w, tmp, tmpa)
        for r in range((b1 - b0) * rows):
            src, dst = np.uint64(r * w), np.uint64((b0 * rows + r) * ow)
            for j in range(np.uint64(ow)):
                of[dst + j] = tmp[src + j]
            if with_arg:
                for j in range(np.uint64(ow)):
                    af[dst + j] = tmpa[src + j]


@jit
def avg_forward_planes(x, divisor, multiply, out, per, lo, hi):
    """Blocks lo..hi of ``per`` planes: x (B, H, W) -> out (B, OH, OW), each window's sum / divisor
    (times divisor, its reciprocal, with ``multiply``: ``pool2d.divide``)."""
    planes, h, w = x.shape
    rows, ow = out.shape[1], out.shape[2]
    xf = x.reshape(-1)
    tmp = np.empty(per * rows * w, x.dtype)
    for k in range(lo, hi):
        b0, b1, base, count = _block_bounds(k, per, planes, h * w, rows, w, ow)
        _sum_block(xf, base, count, w, tmp)
        for b in range(b0, b1):
            for i in range(rows):
                src = np.uint64(((b - b0) * rows + i) * w)
                o, dv = out[b, i], divisor[i]
                for j in range(np.uint64(ow)):
                    o[j] = divide(tmp[src + j], dv[j], multiply)


@jit
def _twice(src, dst, rows, ow, w, shift):
    # each of ``rows`` rows of ow values into a row of pitch w = 2 ow: once as it is, once less shift
    for r in range(rows):
        s, d = np.uint64(r * ow), np.uint64(r * w)
        for j in range(np.uint64(ow)):
            dst[d + j] = src[s + j]
            dst[d + np.uint64(ow) + j] = src[s + j] - shift


@jit
def max_backward_planes(grad, arg, dx, per, lo, hi):
    """Blocks lo..hi of ``per`` planes: each window's gradient to its winning tap, 0 to the others;
    grad, arg (B, OH, OW) -> dx (B, 2 OH, 2 OW)."""
    planes, rows, ow = grad.shape
    w = dx.shape[2]
    gf, af, df = grad.reshape(-1), arg.reshape(-1), dx.reshape(-1)
    tmp = np.empty(per * rows * w, grad.dtype)
    tmpa = np.empty(per * rows * w, arg.dtype)
    zero = dx.dtype.type(0)
    one, two = np.uint64(1), np.uint64(2)
    for k in range(lo, hi):
        b0, b1 = k * per, min(planes, k * per + per)
        n = (b1 - b0) * rows
        _twice(gf[b0 * rows * ow:], tmp, n, ow, w, 0)
        _twice(af[b0 * rows * ow:], tmpa, n, ow, w, 2)
        base = np.uint64(b0 * rows * w * 2)
        for u in range(np.uint64(n * w)):
            v, t = tmp[u], tmpa[u]
            df[base + two * u] = v if t == 0 else zero
            df[base + two * u + one] = v if t == 1 else zero


@jit
def avg_backward_planes(grad, divisor, multiply, dx, per, lo, hi):
    """Blocks lo..hi of ``per`` planes: each window's gradient / divisor (``pool2d.divide``) to its four
    cells."""
    planes, rows, ow = grad.shape
    w = dx.shape[2]
    df = dx.reshape(-1)
    share = np.empty(per * rows * ow, grad.dtype)
    tmp = np.empty(per * rows * w, grad.dtype)
    one, two = np.uint64(1), np.uint64(2)
    for k in range(lo, hi):
        b0, b1 = k * per, min(planes, k * per + per)
        for b in range(b0, b1):
            for i in range(rows):
                g, dv, d = grad[b, i], divisor[i], np.uint64(((b - b0) * rows + i) * ow)
                for j in range(np.uint64(ow)):
                    share[d + j] = divide(g[j], dv[j], multiply)
        n = (b1 - b0) * rows
        _twice(share, tmp, n, ow, w, 0)
        base = np.uint64(b0 * rows * w * 2)
        for u in range(np.uint64(n * w)):
            df[base + two * u] = tmp[u]
            df[base + two * u + one] = tmp[u]
