"""Winograd F(4, r) and F(2, r) for 1-D stride-1 convolutions of 2 to 7 taps (text and signal convs).

m outputs of an r-tap correlation are ``A^T [(G w) . (B^T d)]`` over a window d of ``alpha = m + r - 1``
inputs: alpha multiplies instead of m r, 2.5x fewer for F(4, 5), 1.75x for F(2, 7) (``tile``). As in
2-D (``winograd.py``), the product across channels becomes alpha independent GEMMs (O x C) @ (C x
tiles), one batched ``np.matmul``, which is where the time goes: a 64 -> 64 conv1d with 5 taps over
4096 samples multiplies 64 x 64 x 1024 eight times instead of 64 x 320 x 4096 once (the im2col GEMM
alone took 1.44 ms at batch 1, longer than PyTorch's whole op).

The matrices are the modified Toom-Cook construction (Lavin & Gray, 2015) on the points 0, 1, -1,
2, -2, 1/2, -1/2 (the first alpha - 1 of them) and infinity, computed exactly in fractions at import.
The transforms are Numba loops over whole rows of tiles: each (image, channel) row is first split by
phase (``ph[q, u] = x[start + m u + q]``), so tap j of every tile reads the unit-step run
``ph[j % m, j // m:]``, and each row of the transformed tile is a sum of such runs times the matrix's
nonzero entries, in order. The output transform writes the m phases of the output and interleaves
them. Zero padding and the output crop happen in those copies.

backward_input is the same correlation of the output gradient with the flipped, transposed kernel,
read from r - 1 positions before the padding; backward_weight sums ``dU = sum over tiles (A g) V^T``
(alpha GEMMs over the tiles, in chunk order) and ``dw = dU G``.

Rounding: B^T and A^T have entries up to 5.25 and 8; measured float32 errors are in the README
(about 4x direct convolution's, 1.3e-6 of the largest output at 64 channels for F(4, 5)).
"""
import functools
from fractions import Fraction

import numpy as np

from . import lanes, workspace
from .geometry import zero_pads
from .jit import jit

TAPS = (2, 3, 4, 5, 6, 7)
_POINTS = (Fraction(0), Fraction(1), Fraction(-1), Fraction(2), Fraction(-2), Fraction(1, 2), Fraction(-1, 2))
# V and M of a chunk stay near the caches below this size (as winograd._CHUNK_BYTES)
_CHUNK_BYTES = 16 << 20


def tile(r):
    """Outputs per tile for r taps: F(4, r) up to 5 taps, F(2, r) for 6 and 7 (alpha = 8 at most,
    as more points would be larger numbers and round worse: F(4,7) measured 1.4e-5 in float32)."""
    return 4 if r <= 5 else 2


def requirement(g):
    if g.rank != 1:
        return f"needs a 1-D kernel; kernel is {g.kernel}"
    if g.kernel[0] not in TAPS:
        return f"needs {TAPS[0]} to {TAPS[-1]} taps; kernel is {g.kernel}"
    if g.stride != (1,) or g.dilation != (1,):
        return f"needs stride 1 and dilation 1; stride={g.stride}, dilation={g.dilation}"
    return None


def _polynomial(roots):
    """Coefficients, lowest power first, of prod (x - root)."""
    coefficients = [Fraction(1)]
    for root in roots:
        shifted = [Fraction(0)] + coefficients
        coefficients = [s - root * c for s, c in zip(shifted, coefficients + [Fraction(0)])]
    return coefficients


@functools.lru_cache(maxsize=None)
def matrices(r, m):
    """(A^T (m x alpha), G (alpha x r), B^T (alpha x alpha)) of F(m, r) as float64, alpha = m + r - 1:
    y = A^T [(G w) . (B^T d)] is the correlation y[i] = sum_k w[k] d[i + k], i < m."""
    alpha = m + r - 1
    points = _POINTS[:alpha - 1]
    at = [[p ** i for p in points] + [Fraction(int(i == m - 1))] for i in range(m)]
    g = []
    for j, p in enumerate(points):
        scale = Fraction(1)
        for q in points[:j] + points[j + 1:]:
            scale *= p - q
        g.append([p ** k / scale for k in range(r)])
    g.append([Fraction(int(k == r - 1)) for k in range(r)])
    bt = [_polynomial(points[:j] + points[j + 1:]) + [Fraction(0)] for j in range(alpha - 1)]
    bt.append(_polynomial(points))
    as_array = lambda rows: np.array([[float(v) for v in row] for row in rows])  # noqa: E731
    return as_array(at), as_array(g), as_array(bt)


@jit
def _phases_checked(plane, start, m, u0, u1, pitch, flat):
    # the edge tiles of _phases, each read tested against the plane's bounds
    n = plane.shape[0]
    for u in range(u0, u1):
        for q in range(m):
            i = start + u * m + q
            flat[q * pitch + u] = plane[i] if 0 <= i < n else 0.0


@jit
def _phases(plane, start, m, count, ph):
    # ph[q, u] = plane[start + m u + q] for u < count, zero outside the plane
    n = plane.shape[0]
    pitch = ph.shape[1]
    flat = ph.reshape(-1)
    lo = min(count, max(0, -(start // m)))  # first u whose m reads are all >= 0
    hi = max(lo, min(count, (n - start - m) // m + 1))  # past the last u whose reads are < n
    _phases_checked(plane, start, m, 0, lo, pitch, flat)
    _phases_checked(plane, start, m, hi, count, pitch, flat)
    step = np.uint64(m)
    for q in range(m):
        src, dst = np.uint64(start + lo * m + q), np.uint64(q * pitch + lo)
        for k in range(np.uint64(hi - lo)):
            flat[dst + k] = plane[src + step * k]


@jit
def _combine(src, pitch, step, mat, count, dst, dst_base, dst_pitch):
    # dst[dst_base + i dst_pitch + t] = sum_j mat[i, j] src[(j % step) pitch + j // step + t], t < count,
    # over the nonzero entries in order: a run per entry, which the compiler vectorises
    n = np.uint64(count)
    for i in range(mat.shape[0]):
        o = np.uint64(dst_base + i * dst_pitch)
        first = True
        for j in range(mat.shape[1]):
            a = mat[i, j]
            if a == 0:
                continue
            s = np.uint64((j % step) * pitch + j // step)
            if first:
                for t in range(n):
                    dst[o + t] = a * src[s + t]
                first = False
            else:
                for t in range(n):
                    dst[o + t] += a * src[s + t]
        if first:
            for t in range(n):
                dst[o + t] = 0.0


@jit
def tile_transform(x, start, m, b0, b1, t0, t1, mat, ph, v):
    """v[:, c, (b - b0) T + t - t0] = mat (x[b, c, start + m t + j])_j over windows of mat.shape[1]
    samples, tiles t0..t1-1 (T = t1 - t0): B^T on the input, A on the output gradient (the adjoint of
    the output transform, windows of m)."""
    channels = x.shape[1]
    count = t1 - t0
    columns = (b1 - b0) * count
    vf = v.reshape(-1)
    for b in range(b0, b1):
        for c in range(channels):
            _phases(x[b, c], start + m * t0, m, count + (mat.shape[1] - 1) // m, ph)
            _combine(ph.reshape(-1), ph.shape[1], m, mat, count, vf, c * columns + (b - b0) * count,
                     channels * columns)


@jit
def output_transform(prod, m, b0, b1, t0, t1, at, ph, out):
    """out[b, o, m t + i] = (A^T prod[:, o, (b - b0) T + t - t0])_i for m t + i < out.shape[2]."""
    channels, length = out.shape[1], out.shape[2]
    count = t1 - t0
    columns = (b1 - b0) * count
    pf, hf = prod.reshape(-1), ph.reshape(-1)
    pitch = ph.shape[1]
    alpha = at.shape[1]
    step = np.uint64(m)
    for b in range(b0, b1):
        for o in range(channels):
            _combine(pf[o * columns + (b - b0) * count:], channels * columns, alpha, at, count, hf, 0, pitch)
            row = out[b, o]
            full = max(0, min(count, (length - m * t0) // m))  # tiles whose m outputs all exist
            for i in range(m):  # the phases interleave
                src, dst = np.uint64(i * pitch), np.uint64(m * t0 + i)
                for t in range(np.uint64(full)):
                    row[dst + step * t] = hf[src + t]
            for t in range(full, count):
                for i in range(m):
                    p = m * (t0 + t) + i
                    if p < length:
                        row[p] = hf[i * pitch + t]


def chunks(batch, tiles, per_tile):
    """((b0, b1), (t0, t1)) blocks of images and tile ranges within a lane's share of the budget."""
    return workspace.chunks(batch, tiles, per_tile, min(workspace.limit(), _CHUNK_BYTES), lanes=lanes.shares())


def _conv(x, weight, groups, start, out):
    """out[n, o, p] = sum_{c, k} weight[o, c, k] x[n, c, start + p + k] (x zero outside) by F(m, r)."""
    n, c = x.shape[:2]
    o, cg, r = weight.shape
    og = o // groups
    m = tile(r)
    at, g_mat, bt = matrices(r, m)
    alpha = r + m - 1
    tiles = -(-out.shape[2] // m)
    u = np.tensordot(g_mat, weight.astype(np.float64), axes=([1], [2])).astype(x.dtype)  # (alpha, O, Cg)
    u = u.reshape(alpha, groups, og, cg)
    bt, at = bt.astype(x.dtype), at.astype(x.dtype)

    def work(_, job, lane):
        (b0, b1), (t0, t1) = job
        columns = (b1 - b0) * (t1 - t0)
        v = lane.scratch("v", alpha * c * columns, x.dtype).reshape(alpha, c, columns)
        prod = lane.scratch("m", alpha * o * columns, x.dtype).reshape(alpha, groups, og, columns)
        ph = lane.scratch("ph", m * (t1 - t0 + alpha), x.dtype).reshape(m, t1 - t0 + alpha)
        tile_transform(x, start, m, b0, b1, t0, t1, bt, ph, v)
        # (alpha, G, Og, Cg) @ (alpha, G, Cg, T) -> (alpha, G, Og, T)
        np.matmul(u, v.reshape(alpha, groups, cg, columns), out=prod)
        output_transform(prod.reshape(alpha, o, columns), m, b0, b1, t0, t1, at, ph, out)

    lanes.run(chunks(n, tiles, alpha * (c + o) * x.itemsize), work, size=n * tiles * alpha * (c + o))
    return out


def winograd1d_forward(x, weight, stride, dilation, groups, pads=None):
    """r-tap stride-1 conv1d of x zero-padded by ``pads`` (read in place)."""
    (before, after), = zero_pads(pads, 1)
    r = weight.shape[2]
    out = np.empty((x.shape[0], weight.shape[0], x.shape[2] + before + after - r + 1), dtype=x.dtype)
    return _conv(np.ascontiguousarray(x), np.ascontiguousarray(weight), groups, -before, out)


def winograd1d_backward_input(grad_out, weight, in_shape, stride, dilation, groups, pads=None):
    """Gradient with respect to x of length ``in_shape[0]`` (zero-padded by ``pads`` in the forward)."""
    (before, _), = zero_pads(pads, 1)
    o, cg, r = weight.shape
    # x[i] received grad_out[p] * weight[k] for i + before = p + k: a correlation of grad_out read from
    # i + before - (r - 1) on, with the flipped kernel transposed to (G*Cg, Og, r)
    w_t = weight.reshape(groups, o // groups, cg, r).swapaxes(1, 2).reshape(groups * cg, o // groups, r)
    out = np.empty((grad_out.shape[0], groups * cg, int(in_shape[0])), dtype=grad_out.dtype)
    return _conv(np.ascontiguousarray(grad_out), np.ascontiguousarray(w_t[:, :, ::-1]), groups, before - r + 1, out)


def winograd1d_backward_weight(x, grad_out, kernel_size, stride, dilation, groups, pads=None):
    """Gradient with respect to the weight: M = U V per tile is linear in U = G w, so dU = sum over
    tiles of (A g) V^T, alpha GEMMs (O x tiles) @ (tiles x C), and dw = dU G."""
    (before, _), = zero_pads(pads, 1)
    r = int(kernel_size[0])
    n, c = x.shape[:2]
    o = grad_out.shape[1]
    cg, og = c // groups, o // groups
    m = tile(r)
    at, g_mat, bt = matrices(r, m)
    alpha = r + m - 1
    tiles = -(-grad_out.shape[2] // m)
    x, grad_out = np.ascontiguousarray(x), np.ascontiguousarray(grad_out)
    bt, a = bt.astype(x.dtype), np.ascontiguousarray(at.T.astype(x.dtype))
    du = np.empty((alpha, groups, og, cg), dtype=x.dtype)

    def work(index, job, lane):
        (b0, b1), (t0, t1) = job
        columns = (b1 - b0) * (t1 - t0)
        v = lane.scratch("v", alpha * c * columns, x.dtype).reshape(alpha, c, columns)
        gy = lane.scratch("g", alpha * o * columns, x.dtype).reshape(alpha, o, columns)
        ph = lane.scratch("ph", m * (t1 - t0 + alpha), x.dtype).reshape(m, t1 - t0 + alpha)
        part = lane.scratch("du", du.size, x.dtype).reshape(du.shape) if index else du
        tile_transform(x, -before, m, b0, b1, t0, t1, bt, ph, v)
        tile_transform(grad_out, 0, m, b0, b1, t0, t1, a, ph, gy)
        # (alpha, G, Og, T) @ (alpha, G, T, Cg) -> (alpha, G, Og, Cg)
        np.matmul(gy.reshape(alpha, groups, og, columns), v.reshape(alpha, groups, cg, columns).transpose(0, 1, 3, 2),
                  out=part)
        with lane.turn(index):  # chunk 0 wrote du itself; the others add in chunk order
            if index:
                du[...] += part

    lanes.run(chunks(n, tiles, alpha * (c + o) * x.itemsize), work, ordered=True, size=n * tiles * alpha * (c + o))
    # dw[o, c, k] = sum_a dU[a, o, c] G[a, k], in float64
    dw = np.tensordot(du.reshape(alpha, o, cg).astype(np.float64), g_mat, axes=([0], [0]))
    return dw.astype(x.dtype)


