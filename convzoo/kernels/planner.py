"""The planner: the single place that chooses a convolution algorithm, and says why.

Every call of the three conv kernels (``forward``, ``backward_input``, ``backward_weight``) is
described by a ``ConvGeometry`` (the forward conv's shapes, stride, dilation, groups, dtype). Each
algorithm states what it can run (``requirement``) and estimates its time from a roofline model of
this machine: useful FLOPs over a sustained fraction of the FP32 peak, plus the bytes it moves
(scratch buffers, transforms) over memory bandwidth. The planner picks the cheapest supported one,
unless the caller forces one (``algorithm=`` on the functional ops, or ``use_algorithm``), or
autotune is on, in which case candidates are timed once per geometry and the fastest is cached.
"""
import contextlib
import functools
import math
import threading
from dataclasses import dataclass, field

from . import depthwise, direct, fft, gemm, subpixel, winograd, winograd1d, winograd2d, workspace
from .cost import (OVERHEAD, depthwise_cost, direct_cost, fft_cost, im2col_cost, pointwise_cost, subpixel_cost,
                   winograd1d_cost, winograd2d_cost, winograd_cost)
from .geometry import read_extent
from .jit import num_threads

OPS = ("forward", "backward_input", "backward_weight")

@dataclass(frozen=True)
class ConvGeometry:
    """Shapes of one convolution, seen from its forward direction (padded input -> output)."""

    batch: int
    in_channels: int
    out_channels: int
    groups: int
    padded: tuple
    kernel: tuple
    stride: tuple
    dilation: tuple
    out: tuple
    itemsize: int
    # the input's size before zero padding, where the call knows it (kernels that read the padding in
    # place compute the input gradient on this size only); None: as padded
    inner: tuple = None

    @classmethod
    def of(cls, xp_shape, weight_shape, stride, dilation, groups, itemsize, out_shape=None, inner=None):
        """The geometry of a call; one instance per distinct call, cached (every conv call makes one)."""
        key = (tuple(xp_shape), tuple(weight_shape), tuple(stride), tuple(dilation), groups, itemsize,
               None if out_shape is None else tuple(out_shape), None if inner is None else tuple(inner))
        return _geometry(cls, *key)

    @classmethod
    def _make(cls, xp_shape, weight_shape, stride, dilation, groups, itemsize, out_shape=None, inner=None):
        kernel = tuple(int(k) for k in weight_shape[2:])
        padded = tuple(int(n) for n in xp_shape[2:])
        if out_shape is None:
            out_shape = tuple((n - d * (k - 1) - 1) // s + 1 for n, k, s, d in zip(padded, kernel, stride, dilation))
        return cls(int(xp_shape[0]), int(weight_shape[1]) * groups, int(weight_shape[0]), int(groups), padded,
                   kernel, tuple(stride), tuple(dilation), tuple(int(p) for p in out_shape), int(itemsize),
                   None if inner is None else tuple(int(n) for n in inner))

    rank = property(lambda self: len(self.kernel))
    taps = property(lambda self: math.prod(self.kernel))
    positions = property(lambda self: math.prod(self.out))
    depthwise = property(lambda self: self.in_channels == self.groups and self.groups > 1)

    @property
    def flops(self):
        """Useful FLOPs of the direct convolution (one op; each gradient costs the same)."""
        return 2 * self.batch * self.out_channels * self.positions * (self.in_channels // self.groups) * self.taps

    def bytes(self, *arrays):
        sizes = {"x": self.batch * self.in_channels * math.prod(self.padded),
                 "y": self.batch * self.out_channels * self.positions,
                 "w": self.out_channels * (self.in_channels // self.groups) * self.taps}
        return self.itemsize * sum(sizes[a] for a in arrays)

    def describe(self):
        return (f"N={self.batch} C={self.in_channels}->{self.out_channels} groups={self.groups} "
                f"in={self.padded} k={self.kernel} stride={self.stride} dilation={self.dilation} "
                f"out={self.out} {'float64' if self.itemsize == 8 else 'float32'}")


@functools.lru_cache(maxsize=4096)
def _geometry(cls, *key):
    return cls._make(*key)


@dataclass(frozen=True)
class Algorithm:
    """One production algorithm: the ops it implements, when it applies, and what it costs."""

    name: str
    summary: str
    # op name -> kernel; "backward" (optional, pads_inside algorithms): both gradients in one call, which
    # ``conv.conv_backward`` makes when backward_input and backward_weight both chose this algorithm
    ops: dict
    requirement: object  # geometry -> None when supported, else the reason it is not
    cost: object  # (op, geometry, threads) -> estimated seconds
    pads_inside: bool = False  # its kernels take the unpadded input and pads= (zero padding) themselves
    # (op, geometry) -> None or the reason, where an op runs on fewer geometries than requirement's
    op_requirement: object = None


def _always(g):
    return None


def _pointwise_requirement(g):
    if g.taps != 1:
        return f"needs a 1x1 kernel; kernel is {g.kernel}"
    return None


def _depthwise_requirement(g):
    if g.in_channels != g.groups:
        return f"needs groups == in_channels (one input channel per group); groups={g.groups}, " \
               f"in_channels={g.in_channels}"
    return None


def _fft_requirement(g):
    if any(s != 1 for s in g.stride) or any(d != 1 for d in g.dilation):
        return f"needs stride 1 and dilation 1; stride={g.stride}, dilation={g.dilation}"
    return None


# Every algorithm that can read zero padding in place (pads_inside) does so at any size: the
# depthwise kernels copy each input plane into a zero-padded scratch plane anyway (measured: LeNet's
# 64x1x28x28 5x5 conv 0.50 ms in place vs 0.60 ms padded first), and the im2col and Winograd gathers
# write the zeros as they copy, so a padded copy of the whole input would only add a memory pass
ALGORITHMS = {
    "im2col": Algorithm(
        "im2col", "im2col gather (chunked to the workspace limit) + one BLAS GEMM per chunk; col2im scatter",
        {"forward": gemm.im2col_forward, "backward_input": gemm.im2col_backward_input,
         "backward_weight": gemm.im2col_backward_weight}, _always, im2col_cost, pads_inside=True),
    "pointwise": Algorithm(
        "pointwise", "1x1 kernel: a plain GEMM on the (strided) input, no gather",
        {"forward": gemm.pointwise_forward, "backward_input": gemm.pointwise_backward_input,
         "backward_weight": gemm.pointwise_backward_weight}, _pointwise_requirement, pointwise_cost),
    "depthwise": Algorithm(
        "depthwise", "Numba per-plane direct kernel, parallel over planes (groups == in_channels)",
        {"forward": depthwise.depthwise_forward, "backward_input": depthwise.depthwise_backward_input,
         "backward_weight": depthwise.depthwise_backward_weight, "backward": depthwise.depthwise_backward},
        _depthwise_requirement, depthwise_cost,
        pads_inside=True),
    "fft": Algorithm(
        "fft", "FFT of input and kernel, product per frequency, inverse FFT (large kernels)",
        {"forward": fft.fft_forward, "backward_input": fft.fft_backward_input,
         "backward_weight": fft.fft_backward_weight}, _fft_requirement, fft_cost),
    "subpixel": Algorithm(
        "subpixel", "transposed conv as prod(stride) small stride-1 convs whose outputs interleave",
        {"backward_input": subpixel.subpixel_backward_input}, _always, subpixel_cost),
    "winograd_f2": Algorithm(
        "winograd_f2", "Winograd F(2x2,3x3): 2.25x fewer multiplies (2-D 3x3, stride 1, any dilation)",
        {"forward": functools.partial(winograd.winograd_forward, tile=2),
         "backward_input": functools.partial(winograd.winograd_backward_input, tile=2),
         "backward_weight": functools.partial(winograd.winograd_backward_weight, tile=2)},
        winograd.requirement, functools.partial(winograd_cost, 2), pads_inside=True),
    "winograd_f4": Algorithm(
        "winograd_f4",
        "Winograd F(4x4,3x3): 4x fewer multiplies, larger float32 error (2-D 3x3, stride 1, any dilation)",
        {"forward": functools.partial(winograd.winograd_forward, tile=4),
         "backward_input": functools.partial(winograd.winograd_backward_input, tile=4),
         "backward_weight": functools.partial(winograd.winograd_backward_weight, tile=4)},
        winograd.requirement, functools.partial(winograd_cost, 4), pads_inside=True),
    "winograd1d": Algorithm(
        "winograd1d",
        "Winograd F(4,r) / F(2,r): (r+3)/4 or (r+1)/2 multiplies per output, not r (1-D or k x 1, 2-7 taps)",
        {"forward": winograd1d.winograd1d_forward, "backward_input": winograd1d.winograd1d_backward_input,
         "backward_weight": winograd1d.winograd1d_backward_weight}, winograd1d.requirement, winograd1d_cost,
        pads_inside=True),
    "winograd2d": Algorithm(
        "winograd2d",
        "Winograd F(m x m, r x r) from the 1-D matrices on each axis (2-D, 2-7 taps a side but 3x3, groups 1; "
        "7x7: 3.1x fewer multiplies); strided, on the input's phases",
        {"forward": winograd2d.winograd2d_forward, "backward_input": winograd2d.winograd2d_backward_input,
         "backward_weight": winograd2d.winograd2d_backward_weight}, winograd2d.requirement, winograd2d_cost,
        pads_inside=True),
    "direct": Algorithm(
        "direct", "register tiles of positions x output channels over the padded input (or of taps x output "
                  "channels over runs of positions, for the weight gradient): no columns, no BLAS "
                  "(2-D, groups 1, float32; the input gradient at stride 1)",
        {"forward": direct.direct_forward, "backward_input": direct.direct_backward_input,
         "backward_weight": direct.direct_backward_weight}, direct.requirement,
        direct_cost, pads_inside=True, op_requirement=direct.op_requirement),
}


def algorithm_names():
    return tuple(ALGORITHMS)


# --- forcing, autotune, recording: thread-local state -------------------------------------------

class _State(threading.local):
    # defaults as class attributes, read without a caught AttributeError (see workspace._State)
    forced = None
    autotune = False
    record = None


_state = _State()


def forced():
    """The algorithm forced by ``use_algorithm`` in this thread, or None."""
    return _state.forced


def check_name(name, what="algorithm"):
    if name is not None and name not in ALGORITHMS:
        raise ValueError(f"{what} must be one of {', '.join(ALGORITHMS)} or None; received {name!r}")
    return name


@contextlib.contextmanager
def use_algorithm(name):
    """Context manager: every convolution in the block uses algorithm ``name`` where it implements the op.

    An op the algorithm does not implement (e.g. the weight gradient under ``"subpixel"``, or the input
    gradient of a strided conv under ``"direct"``) is planned as usual; a geometry it cannot run raises
    ``ValueError``. ``None`` restores planning.
    """
    check_name(name)
    previous = forced()
    _state.forced = name
    try:
        yield
    finally:
        _state.forced = previous


_autotune_cache = {}


def autotune_enabled():
    return _state.autotune


@contextlib.contextmanager
def autotune(enabled=True):
    """Context manager: time every supported algorithm on the first call of each geometry, keep the fastest.

    The choice is cached per (op, geometry, threads) for the rest of the process
    (``autotune_cache()`` shows it, ``clear_autotune_cache()`` forgets it).
    """
    previous = autotune_enabled()
    _state.autotune = bool(enabled)
    try:
        yield
    finally:
        _state.autotune = previous


def autotune_cache():
    """A copy of the measured choices: {(op, geometry, threads): {algorithm: seconds}}."""
    return {key: dict(value) for key, value in _autotune_cache.items()}


def clear_autotune_cache():
    _autotune_cache.clear()


def threads():
    return num_threads()


def routine():
    """(threads, workspace limit) while the cost model alone chooses, else None.

    Under that state the choice for an op is a pure function of the call's shapes, so callers may
    cache it per shapes and state (``cache.CallCache``); None while an algorithm is forced, autotune
    runs or has measured choices, or ``record`` (explain) watches the calls: those take the full path."""
    state = _state
    if state.forced is not None or state.autotune or state.record is not None or _autotune_cache:
        return None
    return threads(), workspace.limit()


# --- the decision ---------------------------------------------------------------------------------

@dataclass
class Plan:
    """The algorithm for one op of one geometry, and the numbers behind the choice.

    Attributes:
        op: ``forward``, ``backward_input`` or ``backward_weight``.
        geometry: the ConvGeometry.
        algorithm: the chosen algorithm's name.
        reason: ``cost model``, ``forced`` or ``measured``.
        estimates: {name: estimated seconds} for every algorithm that implements op and supports geometry.
        measured: {name: seconds} when autotune timed them.
        unsupported: {name: why} for algorithms that implement op but cannot run this geometry.
        workspace: scratch bytes the GEMM algorithms may use (the limit in force).
    """

    op: str
    geometry: ConvGeometry
    algorithm: str
    reason: str
    estimates: dict
    measured: dict = field(default_factory=dict)
    unsupported: dict = field(default_factory=dict)
    workspace: int = 0

    @property
    def alternatives(self):
        return [name for name in sorted(self.estimates, key=self.estimates.get) if name != self.algorithm]


@functools.lru_cache(maxsize=1024)
def _estimates(op, geometry, count, limit):
    """({name: estimated seconds}, {name: why unsupported}) for op; pure, so cached per geometry
    (a training loop plans the same few geometries every step). An empty geometry (no FLOPs) costs
    each algorithm its overhead only: ``kernels/conv.py`` returns its zeros without running a kernel."""
    estimates, unsupported = {}, {}
    for name, alg in ALGORITHMS.items():
        if op not in alg.ops:
            continue
        why = alg.requirement(geometry)
        if why is None and alg.op_requirement is not None:
            why = alg.op_requirement(op, geometry)
        if why is None:
            estimates[name] = OVERHEAD[name] + (alg.cost(op, geometry, count) if geometry.flops else 0.0)
        else:
            unsupported[name] = why
    return estimates, unsupported


def plan(op, geometry, algorithm=None):
    """Choose the algorithm for ``op`` on ``geometry``; ``algorithm`` (or ``use_algorithm``) forces one.

    Raises:
        ValueError: a forced algorithm implements op but cannot run this geometry.
    """
    count, limit = threads(), workspace.limit()
    estimates, unsupported = (dict(table) for table in _estimates(op, geometry, count, limit))
    wanted = algorithm if algorithm is not None else forced()
    result = Plan(op, geometry, "", "cost model", estimates, unsupported=unsupported, workspace=limit)
    if wanted is not None and wanted in unsupported and ALGORITHMS[wanted].requirement(geometry) is None:
        wanted = None  # the algorithm runs this geometry but not this op (op_requirement): planned as usual
    if wanted is not None and wanted in unsupported:
        raise ValueError(f"algorithm {wanted!r} cannot run this convolution ({op}): {unsupported[wanted]}; "
                         f"geometry {geometry.describe()}")
    if wanted is not None and wanted in estimates:
        result.algorithm, result.reason = wanted, "forced"
        return result
    result.algorithm, measured = _unforced(op, geometry, count, limit)
    if measured is not None:
        result.measured, result.reason = dict(measured), "measured"
    return result


@functools.lru_cache(maxsize=1024)
def _cheapest(op, geometry, count, limit):
    estimates = _estimates(op, geometry, count, limit)[0]
    return min(estimates, key=estimates.get)


def _unforced(op, geometry, count, limit):
    """(name, timings or None) when nothing forces an algorithm: autotune's measured choice for this
    (op, geometry, threads) if any, else the cost model's."""
    measured = _autotune_cache.get((op, geometry, count))
    if measured:
        return min(measured, key=measured.get), measured
    return _cheapest(op, geometry, count, limit), None


def choose(op, geometry, algorithm=None):
    """The name of the algorithm ``plan`` picks, without building its Plan: the path every call takes
    (a Plan with its tables of estimates cost more than the kernels of a small convolution)."""
    if algorithm is not None or forced() is not None:
        return plan(op, geometry, algorithm).algorithm
    return _unforced(op, geometry, threads(), workspace.limit())[0]


def reads_padding(x_shape, weight_shape, pads, stride, dilation, groups, itemsize, algorithm=None):
    """Whether the forward conv on x zero-padded by pads reads the padding in place: its algorithm
    can (``Algorithm.pads_inside``). Otherwise the caller pads x first."""
    if not any(b or a for b, a in pads):
        return False
    if algorithm is None and forced() is None and not _autotune_cache:
        # the cost model's choice, as choose() makes it: a pure function of these (13 us a call)
        pads = tuple((int(b), int(a)) for b, a in pads)
        return _cost_model_reads_padding(tuple(x_shape), tuple(weight_shape), pads, tuple(stride), tuple(dilation),
                                         groups, itemsize, threads(), workspace.limit())
    return ALGORITHMS[choose("forward", _padded_geometry(x_shape, weight_shape, pads, stride, dilation, groups,
                                                         itemsize), algorithm)].pads_inside


def _padded_geometry(x_shape, weight_shape, pads, stride, dilation, groups, itemsize):
    padded = tuple(int(n) + b + a for n, (b, a) in zip(x_shape[2:], pads))
    return ConvGeometry.of(tuple(x_shape[:2]) + padded, weight_shape, stride, dilation, groups, itemsize,
                           inner=x_shape[2:])


@functools.lru_cache(maxsize=1024)
def _cost_model_reads_padding(x_shape, weight_shape, pads, stride, dilation, groups, itemsize, count, limit):
    geometry = _padded_geometry(x_shape, weight_shape, pads, stride, dilation, groups, itemsize)
    return ALGORITHMS[_cheapest("forward", geometry, count, limit)].pads_inside


def remember(op, geometry, timings):
    _autotune_cache[(op, geometry, threads())] = dict(timings)


# --- explain() support: record the plans made while a block runs ---------------------------------

def recording():
    return _state.record


@contextlib.contextmanager
def record():
    """Context manager yielding a list that collects one entry per convolution call in the block.

    An entry is (kind, {op: Plan}) with kind ``conv`` or ``conv_transpose``: the first kernel a
    Function calls tells which (a transposed conv's forward is conv's backward_input), and the
    plans of the other two ops, which run only in backward, are made then too.
    """
    previous = recording()
    log = []
    _state.record = log
    try:
        yield log
    finally:
        _state.record = previous


def _read_extent(geometry, op):
    """The geometry of another op of a call: the kernels plan each gradient on the part of the
    padded input some window reads (a 3x3 stride-2 conv of 226 padded pixels reads 225), and the
    adjoint op of a transposed conv on its output cropped the same way. The input's own size (inner),
    cropped alike, goes with it, but for the weight gradient, whose cost does not depend on it."""
    used = read_extent(geometry.padded, geometry.out, geometry.kernel, geometry.stride, geometry.dilation)
    weight = (geometry.out_channels, geometry.in_channels // geometry.groups) + geometry.kernel
    inner = None if op == "backward_weight" or geometry.inner is None else tuple(map(min, geometry.inner, used))
    return ConvGeometry.of((geometry.batch, geometry.in_channels) + used, weight, geometry.stride, geometry.dilation,
                           geometry.groups, geometry.itemsize, geometry.out, inner)


def note(op, geometry, algorithm):
    log = recording()
    if log is None:
        return
    kind = "conv_transpose" if op == "backward_input" else "conv"
    plans = {}
    for other in OPS:
        try:
            plans[other] = plan(other, geometry if other == op else _read_extent(geometry, other), algorithm)
        except ValueError as error:  # forced algorithm missing for an op it does implement
            plans[other] = error
    log.append((kind, plans))
