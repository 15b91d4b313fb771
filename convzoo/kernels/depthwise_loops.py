"""The Numba loops of depthwise convolution: one (image, channel) plane at a time, through a scratch copy.

Each thread owns a scratch plane: the zero-padded input plane (forward, weight gradient) or the
padded input-gradient plane (input gradient, for stride > 1 or a channel multiplier). It is split
by stride phase, each phase of each axis a block of its own (``depthwise.PlaneTable``), so every tap
of every stride reads or writes a unit-step run of one buffer row, which the compiler vectorises.
The scratch plane of a typical layer fits in L1/L2, so the input streams from memory once, and the
output is written once, without a per-tap read-modify-write in memory. Where output row ``r`` reads
scratch rows ``rowtab[0] + r`` (1-D and 2-D planes, any stride), the forward runs over the whole plane
at the scratch pitch in one pass (``PlaneTable.flat``), and the gradients do (``depthwise_flat``).

Layouts: planes are flat, rows of the last spatial axis one after another (the leading spatial axes
flattened into rows). The tables (``depthwise.PlaneTable``) say where each tap reads: scratch element
``rowtab[r, ko] * buf_width + colofs[kl] + j`` for output row ``r``, column ``j``, tap ``(ko, kl)``
(``ko`` over the leading kernel axes).

Indices are unsigned (``np.uint64``) in the inner loops: Numba then drops the negative-index
wraparound test from every load, and one flat array per plane needs no slice built per row (both
kept a 3x3 row pass at about twice its cycles per output on the reference machine). ``fastmath``
stays off, so sums keep their written order (no fused multiply-add, no reassociation).
"""
import numpy as np

from .jit import VECTOR, jit, jit_inline

# output widths from which the weight gradient takes four gradient rows a pass (flat tables take
# depthwise_flat's whole-plane dot products instead)
LONG_ROWS = 48

# A row of outputs is computed to its width rounded up to a multiple of VECTOR (float32 lanes of an
# AVX2 register): the extra columns spill into the next row, which is computed after it and
# overwrites them (never past the next row, nor from the last row of a plane, whose successor another
# thread may own), and read past the row (the scratch plane has VECTOR elements of slack). The loop
# then never falls to its scalar tail, which cost more than the vector body on rows of 28 (a 3x3
# stride-2 layer, LeNet's 5x5). _wide is that rounded width of row r
@jit
def _wide(width, r, rows):
    extra = (-width) % VECTOR
    return np.uint64(width + extra if r < rows - 1 and extra <= width else width)


# Rows shorter than this are copied into and out of the scratch plane element by element through
# index maps built once per range (_copy_map, _out_map) rather than row by row: a row loop of 7
# elements never reaches its vector body and pays its set-up per row. Rows shorter than twice this
# run the whole-plane pass even where its junk columns are many (depthwise.PlaneTable.flat). In one
# process on the AVX-512 machine, batch 8, against row copies and row loops: 3x3 on 960 planes of
# 7 x 7 forward and input gradient 1.37x, weight gradient 2.3x; 5x5 on 480 of 14 x 14 2.6-3.4x; 7x7 on
# 256 of 12 x 12 2.7-3.8x. Through the maps 14-wide rows ran 0.93-0.98x (rows of 28: 0.7x)
SHORT_ROWS = 8


@jit
def _copy_map(fill_row, col_lo, col_hi, src_lo, step, n, buf_width):
    """(2, count) of the input plane's elements that land in the scratch plane: row 0 the element of
    the flat plane (rows of n), row 1 its scratch element; (2, 0) for rows of SHORT_ROWS or more,
    which _fill and _extract copy row by row."""
    if n >= SHORT_ROWS:
        return np.empty((2, 0), dtype=np.uint64)
    count = 0
    for i in range(fill_row.shape[0]):
        if fill_row[i] >= 0:
            for q in range(step):
                count += col_hi[q] - col_lo[q]
    pairs = np.empty((2, count), dtype=np.uint64)
    k = 0
    for i in range(fill_row.shape[0]):
        if fill_row[i] < 0:
            continue
        for q in range(step):
            for j in range(col_hi[q] - col_lo[q]):
                pairs[0, k] = i * n + src_lo[q] + step * j
                pairs[1, k] = fill_row[i] * buf_width + col_lo[q] + j
                k += 1
    return pairs


@jit
def _out_map(rows, width, pitch):
    """Element ``r * pitch + j`` of a plane laid out at ``pitch`` for each element ``r * width + j`` of
    the flat plane; empty for rows of SHORT_ROWS or more."""
    if width >= SHORT_ROWS:
        return np.empty(0, dtype=np.uint64)
    at = np.empty(rows * width, dtype=np.uint64)
    for r in range(rows):
        for j in range(width):
            at[r * width + j] = r * pitch + j
    return at


@jit
def _fill(plane, fill_row, col_lo, col_hi, src_lo, step, full, buf, buf_width):
    # copies the flat input plane (rows_in * n) into the scratch plane; the padding is never written,
    # so it stays zero from the allocation
    n = plane.shape[0] // fill_row.shape[0]
    if step == 2 and full:
        _fill_pairs(plane, n, fill_row, col_lo, src_lo, buf, buf_width)
        return
    for i in range(fill_row.shape[0]):
        if fill_row[i] < 0:
            continue
        for q in range(step):
            count = np.uint64(col_hi[q] - col_lo[q])
            dst = np.uint64(fill_row[i] * buf_width + col_lo[q])
            src = np.uint64(i * n + src_lo[q])
            if step == 1:
                for j in range(count):
                    buf[dst + j] = plane[src + j]
            else:
                for j in range(count):
                    buf[dst + j] = plane[src + np.uint64(step) * j]


@jit
def _pair_starts(col_lo, src_lo):
    # at stride 2, where even and odd input columns start in a scratch row (src_lo is 0 or 1)
    even = 0 if src_lo[0] == 0 else 1
    return np.uint64(col_lo[even]), np.uint64(col_lo[1 - even])


@jit
def _fill_pairs(plane, n, fill_row, col_lo, src_lo, buf, buf_width):
    # stride 2, every input column in the scratch: one pass over each input row splits it into its
    # even and odd columns (the constant step lets the compiler vectorise it with shuffles)
    even, odd = _pair_starts(col_lo, src_lo)
    pairs = np.uint64(n // 2)
    for i in range(fill_row.shape[0]):
        if fill_row[i] < 0:
            continue
        row, src = np.uint64(fill_row[i] * buf_width), np.uint64(i * n)
        for k in range(pairs):
            buf[row + even + k] = plane[src + np.uint64(2) * k]
            buf[row + odd + k] = plane[src + np.uint64(2) * k + np.uint64(1)]
        if n % 2:
            buf[row + even + pairs] = plane[src + np.uint64(n - 1)]


@jit
def _extract(buf, buf_width, fill_row, col_lo, col_hi, src_lo, step, full, plane):
    # the adjoint of _fill: the flat input-gradient plane is the scratch plane without its padding;
    # rows and columns no tap reaches (a crop, trailing pixels) get zeros
    n = plane.shape[0] // fill_row.shape[0]
    if step == 2 and full:
        even, odd = _pair_starts(col_lo, src_lo)
        half = np.uint64(n // 2)
    for i in range(fill_row.shape[0]):
        if fill_row[i] < 0 or not full:
            plane[i * n:(i + 1) * n] = 0.0
        if fill_row[i] < 0:
            continue
        if step == 2 and full:
            row, dst = np.uint64(fill_row[i] * buf_width), np.uint64(i * n)
            for k in range(half):
                plane[dst + np.uint64(2) * k] = buf[row + even + k]
                plane[dst + np.uint64(2) * k + np.uint64(1)] = buf[row + odd + k]
            if n % 2:
                plane[dst + np.uint64(n - 1)] = buf[row + even + half]
            continue
        for q in range(step):
            count = np.uint64(col_hi[q] - col_lo[q])
            src = np.uint64(fill_row[i] * buf_width + col_lo[q])
            dst = np.uint64(i * n + src_lo[q])
            if step == 1:
                for j in range(count):
                    plane[dst + j] = buf[src + j]
            else:
                for j in range(count):
                    plane[dst + np.uint64(step) * j] = buf[src + j]


@jit_inline
def _fill_plane(plane, pairs, fill_row, col_lo, col_hi, src_lo, step, full, buf, buf_width):
    # _fill, or element by element through ``pairs`` (_copy_map) where it has any
    if pairs.shape[1] == 0:
        _fill(plane, fill_row, col_lo, col_hi, src_lo, step, full, buf, buf_width)
        return
    to = pairs[1]
    for k in range(pairs.shape[1]):
        buf[to[k]] = plane[pairs[0, k]]


@jit_inline
def _extract_plane(buf, buf_width, fill_row, col_lo, col_hi, src_lo, step, full, pairs, plane):
    # _extract, or element by element through ``pairs`` (_copy_map) where it has any
    if pairs.shape[1] == 0:
        _extract(buf, buf_width, fill_row, col_lo, col_hi, src_lo, step, full, plane)
        return
    if pairs.shape[1] != plane.shape[0]:  # some element no tap reaches
        plane[:] = 0.0
    at = pairs[0]
    for k in range(pairs.shape[1]):
        plane[at[k]] = buf[pairs[1, k]]


@jit_inline
def _pass9(res, o, count, buf, starts, wo):
    # nine taps (a 3x3 kernel, any stride and dilation) in one pass, the weights in registers
    w0, w1, w2, w3, w4, w5, w6, w7, w8 = wo[0], wo[1], wo[2], wo[3], wo[4], wo[5], wo[6], wo[7], wo[8]
    a0, a1, a2 = np.uint64(starts[0]), np.uint64(starts[1]), np.uint64(starts[2])
    b0, b1, b2 = np.uint64(starts[3]), np.uint64(starts[4]), np.uint64(starts[5])
    d0, d1, d2 = np.uint64(starts[6]), np.uint64(starts[7]), np.uint64(starts[8])
    for j in range(np.uint64(count)):
        res[o + j] = (w0 * buf[a0 + j] + w1 * buf[a1 + j] + w2 * buf[a2 + j] + w3 * buf[b0 + j]
                      + w4 * buf[b1 + j] + w5 * buf[b2 + j] + w6 * buf[d0 + j] + w7 * buf[d1 + j]
                      + w8 * buf[d2 + j])


@jit
def _rows9(buf, buf_width, wo, rowtab, colofs, res):
    # _pass9 row by row, its starts computed inline (a call per row cost as much as the row of 28)
    w0, w1, w2, w3, w4, w5, w6, w7, w8 = wo[0], wo[1], wo[2], wo[3], wo[4], wo[5], wo[6], wo[7], wo[8]
    c0, c1, c2 = colofs[0], colofs[1], colofs[2]
    rows = rowtab.shape[0]
    width = res.shape[0] // rows
    for r in range(rows):
        p0, p1, p2 = rowtab[r, 0] * buf_width, rowtab[r, 1] * buf_width, rowtab[r, 2] * buf_width
        a0, a1, a2 = np.uint64(p0 + c0), np.uint64(p0 + c1), np.uint64(p0 + c2)
        b0, b1, b2 = np.uint64(p1 + c0), np.uint64(p1 + c1), np.uint64(p1 + c2)
        d0, d1, d2 = np.uint64(p2 + c0), np.uint64(p2 + c1), np.uint64(p2 + c2)
        o = np.uint64(r * width)
        for j in range(_wide(width, r, rows)):
            res[o + j] = (w0 * buf[a0 + j] + w1 * buf[a1 + j] + w2 * buf[a2 + j] + w3 * buf[b0 + j]
                          + w4 * buf[b1 + j] + w5 * buf[b2 + j] + w6 * buf[d0 + j] + w7 * buf[d1 + j]
                          + w8 * buf[d2 + j])


# Output width from which a 3x3 stride-1 plane runs _rows9_paired rather than the whole-plane run
# of _correlate: 128 planes on one thread, 112 wide 637 -> 464 us, 56 wide 146 -> 140; 28 wide
# 46 -> 50, 14 wide 20 -> 27 (short rows pay the loop's start twice as often). In one process, the
# depthwise 3x3 128 @56 at batch 32 forward 1.14x, forward+backward 1.07x, at batch 1 0.98-0.99x
PAIRED_WIDTH = 48


@jit
def _adjacent_rows(rowtab):
    """Whether output row r's three kernel rows are scratch rows t, t + 1, t + 2 with t = rowtab[0, 0]
    + r (stride 1 and dilation 1 down the rows): then rows r and r + 1 read two rows in common."""
    for r in range(rowtab.shape[0]):
        for k in range(rowtab.shape[1]):
            if rowtab[r, k] != rowtab[0, 0] + r + k:
                return False
    return True


@jit_inline
def _row_pair9(src, a0, a1, a2, pitch, count, wo, res, o, o2):
    # two output rows of a 3x3 kernel, at res[o:] and res[o2:], ``count`` long: the first reads rows t..t+2
    # of src (``pitch`` apart; its kernel row's three taps start at a0, a1, a2), the second rows t+1..t+3,
    # so 12 loads make two outputs where _pass9 makes one of 9 (its loads, unaligned, bound the loop); each
    # output's sum in _pass9's order, bit for bit
    w0, w1, w2, w3, w4, w5, w6, w7, w8 = wo[0], wo[1], wo[2], wo[3], wo[4], wo[5], wo[6], wo[7], wo[8]
    b0, b1, b2 = a0 + pitch, a1 + pitch, a2 + pitch
    d0, d1, d2 = b0 + pitch, b1 + pitch, b2 + pitch
    e0, e1, e2 = d0 + pitch, d1 + pitch, d2 + pitch
    for j in range(count):
        x3, x4, x5 = src[b0 + j], src[b1 + j], src[b2 + j]
        x6, x7, x8 = src[d0 + j], src[d1 + j], src[d2 + j]
        res[o + j] = (w0 * src[a0 + j] + w1 * src[a1 + j] + w2 * src[a2 + j] + w3 * x3 + w4 * x4 + w5 * x5
                      + w6 * x6 + w7 * x7 + w8 * x8)
        res[o2 + j] = (w0 * x3 + w1 * x4 + w2 * x5 + w3 * x6 + w4 * x7 + w5 * x8 + w6 * src[e0 + j]
                       + w7 * src[e1 + j] + w8 * src[e2 + j])


@jit
def _rows9_paired(buf, buf_width, wo, rowtab, colofs, res):
    # the output rows two at a time (rowtab: _adjacent_rows), straight into res (_row_pair9): rows r and
    # r + 1 read scratch rows t..t+2 and t+1..t+3. An odd last row goes through _rows9's loop
    c0, c1, c2 = np.uint64(colofs[0]), np.uint64(colofs[1]), np.uint64(colofs[2])
    rows = rowtab.shape[0]
    width = res.shape[0] // rows
    pitch, n = np.uint64(buf_width), np.uint64(width)
    for r in range(0, rows - 1, 2):
        p = np.uint64(rowtab[r, 0] * buf_width)
        o = np.uint64(r * width)
        _row_pair9(buf, p + c0, p + c1, p + c2, pitch, n, wo, res, o, o + n)
    if rows % 2:
        _rows9(buf, buf_width, wo, rowtab[rows - 1:], colofs, res[(rows - 1) * width:])


@jit_inline
def _pass(res, o, count, buf, starts, wo):
    # any number of taps, five or three per pass over the run (more runs per pass exceed the
    # compiler's budget of runtime overlap checks, and it stops vectorising)
    n = np.uint64(count)
    res[o:o + n] = 0.0
    taps, k = starts.shape[0], 0
    while k + 5 <= taps:
        w0, w1, w2, w3, w4 = wo[k], wo[k + 1], wo[k + 2], wo[k + 3], wo[k + 4]
        a0, a1, a2 = np.uint64(starts[k]), np.uint64(starts[k + 1]), np.uint64(starts[k + 2])
        a3, a4 = np.uint64(starts[k + 3]), np.uint64(starts[k + 4])
        for j in range(n):
            res[o + j] += w0 * buf[a0 + j] + w1 * buf[a1 + j] + w2 * buf[a2 + j] + w3 * buf[a3 + j] + w4 * buf[a4 + j]
        k += 5
    while k + 3 <= taps:
        w0, w1, w2 = wo[k], wo[k + 1], wo[k + 2]
        a0, a1, a2 = np.uint64(starts[k]), np.uint64(starts[k + 1]), np.uint64(starts[k + 2])
        for j in range(n):
            res[o + j] += w0 * buf[a0 + j] + w1 * buf[a1 + j] + w2 * buf[a2 + j]
        k += 3
    while k < taps:
        w0, a0 = wo[k], np.uint64(starts[k])
        for j in range(n):
            res[o + j] += w0 * buf[a0 + j]
        k += 1


@jit_inline
def _starts(buf_width, rowtab, colofs, r, starts):
    # where each tap's run starts in the scratch plane for output row r
    kw = colofs.shape[0]
    for ko in range(rowtab.shape[1]):
        for kl in range(kw):
            starts[ko * kw + kl] = rowtab[r, ko] * buf_width + colofs[kl]


@jit
def _correlate(buf, buf_width, wo, rowtab, colofs, paired, starts, res):
    # res: flat output plane of one channel, weights wo (taps,), row by row. ``paired``:
    # _rows9_paired applies
    rows = rowtab.shape[0]
    width = res.shape[0] // rows
    if paired:
        _rows9_paired(buf, buf_width, wo, rowtab, colofs, res)
        return
    if starts.shape[0] == 9 and rowtab.shape[1] == 3:
        _rows9(buf, buf_width, wo, rowtab, colofs, res)
        return
    for r in range(rows):
        _starts(buf_width, rowtab, colofs, r, starts)
        _pass(res, np.uint64(r * width), _wide(width, r, rows), buf, starts, wo)


@jit_inline
def _correlate_flat(buf, buf_width, wo, starts, count, rows, tmp, at, res):
    # a flat table's plane (output row r reads scratch rows rowtab[0] + r) as one run at the scratch
    # row pitch: one pass instead of one per row, into tmp, whose columns past the output width are
    # junk and are dropped on the copy out (element by element through ``at``, _out_map, where it
    # has any). ``starts``: each tap's run for the whole plane (_starts of row 0); ``count``: the
    # run's length, rounded up to a multiple of VECTOR; ``rows``: the output rows
    if starts.shape[0] == 9:
        _pass9(tmp, np.uint64(0), count, buf, starts, wo)
    else:
        _pass(tmp, np.uint64(0), count, buf, starts, wo)
    if at.shape[0]:
        for i in range(at.shape[0]):
            res[i] = tmp[at[i]]
        return
    width = res.shape[0] // rows
    for r in range(rows):
        src, dst = np.uint64(r * buf_width), np.uint64(r * width)
        for j in range(np.uint64(width)):
            res[dst + j] = tmp[src + j]


# A 3x3 stride-1 conv padded by one on every side ("same") of rows at least PAIRED_WIDTH wide: the outputs
# whose nine taps lie inside the plane read it in place, rows in pairs as _rows9_paired, and the border too,
# each tap that falls in the padding multiplying a zero (_same_edges). Each output sums the same nine products
# in the same order as the padded-copy loops, the padding's zeros included, so the bits are theirs. 64 planes
# of 56 x 56 on one thread: the interior 58.7 us against 104 for the whole plane through the padded copy (its
# copy alone 26); the border of a 56 x 56 plane 0.46 us through small zero-padded copies of its rows and
# columns, 0.18 in place


@jit
def _same_interior(xs, h, width, wo, last, res):
    # rows 1..h-2, columns 1..width-2 of one plane, straight from the flat input plane xs (_row_pair9); an
    # odd last row alone (_pass9 at ``last``, its taps' starts)
    pitch, n = np.uint64(width), np.uint64(width - 2)
    one, two = np.uint64(1), np.uint64(2)
    r = 1
    while r + 1 <= h - 2:
        a0, o = np.uint64((r - 1) * width), np.uint64(r * width + 1)
        _row_pair9(xs, a0, a0 + one, a0 + two, pitch, n, wo, res, o, o + pitch)
        r += 2
    if r == h - 2:
        _pass9(res, np.uint64(r * width + 1), n, xs, last, wo)


@jit
def _same_edges(xs, h, width, wo, res):
    # the top and bottom rows and the first and last columns of one plane (h, width >= 3), from the flat input
    # plane xs in place: the top row's kernel row 0, the bottom row's kernel row 2, the first column's kernel
    # column 0 and the last column's kernel column 2 multiply zeros, in their places in _pass9's sum
    zero = xs.dtype.type(0)
    w0, w1, w2, w3, w4, w5, w6, w7, w8 = wo[0], wo[1], wo[2], wo[3], wo[4], wo[5], wo[6], wo[7], wo[8]
    one, pitch, last = np.uint64(1), np.uint64(width), np.uint64(width - 1)
    a, b = np.uint64(0), pitch  # the top row: input rows 0 and 1 under kernel rows 1 and 2
    res[0] = (w0 * zero + w1 * zero + w2 * zero + w3 * zero + w4 * xs[a] + w5 * xs[a + one] + w6 * zero
              + w7 * xs[b] + w8 * xs[b + one])
    for j in range(one, last):
        res[j] = (w0 * zero + w1 * zero + w2 * zero + w3 * xs[a + j - one] + w4 * xs[a + j] + w5 * xs[a + j + one]
                  + w6 * xs[b + j - one] + w7 * xs[b + j] + w8 * xs[b + j + one])
    res[last] = (w0 * zero + w1 * zero + w2 * zero + w3 * xs[a + last - one] + w4 * xs[a + last] + w5 * zero
                 + w6 * xs[b + last - one] + w7 * xs[b + last] + w8 * zero)
    # the bottom row: input rows h - 2 and h - 1 under kernel rows 0 and 1
    a, b = np.uint64((h - 2) * width), np.uint64((h - 1) * width)
    res[b] = (w0 * zero + w1 * xs[a] + w2 * xs[a + one] + w3 * zero + w4 * xs[b] + w5 * xs[b + one] + w6 * zero
              + w7 * zero + w8 * zero)
    for j in range(one, last):
        res[b + j] = (w0 * xs[a + j - one] + w1 * xs[a + j] + w2 * xs[a + j + one] + w3 * xs[b + j - one]
                      + w4 * xs[b + j] + w5 * xs[b + j + one] + w6 * zero + w7 * zero + w8 * zero)
    res[b + last] = (w0 * xs[a + last - one] + w1 * xs[a + last] + w2 * zero + w3 * xs[b + last - one]
                     + w4 * xs[b + last] + w5 * zero + w6 * zero + w7 * zero + w8 * zero)
    for r in range(1, h - 1):  # the first and last columns of the rows between
        a = np.uint64((r - 1) * width)
        b, c = a + pitch, a + pitch + pitch
        res[b] = (w0 * zero + w1 * xs[a] + w2 * xs[a + one] + w3 * zero + w4 * xs[b] + w5 * xs[b + one] + w6 * zero
                  + w7 * xs[c] + w8 * xs[c + one])
        res[b + last] = (w0 * xs[a + last - one] + w1 * xs[a + last] + w2 * zero + w3 * xs[b + last - one]
                         + w4 * xs[b + last] + w5 * zero + w6 * xs[c + last - one] + w7 * xs[c + last] + w8 * zero)


@jit
def _nine_starts(row_pitch, column_pitch, first):
    """_pass9's starts of a 3x3 kernel over a flat array whose kernel rows lie ``row_pitch`` apart and columns
    ``column_pitch`` apart, the first tap at ``first``."""
    starts = np.empty(9, dtype=np.int64)
    for a in range(3):
        for b in range(3):
            starts[3 * a + b] = first + a * row_pitch + b * column_pitch
    return starts


@jit
def forward_same_range(x, w, h, width, out, lo, hi):
    """The 3x3 "same" conv (stride 1, padding 1, no dilation) of planes lo..hi of x: (N, C, h * width), w: (O,
    9), out: (N, O, h * width); output channel o reads input o // m. For h >= 3 and width >= 3."""
    channels = x.shape[1]
    m = out.shape[1] // channels
    scratch = same_scratch(h, width)
    for p in range(lo, hi):
        b, c = p // channels, p % channels
        for o in range(c * m, c * m + m):
            same_plane(x[b, c], h, width, w[o], scratch, out[b, o])


@jit
def same_scratch(h, width):
    """What ``same_plane`` needs for planes of h x width, made once per range: the starts of the nine taps of
    the interior's last row, read in place."""
    return _nine_starts(width, 1, (h - 3) * width)


@jit
def same_plane(xs, h, width, wo, scratch, res):
    """The 3x3 "same" conv of one flat plane xs (h x width) with the nine weights wo into res."""
    _same_interior(xs, h, width, wo, scratch, res)
    _same_edges(xs, h, width, wo, res)


# Each op is a range function over its planes (or output channels), run directly on the calling
# thread for small calls (depthwise.py decides: a hand-off to another thread costs more than a
# batch-1 layer takes), else one range per lane: the scratch plane is then allocated once per range,
# and batch 1 does not pay a thread hand-off per plane


@jit
def forward_range(x, w, rowtab, colofs, fill_row, col_lo, col_hi, src_lo, buf_rows, buf_width, step, full, flat,
                  out, lo, hi):
    """x: (N, C, rows_in * n); w: (O, Ko * Kl); out: (N, O, R * width); output channel o reads input o // m.
    The (image, input channel) planes lo..hi-1; the m output channels of a plane reuse its scratch copy."""
    channels = x.shape[1]
    m = out.shape[1] // channels
    rows = rowtab.shape[0]
    width = out.shape[2] // rows
    buf = np.zeros(buf_rows * buf_width + VECTOR, dtype=x.dtype)
    starts = np.empty(w.shape[1], dtype=np.int64)
    paired = w.shape[1] == 9 and rowtab.shape[1] == 3 and width >= PAIRED_WIDTH and _adjacent_rows(rowtab)
    pairs = _copy_map(fill_row, col_lo, col_hi, src_lo, step, x.shape[2] // fill_row.shape[0], buf_width)
    # a flat table's run: the same starts and length for every plane
    _starts(buf_width, rowtab, colofs, 0, starts)
    count = (rows - 1) * buf_width + width
    count += (-count) % VECTOR
    tmp = np.empty(rows * buf_width + VECTOR if flat else 0, dtype=x.dtype)
    at = _out_map(rows, width, buf_width) if flat else np.empty(0, np.uint64)
    for p in range(lo, hi):
        b, c = p // channels, p % channels
        _fill_plane(x[b, c], pairs, fill_row, col_lo, col_hi, src_lo, step, full, buf, buf_width)
        for o in range(c * m, c * m + m):
            if flat and not paired:
                _correlate_flat(buf, buf_width, w[o], starts, count, rows, tmp, at, out[b, o])
            else:
                _correlate(buf, buf_width, w[o], rowtab, colofs, paired, starts, out[b, o])


@jit
def _scatter(g, wo, rowtab, colofs, buf, buf_width):
    # the adjoint of _correlate: each tap adds its weight times the gradient row to the run of the
    # scratch row it read (the taps of a kernel row overlap, so one tap per pass)
    kh, kw = rowtab.shape[1], colofs.shape[0]
    rows = rowtab.shape[0]
    width = g.shape[0] // rows
    for r in range(rows):
        src = np.uint64(r * width)
        for ko in range(kh):
            for kl in range(kw):
                wk, dst = wo[ko * kw + kl], np.uint64(rowtab[r, ko] * buf_width + colofs[kl])
                for j in range(np.uint64(width)):
                    buf[dst + j] += wk * g[src + j]


@jit
def backward_input_range(grad_out, w, rowtab, colofs, fill_row, col_lo, col_hi, src_lo, buf_rows, buf_width, step,
                         full, out, lo, hi):
    """grad_out: (N, O, R * width); out: (N, C, rows_in * n); the input planes lo..hi-1. Per input plane,
    its m output channels scatter into a zeroed scratch plane, which is then copied out without its
    padding."""
    channels = out.shape[1]
    m = grad_out.shape[1] // channels
    buf = np.empty(buf_rows * buf_width, dtype=out.dtype)
    pairs = _copy_map(fill_row, col_lo, col_hi, src_lo, step, out.shape[2] // fill_row.shape[0], buf_width)
    for p in range(lo, hi):
        b, c = p // channels, p % channels
        buf[:] = 0.0
        for o in range(c * m, c * m + m):
            _scatter(grad_out[b, o], w[o], rowtab, colofs, buf, buf_width)
        _extract_plane(buf, buf_width, fill_row, col_lo, col_hi, src_lo, step, full, pairs, out[b, c])


@jit
def _accumulate(g, buf, buf_width, rowtab, colofs, acc):
    # acc: (Ko * Kl * pitch); per tap, the elementwise products of the gradient row and the run the tap
    # read, so the inner loop is a vectorised multiply-add rather than a serial reduction
    kh, kw = rowtab.shape[1], colofs.shape[0]
    rows = rowtab.shape[0]
    width = g.shape[0] // rows
    pitch = acc.shape[0] // (kh * kw)
    r = 0
    # on long rows, four gradient rows per pass: a quarter of the accumulator traffic and loop set-ups
    # (measured on 56-wide rows: 3.2 us a plane instead of 4.2; on 28-wide rows it was slower)
    while width >= LONG_ROWS and r + 4 <= rows:
        src, wide = np.uint64(r * width), _wide(width, r + 3, rows)
        w1, w2, w3 = np.uint64(width), np.uint64(2 * width), np.uint64(3 * width)
        for ko in range(kh):
            for kl in range(kw):
                a = np.uint64((ko * kw + kl) * pitch)
                x0 = np.uint64(rowtab[r, ko] * buf_width + colofs[kl])
                x1 = np.uint64(rowtab[r + 1, ko] * buf_width + colofs[kl])
                x2 = np.uint64(rowtab[r + 2, ko] * buf_width + colofs[kl])
                x3 = np.uint64(rowtab[r + 3, ko] * buf_width + colofs[kl])
                for j in range(wide):
                    acc[a + j] += ((g[src + j] * buf[x0 + j] + g[src + w1 + j] * buf[x1 + j])
                                   + (g[src + w2 + j] * buf[x2 + j] + g[src + w3 + j] * buf[x3 + j]))
        r += 4
    while r < rows:
        src, wide = np.uint64(r * width), _wide(width, r, rows)
        for ko in range(kh):
            for kl in range(kw):
                a = np.uint64((ko * kw + kl) * pitch)
                x = np.uint64(rowtab[r, ko] * buf_width + colofs[kl])
                for j in range(wide):
                    acc[a + j] += g[src + j] * buf[x + j]
        r += 1


@jit
def backward_weight_range(x, grad_out, rowtab, colofs, fill_row, col_lo, col_hi, src_lo, buf_rows, buf_width, step,
                          full, grad_w, lo, hi):
    """x: (N, C, rows_in * n); grad_out: (N, O, R * width); grad_w: (O, Ko * Kl); the output channels
    lo..hi-1, the batch summed inside each (so two ranges never write one weight). The per-tap
    row sums of one plane are added to a float64 total, so a long batch loses no precision; the taps
    are the inner loop of that sum so their additions do not wait on each other."""
    batch = grad_out.shape[0]
    m = grad_out.shape[1] // x.shape[1]
    taps, width = grad_w.shape[1], grad_out.shape[2] // rowtab.shape[0]
    pitch = width + (-width) % VECTOR
    buf = np.zeros(buf_rows * buf_width + VECTOR, dtype=x.dtype)
    acc = np.empty(taps * pitch, dtype=x.dtype)
    total = np.empty(taps, dtype=np.float64)
    pairs = _copy_map(fill_row, col_lo, col_hi, src_lo, step, x.shape[2] // fill_row.shape[0], buf_width)
    for o in range(lo, hi):
        total[:] = 0.0
        for b in range(batch):
            _fill_plane(x[b, o // m], pairs, fill_row, col_lo, col_hi, src_lo, step, full, buf, buf_width)
            acc[:] = 0.0
            _accumulate(grad_out[b, o], buf, buf_width, rowtab, colofs, acc)
            for j in range(width):
                for k in range(taps):
                    total[k] += acc[k * pitch + j]
        for k in range(taps):
            grad_w[o, k] = total[k]
