"""Batch normalisation in training mode: normalise by the batch's own mean and variance.

(Evaluation mode uses fixed running statistics, so it is an affine map composed from Add and Mul.)
"""
import numpy as np

from .function import Function


class BatchNorm(Function):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over axes (0, 2, 3, ...), biased var.

    mean and var are the batch statistics of x, passed in because the caller also folds them into
    the running statistics; the backward accounts for their dependence on x.
    """

    def forward(self, x, weight, bias, mean, var, eps):
        shape = (1, -1) + (1,) * (x.ndim - 2)
        self.axes = (0,) + tuple(range(2, x.ndim))
        self.invstd = (1.0 / np.sqrt(var + eps)).astype(x.dtype).reshape(shape)
        self.xhat = (x - mean.reshape(shape)) * self.invstd
        self.weight = None if weight is None else weight.reshape(shape)
        out = self.xhat if weight is None else self.xhat * self.weight
        return out if bias is None else out + bias.reshape(shape)

    def backward(self, g):
        xhat, axes = self.xhat, self.axes
        count = g.size // g.shape[1]
        sum_g = g.sum(axis=axes, keepdims=True)
        sum_g_xhat = (g * xhat).sum(axis=axes, keepdims=True)
        grad_x = None
        if self.needs_grad[0]:
            scale = self.invstd if self.weight is None else self.invstd * self.weight
            grad_x = scale * (g - sum_g / count - xhat * (sum_g_xhat / count))
        grad_w = sum_g_xhat.reshape(-1) if self.needs_grad[1] else None
        grad_b = sum_g.reshape(-1) if self.needs_grad[2] else None
        return grad_x, grad_w, grad_b
