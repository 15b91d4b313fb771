"""Elementwise activation kernels that are memory-bound: one parallel pass, no temporaries.

NumPy's ``np.maximum(x, 0)`` runs on one core; ``grad * (x > 0)`` makes a boolean temporary and a
second pass. These loops read each operand once, on every core. Each works on a flat view, so any
shape is one loop, and every index is written by exactly one iteration.
"""
import math

import numpy as np

from .jit import jit_parallel, prange


@jit_parallel
def _relu(x, out):
    for i in prange(x.shape[0]):
        v = x[i]
        # `not v <= 0` keeps NaN, as torch.relu does
        out[i] = v if not v <= 0 else 0


@jit_parallel
def _relu_backward(grad_out, out, grad_x):
    for i in prange(out.shape[0]):
        # d relu / dx at 0 is 0 (and at NaN), as PyTorch's threshold_backward
        grad_x[i] = grad_out[i] if out[i] > 0 else 0


@jit_parallel
def _gelu(x, out):
    for i in prange(x.shape[0]):
        v = x[i]
        out[i] = 0.5 * v * (1.0 + math.erf(v * 0.7071067811865476))


@jit_parallel
def _gelu_backward(grad_out, x, grad_x):
    for i in prange(x.shape[0]):
        v = x[i]
        cdf = 0.5 * (1.0 + math.erf(v * 0.7071067811865476))
        pdf = 0.3989422804014327 * math.exp(-0.5 * v * v)
        grad_x[i] = grad_out[i] * (cdf + v * pdf)


def _flat(a):
    return np.ascontiguousarray(a).reshape(-1)


def relu(x):
    out = np.empty_like(x, order="C")
    _relu(_flat(x), out.reshape(-1))
    return out


def relu_backward(grad_out, out):
    grad_x = np.empty_like(out, order="C")
    _relu_backward(_flat(grad_out), _flat(out), grad_x.reshape(-1))
    return grad_x


def gelu(x):
    """Exact GELU, x * Phi(x) with the error function."""
    out = np.empty_like(x, order="C")
    _gelu(_flat(x), out.reshape(-1))
    return out


def gelu_backward(grad_out, x):
    grad_x = np.empty_like(x, order="C")
    _gelu_backward(_flat(grad_out), _flat(x), grad_x.reshape(-1))
    return grad_x
