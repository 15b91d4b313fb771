"""The three convolution kernels: forward, backward-input, backward-weight.

All three take an already padded input (padding lives in ``padding.py``) and plain ndarrays in
PyTorch's layouts: x ``(N, C_in, *spatial)``, weight ``(C_out, C_in/groups, *k)``. Cross-correlation:

    out[n, g*Og + o, p] = sum_{c, k} weight[g*Og + o, c, k] * xp[n, g*Cg + c, p*stride + k*dilation]

Transposed convolution is ``conv_backward_input``; its gradients are ``conv_forward`` and
``conv_backward_weight`` with the roles of input and output swapped.
"""
import numpy as np

from .window import output_shape, windows, windows_adjoint


def conv_forward(xp, weight, stride, dilation, groups):
    """(N, C, *padded) * (O, C/g, *k) -> (N, O, *out) by im2col and one batched GEMM."""
    n, c = xp.shape[:2]
    o, cg = weight.shape[:2]
    kernel_size = weight.shape[2:]
    out_shape = output_shape(xp.shape[2:], kernel_size, stride, dilation)
    # cols: (N, G, Cg*K, P); w: (G, Og, Cg*K)
    cols = windows(xp, kernel_size, stride, dilation).reshape(n, groups, -1, int(np.prod(out_shape)))
    w = weight.reshape(groups, o // groups, -1)
    return np.matmul(w, cols).reshape((n, o) + out_shape)


def conv_backward_input(grad_out, weight, padded_shape, stride, dilation, groups):
    """Gradient of conv_forward with respect to its (padded) input: GEMM then col2im scatter."""
    n, o = grad_out.shape[:2]
    kernel_size = weight.shape[2:]
    # w^T: (G, Cg*K, Og); grad_out: (N, G, Og, P) -> grad_cols: (N, G, Cg*K, P)
    w_t = weight.reshape(groups, o // groups, -1).transpose(0, 2, 1)
    grad_cols = np.matmul(w_t, grad_out.reshape(n, groups, o // groups, -1))
    c = weight.shape[1] * groups
    grad_cols = grad_cols.reshape(n, c, int(np.prod(kernel_size)), -1)
    # windows read only the first (out-1)*stride + dilation*(k-1) + 1 samples of each axis; the rest of
    # padded_shape (a transposed conv's output_padding may exceed the stride) gets zero gradient
    used = tuple((p - 1) * s + d * (k - 1) + 1
                 for p, k, s, d in zip(grad_out.shape[2:], kernel_size, stride, dilation))
    grad = windows_adjoint(grad_cols, used, kernel_size, stride, dilation)
    if used == tuple(padded_shape):
        return grad
    out = np.zeros((n, c) + tuple(padded_shape), dtype=grad.dtype)
    out[(slice(None), slice(None)) + tuple(slice(0, u) for u in used)] = grad
    return out


def conv_backward_weight(xp, grad_out, kernel_size, stride, dilation, groups):
    """Gradient of conv_forward with respect to weight, computed as a convolution itself.

    grad_w[o, c, k] = sum_{n, p} grad_out[n, o, p] * xp[n, c, k*dilation + p*stride]: a correlation
    of x with grad_out as the kernel, where the batch is the contracted channel axis and stride and
    dilation trade places.
    """
    n, c = xp.shape[:2]
    o = grad_out.shape[1]
    out_shape = grad_out.shape[2:]
    cg, og = c // groups, o // groups
    # only the part of xp that some window reads
    used = tuple(slice(0, (p - 1) * s + (k - 1) * d + 1)
                 for p, k, s, d in zip(out_shape, kernel_size, stride, dilation))
    xp = xp[(slice(None), slice(None)) + used]
    spatial = xp.shape[2:]
    nd = len(spatial)
    # x': (Cg, G*N, *S), the groups' batches side by side as channels
    x_swapped = xp.reshape((n, groups, cg) + spatial).transpose((2, 1, 0) + tuple(range(3, 3 + nd)))
    x_swapped = x_swapped.reshape((cg, groups * n) + spatial)
    # w': (G*Og, N, *P)
    w_swapped = grad_out.reshape((n, groups, og) + out_shape).transpose((1, 2, 0) + tuple(range(3, 3 + nd)))
    w_swapped = w_swapped.reshape((groups * og, n) + out_shape)
    r = conv_forward(x_swapped, w_swapped, dilation, stride, groups)  # (Cg, G*Og, *k)
    r = r.reshape((cg, groups, og) + tuple(kernel_size)).transpose((1, 2, 0) + tuple(range(3, 3 + nd)))
    return np.ascontiguousarray(r.reshape((o, cg) + tuple(kernel_size)))
