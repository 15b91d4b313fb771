"""Direct convolution on register tiles: no im2col columns, no BLAS.

Each output row is cut into tiles of ``mr`` positions by ``nv * VEC`` output channels
(``microkernel.tile``): for every input channel and tap, the tile broadcasts the ``mr``
input values its positions read (one run of the padded row, at the conv's stride) and multiplies
them by a vector row of the weights, packed once per call as (channels x taps, output channels). The
sums stay in registers for the whole reduction, and a row's tiles are then written out channel by
channel. Per (image, band of output rows) a lane copies the input rows the band reads into a
zero-padded scratch block, which the taps' offsets index. Kernel rows that read only the padding of an
output row are skipped (the weights are packed kernel row outermost, so the rest are one run of steps).
With few output channels (fewer than a vector's lanes would hold) and stride 1 along the rows, the
tiles turn around (``microkernel.tile`` of a ``position_key``): ``np * VEC`` consecutive positions of a row loaded
as vectors by ``mc`` channels whose weights are broadcast.

Where BLAS is starved (few output channels or a short reduction: LeNet-5's 6 -> 16 conv, a 3-channel
stem) im2col spends more time gathering columns and multiplying short products than these tiles
spend on the whole conv. A stride-1 input gradient is the same product: the correlation of the
output gradient, padded by the kernel's reach less the forward's padding, with the kernel flipped
and its channel axes swapped. The weight gradient contracts the positions instead: its tiles are
taps of a kernel row by output channels, summing position after position, or (few output channels or
kernel rows that leave those tiles' lanes idle, stride 1 along the rows) taps by channels whose sums
are vectors over runs of positions (``microkernel.reduce_tile``; both below).

2-D, groups 1, float32, where ``microkernel.available()``.
"""
import functools

import numpy as np

from . import lanes, microkernel, workspace
from .elementwise import by_size
from .geometry import conv_output_size, zero_pads
from .jit import jit, jit_inline
from .microkernel import position_key, reduce_key, reduce_tile, tile, tile_key

VEC = max(microkernel.VEC, 1)
# positions a tile may hold: the choice wastes the fewest positions past a row's end (the largest
# on ties); each is one compiled variant
MR_CHOICES = (4, 7, 8, 16)
# input bytes a band's scratch block holds at most (a lane's L2 share), at least one row of outputs
BAND_BYTES = 1 << 18


def requirement(g):
    if not microkernel.available():
        return "needs Numba's JIT and a CPU with AVX-512, or AVX2 and FMA"
    if g.rank != 2 or g.groups != 1 or g.itemsize != 4:
        return f"needs a 2-D float32 conv with groups 1; rank {g.rank}, groups={g.groups}, " \
               f"{'float32' if g.itemsize == 4 else 'float64'}"
    return None


def op_requirement(op, g):
    """The input gradient is the forward's product at stride 1 only."""
    if op == "backward_input" and any(s != 1 for s in g.stride):
        return f"computes the input gradient at stride 1 only; stride={g.stride}"
    return None


def overshoot(count, block):
    """``count`` rounded up to whole blocks of ``block``, over ``count``: the products a tiling computes per
    product wanted along that axis."""
    return -(-count // block) * block / count


def tile_shape(out_channels, width):
    """(mr, nv) of the tiles for this many output channels and a row of ``width`` positions (an output row;
    for the weight gradient, a kernel row's taps)."""
    nv = min(-(-out_channels // VEC), 2)
    limit = microkernel.accumulators() // nv
    mr = min((m for m in MR_CHOICES if m <= min(limit, VEC)), key=lambda m: (-(-width // m) * m, -m))
    return mr, nv


# sums a tile must hold for its fused multiply-adds not to wait on each other's latency (fitted: an input
# gradient onto one channel ran 1.6-2x depthwise's time on position tiles of two sums; 32 -> 3 channels at
# 112 px, batch 8, on tiles of 16 positions by 3 channels 2.7 ms, of 32 by 3 1.6)
SUMS_IN_FLIGHT = 6


def position_shape(out_channels, width):
    """(np, mc) of position tiles (``np * VEC`` positions of a row by ``mc`` channels) for this many
    output channels and rows of ``width`` positions: the fewest products computed past the row's end or
    the last channel, counted SUMS_IN_FLIGHT / (np * mc) times where the tile holds fewer sums; the
    fewer positions on ties (16 -> 1 channel at 28 px, batch 32: 0.28 ms on 32 positions, 0.38 on 64)."""
    best = None
    for np_ in range(1, 5):
        mc = min(out_channels, microkernel.accumulators() // np_)
        computed = -(-width // (np_ * VEC)) * np_ * VEC * (-(-out_channels // mc) * mc)
        key = (computed * max(1.0, SUMS_IN_FLIGHT / (np_ * mc)), np_)
        if best is None or key < best[0]:
            best = key, (np_, mc)
    return best[1]


@functools.lru_cache(maxsize=256)  # every call asks (4 us of a 0.3 ms conv at batch 1)
def tiles(out_channels, width, step):
    """The tiles of a forward pass: ("positions", (np, mc)) where they compute fewer products past the
    row's end and the last channel than channel tiles do (few channels, stride 1 along the rows), else
    ("channels", (mr, nv)); and the products computed per product wanted."""
    mr, nv = tile_shape(out_channels, width)
    cb = nv * VEC
    channels = overshoot(width, mr) * overshoot(out_channels, cb)
    if step == 1:
        np_, mc = position_shape(out_channels, width)
        positions = overshoot(width, np_ * VEC) * overshoot(out_channels, mc)
        if positions < channels:
            return "positions", (np_, mc), positions
    return "channels", (mr, nv), channels


@jit_inline
def _fill_band(x, scratch, b, t0, sh, top, left, wp, band_in):
    """Copy the input rows that output rows t0.. of image b read (band_in of them a channel, from row
    t0 * sh - top) into scratch, zero-padded to wp columns (the pad columns stay zero from the
    allocation)."""
    c, h, w = x.shape[1], x.shape[2], x.shape[3]
    plane = band_in * wp
    c0, c1 = max(-left, 0), min(w, wp - left)  # input columns inside the padded row
    for ci in range(c):
        for i in range(band_in):
            dst = scratch[ci * plane + i * wp:ci * plane + (i + 1) * wp]
            sr = t0 * sh + i - top
            if sr < 0 or sr >= h or c1 <= c0:
                dst[:] = 0.0
                continue
            # views that start at 0 (a loop from c0 + left would test for wraparound and copy
            # element by element)
            src, inner = x[b, ci, sr, c0:c1], dst[c0 + left:c1 + left]
            for j in range(c1 - c0):
                inner[j] = src[j]


@jit_inline
def _inside_rows(y, sh, top, h, kh, dh):
    """The kernel rows [ky0, ky1) by which output row y reads rows inside the input (the others read the
    zero padding: their taps are skipped); ky1 <= ky0 where none does."""
    ky0 = max(0, -((y * sh - top) // dh))
    ky1 = min(kh, (h - 1 + top - y * sh) // dh + 1)
    return ky0, ky1


@jit
def _run(x, packed, rows, out, sh, top, left, wp, kh, dh, band, band_in, bands, key, lo, hi):
    """The serial loop over items lo..hi of (image, band of output rows), in tiles of the shape ``key``
    (``microkernel.tile_key``: positions, vectors of channels, stride along the rows; or
    ``microkernel.position_key``: vectors of consecutive positions, channels)."""
    turned = len(key[2]) == 0  # position tiles
    per_tile = len(key[0]) * VEC if turned else len(key[0])  # positions a tile
    step = 1 if turned else len(key[2])
    cb = len(key[1]) if turned else len(key[1]) * VEC  # channels a tile
    c, h = x.shape[1], x.shape[2]
    o, oh, ow = out.shape[1], out.shape[2], out.shape[3]
    opad = packed.shape[1]
    per_row = packed.shape[0] // kh  # steps a kernel row
    tiles = (ow + per_tile - 1) // per_tile
    # the last tile of a row reads up to per_tile * step past the row's last window
    scratch = np.zeros(c * band_in * wp + per_tile * step + wp, dtype=np.float32)
    flat = out.reshape(-1)
    size = oh * ow
    weights = packed.reshape(-1)
    for item in range(lo, hi):
        b, t0 = item // bands, item % bands * band
        t1 = min(t0 + band, oh)
        _fill_band(x, scratch, b, t0, sh, top, left, wp, band_in)
        for r in range(t1 - t0):
            base = r * sh * wp
            ky0, ky1 = _inside_rows(t0 + r, sh, top, h, kh, dh)
            s0, steps = ky0 * per_row, max(ky1 - ky0, 0) * per_row
            for t in range(tiles):
                for ob in range(opad // cb):
                    tile(key, scratch, base + t * per_tile * step, rows[s0:], weights, s0 * opad + ob * cb, opad,
                         flat, (b * o + ob * cb) * size + (t0 + r) * ow + t * per_tile, size, steps,
                         ow - t * per_tile, o - ob * cb)


@jit
def _pack_flipped(weight, packed):
    """packed[(ky O + o) kw + kx, c] = weight[o, c, kh - 1 - ky, kw - 1 - kx], zero past C: the packing of the
    input gradient's kernel (``geometry.gradient_kernel`` of groups 1) read from ``weight`` (O, C, kh, kw),
    each row's channels kh kw apart."""
    o_n, c_n, kh, kw = weight.shape
    for ky in range(kh):
        for o in range(o_n):
            for kx in range(kw):
                dst = packed[(ky * o_n + o) * kw + kx]
                for c in range(c_n):
                    dst[c] = weight[o, c, kh - 1 - ky, kw - 1 - kx]
                for c in range(c_n, packed.shape[1]):
                    dst[c] = 0.0


# the weight's rows (one output channel's C x kh x kw taps) a multiple of this many bytes apart fall into a
# few of L1's sets, so the transposing copy of _pack, which reads down the output channels, missed on every
# read: it first copies them to rows a line longer (128 -> 64 4x4 kernels 371 -> 83 us, 64 -> 256 2x2 185 ->
# 32; 128 -> 256 1x1 21 -> 16; the other shapes within 2 us either way)
_ALIASED_ROWS = 512


def _pack(weight, cb, flipped=False):
    """(O, C, kh, kw) -> (kh*C*kw, O rounded up to cb): row s = (ky, c, kx) holds every output
    channel's weight, zero past O (kernel rows outermost, so the taps of the kernel rows an output row
    reads inside the input are one run of rows). ``flipped``: the packing of ``gradient_kernel(weight,
    1)``, made from ``weight`` in one pass (through NumPy, the flip's copy and the transposed one took 39 us
    of a 7 x 1 64 -> 64 input gradient at batch 1 that ran 0.33 ms, this 14)."""
    weight = np.ascontiguousarray(weight, dtype=np.float32)
    o, c, kh, kw = weight.shape
    if flipped:
        packed = np.empty((o * kh * kw, -(-c // cb) * cb), dtype=np.float32)
        _pack_flipped(weight, packed)
        return packed
    taps = c * kh * kw
    packed = np.empty((taps, -(-o // cb) * cb), dtype=np.float32)
    packed[:, o:] = 0.0
    if taps * weight.itemsize % _ALIASED_ROWS == 0:
        rows = np.empty((o, taps + 64 // weight.itemsize), dtype=np.float32)
        rows[:, :taps] = weight.reshape(o, taps)
        weight = rows[:, :taps].reshape(o, c, kh, kw)
    np.copyto(packed.reshape(kh, c, kw, -1)[..., :o], weight.transpose(2, 1, 3, 0))
    return packed


@jit
def _step_offsets(kh, channels, kw, row_step, channel_step, tap_step):
    """The scratch offset of each (ky, channel, kx) step, in the packed weights' row order (through
    NumPy's broadcasting, 5 us of a 0.25 ms conv)."""
    rows = np.empty(kh * channels * kw, dtype=np.int64)
    i = 0
    for ky in range(kh):
        for c in range(channels):
            for kx in range(kw):
                rows[i] = ky * row_step + c * channel_step + kx * tap_step
                i += 1
    return rows


def _correlate(x, weight, stride, dilation, pads, flipped=False):
    """The correlation of x (B, C, H, W) with weight (O, C, kh, kw) at ``stride``, x zero-padded by
    pads ((top, bottom), (left, right)); a negative pad crops. ``flipped``: with ``gradient_kernel(weight,
    1)`` instead (weight (C, O, kh, kw))."""
    n, c, h, w = x.shape
    o, kh, kw = weight.shape[1 if flipped else 0], weight.shape[2], weight.shape[3]
    (top, bottom), (left, right) = pads
    (sh, sw), (dh, dw) = stride, dilation
    wp = w + left + right
    oh, ow = conv_output_size(h, kh, sh, dh, top, bottom), conv_output_size(w, kw, sw, dw, left, right)
    out = np.empty((n, o, max(oh, 0), max(ow, 0)), dtype=np.float32)
    if out.size == 0:
        return out
    kind, (m, n_), _ = tiles(o, ow, sw)
    # bands of output rows: a scratch block within BAND_BYTES, and at least two items a lane
    band = max(1, min(oh, (BAND_BYTES // (4 * max(c, 1) * wp) - dh * (kh - 1) - 1) // sh + 1))
    band = min(band, max(1, -(-oh * n // (2 * lanes.shares()))))
    bands = -(-oh // band)
    band_in = (band - 1) * sh + dh * (kh - 1) + 1
    rows = _step_offsets(kh, c, kw, dh * wp, band_in * wp, dw)
    if kind == "positions":
        packed, key = _pack(weight, n_, flipped), position_key(m, n_)
    else:
        packed, key = _pack(weight, n_ * VEC, flipped), tile_key(m, n_, sw)
    args = (np.ascontiguousarray(x), packed, rows, out, sh, top, left, wp, kh, dh, band, band_in, bands, key)
    # on this thread below LANE_FLOPS, else one range of (image, band) items per lane
    by_size(_run, 2 * out.size * c * kh * kw, n * bands, *args, grain=lanes.LANE_FLOPS)
    return out


def direct_forward(x, weight, stride, dilation, groups, pads=None):
    return _correlate(x, weight, stride, dilation, zero_pads(pads, 2))


def direct_backward_input(grad_out, weight, in_shape, stride, dilation, groups, pads=None):
    # the full correlation of grad_out, cropped to the input: padded by reach - before at the start and
    # at the end by what makes in_shape (pixels past the last window, from output_padding, read zeros)
    pads = zero_pads(pads, 2)
    reach = [d * (k - 1) for d, k in zip(dilation, weight.shape[2:])]
    return _correlate(grad_out, weight, (1, 1), dilation,
                      tuple((r - b, n - g + b) for r, (b, _), n, g in zip(reach, pads, in_shape, grad_out.shape[2:])),
                      flipped=True)


# The weight gradient on the same tiles: dw[o, c, ky, kx] = sum over the output positions (n, p, q) of
# grad_out[n, o, p, q] x[n, c, p sh + ky dh, q sw + kx dw] (x zero-padded). A tile's positions are mr
# taps of one kernel row (kx0.., read dw apart in the padded input row), its channels nv * VEC output
# channels, and its reduction steps the output positions: per step it broadcasts the mr input values the
# taps read at that position (offset rows[s]) and multiplies them by the output gradient's channels
# there, a row of grad_out laid out positions x channels. No columns: the input is read in place (one
# zero-padded copy of a chunk of images) and each sum is one position after another, in order.

# output positions a tile sums before its sums are added into the gradient: sums of a few hundred
# products, then of those (a tile summing LeNet-5's 6400 positions of a batch of 64 in one run was 6x
# im2col's float32 error, 2.2e-6 against 3.6e-7 of the largest gradient)
WEIGHT_BLOCK = 256


# the most bytes of padded input and laid-out output gradient a chunk of images holds (within the workspace
# limit). Each chunk costs its copies and a hand-off to the lanes, 20-30 us: 3x3 16 -> 16 at 28 px, batch
# 32, ran 1.66 / 1.49 / 1.39 / 1.29 ms in chunks of 256 KiB / 512 KiB / 1 MiB / 2 MiB (LeNet-5's 6 -> 16,
# one chunk from 1 MiB, 0.35 ms)
WEIGHT_CHUNK_BYTES = 1 << 21


def weight_chunk(batch, input_per_image, gradient_per_image):
    """Images per chunk of the weight gradient (elements a padded input image and a laid-out gradient
    image hold): at least one."""
    per_image = 4 * (input_per_image + gradient_per_image)
    return max(1, min(batch, min(workspace.limit(), WEIGHT_CHUNK_BYTES) // per_image))


@jit_inline
def _item(item, oblocks, blocks, across):
    """The (block of output channels, block of taps along, tap across, input channel) of a weight
    gradient's item: the output-channel block varies fastest, the input channel slowest."""
    ob, rest = item % oblocks, item // oblocks
    kb, rest = rest % blocks, rest // blocks
    return ob, kb, rest % across, rest // across


@jit
def _weight_run(xp, gt, rows, out, channels, kh, kw, dh, wp, plane, key, lo, hi):
    """Items lo..hi of (input channel, kernel row, block of mr taps, block of output channels), each tile
    summing the positions of rows (their offsets into xp, the padded images flat; gt: (positions,
    output channels rounded up to the tiles'), the output gradient) WEIGHT_BLOCK at a time, the blocks'
    sums then added in order; out: (O, C, kh, kw) flat."""
    mr, cb, step = len(key[0]), len(key[1]) * VEC, len(key[2])
    o, opad = out.shape[0], gt.shape[1]
    blocks, oblocks = (kw + mr - 1) // mr, opad // cb
    ldc = channels * kh * kw
    flat, g = out.reshape(-1), gt.reshape(-1)
    part = np.empty(cb * mr, dtype=np.float32)
    total = rows.shape[0]
    # a block of positions at a time, all items on it: every item reads the block's gradient rows from L1
    # (item by item over all positions, each item streamed the whole chunk's gradient; the two orders
    # timed alike, within the machine's noise, on LeNet-5's conv and on 3x3 convs of 16-32 channels)
    for s0 in range(0, total, WEIGHT_BLOCK):
        for item in range(lo, hi):
            ob, kb, ky, ci = _item(item, oblocks, blocks, kh)
            kx0 = kb * mr
            taps, outs = min(mr, kw - kx0), min(cb, o - ob * cb)
            base = ob * cb * ldc + (ci * kh + ky) * kw + kx0
            tile(key, xp, ci * plane + ky * dh * wp + kx0 * step, rows[s0:], g, (s0 * opad) + ob * cb, opad,
                 part, 0, mr, min(WEIGHT_BLOCK, total - s0), taps, outs)
            for j in range(outs):
                at = base + j * ldc
                for i in range(taps):
                    flat[at + i] = part[j * mr + i] if s0 == 0 else flat[at + i] + part[j * mr + i]


@jit
def _positions_by_channel(grad_out, b0, gt):
    # gt[(b - b0) P + p, o] = grad_out[b, o].flat[p] for the images of gt (P positions an image): each
    # image's P x O block is written within the caches (NumPy's copy of the transposed view took 0.04-0.11
    # ms for LeNet-5's 64 x 16 x 10 x 10)
    o = grad_out.shape[1]
    positions = grad_out.shape[2] * grad_out.shape[3]
    for b in range(gt.shape[0] // positions):
        image = grad_out[b0 + b].reshape(o, positions)
        block = gt[b * positions:(b + 1) * positions]
        for ch in range(o):
            src = image[ch]
            for p in range(positions):
                block[p, ch] = src[p]


@functools.lru_cache(maxsize=16)
def _position_offsets(batch, image, rows, cols, row_step, col_step):
    """The offset of each output position (image, row, column) into the padded images: read-only (a
    chunk's positions: up to WEIGHT_CHUNK_BYTES / 64 of them, 256 KiB an entry, unless one image has more)."""
    offsets = (np.arange(batch)[:, None, None] * image + np.arange(rows)[:, None] * row_step
               + np.arange(cols) * col_step).reshape(-1).astype(np.int64)
    offsets.flags.writeable = False
    return offsets


def weight_tiles(out_channels, kernel, ow, sw):
    """The tiles of a weight gradient of a (kh, kw) ``kernel``: ("reduce", (T, M)) where reduction tiles
    compute fewer products past the output rows' ends, their axis of taps and the last channel than
    channel tiles do past the kernel row and the last channel (rows read at stride 1), else ("channels",
    (mr, nv)); and the products computed per product wanted."""
    kh, kw = kernel
    mr, nv = tile_shape(out_channels, kw)
    cb = nv * VEC
    channels = overshoot(kw, mr) * overshoot(out_channels, cb)
    if sw == 1:
        along = reduce_axis(kernel)[0]
        taps, mc = reduce_shape(out_channels, along)
        reduce = overshoot(ow, VEC) * overshoot(along, taps) * overshoot(out_channels, mc)
        if reduce < channels:
            return "reduce", (taps, mc), reduce
    return "channels", (mr, nv), channels


def reduce_axis(kernel):
    """(taps along, taps across, along the rows) of a reduction tile's kernel taps: a kernel row's, or a
    column's for a k x 1 kernel (whose rows of one tap would load as many vectors as they multiply: 3 x 1
    16 -> 16 at 28 px, batch 32, 1.06 ms against winograd1d's 0.49)."""
    kh, kw = kernel
    return (kh, kw, False) if kw == 1 and kh > 1 else (kw, kh, True)


def direct_backward_weight(x, grad_out, kernel_size, stride, dilation, groups, pads=None):
    """Gradient with respect to the weight of ``kernel_size``, in chunks of images within the workspace
    limit (a padded copy of their input, and for channel tiles their output gradient laid out positions x
    channels), summed in order."""
    (top, bottom), (left, right) = zero_pads(pads, 2)
    # a negative pad (a crop) drops those input rows or columns
    x = x[:, :, max(-top, 0):x.shape[2] - max(-bottom, 0), max(-left, 0):x.shape[3] - max(-right, 0)]
    pads = tuple((max(b, 0), max(a, 0)) for b, a in ((top, bottom), (left, right)))
    grad_out = np.ascontiguousarray(grad_out)
    kind, shape, _ = weight_tiles(grad_out.shape[1], tuple(kernel_size), grad_out.shape[3], stride[1])
    gradient = _reduce_weight if kind == "reduce" else _channel_weight
    return gradient(x, grad_out, tuple(kernel_size), tuple(stride), tuple(dilation), pads, shape)


def _padded_chunk(x, b0, bs, pads, extra):
    """Images b0..b0+bs of x zero-padded by pads, flat, with ``extra`` zeros after them."""
    (top, bottom), (left, right) = pads
    n, c, h, w = x.shape
    hp, wp = h + top + bottom, w + left + right
    xp = np.empty(bs * c * hp * wp + extra, dtype=np.float32)
    xp[bs * c * hp * wp:] = 0.0
    # contiguous images (a crop, a negative pad, leaves a view) as _pad_into's one type
    _pad_into(np.ascontiguousarray(x[b0:b0 + bs]), top, left, xp[:bs * c * hp * wp].reshape(bs, c, hp, wp))
    return xp


@jit
def _pad_into(x, top, left, xp):
    """xp (B, C, Hp, Wp) = x zero-padded by top rows and left columns (and the rest at the end)."""
    n, c, h, w = x.shape
    hp, wp = xp.shape[2], xp.shape[3]
    flat = xp.reshape(-1)
    right = np.uint64(wp - left - w)
    for p in range(n * c):
        b, ci = p // c, p % c
        base = np.uint64(p * hp * wp)
        for e in range(np.uint64(top * wp)):
            flat[base + e] = 0.0
        if left == 0 and right == 0:  # the rows are one run
            plane = x[b, ci].reshape(-1)
            at = base + np.uint64(top * wp)
            for e in range(np.uint64(h * w)):
                flat[at + e] = plane[e]
        else:
            for i in range(h):
                line = x[b, ci, i]
                at = base + np.uint64((i + top) * wp)
                for e in range(np.uint64(left)):
                    flat[at + e] = 0.0
                at += np.uint64(left)
                for j in range(np.uint64(w)):
                    flat[at + j] = line[j]
                at += np.uint64(w)
                for e in range(right):
                    flat[at + e] = 0.0
        for e in range(np.uint64((top + h) * wp), np.uint64(hp * wp)):
            flat[base + e] = 0.0


def _channel_weight(x, grad_out, kernel_size, stride, dilation, pads, shape):
    n, c, h, w = x.shape
    o, oh, ow = grad_out.shape[1:]
    kh, kw = kernel_size
    (sh, sw), (dh, dw) = stride, dilation
    hp, wp = h + sum(pads[0]), w + sum(pads[1])
    mr, nv = shape
    cb = nv * VEC
    opad = -(-o // cb) * cb
    plane = hp * wp
    items = c * kh * (-(-kw // mr)) * (opad // cb)
    key = tile_key(mr, nv, dw)

    def chunk(b0, bs, part):
        # the last taps of a tile read up to mr * dw past the last position's window
        xp = _padded_chunk(x, b0, bs, pads, mr * dw + wp)
        gt = np.empty((bs * oh * ow, opad), dtype=np.float32)
        gt[:, o:] = 0.0
        _positions_by_channel(grad_out, b0, gt)
        rows = _position_offsets(bs, c * plane, oh, ow, sh * wp, sw)
        by_size(_weight_run, 2 * bs * oh * ow * items * mr * cb, items, xp, gt, rows, part, c, kh, kw, dh, wp,
                plane, key, grain=lanes.LANE_FLOPS)

    return _sum_chunks((o, c, kh, kw), n, weight_chunk(n, c * plane, oh * ow * opad), chunk)


def _sum_chunks(shape, n, batch, chunk):
    """The weight gradient of ``shape`` summed over chunks of ``batch`` images in order: ``chunk(b0, bs,
    part)`` writes that of images b0..b0+bs into part."""
    out = np.zeros(shape, dtype=np.float32)
    for b0 in range(0, n, batch):
        part = out if b0 == 0 else np.empty_like(out)
        chunk(b0, min(batch, n - b0), part)
        if b0:
            out += part
    return out


# The weight gradient on reduction tiles (``microkernel.reduce_tile``), where the rows are read at stride 1:
# a tile is T taps of a kernel row (of its column for a k x 1 kernel, ``reduce_axis``) by M output
# channels, each of its sums a vector register of VEC partial sums over VEC consecutive positions of an
# output row a step (the input and the output gradient both loaded as vectors, nothing broadcast; the
# output gradient read in place). Where few output channels leave channel tiles' lanes empty: LeNet-5's
# 1 -> 6 5x5 at batch 64 0.16 ms against depthwise's 0.26, VGG's 3 -> 64 3x3 at batch 32 1.0 against
# im2col's 2.2, 16 -> 16 3x3 at 28 px and batch 32 1.1 against winograd_f4's 1.9.

# vector steps a tile sums before adding its sums into the gradient (each lane then sums at most this many
# products of its own before the block's are added in)
REDUCE_BLOCK = 64
# a reduction tile's registers: its T*M sums, T input vectors and M gradient vectors at most (two of the
# vector unit's left for the mask and the addresses' arithmetic)
REDUCE_REGISTERS = microkernel.registers() - 2


def reduce_shape(out_channels, kw):
    """(T, M) of reduction tiles: the taps of a kernel row (in equal blocks of at most 7), and the output
    channels whose blocks waste the fewest (the most on ties) within REDUCE_REGISTERS."""
    taps = -(-kw // -(-kw // 7))
    fits = [m for m in range(1, out_channels + 1) if taps * m + taps + m <= REDUCE_REGISTERS] or [1]
    return taps, min(fits, key=lambda m: (-(-out_channels // m) * m, -m))


@functools.lru_cache(maxsize=16)
def _reduce_table(batch, x_image, g_image, runs, run, run_x, run_g):
    """Vector steps (x offset, gradient offset, count) over ``batch`` images of ``runs`` runs of ``run``
    positions each (a run starts run_x into an image's x and run_g into its gradient further than the last)."""
    per = -(-run // VEC)
    v = np.arange(per)
    table = np.empty((batch, runs, per, 3), dtype=np.int64)
    table[..., 0] = (np.arange(batch)[:, None, None] * x_image + np.arange(runs)[:, None] * run_x + v * VEC)
    table[..., 1] = (np.arange(batch)[:, None, None] * g_image + np.arange(runs)[:, None] * run_g + v * VEC)
    table[..., 2] = np.minimum(VEC, run - v * VEC)
    table = table.reshape(-1, 3)
    table.flags.writeable = False
    return table


@jit
def _reduce_run(xp, gw, table, out, along, across, x_along, x_across, out_along, out_across, plane, gplane, key,
                lo, hi):
    """Items lo..hi of (input channel, tap across, block of T taps along, block of M output channels), each
    summing every step of ``table``; a block of REDUCE_BLOCK steps at a time, all items on it before the
    next (the block's input and gradient stay in L1), each item's block sums added in order. Tap (a, t)
    reads x_across * a + x_along * t into an input channel's padded plane and goes to out_across * a +
    out_along * t of its kernel; out: (O, C, kh, kw)."""
    taps, mc = len(key[0]), len(key[1])
    o = out.shape[0]
    kernel = out.shape[2] * out.shape[3]
    ldc = out.shape[1] * kernel
    blocks, oblocks = (along + taps - 1) // taps, (o + mc - 1) // mc
    part = np.zeros((hi - lo) * mc * taps * VEC, dtype=np.float32)
    flat = out.reshape(-1)
    total = table.shape[0]
    for s0 in range(0, total, REDUCE_BLOCK):
        for item in range(lo, hi):
            ob, kb, a, ci = _item(item, oblocks, blocks, across)
            reduce_tile(key, xp, ci * plane + a * x_across + kb * taps * x_along, x_along, gw, ob * mc * gplane,
                        gplane, table[s0:], min(REDUCE_BLOCK, total - s0), part, (item - lo) * mc * taps * VEC, taps)
    for item in range(lo, hi):
        ob, kb, a, ci = _item(item, oblocks, blocks, across)
        base = ob * mc * ldc + ci * kernel + a * out_across
        for j in range(min(mc, o - ob * mc)):
            for t in range(min(taps, along - kb * taps)):
                lanes_at = ((item - lo) * mc * taps + j * taps + t) * VEC
                lanes_sum = np.float32(0.0)
                for i in range(VEC):
                    lanes_sum += part[lanes_at + i]
                flat[base + j * ldc + (kb * taps + t) * out_along] = lanes_sum


def _reduce_weight(x, grad_out, kernel_size, stride, dilation, pads, shape):
    n, c, h, w = x.shape
    o, oh, ow = grad_out.shape[1:]
    kh, kw = kernel_size
    (sh, _), (dh, dw) = stride, dilation
    hp, wp = h + sum(pads[0]), w + sum(pads[1])
    taps, mc = shape
    opad = -(-o // mc) * mc
    plane = hp * wp
    along, across, in_rows = reduce_axis(kernel_size)
    # the taps along a row dw apart, along a column dh rows
    x_along, x_across = (dw, dh * wp) if in_rows else (dh * wp, dw)
    out_along, out_across = (1, kw) if in_rows else (kw, 1)
    items = c * across * -(-along // taps) * (opad // mc)
    key = reduce_key(taps, mc)

    def chunk(b0, bs, part):
        # loads are masked past a row's last position; a last block of taps past the kernel's reads up
        # to taps * x_along further
        xp = _padded_chunk(x, b0, bs, pads, taps * x_along)
        # the gradient read in place, unless the last block of channels reaches past it
        if opad == o:
            gw = grad_out[b0:b0 + bs].reshape(-1)
        else:
            gw = np.zeros((bs, opad, oh, ow), dtype=np.float32)
            gw[:, :o] = grad_out[b0:b0 + bs]
            gw = gw.reshape(-1)
        table = _reduce_table(bs, c * plane, opad * oh * ow, oh, ow, sh * wp, ow)
        by_size(_reduce_run, 2 * bs * oh * ow * o * c * kh * kw, items, xp, gw, table, part, along, across,
                x_along, x_across, out_along, out_across, plane, oh * ow, key, grain=lanes.LANE_FLOPS)

    return _sum_chunks((o, c, kh, kw), n, weight_chunk(n, c * plane, oh * ow * opad), chunk)
