"""im2col for 2-D stride-1 convolutions in the "wide row" layout: one contiguous copy per tap.

With the input zero-padded to width ``Wp``, output pixel ``(r, j)`` of tap ``(ky, kx)`` reads
padded element ``(r + ky*dh) * Wp + j + kx*dw``. Computing the output on a grid ``Wp`` wide instead
of ``OW`` (the extra ``Wp - OW`` columns per row are thrown away) makes the column of tap ``k`` for
a block of rows ONE contiguous span of the padded plane, starting at ``ky*dh*Wp + kx*dw``. So:

- the gather is one memcpy-speed copy per (image, channel, tap), not one short copy per output
  row (rows of a VGG or LeNet layer are 8-32 pixels: per-row loop overhead dominated);
- col2im is one contiguous add per (image, channel, tap) into a padded gradient block;
- the weight gradient multiplies by a gradient laid out as wide rows whose extra columns are zero.

The price is ``Wp / OW`` times the GEMM work (``pays`` decides) and a padded copy of the block of
input rows a chunk reads (a ninth of the columns for a 3x3 kernel). Chunks follow ``workspace``.
"""
import functools

import numpy as np

from . import lanes, workspace
from .jit import jit, jit_parallel, prange

# Measured (same process, back to back): on rows of 10 outputs (LeNet-5's second conv) the wide
# layout ran the three passes 1.5-3x faster; with no extra column at all (a k x 1 kernel, no padding
# across) it was 15-25 % faster on rows of 28. With chunks on lanes (lanes.py) it also won on long
# rows with few extra columns once there are several images (3x3 "same" at 28-32 pixels, batch 8-32:
# 15-35 % on all three passes); at batch 1 its input gradient (one image's row chunks share one lane)
# and weight gradient lost. So: no extra column; short rows with up to MAX_WIDENING times the GEMM
# work (Wp / OW); or several images with up to BATCH_WIDENING
MAX_WIDTH = 16
MAX_WIDENING = 1.5
BATCH_WIDENING = 1.1
# Both widenings also need few output channels (per group): each row copy the layout saves adds
# 2 x channels x (extra columns) multiply-adds to the GEMM, and from 384 of them the row copies were
# the cheaper: 3x3 96 -> 96 at 14 px, batch 1, forward / input / weight gradient 1.08x / 1.59x /
# 1.24x faster by rows; 128 -> 128 at 16 px, batch 32, 1.02-1.06x; 256 -> 256 at 8 px 1.01-1.13x;
# with 128 (LeNet-5's second conv) and 256 (64 -> 64 at 32 px, batch 32: 1.16-1.2x) the wide rows won
MAX_EXTRA = 256


def applies(rank, stride):
    return rank == 2 and tuple(stride) == (1, 1)


def pays(padded, out, batch, channels):
    """Whether the wide layout's extra columns (padded row width over output width) cost less than
    the per-row copies they replace, for a conv of ``channels`` output channels per group."""
    if out <= 0:
        return False
    if padded == out:
        return True
    return 2 * channels * (padded - out) <= MAX_EXTRA and (
        (out <= MAX_WIDTH and padded <= MAX_WIDENING * out) or (batch > 1 and padded <= BATCH_WIDENING * out))


@jit
def _gather_plane(plane, offsets, span, cols, c, b):
    # plane: (L,) the padded row block of image b, channel c; cols: (C, K, B, span) C-contiguous (a
    # strided view of it gathered 1.5-2.4x slower: Numba could not assume unit stride)
    for k in range(offsets.shape[0]):
        src = plane[offsets[k]:offsets[k] + span]
        dst = cols[c, k, b]
        for i in range(span):
            dst[i] = src[i]


@jit
def _scatter_plane(cols, c, b, offsets, span, plane):
    # the adjoint of _gather_plane, added into the padded row block
    for k in range(offsets.shape[0]):
        dst = plane[offsets[k]:offsets[k] + span]
        src = cols[c, k, b]
        for i in range(span):
            dst[i] += src[i]


# xpad / gpad: (B, C, L) padded row blocks; cols: (C, K, B, span). One plane per iteration, disjoint
# writes; the serial twins run a chunk on a lane of lanes.py

@jit_parallel
def _gather_parallel(xpad, offsets, span, cols):
    for bc in prange(xpad.shape[0] * xpad.shape[1]):
        b, c = bc // xpad.shape[1], bc % xpad.shape[1]
        _gather_plane(xpad[b, c], offsets, span, cols, c, b)


@jit
def _gather_serial(xpad, offsets, span, cols):
    for b in range(xpad.shape[0]):
        for c in range(xpad.shape[1]):
            _gather_plane(xpad[b, c], offsets, span, cols, c, b)


@jit_parallel
def _scatter_parallel(cols, offsets, span, gpad):
    for bc in prange(gpad.shape[0] * gpad.shape[1]):
        b, c = bc // gpad.shape[1], bc % gpad.shape[1]
        _scatter_plane(cols, c, b, offsets, span, gpad[b, c])


@jit
def _scatter_serial(cols, offsets, span, gpad):
    for b in range(gpad.shape[0]):
        for c in range(gpad.shape[1]):
            _scatter_plane(cols, c, b, offsets, span, gpad[b, c])


def _gather(xpad, offsets, span, cols, parallel):
    (_gather_parallel if parallel else _gather_serial)(xpad, offsets, span, cols)


def _scatter(cols, offsets, span, gpad, parallel):
    (_scatter_parallel if parallel else _scatter_serial)(cols, offsets, span, gpad)


class _Geometry:
    def __init__(self, in_shape, kernel, dilation, pads):
        (self.h, self.w), (self.kh, self.kw), (self.dh, self.dw) = in_shape, kernel, dilation
        ((self.top, _), (self.left, right)) = pads
        self.wp = self.w + self.left + right
        self.oh = self.h + pads[0][0] + pads[0][1] - self.dh * (self.kh - 1)
        self.ow = self.wp - self.dw * (self.kw - 1)
        self.taps = self.kh * self.kw
        self.halo = self.dh * (self.kh - 1)  # extra input rows a block of output rows reads
        self.tail = self.dw * (self.kw - 1)  # the last span runs this far past the block's last row
        self.offsets = np.array([ky * self.dh * self.wp + kx * self.dw
                                 for ky in range(self.kh) for kx in range(self.kw)], dtype=np.int64)
        self.offsets.flags.writeable = False

    def block_length(self, rows):
        return (rows + self.halo) * self.wp + self.tail

    def padded_block(self, x, r0, r1):
        """Padded input rows [r0, r1 + halo) of images x (B, C, H, W), flat with the tail: (B, C, L)."""
        b, c = x.shape[:2]
        block = np.zeros((b, c, self.block_length(r1 - r0)), dtype=x.dtype)
        rows = block[:, :, :(r1 - r0 + self.halo) * self.wp].reshape(b, c, r1 - r0 + self.halo, self.wp)
        lo, hi = max(r0 - self.top, 0), min(r1 + self.halo - self.top, self.h)
        if hi > lo:
            rows[:, :, lo + self.top - r0:hi + self.top - r0, self.left:self.left + self.w] = x[:, :, lo:hi]
        return block

    def wide_gradient(self, g, r0, r1, groups):
        """Gradient rows [r0, r1) of g (B, O, OH, OW) as (G, O/G, B * rows * Wp), extra columns zero."""
        b, o = g.shape[:2]
        wide = np.zeros((o, b, r1 - r0, self.wp), dtype=g.dtype)
        wide[..., :self.ow] = g[:, :, r0:r1].transpose(1, 0, 2, 3)
        return wide.reshape(groups, o // groups, -1)

    def columns(self, batch, channels):
        """Elements of the wide-row columns of the whole call (``lanes.run``'s ``size``)."""
        return batch * channels * self.taps * self.oh * self.wp

    def chunks(self, batch, channels, extra_per_row, itemsize, passes=1):
        """workspace.chunks over this geometry's rows (``passes`` as there)."""
        shares = lanes.shares(self.columns(batch, channels))
        return workspace.chunks(batch, self.oh, (channels * self.taps + extra_per_row) * self.wp * itemsize,
                                lanes=shares, passes=passes)


def _geometry(in_shape, kernel, dilation, pads):
    """The _Geometry of one call's shapes, cached: a training loop repeats them."""
    return _cached_geometry(tuple(int(n) for n in in_shape), tuple(int(k) for k in kernel),
                            tuple(int(d) for d in dilation), tuple((int(b), int(a)) for b, a in pads))


@functools.lru_cache(maxsize=256)
def _cached_geometry(in_shape, kernel, dilation, pads):
    return _Geometry(in_shape, kernel, dilation, pads)


def forward(x, weight, dilation, groups, pads):
    n, c = x.shape[:2]
    o, cg = weight.shape[:2]
    geo = _geometry(x.shape[2:], weight.shape[2:], dilation, pads)
    w = weight.reshape(groups, o // groups, cg * geo.taps)
    out = np.empty((n, o, geo.oh, geo.ow), dtype=x.dtype)

    def work(_, chunk, lane):
        (b0, b1), (r0, r1) = chunk
        bs, span = b1 - b0, (r1 - r0) * geo.wp
        # the images side by side, as gemm.py
        cols = lane.scratch("cols", c * geo.taps * bs * span, x.dtype).reshape(c, geo.taps, bs, span)
        _gather(geo.padded_block(x[b0:b1], r0, r1), geo.offsets, span, cols, lane.parallel)
        res = np.matmul(w, cols.reshape(groups, cg * geo.taps, bs * span))  # (G, Og, B * rows * Wp)
        out[b0:b1, :, r0:r1] = res.reshape(o, bs, r1 - r0, geo.wp)[..., :geo.ow].transpose(1, 0, 2, 3)

    lanes.run(geo.chunks(n, c, 0, x.itemsize), work, size=geo.columns(n, c))
    return out


def backward_input(grad_out, weight, in_shape, dilation, groups, pads):
    n, o = grad_out.shape[:2]
    cg = weight.shape[1]
    c, og = cg * groups, o // groups
    geo = _geometry(in_shape, weight.shape[2:], dilation, pads)
    w_t = weight.reshape(groups, og, cg * geo.taps).transpose(0, 2, 1)  # (G, Cg*K, Og)
    out = np.zeros((n, c, geo.h, geo.w), dtype=grad_out.dtype)

    def work(_, chunks, lane):
        for (b0, b1), (r0, r1) in chunks:
            bs, span = b1 - b0, (r1 - r0) * geo.wp
            cols = np.matmul(w_t, geo.wide_gradient(grad_out[b0:b1], r0, r1, groups))  # (G, Cg*K, B*span)
            gpad = np.zeros((bs, c, geo.block_length(r1 - r0)), dtype=grad_out.dtype)
            _scatter(cols.reshape(c, geo.taps, bs, span), geo.offsets, span, gpad, lane.parallel)
            # fold the padded block back onto the input rows it covers (blocks of neighbouring row
            # chunks overlap: they share a lane, or run in different passes)
            rows = gpad[:, :, :(r1 - r0 + geo.halo) * geo.wp].reshape(bs, c, r1 - r0 + geo.halo, geo.wp)
            lo, hi = max(r0 - geo.top, 0), min(r1 + geo.halo - geo.top, geo.h)
            if hi > lo:
                out[b0:b1, :, lo:hi] += rows[:, :, lo + geo.top - r0:hi + geo.top - r0, geo.left:geo.left + geo.w]

    for jobs in workspace.scatter_passes(geo.chunks(n, c, o, grad_out.itemsize, passes=2), geo.halo):
        lanes.run(jobs, work, size=geo.columns(n, c))
    return out


def backward_weight(x, grad_out, kernel_size, dilation, groups, pads):
    n, c = x.shape[:2]
    o = grad_out.shape[1]
    cg, og = c // groups, o // groups
    geo = _geometry(x.shape[2:], kernel_size, dilation, pads)
    grad_w = np.zeros((groups, og, cg * geo.taps), dtype=x.dtype)

    def work(index, chunk, lane):
        (b0, b1), (r0, r1) = chunk
        bs, span = b1 - b0, (r1 - r0) * geo.wp
        cols = lane.scratch("cols", c * geo.taps * bs * span, x.dtype).reshape(c, geo.taps, bs, span)
        _gather(geo.padded_block(x[b0:b1], r0, r1), geo.offsets, span, cols, lane.parallel)
        # the zero extra columns of the wide gradient cancel the extra columns of cols
        g = geo.wide_gradient(grad_out[b0:b1], r0, r1, groups)
        part = lanes.matmul_nt(g, cols.reshape(groups, cg * geo.taps, bs * span))
        with lane.turn(index):  # summed in chunk order, whatever the number of lanes
            grad_w[...] += part

    lanes.run(geo.chunks(n, c, o, x.itemsize), work, ordered=True, size=geo.columns(n, c))
    return grad_w.reshape((o, cg) + tuple(kernel_size))
