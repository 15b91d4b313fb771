"""Numba settings for every kernel, in one place.

``cache=True`` so a second process does not pay the compile again. ``parallel=True`` is used only
by kernels whose ``prange`` runs over disjoint outer slices (each iteration writes its own part of
the output), so results do not depend on the thread count. ``fastmath`` stays off: the kernels must
give the same bits as the reference loops up to summation order.
"""
import numba

jit = numba.njit(cache=True, nogil=True)
jit_parallel = numba.njit(cache=True, nogil=True, parallel=True)
prange = numba.prange
