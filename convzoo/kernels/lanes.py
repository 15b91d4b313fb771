"""Lanes: chunked kernels run on one Python thread per core, each chunk start to finish on its thread.

A chunked GEMM kernel alternates Numba loops (a gather, a Winograd transform) with BLAS calls. Run
with Numba's thread pool for the loops and OpenBLAS's for the GEMM, every chunk hands the cores from
one pool to the other, and OpenBLAS's idle threads spin for a while after each call, taking cores
from Numba's. On the 2-core machine of the README, a Winograd forward of 32x64x32x32 took 42-53 ms
that way and 24 ms on lanes (PyTorch NCHW: 23 ms), and an im2col forward 42-69 ms against 48-50 ms.

On lanes, each thread takes the next chunk, runs the serial Numba loops and a single-threaded BLAS
call on it, and goes on: no thread ever waits for another pool. ``run`` falls back to one lane (this
thread) when there is one thread or one chunk: with one chunk the kernel's GEMM runs on BLAS's own
threads and its Numba loops stay serial.

The lanes besides the calling thread are helper threads of this module (``_Helper``, one per extra
core, made on first use), not a pool that sleeps between jobs: after a job a helper polls for the
next one for SPIN_SECONDS, yielding its core between looks, and the caller polls for the helpers'
ends the same way, so a hand-off costs a few microseconds instead of a wake-up (30-100 us on the
reference VM, whose idle vCPUs halt at once; PyTorch's OpenMP threads spin-wait too). ``split`` is
the lean entry for range loops: the caller posts each helper a range and enters its own Numba loop
at once. One caller has the helpers at a time; another thread's call meanwhile runs on its own
thread alone.

The limit of BLAS to one thread is process-wide while lanes run (OpenBLAS's own setter, the library
found by threadpoolctl), so a NumPy GEMM another Python thread runs at that moment runs
single-threaded too; results are unchanged.
Chunks write disjoint parts of their output; a kernel that sums chunk results asks for
``ordered=True`` and adds inside ``lane.turn(i)``, so the sums are made in chunk order and the result
does not depend on the number of threads.
"""
import contextlib
import functools
import os
import threading
import time

import numba
import numpy as np
from numba.core import types

from .jit import jit, num_threads

_lock = threading.Lock()
# blas_spins_until: the perf_counter time until which OpenBLAS's idle threads may still spin (``run``)
_state = {"helpers": [], "blas": None, "limited": 0, "blas_spins_until": 0.0}
_crew_lock = threading.Lock()  # held by the run that has the helpers


class _Local(threading.local):
    inside = False  # the default as a class attribute (see workspace._State)


_local = _Local()


def count():
    """Lanes a kernel called from this thread may use: Numba's thread count, 1 inside a lane."""
    return 1 if _local.inside else num_threads()


def shares(size=None):
    """Into how many shares kernels cut their scratch budget and work: the process's thread count,
    not ``count()``, so the chunks (and the order of sums over them) do not depend on how many
    threads a call gets. 1 for a call of ``size`` scratch elements that ``run`` keeps on one thread
    (below SERIAL_BELOW): cutting it would only add calls."""
    if size is not None and size < SERIAL_BELOW:
        return 1
    return max(1, numba.config.NUMBA_NUM_THREADS)


def _crew(helpers):
    """``helpers`` helper threads for this caller, who must release ``_crew_lock`` when done; None
    while another Python thread's call has them."""
    if not _crew_lock.acquire(blocking=False):
        return None
    crew = _state["helpers"]
    if len(crew) < helpers:  # made once: the lock only guards their making
        with _lock:
            while len(crew) < helpers:
                crew.append(_Helper(len(crew)))
    return crew[:helpers]


def _forget_helpers():
    # in a forked child: the parent's helper threads do not exist here, and the lock may be held by a
    # caller that does not either
    global _crew_lock
    _crew_lock = threading.Lock()
    _state["helpers"] = []


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_helpers)


def _blas_thread_controls():
    """(get, set) of the thread count of each BLAS library loaded (threadpoolctl finds them).

    For OpenBLAS on its own threads (NumPy's wheels) these are the library's C functions, looked up
    once: threadpoolctl's methods look the symbol up again on every call and, for OpenBLAS, check
    which Python thread controls it, 7 us a call and four calls per kernel call (60-100 us of a
    small conv's forward and backward). Any other library keeps threadpoolctl's methods."""
    from threadpoolctl import ThreadpoolController
    controls = []
    for lib in ThreadpoolController().select(user_api="blas").lib_controllers:
        symbol = getattr(lib, "_get_symbol", None)
        if lib.internal_api == "openblas" and getattr(lib, "threading_layer", None) != "openmp" and symbol:
            get, put = symbol("openblas_get_num_threads"), symbol("openblas_set_num_threads")
            if get is not None and put is not None:
                controls.append((get, put))
                continue
        controls.append((lib.get_num_threads, lib.set_num_threads))
    return controls


class _SerialBlas:
    """Context manager: BLAS on one thread while any lanes run (counted, so overlapping callers
    restore it once).

    A class rather than a generator-based context manager, because every kernel call enters here
    (the generator, its lock and lists took 14 us of a 128 us small conv)."""

    __slots__ = ()

    def __enter__(self):
        with _lock:
            if _state["limited"] == 0:
                if _state["blas"] is None:
                    _state["blas"] = _blas_thread_controls()
                restore = []
                for get, put in _state["blas"]:
                    threads = get()
                    if threads != 1:
                        put(1)
                        restore.append((put, threads))
                _state["restore"] = restore
            _state["limited"] += 1

    def __exit__(self, *exc):
        with _lock:
            _state["limited"] -= 1
            if _state["limited"] == 0:
                for put, threads in _state.pop("restore"):
                    put(threads)
        return False


_SERIAL_BLAS = _SerialBlas()


class Lane:
    """What a chunk's work sees of its lane: whether its kernels may use threads, its scratch
    buffers, and its turn to add into a shared sum."""

    def __init__(self, parallel, order):
        self.parallel, self._order, self._scratch = parallel, order, {}

    def scratch(self, name, size, dtype):
        """A 1-D buffer of ``size`` elements this lane reuses from chunk to chunk (contents undefined)."""
        buf = self._scratch.get(name)
        if buf is None or buf.size < size or buf.dtype != dtype:
            buf = self._scratch[name] = np.empty(size, dtype=dtype)
        return buf[:size]

    def turn(self, index, part=0):
        """Context manager: entered once chunks 0..index-1 have left theirs for ``part`` (``ordered=True``
        runs). A sum kept in parts (blocks of a gradient) takes one turn per part, every chunk each part's
        in the same order: chunk i adds its first part while chunk i-1 still computes its second."""
        return self._order.turn(index, part)


class _Order:
    """Chunk i's turn for a part starts when chunk i-1's turn for it ends; a failed chunk wakes every
    waiter."""

    def __init__(self):
        self.done, self.failed, self.cond = {}, False, threading.Condition()

    @contextlib.contextmanager
    def turn(self, index, part=0):
        with self.cond:
            self.cond.wait_for(lambda: self.done.get(part, 0) == index or self.failed)
            if self.failed:
                raise RuntimeError("an earlier chunk failed")
        try:
            yield
        except BaseException:
            self.fail()
            raise
        with self.cond:
            self.done[part] = index + 1
            self.cond.notify_all()

    def fail(self):
        with self.cond:
            self.failed = True
            self.cond.notify_all()


class _Sequential:
    """The order of chunks that one thread runs one after the other: every turn is already theirs."""

    @staticmethod
    def turn(index, part=0):
        return contextlib.nullcontext()


# How long a thread waiting for a hand-off (a helper for its next job, the caller for a helper's end)
# polls before it sleeps. Woken from sleep, a thread took 30-100 us to run on the reference VM (its
# kernel halts an idle vCPU at once); polling, a helper starts 2-5 us after the post. 0 never polls
SPIN_SECONDS = 2e-3

# the C library's, called from the Numba loop below (named, not looked up through ctypes, so the
# compiled loop is cached like every kernel)
_sched_yield = types.ExternalFunction("sched_yield", types.int32())
_clock_gettime = types.ExternalFunction("clock_gettime", types.int32(types.int32, types.intp))
# where there is no such clock (or no JIT: a Python loop would hold the GIL the other thread needs)
# waits only sleep
_POLLS = hasattr(time, "CLOCK_MONOTONIC") and not numba.config.DISABLE_JIT
_MONOTONIC = getattr(time, "CLOCK_MONOTONIC", 1)


# How long a helper that saw a post from ``split`` keeps polling before it takes the GIL: the caller
# holds it for the few microseconds from the post until its own Numba loop starts, and a thread that
# asks for the GIL while another holds it sleeps (30 us to wake on the reference VM). Measured in one
# process against none: the batch-1 depthwise 3x3 forward and forward+backward and 3x3 max pooling
# 1.07-1.08x. 3 us against the earlier 8, same process, batch 1: ReLU forward 1.03-1.09x, global average
# pooling 1.11-1.17x, max pooling 1.07-1.18x, the stride-2 depthwise forward+backward 1.19x, the rest
# within noise (depthwise forward 0.89-1.09x); 1.5 us and 0 lost again
GRACE_SECONDS = 3e-6
# and after a post from ``run``, whose caller runs Python for its own first chunk (its lane, the chunk's
# scratch) before its first Numba loop drops the GIL: without a grace its helper, asking for the GIL at
# once, slept through that and started its chunk 30 us after the caller (a winograd1d weight gradient at
# batch 1, 7 x 1 64 -> 64 at 28 px: the helper's chunk began 33 us into the run, 15 with 5 us of grace, the
# run 286 -> 264 us). In one process against none, batch 1, 15 rounds: the stem forward+backward 1.285 ->
# 1.238 ms, d4 3.11 -> 2.98, g 1.82 -> 1.77, e1 0.481 -> 0.461, conv1d l forward 0.786 -> 0.739, the rest
# within 2 % (a, f, h1, the training steps); 10 and 20 us gained less, as the caller then waited for the
# helper. (An earlier trial of a grace here had made the batch-1 stem 0.90x; this one it gains, as above.)
RUN_GRACE_SECONDS = 6e-6


@jit
def _poll(flag, value, nanos, clock, mark, mark_value, grace):
    """Stores ``mark[0] = mark_value``, then polls ``flag[0]`` until it is not ``value`` or ``nanos``
    have passed, all without the GIL; once it changed, waits ``grace[0]`` ns more (a grace the setter
    stored before the flag); returns ``flag[0]``.
    Between looks it yields the core (``sched_yield``), so a thread that is ready there (BLAS's,
    Numba's, a woken caller) runs at once; that call is opaque to the compiler, so it loads
    ``flag[0]`` again after it."""
    mark[0] = mark_value
    _clock_gettime(_MONOTONIC, clock.ctypes.data)
    end = clock[0] * 1000000000 + clock[1] + nanos
    while True:
        now = flag[0]
        if now != value:
            if grace[0] > 0:
                _clock_gettime(_MONOTONIC, clock.ctypes.data)
                until = clock[0] * 1000000000 + clock[1] + grace[0]
                while clock[0] * 1000000000 + clock[1] < until:
                    _clock_gettime(_MONOTONIC, clock.ctypes.data)
            return now
        _sched_yield()
        _clock_gettime(_MONOTONIC, clock.ctypes.data)
        if clock[0] * 1000000000 + clock[1] >= end:
            return flag[0]


class _Signal:
    """A counter one thread bumps and another waits for: polled for SPIN_SECONDS, then slept on.

    The waiter counts itself asleep, looks at the counter again, and sleeps; ``set`` stores the value,
    then rings if the waiter counted itself asleep: under the GIL these steps are ordered, so a value
    stored while the waiter goes to sleep is seen by its second look or wakes it. A value stored
    without the GIL (``wait``'s ``mark``) rings nobody: a signal stored that way is made with
    ``check``, the seconds after which a sleeping waiter looks again."""

    def __init__(self, check=None):
        self.value = np.zeros(1, dtype=np.int64)
        self._clock = np.zeros(2, dtype=np.int64)
        self._scratch = np.zeros(1, dtype=np.int64)
        self._grace = np.zeros(1, dtype=np.int64)  # ns a polling waiter goes on polling after a change
        self._sleepers, self._bell, self._check = 0, threading.Event(), check

    def set(self, value, grace=0.0):
        """Stores ``value``; a waiter that polls sees it, then polls ``grace`` seconds more before it
        takes the GIL."""
        self._grace[0] = int(grace * 1e9)
        self.value[0] = value
        if self._sleepers:
            self._bell.set()

    def wait(self, value, mark=None):
        """Returns once the counter is not ``value``. ``mark``: (another signal, a value) to store into
        that signal first, once this thread has let go of the GIL."""
        target, stored = (self._scratch, 0) if mark is None else (mark[0].value, mark[1])
        if _POLLS and SPIN_SECONDS > 0:
            if _poll(self.value, value, int(SPIN_SECONDS * 1e9), self._clock, target, stored, self._grace) != value:
                return
        elif mark is not None:
            mark[0].set(mark[1])
        while self.value[0] == value:
            self._sleepers += 1
            self._bell.clear()
            if self.value[0] == value:
                self._bell.wait(self._check)
            self._sleepers -= 1


class _Helper:
    """A daemon thread that runs the jobs posted to it, one at a time, and waits for the next one by
    polling (``_Signal``): a hand-off costs a few microseconds while it polls. It marks a job done from
    inside that poll, once it has let go of the GIL, so the caller polling for the end takes the GIL
    without waiting for it (a thread that waits for the GIL sleeps)."""

    def __init__(self, index):
        # the caller sleeping on _done (a job over SPIN_SECONDS) is rung by _serve's set, or, if it
        # fell asleep just as the helper marked the job done without the GIL, looks again within 1 ms
        self._posted, self._done = _Signal(), _Signal(check=1e-3)
        self._job = self._error = None
        threading.Thread(target=self._serve, name=f"convzoo-lane-{index + 1}", daemon=True).start()

    def post(self, job, grace=0.0):
        """Runs ``job()`` on the helper, which polls ``grace`` seconds after seeing the post before it
        takes the GIL; returns the ticket ``finish`` takes."""
        self._job, self._error = job, None
        ticket = int(self._posted.value[0]) + 1
        self._posted.set(ticket, grace)
        return ticket

    def finish(self, ticket):
        """Waits for the job of ``ticket`` to end; returns the exception it raised, or None."""
        self._done.wait(ticket - 1)
        error, self._job, self._error = self._error, None, None
        return error

    def _serve(self):
        seen = 0
        while True:
            if self._done._sleepers:  # the caller sleeps: mark the job done here, and ring
                self._done.set(seen)
                self._posted.wait(seen)
            else:
                self._posted.wait(seen, mark=(self._done, seen))
            seen = int(self._posted.value[0])
            try:
                self._job()
            except BaseException as error:  # handed to the caller by finish
                self._error = error


# How long after a call that may have run BLAS on its own threads ``blas_spinning`` says so (range
# loops then stay on the calling thread up to a larger size, ``elementwise.by_size``). OpenBLAS's idle
# thread spins for about 0.1 s after a call (2^28 cycles, its THREAD_TIMEOUT; setting its thread count
# does not stop it), sharing a core with a helper lane: a 64 @56 depthwise forward on two lanes took
# 0.20-0.24 ms for 0.1 s after a batch-1 1x1 conv's GEMM, 0.07 ms after that, 0.11 ms on one thread
BLAS_SPIN_SECONDS = 0.1


def blas_spinning():
    """Whether OpenBLAS's idle threads may still spin after a call of ``run`` that let BLAS use them."""
    return time.perf_counter() < _state["blas_spins_until"]


# Scratch elements below which a call runs on this thread alone with serial kernels. With a pool
# that slept between jobs (a hand-off of 40-150 us on the reference machine) this was 256 Ki; on
# polling helpers, in one process, the 2x2 stride-2 transposed conv 128->64 at 28 px, batch 1 (whose
# input gradient gathers 200 Ki elements) ran forward+backward 1.31x faster with it at 32 Ki than at
# 256 Ki, the other batch-1 rows within noise; 64 Ki keeps that call on lanes
SERIAL_BELOW = 1 << 16


def _share(crew, posts, own, *own_args):
    """Posts each helper of ``crew`` its (job, grace) of ``posts``, runs ``own(*own_args)`` on this thread,
    waits for every helper's end, gives the helpers back (``_crew``), then raises the first exception a
    helper's job raised."""
    try:
        tickets = [helper.post(job, grace) for helper, (job, grace) in zip(crew, posts)]
        try:
            own(*own_args)
        finally:
            errors = [helper.finish(ticket) for helper, ticket in zip(crew, tickets)]  # every lane ends
    finally:
        _crew_lock.release()
    for error in errors:
        if error is not None:
            raise error


def run(jobs, work, ordered=False, size=None):
    """Call ``work(index, job, lane)`` for every job of the list ``jobs``, on ``count()`` lanes.

    Args:
        jobs: the chunks, any objects; with ``ordered`` every job must enter ``lane.turn(index)``.
        work: writes its chunk's part of the result; uses ``lane.parallel`` to pick parallel or
            serial kernels and ``lane.scratch`` for its buffers.
        ordered: chunks take turns in index order (for sums).
        size: the scratch elements of all jobs together, when known; below ``SERIAL_BELOW`` the
            jobs run here with serial kernels.
    """
    jobs = list(jobs)
    small = size is not None and size < SERIAL_BELOW
    lanes = 1 if small else min(count(), len(jobs))
    if lanes <= 1:
        # inside a lane (a kernel that chunks again) the kernels must stay serial too; and a single
        # chunk on several threads keeps its Numba loops serial, its GEMM on BLAS's threads: waking
        # Numba's threads next to BLAS's cost more than the second core saved on the loops (a 1-D
        # conv at batch 1, k5 64->64 L=4096, two same-process runs: each pass 1.43-1.57 -> 1.33-1.44 ms)
        lane = Lane(not small and not _local.inside and count() == 1, _Sequential)
        # a small call keeps BLAS on this thread too: woken for it, BLAS's threads would spin
        # afterwards and take a core from whatever runs next
        with _SERIAL_BLAS if small else contextlib.nullcontext():
            for i, job in enumerate(jobs):
                work(i, job, lane)
        if not small and not _state["limited"]:  # BLAS may have run on its own threads
            _state["blas_spins_until"] = time.perf_counter() + BLAS_SPIN_SECONDS
        return
    queue, queue_lock, order = iter(enumerate(jobs)), threading.Lock(), _Order()

    def drain():
        _local.inside = True
        lane = Lane(False, order)
        try:
            while True:
                with queue_lock:
                    item = next(queue, None)
                if item is None:
                    return
                work(item[0], item[1], lane)
        except BaseException:
            order.fail()
            raise
        finally:
            _local.inside = False

    with _SERIAL_BLAS:
        crew = _crew(lanes - 1)
        if crew is None:
            drain()
            return
        _share(crew, [(drain, RUN_GRACE_SECONDS)] * len(crew), drain)


def split(serial, items, *args):
    """``serial(*args, lo, hi)`` over ``items`` cut into one equal range per lane, the first range on
    this thread: for range loops that write disjoint parts of their output (a Numba function that
    needs neither BLAS nor lanes), so the cut does not change the result. Leaner than ``run``: the
    caller posts each helper its range and enters its own Numba loop at once, dropping the GIL the
    helpers need to start theirs (through ``run``'s queue and lane objects a hand-off took 30-50 us
    on the reference VM, here 5-10). Its own range is called straight, not through a partial, after the
    posts: an empty job's hand-off 9.0-10.4 -> 8.6-10.1 us in one process."""
    pieces = min(count(), items)
    crew = _crew(pieces - 1) if pieces > 1 else None
    if crew is None:
        serial(*args, 0, items)
        return
    cuts = _cuts(items, pieces)
    _share(crew, [(functools.partial(serial, *args, cuts[i], cuts[i + 1]), GRACE_SECONDS) for i in range(1, pieces)],
           serial, *args, 0, cuts[1])


def _cuts(items, pieces):
    # the pieces + 1 bounds of ``items`` cut into ``pieces`` equal ranges
    return [items * i // pieces for i in range(pieces + 1)]


def ranges(items, pieces=None):
    """``items`` in ``pieces`` (default ``shares()``) equal ranges (lo, hi), at least one item each."""
    cuts = _cuts(items, min(shares() if pieces is None else pieces, items))
    return list(zip(cuts, cuts[1:]))


# FLOPs of a product below which ``matmul`` runs it on the calling thread: a hand-off to a lane costs
# 20-50 us, and one core multiplies 8 MFLOP in about 150 us
LANE_FLOPS = 1 << 23


# The most elements of a product matmul_nt returns as a transposed view: about a core's L2 (1 MiB of
# float32). The callers add the product into the gradient, and a larger transposed view is read across
# its rows from memory: a 3x3 256 -> 512 stride-2 conv at 14 px, batch 1, weight gradient 4.7 -> 1.4 ms
# unswapped (products of 512 x 1152), 512 -> 512 at 7 px 22.7 -> 4.0 ms; 64 x 2304 (147 Ki) still
# gained from the swap (batch 32 at 14 px: 15.0 against 16.7 ms)
SWAP_MAX = 1 << 18


def matmul_nt(a, b):
    """``a @ b`` transposed on its last two axes (a: (..., M, K), b: (..., N, K)) -> (..., M, N),
    computed as ``(b @ a^T)^T`` (a view) when M < N and M x N is at most SWAP_MAX.

    For the weight gradients, whose K (positions) is long: OpenBLAS ran such products faster with
    the larger of M and N as the rows of the first operand (one thread on the AVX-512 machine: LeNet-5's
    second conv, 16 output channels by 150 over 4480 positions, 0.52 -> 0.30 ms swapped; 64 x 1152
    1.27x, 32 x 27 1.27x; the other way, 256 x 128 over 784 0.91x, 32 x 16 0.78x swapped)."""
    if a.shape[-2] < b.shape[-2] and a.shape[-2] * b.shape[-2] <= SWAP_MAX:
        return np.matmul(b, np.swapaxes(a, -1, -2)).swapaxes(-1, -2)
    return np.matmul(a, np.swapaxes(b, -1, -2))


def matmul(a, b):
    """``np.matmul(a, b)`` that never wakes BLAS's own threads.

    OpenBLAS's threads spin for a while after each multi-threaded call (sched_yield loops), and on
    two cores they took a core from the Numba loops and lanes that followed: a LeNet-5 training step,
    whose linear layers were the only multi-threaded BLAS calls, ran 18 ms, and 14 ms with BLAS on one
    thread. So a 2-D product of at least LANE_FLOPS is cut into ``shares()`` blocks of rows, each a
    one-thread BLAS call on a lane; anything smaller (or batched) is one one-thread call here.
    """
    if a.ndim == 2 and b.ndim == 2 and 2 * a.shape[0] * a.shape[1] * b.shape[1] >= LANE_FLOPS \
            and a.shape[0] >= 2 and count() > 1:
        out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))

        def work(_, rows, lane):
            np.matmul(a[rows[0]:rows[1]], b, out=out[rows[0]:rows[1]])

        run(ranges(a.shape[0]), work)
        return out
    with _SERIAL_BLAS:
        return np.matmul(a, b)
