"""Slow, obviously correct reference implementations: the executable specification.

Written from the definitions, independently of the package's kernels (no im2col, no flat offsets,
no shared padding code).
"""
import itertools

import numpy as np


def source(i, n, mode):
    """Which input index padded index i (may be outside [0, n)) reads, by each mode's definition."""
    if mode == "circular":
        return i % n
    if mode == "replicate":
        return min(max(i, 0), n - 1)
    if mode == "reflect":  # d c b | a b c d | c b a: the edge sample is not repeated
        while not 0 <= i < n:
            i = -i if i < 0 else 2 * (n - 1) - i
        return i
    if mode == "symmetric":  # c b a | a b c d | d c b: the edge sample is repeated
        while not 0 <= i < n:
            i = -i - 1 if i < 0 else 2 * n - 1 - i
        return i
    raise ValueError(mode)


def pad(x, pairs, mode="zeros", value=0.0):
    """Pad the trailing len(pairs) axes of x, element by element."""
    lead = x.ndim - len(pairs)
    sizes = x.shape[lead:]
    out_sizes = tuple(n + b + a for n, (b, a) in zip(sizes, pairs))
    out = np.full(x.shape[:lead] + out_sizes, value, dtype=x.dtype)
    for idx in itertools.product(*(range(m) for m in out_sizes)):
        shifted = [i - b for i, (b, _) in zip(idx, pairs)]
        if mode == "zeros":
            if all(0 <= i < n for i, n in zip(shifted, sizes)):
                out[(...,) + idx] = x[(...,) + tuple(shifted)]
        else:
            out[(...,) + idx] = x[(...,) + tuple(source(i, n, mode) for i, n in zip(shifted, sizes))]
    return out


def pad_adjoint(g, pairs, mode="zeros"):
    """Transpose of ``pad``: every padded element's value is added onto the input element it copies."""
    lead = g.ndim - len(pairs)
    sizes = tuple(m - b - a for m, (b, a) in zip(g.shape[lead:], pairs))
    out = np.zeros(g.shape[:lead] + sizes, dtype=g.dtype)
    for idx in itertools.product(*(range(m) for m in g.shape[lead:])):
        shifted = [i - b for i, (b, _) in zip(idx, pairs)]
        if mode == "zeros":
            if all(0 <= i < n for i, n in zip(shifted, sizes)):
                out[(...,) + tuple(shifted)] += g[(...,) + idx]
        else:
            out[(...,) + tuple(source(i, n, mode) for i, n in zip(shifted, sizes))] += g[(...,) + idx]
    return out


def conv(x, w, stride, dilation, groups):
    """Cross-correlation of an already padded x (N, C, *S) with w (O, C/groups, *k), window by window."""
    n_batch, c = x.shape[:2]
    o, cg = w.shape[:2]
    og = o // groups
    kernel = w.shape[2:]
    out_shape = tuple((s_ - d * (k - 1) - 1) // st + 1 for s_, k, st, d in zip(x.shape[2:], kernel, stride, dilation))
    out = np.zeros((n_batch, o) + out_shape, dtype=x.dtype)
    for p in itertools.product(*(range(m) for m in out_shape)):
        window = (slice(None), slice(None)) + tuple(
            slice(pi * st, pi * st + d * (k - 1) + 1, d) for pi, st, d, k in zip(p, stride, dilation, kernel))
        patch = x[window]  # (N, C, *k)
        for g in range(groups):
            xs = patch[:, g * cg:(g + 1) * cg].reshape(n_batch, -1)
            ws = w[g * og:(g + 1) * og].reshape(og, -1)
            out[(slice(None), slice(g * og, (g + 1) * og)) + p] = xs @ ws.T
    return out


def conv_transpose(u, w, stride, dilation, groups, padded_shape):
    """Scatter definition: input pixel p spreads u[p] * w over output pixels p*stride + k*dilation."""
    n_batch, c_in = u.shape[:2]
    cg_in, og = c_in // groups, w.shape[1]
    kernel = w.shape[2:]
    out = np.zeros((n_batch, og * groups) + tuple(padded_shape), dtype=u.dtype)
    for p in itertools.product(*(range(m) for m in u.shape[2:])):
        window = tuple(slice(pi * st, pi * st + d * (k - 1) + 1, d)
                       for pi, st, d, k in zip(p, stride, dilation, kernel))
        for g in range(groups):
            contribution = np.einsum("nc,co...->no...", u[(slice(None), slice(g * cg_in, (g + 1) * cg_in)) + p],
                                     w[g * cg_in:(g + 1) * cg_in])
            out[(slice(None), slice(g * og, (g + 1) * og)) + window] += contribution
    return out


def conv_weight_grad(x, grad_out, kernel, stride, dilation, groups):
    """d<conv(x, w), grad_out>/dw by its definition: sum over batch and output pixels."""
    n_batch, c = x.shape[:2]
    o = grad_out.shape[1]
    cg, og = c // groups, o // groups
    grad_w = np.zeros((o, cg) + tuple(kernel), dtype=x.dtype)
    for p in itertools.product(*(range(m) for m in grad_out.shape[2:])):
        window = (slice(None), slice(None)) + tuple(
            slice(pi * st, pi * st + d * (k - 1) + 1, d) for pi, st, d, k in zip(p, stride, dilation, kernel))
        patch = x[window]
        for g in range(groups):
            grad_w[g * og:(g + 1) * og] += np.einsum(
                "no,nc...->oc...", grad_out[(slice(None), slice(g * og, (g + 1) * og)) + p],
                patch[:, g * cg:(g + 1) * cg])
    return grad_w
