"""Pooling primitives: max, average, global average and adaptive pooling, with their gradients.

Max and average pooling run the window kernels of kernels/pooling.py (the same flat window offsets
as convolution's im2col); adaptive average pooling is a linear map applied axis by axis.
"""
import numpy as np

from ..kernels import pooling
from .function import Function, is_grad_enabled


class MaxPool(Function):
    """out[n, c, p] = max over window p; the gradient goes to the element each window picked."""

    def forward(self, x, geometry):
        self.geometry, self.x = geometry, x
        # the winning taps only when a backward can follow (apply sets needs_grad first; a node
        # built by hand, as for return_indices, keeps them): without them 3x3 pooling is 3x faster
        wanted = is_grad_enabled() and any(getattr(self, "needs_grad", (True,)))
        out, self.arg = pooling.max_pool_forward(x, geometry, with_arg=wanted)
        if wanted:
            self.x = None
        return out

    def backward(self, g):
        return (pooling.max_pool_backward(g, self.arg, self.geometry),)

    def indices(self, batch_shape):
        """PyTorch's return_indices: flat index of each maximum within its (n, c) input plane."""
        if self.arg is None:
            _, self.arg = pooling.max_pool_forward(self.x, self.geometry)
        return pooling.max_pool_indices(self.arg, self.geometry, batch_shape)


class AvgPool(Function):
    """out[n, c, p] = sum over window p / divisor[p]."""

    def forward(self, x, geometry, divisor):
        self.geometry, self.divisor = geometry, divisor
        return pooling.avg_pool_forward(x, geometry, divisor)

    def backward(self, g):
        return (pooling.avg_pool_backward(g, self.geometry, self.divisor),)


class GlobalAvgPool(Function):
    """Mean over every spatial axis, keeping them as size-1 axes: (N, C, *S) -> (N, C, 1, ..., 1)."""

    def forward(self, x):
        self.spatial = x.shape[2:]
        out = pooling.global_avg_pool_forward(x)
        return out.reshape(out.shape + (1,) * len(self.spatial))

    def backward(self, g):
        return (pooling.global_avg_pool_backward(g.reshape(g.shape[:2]), self.spatial),)


def adaptive_ranges(n, out):
    """PyTorch's adaptive windows: [floor(i*n/out), ceil((i+1)*n/out)) for i < out."""
    i = np.arange(out)
    return (i * n) // out, -((-(i + 1) * n) // out)


def adaptive_matrix(n, out, dtype):
    """(out, n) averaging matrix of one axis of adaptive average pooling."""
    lo, hi = adaptive_ranges(n, out)
    j = np.arange(n)
    inside = (j[None, :] >= lo[:, None]) & (j[None, :] < hi[:, None])
    return (inside / (hi - lo)[:, None]).astype(dtype)


class AdaptiveAvgPool(Function):
    """Adaptive average pooling: windows are rectangles, so it is one averaging matrix per axis."""

    def forward(self, x, output_size):
        self.matrices = [adaptive_matrix(n, o, x.dtype) for n, o in zip(x.shape[2:], output_size)]
        for axis, m in enumerate(self.matrices, start=2):
            # contract axis with m's columns, then put the new axis back in its place
            x = np.moveaxis(np.tensordot(x, m, axes=([axis], [1])), -1, axis)
        return np.ascontiguousarray(x)

    def backward(self, g):
        for axis, m in enumerate(self.matrices, start=2):
            g = np.moveaxis(np.tensordot(g, m, axes=([axis], [0])), -1, axis)
        return (np.ascontiguousarray(g),)


class AdaptiveMaxPool2d(Function):
    """Adaptive max pooling over (H, W); the first maximum of each window wins, as in PyTorch."""

    def forward(self, x, output_size):
        n, c, h, w = x.shape
        oh, ow = output_size
        self.shape = x.shape
        out = np.empty((n, c, oh, ow), dtype=x.dtype)
        self.index = np.empty((n, c, oh, ow), dtype=np.int64)
        (h_lo, h_hi), (w_lo, w_hi) = adaptive_ranges(h, oh), adaptive_ranges(w, ow)
        for i in range(oh):
            for j in range(ow):
                window = x[:, :, h_lo[i]:h_hi[i], w_lo[j]:w_hi[j]]
                flat = window.reshape(n, c, -1)
                # like PyTorch (`v > best || isnan(v)`), the last NaN wins over every number
                nan = np.isnan(flat)
                last_nan = flat.shape[-1] - 1 - nan[..., ::-1].argmax(-1)
                k = np.where(nan.any(-1), last_nan, flat.argmax(-1))
                out[:, :, i, j] = np.take_along_axis(flat, k[..., None], -1)[..., 0]
                row, col = np.divmod(k, w_hi[j] - w_lo[j])
                self.index[:, :, i, j] = (h_lo[i] + row) * w + w_lo[j] + col
        return out

    def backward(self, g):
        n, c = self.shape[:2]
        grad = np.zeros((n * c, self.shape[2] * self.shape[3]), dtype=g.dtype)
        rows = np.repeat(np.arange(n * c), g[0, 0].size)
        np.add.at(grad, (rows, self.index.reshape(-1)), g.reshape(-1))
        return (grad.reshape(self.shape),)
