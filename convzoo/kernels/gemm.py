"""Convolution as GEMM through BLAS: im2col (chunked to a memory budget) and 1x1 as a plain GEMM.

Conventions of every kernel module: ``xp`` is the padded input ``(N, C, *S)``, ``weight`` is
``(O, C/groups, *k)``, ``grad_out`` is ``(N, O, *P)``; the three ops are

    forward(xp, weight, stride, dilation, groups)                          -> (N, O, *P)
    backward_input(grad_out, weight, padded_shape, stride, dilation, groups) -> (N, C, *S)
    backward_weight(xp, grad_out, kernel_size, stride, dilation, groups)   -> (O, C/groups, *k)

im2col gathers only the taps the dilated kernel reads, so dilated convs never multiply by zeros.
"""
import numpy as np

from . import workspace
from .window import RowOffsets

# below this many output positions per image, the columns of a chunk are laid out (C*K, B*P) so
# that one wide GEMM replaces B narrow ones
WIDE_BELOW = 1024


def _wide(p, batch):
    return p < WIDE_BELOW and batch > 1


def im2col_forward(xp, weight, stride, dilation, groups):
    n, c = xp.shape[:2]
    o, cg = weight.shape[:2]
    kernel = weight.shape[2:]
    offsets = RowOffsets(xp.shape[2:], kernel, stride, dilation)
    k, rows, width = offsets.taps, offsets.rows, offsets.width
    p = rows * width
    og = o // groups
    w = weight.reshape(groups, og, cg * k)  # (G, Og, Cg*K)
    flat = np.ascontiguousarray(xp).reshape(n, c, -1)
    out = np.empty((n, o, p), dtype=xp.dtype)
    for (b0, b1), (r0, r1) in workspace.chunks(n, rows, c * k * width * xp.itemsize):
        bs, ps = b1 - b0, (r1 - r0) * width
        if _wide(p, bs):
            buf = np.empty((c, k, bs, ps), dtype=xp.dtype)  # (C, K, B, P): columns side by side
            offsets.gather(flat[b0:b1], buf.transpose(2, 0, 1, 3), r0)
            res = np.matmul(w, buf.reshape(groups, cg * k, bs * ps))  # (G, Og, B*P)
            out[b0:b1] = res.reshape(o, bs, ps).transpose(1, 0, 2)
        else:
            cols = np.empty((bs, c, k, ps), dtype=xp.dtype)
            offsets.gather(flat[b0:b1], cols, r0)
            res = np.matmul(w, cols.reshape(bs, groups, cg * k, ps))  # (B, G, Og, P)
            out[b0:b1, :, r0 * width:r1 * width] = res.reshape(bs, o, ps)
    return out.reshape((n, o) + offsets.out_shape)


def im2col_backward_input(grad_out, weight, padded_shape, stride, dilation, groups):
    n, o = grad_out.shape[:2]
    cg = weight.shape[1]
    c, og = cg * groups, o // groups
    kernel = weight.shape[2:]
    offsets = RowOffsets(padded_shape, kernel, stride, dilation)
    k, rows, width = offsets.taps, offsets.rows, offsets.width
    w_t = weight.reshape(groups, og, cg * k).transpose(0, 2, 1)  # (G, Cg*K, Og)
    g = grad_out.reshape(n, groups, og, rows * width)
    out = np.zeros((n, c, int(np.prod(padded_shape))), dtype=grad_out.dtype)
    for (b0, b1), (r0, r1) in workspace.chunks(n, rows, c * k * width * grad_out.itemsize):
        cols = np.matmul(w_t, g[b0:b1, :, :, r0 * width:r1 * width])  # (B, G, Cg*K, P)
        offsets.scatter(cols.reshape(b1 - b0, c, k, -1), out[b0:b1], r0)
    return out.reshape((n, c) + tuple(padded_shape))


def im2col_backward_weight(xp, grad_out, kernel_size, stride, dilation, groups):
    n, c = xp.shape[:2]
    o = grad_out.shape[1]
    cg, og = c // groups, o // groups
    offsets = RowOffsets(xp.shape[2:], kernel_size, stride, dilation)
    k, rows, width = offsets.taps, offsets.rows, offsets.width
    flat = np.ascontiguousarray(xp).reshape(n, c, -1)
    g = grad_out.reshape(n, groups, og, rows * width)
    grad_w = np.zeros((groups, og, cg * k), dtype=xp.dtype)
    for (b0, b1), (r0, r1) in workspace.chunks(n, rows, (c * k + o) * width * xp.itemsize):
        bs, ps = b1 - b0, (r1 - r0) * width
        buf = np.empty((c, k, bs, ps), dtype=xp.dtype)
        offsets.gather(flat[b0:b1], buf.transpose(2, 0, 1, 3), r0)
        # g chunk as (G, Og, B*P) so one GEMM contracts images and positions at once
        g_t = np.ascontiguousarray(g[b0:b1, :, :, r0 * width:r1 * width].transpose(1, 2, 0, 3))
        grad_w += np.matmul(g_t.reshape(groups, og, bs * ps),
                            buf.reshape(groups, cg * k, bs * ps).transpose(0, 2, 1))
    return grad_w.reshape((o, cg) + tuple(kernel_size))


def _pointwise_view(xp, stride):
    """The pixels a 1x1 kernel reads: (N, C, *P), a strided view (no copy at stride 1)."""
    return xp[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride)]


def pointwise_forward(xp, weight, stride, dilation, groups):
    n, c = xp.shape[:2]
    o, cg = weight.shape[:2]
    x = _pointwise_view(xp, stride)
    out_shape = x.shape[2:]
    x = np.ascontiguousarray(x).reshape(n, groups, cg, -1)
    out = np.matmul(weight.reshape(groups, o // groups, cg), x)  # (N, G, Og, P)
    return out.reshape((n, o) + out_shape)


def pointwise_backward_input(grad_out, weight, padded_shape, stride, dilation, groups):
    n, o = grad_out.shape[:2]
    cg = weight.shape[1]
    c, og = cg * groups, o // groups
    w_t = weight.reshape(groups, og, cg).transpose(0, 2, 1)
    grad = np.matmul(w_t, grad_out.reshape(n, groups, og, -1))  # (N, G, Cg, P)
    grad = grad.reshape((n, c) + grad_out.shape[2:])
    if all(s == 1 for s in stride) and grad.shape[2:] == tuple(padded_shape):
        return grad
    out = np.zeros((n, c) + tuple(padded_shape), dtype=grad_out.dtype)
    out[(slice(None), slice(None)) + tuple(slice(0, m * s, s) for m, s in zip(grad_out.shape[2:], stride))] = grad
    return out


def pointwise_backward_weight(xp, grad_out, kernel_size, stride, dilation, groups):
    n, c = xp.shape[:2]
    o = grad_out.shape[1]
    cg, og = c // groups, o // groups
    x = _pointwise_view(xp, stride)
    x = x[(slice(None), slice(None)) + tuple(slice(0, m) for m in grad_out.shape[2:])]
    x = np.ascontiguousarray(x).reshape(n, groups, cg, -1)
    g = grad_out.reshape(n, groups, og, -1)
    if n == 1:
        grad_w = np.matmul(g[0], x[0].transpose(0, 2, 1))
    else:
        # (G, Og, N*P) @ (G, N*P, Cg): the batch joins the contracted axis
        p = x.shape[-1]
        g_t = np.ascontiguousarray(g.transpose(1, 2, 0, 3)).reshape(groups, og, n * p)
        x_t = np.ascontiguousarray(x.transpose(1, 2, 0, 3)).reshape(groups, cg, n * p)
        grad_w = np.matmul(g_t, x_t.transpose(0, 2, 1))
    return grad_w.reshape((o, cg) + tuple(kernel_size))
