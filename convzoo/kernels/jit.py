"""Numba settings for every kernel, in one place.

``cache=True`` so a second process does not pay the compile again. ``parallel=True`` is used only
by kernels whose ``prange`` runs over disjoint outer slices (each iteration writes its own part of
the output), so results do not depend on the thread count. ``fastmath`` stays off: the kernels must
give the same bits as the reference loops up to summation order.

Threading layer: OpenMP where Numba finds it (then TBB, then its own ``workqueue``), unless the user
sets ``NUMBA_THREADING_LAYER``. OpenMP's threads spin a little while after a parallel region, so the
next region starts in microseconds; ``workqueue``'s sleep, and waking a sleeping core on the 2-core
VM of the README cost 50-150 us a region (a depthwise 3x3 at batch 1 ran 0.35 ms under OpenMP and
0.6-1.0 ms under workqueue; a 3x3 max pooling 0.28 against 0.89 ms). Under OpenMP, parallel regions
once fought OpenBLAS's own spinning threads for the cores (a LeNet-5 step took 88 ms); convzoo no
longer wakes BLAS's threads (``lanes``: one-thread BLAS calls on lanes), and the two layers now time
the same there. OpenMP also lets several Python threads run parallel kernels at once (workqueue
does not). GNU OpenMP is not fork-safe: a program that forks after a parallel kernel ran and runs
one in the child should set ``NUMBA_THREADING_LAYER=workqueue``.
"""
import functools
import os

import numba

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]
    numba.config.THREADING_LAYER = "default"

# error_model="numpy": a float division by zero gives inf or NaN, as in NumPy, instead of raising
# ZeroDivisionError; Python's model puts a branch before every division, which kept LLVM from
# vectorising any loop that divides (2x2 average pooling ran scalar, 2.5x slower than max pooling)
jit = numba.njit(cache=True, nogil=True, error_model="numpy")
jit_parallel = numba.njit(cache=True, nogil=True, parallel=True, error_model="numpy")
prange = numba.prange


@functools.lru_cache(maxsize=None)
def sleeping_layer():
    """Whether the threading layer in use lets its threads sleep between parallel regions
    (workqueue): a region then costs 40-150 us to start, and streaming kernels stay serial longer."""
    numba.get_num_threads()  # starts the threading layer, which picks one
    return numba.threading_layer() == "workqueue"
