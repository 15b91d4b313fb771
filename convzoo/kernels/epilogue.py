"""Fused epilogues: bias add and activation applied in place on a fresh conv output, in one pass.

Added as a separate op, the bias would allocate a second output-sized array and stream it once
more (and a ReLU a third time); in place, on the output the kernel just wrote, it costs one
read-modify-write pass and no allocation. Backward needs only the output (ReLU's mask is out > 0).

As in ``elementwise.py``, the pass is written once, over a range of (image, channel) planes, and
runs on the calling thread below ``elementwise.STREAM_GRAIN`` elements (a parallel region costs more to start
than a small output takes: LeNet-5's second conv, 64 x 16 x 10 x 10, spent 130 us in the parallel
bias add), else one range of planes per lane (``elementwise.by_size``).
"""
import math

import numpy as np

from .elementwise import by_size, relu_backward
from .jit import jit

ACTIVATIONS = (None, "relu")


@jit
def _bias_relu_planes(out, bias, relu, lo, hi):
    # out: (N * C, P), updated in place; plane i is channel i % C, bias: (C,)
    zero = out.dtype.type(0)  # a float literal would widen the select to float64
    channels = bias.shape[0]
    for i in range(lo, hi):
        row, b = out[i], bias[i % channels]
        if relu:
            for p in range(row.shape[0]):
                v = row[p] + b
                # `not v <= 0` keeps NaN, as the unfused ReLU (and torch.relu) does
                row[p] = v if not v <= zero else zero
        else:
            for p in range(row.shape[0]):
                row[p] += b


def bias_activation_(out, bias=None, activation=None):
    """out (N, C, *S) += bias[c], then the activation, in place; returns out."""
    if bias is None and activation is None:
        return out
    out = np.ascontiguousarray(out)
    planes = out.reshape(out.shape[0] * out.shape[1], math.prod(out.shape[2:]))  # -1 fails on empty
    b = np.zeros(out.shape[1], dtype=out.dtype) if bias is None else bias.astype(out.dtype, copy=False)
    by_size(_bias_relu_planes, out.size, planes.shape[0], planes, b, activation == "relu")
    return out


def bias_gradient(grad):
    """The gradient of a bias added per channel: grad (N, C, *S) summed over every axis but C.
    ``np.einsum`` does it in one pass 2.5-4x faster than ``grad.sum(axis=(0, 2, 3))`` (LeNet-5's
    64 x 16 x 10 x 10: 16 against 49 us; 32 x 64 x 32 x 32: 116 against 485 us), within the same
    rounding (both sum in blocks of the dtype)."""
    n, c = grad.shape[:2]
    return np.einsum("ncp->c", grad.reshape(n, c, math.prod(grad.shape[2:])))


def activation_backward(grad, out, activation, writable=False):
    """The gradient through the activation, from the activated output; written into ``grad`` when
    ``writable`` (nothing else holds it) and it is a C-contiguous array of out's dtype."""
    if activation == "relu":
        reuse = writable and grad.flags.c_contiguous and grad.dtype == out.dtype
        return relu_backward(grad, out, into=grad if reuse else None)
    return grad
