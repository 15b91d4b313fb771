"""Winograd F(m_h x m_w, r_h x r_w) for 2-D kernels of 2 to 7 taps on each axis, built from the 1-D
matrices of ``winograd1d`` (3x3 kernels at stride 1 have their own written-out transforms in
``winograd.py``; k x 1 and 1 x k kernels run ``winograd1d``).

A strided conv is the stride-1 conv of its input's phases: with ``k = s k' + i``,
``sum_k w[k] x[s P + k] = sum_{i, k'} w[s k' + i] x_i[P + k']`` where ``x_i[R] = x[s R + i]``, so the s_h s_w
phases of each channel become channels and the kernel ceil(k / s) taps an axis, zero past the kernel. The
copy into the channels-last scratch reads the phases in place (``_load``) and the kernel's transforms read
and write the weight through a table of its taps (``_phase_taps``): nothing is rearranged beforehand. Its
weight gradient is that conv's; its input gradient (a transposed conv) the conv of the output gradient
onto the grid of the phases, each output channel stored into its phase of x (``_store``). Case h1's 4x4
stride-2 conv 64 -> 128 becomes a 2x2 conv over 256 channels, F(4x4, 2x2): 25 multiplies per 16 outputs
and phase channel, 100 per original channel against direct's 256.

The 2-D transforms are the 1-D ones applied along each axis in turn: an m_h x m_w output tile is
``A_h^T [(G_h w G_w^T) . (B_h^T d B_w)] A_w`` over an alpha_h x alpha_w input window (alpha = m + r - 1),
alpha_h alpha_w multiplies instead of m_h m_w r_h r_w, with winograd1d's 2-D tiles on each axis (F(4, r) up to 5
taps, F(2, r) for 6 and 7): 7x7 by F(2x2, 7x7) 64 for 196 (3.1x fewer), 5x5 by F(4x4, 5x5) 64 for 400
(6.25x). The products across channels are alpha_h alpha_w GEMMs
``V (tiles x C) @ U^T (C x O)``, one batched ``np.matmul``.

Layout: channels-minor, as ``winograd_channels`` (the tiles of these kernels' planes are few: 14 x 14
tiles of 2 x 2 at 28 px). Each image, or band of its tile rows, is copied channels-last into a
scratch ``p[row, col, channel]``, zero outside the image (the padding and the zeros that complete the
last tiles); B_h^T runs along its rows for one row of tiles at a time (each sum a run of whole rows of
p, cols x C long), then B_w^T along the columns of that line buffer, a run of C channels per sum, into
``V[point, tile, channel]`` (point = a_h * alpha_w + a_w). The output transform is the same in
reverse, ``A_w^T`` then ``A_h^T``, into a channels-last scratch that goes into the NCHW output,
cropped.

backward_input is the same conv of the output gradient with the flipped, transposed kernel, read from
r - 1 rows and columns before the padding; backward_weight transforms x as the forward does and the
output gradient by ``A_h g A_w^T`` (the adjoint of the output transform, windows of m), sums
``dU = sum over tiles (A g A^T)^T V`` with GEMMs over the tiles (in chunk order) and
``dw = G_h^T dU G_w``. The kernel's transforms sum in float64 (G has entries like 1/90).

Rounding: the transforms' entries reach 5.25 (B^T) and 8 (A^T) on each axis, and multiply in 2-D. Measured
in float32 at 64 -> 64 channels on 28 x 28 images, the largest error relative to the largest output:
7x7 by F(2x2, 7x7) 4.6e-6, 5x5 by F(4x4, 5x5) 6.7e-6 (direct convolution through im2col 4-7e-7); F(2x2,
5x5) would give 4.5e-6 for 2.25x the multiplies.
"""
import numpy as np

from . import lanes, winograd
from .geometry import zero_pads
from .jit import jit
from .winograd1d import TAPS, matrices, tile_2d
from .winograd_channels import (_load, _phase_taps, _store, _sum_rows, kernel_gradient_transform, kernel_transform,
                                reduced)


def requirement(g):
    if g.rank != 2 or min(g.kernel) < 2:
        return f"needs a 2-D kernel of at least 2 x 2; kernel is {g.kernel}"
    if g.groups != 1:
        return f"needs groups=1; groups={g.groups}"
    if g.dilation != (1, 1):
        return f"needs no dilation; dilation={g.dilation}"
    if g.kernel == (3, 3) and g.stride == (1, 1):
        return "3x3 kernels at stride 1 run winograd_f2 / winograd_f4"
    kernel = reduced(g.kernel, g.stride)
    if min(kernel) < 2 or any(k not in TAPS for k in kernel):
        strided = "" if g.stride == (1, 1) else f" of the stride-{g.stride} conv's input phases ({kernel})"
        return f"needs {TAPS[0]} to {TAPS[-1]} taps on each axis{strided}; kernel is {g.kernel}"
    return None


def shape(kernel):
    """((m_h, m_w), (alpha_h, alpha_w)) of a kernel's tiles and transformed windows."""
    ms = tuple(tile_2d(r) for r in kernel)
    return ms, tuple(m + r - 1 for m, r in zip(ms, kernel))


@jit
def _transform(p, mat_h, mat_w, m_h, m_w, tiles_h, tiles_w, line, v, first):
    """v[a alpha_w + b, first + t tiles_w + u, :] = sum_{i, j} mat_h[a, i] mat_w[b, j] p[m_h t + i, m_w u + j, :]
    for the tiles_h x tiles_w tiles of the channels-last p: B^T d B on the input (windows of alpha), or
    A g A^T on the output gradient (windows of m). Along the columns first, each row of p once (a run of
    channels per sum), into line[row, b, u, :]; then along the rows, runs of tiles_w x C."""
    alpha_h, alpha_w = mat_h.shape[0], mat_w.shape[0]
    channels = p.shape[2]
    pf, lf, vf = p.reshape(-1), line.reshape(-1), v.reshape(-1)
    tiles = v.shape[1]
    run = tiles_w * channels
    for row in range(m_h * (tiles_h - 1) + mat_h.shape[1]):
        for u in range(tiles_w):
            src = pf[(row * p.shape[1] + m_w * u) * channels:]
            for b in range(alpha_w):
                _sum_rows(src, 0, mat_w, b, channels, channels, lf, (row * alpha_w + b) * run + u * channels)
    for t in range(tiles_h):
        for a in range(alpha_h):
            for b in range(alpha_w):
                _sum_rows(lf[b * run:], m_h * t, mat_h, a, alpha_w * run, run, vf,
                          ((a * alpha_w + b) * tiles + first + t * tiles_w) * channels)


@jit
def _untransform(mm, first, at_h, at_w, m_h, m_w, tiles_h, tiles_w, line, q):
    """q[m_h t + i, m_w u + j, :] = sum_{a, b} at_h[i, a] at_w[j, b] mm[a alpha_w + b, first + t tiles_w + u, :]:
    A^T M A of each tile into the channels-last q (m_h tiles_h x m_w tiles_w x O). Along the rows first
    (runs of tiles_w x O), into line[i, b, u, :], then along the columns (runs of O)."""
    alpha_w = at_w.shape[1]
    channels = mm.shape[2]
    tiles = mm.shape[1]
    mf, lf, qf = mm.reshape(-1), line.reshape(-1), q.reshape(-1)
    run = tiles_w * channels
    for t in range(tiles_h):
        for i in range(m_h):
            for b in range(alpha_w):
                _sum_rows(mf[(b * tiles + first + t * tiles_w) * channels:], 0, at_h, i, alpha_w * tiles * channels,
                          run, lf, (i * alpha_w + b) * run)
        for i in range(m_h):
            for u in range(tiles_w):
                src = lf[i * alpha_w * run + u * channels:]
                for j in range(m_w):
                    _sum_rows(src, 0, at_w, j, run, channels, qf, ((m_h * t + i) * m_w * tiles_w + m_w * u + j) * channels)


@jit
def _input_items(x, b0, b1, row0, col0, stride_h, stride_w, mat_h, mat_w, m_h, m_w, tiles_h, tiles_w, p, line, v):
    """The transforms of images b0..b1-1 of x (NCHW), read from (row0, col0) by the stride's phases, zero
    outside, into v."""
    for b in range(b0, b1):
        _load(x, b, row0, col0, stride_h, stride_w, stride_h, stride_w, p.reshape((1,) + p.shape))
        _transform(p, mat_h, mat_w, m_h, m_w, tiles_h, tiles_w, line, v, (b - b0) * tiles_h * tiles_w)


@jit
def _output_items(mm, b0, b1, row0, at_h, at_w, m_h, m_w, tiles_h, tiles_w, line, q, out, grid_h, grid_w, origin_h,
                  origin_w, step_h, step_w):
    """Rows row0.. of the grid_h x grid_w outputs of images b0..b1-1 from their products mm, into out: output
    channel (c step_h + i) step_w + j at (R, S) goes to out[b, c, origin_h + step_h R + i, origin_w + step_w S + j]
    (within out; at step 1, out[b, c, R, S])."""
    rows = min(grid_h - row0, q.shape[0])
    for b in range(b0, b1):
        _untransform(mm, (b - b0) * tiles_h * tiles_w, at_h, at_w, m_h, m_w, tiles_h, tiles_w, line, q)
        _store(q.reshape((1,) + q.shape), out, b, origin_h + step_h * row0, origin_w, step_h, step_w, step_h, step_w,
               rows, grid_w)


def _matrices(kernel, dtype):
    """Per axis (A^T, G in float64, B^T) of the kernel's F(m, r), A^T and B^T in ``dtype``."""
    (m_h, m_w), _ = shape(kernel)
    return [(at.astype(dtype), g, bt.astype(dtype)) for at, g, bt in (matrices(kernel[0], m_h), matrices(kernel[1], m_w))]


def _scratch(lane, columns, points, c, o, input_rows, cols, dtype):
    """A chunk's scratch on its lane: V (points, tiles, C), the products or the transformed output gradient
    (points, tiles, O), and the channels-last copy of the input rows its tiles read (input_rows, cols, C)."""
    v = lane.scratch("v", points * columns * c, dtype).reshape(points, columns, c)
    w = lane.scratch("m", points * columns * o, dtype).reshape(points, columns, o)
    return v, w, lane.scratch("p", input_rows * cols * c, dtype).reshape(input_rows, cols, c)


def _conv(x, weight, row_shift, col_shift, out, stride=(1, 1), scatter=None):
    """out[n, o, P, Q] = sum_{c, k, l} weight[o, c, s_h k + i, s_w l + j] x[n, c, row_shift + s_h (P + k) + i,
    col_shift + s_w (Q + l) + j] over the taps' phases (i, j) (x zero outside its bounds): a stride-1 conv of
    the input's phases (``_load``, ``_phase_taps``); returns out. ``scatter`` = (grid, origin, step): the
    conv's outputs are instead a grid of (P, Q) whose channel (c step_h + i) step_w + j goes to out[n, c,
    origin_h + step_h P + i, origin_w + step_w Q + j] (within out): a strided conv's input gradient."""
    s_h, s_w = stride
    n, c, o = x.shape[0], x.shape[1] * s_h * s_w, weight.shape[0]
    kernel = reduced(weight.shape[2:], stride)
    (m_h, m_w), (alpha_h, alpha_w) = shape(kernel)
    points = alpha_h * alpha_w
    (at_h, g_h, bt_h), (at_w, g_w, bt_w) = _matrices(kernel, x.dtype)
    (grid_h, grid_w), (origin_h, origin_w), (step_h, step_w) = scatter or (out.shape[2:], (0, 0), (1, 1))
    tiles_h, tiles_w = -(-grid_h // m_h), -(-grid_w // m_w)
    u = kernel_transform(weight, g_h, g_w, x.dtype, stride)
    cols = m_w * (tiles_w - 1) + alpha_w

    def work(_, job, lane):
        (b0, b1), (t0, t1) = job
        rows = t1 - t0
        v, prod, p = _scratch(lane, (b1 - b0) * rows * tiles_w, points, c, o, m_h * (rows - 1) + alpha_h, cols, x.dtype)
        line = lane.scratch("line", alpha_w * tiles_w * max(p.shape[0] * c, m_h * o), x.dtype)
        _input_items(x, b0, b1, row_shift + s_h * m_h * t0, col_shift, s_h, s_w, bt_h, bt_w, m_h, m_w, rows, tiles_w,
                     p, line, v)
        np.matmul(v, u, out=prod)  # (points, T, C) @ (points, C, O) -> (points, T, O)
        q = lane.scratch("q", m_h * rows * m_w * tiles_w * o, x.dtype).reshape(m_h * rows, m_w * tiles_w, o)
        _output_items(prod, b0, b1, m_h * t0, at_h, at_w, m_h, m_w, rows, tiles_w, line, q, out, grid_h, grid_w,
                      origin_h, origin_w, step_h, step_w)

    per_row = points * tiles_w * (c + o)
    lanes.run(winograd.chunks(n, tiles_h, per_row * x.itemsize), work, size=n * tiles_h * per_row)
    return out


def winograd2d_forward(x, weight, stride, dilation, groups, pads=None):
    """Conv of x zero-padded by ``pads`` (read in place); strided, the stride-1 conv of its input's phases."""
    stride = tuple(int(s) for s in stride)
    (top, bottom), (left, right) = zero_pads(pads, 2)
    out_shape = tuple((n + b + a - k) // s + 1 for n, (b, a), k, s in zip(x.shape[2:], ((top, bottom), (left, right)),
                                                                         weight.shape[2:], stride))
    out = np.empty((x.shape[0], weight.shape[0]) + out_shape, dtype=x.dtype)
    return _conv(np.ascontiguousarray(x), weight, -top, -left, out, stride)


def winograd2d_backward_input(grad_out, weight, in_shape, stride, dilation, groups, pads=None):
    """Gradient with respect to x of spatial size ``in_shape`` (zero-padded by ``pads`` in the forward).

    At stride 1, x[R] received grad_out[P] * weight[k] for R + top = P + k: a correlation of grad_out read from
    R + top - (k - 1) on, with the flipped kernel transposed to (C, O, k_h, k_w). Strided, the same of the
    forward's phase kernel onto the grid of the input's phases (``_phase_gradient_kernel``; at stride 1 the
    kernel itself, flipped and transposed), each output channel (c, i, j) written to its phase of x's channel
    c (``_conv``'s scatter): phase row R holds x's rows s_h R + i - top, those of x from R = top // s_h on."""
    stride = tuple(int(s) for s in stride)
    (top, _), (left, _) = zero_pads(pads, 2)
    in_shape = tuple(int(s) for s in in_shape)
    out = np.empty((grad_out.shape[0], weight.shape[1]) + in_shape, dtype=grad_out.dtype)
    grad_out = np.ascontiguousarray(grad_out)
    (s_h, s_w), (k_h, k_w) = stride, reduced(weight.shape[2:], stride)
    r0, c0 = top // s_h, left // s_w
    grid = ((in_shape[0] - 1 + top) // s_h - r0 + 1, (in_shape[1] - 1 + left) // s_w - c0 + 1)
    scatter = (grid, (s_h * r0 - top, s_w * c0 - left), stride)
    return _conv(grad_out, _phase_gradient_kernel(weight, stride), r0 - k_h + 1, c0 - k_w + 1, out, scatter=scatter)


@jit
def _gather_flipped(weight, source, out):
    # out[c, o, t] = weight[o].flat[source[c, taps - 1 - t]], 0 where the source is -1
    outs, taps = weight.shape[0], source.shape[1]
    flat = weight.reshape(outs, -1)
    for o in range(outs):  # each row of the weight read once, in order
        row = flat[o]
        for c in range(source.shape[0]):
            dst, taps_c = out[c, o], source[c]
            for t in range(taps):
                index = taps_c[taps - 1 - t]
                dst[t] = row[index] if index >= 0 else 0.0


def _phase_gradient_kernel(weight, stride):
    """(C s_h s_w, O, k_h, k_w): the forward's kernel on the input's phases (``_phase_taps``), flipped along
    both axes and with its channel axes swapped: the kernel of the strided conv's input gradient on the
    phase grid."""
    o, c = weight.shape[:2]
    source = _phase_taps(c, tuple(weight.shape[2:]), stride)
    kernel = reduced(weight.shape[2:], stride)
    out = np.empty((source.shape[0], o) + kernel, dtype=weight.dtype)
    _gather_flipped(np.ascontiguousarray(weight), source, out.reshape(source.shape[0], o, -1))
    return out


# blocks of Winograd points the weight gradient's products and sums run in (``gradient_block``): a lane
# holds a block's partial sum of dU, not dU's. 25 x 128 x 256 (case h1's 4x4 stride-2 kernel on its phases)
# is 3.3 MB: dU and a whole partial per lane were 9.8 MB, over the 8 MiB workspace (and im2col's 42 ms took
# that weight gradient at batch 32, against 30 this way); with four blocks 5.1 MB
GRADIENT_BLOCKS = 4


def gradient_block(points):
    """Winograd points per block of the weight gradient's products (GRADIENT_BLOCKS blocks)."""
    return -(-points // GRADIENT_BLOCKS)


def winograd2d_backward_weight(x, grad_out, kernel_size, stride, dilation, groups, pads=None):
    """Gradient with respect to the weight: M = U V per tile is linear in U, so dU = sum over tiles of
    (A g A^T)^T V, GEMMs (O x tiles) @ (tiles x C) summed in chunk order, and dw = G_h^T dU G_w; strided,
    over the input's phases."""
    stride = tuple(int(s) for s in stride)
    s_h, s_w = stride
    (top, _), (left, _) = zero_pads(pads, 2)
    kernel = reduced(kernel_size, stride)
    n, c = x.shape[0], x.shape[1] * s_h * s_w
    o = grad_out.shape[1]
    (m_h, m_w), (alpha_h, alpha_w) = shape(kernel)
    points = alpha_h * alpha_w
    (at_h, g_h, bt_h), (at_w, g_w, bt_w) = _matrices(kernel, x.dtype)
    a_h, a_w = np.ascontiguousarray(at_h.T), np.ascontiguousarray(at_w.T)
    tiles_h, tiles_w = -(-grad_out.shape[2] // m_h), -(-grad_out.shape[3] // m_w)
    x, grad_out = np.ascontiguousarray(x), np.ascontiguousarray(grad_out)
    du = np.empty((points, o, c), dtype=x.dtype)
    cols = m_w * (tiles_w - 1) + alpha_w

    block = gradient_block(points)

    def work(index, job, lane):
        (b0, b1), (t0, t1) = job
        rows = t1 - t0
        v, gy, p = _scratch(lane, (b1 - b0) * rows * tiles_w, points, c, o, m_h * (rows - 1) + alpha_h, cols, x.dtype)
        pg = lane.scratch("pg", m_h * rows * m_w * tiles_w * o, x.dtype).reshape(m_h * rows, m_w * tiles_w, o)
        line = lane.scratch("line", alpha_w * tiles_w * p.shape[0] * max(c, o), x.dtype)
        _input_items(x, b0, b1, s_h * m_h * t0 - top, -left, s_h, s_w, bt_h, bt_w, m_h, m_w, rows, tiles_w, p, line, v)
        _input_items(grad_out, b0, b1, m_h * t0, 0, 1, 1, a_h, a_w, m_h, m_w, rows, tiles_w, pg, line, gy)
        # (points, O, T) @ (points, T, C) -> (points, O, C), a block of points at a time: each block's turn
        # comes once the chunk before has added its own, so a lane holds one block's partial sum, not dU's
        for part, a in enumerate(range(0, points, block)):
            z = slice(a, min(a + block, points))
            if index:
                partial = lane.scratch("du", du[z].size, x.dtype).reshape(du[z].shape)
                np.matmul(gy[z].transpose(0, 2, 1), v[z], out=partial)
            with lane.turn(index, part):  # chunk 0 writes du itself; the others add in chunk order
                if index:
                    du[z] += partial
                else:
                    np.matmul(gy[z].transpose(0, 2, 1), v[z], out=du[z])

    per_row = points * tiles_w * (c + o)
    lanes.run(winograd.chunks(n, tiles_h, per_row * x.itemsize), work, ordered=True, size=n * tiles_h * per_row)
    return kernel_gradient_transform(du, g_h, g_w, kernel_size, stride)
