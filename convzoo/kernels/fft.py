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
"""
import numpy as np

try:  # SciPy's pocketfft runs transforms on several threads; NumPy's is the same code, one thread
    import scipy.fft as _fft
    _THREADS = {"workers": -1}
except ImportError:  # pragma: no cover - SciPy is optional
    _fft = np.fft
    _THREADS = {}


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
    axes = tuple(range(2, a.ndim))
    return _fft.rfftn(a, s=shape, axes=axes, **_THREADS)


def _irfft(a, shape, keep, dtype):
    axes = tuple(range(2, a.ndim))
    out = _fft.irfftn(a, s=shape, axes=axes, **_THREADS)
    return np.ascontiguousarray(out[(slice(None), slice(None)) + tuple(slice(0, m) for m in keep)], dtype=dtype)


def _channel_product(a, b, groups, conjugate_b):
    """sum over the channels a group shares: a (N, G*A, *F), b (G*B, A, *F) -> (N, G*B, *F)."""
    n, ca = a.shape[:2]
    cb, shared = b.shape[:2]
    freq = a.shape[2:]
    if conjugate_b:
        b = np.conj(b)
    if shared == 1:  # depthwise: output channel o reads input channel o // m
        m = cb // ca
        return (a.reshape((n, ca, 1) + freq) * b.reshape((1, ca, m) + freq)).reshape((n, cb) + freq)
    f = int(np.prod(freq))
    # (F, G, N, A) @ (F, G, A, B) -> (F, G, N, B)
    a_t = a.reshape(n, groups, shared, f).transpose(3, 1, 0, 2)
    b_t = b.reshape(groups, cb // groups, shared, f).transpose(3, 0, 2, 1)
    out = np.matmul(a_t, b_t)
    return out.transpose(2, 1, 3, 0).reshape((n, cb) + freq)


def fft_forward(xp, weight, stride, dilation, groups):
    shape = transform_shape(xp.shape[2:])
    out_shape = tuple(n - k + 1 for n, k in zip(xp.shape[2:], weight.shape[2:]))
    y = _channel_product(_rfft(xp, shape), _rfft(weight, shape), groups, conjugate_b=True)
    return _irfft(y, shape, out_shape, xp.dtype)


def fft_backward_input(grad_out, weight, padded_shape, stride, dilation, groups):
    shape = transform_shape(padded_shape)
    # weight (O, Cg, *k) seen from the output side: (G*Cg, Og, *k)
    o, cg = weight.shape[:2]
    w_t = weight.reshape((groups, o // groups, cg) + weight.shape[2:]).swapaxes(1, 2)
    w_t = w_t.reshape((groups * cg, o // groups) + weight.shape[2:])
    grad = _channel_product(_rfft(grad_out, shape), _rfft(w_t, shape), groups, conjugate_b=False)
    return _irfft(grad, shape, padded_shape, grad_out.dtype)


def fft_backward_weight(xp, grad_out, kernel_size, stride, dilation, groups):
    shape = transform_shape(xp.shape[2:])
    n, c = xp.shape[:2]
    o = grad_out.shape[1]
    cg, og = c // groups, o // groups
    x_f, g_f = _rfft(xp, shape), np.conj(_rfft(grad_out, shape))
    freq = x_f.shape[2:]
    if cg == 1:  # depthwise: sum over images of conj(G[n, o]) * X[n, o // m]
        m = o // c
        grad = np.einsum("ncm...,nc...->cm...", g_f.reshape((n, c, m) + freq), x_f).reshape((o, 1) + freq)
    else:
        f = int(np.prod(freq))
        # (F, G, Og, N) @ (F, G, N, Cg) -> (F, G, Og, Cg)
        g_t = g_f.reshape(n, groups, og, f).transpose(3, 1, 2, 0)
        x_t = x_f.reshape(n, groups, cg, f).transpose(3, 1, 0, 2)
        grad = np.matmul(g_t, x_t).transpose(1, 2, 3, 0).reshape((o, cg) + freq)
    return _irfft(grad, shape, kernel_size, xp.dtype)
