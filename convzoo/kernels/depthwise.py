"""Depthwise convolution (groups == C_in, a channel multiplier m = C_out / C_in) in Numba.

GEMM degenerates here (a K x 1 by 1 x P product per channel), so the kernels (``depthwise_loops``)
walk each (image, channel) plane directly: a thread copies the plane into a small zero-padded
scratch plane split by stride phase (each phase of each axis a block of its own), then computes
output rows from unit-step runs of that copy (a 3x3 kernel in one pass with its nine weights in
registers, larger kernels five taps per pass; on 1-D and 2-D planes, at any stride, each tap's runs
join into one run of the whole plane, ``depthwise_flat``; a 3x3 stride-1 forward on rows of 48 or
more computes two output rows a pass, which share two scratch rows, and padded by one on every side
reads the plane in place but for its border, ``loops.forward_same_range``). The input is
read from memory once and the output written once, padding costs no copy of the whole input, and
stride and dilation only change where the runs start, so a dilated kernel never touches a zero.
Every range of a lane writes disjoint planes (forward, backward-input) or weights (backward-weight),
so results do not depend on the thread count.

The input gradient at stride 1 without a multiplier is the forward kernel on the gradient with the
flipped weights; at stride 2 with a 3x3 kernel padded by one, each input row is computed from one or
two gradient rows by its phase (``depthwise_phases``, no scratch); otherwise each tap scatters into a
scratch plane of the padded input gradient. Where a training step wants both gradients of such a conv,
``depthwise_backward`` computes each plane's input gradient right after its weight gradient, in one pass.
Splitting the rows by phase as well as the columns made a 3x3 stride-2 layer's runs whole planes:
128 x 56 x 56 at batch 1 on one thread, forward 0.18 -> 0.16 ms, input gradient 0.34 -> 0.20,
weight gradient 0.32 -> 0.17; at batch 32 on two, 5.7 -> 5.1, 7.4 -> 5.0, 9.0 -> 5.6.
The scratch plane of each thread holds one padded input plane (~13 KB for 56 x 56 float32; a
4096 x 4096 float32 image would take 64 MB per thread).
"""
import functools
import math

import numpy as np

from . import depthwise_flat, depthwise_loops as loops, depthwise_phases, depthwise_split
from .elementwise import by_size
from .geometry import cached_table, zero_pads

# Work (``_work``, in multiply-adds) below which a depthwise op runs on the calling thread (_run), and
# what an element of the image and a plane count in it. Fitted on batch-1 3x3 convs timed on one thread
# on the AVX-512 machine (14 geometries of 14 to 112 px, stride 1 and 2, each pass): 13-45 us
# per Mi multiply-adds, an image element about 5 multiply-adds (a stride-2 forward reads 4 a pixel), a
# plane about 0.2 us; two lanes won from about 30 us of serial work
GRAIN = 1 << 20
IMAGE_WORK = 5
PLANE_WORK = 6000


class PlaneTable:
    """Where each tap reads in the scratch copy of one zero-padded input plane, split by stride phase.

    The scratch holds each stride phase of the padded plane as its own block: padded coordinate ``c``
    of an axis with stride ``s`` sits at ``(c % s) * qe + c // s``, where ``qe`` (the output size plus
    the kernel's reach in strides) holds every ``c // s`` a tap reads. The leading spatial axes,
    flattened, give the scratch row; the last axis's phases are stacked as blocks of rows, each row
    ``wq`` columns wide. So a tap reads one unit-step run per output row at any stride, and output
    row ``r`` reads scratch row ``rowtab[r, ko]`` (``ko`` over the leading kernel axes) at column
    ``colofs[kl] + j`` (``kl`` over the last; ``colofs`` includes the phase block's offset), element
    ``rowtab[r, ko] * buf_width + colofs[kl] + j``. Input row ``i`` goes to scratch row
    ``fill_row[i]`` (-1: no tap reads it), and in phase ``q`` input columns ``src_lo[q], src_lo[q] +
    step, ...`` fill scratch elements ``fill_row[i] * buf_width + [col_lo[q], col_hi[q])``. ``before``
    may be negative (a crop). Built once per geometry (``plane_table`` caches them); read-only.
    """

    def __init__(self, in_shape, kernel_size, stride, dilation, before, out_shape):
        axes = list(zip(in_shape, kernel_size, stride, dilation, before, out_shape))
        # per axis: the extent of the padded axis some tap reads, and the rows of one phase block
        extent = [(o - 1) * s + d * (k - 1) + 1 for _, k, s, d, _, o in axes]
        qe = [o + d * (k - 1) // s for _, k, s, d, _, o in axes]
        lead = axes[:-1]
        size = [s * q for (_, _, s, _, _, _), q in zip(lead, qe)]  # scratch rows of each leading axis
        row_stride = [math.prod(size[a + 1:]) for a in range(len(lead))]
        # rowtab: (R, Ko) and fill_row: (rows_in,), grown one leading axis at a time
        rowtab, fill_row = np.zeros((1, 1), dtype=np.int64), np.zeros(1, dtype=np.int64)
        for (n, k, s, d, b, o), e, q, rs in zip(lead, extent, qe, row_stride):
            taps = np.arange(k) * d
            pos = np.arange(o)[:, None] + (taps % s * q + taps // s)[None, :]  # (o, k) scratch coordinate
            rowtab = (rowtab[:, None, :, None] + (pos * rs)[None, :, None, :]).reshape(
                rowtab.shape[0] * o, rowtab.shape[1] * k)
            at = np.arange(n) + b  # the padded coordinate of each input index
            inside = (at >= 0) & (at < e)
            fill_row = np.where((fill_row[:, None] >= 0) & inside[None, :],
                                fill_row[:, None] + (at % s * q + at // s)[None, :] * rs, -1).reshape(-1)
        n, k, s, d, b, o = axes[-1]
        rows = int(math.prod(size))  # the scratch rows of one phase block of the last axis
        self.wq = wq = int(qe[-1])
        taps = np.arange(k) * d
        self.colofs = (taps % s) * rows * wq + taps // s
        q = np.arange(s)
        # phase q, block column jj holds input column jj * s + q - b: inside [0, n) for lo <= jj < hi
        lo = np.clip(-((q - b) // s), 0, wq)
        hi = np.maximum(np.clip((n - 1 + b - q) // s + 1, 0, wq), lo)
        self.src_lo = lo * s + q - b
        self.col_lo, self.col_hi = q * rows * wq + lo, q * rows * wq + hi
        self.rowtab, self.fill_row = rowtab.astype(np.int64), fill_row.astype(np.int64)
        self.buf_rows, self.buf_width, self.step = s * rows, wq, int(s)
        # every input column lands in the scratch (else the input gradient zeroes its rows first)
        self.full = bool((hi - lo).sum() == n)
        # output row r reads scratch rows rowtab[0] + r (1-D or 2-D, any stride), and a scratch row
        # is at most a quarter wider than an output row, or at most twice as wide as an output row
        # shorter than 2 x loops.SHORT_ROWS (whose row loops barely reach their vector body): the
        # loops then compute the plane as one run at the scratch pitch and drop the junk columns
        consecutive = bool((rowtab == rowtab[:1] + np.arange(rowtab.shape[0])[:, None]).all())
        o = int(o)
        self.flat = consecutive and (4 * (wq - o) <= o or (o < 2 * loops.SHORT_ROWS and wq <= 2 * o))
        self.out_shape = tuple(int(p) for p in out_shape)
        self.in_shape = tuple(int(p) for p in in_shape)
        # a 2-D 3x3 stride-1 conv padded by one on every side, rows wide enough for loops.forward_same_range
        # (and planes of three rows or more, the interior's and the border's loops apart)
        self.same = (len(axes) == 2 and all(k == 3 and s == 1 and d == 1 and b == 1 and o == n and n >= 3
                                            for n, k, s, d, b, o in axes) and o >= loops.PAIRED_WIDTH)
        for array in (self.rowtab, self.colofs, self.fill_row, self.col_lo, self.col_hi, self.src_lo):
            array.flags.writeable = False

    def args(self):
        """The table arguments of the loops, in their order."""
        return (self.rowtab, self.colofs, self.fill_row, self.col_lo, self.col_hi, self.src_lo, self.buf_rows,
                self.buf_width, self.step)



@functools.lru_cache(maxsize=256)
def plane_table(in_shape, kernel_size, stride, dilation, before, out_shape):
    """The cached PlaneTable of one geometry (tuples), as a training loop repeats its shapes."""
    return PlaneTable(in_shape, kernel_size, stride, dilation, before, out_shape)


def forward_table(in_shape, kernel_size, stride, dilation, before, out_shape):
    """The forward's table: depthwise_split's parity-split plane where it applies (stride 2 along
    rows of even width), else the PlaneTable (both cached by their factories; calls find it through
    ``geometry.cached_table``)."""
    if depthwise_split.applies(in_shape, kernel_size, stride, dilation, before, out_shape):
        return depthwise_split.split_table(in_shape, kernel_size, stride, dilation, before, out_shape)
    return plane_table(in_shape, kernel_size, stride, dilation, before, out_shape)


def _table(in_shape, kernel_size, stride, dilation, pads, out_shape=None):
    return cached_table(plane_table, in_shape, kernel_size, stride, dilation, pads, out_shape)


def _run(serial, work, count, *args):
    """``serial(*args, 0, count)`` here below GRAIN of work (``_work``), else one range of the ``count``
    items per lane (``elementwise.by_size``). With a Numba parallel region, and then lanes that woke a
    sleeping thread, serial won below 4-7 Mi (3x3 stride 1 at batch 1, 3.4 Mi: 0.30 against 0.45 ms
    forward); on polling helpers (``lanes.split``), in one process on the AVX-512 machine, 3x3 128 @56
    at batch 1 (3.6 Mi) ran 1.31-1.34x faster forward and 1.37-1.42x forward+backward on two lanes,
    and 3x3 64 @56 (1.8 Mi) within noise of serial (0.97x forward), hence 2 Mi. With the helpers' 3 us
    grace (``lanes.GRACE_SECONDS``) two lanes won from about 30 us of serial work, which multiply-adds
    alone did not foretell (the stride-2 3x3 on 128 planes of 56 x 56, 0.9 Mi multiply-adds, took 120 us
    serial and 74 on lanes), hence the image and the planes in ``_work`` and 1 Mi."""
    by_size(serial, work, count, *args, grain=GRAIN)


def _work(grad_or_out, image, t):
    """An op's serial time in multiply-adds: the kernel's taps for every output (or gradient) pixel,
    plus IMAGE_WORK for each element of the image (input or input gradient) and PLANE_WORK a plane."""
    planes = grad_or_out.shape[0] * grad_or_out.shape[1]
    return grad_or_out.size * t.rowtab.shape[1] * t.colofs.shape[0] + IMAGE_WORK * image.size + PLANE_WORK * planes


def _planes(a):
    """a as contiguous flat planes: (N, C, prod(spatial))."""
    return np.ascontiguousarray(a).reshape(a.shape[0], a.shape[1], -1)


def _correlate(x, weight, t):
    n, c = x.shape[:2]
    o = weight.shape[0]
    out = np.empty((n, o, math.prod(t.out_shape)), dtype=x.dtype)
    w = np.ascontiguousarray(weight, dtype=x.dtype).reshape(o, -1)
    if isinstance(t, depthwise_split.SplitTable):
        _run(depthwise_split.forward_range, _work(out, x, t), n * c, _planes(x), w, *t.args(), out)
    elif t.same:
        _run(loops.forward_same_range, _work(out, x, t), n * c, _planes(x), w, *t.out_shape, out)
    else:
        _run(loops.forward_range, _work(out, x, t), n * c, _planes(x), w, *t.args(), t.full, t.flat, out)
    return out.reshape((n, o) + t.out_shape)


def depthwise_forward(x, weight, stride, dilation, groups, pads=None):
    """(N, C, *in) * (O, 1, *k) with zero padding ``pads`` ((before, after) per axis) -> (N, O, *out)."""
    return _correlate(x, weight, cached_table(forward_table, x.shape[2:], weight.shape[2:], stride, dilation, pads))


def depthwise_backward_input(grad_out, weight, in_shape, stride, dilation, groups, pads=None):
    """Gradient of depthwise_forward with respect to its (unpadded) input of spatial size in_shape."""
    n, o = grad_out.shape[:2]
    in_shape = tuple(int(s) for s in in_shape)
    pads = zero_pads(pads, len(in_shape))
    if o == groups and all(s == 1 for s in stride):
        # stride 1, no multiplier: the output-stationary forward loop on the gradient writes each row once
        # instead of scattering per tap
        return _correlate(grad_out, *_flipped(grad_out, weight, in_shape, stride, dilation, pads))
    t = _table(in_shape, weight.shape[2:], stride, dilation, pads, grad_out.shape[2:])
    out = np.empty((n, groups, math.prod(in_shape)), dtype=grad_out.dtype)
    w = np.ascontiguousarray(weight, dtype=grad_out.dtype).reshape(o, -1)
    if o == groups and depthwise_phases.applies(in_shape, weight.shape[2:], stride, dilation,
                                                tuple(int(b) for b, _ in pads), grad_out.shape[2:]):
        # 3x3 stride 2 padded by one: each input row straight from the gradient rows, no scratch
        _run(depthwise_phases.backward_input_range, _work(grad_out, out, t), n * groups, _planes(grad_out), w,
             *in_shape, out)
        return out.reshape((n, groups) + in_shape)
    serial = (depthwise_flat if t.flat else loops).backward_input_range
    _run(serial, _work(grad_out, out, t), n * groups, _planes(grad_out), w, *t.args(), t.full, out)
    return out.reshape((n, groups) + in_shape)


def _flipped(grad_out, weight, in_shape, stride, dilation, pads):
    """The stride-1 input gradient as a forward: (the flipped kernel, the PlaneTable of the correlation of the
    gradient, zero-padded by the dilated kernel extent less the forward's leading padding, onto in_shape)."""
    before = tuple(d * (k - 1) - int(b) for k, d, (b, _) in zip(weight.shape[2:], dilation, pads))
    flipped = weight[(Ellipsis,) + (slice(None, None, -1),) * (weight.ndim - 2)]
    return flipped, plane_table(tuple(int(s) for s in grad_out.shape[2:]), tuple(weight.shape[2:]), tuple(stride),
                                tuple(dilation), before, in_shape)


def depthwise_backward_weight(x, grad_out, kernel_size, stride, dilation, groups, pads=None):
    """Gradient of depthwise_forward with respect to weight: (O, 1, *kernel_size)."""
    o = grad_out.shape[1]
    t = _table(x.shape[2:], kernel_size, stride, dilation, pads, grad_out.shape[2:])
    grad_w = np.empty((o, math.prod(kernel_size)), dtype=x.dtype)
    serial = (depthwise_flat if t.flat else loops).backward_weight_range
    _run(serial, _work(grad_out, x, t), o, _planes(x),
         _planes(grad_out), *t.args(), t.full, grad_w)
    return grad_w.reshape((o, 1) + tuple(kernel_size))


# Input bytes up to which the stride-2 phases input gradient is computed with the weight gradient. One process
# on the AVX-512 machine, 128 planes of 56 x 56 (3x3 stride 2 padded by one), separate / together: batch 1
# 1.08x, 2 1.10x, 4 1.02x, 8 0.89x, 16 0.87x, 32 0.85x. From memory the joint pass, which writes the four
# times larger input gradient plane between the reads of the next planes, runs slower than two passes that
# each stream; "same" stride-1 planes gained at every batch (1.04x at batch 1, 1.00-1.04x up to 32)
PHASES_TOGETHER_BYTES = 1 << 23


def _input_kind(grad_out, weight, in_shape, stride, dilation, groups, pads):
    """Which input gradient ``depthwise_flat.backward_range`` can compute with the weight gradient, and the
    weights it takes for it: (kind, weight)."""
    if grad_out.shape[1] != groups:
        return depthwise_flat.NO_INPUT, weight
    if all(s == 1 for s in stride):
        flipped, t = _flipped(grad_out, weight, in_shape, stride, dilation, pads)
        return (depthwise_flat.SAME, flipped) if t.same else (depthwise_flat.NO_INPUT, weight)
    if depthwise_phases.applies(in_shape, weight.shape[2:], stride, dilation, tuple(b for b, _ in pads),
                                grad_out.shape[2:]) \
            and grad_out.itemsize * grad_out.shape[0] * groups * math.prod(in_shape) <= PHASES_TOGETHER_BYTES:
        return depthwise_flat.PHASES, weight
    return depthwise_flat.NO_INPUT, weight


def depthwise_backward(x, grad_out, weight, stride, dilation, groups, pads=None):
    """Both gradients of depthwise_forward, (grad_x, grad_w), as depthwise_backward_input and
    depthwise_backward_weight give them (the same bits).

    Where the weight gradient runs on whole planes (``depthwise_flat``) and the input gradient is the 3x3
    "same" correlation or the 3x3 stride-2 phases (``depthwise_phases``, up to PHASES_TOGETHER_BYTES of
    input), without a channel multiplier, one pass over the planes computes both
    (``depthwise_flat.backward_range``): each gradient plane is read from memory once instead of twice,
    and one hand-off to the lanes serves both gradients. One process on the AVX-512 machine, separate /
    together: 3x3 128 @56 forward + backward at batch 1 0.50 -> 0.44 ms, at stride 2 0.342 -> 0.312."""
    in_shape = tuple(int(s) for s in x.shape[2:])
    kernel = tuple(int(k) for k in weight.shape[2:])
    stride, dilation = tuple(stride), tuple(dilation)
    pads = zero_pads(pads, len(in_shape))
    t = _table(in_shape, kernel, stride, dilation, pads, grad_out.shape[2:])
    kind, w = depthwise_flat.NO_INPUT, weight
    if t.flat and x.dtype == grad_out.dtype:
        kind, w = _input_kind(grad_out, weight, in_shape, stride, dilation, groups, pads)
    if kind == depthwise_flat.NO_INPUT:
        return (depthwise_backward_input(grad_out, weight, in_shape, stride, dilation, groups, pads),
                depthwise_backward_weight(x, grad_out, kernel, stride, dilation, groups, pads))
    n, o = grad_out.shape[:2]
    w = np.ascontiguousarray(w, dtype=x.dtype).reshape(o, -1)
    grad_w = np.empty((o, math.prod(kernel)), dtype=x.dtype)
    grad_x = np.empty((n, o, math.prod(in_shape)), dtype=x.dtype)
    # the input gradient's work is the weight gradient's: the same taps of each gradient pixel, an image as large
    _run(depthwise_flat.backward_range, 2 * _work(grad_out, x, t), o, _planes(x), _planes(grad_out), w, kind,
         in_shape[0], *t.args(), t.full, grad_w, grad_x)
    return grad_x.reshape((n, o) + in_shape), grad_w.reshape((o, 1) + kernel)
