"""Strided transposed convolution (conv's backward-input) as stride^d small convolutions, interleaved.

Along one axis the transposed conv writes ``out[p*s + k*d] += w[k] g[p]``. Output position
``q = r + s*j`` (phase ``r = q mod s``) only receives the taps with ``k*d = r (mod s)``; with
``e = gcd(s, d)`` those are ``k0, k0 + s/e, k0 + 2s/e, ...`` and they land ``d/e`` apart in j. So
each phase is an ordinary stride-1 convolution of the (zero-padded) output gradient with a
sub-kernel of the flipped weight, dilation ``d/e``, whose result fills every s-th output pixel. No
zero is inserted into the input and no product by an inserted zero is ever computed; a 2x2 stride-2
kernel becomes four 1x1 convs (plain GEMMs), a 4x4 stride-2 kernel four dense 2x2 convs.
"""
import functools
import itertools
import math

import numpy as np

from . import lanes, workspace
from .elementwise import by_size
from .gemm import im2col_forward, pointwise_forward
from .jit import jit, jit_parallel, prange

# phase positions per image from which the 1x1 phase convs run fused with their interleave
# (_pointwise_pairs): one GEMM per image (or block of rows) keeps enough columns
_FUSED_POSITIONS = 256


@jit
def _interleave_planes(res, rows, cols, step_h, step_w, out, lo, hi):
    # res: (N, G, P, Cg, h, w), the P phases of one shared conv; out: (N, G*Cg, H, W); phase p's pixel
    # (i, j) goes to out[..., rows[p] + step_h * i, cols[p] + step_w * j]. Planes lo..hi of the
    # (image, channel) planes: disjoint writes
    n, groups, phases, cg, h, w = res.shape
    for plane in range(lo, hi):
        b, ch = plane // (groups * cg), plane % (groups * cg)
        g, ci = ch // cg, ch % cg
        for p in range(phases):
            for i in range(h):
                src = res[b, g, p, ci, i]
                dst = out[b, ch, rows[p] + step_h * i, cols[p]::step_w]
                for j in range(w):
                    dst[j] = src[j]


def _interleave(res, rows, cols, step_h, step_w, out):
    """The phases into the output, on the calling thread below STREAM_GRAIN elements (a decoder's
    3x3 stride-2 transposed conv at 7 px, batch 32: a parallel start per phase conv cost 0.2 ms
    for 0.01 ms of copying), else a range of planes per lane (``elementwise.by_size``)."""
    n, groups, phases, cg = res.shape[:4]
    by_size(_interleave_planes, res.size, n * groups * cg, res, rows, cols, step_h, step_w, out)


@jit
def _pair_rows(left, right, starts, width, dst):
    # one pair of column phases: left and right (h * width,) fill the even and odd columns of the h
    # output rows that start at dst[starts[i]] (flat). Both columns in one loop: the compiler
    # interleaves them in registers and stores whole vectors (twice the speed of _interleave's
    # stride-2 stores, as fast as a plain copy)
    w = np.uint64(width)
    for i in range(starts.shape[0]):
        at, src = np.uint64(starts[i]), np.uint64(i) * w
        for j in range(w):
            dst[at + np.uint64(2) * j] = left[src + j]
            dst[at + np.uint64(2) * j + np.uint64(1)] = right[src + j]


@jit_parallel
def _interleave_pairs(res, rows, even, odd, out):
    # stride 2 across columns, each output row filled by two phases: res (N, G, P, Cg, h * w), out
    # (N, G*Cg, H * W); phases even[k] and odd[k] fill the even and odd columns of the h output rows
    # that start at rows[k, i] (flat). One (image, channel) plane per iteration: disjoint writes
    n, groups, phases, cg, hw = res.shape
    width = hw // rows.shape[1]
    for plane in prange(n * groups * cg):
        b, ch = plane // (groups * cg), plane % (groups * cg)
        g, ci = ch // cg, ch % cg
        for k in range(even.shape[0]):
            _pair_rows(res[b, g, even[k], ci], res[b, g, odd[k], ci], rows[k], width, out[b, ch])


@jit
def _interleave_pair_block(res, rows, even, odd, r0, width, out):
    # _interleave_pairs for one image's block of phase rows r0.. on the calling thread: res
    # (P, C, h * width) holds h rows of each phase, out (C, H * W) the image
    h = res.shape[2] // width
    for ci in range(res.shape[1]):
        for k in range(even.shape[0]):
            _pair_rows(res[even[k], ci], res[odd[k], ci], rows[k, r0:r0 + h], width, out[ci])


def _pairs(phases, stride, width):
    """For _interleave_pairs: (rows, even, odd), where rows[k, i] is the flat start of the i-th output
    row that phases even[k] (column phase 0) and odd[k] (column phase 1) fill; None unless the
    stride across columns is 2 and every phase has its partner."""
    if len(stride) != 2 or stride[1] != 2:
        return None
    index = {phase: i for i, (phase, _) in enumerate(phases)}
    even = [(phase[0], i, index.get((phase[0], 1))) for i, (phase, _) in enumerate(phases) if phase[1] == 0]
    if 2 * len(even) != len(phases) or any(partner is None for _, _, partner in even):
        return None
    count = phases[0][1][0][4]  # the output rows of a phase (the same for all that share a conv)
    rows = np.array([[(r + stride[0] * i) * width for i in range(count)] for r, _, _ in even], dtype=np.int64)
    return rows, np.array([i for _, i, _ in even], dtype=np.int64), np.array([p for _, _, p in even], dtype=np.int64)


def fused(kernel, stride, dilation, groups, positions_shape):
    """Whether a transposed conv runs as _pointwise_pairs: 2-D, one group, a kernel as large as the
    stride (every phase a 1x1 conv, together writing every pixel, nothing padded), stride 2 across
    columns (the paired interleave) and at least _FUSED_POSITIONS gradient positions an image."""
    return len(kernel) == 2 and groups == 1 and tuple(kernel) == tuple(stride) and stride[1] == 2 \
        and all(d == 1 for d in dilation) and math.prod(positions_shape) >= _FUSED_POSITIONS


def _pointwise_pairs(g, w, pairs, phases, out_shape):
    """The 1x1 phase convs (w: (phases * C, O)) of g (N, O, h, width) and their paired interleave, a
    block of rows of an image at a time, on lanes: a block's phase outputs stay in cache between
    its GEMM and the copy into the output. Done as a batched GEMM and then the interleave, the
    phase outputs went to memory and back (128->64 2x2 stride 2 @28, batch 32: 25.7 MB each way)."""
    n, o, h, width = g.shape
    rows, even, odd = pairs
    m = w.shape[0]
    out = np.empty(out_shape, dtype=g.dtype)
    flat = out.reshape(n, out_shape[1], -1)

    def work(_, chunk, lane):
        (b0, b1), (r0, r1) = chunk
        buf = lane.scratch("phases", m * (r1 - r0) * width, g.dtype)
        for b in range(b0, b1):
            np.matmul(w, g[b, :, r0:r1].reshape(o, -1), out=buf.reshape(m, -1))
            _interleave_pair_block(buf.reshape(phases, m // phases, -1), rows, even, odd, r0, width, flat[b])

    # GEMM-bound: on every lane whatever the size (by its scratch, lanes.SERIAL_BELOW would keep a
    # batch-1 image of 128->64 @28 on one thread: 0.87-0.91 ms against 0.78-0.83 on two lanes)
    lanes.run(workspace.chunks(n, h, m * width * g.itemsize, lanes=lanes.shares()), work)
    return out


def _phase(r, s, d, k, p, n):
    """Taps, dilation and padding of phase r on one axis; None if no tap lands on it.

    Returns (taps, dilation, before, after, count): the weight slice ``taps`` (a slice object), the
    phase conv's dilation, how much to pad (negative: crop) the gradient before and after, and the
    number of output pixels ``count`` of this phase.
    """
    e = math.gcd(s, d)
    k0 = next((t for t in range(min(k, s // e)) if (t * d) % s == r), None)
    count = -(-(n - r) // s) if n > r else 0
    if k0 is None or count == 0:
        return None
    taps = range(k0, k, s // e)
    dilation = d // e
    reach = dilation * (len(taps) - 1)
    first = (k0 * d - r) // s  # j of the phase output that tap k0 of g[0] lands on
    before = first + reach
    after = count + reach - before - p
    return slice(k0, k, s // e), dilation, before, after, count


@jit
def _stack_taps(w, taps, out):
    # out[g, p, c, o * S + s] = w[g, o, c, taps[p, s]]: w (G, Og, Cg, K), taps (P, S), out (G, P, Cg, Og * S).
    # w is read in order, each kernel once. Reading it by output row instead (p and c outermost) read
    # every kernel P times, Cg * K elements apart: a 4 KiB stride for 128->64 4x4, whose lines share
    # one set of the L1 cache: 0.8-1.0 ms a call of case h1 at batch 1, 0.28 ms in this order
    groups, og, cg = w.shape[:3]
    phases, size = taps.shape
    for g in range(groups):
        for o in range(og):
            for c in range(cg):
                src = w[g, o, c]
                for p in range(phases):
                    row = out[g, p, c]
                    for s in range(size):
                        row[o * size + s] = src[taps[p, s]]


@functools.lru_cache(maxsize=256)
def _flipped_taps(axes, kernel):
    """The flat kernel index of each tap of a phase's sub-kernel, reversed along every axis; axes:
    (start, stop, step) of the taps per axis."""
    picked = [np.arange(k)[slice(*a)][::-1] for a, k in zip(axes, kernel)]
    taps = np.ravel_multi_index(np.meshgrid(*picked, indexing="ij"), kernel)
    taps.flags.writeable = False
    return taps


class _Conv:
    """One shared conv of a transposed conv's phases (see ``_plan``)."""

    def __init__(self, key, phases, kernel, stride, padded_shape, spatial):
        self.phases = phases
        # the flat kernel index of each phase's flipped sub-kernel taps: (phases, *sub)
        self.taps = np.stack([_flipped_taps(tuple(a[0].indices(k) for a, k in zip(plan, kernel)), kernel)
                              for _, plan in phases])
        self.taps.flags.writeable = False
        # before >= 0 always; a negative after means gradient pixels that land past the end
        self.crop = tuple(slice(0, m + min(after, 0)) for (_, _, _, after), m in zip(key, spatial))
        self.pads = tuple((before, max(after, 0)) for _, _, before, after in key)
        self.step = tuple(dil for _, dil, _, _ in key)
        self.pairs = _pairs(phases, stride, padded_shape[-1])
        # each phase's first output row and column, for _interleave (2-D phases with no column pairs)
        self.origins = tuple(np.array([phase[axis] for phase, _ in phases], dtype=np.int64) for axis in (0, 1)) \
            if len(stride) == 2 else ()
        for a in (self.pairs or ()) + self.origins:
            a.flags.writeable = False


@functools.lru_cache(maxsize=256)
def _plan(kernel, stride, dilation, spatial, padded_shape):
    """The shared convs of a geometry's phases, and whether together they write every output pixel.

    Phases that read the same padded gradient with same-shaped sub-kernels share one conv: their
    sub-kernels are stacked as extra output channels (for a k = 2s kernel, all s^d phases do).
    Cached: a layer repeats its geometry, and planning took 0.1 ms of a 1 ms batch-1 call."""
    shared = {}
    for phase in itertools.product(*[range(s) for s in stride]):
        plan = [_phase(r, s, d, k, p, m)
                for r, s, d, k, p, m in zip(phase, stride, dilation, kernel, spatial, padded_shape)]
        if any(a is None for a in plan):
            continue  # no tap reaches these pixels: they stay zero
        key = tuple((len(range(*a[0].indices(k))), a[1], a[2], a[3]) for a, k in zip(plan, kernel))
        shared.setdefault(key, []).append((phase, plan))
    written = sum(len(group) for group in shared.values()) == math.prod(stride)
    return [_Conv(key, phases, kernel, stride, padded_shape, spatial) for key, phases in shared.items()], written


def subpixel_backward_input(grad_out, weight, padded_shape, stride, dilation, groups):
    n, o = grad_out.shape[:2]
    cg = weight.shape[1]
    c, og = cg * groups, o // groups
    kernel = weight.shape[2:]
    rank = len(kernel)
    padded_shape = tuple(int(m) for m in padded_shape)
    w_flat = weight.reshape(groups, og, cg, -1)  # (G, Og, Cg, K): a view
    convs, written = _plan(tuple(kernel), tuple(stride), tuple(dilation), grad_out.shape[2:], padded_shape)
    out = None
    for conv in convs:
        phases, taps, pads, pairs = conv.phases, conv.taps, conv.pads, conv.pairs
        # the flipped sub-kernels turn the transposed (scatter) form into a correlation from the O
        # gradient channels to the C input channels: (G * phases * Cg, Og, *sub), gathered in one loop
        # (a stack of strided per-phase views took 1 ms of case h1's 4 at batch 1; np.take and a
        # transposed copy 0.55 ms; this loop 0.28 ms)
        stacked = np.empty((groups, len(phases), cg, og * math.prod(taps.shape[1:])), dtype=weight.dtype)
        _stack_taps(w_flat, taps.reshape(len(phases), -1), stacked)
        stacked = stacked.reshape((groups * len(phases) * cg, og) + taps.shape[1:])
        g = grad_out[(slice(None), slice(None)) + conv.crop]
        if fused(kernel, stride, dilation, groups, g.shape[2:]) and not any(b or e for b, e in pads):
            return _pointwise_pairs(g, stacked.reshape(len(phases) * cg, og), pairs, len(phases),
                                    (n, c) + padded_shape)
        if all(size == 1 for size in stacked.shape[2:]):
            if any(b or e for b, e in pads):
                g = np.pad(g, [(0, 0), (0, 0)] + list(pads))
            res = pointwise_forward(g, stacked, (1,) * rank, conv.step, groups)  # (N, G*phases*Cg, *counts)
        else:
            res = im2col_forward(g, stacked, (1,) * rank, conv.step, groups, pads=pads)  # reads the padding in place
        if all(s == 1 for s in stride) and res.shape[2:] == padded_shape:
            return res  # stride 1: the one phase is the whole gradient
        res = res.reshape((n, groups, len(phases), cg) + res.shape[2:])
        if out is None:
            # the phases of all shared convs together write every output pixel unless some phase
            # has no tap (those pixels stay zero)
            out = (np.empty if written else np.zeros)((n, c) + padded_shape, dtype=grad_out.dtype)
        if pairs is not None:
            _interleave_pairs(res.reshape(res.shape[:4] + (-1,)), *pairs, out.reshape(n, c, -1))
            continue
        if rank == 2:
            # NumPy's strided assignments ran single-threaded at a fraction of the memory speed (19 ms of
            # case h1's 90 at batch 32)
            _interleave(res, *conv.origins, stride[0], stride[1], out)
            continue
        for i, (phase, plan) in enumerate(phases):
            where = tuple(slice(r, r + s * a[4], s) for r, s, a in zip(phase, stride, plan))
            out[(slice(None), slice(None)) + where] = res[:, :, i].reshape((n, c) + res.shape[4:])
    return out if out is not None else np.zeros((n, c) + padded_shape, dtype=grad_out.dtype)
