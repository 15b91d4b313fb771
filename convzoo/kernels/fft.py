"""FFT convolution for large kernels (stride 1, dilation 1): forward and both gradients.

With every plane zero-extended to a fast length ``L >= padded size`` the circular correlation equals
the linear one on the outputs we keep, so per axis

    forward          y[p] = sum_k w[k] x[p + k]       Y = X * conj(W)
    backward-input   gx[q] = sum_k w[k] g[q - k]      GX = G * W
    backward-weight  gw[k] = sum_p g[p] x[p + k]      GW = sum_n conj(G) * X

and the channel sums become a product per frequency (elementwise for depthwise, a small matrix
product per frequency otherwise). A 31x31 depthwise plane of 56x56 costs about 0.6 MFLOP this way
against 6 MFLOP directly. Transforms run in the input's precision (float32 -> complex64, twice as
fast as float64): the rounding error of an FFT is relative to the largest value of the plane, not to
each output, and stays near 1e-6 of it in float32 (README "Algorithms").

Dense convs (more than one input channel per group) keep their transforms frequencies first:
(*F, N, C) instead of (N, C, *F). The product per frequency is then a batched GEMM on contiguous
operands, with no complex (N, C, F) <-> (F, N, C) transposes around it (NumPy moved those at about
3 GB/s: 48 of the 120 ms of a 32x64x34x34 * 64x64x7x7 forward pass, against 11 ms for the GEMMs);
the only transposes are of the real planes, into and out of the zero-extended grid, by Numba loops.
Depthwise convs multiply elementwise and keep the planes' own layout.
"""
import numpy as np

from . import lanes
from .jit import jit_parallel, prange

try:  # SciPy's pocketfft runs transforms on several threads; NumPy's is the same code, one thread
    import scipy.fft as _fft
    _THREADS = {"workers": -1}
    _IN_PLACE = {"workers": -1, "overwrite_x": True}  # on transforms of arrays made here, to be dropped
except ImportError:  # pragma: no cover - SciPy is optional
    _fft = np.fft
    _THREADS = _IN_PLACE = {}


def fast_length(n):
    """The smallest 2^a 3^b 5^c >= n, where pocketfft is fastest."""
    best = 1 << max(int(n) - 1, 0).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35
            while p < n:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


def transform_shape(padded_shape):
    return tuple(fast_length(n) for n in padded_shape)


def _rfft(a, shape):
    """Planes a (N, C, *S) -> their transforms (N, C, *F), S zero-extended to shape. The real
    transform runs along the last axis on the planes' own rows only (``n=`` zero-extends each row),
    and the complex ones along the other axes (a 31x31 kernel's transform on a 90x90 grid: 31 rows
    of the first pass instead of 90: 1.40 -> 0.99 ms for 128 planes on two threads)."""
    last = a.ndim - 1
    f = _fft.rfft(a, n=shape[-1], axis=last, **_THREADS)
    if last > 2:
        f = _fft.fftn(f, s=shape[:-1], axes=tuple(range(2, last)), **_IN_PLACE)
    return f


def _irfft(a, shape, keep, dtype):
    """Transforms (N, C, *F) -> the planes' corner ``keep`` (N, C, *keep): the complex inverses
    first, then the real inverse along the last axis on the kept rows only (a 56x56 output of a
    90x90 grid, 128 planes: 2.08 -> 1.19 ms)."""
    last = a.ndim - 1
    if last > 2:
        a = _fft.ifftn(a, axes=tuple(range(2, last)), **_THREADS)
        a = a[(slice(None), slice(None)) + tuple(slice(0, m) for m in keep[:-1])]
    out = _fft.irfft(a, n=shape[-1], axis=last, **_THREADS)
    return np.ascontiguousarray(out[..., :keep[-1]], dtype=dtype)


def _depthwise_product(a, b):
    """a (N, C, *F), conj(b) (C*M, 1, *F) -> (N, C*M, *F): output channel o reads input channel o // M."""
    n, ca = a.shape[:2]
    cb = b.shape[0]
    freq = a.shape[2:]
    b = np.conj(b)
    m = cb // ca
    return (a.reshape((n, ca, 1) + freq) * b.reshape((1, ca, m) + freq)).reshape((n, cb) + freq)


# the transposes below move blocks of BLOCK x BLOCK elements, so both sides stream whole cache lines
BLOCK = 32


@jit_parallel
def _planes_to_grid(src, dst):
    """dst[m, j] = src[j, m]: planes (J, M) into the frequencies-first grid (M, J)."""
    planes, size = src.shape
    for b in prange((size + BLOCK - 1) // BLOCK):
        m0, m1 = b * BLOCK, min(b * BLOCK + BLOCK, size)
        for j0 in range(0, planes, BLOCK):
            j1 = min(j0 + BLOCK, planes)
            for m in range(m0, m1):
                for j in range(j0, j1):
                    dst[m, j] = src[j, m]


@jit_parallel
def _grid_to_planes(src, dst):
    """dst[j, r, w] = src[r, w, j]: rows of the grid (R, W' >= W, J) back into planes (J, R, W)."""
    planes, rows, width = dst.shape
    for r in prange(rows):
        for j0 in range(0, planes, BLOCK):
            j1 = min(j0 + BLOCK, planes)
            for w0 in range(0, width, BLOCK):
                w1 = min(w0 + BLOCK, width)
                for j in range(j0, j1):
                    for w in range(w0, w1):
                        dst[j, r, w] = src[r, w, j]


def _to_frequencies(a, shape):
    """Planes a (P, Q, *S) -> their transforms, frequencies first: (prod F, P, Q), S zero-extended to shape.

    The real transform runs along the last axis on the planes' own rows (``n=`` zero-extends each
    row); only the complex transforms along the other axes see the zero rows."""
    p, q, size = a.shape[0], a.shape[1], a.shape[2:]
    grid = np.empty(tuple(size) + (p * q,), dtype=a.dtype)
    _planes_to_grid(np.ascontiguousarray(a).reshape(p * q, -1), grid.reshape(-1, p * q))
    last = len(size) - 1
    f = _fft.rfft(grid, n=shape[-1], axis=last, **_IN_PLACE)
    if last:
        f = _fft.fftn(f, s=shape[:-1], axes=tuple(range(last)), **_IN_PLACE)
    return f.reshape(-1, p, q)


def _from_frequencies(f, shape, keep, dtype):
    """Transforms (prod F, P, Q), frequencies first -> the planes' corner ``keep``: (P, Q, *keep).

    The inverse runs as the transform in reverse: complex along every axis but the last, then the
    real inverse along the last axis on the kept rows only."""
    p, q = f.shape[1:]
    last = len(shape) - 1
    f = f.reshape(tuple(shape[:-1]) + (shape[-1] // 2 + 1, p * q))
    if last:
        f = _fft.ifftn(f, axes=tuple(range(last)), **_IN_PLACE)
        f = f[tuple(slice(0, m) for m in keep[:-1])]
    grid = _fft.irfft(f, n=shape[-1], axis=last, **_IN_PLACE).astype(dtype, copy=False)
    planes = np.empty((p * q, int(np.prod(keep[:-1])), keep[-1]), dtype=dtype)
    _grid_to_planes(grid.reshape(planes.shape[1], shape[-1], p * q), planes)
    return planes.reshape((p, q) + tuple(keep))


def _conjugated(a):
    return np.conjugate(a, out=a)


def _per_frequency(out, products):
    """Run ``products(lo, hi)`` (the GEMMs of frequencies lo:hi, written into ``out``) on the lanes."""
    lanes.run(lanes.ranges(out.shape[0]), lambda _, span, lane: products(*span))
    return out


def fft_forward(xp, weight, stride, dilation, groups):
    shape = transform_shape(xp.shape[2:])
    out_shape = tuple(n - k + 1 for n, k in zip(xp.shape[2:], weight.shape[2:]))
    if weight.shape[1] == 1:
        y = _depthwise_product(_rfft(xp, shape), _rfft(weight, shape))
        return _irfft(y, shape, out_shape, xp.dtype)
    n, c, o = xp.shape[0], xp.shape[1], weight.shape[0]
    cg, og = c // groups, o // groups
    x_f = _to_frequencies(xp, shape).reshape(-1, n, c)
    w_f = _conjugated(_to_frequencies(weight, shape)).reshape(-1, o, cg)
    y = np.empty((x_f.shape[0], n, o), dtype=x_f.dtype)

    def products(lo, hi):  # Y[f, n, o] = sum_c X[f, n, c] conj(W[f, o, c])
        for g in range(groups):
            np.matmul(x_f[lo:hi, :, g * cg:(g + 1) * cg], w_f[lo:hi, g * og:(g + 1) * og].transpose(0, 2, 1),
                      out=y[lo:hi, :, g * og:(g + 1) * og])
    return _from_frequencies(_per_frequency(y, products), shape, out_shape, xp.dtype).reshape((n, o) + out_shape)


def fft_backward_input(grad_out, weight, padded_shape, stride, dilation, groups):
    shape = transform_shape(padded_shape)
    padded_shape = tuple(padded_shape)
    o, cg = weight.shape[:2]
    if cg == 1:  # depthwise: GX[n, c] = sum over the multiplier m of G[n, c*M + m] * W[c*M + m]
        n, m = grad_out.shape[0], o // groups
        g_f, w_f = _rfft(grad_out, shape), _rfft(weight, shape)
        freq = g_f.shape[2:]
        grad = g_f.reshape((n, groups, m) + freq) * w_f.reshape((1, groups, m) + freq)
        grad = grad[:, :, 0] if m == 1 else grad.sum(axis=2)
        return _irfft(grad, shape, padded_shape, grad_out.dtype)
    n, og, c = grad_out.shape[0], o // groups, cg * groups
    g_f = _to_frequencies(grad_out, shape).reshape(-1, n, o)
    w_f = _to_frequencies(weight, shape).reshape(-1, o, cg)
    gx = np.empty((g_f.shape[0], n, c), dtype=g_f.dtype)

    def products(lo, hi):  # GX[f, n, c] = sum_o G[f, n, o] W[f, o, c]
        for g in range(groups):
            np.matmul(g_f[lo:hi, :, g * og:(g + 1) * og], w_f[lo:hi, g * og:(g + 1) * og],
                      out=gx[lo:hi, :, g * cg:(g + 1) * cg])
    return _from_frequencies(_per_frequency(gx, products), shape, padded_shape,
                             grad_out.dtype).reshape((n, c) + padded_shape)


def fft_backward_weight(xp, grad_out, kernel_size, stride, dilation, groups):
    shape = transform_shape(xp.shape[2:])
    kernel_size = tuple(kernel_size)
    n, c = xp.shape[:2]
    o = grad_out.shape[1]
    cg, og = c // groups, o // groups
    if cg == 1:  # depthwise: sum over images of conj(G[n, o]) * X[n, o // m]
        x_f, g_f = _rfft(xp, shape), np.conj(_rfft(grad_out, shape))
        freq = x_f.shape[2:]
        m = o // c
        grad = np.einsum("ncm...,nc...->cm...", g_f.reshape((n, c, m) + freq), x_f).reshape((o, 1) + freq)
        return _irfft(grad, shape, kernel_size, xp.dtype)
    x_f = _to_frequencies(xp, shape).reshape(-1, n, c)
    g_f = _conjugated(_to_frequencies(grad_out, shape)).reshape(-1, n, o)
    gw = np.empty((x_f.shape[0], o, cg), dtype=x_f.dtype)

    def products(lo, hi):  # GW[f, o, c] = sum_n conj(G[f, n, o]) X[f, n, c]
        for g in range(groups):
            np.matmul(g_f[lo:hi, :, g * og:(g + 1) * og].transpose(0, 2, 1), x_f[lo:hi, :, g * cg:(g + 1) * cg],
                      out=gw[lo:hi, g * og:(g + 1) * og])
    return _from_frequencies(_per_frequency(gw, products), shape, kernel_size, xp.dtype).reshape((o, cg) + kernel_size)
