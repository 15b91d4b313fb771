"""Winograd convolution F(2x2,3x3) and F(4x4,3x3) for 2-D 3x3 stride-1 convs (Lavin & Gray, 2015).

An m x m output tile of a 3x3 correlation is ``A^T [(G w G^T) . (B^T d B)] A`` over an
(m+2) x (m+2) input tile d: (m+2)^2 multiplies instead of 9 m^2, i.e. 2.25x fewer for m = 2 and 4x
fewer for m = 4. Across channels the elementwise product becomes (m+2)^2 independent GEMMs
(O x C) @ (C x tiles), one batched ``np.matmul``, which is where the time goes; the transforms run
near memory speed:

- ``B^T d B`` and ``A^T M A`` are written out with their small integer coefficients (shared sums,
  no loop over a coefficient matrix), and every loop runs over all tiles of a plane with unit
  stride, so it vectorises (a tile row alone, 14 tiles at 56 pixels, is too short): each
  (image, channel) plane is first gathered into ``xs[j, i, tile]`` (pixel j of the tile's columns,
  pixel i of its rows), and its transform lands in ``V[xi, channel, tile]``, the layout the GEMM
  reads, as (m+2)^2 contiguous runs. Measured on one thread of the AVX-512 machine, F(4x4,3x3):
  26-36 ns per plane and tile in, 19-30 ns out (28 to 112 px planes), the 64 x 64 GEMMs at 70-110
  GFLOP/s.
- planes of few tiles (up to ``CHANNELS_MINOR_TILES``; an 8x8 plane has 4) are too short for that:
  their transforms run channels-minor instead (``winograd_channels``), ``V[xi, tile, channel]`` and
  the GEMMs ``V @ U^T``, same sums in the same order. Grouped convs keep the planes layout.
- zero padding, the zeros that complete the last tiles and the output crop happen in the gather
  and the scatter: no padded copy of the input and no cropped copy of the output.
- dilation d: a dilated 3x3 conv is d*d undilated ones on the polyphase sub-images
  ``x[..., a::d, b::d]`` whose outputs interleave into ``out[..., a::d, b::d]``. The gather reads a
  phase with step d and the scatter writes it with step d, and the tiles of all phases go into the
  same GEMMs (they share the transformed kernel).

Work is cut into chunks of (image, phase) items so the transformed buffers ``V`` and ``M`` stay
within the workspace limit. backward_input is the same Winograd conv of the gradient, read with
offsets that put 2 (dilated: 2 d) rows of zeros around it, with the flipped, transposed kernel.
backward_weight transforms x (as forward) and the gradient (``A g A^T``, the adjoint of the output
transform) and sums ``dU = sum over tiles (A g A^T) V^T`` with GEMMs over the tiles.

Rounding: the transforms have entries up to 8 (m = 4), so float32 results carry a larger error than
direct convolution (the README gives measured figures; all three passes of F(4x4,3x3) measure
5e-6 to 1e-5 of the largest value at 64 channels); float64 is unaffected in practice.
"""
import numpy as np

from . import lanes, winograd_channels, winograd_transforms, workspace
from .geometry import gradient_kernel, zero_pads
from .winograd_channels import weight_gradient_transform, weight_transform
from .winograd_transforms import MATRICES


def requirement(g):
    if g.rank != 2 or g.kernel != (3, 3):
        return f"needs a 2-D 3x3 kernel; kernel is {g.kernel}"
    if g.stride != (1, 1):
        return f"needs stride 1; stride={g.stride}"
    if g.dilation[0] != g.dilation[1]:
        return f"needs the same dilation on both axes; dilation={g.dilation}"
    return None


# V and M of a chunk stay near the caches below this size (one thread, case a: 1-8 MiB chunks ran
# 10 % faster than 64 MiB ones); the workspace limit, when lower, still decides. Each lane of
# lanes.py holds one chunk's V and M at a time, so the budget is shared among the lanes
_CHUNK_BYTES = 16 << 20


# tiles of a plane up to which the transforms run channels-minor (winograd_channels): an undilated
# forward or input gradient up to 48 (a 28x28 plane's 49 tiles ran as fast in either layout, a 32x32
# plane's 64 20 % faster in planes: 128 -> 128 at batch 32, 24 against 30 ms); the weight gradient,
# and a dilated conv (whose planes gather reads every d-th pixel), up to 64 (the weight gradient's
# planes layout ran 10-30 % slower at 49 and 64 tiles; dilation 2 at 56 px, 28x28 phases of 49 tiles,
# 64 -> 64 at batch 32: 28 against 25 ms forward)
CHANNELS_MINOR_TILES = 48
CHANNELS_MINOR_TILES_WIDE = 64


def chunks(batch, rows, per_row, shares=None):
    """((b0, b1), (r0, r1)) blocks of work items and of their rows of tiles, each within a lane's share
    of the scratch budget (``workspace.chunks``), at least one per lane when there is enough work;
    winograd1d cuts its images and tile ranges so too. ``shares``: into how many lanes' shares the
    budget is cut (default ``lanes.shares()``)."""
    shares = lanes.shares() if shares is None else shares
    return workspace.chunks(batch, rows, per_row, min(workspace.limit(), _CHUNK_BYTES), lanes=shares)


def item_chunks(items, per_item, shares=None):
    """(k0, k1) chunks of whole work items (``chunks`` with one row per item)."""
    return [items_range for items_range, _ in chunks(items, 1, per_item, shares)]


def weight_gradient_plan(items, per_item, du_bytes, points):
    """How the weight gradient runs within the workspace limit: (mode, item chunks), or None.

    - ``"chunks"``: chunks of items on lanes, each lane's product dU of a chunk summed in chunk
      order; dU and a partial sum per further lane in flight must fit the limit.
    - ``"points"``: the chunks one after the other on every thread (the transforms as parallel
      loops), the (m+2)^2 products of each split among the lanes by Winograd point, each added into
      dU with a scratch of one point: dU and a point per lane must fit. Slower where the first
      fits with several chunks (64 x 64 channels at 32 px: 24 against 22 ms), but within 8 MiB it
      takes VGG's 8x8 layers, which the first cannot (256 x 256 channels: dU of F(4x4,3x3) alone is
      9.4 MiB, of F(2x2,3x3) 4.2 MiB and 13 MiB with the partials): F(2x2,3x3) there 15 ms, im2col
      33-37. Also for a single chunk (batch 1) on several threads, whose products the first plan
      runs on BLAS's threads, handing the cores over per GEMM: 3x3 64->128 @56 at batch 1, forward
      and backward 25 ms that way and 15 ms by points.
    Each point's sum runs over the chunks in order, and the plan and its chunks follow the process's
    thread count (``lanes.shares()``), not a call's: the bits do not depend on the threads in use.
    """
    threads = lanes.shares()
    cut = item_chunks(items, per_item)
    if du_bytes * (1 + min(len(cut) - 1, threads)) <= workspace.limit() and (len(cut) > 1 or threads == 1):
        return "chunks", cut
    if du_bytes + threads * (du_bytes // points) <= workspace.limit():
        return "points", item_chunks(items, per_item, shares=1)
    return None


def bands(rows, tiles_h, m, d, items):
    """Output row ranges (p0, p1) the chunks cover: all rows, or, for fewer items than lanes (an
    undilated conv at batch 1), one band of whole tile rows per lane, so each lane has work."""
    share = -(-tiles_h // lanes.shares())
    if items >= lanes.shares() or d != 1 or share == tiles_h:
        return [(0, rows)]
    return [(p0, min(rows, p0 + share * m)) for p0 in range(0, rows, share * m)]


def channels_minor(tiles, groups, weight_gradient=False, dilation=1):
    """Whether to lay the transforms out channels-minor (``winograd_channels``): for ungrouped convs
    with planes of up to CHANNELS_MINOR_TILES tiles (CHANNELS_MINOR_TILES_WIDE for the weight gradient
    or a dilated conv)."""
    limit = CHANNELS_MINOR_TILES_WIDE if weight_gradient or dilation > 1 else CHANNELS_MINOR_TILES
    return groups == 1 and tiles <= limit


def _conv(x, weight, groups, m, dilation, row_shift, col_shift, out, minor=None):
    """out[n, o, P, Q] = sum_{c, kh, kw} weight[o, c, kh, kw] * x[n, c, row_shift + P + d*kh, col_shift + Q + d*kw]
    (x zero outside its bounds), by Winograd F(m x m, 3x3) on the d*d phases of out; returns out.
    ``minor``: the channels-minor layout (None: ``channels_minor`` decides; grouped convs never take it)."""
    n, c = x.shape[:2]
    o, cg = weight.shape[:2]
    og = o // groups
    d = dilation
    alpha = m + 2
    # each phase is at most ceil(P / d) x ceil(Q / d); all phases get that many tiles (the gather
    # reads zeros, the scatter crops) so their tiles line up in one GEMM
    tiles_h = -(-(-(-out.shape[2] // d)) // m)
    tiles_w = -(-(-(-out.shape[3] // d)) // m)
    tiles = tiles_h * tiles_w
    minor = channels_minor(tiles, groups, dilation=d) if minor is None else minor and groups == 1
    if minor:
        # U as (points, C, O), the GEMMs' right operand itself: through a transposed view of (points, O, C)
        # they ran at 55-87 GFLOP/s a thread against 76-113 (3x3 dilation 2 and 4, 64 -> 64 at 56 px, batch
        # 32: 1.15-1.17x the whole forward; 256 -> 256 at 8 px 1.14x)
        u_t = winograd_channels.kernel_transform(weight, MATRICES[m][1], MATRICES[m][1], x.dtype)
    else:
        u = np.empty((alpha * alpha, o, cg), dtype=x.dtype)
        weight_transform(np.ascontiguousarray(weight), MATRICES[m][1], u)
        u = u.reshape(alpha * alpha, groups, og, cg)

    def work(_, job, lane):
        (k0, k1), (p0, p1) = job
        # a band's tiles: tile rows p0 / m on (undilated), cropped at its last row
        th = tiles_h if (p0, p1) == (0, out.shape[2]) else -(-(p1 - p0) // m)
        columns = (k1 - k0) * th * tiles_w
        v = lane.scratch("v", alpha * alpha * c * columns, x.dtype)
        prod = lane.scratch("m", alpha * alpha * o * columns, x.dtype)
        if minor:
            v, prod = v.reshape(alpha * alpha, columns, c), prod.reshape(alpha * alpha, columns, o)
            winograd_channels.input_transform(x, m, k0, k1, d, row_shift + p0, col_shift, th, tiles_w, v,
                                              lane.parallel)
            # (alpha^2, T, C) @ (alpha^2, C, O) -> (alpha^2, T, O)
            np.matmul(v, u_t, out=prod)
            winograd_channels.output_transform(prod, m, k0, k1, d, th, tiles_w, out, lane.parallel, p0)
            return
        v = v.reshape(alpha * alpha, c, columns)
        winograd_transforms.input_transform(x, m, k0, k1, d, row_shift + p0, col_shift, th, tiles_w, v,
                                            lane.parallel)
        prod = prod.reshape(alpha * alpha, groups, og, columns)
        # (alpha^2, G, Og, Cg) @ (alpha^2, G, Cg, T) -> (alpha^2, G, Og, T)
        np.matmul(u, v.reshape(alpha * alpha, groups, cg, columns), out=prod)
        winograd_transforms.output_transform(prod.reshape(alpha * alpha, o, columns), m, k0, k1, d, th, tiles_w,
                                             out, lane.parallel, p0)

    items = n * d * d
    chunks = item_chunks(items, alpha * alpha * tiles * (c + o) * x.itemsize)
    lanes.run([(chunk, band) for chunk in chunks for band in bands(out.shape[2], tiles_h, m, d, items)], work,
              size=items * alpha * alpha * tiles * (c + o))
    return out


def winograd_forward(x, weight, stride, dilation, groups, tile=4, pads=None, minor=None):
    """3x3 stride-1 conv of x zero-padded by ``pads`` (read in place), any equal dilation d; ``minor``
    forces the channels-minor layout on (True) or off (False)."""
    (top, bottom), (left, right) = zero_pads(pads, 2)
    d = int(dilation[0])
    out_shape = tuple(n + b + a - 2 * d for n, (b, a) in zip(x.shape[2:], ((top, bottom), (left, right))))
    out = np.empty((x.shape[0], weight.shape[0]) + out_shape, dtype=x.dtype)
    return _conv(np.ascontiguousarray(x), weight, groups, tile, d, -top, -left, out, minor)


def winograd_backward_input(grad_out, weight, in_shape, stride, dilation, groups, tile=4, pads=None, minor=None):
    """Gradient with respect to x of spatial size ``in_shape`` (zero-padded by ``pads`` in the forward)."""
    (top, _), (left, _) = zero_pads(pads, 2)
    d = int(dilation[0])
    cg = weight.shape[1]
    # x[R] received grad_out[P] * weight[k] for R + top = P + d*k: a correlation of grad_out, read from
    # row R + top - 2d on, with the flipped kernel transposed to (G*Cg, Og, 3, 3)
    w_t = gradient_kernel(weight, groups)
    out = np.empty((grad_out.shape[0], groups * cg) + tuple(int(s) for s in in_shape), dtype=grad_out.dtype)
    return _conv(np.ascontiguousarray(grad_out), w_t, groups, tile, d, top - 2 * d, left - 2 * d, out, minor)


def winograd_backward_weight(x, grad_out, kernel_size, stride, dilation, groups, tile=4, pads=None, minor=None):
    """Gradient with respect to the 3x3 weight: M = U V per tile is linear in U = G w G^T, so
    dU = sum over tiles of (A g A^T) V^T, (alpha^2) GEMMs (O x tiles) @ (tiles x C) whose long inner
    dimension suits BLAS, and dw = G^T dU G. The products run as ``weight_gradient_plan`` says
    (over the limit even so, as the cheaper of the two: only a forced call gets there)."""
    (top, _), (left, _) = zero_pads(pads, 2)
    d, m = int(dilation[0]), tile
    alpha = m + 2
    points = alpha * alpha
    n, c = x.shape[:2]
    o = grad_out.shape[1]
    cg, og = c // groups, o // groups
    tiles_h = -(-(-(-grad_out.shape[2] // d)) // m)
    tiles_w = -(-(-(-grad_out.shape[3] // d)) // m)
    tiles = tiles_h * tiles_w
    minor = channels_minor(tiles, groups, weight_gradient=True, dilation=d) if minor is None else minor and groups == 1
    x, grad_out = np.ascontiguousarray(x), np.ascontiguousarray(grad_out)
    du = np.empty((points, groups, og, cg), dtype=x.dtype)
    items, item_elements = n * d * d, points * tiles * (c + o)  # an item's V and M
    per_item, elements = item_elements * x.itemsize, items * item_elements
    mode, cut = weight_gradient_plan(items, per_item, du.nbytes, points) or \
        ("chunks", item_chunks(items, per_item))

    def operands(chunk, lane):
        """The chunk's transforms in the lane's scratch, as the products' operands (points, G, Og, T)
        and (points, G, T, Cg)."""
        k0, k1 = chunk
        columns = (k1 - k0) * tiles
        v = lane.scratch("v", points * c * columns, x.dtype)
        gy = lane.scratch("g", points * o * columns, x.dtype)
        if minor:
            v, gy = v.reshape(points, columns, c), gy.reshape(points, columns, o)
            winograd_channels.input_transform(x, m, k0, k1, d, -top, -left, tiles_h, tiles_w, v, lane.parallel)
            winograd_channels.grad_transform(grad_out, m, k0, k1, d, tiles_h, tiles_w, gy, lane.parallel)
            return gy.transpose(0, 2, 1)[:, None], v[:, None]
        v, gy = v.reshape(points, c, columns), gy.reshape(points, o, columns)
        winograd_transforms.input_transform(x, m, k0, k1, d, -top, -left, tiles_h, tiles_w, v, lane.parallel)
        winograd_transforms.grad_transform(grad_out, m, k0, k1, d, tiles_h, tiles_w, gy, lane.parallel)
        return gy.reshape(points, groups, og, columns), v.reshape(points, groups, cg, columns).transpose(0, 1, 3, 2)

    if mode == "chunks":
        def work(index, chunk, lane):
            a, b = operands(chunk, lane)
            part = lane.scratch("du", du.size, x.dtype).reshape(du.shape) if index else du
            np.matmul(a, b, out=part)  # (points, G, Og, Cg)
            with lane.turn(index):  # chunk 0 wrote du itself; the others add in chunk order
                if index:
                    du[...] += part

        lanes.run(cut, work, ordered=True, size=elements)
    else:
        # a call below lanes.SERIAL_BELOW stays on this thread, its loops serial, as lanes.run keeps it
        small = elements < lanes.SERIAL_BELOW
        here = lanes.Lane(lanes.count() > 1 and not small, None)
        for index, chunk in enumerate(cut):
            a, b = operands(chunk, here)

            def work(_, span, lane, index=index, a=a, b=b):
                for p in range(*span):
                    if index == 0:
                        np.matmul(a[p], b[p], out=du[p])
                    else:
                        part = lane.scratch("du", du[p].size, x.dtype).reshape(du[p].shape)
                        np.matmul(a[p], b[p], out=part)
                        du[p] += part

            lanes.run(lanes.ranges(points), work, size=0 if small else None)
    # dw[o, c, k, l] = sum_{a, b} G[a, k] dU[a, b, o, c] G[b, l], in float64
    dw = np.empty((o, cg, 3, 3), dtype=x.dtype)
    weight_gradient_transform(du.reshape(points, o, cg), MATRICES[m][1], dw)
    return dw
