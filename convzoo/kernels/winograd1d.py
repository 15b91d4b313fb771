"""Winograd F(4, r) and F(2, r) for stride-1 convolutions of 2 to 7 taps along one axis: 1-D (text and
signal convs) and 2-D k x 1 and 1 x k kernels (the two halves of a spatially separable conv).

m outputs of an r-tap correlation are ``A^T [(G w) . (B^T d)]`` over a window d of ``alpha = m + r - 1``
inputs: alpha multiplies instead of m r, 2.5x fewer for F(4, 5), 2.8x for F(4, 7) (``tile``). As in
2-D (``winograd.py``), the product across channels becomes alpha independent GEMMs (O x C) @ (C x
tiles), one batched ``np.matmul``, which is where the time goes: a 64 -> 64 conv1d with 5 taps over
4096 samples multiplies 64 x 64 x 1024 eight times instead of 64 x 320 x 4096 once (the im2col GEMM
alone took 1.44 ms at batch 1, longer than PyTorch's whole op).

The matrices are the modified Toom-Cook construction (Lavin & Gray, 2015) on the points 0, 1, -1,
2, -2, 1/2, -1/2, 3/4, -3/4 (the first alpha - 1 of them) and infinity, computed exactly in fractions.
The transforms are Numba loops over whole rows of tiles: each (image, channel) row is first split by
phase (``ph[q, u] = x[start + m u + q]``), so tap j of every tile reads the unit-step run
``ph[j % m, j // m:]``, and each row of the transformed tile is a sum of such runs times the matrix's
nonzero entries, in order. The output transform writes the m phases of the output and interleaves
them. Zero padding and the output crop happen in those copies.

A k x 1 kernel takes whole image rows as its samples (each sample ``width`` elements): the phase
split copies rows, every transform run is m rows wide, and the GEMMs' columns are (tile, column).
A 1 x k kernel takes whole columns as its samples (each ``height`` elements, a row's length apart):
the phase split gathers them into runs and the output's interleave scatters them back, so everything
between is the k x 1 kernel's on the transposed planes, bit for bit, without transposed copies.

backward_input is the same correlation of the output gradient with the flipped, transposed kernel,
read from r - 1 positions before the padding; backward_weight sums ``dU = sum over tiles (A g) V^T``
(alpha GEMMs over the tiles, in chunk order) and ``dw = dU G``.

Rounding: B^T and A^T have entries up to 5.25 and 8 (F(4, 5)); measured float32 errors are in the
README (about 4x direct convolution's, 1.3e-6 of the largest output at 64 channels for F(4, 5); F(4, 7)
about 5e-6, as F(4x4,3x3)).
"""
import functools
from fractions import Fraction

import numpy as np

from . import elementwise, lanes, winograd
from .geometry import gradient_kernel, zero_pads
from .jit import jit
from .winograd_channels import sum_row

TAPS = (2, 3, 4, 5, 6, 7)
# the first seven serve windows of up to 8 (F(4, 5)); 3/4 and -3/4 extend them to F(4, 6) and F(4, 7),
# whose float32 error they keep near F(4x4,3x3)'s (64 -> 64 channels, 7 taps, the eighth and ninth
# point: 3 and -3 1.2e-5, 1/3 and -1/3 1.4e-5, 1/4 and -1/4 2.5e-5, 3/2 and -3/2 7.2e-6, 3/4 and -3/4 4.8e-6)
_POINTS = (Fraction(0), Fraction(1), Fraction(-1), Fraction(2), Fraction(-2), Fraction(1, 2), Fraction(-1, 2),
           Fraction(3, 4), Fraction(-3, 4))


def tile(r):
    """Outputs per tile for r taps along one axis: F(4, r), windows of r + 3 (at most 10). For 6 and 7
    taps F(2, r) had run: 64 -> 64 at 28 x 28, batch 32, 7 x 1 F(4, 7) against F(2, 7): forward 5.7
    against 7.0 ms, input gradient 5.9 against 7.2, weight gradient 6.8 against 8.6 (1 x 7 alike; 6 taps,
    conv1d over 4096 samples at batch 8: 10.0 against 13.7), for a float32 error of 5.7e-6 against 1.5e-6
    (F(4x4,3x3): 6.7e-6). A 2-D kernel's axes take ``tile_2d``."""
    return 4


def tile_2d(r):
    """Outputs per tile along each axis of a 2-D kernel (``winograd2d``): F(4, r) up to 5 taps, F(2, r)
    for 6 and 7, whose errors would compound over both axes (7 x 7 by F(4x4,7x7) 9e-5 against F(2x2,7x7)'s
    5e-6)."""
    return 4 if r <= 5 else 2


def axis(kernel):
    """The spatial axis the taps run along: 1 for a 2-D 1 x k kernel (k > 1), else 0."""
    return 1 if len(kernel) == 2 and kernel[0] == 1 and kernel[1] > 1 else 0


def requirement(g):
    if not (g.rank == 1 or (g.rank == 2 and 1 in g.kernel)):
        return f"needs a 1-D kernel or a 2-D k x 1 or 1 x k one; kernel is {g.kernel}"
    along = axis(g.kernel)
    if g.kernel[along] not in TAPS:
        return f"needs {TAPS[0]} to {TAPS[-1]} taps; kernel is {g.kernel}"
    if any(s != 1 for s in g.stride) or g.dilation[along] != 1:
        return f"needs stride 1 and no dilation along the kernel; stride={g.stride}, dilation={g.dilation}"
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
    # the edge tiles of _phases (samples of one element), each read tested against the plane's bounds
    n = plane.shape[0]
    for u in range(u0, u1):
        for q in range(m):
            i = start + u * m + q
            flat[q * pitch + u] = plane[i] if 0 <= i < n else 0.0


@jit
def _phases(plane, start, m, count, ph, width, across):
    # ph[q, u * width + e] = sample start + m u + q's element e for u < count, zero outside the plane:
    # samples of ``width`` elements (1 for a 1-D signal); ``across`` 1: a sample is a row (element e of
    # sample i at i * width + e, a k x 1 kernel), else a column (at i + e * across, a 1 x k kernel's)
    n = plane.shape[0] // width
    pitch = ph.shape[1]
    flat = ph.reshape(-1)
    if width > 1:
        w = np.uint64(width)
        step = np.uint64(across)
        for q in range(m):
            for u in range(count):
                i = start + u * m + q
                dst = np.uint64(q * pitch + u * width)
                if not 0 <= i < n:
                    for e in range(w):
                        flat[dst + e] = 0.0
                elif across == 1:
                    src = np.uint64(i * width)
                    for e in range(w):
                        flat[dst + e] = plane[src + e]
                else:
                    src = np.uint64(i)
                    for e in range(w):
                        flat[dst + e] = plane[src + step * e]
        return
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
def _combine(src, pitch, step, width, mat, count, dst, dst_base, dst_pitch):
    # dst[dst_base + i dst_pitch + t] = sum_j mat[i, j] src[(j % step) pitch + (j // step) width + t],
    # t < count: a run per nonzero entry of each row (winograd_channels.sum_row)
    for i in range(mat.shape[0]):
        sum_row(src, 0, step, width, mat, i, pitch, count, dst, dst_base + i * dst_pitch)


@jit
def tile_transform(x, start, m, width, across, b0, b1, t0, t1, mat, ph, v):
    """v[:, c, ((b - b0) T + t - t0) width + e] = mat (element e of x[b, c]'s sample start + m t + j)_j
    over windows of mat.shape[1] samples of ``width`` elements (rows, or columns where ``across`` > 1:
    ``_phases``), tiles t0..t1-1 (T = t1 - t0): B^T on the input, A on the output gradient (the adjoint
    of the output transform, windows of m)."""
    channels = x.shape[1]
    run = (t1 - t0) * width
    columns = (b1 - b0) * run
    vf = v.reshape(-1)
    for b in range(b0, b1):
        for c in range(channels):
            _phases(x[b, c], start + m * t0, m, t1 - t0 + (mat.shape[1] - 1) // m, ph, width, across)
            _combine(ph.reshape(-1), ph.shape[1], m, width, mat, run, vf, c * columns + (b - b0) * run,
                     channels * columns)


@jit
def output_transform(prod, m, width, across, b0, b1, t0, t1, at, ph, out):
    """Element e of out[b, o]'s sample m t + i = (A^T prod[:, o, ((b - b0) T + t - t0) width + e])_i for
    the samples the output has (rows, or columns where ``across`` > 1, as ``_phases`` reads them)."""
    channels, length = out.shape[1], out.shape[2] // width
    count = t1 - t0
    run = count * width
    columns = (b1 - b0) * run
    pf, hf = prod.reshape(-1), ph.reshape(-1)
    pitch = ph.shape[1]
    alpha = at.shape[1]
    step = np.uint64(m)
    w = np.uint64(width)
    skip = np.uint64(across)
    for b in range(b0, b1):
        for o in range(channels):
            _combine(pf[o * columns + (b - b0) * run:], channels * columns, alpha, width, at, run, hf, 0, pitch)
            row = out[b, o]
            full = max(0, min(count, (length - m * t0) // m))  # tiles whose m outputs all exist
            if width > 1:
                for t in range(count):
                    for i in range(m):
                        p = m * (t0 + t) + i
                        if p >= length:
                            continue
                        src = np.uint64(i * pitch + t * width)
                        if across == 1:
                            dst = np.uint64(p * width)
                            for e in range(w):
                                row[dst + e] = hf[src + e]
                        else:
                            for e in range(w):
                                row[np.uint64(p) + skip * e] = hf[src + e]
                continue
            for i in range(m):  # the phases interleave
                src, dst = np.uint64(i * pitch), np.uint64(m * t0 + i)
                for t in range(np.uint64(full)):
                    row[dst + step * t] = hf[src + t]
            for t in range(full, count):
                for i in range(m):
                    p = m * (t0 + t) + i
                    if p < length:
                        row[p] = hf[i * pitch + t]


# The kernel's transforms, U = G w and dw = dU G, summed in float64 (G has entries like 1/6) over runs of
# input channels, as winograd_channels does the 2-D ones. NumPy's float64 tensordot, with its copies
# and transposes, had taken 0.27 ms of a 1 ms forward (256 x 256 channels, 3 taps, batch 1).
# They run on the lanes (ranges of output channels) from KERNEL_GRAIN multiply-adds of G by w or dU (r for
# each element of U): on one thread against two, 64 -> 64 with 7 taps (287 Ki) 41 against 30 us for U and 43
# against 31 for dw, 128 -> 128 with 3 taps 49 against 35 and 64 against 42; 64 -> 64 with 5 taps (164 Ki)
# 26 against 28 and 28 against 33 (by elements of U, as the 2-D transforms count, all had run on one thread)
KERNEL_GRAIN = 1 << 18


@jit
def _kernel_rows(weight, g_mat, u, o0, o1):
    # u[a, o, c] = sum_k G[a, k] weight[o, c, k] for o0 <= o < o1; weight (O, Cg, r), u (alpha, O, Cg).
    # Every loop over the channels (unit stride), the sum over k accumulated in order
    alpha, r = g_mat.shape
    channels = np.uint64(weight.shape[1])
    w = np.empty((r, weight.shape[1]))
    total = np.empty(weight.shape[1])
    for o in range(o0, o1):
        src = weight[o]
        for k in range(r):
            row = w[k]
            for c in range(channels):
                row[c] = src[c, k]
        for a in range(alpha):
            for c in range(channels):
                total[c] = 0.0
            for k in range(r):
                coefficient, row = g_mat[a, k], w[k]
                for c in range(channels):
                    total[c] += coefficient * row[c]
            dst = u[a, o]
            for c in range(channels):
                dst[c] = total[c]


@jit
def _kernel_grad_rows(du, g_mat, dw, o0, o1):
    # dw[o, c, k] = sum_a dU[a, o, c] G[a, k] for o0 <= o < o1, the adjoint of _kernel_rows
    alpha, r = g_mat.shape
    cg = du.shape[2]
    right = np.empty((r, cg))
    for o in range(o0, o1):
        right[...] = 0
        for a in range(alpha):
            row = du[a, o]
            for k in range(r):
                coefficient = g_mat[a, k]
                for c in range(cg):
                    right[k, c] += row[c] * coefficient
        for c in range(cg):
            for k in range(r):
                dw[o, c, k] = right[k, c]


def _conv(x, weight, groups, start, out, width=1, across=(1, 1)):
    """out[n, o, p] = sum_{c, k} weight[o, c, k] x[n, c, start + p + k] (x zero outside) by F(m, r), on
    samples of ``width`` elements (x: (N, C, samples * width), out likewise), rows of x's and out's
    planes or, where ``across`` (x's, out's) is a row's length, their columns."""
    n, c = x.shape[:2]
    o, cg, r = weight.shape
    og = o // groups
    m = tile(r)
    at, g_mat, bt = matrices(r, m)
    alpha = r + m - 1
    tiles = -(-out.shape[2] // width // m)
    u = np.empty((alpha, o, cg), dtype=x.dtype)
    elementwise.by_size(_kernel_rows, u.size * r, o, np.ascontiguousarray(weight), g_mat, u, grain=KERNEL_GRAIN)
    u = u.reshape(alpha, groups, og, cg)
    bt, at = bt.astype(x.dtype), at.astype(x.dtype)

    def work(_, job, lane):
        (b0, b1), (t0, t1) = job
        columns = (b1 - b0) * (t1 - t0) * width
        v = lane.scratch("v", alpha * c * columns, x.dtype).reshape(alpha, c, columns)
        prod = lane.scratch("m", alpha * o * columns, x.dtype).reshape(alpha, groups, og, columns)
        pitch = (t1 - t0 + alpha) * width
        ph = lane.scratch("ph", m * pitch, x.dtype).reshape(m, pitch)
        tile_transform(x, start, m, width, across[0], b0, b1, t0, t1, bt, ph, v)
        # (alpha, G, Og, Cg) @ (alpha, G, Cg, T) -> (alpha, G, Og, T)
        np.matmul(u, v.reshape(alpha, groups, cg, columns), out=prod)
        output_transform(prod.reshape(alpha, o, columns), m, width, across[1], b0, b1, t0, t1, at, ph, out)

    per_tile = alpha * (c + o) * width
    lanes.run(winograd.chunks(n, tiles, per_tile * x.itemsize), work, size=n * tiles * per_tile)
    return out


def _weight_gradient(x, grad_out, r, groups, start, width=1, across=(1, 1)):
    """dw[o, c, k] = sum_p grad_out[n, o, p] x[n, c, start + p + k] on samples of ``width`` elements
    (rows or columns, ``across`` of x and grad_out as ``_conv``'s):
    M = U V per tile is linear in U = G w, so dU = sum over tiles of (A g) V^T, alpha GEMMs
    (O x tiles) @ (tiles x C), and dw = dU G."""
    n, c = x.shape[:2]
    o = grad_out.shape[1]
    cg, og = c // groups, o // groups
    m = tile(r)
    at, g_mat, bt = matrices(r, m)
    alpha = r + m - 1
    tiles = -(-grad_out.shape[2] // width // m)
    bt, a = bt.astype(x.dtype), np.ascontiguousarray(at.T.astype(x.dtype))
    du = np.empty((alpha, groups, og, cg), dtype=x.dtype)

    def work(index, job, lane):
        (b0, b1), (t0, t1) = job
        columns = (b1 - b0) * (t1 - t0) * width
        v = lane.scratch("v", alpha * c * columns, x.dtype).reshape(alpha, c, columns)
        gy = lane.scratch("g", alpha * o * columns, x.dtype).reshape(alpha, o, columns)
        pitch = (t1 - t0 + alpha) * width
        ph = lane.scratch("ph", m * pitch, x.dtype).reshape(m, pitch)
        part = lane.scratch("du", du.size, x.dtype).reshape(du.shape) if index else du
        tile_transform(x, start, m, width, across[0], b0, b1, t0, t1, bt, ph, v)
        tile_transform(grad_out, 0, m, width, across[1], b0, b1, t0, t1, a, ph, gy)
        # (alpha, G, Og, T) @ (alpha, G, T, Cg) -> (alpha, G, Og, Cg)
        np.matmul(gy.reshape(alpha, groups, og, columns), v.reshape(alpha, groups, cg, columns).transpose(0, 1, 3, 2),
                  out=part)
        with lane.turn(index):  # chunk 0 wrote du itself; the others add in chunk order
            if index:
                du[...] += part

    per_tile = alpha * (c + o) * width
    lanes.run(winograd.chunks(n, tiles, per_tile * x.itemsize), work, ordered=True, size=n * tiles * per_tile)
    dw = np.empty((o, cg, r), dtype=x.dtype)
    elementwise.by_size(_kernel_grad_rows, du.size * r, o, du.reshape(alpha, o, cg), g_mat, dw,
                        grain=KERNEL_GRAIN)
    return dw


# A 2-D k x 1 kernel runs down the columns with a whole image row as one sample, so every transform
# is a sum of runs of whole rows (tiles of m rows, each as wide as the image), and zero padding across
# (left and right) only adds zero output columns. A 1 x k kernel runs the same way along the rows with
# a whole column as one sample: the phase split gathers each column's elements (a row's length apart)
# into a run and the output's interleave scatters them back, so the transforms and GEMMs are the k x 1
# kernel's on the planes transposed, without a transposed copy. (1 x k kernels as the padded rows laid
# end to end, one long signal per plane, measured slower than im2col: 7 taps, 64 -> 64 at 28 x 28,
# batch 32 forward 16.9 against 13.7 ms; on transposed copies of the operands and result, 7.9 against
# 9.3 ms for the copies' 0.6 ms, where 7 x 1 ran 7.1.)

def _across(a, pads, kernel, width):
    """``a`` (N, C, H, W) without its zero outputs across (the padding across a k x 1 or 1 x k conv),
    C-contiguous: its planes' ``width`` elements a sample, between the padding."""
    left = pads[1 - axis(kernel)][0]
    cut = slice(left, left + width)
    return np.ascontiguousarray(a[..., cut] if axis(kernel) == 0 else a[..., cut, :])


def _across_stride(shape, kernel):
    return shape[-1] if axis(kernel) else 1


def winograd1d_forward(x, weight, stride, dilation, groups, pads=None):
    """r-tap stride-1 conv of x zero-padded by ``pads`` (read in place): 1-D, or 2-D with a k x 1 or
    1 x k kernel."""
    pads = zero_pads(pads, x.ndim - 2)
    o, cg = weight.shape[:2]
    x, w = np.ascontiguousarray(x), np.ascontiguousarray(weight).reshape(o, cg, -1)
    r = w.shape[2]
    n = x.shape[0]
    if x.ndim == 3:
        (before, after), = pads
        return _conv(x, w, groups, -before, np.empty((n, o, x.shape[2] + before + after - r + 1), dtype=x.dtype))
    kernel = weight.shape[2:]
    along = axis(kernel)
    (before, after), (left, right) = pads[along], pads[1 - along]
    width = x.shape[3 - along]
    samples = x.shape[2 + along] + before + after - r + 1
    shape = (samples, width) if along == 0 else (width, samples)
    inner = np.empty((n, o) + shape, x.dtype)
    _conv(x.reshape(n, x.shape[1], -1), w, groups, -before, inner.reshape(n, o, -1), width,
          (_across_stride(x.shape, kernel), _across_stride(shape, kernel)))
    if not left and not right:
        return inner
    padded = list(shape)
    padded[1 - along] += left + right
    out = np.zeros((n, o) + tuple(padded), dtype=x.dtype)
    cut = slice(left, left + width)
    out[(Ellipsis, cut, slice(None)) if along else (Ellipsis, cut)] = inner
    return out


def winograd1d_backward_input(grad_out, weight, in_shape, stride, dilation, groups, pads=None):
    """Gradient with respect to x of spatial size ``in_shape`` (zero-padded by ``pads`` in the forward)."""
    in_shape = tuple(int(s) for s in in_shape)
    pads = zero_pads(pads, len(in_shape))
    o, cg = weight.shape[:2]
    w = gradient_kernel(np.ascontiguousarray(weight).reshape(o, cg, -1), groups)
    r = w.shape[2]
    n = grad_out.shape[0]
    # x[i] received grad_out[p] * weight[k] for i + before = p + k: a correlation of grad_out read from
    # i + before - (r - 1) on, with the flipped kernel transposed to (G*Cg, Og, r)
    out = np.empty((n, groups * cg) + in_shape, dtype=grad_out.dtype)
    if len(in_shape) == 1:
        _conv(np.ascontiguousarray(grad_out), w, groups, pads[0][0] - r + 1, out)
        return out
    kernel = weight.shape[2:]
    along = axis(kernel)
    width = in_shape[1 - along]
    g = _across(grad_out, pads, kernel, width)
    _conv(g.reshape(n, o, -1), w, groups, pads[along][0] - r + 1, out.reshape(n, groups * cg, -1), width,
          (_across_stride(g.shape, kernel), _across_stride(in_shape, kernel)))
    return out


def winograd1d_backward_weight(x, grad_out, kernel_size, stride, dilation, groups, pads=None):
    """Gradient with respect to the weight of ``kernel_size``."""
    kernel_size = tuple(int(k) for k in kernel_size)
    pads = zero_pads(pads, x.ndim - 2)
    n, c = x.shape[:2]
    o = grad_out.shape[1]
    x = np.ascontiguousarray(x)
    along = axis(kernel_size)
    if x.ndim == 3:
        dw = _weight_gradient(x, np.ascontiguousarray(grad_out), kernel_size[0], groups, -pads[0][0])
    else:
        width = x.shape[3 - along]
        g = _across(grad_out, pads, kernel_size, width)
        dw = _weight_gradient(x.reshape(n, c, -1), g.reshape(n, o, -1), kernel_size[along], groups, -pads[along][0],
                              width, (_across_stride(x.shape, kernel_size), _across_stride(g.shape, kernel_size)))
    return dw.reshape((o, c // groups) + kernel_size)
