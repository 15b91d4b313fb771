"""Winograd convolution F(2x2,3x3) and F(4x4,3x3) for 2-D 3x3 stride-1 convs (Lavin & Gray, 2015).

An m x m output tile of a 3x3 correlation is ``A^T [(G w G^T) . (B^T d B)] A`` over an
(m+2) x (m+2) input tile d: (m+2)^2 multiplies instead of 9 m^2, i.e. 2.25x fewer for m = 2 and 4x
fewer for m = 4. Across channels the elementwise product becomes (m+2)^2 independent GEMMs
(O x C) @ (C x tiles), which is where the time goes. The transforms are Numba loops vectorised across
the tiles of a row; work is cut into chunks of images so the transformed buffers respect the workspace
limit. backward_input is the same Winograd conv of the zero-padded gradient with the flipped,
transposed kernel. Rounding: the transforms have entries up to 8 (m = 4), so float32 results carry
a larger error than direct convolution (the README gives measured figures); float64 is unaffected
in practice.
"""
import numpy as np

from . import workspace
from .jit import jit_parallel, prange

_F2 = (np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64),
       np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]], dtype=np.float64),
       np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64))
_F4 = (np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                 [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=np.float64),
       np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                 [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], dtype=np.float64),
       np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
                dtype=np.float64))
MATRICES = {2: _F2, 4: _F4}


def requirement(g):
    if g.rank != 2 or g.kernel != (3, 3):
        return f"needs a 2-D 3x3 kernel; kernel is {g.kernel}"
    if g.stride != (1, 1) or g.dilation != (1, 1):
        return f"needs stride 1 and dilation 1; stride={g.stride}, dilation={g.dilation}"
    return None


@jit_parallel
def _input_transform(xp, bt, m, tiles_h, tiles_w, v):
    # xp: (B, C, Hp, Wp) with Hp >= tiles_h*m + 2; v: (alpha^2, C, B * tiles_h * tiles_w).
    # Each plane is first de-interleaved so that its tiles are the contiguous axis: every later
    # loop then runs over all tiles of the plane with unit step and vectorises
    alpha = bt.shape[0]
    batch, channels = xp.shape[0], xp.shape[1]
    tiles = tiles_h * tiles_w
    span = (tiles_w - 1) * m + 1
    for bc in prange(batch * channels):
        b, c = bc // channels, bc % channels
        d = np.empty((alpha, alpha, tiles), dtype=xp.dtype)  # (tile row i, tile column j, tile)
        rowt = np.zeros((alpha, alpha, tiles), dtype=xp.dtype)  # (i, xi2, tile) = d B
        for th in range(tiles_h):
            for i in range(alpha):
                line = xp[b, c, th * m + i]
                for j in range(alpha):
                    src = line[j:j + span:m]
                    dst = d[i, j, th * tiles_w:(th + 1) * tiles_w]
                    for t in range(tiles_w):
                        dst[t] = src[t]
        for i in range(alpha):
            for x2 in range(alpha):
                acc = rowt[i, x2]
                for j in range(alpha):
                    coef = bt[x2, j]
                    if coef != 0:
                        src = d[i, j]
                        for t in range(tiles):
                            acc[t] += coef * src[t]
        first = b * tiles
        for x1 in range(alpha):
            for x2 in range(alpha):
                out = v[x1 * alpha + x2, c, first:first + tiles]
                out[:] = 0
                for i in range(alpha):
                    coef = bt[x1, i]
                    if coef != 0:
                        src = rowt[i, x2]
                        for t in range(tiles):
                            out[t] += coef * src[t]


@jit_parallel
def _output_transform(mm, at, m, tiles_h, tiles_w, out):
    # mm: (alpha^2, O, B * tiles); out: (B, O, tiles_h*m, tiles_w*m); tiles contiguous as in the input
    alpha = at.shape[1]
    batch, channels = out.shape[0], out.shape[1]
    tiles = tiles_h * tiles_w
    span = (tiles_w - 1) * m + 1
    for bo in prange(batch * channels):
        b, o = bo // channels, bo % channels
        colt = np.zeros((alpha, m, tiles), dtype=out.dtype)  # (xi1, output column j, tile)
        res = np.zeros((m, m, tiles), dtype=out.dtype)  # (output row i, column j, tile)
        first = b * tiles
        for x1 in range(alpha):
            for j in range(m):
                dst = colt[x1, j]
                for x2 in range(alpha):
                    coef = at[j, x2]
                    if coef != 0:
                        src = mm[x1 * alpha + x2, o, first:first + tiles]
                        for t in range(tiles):
                            dst[t] += coef * src[t]
        for i in range(m):
            for j in range(m):
                dst = res[i, j]
                for x1 in range(alpha):
                    coef = at[i, x1]
                    if coef != 0:
                        src = colt[x1, j]
                        for t in range(tiles):
                            dst[t] += coef * src[t]
        for th in range(tiles_h):
            for i in range(m):
                line = out[b, o, th * m + i]
                for j in range(m):
                    dst = line[j:j + span:m]
                    src = res[i, j, th * tiles_w:(th + 1) * tiles_w]
                    for t in range(tiles_w):
                        dst[t] = src[t]


def _conv(xp, weight, groups, m):
    """Valid 3x3 correlation by Winograd F(m x m, 3x3): (N, C, H, W) -> (N, O, H-2, W-2)."""
    n, c, h, w = xp.shape
    o, cg = weight.shape[:2]
    og = o // groups
    bt, g_mat, at = MATRICES[m]
    dtype = xp.dtype
    alpha = m + 2
    out_h, out_w = h - 2, w - 2
    tiles_h, tiles_w = -(-out_h // m), -(-out_w // m)
    extra_h, extra_w = tiles_h * m + 2 - h, tiles_w * m + 2 - w
    if extra_h or extra_w:
        xp = np.pad(xp, ((0, 0), (0, 0), (0, extra_h), (0, extra_w)))
    xp = np.ascontiguousarray(xp)
    # U = G w G^T per (O, Cg): (alpha^2, G, Og, Cg)
    # (O, Cg, alpha, alpha) -> (alpha, alpha, O, Cg); two small matmuls (a 3-operand einsum is slow)
    u = np.matmul(np.matmul(g_mat, weight.astype(np.float64)), g_mat.T).transpose(2, 3, 0, 1)
    u = np.ascontiguousarray(u.reshape(alpha * alpha, groups, og, cg), dtype=dtype)
    bt, at = bt.astype(dtype), at.astype(dtype)
    tiles = tiles_h * tiles_w
    out = np.empty((n, o, tiles_h * m, tiles_w * m), dtype=dtype)
    per_image = alpha * alpha * tiles * (c + o) * xp.itemsize
    step = max(1, workspace.limit() // per_image)
    for b0 in range(0, n, step):
        b1 = min(n, b0 + step)
        v = np.empty((alpha * alpha, c, (b1 - b0) * tiles), dtype=dtype)
        _input_transform(xp[b0:b1], bt, m, tiles_h, tiles_w, v)
        # (alpha^2, G, Og, Cg) @ (alpha^2, G, Cg, T) -> (alpha^2, G, Og, T)
        prod = np.matmul(u, v.reshape(alpha * alpha, groups, cg, -1))
        _output_transform(prod.reshape(alpha * alpha, o, -1), at, m, tiles_h, tiles_w, out[b0:b1])
    if tiles_h * m != out_h or tiles_w * m != out_w:
        out = np.ascontiguousarray(out[:, :, :out_h, :out_w])
    return out


def winograd_forward(xp, weight, stride, dilation, groups, tile=4):
    return _conv(xp, weight, groups, tile)


def winograd_backward_input(grad_out, weight, padded_shape, stride, dilation, groups, tile=4):
    o, cg = weight.shape[:2]
    # flipped, transposed kernel (G*Cg, Og, 3, 3) on the gradient zero-padded by 2: a full correlation
    w_t = weight.reshape(groups, o // groups, cg, 3, 3).swapaxes(1, 2).reshape(groups * cg, o // groups, 3, 3)
    w_t = np.ascontiguousarray(w_t[:, :, ::-1, ::-1])
    pads = [(0, 0), (0, 0)] + [(2, n - p) for n, p in zip(padded_shape, grad_out.shape[2:])]
    return _conv(np.pad(grad_out, pads), w_t, groups, tile)

