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

The limit of BLAS to one thread is process-wide while lanes run (OpenBLAS's own setter, the library
found by threadpoolctl), so a NumPy GEMM another Python thread runs at that moment runs
single-threaded too; results are unchanged.
Chunks write disjoint parts of their output; a kernel that sums chunk results asks for
``ordered=True`` and adds inside ``lane.turn(i)``, so the sums are made in chunk order and the result
does not depend on the number of threads.
"""
import concurrent.futures
import contextlib
import os
import threading

import numba
import numpy as np

_lock = threading.Lock()
_state = {"pool": None, "pid": None, "workers": 0, "blas": None, "limited": 0}


class _Local(threading.local):
    inside = False  # the default as a class attribute (see workspace._State)


_local = _Local()


def count():
    """Lanes a kernel called from this thread may use: Numba's thread count, 1 inside a lane."""
    return 1 if _local.inside else numba.get_num_threads()


def shares(size=None):
    """Into how many shares kernels cut their scratch budget and work: the process's thread count,
    not ``count()``, so the chunks (and the order of sums over them) do not depend on how many
    threads a call gets. 1 for a call of ``size`` scratch elements that ``run`` keeps on one thread
    (below SERIAL_BELOW): cutting it would only add calls."""
    if size is not None and size < SERIAL_BELOW:
        return 1
    return max(1, numba.config.NUMBA_NUM_THREADS)


def _pool(workers):
    # a pool made before a fork has no threads in the child: remake it there
    with _lock:
        pool = _state["pool"]
        if pool is None or _state["pid"] != os.getpid() or _state["workers"] < workers:
            pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="convzoo-lane")
            _state.update(pool=pool, pid=os.getpid(), workers=workers)
        return pool


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

    def turn(self, index):
        """Context manager: entered once chunks 0..index-1 have left theirs (``ordered=True`` runs)."""
        return self._order.turn(index)


class _Order:
    """Chunk i's turn starts when chunk i-1's ends; a failed chunk wakes every waiter."""

    def __init__(self):
        self.done, self.failed, self.cond = 0, False, threading.Condition()

    @contextlib.contextmanager
    def turn(self, index):
        with self.cond:
            self.cond.wait_for(lambda: self.done == index or self.failed)
            if self.failed:
                raise RuntimeError("an earlier chunk failed")
        try:
            yield
        except BaseException:
            self.fail()
            raise
        with self.cond:
            self.done = index + 1
            self.cond.notify_all()

    def fail(self):
        with self.cond:
            self.failed = True
            self.cond.notify_all()


class _Sequential:
    """The order of chunks that one thread runs one after the other: every turn is already theirs."""

    @staticmethod
    def turn(index):
        return contextlib.nullcontext()


# Scratch elements below which a call runs on this thread alone with serial kernels: starting a
# parallel region costs 40-150 us on the reference machine, more than gathering 256 Ki elements
SERIAL_BELOW = 1 << 18


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
        helpers = [_pool(lanes - 1).submit(drain) for _ in range(lanes - 1)]
        try:
            drain()
        finally:
            for future in helpers:
                future.exception()  # wait for every lane before the buffers go
        for future in helpers:
            future.result()


def ranges(items, pieces=None):
    """``items`` in ``pieces`` (default ``shares()``) equal ranges (lo, hi), at least one item each."""
    pieces = min(shares() if pieces is None else pieces, items)
    return [(items * i // pieces, items * (i + 1) // pieces) for i in range(pieces)]


# FLOPs of a product below which ``matmul`` runs it on the calling thread: a hand-off to a lane costs
# 20-50 us, and one core multiplies 8 MFLOP in about 150 us
LANE_FLOPS = 1 << 23


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
