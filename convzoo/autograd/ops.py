"""Elementwise, reduction and shape primitives: forward and vector-Jacobian product side by side.

Gradients of broadcast inputs come back full-size; the engine sums them down (``unbroadcast``).
"""
import numpy as np

from ..kernels import lanes
from .function import Function


class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, g):
        return g, g


class Sub(Function):
    def forward(self, a, b):
        return a - b

    def backward(self, g):
        return g, -g


class Mul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        return g * self.b, g * self.a


class Div(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, g):
        return g / self.b, -g * self.a / (self.b * self.b)


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return (-g,)


class Pow(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = a ** b
        return self.out

    def backward(self, g):
        grad_b = None
        if self.needs_grad[1]:
            # d(a^b)/db = a^b log a, defined where a > 0
            grad_b = g * self.out * np.log(np.where(self.a > 0, self.a, 1))
        return g * self.b * self.a ** (self.b - 1), grad_b


class Exp(Function):
    def forward(self, a):
        self.out = np.exp(a)
        return self.out

    def backward(self, g):
        return (g * self.out,)


class Log(Function):
    def forward(self, a):
        self.a = a
        return np.log(a)

    def backward(self, g):
        return (g / self.a,)


class MatMul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return lanes.matmul(a, b)

    def backward(self, g):
        a, b = self.a, self.b
        # 1-D operands act as a row (a) or a column (b) vector, as in np.matmul
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        grad_a = lanes.matmul(g2, np.swapaxes(b2, -1, -2))
        grad_b = lanes.matmul(np.swapaxes(a2, -1, -2), g2)
        if a.ndim == 1:
            grad_a = grad_a.reshape(grad_a.shape[:-2] + (-1,)).sum(axis=tuple(range(grad_a.ndim - 2)))
        if b.ndim == 1:
            grad_b = grad_b[..., 0]
            grad_b = grad_b.sum(axis=tuple(range(grad_b.ndim - 1)))
        return grad_a, grad_b


def _keep(g, shape, axis, keepdims):
    if axis is None or keepdims:
        return g
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return np.expand_dims(g, tuple(a % len(shape) for a in axes))


class Sum(Function):
    def forward(self, a, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = a.shape, axis, keepdims
        return np.asarray(a.sum(axis=axis, keepdims=keepdims))

    def backward(self, g):
        return (np.broadcast_to(_keep(g, self.shape, self.axis, self.keepdims), self.shape),)


class Mean(Function):
    def forward(self, a, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = a.shape, axis, keepdims
        out = np.asarray(a.mean(axis=axis, keepdims=keepdims))
        self.count = a.size // max(out.size, 1) if a.size else 1
        return out

    def backward(self, g):
        g = _keep(g, self.shape, self.axis, self.keepdims) / self.count
        return (np.broadcast_to(g, self.shape),)


class Max(Function):
    def forward(self, a, axis=None, keepdims=False):
        self.a, self.axis, self.keepdims = a, axis, keepdims
        self.out = a.max(axis=axis, keepdims=True)
        return np.asarray(a.max(axis=axis, keepdims=keepdims))

    def backward(self, g):
        # the gradient is shared equally between tied maxima
        mask = self.a == self.out
        g = _keep(g, self.a.shape, self.axis, self.keepdims)
        return (mask * g / mask.sum(axis=self.axis, keepdims=True),)


class Reshape(Function):
    def forward(self, a, shape):
        self.shape = a.shape
        return a.reshape(shape)

    def backward(self, g):
        return (g.reshape(self.shape),)


class Permute(Function):
    def forward(self, a, axes):
        self.axes = axes
        return np.transpose(a, axes)

    def backward(self, g):
        return (np.transpose(g, np.argsort(self.axes)),)


class GetItem(Function):
    def forward(self, a, index):
        self.shape, self.dtype, self.index = a.shape, a.dtype, index
        return a[index]

    def backward(self, g):
        grad = np.zeros(self.shape, dtype=self.dtype)
        # add.at so repeated integer indices accumulate
        np.add.at(grad, self.index, g)
        return (grad,)
