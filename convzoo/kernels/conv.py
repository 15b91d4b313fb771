"""The three convolution kernels: forward, backward-input, backward-weight.

All three take an already padded input (padding lives in ``padding.py``) and plain ndarrays in
PyTorch's layouts: x ``(N, C_in, *spatial)``, weight ``(C_out, C_in/groups, *k)``. Cross-correlation:

    out[n, g*Og + o, p] = sum_{c, k} weight[g*Og + o, c, k] * xp[n, g*Cg + c, p*stride + k*dilation]

Transposed convolution is ``conv_backward_input``; its gradients are ``conv_forward`` and
``conv_backward_weight`` with the roles of input and output swapped.

Each entry point describes its call as a ``planner.ConvGeometry``, asks the planner for an
algorithm (``algorithm`` forces one by name) and runs it. Under ``planner.autotune()`` the first
call of a geometry times every supported algorithm and the fastest is kept.
"""
import time

import numpy as np

from . import planner


def _run(op, geometry, algorithm, args):
    if planner.recording() is not None:
        planner.note(op, geometry, algorithm)
    choice = planner.plan(op, geometry, algorithm)
    if choice.reason != "cost model" or not planner.autotune_enabled() or len(choice.estimates) < 2:
        return planner.ALGORITHMS[choice.algorithm].ops[op](*args)
    timings, best, result = {}, None, None
    for name in choice.estimates:
        kernel = planner.ALGORITHMS[name].ops[op]
        kernel(*args)  # the first call may compile
        start = time.perf_counter()
        out = kernel(*args)
        timings[name] = time.perf_counter() - start
        if best is None or timings[name] < timings[best]:
            best, result = name, out
    planner.remember(op, geometry, timings)
    return result


def conv_forward(xp, weight, stride, dilation, groups, algorithm=None):
    """(N, C, *padded) * (O, C/g, *k) -> (N, O, *out)."""
    geometry = planner.ConvGeometry.of(xp.shape, weight.shape, stride, dilation, groups, xp.itemsize)
    return _run("forward", geometry, algorithm, (xp, weight, stride, dilation, groups))


def conv_backward_input(grad_out, weight, padded_shape, stride, dilation, groups, algorithm=None):
    """Gradient of conv_forward with respect to its (padded) input, of spatial size padded_shape."""
    padded_shape = tuple(int(n) for n in padded_shape)
    # trailing pixels that no window reads (output_padding can add them) get a zero gradient
    used = tuple(min(n, (p - 1) * s + (k - 1) * d + 1) for n, p, k, s, d in
                 zip(padded_shape, grad_out.shape[2:], weight.shape[2:], stride, dilation))
    xp_shape = grad_out.shape[:1] + (weight.shape[1] * groups,) + used
    geometry = planner.ConvGeometry.of(xp_shape, weight.shape, stride, dilation, groups, grad_out.itemsize,
                                       grad_out.shape[2:])
    grad = _run("backward_input", geometry, algorithm, (grad_out, weight, used, stride, dilation, groups))
    if used != padded_shape:
        grad = np.pad(grad, [(0, 0), (0, 0)] + [(0, n - u) for n, u in zip(padded_shape, used)])
    return grad


def conv_backward_weight(xp, grad_out, kernel_size, stride, dilation, groups, algorithm=None):
    """Gradient of conv_forward with respect to weight: (O, C/g, *kernel_size)."""
    # only the part of xp that some window reads
    used = tuple(slice(0, (p - 1) * s + (k - 1) * d + 1)
                 for p, k, s, d in zip(grad_out.shape[2:], kernel_size, stride, dilation))
    xp = xp[(slice(None), slice(None)) + used]
    weight_shape = (grad_out.shape[1], xp.shape[1] // groups) + tuple(kernel_size)
    geometry = planner.ConvGeometry.of(xp.shape, weight_shape, stride, dilation, groups, xp.itemsize,
                                       grad_out.shape[2:])
    return _run("backward_weight", geometry, algorithm,
                (xp, grad_out, tuple(kernel_size), stride, dilation, groups))
