"""Numba settings for every kernel, in one place.

``cache=True`` so a second process does not pay the compile again. ``parallel=True`` is used only
by kernels whose ``prange`` runs over disjoint outer slices (each iteration writes its own part of
the output), so results do not depend on the thread count. ``fastmath`` stays off, but for the
reordering of sums in ``jit_sums``: the kernels must give the same bits as the reference loops up to
summation order.

Threading layer: ``workqueue`` unless the user sets ``NUMBA_THREADING_LAYER``. The OpenMP layer's
threads spin-wait between parallel regions and fight OpenBLAS's own spinning threads for the two
cores: a LeNet-5 training step took 88 ms under OpenMP and 21 ms under workqueue on this machine.
The workqueue layer aborts the process when two Python threads run parallel kernels at the same time
("Concurrent access has been detected"), so every ``jit_parallel`` kernel is launched under one
process-wide lock: parallel kernels of different threads take turns (each uses every core anyway),
serial ones run side by side.
"""
import functools
import os
import threading

import numba

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

# error_model="numpy": a float division by zero gives inf or NaN, as in NumPy, instead of raising
# ZeroDivisionError; Python's model puts a branch before every division, which kept LLVM from
# vectorising any loop that divides (2x2 average pooling ran scalar, 2.5x slower than max pooling)
jit = numba.njit(cache=True, nogil=True, error_model="numpy")
# For the small helpers a range loop calls once per plane: Numba compiles their body into the caller
# instead of calling it. A call with seven array arguments cost about 40 ns on the AVX-512 machine
# (a copy of 49 elements through an index map: 20 ns a plane compiled in, 62 called), most of a 7 x 7
# depthwise plane's time. Not for the loops of long rows: compiled into the depthwise range loops, the
# row copies and row loops ran 4-6 % slower on 56-pixel planes
jit_inline = numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
_njit_parallel = numba.njit(cache=True, nogil=True, parallel=True, error_model="numpy")
_LAUNCH = threading.Lock()


def jit_parallel(function):
    """``numba.njit(parallel=True)`` whose calls hold the launch lock (see the module docstring).
    For calls from Python only: a jitted caller cannot call the returned wrapper."""
    dispatcher = _njit_parallel(function)

    @functools.wraps(function)
    def launch(*args):
        with _LAUNCH:
            return dispatcher(*args)
    return launch


# For sums only: the one fast-math flag that lets LLVM reorder additions (``reassoc``), so a dot
# product runs in vector registers with several partial sums instead of one latency-bound chain.
# It changes the summation order and nothing else (NaN, infinities and signed zeros keep their
# rules, no fused multiply-add), within the module docstring's promise; the order is fixed when the
# function compiles, so results still do not depend on the thread count
jit_sums = numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
prange = numba.prange


@functools.lru_cache(maxsize=None)
def host_features():
    """LLVM's features of this CPU (``{"avx512f": True, ...}``); empty with Numba's JIT disabled (no code is
    generated for it) or where LLVM cannot tell."""
    if numba.config.DISABLE_JIT:
        return {}
    try:
        import llvmlite.binding as llvm
        return dict(llvm.get_host_cpu_features())
    except Exception:  # noqa: BLE001 - an unknown host has no features to count on
        return {}


def _thread_count_reader():
    """Numba's thread count for the calling thread, read the fast way where this Numba has it.

    ``numba.get_num_threads()`` takes two locks (one a multiprocessing RLock) to make sure the
    threading layer is up before it reads the count: 1.15 us a call, and a small conv asks three or
    four times. Once the layer is up, the reading itself (``numba.np.ufunc.parallel._get_num_threads``,
    what the public function ends with) takes 0.09 us. Without that private function (another
    Numba), the public one."""
    numba.get_num_threads()  # starts the threading layer
    fast = getattr(getattr(numba.np.ufunc, "parallel", None), "_get_num_threads", None)
    if fast is None or fast() != numba.get_num_threads():
        return numba.get_num_threads
    return fast


_read_threads = None


def num_threads():
    """``numba.get_num_threads()`` (the calling thread's count, as ``numba.set_num_threads`` left it)."""
    global _read_threads
    if _read_threads is None:
        _read_threads = _thread_count_reader()
    return _read_threads()


# float32 lanes of an AVX2 register: loops that copy or compute rows round their length up to a
# multiple of it where there is room, so the vectorised body never falls to its scalar tail (see
# window._gather_plane and depthwise_loops for where the extra elements go)
VECTOR = 8
