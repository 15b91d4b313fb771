"""Elementwise activation kernels that are memory-bound: one pass, no temporaries, on every core.

NumPy's ``np.maximum(x, 0)`` runs on one core; ``grad * (x > 0)`` makes a boolean temporary and a
second pass. These loops read each operand once. Each kernel is written once, as a serial loop over
a range of a flat view; large arrays run that loop on every core, one range per lane
(``lanes.py``: this thread takes the first range while the others' threads take theirs, each
writing only its own range), and small arrays run it directly on the calling thread, because
handing work to another thread costs more than the work (and much more when the cores are busy
with other processes).
"""
import math

import numpy as np

from . import lanes, streaming
from .jit import jit

GRAIN = 32768  # elements below which a kernel runs serially (PyTorch's grain size)
# Elements below which a pure streaming kernel (one read, at most one write per element) runs
# serially. With a Numba parallel region (40-60 us to start), and then lanes that woke a sleeping
# thread, serial won up to 4 Mi elements. On polling helpers (lanes.py), in one process on the
# AVX-512 machine, the batch-1 rows of 64 x 112 x 112 (0.8 Mi elements) ran 1.18x faster in geometric
# mean on two lanes at 512 Ki (ReLU forward 1.16x, forward+backward 1.46x; 2x2 max pooling 1.24x and
# 1.26x, 2x2 average pooling 1.13x and 1.20x, global average pooling forward 1.09x), and 256 Ki gained
# nothing more (LeNet-5's 64 x 6 x 28 x 28 activations, 301 Ki: 0.99x). The stretches of seconds in
# which ReLU forward+backward took 0.9 ms on two lanes were the benchmark's fill of a fresh output
# gradient (0.7 ms instead of 0.06, no page fault), which it now makes once
STREAM_GRAIN = 1 << 19
# While OpenBLAS's idle thread spins (``lanes.blas_spinning``) a helper lane shares its core and may wait
# out a time slice: ``by_size`` then keeps work below this many grains on the calling thread
SPINNING_GRAINS = 4


# Each range kernel loops over views that start at lo, so its index runs from 0: a signed index
# that may be negative (range(lo, hi)) makes Numba test for wraparound, and LLVM then loads the
# elements one by one instead of eight at a time (ReLU ran 6x slower than a copy).


@jit
def _relu_range(x, out, stream, lo, hi):
    zero = x.dtype.type(0)  # a float literal or int 0 would widen the select to float64
    xs, os = x[lo:hi], out[lo:hi]
    start, stop = streaming.aligned_span(os, stream)
    for i in range(start):
        v = xs[i]
        # `not v <= 0` keeps NaN, as torch.relu does
        os[i] = v if not v <= zero else zero
    if stream:
        for i in range(start, stop, streaming.LINE // os.itemsize):
            streaming.relu_line(xs, xs, os, i)
        for i in range(stop, hi - lo):
            v = xs[i]
            os[i] = v if not v <= zero else zero
        streaming.fence()


@jit
def _relu_backward_range(grad_out, out, grad_x, stream, lo, hi):
    zero = grad_x.dtype.type(0)
    gs, ys, ds = grad_out[lo:hi], out[lo:hi], grad_x[lo:hi]
    start, stop = streaming.aligned_span(ds, stream)
    for i in range(start):
        # both loads unconditional, so LLVM can vectorise the select (a load inside the
        # conditional expression would be a branch per element)
        g = gs[i]
        # d relu / dx at 0 is 0 (and at NaN), as PyTorch's threshold_backward
        ds[i] = g if ys[i] > zero else zero
    if stream:
        for i in range(start, stop, streaming.LINE // ds.itemsize):
            streaming.relu_grad_line(ys, gs, ds, i)
        for i in range(stop, hi - lo):
            g = gs[i]
            ds[i] = g if ys[i] > zero else zero
        streaming.fence()


@jit
def _gelu_range(x, out, lo, hi):
    xs, os = x[lo:hi], out[lo:hi]
    for i in range(hi - lo):
        v = xs[i]
        os[i] = 0.5 * v * (1.0 + math.erf(v * 0.7071067811865476))


@jit
def _gelu_backward_range(grad_out, x, grad_x, lo, hi):
    gs, xs, ds = grad_out[lo:hi], x[lo:hi], grad_x[lo:hi]
    for i in range(hi - lo):
        v = xs[i]
        cdf = 0.5 * (1.0 + math.erf(v * 0.7071067811865476))
        pdf = 0.3989422804014327 * math.exp(-0.5 * v * v)
        ds[i] = gs[i] * (cdf + v * pdf)


def _flat(a):
    return np.ascontiguousarray(a).reshape(-1)


def by_size(serial, work, count, *args, grain=None):
    """The one switch of every kernel written as a serial range loop ``serial(*args, lo, hi)`` over
    ``count`` items (elements, planes, blocks of planes, output channels): ``serial(*args, 0,
    count)`` on the calling thread when ``work`` (elements moved or taps read) is below ``grain``
    (default STREAM_GRAIN), as handing work to another thread costs more than such work, or below
    SPINNING_GRAINS grains while OpenBLAS's idle thread spins (``lanes.blas_spinning``); else one
    equal range of the items per lane (``lanes.split``: nogil loops on polling helper threads).

    Lanes replaced a Numba parallel region (``prange`` over blocks) here: the region wakes a worker
    per core while the calling thread waits, where a lane hand-off wakes one helper and the calling
    thread starts on its own range at once. Measured in one process, alternating the two on the
    AVX-512 machine: ReLU forward+backward 64 @112 at batch 32 39.7 -> 30.0 ms, 2x2 average pooling
    forward+backward 22.7 -> 17.8, 2x2 max pooling forward 10.9 -> 9.3, the stride-2 depthwise 3x3
    forward 7.9 -> 6.6, LeNet-5's 5x5 depthwise forward (6 output channels of one input) 0.53-0.77
    -> 0.30 ms; 14 rows of memory-bound cases 1.085x in geometric mean, none slower beyond noise."""
    grain = STREAM_GRAIN if grain is None else grain
    if work < grain or (work < SPINNING_GRAINS * grain and lanes.blas_spinning()):
        serial(*args, 0, count)
    else:
        lanes.split(serial, count, *args)


def _run(serial, n, *flat):
    by_size(serial, n, n, *flat)


def relu(x):
    out = np.empty_like(x, order="C")
    _run(_relu_range, x.size, _flat(x), out.reshape(-1), streaming.wanted(out))
    return out


def relu_backward(grad_out, out, into=None):
    """grad_out where out > 0, else 0; written into ``into`` (C-contiguous, out's shape and dtype;
    it may be grad_out itself) when given, else into a new array."""
    grad_x = np.empty_like(out, order="C") if into is None else into
    flat = _flat(grad_out), _flat(out), grad_x.reshape(-1)
    # in place, the lines are in cache already: nothing to save
    stream = streaming.wanted(grad_x) and grad_out is not grad_x and flat[0].dtype == flat[1].dtype == grad_x.dtype
    _run(_relu_backward_range, out.size, *flat, stream)
    return grad_x


def gelu(x):
    """Exact GELU, x * Phi(x) with the error function."""
    out = np.empty_like(x, order="C")
    _run(_gelu_range, x.size, _flat(x), out.reshape(-1))
    return out


def gelu_backward(grad_out, x):
    grad_x = np.empty_like(x, order="C")
    _run(_gelu_backward_range, x.size, _flat(grad_out), _flat(x), grad_x.reshape(-1))
    return grad_x
