"""Fused epilogues: bias add and activation applied in place on a fresh conv output, in one pass.

Added as a separate op, the bias would allocate a second output-sized array and stream it once
more (and a ReLU a third time); in place, on the output the kernel just wrote, it costs one
read-modify-write pass and no allocation. Backward needs only the output (ReLU's mask is out > 0).
"""
import numpy as np

from .jit import jit_parallel, prange

ACTIVATIONS = (None, "relu")


@jit_parallel
def _bias_relu(out, bias, use_bias, relu):
    # out: (N, C, P), updated in place; each (n, c) plane is its own iteration
    channels = out.shape[1]
    for nc in prange(out.shape[0] * channels):
        n, c = nc // channels, nc % channels
        row = out[n, c]
        b = bias[c] if use_bias else 0.0
        if relu:
            for p in range(row.shape[0]):
                v = row[p] + b
                row[p] = v if v > 0 else 0.0
        else:
            for p in range(row.shape[0]):
                row[p] += b


def bias_activation_(out, bias=None, activation=None):
    """out (N, C, *S) += bias[c], then the activation, in place; returns out."""
    if bias is None and activation is None:
        return out
    out = np.ascontiguousarray(out)
    flat = out.reshape(out.shape[0], out.shape[1], -1)
    b = bias if bias is not None else np.zeros(1, dtype=out.dtype)
    _bias_relu(flat, b.astype(out.dtype, copy=False), bias is not None, activation == "relu")
    return out


def activation_backward(grad, out, activation):
    """The gradient through the activation, from the activated output."""
    if activation == "relu":
        return np.where(out > 0, grad, 0).astype(grad.dtype, copy=False)
    return grad
