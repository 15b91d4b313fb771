"""The machine's measured limits, which the benchmark's "% of peak" column divides by.

Two numbers, measured at the start of a run with the same threads as the cases:

- **GEMM peak**: the best of a few large float32 products through NumPy's BLAS (``n x n @ n x n``,
  2 n^3 FLOPs). It is what a GEMM-bound convolution can at best reach on this machine, and below the
  FMA units' paper peak (on the AVX2 development VM, 135-138 GFLOP/s against about 190).
- **Memory bandwidth**: the STREAM triad ``a = b + s * c`` over arrays far larger than the caches, in a
  parallel Numba loop, counted as STREAM counts it (three arrays moved).

The reference machine of issue 4 (233 GFLOP/s, 38 GB/s) is kept in ``REFERENCE`` and in the JSON.
"""
import time

import numpy as np

from ..kernels.jit import jit_parallel, prange

REFERENCE = {"gflops": 233.0, "gbs": 38.0}


@jit_parallel
def _triad(a, b, c, scale):
    for i in prange(a.shape[0]):
        a[i] = b[i] + scale * c[i]


def gemm_gflops(n=2048, repeat=3):
    """Best float32 ``np.matmul`` rate on n x n matrices, in GFLOP/s."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    np.matmul(a, b, out=out)
    best = min(_timed(lambda: np.matmul(a, b, out=out)) for _ in range(repeat))
    return 2 * n ** 3 / best / 1e9


def triad_gbs(mib=128, repeat=3):
    """Best STREAM-triad rate over three float32 arrays of ``mib`` MiB each, in GB/s."""
    n = mib * 2**20 // 4
    a, b, c = np.empty(n, dtype=np.float32), np.ones(n, dtype=np.float32), np.ones(n, dtype=np.float32)
    _triad(a, b, c, np.float32(0.5))  # compiles (or loads) the loop and faults the pages in
    best = min(_timed(lambda: _triad(a, b, c, np.float32(0.5))) for _ in range(repeat))
    return 3 * 4 * n / best / 1e9


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(quick=False):
    """{"gflops", "gbs"} of this machine; ``quick`` uses small sizes (a smoke test, not a measurement)."""
    if quick:
        return {"gflops": gemm_gflops(256, 1), "gbs": triad_gbs(4, 1)}
    return {"gflops": gemm_gflops(), "gbs": triad_gbs()}
