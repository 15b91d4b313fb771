"""Convolution as GEMM through BLAS: im2col (chunked to a memory budget) and 1x1 as a plain GEMM.

Conventions of every kernel module: ``xp`` is the padded input ``(N, C, *S)``, ``weight`` is
``(O, C/groups, *k)``, ``grad_out`` is ``(N, O, *P)``; the three ops are

    forward(xp, weight, stride, dilation, groups)                          -> (N, O, *P)
    backward_input(grad_out, weight, padded_shape, stride, dilation, groups) -> (N, C, *S)
    backward_weight(xp, grad_out, kernel_size, stride, dilation, groups)   -> (O, C/groups, *k)

im2col gathers only the taps the dilated kernel reads, so dilated convs never multiply by zeros, and
reads zero padding in place (``pads``, as ``planner.Algorithm.pads_inside`` promises): the gather
writes the zeros and the col2im scatter drops the padding's gradient, so neither the input nor its
gradient is ever copied into a padded array, and a Conv keeps no padded copy for its backward.
The images of a chunk are laid side by side, ``(C*K, B*P)``: one wide GEMM per chunk runs at BLAS
speed where one narrow GEMM per image (a few hundred columns) runs several times slower. Where an
image's rows would be cut, the gradients cut its input channels instead (``_channel_jobs``). 2-D
stride-1 convs whose padded rows are not much wider than their output take the wide-row layout of
``spans.py`` instead (one contiguous copy per tap rather than one per output row).
"""
import contextlib
import math

import numpy as np

from . import lanes, spans, workspace
from .geometry import zero_pads
from .window import table


# columns below which a GEMM of one image runs well under BLAS speed; such images go side by side
_MIN_COLUMNS = 512
# Cg*K up to which an im2col forward multiplies image by image into the output when each image has
# _MIN_COLUMNS: measured on a 3x3 stride-2 stem (27) at 224 x 224, 32 images 20.1 against 27.4 ms;
# with 576 (64 channels x 9 taps) the wide side-by-side GEMM won by 10 %
_FEW_TAPS = 64


# A forward chunk needs no more columns than this, nor more than CACHE_CHUNK bytes per lane, whichever
# is larger: beyond both, the gathered columns outgrow the caches and go through memory between the
# gather and the GEMM, and a longer GEMM gains nothing. Only short products are cut finer than the
# workspace limit (a stem's 27 rows of columns: 3x3 3->32 stride 2 at 224 px, forward at batch 32
# 21.1 -> 18.2 ms, batch 4 2.9 -> 2.3 ms, in one process); 64 channels x 9 taps already fill a lane's
# share of the default limit with 8192 columns. The gradients gained nothing (the weight gradient's
# GEMMs contract the columns: shorter chunks ran it 5-7 % slower)
CHUNK_COLUMNS = 8192
CACHE_CHUNK = 1 << 20


def _forward_chunks(batch, rows, bytes_per_row, width, shares):
    """workspace.chunks of the forward's (batch, rows) work, each within the limit and, on several
    lanes, the cache bound above (a call small enough for one lane stays whole: its GEMM gets BLAS's
    threads; the stem at batch 1 in two chunks on one lane ran 0.9 ms against 0.55)."""
    budget = workspace.limit()
    if shares > 1:
        budget = min(budget, shares * max(CACHE_CHUNK, bytes_per_row // max(width, 1) * CHUNK_COLUMNS))
    return workspace.chunks(batch, rows, bytes_per_row, budget=budget, lanes=shares)


def _side_by_side(a, groups):
    """(B, G*A, P) -> (G, A, B*P): the images next to each other (a copy unless B == 1)."""
    b, ga, p = a.shape
    if b == 1:
        return a.reshape(groups, ga // groups, p)
    a = a.reshape(b, groups, ga // groups, p).transpose(1, 2, 0, 3)
    return np.ascontiguousarray(a).reshape(groups, ga // groups, b * p)


def _one_per_image(res, batch):
    """(G, A, B*P) -> (B, G*A, P), the inverse of _side_by_side (a strided view)."""
    g, a, bp = res.shape
    return res.reshape(g * a, batch, bp // batch).transpose(1, 0, 2)


def _wide_rows(in_shape, kernel_size, stride, dilation, pads, batch, channels, out_shape=None):
    """Whether spans.py takes this geometry of ``channels`` output channels per group (its output
    grid must be the one the caller expects)."""
    if not spans.applies(len(kernel_size), stride):
        return False
    padded = in_shape[-1] + pads[-1][0] + pads[-1][1]
    if not spans.pays(padded, padded - dilation[-1] * (kernel_size[-1] - 1), batch, channels):
        return False
    full = tuple(n + b + a - d * (k - 1) for n, k, d, (b, a) in zip(in_shape, kernel_size, dilation, pads))
    return out_shape is None or tuple(out_shape) == full


def _scatter_passes(chunks, kernel_size, stride, dilation):
    """The col2im jobs in passes (``workspace.scatter_passes``); rows of a 2-D image only: the table's
    rows of a 3-D one run over two axes."""
    if len(kernel_size) != 2:
        return [workspace.by_image(chunks)]
    return workspace.scatter_passes(chunks, (kernel_size[0] - 1) * dilation[0], stride[0])


# Columns (Cg x taps) of a weight gradient from which an image whose rows would be cut is cut by its
# channels instead (``_channel_jobs``). A narrower one is cut by rows: its partial sums are small, and
# every lane's GEMM keeps all the columns, where a channel cut leaves each a few (a 3x3 stride-2 stem,
# 3 -> 32 at 224 px, batch 1: 1 and 2 channels, 9 and 18 columns, 0.74 ms; by rows 0.37; 7x7 stem,
# 147 columns, 2.8 -> 1.8 ms; 144-288 columns 1.07x). 576 tied; 3136 (7x7 64 -> 64) ran 0.91x by rows
WIDE_WEIGHT_GRADIENT = 512


def _channel_jobs(batch, cg, groups, rows, bytes_per_channel, shares):
    """The gradients' jobs ((b, b + 1), group, (c0, c1)) by ranges of a group's input channels
    (``workspace.channel_chunks``), in image order; None where whole images fit or a channel does not.

    Where an image's rows would be cut, its channels are cut instead: each job's GEMM keeps the
    image's whole rows as columns, and no two jobs write the same input rows. A 7x7 64->64 conv at
    28 px and batch 1 cut by rows ran its input gradient on one lane (its row blocks overlap within
    the kernel's reach) and its weight gradient as four sums of (64 x 196) @ (196 x 3136) products."""
    blocks = workspace.channel_chunks(batch, cg, rows, bytes_per_channel, lanes=shares)
    if blocks is None:
        return None
    return [(images, gi, channels) for images, channels in blocks for gi in range(groups)]


def im2col_forward(x, weight, stride, dilation, groups, pads=None):
    pads = zero_pads(pads, x.ndim - 2)
    if _wide_rows(x.shape[2:], weight.shape[2:], stride, dilation, pads, x.shape[0], weight.shape[0] // groups):
        return spans.forward(x, weight, dilation, groups, pads)
    n, c = x.shape[:2]
    o, cg = weight.shape[:2]
    t = table(x.shape[2:], weight.shape[2:], stride, dilation, pads)
    k, rows, width = t.taps, t.rows, t.width
    w = weight.reshape(groups, o // groups, cg * k)  # (G, Og, Cg*K)
    flat = np.ascontiguousarray(x).reshape(n, c, -1)
    out = np.empty((n, o, rows * width), dtype=x.dtype)

    def work(_, chunk, lane):
        (b0, b1), (r0, r1) = chunk
        bs, ps = b1 - b0, (r1 - r0) * width
        # (C, K, B, P): the images' columns side by side
        buf = lane.scratch("cols", c * k * bs * ps, x.dtype).reshape(c, k, bs, ps)
        t.gather(flat[b0:b1], buf, r0, lane.parallel)
        if cg * k <= _FEW_TAPS and ps >= _MIN_COLUMNS:
            # a short product (a stem's 3 channels x 9 taps): copying the side-by-side result out took
            # as long as the GEMM, so one GEMM per image, each straight into its output
            for i in range(bs):
                np.matmul(w, buf[:, :, i].reshape(groups, cg * k, ps),
                          out=out[b0 + i, :, r0 * width:r1 * width].reshape(groups, o // groups, ps))
            return
        res = np.matmul(w, buf.reshape(groups, cg * k, bs * ps))  # (G, Og, B*P)
        out[b0:b1, :, r0 * width:r1 * width] = _one_per_image(res, bs)

    size = n * c * k * rows * width
    lanes.run(_forward_chunks(n, rows, c * k * width * x.itemsize, width, lanes.shares(size)), work, size=size)
    return out.reshape((n, o) + t.out_shape)


def im2col_backward_input(grad_out, weight, in_shape, stride, dilation, groups, pads=None):
    in_shape = tuple(int(s) for s in in_shape)
    pads = zero_pads(pads, len(in_shape))
    if _wide_rows(in_shape, weight.shape[2:], stride, dilation, pads, grad_out.shape[0], weight.shape[0] // groups,
                  grad_out.shape[2:]):
        return spans.backward_input(grad_out, weight, in_shape, dilation, groups, pads)
    n, o = grad_out.shape[:2]
    cg = weight.shape[1]
    c, og = cg * groups, o // groups
    t = table(in_shape, weight.shape[2:], stride, dilation, pads, grad_out.shape[2:])
    k, rows, width = t.taps, t.rows, t.width
    w_t = weight.reshape(groups, og, cg * k).transpose(0, 2, 1)  # (G, Cg*K, Og)
    g = grad_out.reshape(n, o, rows * width)
    out = np.zeros((n, c, int(np.prod(in_shape))), dtype=grad_out.dtype)

    def work(_, chunks, lane):
        for (b0, b1), (r0, r1) in chunks:
            bs = b1 - b0
            cols = np.matmul(w_t, _side_by_side(g[b0:b1, :, r0 * width:r1 * width], groups))  # (G, Cg*K, B*P)
            t.scatter(cols.reshape(c, k, bs, -1), out[b0:b1], r0, lane.parallel)

    def work_by_channel(_, job, lane):
        (b0, b1), gi, (c0, c1) = job
        cols = np.matmul(w_t[gi, c0 * k:c1 * k], g[b0, gi * og:(gi + 1) * og])  # (Cc*K, P)
        t.scatter(cols.reshape(c1 - c0, k, 1, -1), out[b0:b1, gi * cg + c0:gi * cg + c1], 0, lane.parallel)

    size = n * c * k * rows * width
    shares = lanes.shares(size)
    by_channel = _channel_jobs(n, cg, groups, rows, k * rows * width * grad_out.itemsize, shares)
    if by_channel:
        lanes.run(by_channel, work_by_channel, size=size)
        return out.reshape((n, c) + in_shape)
    chunks = workspace.chunks(n, rows, (c * k + o) * width * grad_out.itemsize, lanes=shares, passes=2)
    for jobs in _scatter_passes(chunks, weight.shape[2:], stride, dilation):
        lanes.run(jobs, work, size=size)
    return out.reshape((n, c) + in_shape)


def im2col_backward_weight(x, grad_out, kernel_size, stride, dilation, groups, pads=None):
    pads = zero_pads(pads, x.ndim - 2)
    if _wide_rows(x.shape[2:], kernel_size, stride, dilation, pads, x.shape[0], grad_out.shape[1] // groups,
                  grad_out.shape[2:]):
        return spans.backward_weight(x, grad_out, tuple(kernel_size), dilation, groups, pads)
    n, c = x.shape[:2]
    o = grad_out.shape[1]
    cg, og = c // groups, o // groups
    t = table(x.shape[2:], kernel_size, stride, dilation, pads, grad_out.shape[2:])
    k, rows, width = t.taps, t.rows, t.width
    flat = np.ascontiguousarray(x).reshape(n, c, -1)
    g = grad_out.reshape(n, o, rows * width)
    grad_w = np.zeros((groups, og, cg * k), dtype=x.dtype)

    def work(index, chunk, lane):
        (b0, b1), (r0, r1) = chunk
        bs, ps = b1 - b0, (r1 - r0) * width
        buf = lane.scratch("cols", c * k * bs * ps, x.dtype).reshape(c, k, bs, ps)
        t.gather(flat[b0:b1], buf, r0, lane.parallel)
        # (G, Og, B*P) @ (G, B*P, Cg*K): one GEMM contracts images and positions at once
        g_t = _side_by_side(g[b0:b1, :, r0 * width:r1 * width], groups)
        part = lanes.matmul_nt(g_t, buf.reshape(groups, cg * k, bs * ps))
        with lane.turn(index):  # summed in chunk order, whatever the number of lanes
            grad_w[...] += part

    def work_by_channel(index, job, lane):
        (b0, b1), gi, (c0, c1) = job
        buf = lane.scratch("cols", (c1 - c0) * k * rows * width, x.dtype).reshape(c1 - c0, k, 1, rows * width)
        t.gather(flat[b0:b1, gi * cg + c0:gi * cg + c1], buf, 0, lane.parallel)
        part = lanes.matmul_nt(g[b0, gi * og:(gi + 1) * og], buf.reshape((c1 - c0) * k, rows * width))
        # summed in image order, whatever the number of lanes; one image: each job adds the only part of
        # its block, no turn to wait for
        with lane.turn(index) if n > 1 else contextlib.nullcontext():
            grad_w[gi, :, c0 * k:c1 * k] += part

    size = n * c * k * rows * width
    shares = lanes.shares(size)
    by_channel = (_channel_jobs(n, cg, groups, rows, k * rows * width * x.itemsize, shares)
                  if cg * k >= WIDE_WEIGHT_GRADIENT else None)
    if by_channel:
        lanes.run(by_channel, work_by_channel, ordered=True, size=size)
    else:
        lanes.run(workspace.chunks(n, rows, (c * k + o) * width * x.itemsize, lanes=shares), work,
                  ordered=True, size=size)
    return grad_w.reshape((o, cg) + tuple(kernel_size))


def _pointwise_view(xp, stride, out_shape=None):
    """The pixels a 1x1 kernel reads: (N, C, *P), a strided view (no copy at stride 1)."""
    stops = out_shape or (None,) * len(stride)
    return xp[(slice(None), slice(None)) + tuple(slice(0, None if m is None else m * s, s)
                                                 for m, s in zip(stops, stride))]


# FLOPs a job of the 1x1 GEMMs carries at least: each job pays 20-40 us of copies and hand-off, and a
# 16->32 1x1 conv at 14 px multiplies 0.2 MFLOP an image (batch 32: 11 jobs of 3 images ran the
# forward in 0.30-0.47 ms, 4 jobs of 8 in 0.17, im2col 0.17; at batch 8 one job on this thread 0.043
# against 0.12; 128->256 @28 and 64->128 @56, one image a job, unchanged)
JOB_FLOPS = 2 << 20


def images_per_job(positions, flops):
    """How many images of ``positions`` columns and ``flops`` each a job of the 1x1 GEMMs wants: one
    (its planes are the GEMM operand, no copy) when it has enough columns and work, else enough to go
    side by side (copied into one operand, the product copied back out)."""
    return max(1, -(-_MIN_COLUMNS // max(positions, 1)), -(-JOB_FLOPS // max(flops, 1)))


def _image_jobs(n, positions, flops):
    """Image ranges of the 1x1 GEMMs, ``flops`` an image, ``images_per_job`` of them a job, in ranges
    of equal size. On lanes, 32 images of 128->256 @28 ran 13 ms where one 2-thread GEMM on the
    side-by-side copy ran 32 ms (the copies in and out are as long as the GEMM there)."""
    per = images_per_job(positions, flops)
    count = -(-n // per)
    if count > 1:
        count = max(count, min(n, lanes.shares()))
    return lanes.ranges(n, count)


def _pointwise(a, w, groups, out):
    """out[b] = w @ a[b] per image of a (B, G*K, P), w (G, M, K), out (B, G*M, P)."""
    b, _, p = a.shape
    if b == 1:
        np.matmul(w, a[0].reshape(groups, -1, p), out=out[0].reshape(groups, -1, p))
    else:
        out[...] = _one_per_image(np.matmul(w, _side_by_side(a, groups)), b)


def pointwise_forward(xp, weight, stride, dilation, groups):
    n, c = xp.shape[:2]
    o, cg = weight.shape[:2]
    x = _pointwise_view(xp, stride)
    out_shape = x.shape[2:]
    p = math.prod(out_shape)
    w = weight.reshape(groups, o // groups, cg)
    out = np.empty((n, o, p), dtype=xp.dtype)

    def work(_, images, lane):
        b0, b1 = images
        _pointwise(np.ascontiguousarray(x[b0:b1]).reshape(b1 - b0, c, p), w, groups, out[b0:b1])

    lanes.run(_image_jobs(n, p, 2 * o * cg * p), work)
    return out.reshape((n, o) + out_shape)


def pointwise_backward_input(grad_out, weight, padded_shape, stride, dilation, groups):
    n, o = grad_out.shape[:2]
    cg = weight.shape[1]
    c, og = cg * groups, o // groups
    p = math.prod(grad_out.shape[2:])
    w_t = weight.reshape(groups, og, cg).transpose(0, 2, 1)  # (G, Cg, Og)
    g = np.ascontiguousarray(grad_out).reshape(n, o, p)
    grad = np.empty((n, c, p), dtype=grad_out.dtype)
    lanes.run(_image_jobs(n, p, 2 * o * cg * p),
              lambda _, images, lane: _pointwise(g[images[0]:images[1]], w_t, groups, grad[images[0]:images[1]]))
    grad = grad.reshape((n, c) + grad_out.shape[2:])
    if all(s == 1 for s in stride) and grad.shape[2:] == tuple(padded_shape):
        return grad
    out = np.zeros((n, c) + tuple(padded_shape), dtype=grad_out.dtype)
    out[(slice(None), slice(None)) + tuple(slice(0, m * s, s) for m, s in zip(grad_out.shape[2:], stride))] = grad
    return out


def pointwise_backward_weight(xp, grad_out, kernel_size, stride, dilation, groups):
    n, c = xp.shape[:2]
    o = grad_out.shape[1]
    x = _pointwise_view(xp, stride, grad_out.shape[2:])
    p = math.prod(grad_out.shape[2:])
    g = np.ascontiguousarray(grad_out).reshape(n, o, p)
    grad_w = np.zeros((groups, o // groups, c // groups), dtype=xp.dtype)

    def work(index, images, lane):
        b0, b1 = images
        xs = np.ascontiguousarray(x[b0:b1]).reshape(b1 - b0, c, p)
        # (G, Og, B*P) @ (G, B*P, Cg): the images join the contracted axis
        part = lanes.matmul_nt(_side_by_side(g[b0:b1], groups), _side_by_side(xs, groups))
        with lane.turn(index):  # summed in image order, whatever the number of lanes
            grad_w[...] += part

    lanes.run(_image_jobs(n, p, 2 * o * (c // groups) * p), work, ordered=True)
    return grad_w.reshape((o, c // groups) + tuple(kernel_size))
