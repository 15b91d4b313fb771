"""Activation primitives: forward and vector-Jacobian product side by side.

Softmax and log-softmax are primitives (not compositions of exp, sum and log) so that they can
subtract the maximum for stability and have the short, exact backward of the fused form.
"""
import numpy as np

from ..kernels import elementwise
from .function import Function


class ReLU(Function):
    def forward(self, x):
        self.out = elementwise.relu(x)
        return self.out

    def backward(self, g):
        # d relu / dx at 0 is 0; a gradient only the engine holds is overwritten in place
        reuse = self.grad_writable and g.flags.c_contiguous and g.dtype == self.out.dtype
        return (elementwise.relu_backward(g, self.out, into=g if reuse else None),)


class LeakyReLU(Function):
    def forward(self, x, negative_slope):
        self.positive, self.slope = x > 0, np.asarray(negative_slope, dtype=x.dtype)
        return np.where(self.positive, x, x * self.slope)

    def backward(self, g):
        return (np.where(self.positive, g, g * self.slope),)


class ELU(Function):
    def forward(self, x, alpha):
        self.x, self.alpha = x, np.asarray(alpha, dtype=x.dtype)
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))

    def backward(self, g):
        # at 0 the slope is alpha, the left derivative, as in PyTorch
        return (np.where(self.x > 0, g, g * self.alpha * np.exp(np.minimum(self.x, 0))),)


_SQRT_2_OVER_PI = np.sqrt(2 / np.pi)


class GELU(Function):
    """x * Phi(x); ``approximate="tanh"`` uses 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""

    def forward(self, x, approximate="none"):
        self.x, self.approximate = x, approximate
        if approximate == "none":
            return elementwise.gelu(x)
        c = _SQRT_2_OVER_PI.astype(x.dtype)
        self.t = np.tanh(c * (x + 0.044715 * x ** 3))
        return 0.5 * x * (1 + self.t)

    def backward(self, g):
        x = self.x
        if self.approximate == "none":
            return (elementwise.gelu_backward(g, x),)
        c = _SQRT_2_OVER_PI.astype(x.dtype)
        dt = (1 - self.t ** 2) * c * (1 + 3 * 0.044715 * x ** 2)
        return (g * (0.5 * (1 + self.t) + 0.5 * x * dt),)


class Sigmoid(Function):
    def forward(self, x):
        # exp(-log(1 + exp(-x))) never overflows
        self.out = np.exp(-np.logaddexp(0, -x)).astype(x.dtype, copy=False)
        return self.out

    def backward(self, g):
        return (g * self.out * (1 - self.out),)


class Tanh(Function):
    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, g):
        return (g * (1 - self.out * self.out),)


class Softmax(Function):
    def forward(self, x, dim):
        self.dim = dim
        e = np.exp(x - x.max(axis=dim, keepdims=True))
        self.out = e / e.sum(axis=dim, keepdims=True)
        return self.out

    def backward(self, g):
        s = self.out
        return (s * (g - (g * s).sum(axis=self.dim, keepdims=True)),)


class LogSoftmax(Function):
    def forward(self, x, dim):
        self.dim = dim
        shifted = x - x.max(axis=dim, keepdims=True)
        self.out = shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
        return self.out

    def backward(self, g):
        return (g - np.exp(self.out) * g.sum(axis=self.dim, keepdims=True),)
