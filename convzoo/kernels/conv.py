"""The three convolution kernels: forward, backward-input, backward-weight.

All three take plain ndarrays in PyTorch's layouts: x ``(N, C_in, *spatial)``, weight ``(C_out,
C_in/groups, *k)``, and optional zero padding ``pads`` ((before, after) per spatial axis; other modes
are applied before, by ``padding.py``). An algorithm that reads the padding itself
(``planner.Algorithm.pads_inside``: im2col, depthwise) gets the unpadded x; for the others the entry point
pads x, or crops the gradient, around the call. With xp the zero-padded x, cross-correlation:

    out[n, g*Og + o, p] = sum_{c, k} weight[g*Og + o, c, k] * xp[n, g*Cg + c, p*stride + k*dilation]

Transposed convolution is ``conv_backward_input``; its gradients are ``conv_forward`` and
``conv_backward_weight`` with the roles of input and output swapped.

Each entry point describes its call as a ``planner.ConvGeometry``, asks the planner for an
algorithm (``algorithm`` forces one by name) and runs it. Under ``planner.autotune()`` the first
call of a geometry times every supported algorithm and the fastest is kept. A call with an empty
operand (no images, no channels, no pixels) sums nothing but zeros: it returns zeros of the
result's shape, as PyTorch does, without planning.
"""
import time

import numpy as np

from . import padding, planner
from .cache import CallCache
from .geometry import conv_output_size, read_extent, zero_pads


# (op, routine state, shapes and arguments of the call) -> the Algorithm the cost model chose for
# them: a layer called again skips the geometry and the planner (25 us of a small conv's 100 us)
_dispatch = CallCache()


def _cost_model_choice(op, geometry):
    return planner.ALGORITHMS[planner.choose(op, geometry())]


def _chosen(op, key, geometry, algorithm):
    """The Algorithm the cost model (or ``algorithm``, forced) gives op, without timing or noting it;
    None under autotune or while explain records the calls."""
    state = planner.routine() if algorithm is None else None
    if state is not None:
        return _dispatch.get((op, state) + key, _cost_model_choice, op, geometry)
    if planner.recording() is not None or planner.autotune_enabled():
        return None
    return planner.ALGORITHMS[planner.choose(op, geometry(), algorithm)]


def _run(op, key, geometry, algorithm, call, chosen=None):
    # key: the call's arguments, which fix geometry() (its planner.ConvGeometry);
    # call(kernel, implicit) runs one algorithm's kernel for op; implicit tells whether the
    # algorithm reads zero padding itself (planner.Algorithm.pads_inside) or needs it materialised;
    # chosen: _chosen's answer when the caller asked already
    chosen = chosen or _chosen(op, key, geometry, algorithm)
    if chosen is not None:
        return call(chosen.ops[op], chosen.pads_inside)
    geometry = geometry()
    if planner.recording() is not None:
        planner.note(op, geometry, algorithm)
    if not planner.autotune_enabled():
        chosen = planner.ALGORITHMS[planner.choose(op, geometry, algorithm)]
        return call(chosen.ops[op], chosen.pads_inside)
    choice = planner.plan(op, geometry, algorithm)
    if choice.reason != "cost model" or len(choice.estimates) < 2:
        chosen = planner.ALGORITHMS[choice.algorithm]
        return call(chosen.ops[op], chosen.pads_inside)
    timings, best, result = {}, None, None
    for name in choice.estimates:
        candidate = planner.ALGORITHMS[name]
        call(candidate.ops[op], candidate.pads_inside)  # the first call may compile
        start = time.perf_counter()
        out = call(candidate.ops[op], candidate.pads_inside)
        timings[name] = time.perf_counter() - start
        if best is None or timings[name] < timings[best]:
            best, result = name, out
    planner.remember(op, geometry, timings)
    return result


def conv_forward(x, weight, stride, dilation, groups, algorithm=None, pads=None):
    """(N, C, *in) * (O, C/g, *k) -> (N, O, *out), x zero-padded by ``pads`` ((before, after) per axis)."""
    pads = zero_pads(pads, x.ndim - 2)
    if x.size == 0 or weight.size == 0:
        return np.zeros(x.shape[:1] + weight.shape[:1] + tuple(
            conv_output_size(n, k, s, d, b, a)
            for n, k, s, d, (b, a) in zip(x.shape[2:], weight.shape[2:], stride, dilation, pads)), x.dtype)

    def geometry():
        padded = tuple(n + b + a for n, (b, a) in zip(x.shape[2:], pads))
        return planner.ConvGeometry.of(x.shape[:2] + padded, weight.shape, stride, dilation, groups, x.itemsize,
                                       inner=x.shape[2:])

    def call(kernel, implicit):
        if implicit:
            return kernel(x, weight, stride, dilation, groups, pads=pads)
        return kernel(padding.pad(x, pads), weight, stride, dilation, groups)
    key = (x.shape, weight.shape, stride, dilation, groups, x.dtype, pads)
    return _run("forward", key, geometry, algorithm, call)


def conv_backward_input(grad_out, weight, in_shape, stride, dilation, groups, algorithm=None, pads=None):
    """Gradient of conv_forward with respect to its input x, of spatial size in_shape (zero-padded by pads)."""
    in_shape = tuple(int(n) for n in in_shape)
    pads = zero_pads(pads, len(in_shape))
    if grad_out.size == 0 or weight.size == 0:
        return np.zeros(grad_out.shape[:1] + (weight.shape[1] * groups,) + in_shape, grad_out.dtype)
    return _backward_input(grad_out, weight, in_shape, stride, dilation, groups, algorithm, pads,
                           _backward_input_plan(grad_out, weight, in_shape, stride, dilation, groups, pads))


def _backward_input(grad_out, weight, in_shape, stride, dilation, groups, algorithm, pads, plan, chosen=None):
    # conv_backward_input on non-empty operands, given its _backward_input_plan (and the chosen algorithm)
    key, geometry, used = plan

    def call(kernel, implicit):
        if implicit:
            return kernel(grad_out, weight, in_shape, stride, dilation, groups, pads=pads)
        padded_shape = tuple(n + b + a for n, (b, a) in zip(in_shape, pads))
        grad = kernel(grad_out, weight, used, stride, dilation, groups)
        if used != padded_shape:
            grad = np.pad(grad, [(0, 0), (0, 0)] + [(0, n - u) for n, u in zip(padded_shape, used)])
        return padding.pad_adjoint(grad, pads)
    return _run("backward_input", key, geometry, algorithm, call, chosen)


def _backward_input_plan(grad_out, weight, in_shape, stride, dilation, groups, pads):
    # (key, geometry, used) of a backward_input call (``_run``); used: the part of the padded input
    # some window reads (trailing pixels that none reads, which output_padding can add, get a zero gradient)
    padded_shape = tuple(n + b + a for n, (b, a) in zip(in_shape, pads))
    used = read_extent(padded_shape, grad_out.shape[2:], weight.shape[2:], stride, dilation)

    def geometry():
        xp_shape = grad_out.shape[:1] + (weight.shape[1] * groups,) + used
        return planner.ConvGeometry.of(xp_shape, weight.shape, stride, dilation, groups, grad_out.itemsize,
                                       grad_out.shape[2:], in_shape)
    return (grad_out.shape, weight.shape, in_shape, stride, dilation, groups, grad_out.dtype, pads), geometry, used


def conv_backward_weight(x, grad_out, kernel_size, stride, dilation, groups, algorithm=None, pads=None):
    """Gradient of conv_forward with respect to weight: (O, C/g, *kernel_size)."""
    pads = zero_pads(pads, x.ndim - 2)
    if x.size == 0 or grad_out.size == 0:
        return np.zeros((grad_out.shape[1], x.shape[1] // groups) + tuple(kernel_size), x.dtype)
    key, geometry, used = _backward_weight_plan(x, grad_out, kernel_size, stride, dilation, groups, pads)

    def call(kernel, implicit):
        if implicit:
            return kernel(x, grad_out, tuple(kernel_size), stride, dilation, groups, pads=pads)
        xp = padding.pad(x, pads)[(slice(None), slice(None)) + tuple(slice(0, u) for u in used)]
        return kernel(xp, grad_out, tuple(kernel_size), stride, dilation, groups)
    return _run("backward_weight", key, geometry, algorithm, call)


def _backward_weight_plan(x, grad_out, kernel_size, stride, dilation, groups, pads):
    # (key, geometry, used) of a backward_weight call; used: the part of the padded input some window reads
    used = read_extent(tuple(n + b + a for n, (b, a) in zip(x.shape[2:], pads)), grad_out.shape[2:], kernel_size,
                       stride, dilation)

    def geometry():
        weight_shape = (grad_out.shape[1], x.shape[1] // groups) + tuple(kernel_size)
        return planner.ConvGeometry.of(x.shape[:2] + used, weight_shape, stride, dilation, groups, x.itemsize,
                                       grad_out.shape[2:])
    return (x.shape, grad_out.shape, tuple(kernel_size), stride, dilation, groups, x.dtype, pads), geometry, used


def conv_backward(x, grad_out, weight, stride, dilation, groups, algorithm=None, pads=None):
    """Both gradients of conv_forward, (grad_x, grad_w): conv_backward_input's and conv_backward_weight's.

    Where both ops come to one algorithm that computes the two together (``planner.Algorithm.ops``
    ``"backward"``: depthwise reads each gradient plane once for both) and nothing times or records
    the choice (autotune, explain), one call of it; else the two entry points one after the other."""
    pads = zero_pads(pads, x.ndim - 2)
    if x.size and grad_out.size and weight.size:
        in_shape = x.shape[2:]  # ints already
        plan = _backward_input_plan(grad_out, weight, in_shape, stride, dilation, groups, pads)
        chosen = _chosen("backward_input", plan[0], plan[1], algorithm)
        if chosen is not None and "backward" in chosen.ops:
            w_key, w_geometry, _ = _backward_weight_plan(x, grad_out, weight.shape[2:], stride, dilation, groups, pads)
            if _chosen("backward_weight", w_key, w_geometry, algorithm) is chosen:
                return chosen.ops["backward"](x, grad_out, weight, stride, dilation, groups, pads=pads)
        grad_x = _backward_input(grad_out, weight, in_shape, stride, dilation, groups, algorithm, pads, plan, chosen)
    else:
        grad_x = conv_backward_input(grad_out, weight, x.shape[2:], stride, dilation, groups, algorithm, pads)
    return grad_x, conv_backward_weight(x, grad_out, weight.shape[2:], stride, dilation, groups, algorithm, pads)
