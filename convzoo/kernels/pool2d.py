"""Fast paths for the 2-D pooling windows CNNs use most: max over 2x2 and 3x3, average over 2x2, stride 2.

The general kernels of ``pooling.py`` walk a table of flat tap offsets, one window at a time: a
gather per tap, which LLVM cannot vectorise, so they ran at 3-5 GB/s where the memory moves 20-38.
Here each output row is one loop over its windows with the taps written out (``r0[2*j + 1]``...),
which LLVM turns into AVX2 loads and selects: the 2x2 passes and 3x3 without argmax run about as
fast as a copy; 3x3 tracking its argmax stays compute-bound (two to three times a copy).

Windows wholly inside the input (the interior, a rectangle of rows [i0, i1) and columns [j0, j1))
take the unrolled loops, and so do, for 3x3, the first row of windows under one row of padding and
each row's first window next to one column of it (their taps in the plane written out); the other
windows that touch the padding or the ceil_mode overhang (corners, the far edges) are read tap by
tap with bounds checks. Results equal
the general kernels': the same tap order, PyTorch's `v > best || isnan(v)` rule for max (the first
maximum wins, a window holding NaN gives its last NaN) and the tap index (r * kw + c) as argmax.
Average pooling divides by the same per-window divisor, but sums the interior windows' four
taps in the input's dtype (as PyTorch does) where the general kernel sums in float64.

Backward for 2x2 windows, which tile the interior without overlap, writes each gradient plane
once: each window assigns its gradient to the winning tap and 0 to the three others, and only the
cells outside the interior are zeroed first (the border windows then add into the plane). 3x3
windows at stride 2 overlap, so each plane is zeroed while it is in cache and every window adds
its gradient at its winning tap.

Without a gradient to come, max pooling needs no argmax, and 3x3 takes a separable loop (column
maxima, then maxima across columns) that is about 3x faster than tracking the winning tap.
"""
import numpy as np

from .jit import jit


def applies(geo, kernels):
    """Whether a pooling geometry takes these kernels: 2-D, a window in ``kernels``, stride 2, no dilation."""
    return (len(geo.in_shape) == 2 and geo.kernel_size in kernels and geo.stride == (2, 2)
            and geo.dilation == (1, 1))


def _interior(n, out, k, before):
    """Output positions [lo, hi) of one axis whose window (stride 2) lies wholly inside [0, n)."""
    lo = min(out, (before + 1) // 2)
    hi = min(out, max(0, (n - k + before) // 2 + 1))
    return lo, max(lo, hi)


def spans(geo):
    """(i0, i1, j0, j1): the interior rectangle of output windows, as the kernels take it."""
    (ph, _), (pw, _) = geo.pads
    i0, i1 = _interior(geo.in_shape[0], geo.out_shape[0], geo.kernel_size[0], ph)
    j0, j1 = _interior(geo.in_shape[1], geo.out_shape[1], geo.kernel_size[1], pw)
    return i0, i1, j0, j1


@jit
def _pick(v, best, k, tap):
    # PyTorch's `v > best || isnan(v)` as selects rather than branches, so the loops vectorise
    take = (v > best) | (v != v)
    return (v if take else best), (tap if take else k)


@jit
def _pick_row(x, q, best, t, first, second, third):
    # _pick over the three taps of one window row, x[q], x[q + 1], x[q + 2]
    best, t = _pick(x[q], best, t, first)
    best, t = _pick(x[q + 1], best, t, second)
    return _pick(x[q + 2], best, t, third)


@jit
def _max_interior_2x2(plane, out, arg, top, left, i0, i1, j0, j1):
    # out, arg: one plane's (OH, OW); window (i, j) starts at plane[top + 2 i, left + 2 j]. The
    # views start at the first interior window, so every index is >= 0 and no wraparound test
    # keeps LLVM from vectorising. (One function per plane, not per row: a call with array
    # arguments costs reference counting, which a 56-output row cannot amortise.)
    for i in range(i0, i1):
        y = top + 2 * i
        x0, x1 = plane[y, left + 2 * j0:], plane[y + 1, left + 2 * j0:]
        o, a = out[i, j0:j1], arg[i, j0:j1]
        for j in range(j1 - j0):
            q = 2 * j
            best, t = x0[q], 0
            best, t = _pick(x0[q + 1], best, t, 1)
            best, t = _pick(x1[q], best, t, 2)
            best, t = _pick(x1[q + 1], best, t, 3)
            o[j], a[j] = best, t


@jit
def _greater(v, best, k, tap):
    # _pick without the NaN test, for rows known to hold none: 2-3x faster for 3x3 windows
    take = v > best
    return (v if take else best), (tap if take else k)


@jit
def _hold_nan(x0, x1, x2, m):
    found = False
    for u in range(m):
        found |= (x0[u] != x0[u]) | (x1[u] != x1[u]) | (x2[u] != x2[u])
    return found


@jit
def _max_interior_3x3(plane, out, arg, top, left, i0, i1, j0, j1):
    # PyTorch's NaN rule costs two of the five vector operations per tap, so each row of windows
    # first checks its three input rows (one contiguous pass) and takes the exact loop only when
    # they hold a NaN
    n = j1 - j0
    tap = arg.dtype.type  # taps in arg's dtype: narrower selects
    for i in range(i0, i1):
        y, q0 = top + 2 * i, left + 2 * j0
        x0, x1, x2 = plane[y, q0:], plane[y + 1, q0:], plane[y + 2, q0:]
        o, a = out[i, j0:j1], arg[i, j0:j1]
        if _hold_nan(x0, x1, x2, 2 * n + 1):
            for j in range(n):
                q = 2 * j
                best, t = x0[q], tap(0)
                best, t = _pick(x0[q + 1], best, t, tap(1))
                best, t = _pick(x0[q + 2], best, t, tap(2))
                best, t = _pick_row(x1, q, best, t, tap(3), tap(4), tap(5))
                o[j], a[j] = _pick_row(x2, q, best, t, tap(6), tap(7), tap(8))
        else:
            for j in range(n):
                q = 2 * j
                best, t = x0[q], tap(0)
                best, t = _greater(x0[q + 1], best, t, tap(1))
                best, t = _greater(x0[q + 2], best, t, tap(2))
                best, t = _greater(x1[q], best, t, tap(3))
                best, t = _greater(x1[q + 1], best, t, tap(4))
                best, t = _greater(x1[q + 2], best, t, tap(5))
                best, t = _greater(x2[q], best, t, tap(6))
                best, t = _greater(x2[q + 1], best, t, tap(7))
                best, t = _greater(x2[q + 2], best, t, tap(8))
                o[j], a[j] = best, t


@jit
def _max_of(v, best):
    # the value PyTorch's rule keeps: the larger, and NaN once either is NaN
    return v if (v > best) | (v != v) else best


@jit
def _max_values_3x3(plane, out, ph, pw, column):
    # values only (no gradient wanted), every window of the plane: separable, first the maximum down
    # each column of the window's three rows (contiguous loads), then across three columns at stride
    # 2. Which tap wins a tie does not matter for the value, so the order may differ from the tap
    # order; 3x faster than tracking the tap. Rows past the plane are clipped by reading a row
    # twice; columns past it are -inf in ``column`` (the padding of a max never wins: a window
    # always holds a cell of the plane), so border windows take the same loops as the interior
    # (the per-window border loop took 70 % of a padded 112x112 plane's time).
    h, w = plane.shape
    low = plane.dtype.type(-np.inf)
    for u in range(column.shape[0]):
        column[u] = low
    col = column[pw:pw + w]
    for i in range(out.shape[0]):
        y = 2 * i - ph
        r0, r2 = max(y, 0), min(y + 2, h - 1)
        r1 = min(max(y + 1, r0), r2)
        x0, x1, x2 = plane[r0], plane[r1], plane[r2]
        for u in range(w):
            col[u] = _max_of(x2[u], _max_of(x1[u], x0[u]))
        o = out[i]
        for j in range(out.shape[1]):
            o[j] = _max_of(column[2 * j + 2], _max_of(column[2 * j + 1], column[2 * j]))


@jit
def _max_window(plane, y, q, k):
    # a border window (top-left cell (y, q)), its taps clipped to the plane: those outside are
    # skipped, as if they held -inf
    r0, r1 = max(0, -y), min(k, plane.shape[0] - y)
    c0, c1 = max(0, -q), min(k, plane.shape[1] - q)
    best_k, best = -1, plane[0, 0]
    for r in range(r0, r1):
        row = plane[y + r]
        for c in range(c0, c1):
            v = row[q + c]
            if best_k < 0 or v > best or v != v:
                best, best_k = v, r * k + c
    return best, best_k


@jit
def _max_top_3x3(plane, out, arg, left, j0, j1):
    # the first row of windows when one row of padding lies above the plane: window j reads plane
    # rows 0 and 1 (taps 3..8), columns left + 2 j .. + 2, for the interior columns [j0, j1)
    x1, x2 = plane[0, left + 2 * j0:], plane[1, left + 2 * j0:]
    o, a = out[0, j0:j1], arg[0, j0:j1]
    tap = arg.dtype.type
    for j in range(j1 - j0):
        q = 2 * j
        best, t = x1[q], tap(3)
        best, t = _pick(x1[q + 1], best, t, tap(4))
        best, t = _pick(x1[q + 2], best, t, tap(5))
        o[j], a[j] = _pick_row(x2, q, best, t, tap(6), tap(7), tap(8))


@jit
def _max_left_3x3(plane, out, arg, top, i0, i1):
    # the first window of each interior row when one column of padding lies left of the plane:
    # columns 0 and 1 of its three rows (taps 1, 2, 4, 5, 7, 8)
    tap = arg.dtype.type
    for i in range(i0, i1):
        y = top + 2 * i
        x0, x1, x2 = plane[y], plane[y + 1], plane[y + 2]
        best, t = x0[0], tap(1)
        best, t = _pick(x0[1], best, t, tap(2))
        best, t = _pick(x1[0], best, t, tap(4))
        best, t = _pick(x1[1], best, t, tap(5))
        best, t = _pick(x2[0], best, t, tap(7))
        best, t = _pick(x2[1], best, t, tap(8))
        out[i, 0], arg[i, 0] = best, t


@jit
def _max_border(plane, out, arg, k, top, left, i0, i1, j0, j1, top_done, left_done):
    # the windows outside the interior, but for the first row's interior columns (top_done) and
    # the interior rows' first window (left_done), which the loops above have taken
    for i in range(out.shape[0]):
        y = top + 2 * i
        if (i0 <= i < i1) or (top_done and i == i0 - 1):
            first = 0 if (left_done and i0 <= i < i1) else j0
            for j in range(first):
                out[i, j], arg[i, j] = _max_window(plane, y, left + 2 * j, k)
            for j in range(j1, out.shape[1]):
                out[i, j], arg[i, j] = _max_window(plane, y, left + 2 * j, k)
        else:
            for j in range(out.shape[1]):
                out[i, j], arg[i, j] = _max_window(plane, y, left + 2 * j, k)


@jit
def max_forward_planes(x, k, pads, spans, out, arg, lo, hi):
    """Planes lo..hi of x (B, H, W) -> out, arg (B, OH, OW): k x k windows (k = 2 or 3) at stride 2.

    pads: the leading (top, left) padding; spans: the interior rectangle (see ``spans``). An arg
    with no planes (shape (0, OH, OW)) asks for the values only: 3x3 then takes a faster loop.
    """
    top, left = -pads[0], -pads[1]
    i0, i1, j0, j1 = spans
    if k == 3 and arg.shape[0] == 0:
        # the window columns a row reads: the left padding, the plane, the ceil_mode overhang
        column = np.empty(max(pads[1] + x.shape[2], 2 * out.shape[2] + 1), x.dtype)
        for b in range(lo, hi):
            _max_values_3x3(x[b], out[b], pads[0], pads[1], column)
        return
    with_arg = arg.shape[0] > 0
    scratch = np.empty(out.shape[1:], arg.dtype)  # the border's taps when no arg is kept
    # 3x3 with one row (column) of padding above (left of) the plane: the first row of windows
    # (each row's first window) take unrolled loops too; per-window border code had taken 45 % of
    # a 112x112 plane's time
    top_done = k == 3 and top == -1 and i0 == 1 and x.shape[1] >= 2 and j1 > j0
    left_done = k == 3 and left == -1 and j0 == 1 and x.shape[2] >= 2
    for b in range(lo, hi):
        a = arg[b] if with_arg else scratch
        if k == 2:
            _max_interior_2x2(x[b], out[b], a, top, left, i0, i1, j0, j1)
        else:
            _max_interior_3x3(x[b], out[b], a, top, left, i0, i1, j0, j1)
            if top_done:
                _max_top_3x3(x[b], out[b], a, left, j0, j1)
            if left_done:
                _max_left_3x3(x[b], out[b], a, top, i0, i1)
        _max_border(x[b], out[b], a, k, top, left, i0, i1, j0, j1, top_done, left_done)


@jit
def _zero_outside(plane, y0, y1, q0, q1):
    # zero the cells of a plane outside rows [y0, y1) x columns [q0, q1), which the interior
    # windows assign; loops, as slice assignments cost more per plane
    h, w = plane.shape
    for y in range(h):
        row = plane[y]
        if y < y0 or y >= y1:
            for q in range(w):
                row[q] = 0
        else:
            for q in range(min(q0, w)):
                row[q] = 0
            for q in range(max(q1, 0), w):
                row[q] = 0


@jit
def _max_grad_interior_2x2(grad, arg, dx, zero, top, left, i0, i1, j0, j1):
    # the windows tile the interior without overlap: assign the gradient to the winning tap and
    # zero to the three others, so that no pass zeroes the plane first. One loop per input row:
    # with both rows in one loop LLVM did not vectorise it (3x slower).
    for i in range(i0, i1):
        y, q0 = top + 2 * i, left + 2 * j0
        g, a = grad[i, j0:j1], arg[i, j0:j1]
        for r in range(2):
            d = dx[y + r, q0:]
            t = 2 * r
            for j in range(j1 - j0):
                v, k = g[j], a[j]
                d[2 * j] = v if k == t else zero
                d[2 * j + 1] = v if k == t + 1 else zero


@jit
def _route(g, t, plane, y, q, k):
    if t >= 0:  # -1: a window with no input cell at all
        r = 0 if t < k else (1 if t < 2 * k else 2)  # t // k for k <= 3, without a division
        plane[y + r, q + t - r * k] += g


@jit
def _max_grad_border(grad, arg, plane, k, top, left, i0, i1, j0, j1):
    # the border windows add their gradient after the interior has written every cell
    for i in range(grad.shape[0]):
        y = top + 2 * i
        if i0 <= i < i1:
            for j in range(j0):
                _route(grad[i, j], arg[i, j], plane, y, left + 2 * j, k)
            for j in range(j1, grad.shape[1]):
                _route(grad[i, j], arg[i, j], plane, y, left + 2 * j, k)
        else:
            for j in range(grad.shape[1]):
                _route(grad[i, j], arg[i, j], plane, y, left + 2 * j, k)


@jit
def _max_grad_scatter(grad, arg, plane, k, top, left, i0, i1, j0, j1):
    # overlapping windows: zero the plane (it stays in cache) and add each window's gradient at
    # its winning tap, every window in (i, j) order. The interior windows index the flat plane
    # with unsigned offsets from a table of the taps (no bounds arithmetic, no wraparound test):
    # 0.62 -> 0.41 ms for 64 planes of 112x112. A row-by-row assembly that wrote each cell once
    # was slower (0.65 -> 1.4 ms: a select per tap and cell).
    h, w = plane.shape
    flat = plane.reshape(h * w)
    for u in range(h * w):
        flat[u] = 0
    offsets = np.empty(k * k, np.uint64)
    for r in range(k):
        for c in range(k):
            offsets[r * k + c] = np.uint64(r * w + c)
    for i in range(grad.shape[0]):
        y = top + 2 * i
        if i0 <= i < i1:
            for j in range(j0):
                _route(grad[i, j], arg[i, j], plane, y, left + 2 * j, k)
            g, a = grad[i, j0:j1], arg[i, j0:j1]
            base = np.uint64(y * w + left + 2 * j0)
            for j in range(j1 - j0):
                flat[base + np.uint64(2 * j) + offsets[a[j]]] += g[j]
            for j in range(j1, grad.shape[1]):
                _route(grad[i, j], arg[i, j], plane, y, left + 2 * j, k)
        else:
            for j in range(grad.shape[1]):
                _route(grad[i, j], arg[i, j], plane, y, left + 2 * j, k)


@jit
def max_backward_planes(grad, arg, k, pads, spans, dx, lo, hi):
    """Route each output gradient to its window's winning tap: grad, arg (B, OH, OW) -> dx (B, H, W)."""
    top, left = -pads[0], -pads[1]
    i0, i1, j0, j1 = spans
    zero = dx.dtype.type(0)  # of dx's dtype, so the selects stay in it
    for b in range(lo, hi):
        plane = dx[b]
        if k == 2:
            # the interior windows tile rows [top + 2 i0, top + 2 i1) x columns [left + 2 j0, left + 2 j1)
            _zero_outside(plane, top + 2 * i0, top + 2 * i1, left + 2 * j0, left + 2 * j1)
            _max_grad_interior_2x2(grad[b], arg[b], plane, zero, top, left, i0, i1, j0, j1)
            _max_grad_border(grad[b], arg[b], plane, k, top, left, i0, i1, j0, j1)
        else:
            _max_grad_scatter(grad[b], arg[b], plane, k, top, left, i0, i1, j0, j1)


@jit
def divide(value, divisor, multiply):
    """value / divisor, or value * divisor where the caller passed the divisors' reciprocals
    (``multiply``): for divisors that are powers of two (2x2 windows: 4) the product is the quotient
    bit for bit, and a vector division took a third of 2x2 average pooling at batch 32 (32 x 64 x
    112 x 112 forward 5.5-5.7 -> 4.0-4.2 ms). The branch is loop-invariant: LLVM takes it out of
    the loops (unswitching), so each runs the one operation."""
    return value * divisor if multiply else value / divisor


@jit
def avg_forward_planes(x, pads, spans, divisor, multiply, out, lo, hi):
    """2x2 average pooling at stride 2: x (B, H, W) -> out (B, OH, OW); divisor (OH, OW) per window
    (reciprocals with ``multiply``: ``divide``)."""
    top, left = -pads[0], -pads[1]
    i0, i1, j0, j1 = spans
    h, w = x.shape[1], x.shape[2]
    for b in range(lo, hi):
        plane, o2 = x[b], out[b]
        for i in range(i0, i1):
            y, q0 = top + 2 * i, left + 2 * j0
            x0, x1 = plane[y, q0:], plane[y + 1, q0:]
            o, dv = o2[i, j0:j1], divisor[i, j0:j1]
            for j in range(j1 - j0):
                q = 2 * j
                # in x's dtype, as PyTorch (opmath of float is float): four terms lose at most
                # an ulp or two, and float64 lanes made the loop half as fast
                o[j] = divide(x0[q] + x0[q + 1] + x1[q] + x1[q + 1], dv[j], multiply)
        for i in range(o2.shape[0]):
            y = top + 2 * i
            skip = j1 - j0 if i0 <= i < i1 else 0  # the interior windows of this row, skipped
            for n in range(o2.shape[1] - skip):
                j = n + skip if n >= j0 else n
                acc = 0.0
                q = left + 2 * j
                for r in range(max(0, -y), min(2, h - y)):
                    for c in range(max(0, -q), min(2, w - q)):
                        acc += plane[y + r, q + c]
                o2[i, j] = divide(acc, divisor[i, j], multiply)


@jit
def avg_backward_planes(grad, pads, spans, divisor, multiply, dx, lo, hi):
    """The adjoint of avg_forward_planes: each window's gradient / divisor to its (up to) four cells."""
    top, left = -pads[0], -pads[1]
    i0, i1, j0, j1 = spans
    h, w = dx.shape[1], dx.shape[2]
    for b in range(lo, hi):
        plane, g2 = dx[b], grad[b]
        _zero_outside(plane, top + 2 * i0, top + 2 * i1, left + 2 * j0, left + 2 * j1)
        for i in range(i0, i1):
            y, q0 = top + 2 * i, left + 2 * j0
            g, dv = g2[i, j0:j1], divisor[i, j0:j1]
            for r in range(2):  # a loop per input row, as in _max_grad_interior_2x2
                d = plane[y + r, q0:]
                for j in range(j1 - j0):
                    v = divide(g[j], dv[j], multiply)
                    d[2 * j] = v
                    d[2 * j + 1] = v
        for i in range(g2.shape[0]):
            y = top + 2 * i
            skip = j1 - j0 if i0 <= i < i1 else 0  # the interior windows of this row, skipped
            for n in range(g2.shape[1] - skip):
                j = n + skip if n >= j0 else n
                v = divide(g2[i, j], divisor[i, j], multiply)
                q = left + 2 * j
                for r in range(max(0, -y), min(2, h - y)):
                    for c in range(max(0, -q), min(2, w - q)):
                        plane[y + r, q + c] += v
