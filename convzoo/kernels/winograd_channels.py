"""The Numba kernels of ``winograd.py`` in the channels-minor layout, for planes of few tiles.

``winograd_transforms`` runs each loop over the tiles of one (image, channel) plane; an 8x8 plane has
4 tiles of F(4x4,3x3), too few to vectorise, and its per-plane costs (the gather's set-up, 36 runs of
4 values a plane) took 12 ms of a 23 ms forward of VGG's 256 -> 256 layer at batch 32. Here each
(image, phase) item is first copied channels-last into a small scratch ``p[row, col, channel]`` (zero
outside the image: the padding and the zeros that complete the last tiles), and every transform runs
over the channels with unit stride, one tile at a time. The transformed input is
``V[xi, tile, channel]`` and the product ``M[xi, tile, out channel]``: the GEMMs are
``V (tiles x C) @ U^T (C x O)`` per xi, so the output transform also reads runs of channels, and its
tiles go through a channels-last scratch ``q`` back into the NCHW output, cropped.

``xi = 6 * xi_row + xi_col`` (4 * ... for F(2x2,3x3)), as in ``winograd_transforms``. The kernel's
transforms are here too, each in float64 (G has entries like 1/6) on both threads for wide layers:
``G w G^T`` as (xi, O, C) for the planes layout (``weight_transform``) and, for the weight gradient of
both, ``G^T dU G`` back to the 3x3 kernel (256 x 256 channels: U is 9.4 MiB for F(4x4,3x3), and G^T dU G
through NumPy's tensordot, float64 copies and transposes had taken 16 ms of a 36 ms weight gradient); and
``G_h w G_w^T`` as (xi, C, O), the GEMMs' right operand in this layout, for the 3x3 kernels here and for
``winograd2d``'s kernels of any size and stride (``kernel_transform``, and its adjoint).
"""
import functools

import numpy as np

from .elementwise import by_size
from .jit import jit, jit_inline, jit_parallel, prange
from .winograd_transforms import _a4, _a6, _at4, _at6, _bt4, _bt6, _item


# channels a transposing copy (``_load``, ``_store``) moves per pass over the pixels: a pass fills (or
# reads) one 64-byte line of a channels-last scratch per pixel, where channel by channel each pass had
# touched every line of an 18 x 18 x 64 scratch (83 KiB, twice L1). With the column phases of a dilated
# conv copied in one pass over its rows (each input line read once, not once a phase), 3x3 dilation 4,
# 64 -> 64 at 56 px, batch 32, one process alternating: forward 31.8 -> 28.6 ms, input gradient 33.1 ->
# 30.8, weight gradient 38.2 -> 32.2 (dilation 2, and 256 channels at 8 px, 0.97-1.09x); same bits
_COPY_CHANNELS = 16
GATHER, SCATTER = (0,), ()  # _copy's directions


@jit
def _inside(first, step, count, size):
    """(lo, hi): the k in [lo, hi) are those below ``count`` with 0 <= first + step k < size."""
    lo = 0 if first >= 0 else (step - 1 - first) // step
    hi = min(count, (size - 1 - first) // step + 1) if first < size else 0
    return lo, max(lo, hi)


@jit_inline
def _copy(x, p, n, row0, col0, step_h, step_w, phases_h, phases_w, rows, cols, gather):
    """``_load``'s map between x (NCHW) and the channels-last scratch p for r < rows, s < cols, where that is
    inside x: from x into p where ``gather`` is ``GATHER``, else (``SCATTER``) back. Pixel by pixel, 16
    channels (one line of p) each. The direction is a tuple's length, part of its Numba type, so each
    compiles without the test (tested inside, the scatter of case d4's chunks ran 1.4x slower), inlined
    into both callers (a call of its own, case d2's forward at batch 32 ran 1.1x slower)."""
    channels, height, width = x.shape[1:]
    depth = p.shape[3]
    xf, pf = x.reshape(-1), p.reshape(-1)
    plane, pitch = np.uint64(height * width), np.uint64(phases_h * phases_w)
    for c0 in range(0, channels, _COPY_CHANNELS):
        count = np.uint64(min(channels - c0, _COPY_CHANNELS))
        for i in range(phases_h):
            r0, r1 = _inside(row0 + i, step_h, rows, height)
            for j in range(phases_w):
                for r in range(r0, r1):
                    row = row0 + step_h * r + i
                    for s in range(cols):
                        for e in range(p.shape[0]):
                            col = col0 + e + step_w * s + j
                            if 0 <= col < width:
                                a = np.uint64(((n * channels + c0) * height + row) * width + col)
                                b = np.uint64(((e * p.shape[1] + r) * p.shape[2] + s) * depth
                                              + (c0 * phases_h + i) * phases_w + j)
                                if len(gather):
                                    for c in range(count):
                                        pf[b + pitch * c] = xf[a + plane * c]
                                else:
                                    for c in range(count):
                                        xf[a + plane * c] = pf[b + pitch * c]


@jit
def _load(x, n, row0, col0, step_h, step_w, phases_h, phases_w, p):
    """p[e, r, s, (c phases_h + i) phases_w + j] = x[n, c, row0 + step_h r + i, col0 + e + step_w s + j], zero
    outside x (p: (E, rows, cols, C phases_h phases_w)): channels-last, every step-th pixel (E consecutive
    phases of a dilated conv, one scratch each, their rows read once), or, with phases = step, all the phases
    of a stride as channels (winograd2d's strided convs, E = 1)."""
    p[...] = 0
    _copy(x, p, n, row0, col0, step_h, step_w, phases_h, phases_w, p.shape[1], p.shape[2], GATHER)


@jit
def _store(q, out, n, row0, col0, step_h, step_w, phases_h, phases_w, rows, cols):
    """out[n, o, row0 + step_h r + i, col0 + e + step_w s + j] = q[e, r, s, (o phases_h + i) phases_w + j] for
    r < rows, s < cols, where that is inside out: ``_load``'s inverse (E consecutive phases of a dilated conv,
    or, with phases = step, the input gradient of a strided conv from its phases)."""
    _copy(out, q, n, row0, col0, step_h, step_w, phases_h, phases_w, rows, cols, SCATTER)


@jit
def _input_tiles(p, m, tiles_h, tiles_w, first, v):
    """v[xi, first + t, :] = (B^T d B)[xi] for tile t of the channels-last scratch p."""
    channels = p.shape[2]
    alpha = m + 2
    h = np.empty((alpha, alpha, channels), dtype=p.dtype)
    for th in range(tiles_h):
        for tw in range(tiles_w):
            t, r0, s0 = first + th * tiles_w + tw, m * th, m * tw
            # along each row of the tile (over its columns), then along each column (over its rows); the
            # tile size tested outside the loops over the channels, which then vectorise (a test inside
            # kept them scalar: 680 ns a tile of 64 channels, L1-resident)
            if m == 4:
                for i in range(alpha):
                    row = p[r0 + i]
                    for c in range(channels):
                        h[i, 0, c], h[i, 1, c], h[i, 2, c], h[i, 3, c], h[i, 4, c], h[i, 5, c] = _bt6(
                            row[s0, c], row[s0 + 1, c], row[s0 + 2, c], row[s0 + 3, c], row[s0 + 4, c],
                            row[s0 + 5, c])
                for j in range(alpha):
                    for c in range(channels):
                        (v[j, t, c], v[6 + j, t, c], v[12 + j, t, c], v[18 + j, t, c], v[24 + j, t, c],
                         v[30 + j, t, c]) = _bt6(h[0, j, c], h[1, j, c], h[2, j, c], h[3, j, c], h[4, j, c],
                                                 h[5, j, c])
            else:
                for i in range(alpha):
                    row = p[r0 + i]
                    for c in range(channels):
                        h[i, 0, c], h[i, 1, c], h[i, 2, c], h[i, 3, c] = _bt4(
                            row[s0, c], row[s0 + 1, c], row[s0 + 2, c], row[s0 + 3, c])
                for j in range(alpha):
                    for c in range(channels):
                        v[j, t, c], v[4 + j, t, c], v[8 + j, t, c], v[12 + j, t, c] = _bt4(
                            h[0, j, c], h[1, j, c], h[2, j, c], h[3, j, c])


@jit
def _output_tiles(mm, m, tiles_h, tiles_w, first, q):
    """q[m*th + i, m*tw + j, :] = (A^T M A)[i, j] for every tile of one item (mm: (alpha^2, tiles, O)),
    over the rows xi_row first, as winograd_transforms does (the same bits in both layouts)."""
    channels = q.shape[2]
    alpha = m + 2
    h = np.empty((m, alpha, channels), dtype=q.dtype)
    for th in range(tiles_h):
        for tw in range(tiles_w):
            t, r0, s0 = first + th * tiles_w + tw, m * th, m * tw
            for j in range(alpha):
                for c in range(channels):
                    if m == 4:
                        h[0, j, c], h[1, j, c], h[2, j, c], h[3, j, c] = _at6(
                            mm[j, t, c], mm[6 + j, t, c], mm[12 + j, t, c], mm[18 + j, t, c], mm[24 + j, t, c],
                            mm[30 + j, t, c])
                    else:
                        h[0, j, c], h[1, j, c] = _at4(mm[j, t, c], mm[4 + j, t, c], mm[8 + j, t, c], mm[12 + j, t, c])
            for i in range(m):
                line = q[r0 + i]
                for c in range(channels):
                    if m == 4:
                        line[s0, c], line[s0 + 1, c], line[s0 + 2, c], line[s0 + 3, c] = _at6(
                            h[i, 0, c], h[i, 1, c], h[i, 2, c], h[i, 3, c], h[i, 4, c], h[i, 5, c])
                    else:
                        line[s0, c], line[s0 + 1, c] = _at4(h[i, 0, c], h[i, 1, c], h[i, 2, c], h[i, 3, c])


@jit
def _grad_tiles(p, m, tiles_h, tiles_w, first, gy):
    """gy[xi, first + t, :] = (A g A^T)[xi] for the m x m output-gradient tile t of the scratch p."""
    channels = p.shape[2]
    alpha = m + 2
    h = np.empty((alpha, m, channels), dtype=p.dtype)
    for th in range(tiles_h):
        for tw in range(tiles_w):
            t, r0, s0 = first + th * tiles_w + tw, m * th, m * tw
            # over the rows of each tile column j, then over the columns
            for j in range(m):
                for c in range(channels):
                    if m == 4:
                        h[0, j, c], h[1, j, c], h[2, j, c], h[3, j, c], h[4, j, c], h[5, j, c] = _a6(
                            p[r0, s0 + j, c], p[r0 + 1, s0 + j, c], p[r0 + 2, s0 + j, c], p[r0 + 3, s0 + j, c])
                    else:
                        h[0, j, c], h[1, j, c], h[2, j, c], h[3, j, c] = _a4(p[r0, s0 + j, c], p[r0 + 1, s0 + j, c])
            for xi in range(alpha):
                base = alpha * xi
                for c in range(channels):
                    if m == 4:
                        (gy[base, t, c], gy[base + 1, t, c], gy[base + 2, t, c], gy[base + 3, t, c],
                         gy[base + 4, t, c], gy[base + 5, t, c]) = _a6(h[xi, 0, c], h[xi, 1, c], h[xi, 2, c],
                                                                       h[xi, 3, c])
                    else:
                        gy[base, t, c], gy[base + 1, t, c], gy[base + 2, t, c], gy[base + 3, t, c] = _a4(
                            h[xi, 0, c], h[xi, 1, c])


@jit
def _run_of_phases(k, kb1, d):
    """Items k.. (up to kb1) of one image and phase row: the column phases one pass over its rows copies."""
    return min(d - k % d, kb1 - k)


@jit
def _input_items(x, m, k0, kb0, kb1, d, row_shift, col_shift, tiles_h, tiles_w, v):
    p = np.empty((min(d, kb1 - kb0), m * tiles_h + 2, m * tiles_w + 2, x.shape[1]), dtype=x.dtype)
    k = np.int64(kb0)
    while k < kb1:
        e = _run_of_phases(k0 + k, k0 + kb1, d)
        n, row0, col0 = _item(k0 + k, d, row_shift, col_shift)
        _load(x, n, row0, col0, d, d, 1, 1, p[:e])
        for j in range(e):
            _input_tiles(p[j], m, tiles_h, tiles_w, (k + j) * tiles_h * tiles_w, v)
        k += e


@jit
def _output_items(mm, m, k0, kb0, kb1, d, row_shift, tiles_h, tiles_w, out):
    q = np.empty((min(d, kb1 - kb0), m * tiles_h, m * tiles_w, out.shape[1]), dtype=out.dtype)
    k = np.int64(kb0)
    while k < kb1:
        e = _run_of_phases(k0 + k, k0 + kb1, d)
        n, row0, col0 = _item(k0 + k, d, row_shift, 0)
        for j in range(e):
            _output_tiles(mm, m, tiles_h, tiles_w, (k + j) * tiles_h * tiles_w, q[j])
        # cropped at the last row of the phase (and of a band of rows); the columns at out's edge
        rows = min(m * tiles_h, (out.shape[2] - row0 + d - 1) // d)
        _store(q[:e], out, n, row0, col0, d, d, 1, 1, rows, m * tiles_w)
        k += e


@jit
def _grad_items(g, m, k0, kb0, kb1, d, tiles_h, tiles_w, gy):
    p = np.empty((min(d, kb1 - kb0), m * tiles_h, m * tiles_w, g.shape[1]), dtype=g.dtype)
    k = np.int64(kb0)
    while k < kb1:
        e = _run_of_phases(k0 + k, k0 + kb1, d)
        n, row0, col0 = _item(k0 + k, d, 0, 0)
        _load(g, n, row0, col0, d, d, 1, 1, p[:e])
        for j in range(e):
            _grad_tiles(p[j], m, tiles_h, tiles_w, (k + j) * tiles_h * tiles_w, gy)
        k += e


# the parallel drivers hand one item to each prange iteration (a VGG layer at batch 32: 32 items)

@jit_parallel
def _input_parallel(x, m, k0, k1, d, row_shift, col_shift, tiles_h, tiles_w, v):
    for k in prange(k1 - k0):
        _input_items(x, m, k0, k, k + 1, d, row_shift, col_shift, tiles_h, tiles_w, v)


@jit_parallel
def _output_parallel(mm, m, k0, k1, d, row_shift, tiles_h, tiles_w, out):
    for k in prange(k1 - k0):
        _output_items(mm, m, k0, k, k + 1, d, row_shift, tiles_h, tiles_w, out)


@jit_parallel
def _grad_parallel(g, m, k0, k1, d, tiles_h, tiles_w, gy):
    for k in prange(k1 - k0):
        _grad_items(g, m, k0, k, k + 1, d, tiles_h, tiles_w, gy)


def input_transform(x, m, k0, k1, d, row_shift, col_shift, tiles_h, tiles_w, v, parallel=True):
    """x: (N, C, H, W) -> v: (alpha^2, items * tiles, C), item k's tiles at rows (k - k0) * tiles on."""
    if parallel:
        _input_parallel(x, m, k0, k1, d, row_shift, col_shift, tiles_h, tiles_w, v)
    else:
        _input_items(x, m, k0, 0, k1 - k0, d, row_shift, col_shift, tiles_h, tiles_w, v)


def output_transform(mm, m, k0, k1, d, tiles_h, tiles_w, out, parallel=True, row_shift=0):
    """mm: (alpha^2, items * tiles, O) -> out: (N, O, P, Q), phase (a, b) of item k at out[n, :, a::d, b::d];
    the tiles start at output row ``row_shift`` (a band of rows) and are cropped at the last row."""
    if parallel:
        _output_parallel(mm, m, k0, k1, d, row_shift, tiles_h, tiles_w, out)
    else:
        _output_items(mm, m, k0, 0, k1 - k0, d, row_shift, tiles_h, tiles_w, out)


def grad_transform(g, m, k0, k1, d, tiles_h, tiles_w, gy, parallel=True):
    """g: (N, O, P, Q), the output gradient -> gy: (alpha^2, items * tiles, O)."""
    if parallel:
        _grad_parallel(g, m, k0, k1, d, tiles_h, tiles_w, gy)
    else:
        _grad_items(g, m, k0, 0, k1 - k0, d, tiles_h, tiles_w, gy)


@jit
def _weight_rows(weight, g_mat, u, o0, o1):
    # u[xi1 * alpha + xi2, o, :] = (G weight[o] G^T)[xi1, xi2] for o0 <= o < o1; weight (O, Cg, 3, 3)
    alpha, cg = g_mat.shape[0], weight.shape[1]
    w = np.empty((3, 3, cg))
    left = np.empty((alpha, 3, cg))  # G weight[o]
    for o in range(o0, o1):
        for c in range(cg):
            for k in range(3):
                for col in range(3):
                    w[k, col, c] = weight[o, c, k, col]
        for a in range(alpha):
            for col in range(3):
                for c in range(cg):
                    left[a, col, c] = (g_mat[a, 0] * w[0, col, c] + g_mat[a, 1] * w[1, col, c]
                                       + g_mat[a, 2] * w[2, col, c])
        for a in range(alpha):
            for b in range(alpha):
                for c in range(cg):
                    u[a * alpha + b, o, c] = (left[a, 0, c] * g_mat[b, 0] + left[a, 1, c] * g_mat[b, 1]
                                              + left[a, 2, c] * g_mat[b, 2])


@jit
def _weight_grad_rows(du, g_mat, dw, o0, o1):
    # dw[o, c, k, l] = sum_{a, b} G[a, k] dU[a * alpha + b, o, c] G[b, l] for o0 <= o < o1: the adjoint
    # of _weight_rows, as the weight gradient needs it
    alpha, cg = g_mat.shape[0], du.shape[2]
    right = np.empty((alpha, 3, cg))  # dU[a, :] G
    out = np.empty((3, 3, cg))
    for o in range(o0, o1):
        # every loop over the channels (unit stride), the sums over a and b accumulated in order
        right[...] = 0
        for a in range(alpha):
            for b in range(alpha):
                row = du[a * alpha + b, o]
                for col in range(3):
                    coefficient = g_mat[b, col]
                    for c in range(cg):
                        right[a, col, c] += row[c] * coefficient
        out[...] = 0
        for a in range(alpha):
            for k in range(3):
                coefficient = g_mat[a, k]
                for col in range(3):
                    for c in range(cg):
                        out[k, col, c] += coefficient * right[a, col, c]
        for c in range(cg):
            for k in range(3):
                for col in range(3):
                    dw[o, c, k, col] = out[k, col, c]


# elements of U (or dU) below which the kernel's transforms run on the calling thread (64 x 64
# channels, F(4x4): 147 Ki elements, about 20 us)
KERNEL_GRAIN = 1 << 18


def weight_transform(weight, g_mat, u):
    """weight (O, Cg, 3, 3) -> u (alpha^2, O, Cg) = G weight G^T, a range of output channels per lane
    from KERNEL_GRAIN elements of u (``elementwise.by_size``)."""
    by_size(_weight_rows, u.size, weight.shape[0], weight, g_mat, u, grain=KERNEL_GRAIN)


def weight_gradient_transform(du, g_mat, dw):
    """du (alpha^2, O, Cg) -> dw (O, Cg, 3, 3) = G^T dU G, the adjoint of weight_transform."""
    by_size(_weight_grad_rows, du.size, dw.shape[0], du, g_mat, dw, grain=KERNEL_GRAIN)


@jit_inline
def sum_row(src, first_row, step, width, mat, a, pitch, count, dst, dst_base):
    """dst[dst_base + e] = sum_j mat[a, j] src[(first_row + j % step) pitch + (j // step) width + e], e < count,
    over row a's nonzero entries in order: one run per entry, which vectorises. ``step``: rows of src the
    terms cycle through (winograd1d's phases, each term j // step samples of ``width`` further on); at
    mat.shape[1], term j is row first_row + j."""
    n = np.uint64(count)
    d = np.uint64(dst_base)
    first = True
    for j in range(mat.shape[1]):
        coefficient = mat[a, j]
        if coefficient == 0:
            continue
        s = np.uint64((first_row + j % step) * pitch + (j // step) * width)
        if first:
            for e in range(n):
                dst[d + e] = coefficient * src[s + e]
            first = False
        else:
            for e in range(n):
                dst[d + e] += coefficient * src[s + e]
    if first:
        for e in range(n):
            dst[d + e] = 0.0


@jit
def _sum_rows(src, first_row, mat, a, pitch, count, dst, dst_base):
    # dst[dst_base + e] = sum_i mat[a, i] src[(first_row + i) pitch + e], e < count (sum_row)
    sum_row(src, first_row, mat.shape[1], 0, mat, a, pitch, count, dst, dst_base)


def reduced(kernel, stride):
    """The kernel of the stride-1 conv a strided one is on its input's phases: ceil(k / s) taps an axis."""
    return tuple(-(-k // s) for k, s in zip(kernel, stride))


# The general kernel's transforms (winograd2d's, and U of the 3x3 kernels in this layout): U = G_h w G_w^T as
# (points, C, O), the GEMMs' right operand, and dw = G_h^T dU G_w, in float64: U by input channel over runs of
# output channels (U's rows), dw by output channel over runs of input channels (dU's rows)

# the taps' transposing copy in _kernel_rows: a tile reads this many output channels' kernels, rows of the
# weight C x taps elements apart. 2 KiB apart for 2x2 kernels of 128 channels, they fill two of L1's 64 sets
# (12 lines each) and a tile of 64 rows evicted its own lines: that copy took 0.30 ms of 0.58, tiles of 16 0.10
_COPY_OUTS = 16
# channel x tap columns copied per block, at least (the loop along a tile's outputs is short)
_COPY_COLUMNS = 64


@jit
def _kernel_rows(weight, source, g_h, g_w, u, c0, c1):
    # u[a alpha_w + b, c, o] = sum_t G[a alpha_w + b, t] weight[o].flat[source[c, t]] (G = G_h (x) G_w, zero where
    # source is -1) for c0 <= c < c1, every loop along o (U's rows): a block of channels' taps copied to
    # (channel x tap, O), then per channel G_w along its taps' rows and G_h along the rows. Looping by output
    # channel instead wrote U a float at a time, O floats apart: 1.7 ms against 0.39 for 128 -> 256 2x2
    # kernels, 0.41 against 0.34 for 64 -> 64 5x5
    alpha_h, r_h = g_h.shape
    alpha_w, r_w = g_w.shape
    outs, taps = weight.shape[0], r_h * r_w
    flat, sources = weight.reshape(outs, -1), source.reshape(-1)
    block = -(-_COPY_COLUMNS // taps)
    columns = np.empty((block * taps, outs))
    half = np.empty(r_h * alpha_w * outs)
    total = np.empty(outs)
    for c in range(c0, c1):
        i = (c - c0) % block
        if i == 0:
            count = min(block, c1 - c) * taps
            for t0 in range(0, outs, _COPY_OUTS):
                for j in range(count):
                    row, col = columns[j], sources[c * taps + j]
                    for o in range(t0, min(t0 + _COPY_OUTS, outs)):
                        row[o] = flat[o, col] if col >= 0 else 0.0
        w = columns[i * taps:(i + 1) * taps].reshape(-1)
        for k in range(r_h):  # half[k, b] = sum_l G_w[b, l] w[k, l]
            for b in range(alpha_w):
                _sum_rows(w, k * r_w, g_w, b, outs, outs, half, (k * alpha_w + b) * outs)
        for a in range(alpha_h):  # u[a, b] = sum_k G_h[a, k] half[k, b]
            for b in range(alpha_w):
                _sum_rows(half[b * outs:], 0, g_h, a, alpha_w * outs, outs, total, 0)
                dst = u[a * alpha_w + b, c]
                for o in range(outs):
                    dst[o] = total[o]


@jit
def _kernel_grad_rows(du, source, g_h_t, g_w_t, dw, o0, o1):
    # dw[o].flat[source[c, t]] = sum_{a, b} G_h[a, k] G_w[b, l] dU[a alpha_w + b, o, c] (t = k r_w + l) for
    # o0 <= o < o1, the adjoint of _kernel_rows (G_h^T, G_w^T given); every element of dw is some source's
    r_h, alpha_h = g_h_t.shape
    r_w, alpha_w = g_w_t.shape
    outs, channels = du.shape[1], du.shape[2]
    half = np.empty(alpha_h * r_w * channels)
    right = np.empty((r_h * r_w, channels))
    duf, rf = du.reshape(-1), right.reshape(-1)
    for o in range(o0, o1):
        for a in range(alpha_h):  # half[a, l] = sum_b G_w[b, l] dU[a, b, o]
            for j in range(r_w):
                _sum_rows(duf[(a * alpha_w * outs + o) * channels:], 0, g_w_t, j, outs * channels, channels, half,
                          (a * r_w + j) * channels)
        for k in range(r_h):  # right[k, l] = sum_a G_h[a, k] half[a, l], all l at once
            _sum_rows(half, 0, g_h_t, k, r_w * channels, r_w * channels, rf, k * r_w * channels)
        dst = dw[o].reshape(-1)
        for c in range(channels):
            for k in range(r_h * r_w):
                if source[c, k] >= 0:
                    dst[source[c, k]] = right[k, c]


@functools.lru_cache(maxsize=64)
def _phase_taps(channels, kernel, stride):
    """source[(c s_h + i) s_w + j, k k_w + l]: the flat index in weight[o] (C x r_h x r_w) of tap (k, l) of the
    stride-1 kernel a strided conv has on its input's phases (``_load``'s channels), weight[o, c, s_h k + i,
    s_w l + j], or -1 past the kernel. At stride 1, every tap in order."""
    (s_h, s_w), (r_h, r_w) = stride, kernel
    k_h, k_w = reduced(kernel, stride)
    c, i, j, k, l = np.meshgrid(range(channels), range(s_h), range(s_w), range(k_h), range(k_w), indexing="ij")
    rows, cols = s_h * k + i, s_w * l + j
    source = np.where((rows < r_h) & (cols < r_w), (c * r_h + rows) * r_w + cols, -1)
    source = source.reshape(channels * s_h * s_w, k_h * k_w)
    source.flags.writeable = False
    return source


def kernel_transform(weight, g_h, g_w, dtype, stride=(1, 1)):
    """U (alpha_h alpha_w, C', O) in ``dtype``, summed in float64, of the (O, C, r_h, r_w) weight's kernel on
    the stride's input phases (C' = C s_h s_w; at stride 1, the weight itself): U^T, the GEMMs' right operand
    (1.4x faster there than a transposed view of (points, O, C)), on the lanes from KERNEL_GRAIN elements."""
    o, c = weight.shape[:2]
    source = _phase_taps(c, tuple(weight.shape[2:]), tuple(stride))
    points = g_h.shape[0] * g_w.shape[0]
    u = np.empty((points, source.shape[0], o), dtype=dtype)
    by_size(_kernel_rows, u.size, source.shape[0], np.ascontiguousarray(weight), source, g_h, g_w, u,
            grain=KERNEL_GRAIN)
    return u


def kernel_gradient_transform(du, g_h, g_w, kernel, stride=(1, 1)):
    """dw (O, C, *kernel) = G_h^T dU G_w of dU (alpha_h alpha_w, O, C s_h s_w), summed in float64, read back
    from the stride's input phases (the adjoint of ``kernel_transform``)."""
    o, c = du.shape[1], du.shape[2] // (stride[0] * stride[1])
    source = _phase_taps(c, tuple(kernel), tuple(stride))
    dw = np.empty((o, c) + tuple(kernel), dtype=du.dtype)
    by_size(_kernel_grad_rows, du.size, o, du, source, np.ascontiguousarray(g_h.T), np.ascontiguousarray(g_w.T),
            dw, grain=KERNEL_GRAIN)
    return dw
