"""The Numba kernels of ``winograd.py``: the F(2x2,3x3) and F(4x4,3x3) transforms, written out.

``B^T d B`` (input), ``A^T M A`` (output), ``A g A^T`` (the output gradient, for the weight gradient)
and ``G w G^T`` (weight) with their small integer coefficients as shared sums, each loop over all
tiles of an (image, channel) plane with unit stride so that it vectorises; the parallel drivers hand
out tasks of a few planes to the serial per-plane kernels. ``MATRICES`` holds the textbook matrices
the written-out forms must equal (the tests compare them).
"""
import numpy as np

from .jit import jit, jit_parallel, prange

_F2 = (np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64),
       np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]], dtype=np.float64),
       np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64))
_F4 = (np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                 [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=np.float64),
       np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                 [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], dtype=np.float64),
       np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
                dtype=np.float64))
# (B^T, G, A^T) per output tile size m; the kernels below hard-code B^T and A^T, tests compare them
MATRICES = {2: _F2, 4: _F4}

# float32 constants: a float32 operand stays float32 (a Python int would promote it to float64) and a
# float64 one stays float64; 2, 4, 5 and 8 are exact in both
_TWO, _FOUR, _FIVE, _EIGHT = np.float32(2), np.float32(4), np.float32(5), np.float32(8)


@jit
def _bt4(a0, a1, a2, a3):
    """B^T a of F(2x2,3x3) on the 4 values a of a tile column (or row)."""
    return a0 - a2, a1 + a2, a2 - a1, a1 - a3


@jit
def _bt6(a0, a1, a2, a3, a4, a5):
    """B^T a of F(4x4,3x3): the shared terms make it 12 adds and 6 multiplies instead of 22 products."""
    s, w = a4 - _FOUR * a2, a3 - _FOUR * a1
    e, f = a4 - a2, _TWO * (a3 - a1)
    return _FOUR * a0 - _FIVE * a2 + a4, s + w, s - w, e + f, e - f, _FOUR * a1 - _FIVE * a3 + a5


@jit
def _at4(a0, a1, a2, a3):
    """A^T a of F(2x2,3x3)."""
    return a0 + a1 + a2, a1 - a2 - a3


@jit
def _at6(a0, a1, a2, a3, a4, a5):
    """A^T a of F(4x4,3x3)."""
    s12, d12, s34, d34 = a1 + a2, a1 - a2, a3 + a4, a3 - a4
    return a0 + s12 + s34, d12 + _TWO * d34, s12 + _FOUR * s34, d12 + _EIGHT * d34 + a5


@jit
def _a4(a0, a1):
    """A a = (A^T)^T a of F(2x2,3x3): an output tile's gradient, transformed back (weight gradient)."""
    return a0, a0 + a1, a0 - a1, -a1


@jit
def _a6(a0, a1, a2, a3):
    """A a of F(4x4,3x3)."""
    s02, s13 = a0 + a2, a1 + a3
    p, q = a0 + _FOUR * a2, _TWO * a1 + _EIGHT * a3
    return a0, s02 + s13, s02 - s13, p + q, p - q, a3


@jit
def _in_range(start, step, count, size):
    """The range [lo, hi) of t in [0, count) for which 0 <= start + step * t < size (step > 0)."""
    lo = 0 if start >= 0 else min(count, (-start + step - 1) // step)
    hi = 0 if start >= size else min(count, (size - start + step - 1) // step)
    return lo, max(lo, hi)


@jit
def _gather(plane, row0, col0, step, tiles_w, xs, line):
    """xs[j, i, th * tiles_w + t] = plane[row0 + step * (m*th + i), col0 + step * (m*t + j)], zero
    outside the plane, for j < m + 2, i < m (xs: (m + 2, m, (tiles_h + 1) * tiles_w)).

    Pixel j of every tile column and pixel i of every tile row, each a run over all tiles: the
    transforms then read every operand with unit stride over a whole plane, long enough to vectorise
    (one tile row alone is too short). Tile row th's pixel rows m, m+1 are rows 0, 1 of tile row th + 1,
    so only the columns are duplicated (1.5x for m = 4). Each pixel row is first copied, with its
    zeros, into ``line`` (m * tiles_w + 2 elements), from which the m + 2 columns are picked: no bounds
    to work out per column (the divisions and strided views of that took 60 % of a transform:
    F(4x4,3x3) on 64 channels at 56 px, 21 against 48 ns per plane and tile for this gather)."""
    alpha, m, flat = xs.shape
    height = plane.shape[0]
    span = line.shape[0]
    lo, hi = _in_range(col0, step, span, plane.shape[1])
    zero = xs.dtype.type(0)
    for r in range(flat // tiles_w * m):
        th, i = r // m, r % m
        row = row0 + step * r
        if 0 <= row < height:
            src = plane[row]
            for p in range(lo):
                line[p] = zero
            if step == 1:
                # views indexed from 0 by the loop counter: Numba drops the negative-index checks
                run, dst = src[col0 + lo:col0 + hi], line[lo:hi]
                for p in range(hi - lo):
                    dst[p] = run[p]
            else:
                for p in range(lo, hi):
                    line[p] = src[col0 + step * p]
            for p in range(hi, span):
                line[p] = zero
        else:
            for p in range(span):
                line[p] = zero
        for j in range(alpha):
            dst, pixels = xs[j, i, th * tiles_w:(th + 1) * tiles_w], line[j:]
            for t in range(tiles_w):
                dst[t] = pixels[m * t]


@jit
def _scatter(res, plane, row0, col0, step, tiles_w, rows, cols, line):
    """plane[row0 + step * (m*th + i), col0 + step * (m*t + j)] = res[i, j, th * tiles_w + t] for output
    rows below ``rows`` and columns below ``cols``: the output tiles, cropped, into their phase of the
    plane (res: (m, m, tiles)). Each output row is assembled in ``line`` (m * tiles_w elements) and
    copied out in one run, as _gather reads."""
    m = res.shape[0]
    for r in range(rows):
        th, i = r // m, r % m
        for j in range(m):
            src, dst = res[i, j, th * tiles_w:(th + 1) * tiles_w], line[j:]
            for t in range(tiles_w):
                dst[m * t] = src[t]
        if step == 1:
            out = plane[row0 + r, col0:col0 + cols]
            for p in range(cols):
                out[p] = line[p]
        else:
            out = plane[row0 + step * r]
            for p in range(cols):
                out[col0 + step * p] = line[p]


@jit
def _gather_tiles(plane, row0, col0, step, tiles_w, rows, cols, gs, line):
    """The adjoint of _scatter: gs[i, j, th * tiles_w + t] = plane[row0 + step * (m*th + i),
    col0 + step * (m*t + j)] for output rows below ``rows`` and columns below ``cols``, else zero
    (each row through ``line``, m * tiles_w elements, as _gather)."""
    m, flat = gs.shape[0], gs.shape[2]
    zero = gs.dtype.type(0)
    for p in range(cols, line.shape[0]):
        line[p] = zero
    for r in range(flat // tiles_w * m):
        th, i = r // m, r % m
        if r < rows:
            if step == 1:
                src = plane[row0 + r, col0:col0 + cols]
                for p in range(cols):
                    line[p] = src[p]
            else:
                src = plane[row0 + step * r]
                for p in range(cols):
                    line[p] = src[col0 + step * p]
        else:
            for p in range(cols):
                line[p] = zero
        for j in range(m):
            dst, pixels = gs[i, j, th * tiles_w:(th + 1) * tiles_w], line[j:]
            for t in range(tiles_w):
                dst[t] = pixels[m * t]


# planes per parallel task: their scratch is allocated once (small dilated phases have a few dozen
# tiles, and an allocation per plane cost as much as the plane's transform)
_PLANES_PER_TASK = 8


@jit
def _item(k, d, row_shift, col_shift):
    """Image and first row and column of work item k: phase (k // d % d, k % d) of image k // d^2."""
    return k // (d * d), (k // d) % d + row_shift, k % d + col_shift


@jit
def _task(kb, k0, channels, d, row_shift, col_shift):
    """Work item k of parallel task kb, its channels [c0, c1), image and first row and column (_item)."""
    blocks = -(-channels // _PLANES_PER_TASK)
    k, c0 = k0 + kb // blocks, kb % blocks * _PLANES_PER_TASK
    n, row0, col0 = _item(k, d, row_shift, col_shift)
    return k, c0, min(channels, c0 + _PLANES_PER_TASK), n, row0, col0


@jit
def _input_planes_f4(x, n, c0, c1, row0, col0, d, tiles_h, tiles_w, first, v):
    # V of planes c0..c1 of one item. The row transform (over the pixels j of each tile row) runs on
    # the gathered pixels, the column transform (over the rows i) writes V: h[xi2, i, th * tiles_w + t],
    # rows i = 4, 5 of tile row th being rows 0, 1 of tile row th + 1, tiles_w further on
    tiles, w = tiles_h * tiles_w, tiles_w
    flat = (tiles_h + 1) * tiles_w
    xs = np.empty((6, 4, flat), dtype=x.dtype)
    h = np.empty((6, 4, flat), dtype=x.dtype)
    line = np.empty(4 * tiles_w + 2, dtype=x.dtype)
    last = first + tiles
    for c in range(c0, c1):
        _gather(x[n, c], row0, col0, d, tiles_w, xs, line)
        # every operand a view indexed from 0 by the loop counter (an index as first + t is checked for
        # wraparound element by element: 30 % slower)
        for i in range(4):
            a0, a1, a2, a3, a4, a5 = xs[0, i], xs[1, i], xs[2, i], xs[3, i], xs[4, i], xs[5, i]
            b0, b1, b2, b3, b4, b5 = h[0, i], h[1, i], h[2, i], h[3, i], h[4, i], h[5, i]
            for t in range(flat):
                b0[t], b1[t], b2[t], b3[t], b4[t], b5[t] = _bt6(a0[t], a1[t], a2[t], a3[t], a4[t], a5[t])
        for x2 in range(6):
            a0, a1, a2, a3 = h[x2, 0, :tiles], h[x2, 1, :tiles], h[x2, 2, :tiles], h[x2, 3, :tiles]
            a4, a5 = h[x2, 0, w:w + tiles], h[x2, 1, w:w + tiles]
            b0, b1, b2 = v[x2, c, first:last], v[6 + x2, c, first:last], v[12 + x2, c, first:last]
            b3, b4, b5 = v[18 + x2, c, first:last], v[24 + x2, c, first:last], v[30 + x2, c, first:last]
            for t in range(tiles):
                b0[t], b1[t], b2[t], b3[t], b4[t], b5[t] = _bt6(a0[t], a1[t], a2[t], a3[t], a4[t], a5[t])


@jit
def _input_planes_f2(x, n, c0, c1, row0, col0, d, tiles_h, tiles_w, first, v):
    # as _input_planes_f4 with the 4 x 4 B^T of F(2x2,3x3)
    tiles, w = tiles_h * tiles_w, tiles_w
    flat = (tiles_h + 1) * tiles_w
    xs = np.empty((4, 2, flat), dtype=x.dtype)
    h = np.empty((4, 2, flat), dtype=x.dtype)
    line = np.empty(2 * tiles_w + 2, dtype=x.dtype)
    last = first + tiles
    for c in range(c0, c1):
        _gather(x[n, c], row0, col0, d, tiles_w, xs, line)
        for i in range(2):
            a0, a1, a2, a3 = xs[0, i], xs[1, i], xs[2, i], xs[3, i]
            b0, b1, b2, b3 = h[0, i], h[1, i], h[2, i], h[3, i]
            for t in range(flat):
                b0[t], b1[t], b2[t], b3[t] = _bt4(a0[t], a1[t], a2[t], a3[t])
        for x2 in range(4):
            a0, a1, a2, a3 = h[x2, 0, :tiles], h[x2, 1, :tiles], h[x2, 0, w:w + tiles], h[x2, 1, w:w + tiles]
            b0, b1, b2, b3 = v[x2, c, first:last], v[4 + x2, c, first:last], v[8 + x2, c, first:last], \
                v[12 + x2, c, first:last]
            for t in range(tiles):
                b0[t], b1[t], b2[t], b3[t] = _bt4(a0[t], a1[t], a2[t], a3[t])


@jit
def _output_planes_f4(mm, n, c0, c1, row0, col0, d, tiles_h, tiles_w, first, out):
    # planes c0..c1 of one item's output: the column transform of M (over xi1) into q[i, xi2, tile],
    # the row transform (over xi2) into res[i, j, tile], each over all tiles of the plane; then the
    # scatter crops and interleaves. Operands are views indexed from 0, as in _input_planes_f4
    tiles = tiles_h * tiles_w
    rows = min(4 * tiles_h, (out.shape[2] - row0 + d - 1) // d)
    cols = min(4 * tiles_w, (out.shape[3] - col0 + d - 1) // d)
    q = np.empty((4, 6, tiles), dtype=out.dtype)
    res = np.empty((4, 4, tiles), dtype=out.dtype)
    line = np.empty(4 * tiles_w, dtype=out.dtype)
    last = first + tiles
    for o in range(c0, c1):
        for x2 in range(6):
            a0, a1, a2 = mm[x2, o, first:last], mm[6 + x2, o, first:last], mm[12 + x2, o, first:last]
            a3, a4, a5 = mm[18 + x2, o, first:last], mm[24 + x2, o, first:last], mm[30 + x2, o, first:last]
            b0, b1, b2, b3 = q[0, x2], q[1, x2], q[2, x2], q[3, x2]
            for t in range(tiles):
                b0[t], b1[t], b2[t], b3[t] = _at6(a0[t], a1[t], a2[t], a3[t], a4[t], a5[t])
        for i in range(4):
            a0, a1, a2, a3, a4, a5 = q[i, 0], q[i, 1], q[i, 2], q[i, 3], q[i, 4], q[i, 5]
            b0, b1, b2, b3 = res[i, 0], res[i, 1], res[i, 2], res[i, 3]
            for t in range(tiles):
                b0[t], b1[t], b2[t], b3[t] = _at6(a0[t], a1[t], a2[t], a3[t], a4[t], a5[t])
        _scatter(res, out[n, o], row0, col0, d, tiles_w, rows, cols, line)


@jit
def _output_planes_f2(mm, n, c0, c1, row0, col0, d, tiles_h, tiles_w, first, out):
    # as _output_planes_f4 with the 2 x 4 A^T of F(2x2,3x3)
    tiles = tiles_h * tiles_w
    rows = min(2 * tiles_h, (out.shape[2] - row0 + d - 1) // d)
    cols = min(2 * tiles_w, (out.shape[3] - col0 + d - 1) // d)
    q = np.empty((2, 4, tiles), dtype=out.dtype)
    res = np.empty((2, 2, tiles), dtype=out.dtype)
    line = np.empty(2 * tiles_w, dtype=out.dtype)
    last = first + tiles
    for o in range(c0, c1):
        for x2 in range(4):
            a0, a1 = mm[x2, o, first:last], mm[4 + x2, o, first:last]
            a2, a3 = mm[8 + x2, o, first:last], mm[12 + x2, o, first:last]
            b0, b1 = q[0, x2], q[1, x2]
            for t in range(tiles):
                b0[t], b1[t] = _at4(a0[t], a1[t], a2[t], a3[t])
        for i in range(2):
            a0, a1, a2, a3 = q[i, 0], q[i, 1], q[i, 2], q[i, 3]
            b0, b1 = res[i, 0], res[i, 1]
            for t in range(tiles):
                b0[t], b1[t] = _at4(a0[t], a1[t], a2[t], a3[t])
        _scatter(res, out[n, o], row0, col0, d, tiles_w, rows, cols, line)


@jit
def _grad_planes_f4(g, n, c0, c1, row0, col0, d, tiles_h, tiles_w, first, gy):
    # gy[:, o] = A g_tile A^T for the tiles of planes c0..c1 of the output gradient g: the gradient of
    # M (out tile = A^T M A), laid out as _output_planes_f4 reads M
    tiles = tiles_h * tiles_w
    rows = min(4 * tiles_h, (g.shape[2] - row0 + d - 1) // d)
    cols = min(4 * tiles_w, (g.shape[3] - col0 + d - 1) // d)
    gs = np.empty((4, 4, tiles), dtype=g.dtype)
    q = np.empty((6, 4, tiles), dtype=g.dtype)
    line = np.empty(4 * tiles_w, dtype=g.dtype)
    last = first + tiles
    for o in range(c0, c1):
        _gather_tiles(g[n, o], row0, col0, d, tiles_w, rows, cols, gs, line)
        for j in range(4):
            a0, a1, a2, a3 = gs[0, j], gs[1, j], gs[2, j], gs[3, j]
            b0, b1, b2, b3, b4, b5 = q[0, j], q[1, j], q[2, j], q[3, j], q[4, j], q[5, j]
            for t in range(tiles):
                b0[t], b1[t], b2[t], b3[t], b4[t], b5[t] = _a6(a0[t], a1[t], a2[t], a3[t])
        for x1 in range(6):
            a0, a1, a2, a3 = q[x1, 0], q[x1, 1], q[x1, 2], q[x1, 3]
            b0, b1, b2 = gy[6 * x1, o, first:last], gy[6 * x1 + 1, o, first:last], gy[6 * x1 + 2, o, first:last]
            b3, b4, b5 = gy[6 * x1 + 3, o, first:last], gy[6 * x1 + 4, o, first:last], gy[6 * x1 + 5, o, first:last]
            for t in range(tiles):
                b0[t], b1[t], b2[t], b3[t], b4[t], b5[t] = _a6(a0[t], a1[t], a2[t], a3[t])


@jit
def _grad_planes_f2(g, n, c0, c1, row0, col0, d, tiles_h, tiles_w, first, gy):
    # as _grad_planes_f4 with the 4 x 2 A of F(2x2,3x3)
    tiles = tiles_h * tiles_w
    rows = min(2 * tiles_h, (g.shape[2] - row0 + d - 1) // d)
    cols = min(2 * tiles_w, (g.shape[3] - col0 + d - 1) // d)
    gs = np.empty((2, 2, tiles), dtype=g.dtype)
    q = np.empty((4, 2, tiles), dtype=g.dtype)
    line = np.empty(2 * tiles_w, dtype=g.dtype)
    last = first + tiles
    for o in range(c0, c1):
        _gather_tiles(g[n, o], row0, col0, d, tiles_w, rows, cols, gs, line)
        for j in range(2):
            a0, a1 = gs[0, j], gs[1, j]
            b0, b1, b2, b3 = q[0, j], q[1, j], q[2, j], q[3, j]
            for t in range(tiles):
                b0[t], b1[t], b2[t], b3[t] = _a4(a0[t], a1[t])
        for x1 in range(4):
            a0, a1 = q[x1, 0], q[x1, 1]
            b0, b1 = gy[4 * x1, o, first:last], gy[4 * x1 + 1, o, first:last]
            b2, b3 = gy[4 * x1 + 2, o, first:last], gy[4 * x1 + 3, o, first:last]
            for t in range(tiles):
                b0[t], b1[t], b2[t], b3[t] = _a4(a0[t], a1[t])


# The parallel loops only hand out tasks of _PLANES_PER_TASK planes of one item to the serial plane
# kernels above: a small parfor body compiles several times faster than one holding the transforms.
# Each transform is a serial loop over a range of tasks; the parallel driver runs it one task per
# prange iteration, and a chunk on a lane of lanes.py runs it over all its tasks.

@jit
def _tasks(k0, k1, channels):
    return (k1 - k0) * -(-channels // _PLANES_PER_TASK)


@jit
def _input_tasks(x, m, k0, kb0, kb1, d, row_shift, col_shift, tiles_h, tiles_w, v):
    for kb in range(kb0, kb1):
        k, c0, c1, n, row0, col0 = _task(kb, k0, x.shape[1], d, row_shift, col_shift)
        if m == 4:
            _input_planes_f4(x, n, c0, c1, row0, col0, d, tiles_h, tiles_w, (k - k0) * tiles_h * tiles_w, v)
        else:
            _input_planes_f2(x, n, c0, c1, row0, col0, d, tiles_h, tiles_w, (k - k0) * tiles_h * tiles_w, v)


@jit
def _output_tasks(mm, m, k0, kb0, kb1, d, row_shift, tiles_h, tiles_w, out):
    for kb in range(kb0, kb1):
        k, c0, c1, n, row0, col0 = _task(kb, k0, out.shape[1], d, row_shift, 0)
        if m == 4:
            _output_planes_f4(mm, n, c0, c1, row0, col0, d, tiles_h, tiles_w, (k - k0) * tiles_h * tiles_w, out)
        else:
            _output_planes_f2(mm, n, c0, c1, row0, col0, d, tiles_h, tiles_w, (k - k0) * tiles_h * tiles_w, out)


@jit
def _grad_tasks(g, m, k0, kb0, kb1, d, tiles_h, tiles_w, gy):
    for kb in range(kb0, kb1):
        k, c0, c1, n, row0, col0 = _task(kb, k0, g.shape[1], d, 0, 0)
        if m == 4:
            _grad_planes_f4(g, n, c0, c1, row0, col0, d, tiles_h, tiles_w, (k - k0) * tiles_h * tiles_w, gy)
        else:
            _grad_planes_f2(g, n, c0, c1, row0, col0, d, tiles_h, tiles_w, (k - k0) * tiles_h * tiles_w, gy)


@jit_parallel
def _input_parallel(x, m, k0, k1, d, row_shift, col_shift, tiles_h, tiles_w, v):
    for kb in prange(_tasks(k0, k1, x.shape[1])):
        _input_tasks(x, m, k0, kb, kb + 1, d, row_shift, col_shift, tiles_h, tiles_w, v)


@jit_parallel
def _output_parallel(mm, m, k0, k1, d, row_shift, tiles_h, tiles_w, out):
    for kb in prange(_tasks(k0, k1, out.shape[1])):
        _output_tasks(mm, m, k0, kb, kb + 1, d, row_shift, tiles_h, tiles_w, out)


@jit_parallel
def _grad_parallel(g, m, k0, k1, d, tiles_h, tiles_w, gy):
    for kb in prange(_tasks(k0, k1, g.shape[1])):
        _grad_tasks(g, m, k0, kb, kb + 1, d, tiles_h, tiles_w, gy)


def input_transform(x, m, k0, k1, d, row_shift, col_shift, tiles_h, tiles_w, v, parallel=True):
    """x: (N, C, H, W) -> v: (alpha^2, C, items * tiles), item k's tiles at columns (k - k0) * tiles on."""
    if parallel:
        _input_parallel(x, m, k0, k1, d, row_shift, col_shift, tiles_h, tiles_w, v)
    else:
        _input_tasks(x, m, k0, 0, _tasks(k0, k1, x.shape[1]), d, row_shift, col_shift, tiles_h, tiles_w, v)


def output_transform(mm, m, k0, k1, d, tiles_h, tiles_w, out, parallel=True, row_shift=0):
    """mm: (alpha^2, O, items * tiles) -> out: (N, O, P, Q), phase (a, b) of item k at out[n, :, a::d, b::d];
    the tiles start at output row ``row_shift`` (a band of rows) and are cropped at the last row."""
    if parallel:
        _output_parallel(mm, m, k0, k1, d, row_shift, tiles_h, tiles_w, out)
    else:
        _output_tasks(mm, m, k0, 0, _tasks(k0, k1, out.shape[1]), d, row_shift, tiles_h, tiles_w, out)


def grad_transform(g, m, k0, k1, d, tiles_h, tiles_w, gy, parallel=True):
    """g: (N, O, P, Q), the output gradient -> gy: (alpha^2, O, items * tiles)."""
    if parallel:
        _grad_parallel(g, m, k0, k1, d, tiles_h, tiles_w, gy)
    else:
        _grad_tasks(g, m, k0, 0, _tasks(k0, k1, g.shape[1]), d, tiles_h, tiles_w, gy)
