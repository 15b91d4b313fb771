"""The three convolution kernels against the naive loop definitions (also run with NUMBA_DISABLE_JIT=1)."""
import numpy as np
import pytest

from convzoo.kernels import conv as kconv
from convzoo.kernels.window import windows, windows_adjoint
from tests import naive

# (x shape, weight shape, stride, dilation, groups): every rank, strides, dilations, groups, depthwise
CASES = [
    ((2, 3, 11), (4, 3, 3), (2,), (1,), 1),
    ((1, 4, 13), (8, 1, 4), (1,), (3,), 4),
    ((2, 4, 7, 8), (6, 2, 3, 2), (2, 1), (1, 2), 2),
    ((1, 3, 9, 9), (6, 1, 3, 3), (3, 2), (2, 1), 3),
    ((2, 2, 5, 6), (3, 2, 1, 1), (1, 1), (1, 1), 1),
    ((1, 2, 6, 5, 7), (4, 1, 2, 3, 2), (1, 2, 3), (2, 1, 1), 2),
]


@pytest.fixture(params=[np.float64, np.float32], ids=["f64", "f32"])
def dtype(request):
    return request.param


def _data(case, dtype, seed=0):
    x_shape, w_shape, stride, dilation, groups = case
    rng = np.random.default_rng(seed)
    return rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)


def _tol(dtype):
    return dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", CASES)
def test_conv_forward(case, dtype):
    x, w = _data(case, dtype)
    _, _, stride, dilation, groups = case
    got = kconv.conv_forward(x, w, stride, dilation, groups)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, naive.conv(x, w, stride, dilation, groups), **_tol(dtype))


@pytest.mark.parametrize("case", CASES)
def test_conv_backward_input(case, dtype):
    x, w = _data(case, dtype)
    _, _, stride, dilation, groups = case
    g = np.random.default_rng(5).standard_normal(naive.conv(x, w, stride, dilation, groups).shape).astype(dtype)
    got = kconv.conv_backward_input(g, w, x.shape[2:], stride, dilation, groups)
    np.testing.assert_allclose(got, naive.conv_transpose(g, w, stride, dilation, groups, x.shape[2:]), **_tol(dtype))


@pytest.mark.parametrize("case", CASES)
def test_conv_backward_weight(case, dtype):
    x, w = _data(case, dtype)
    _, _, stride, dilation, groups = case
    g = np.random.default_rng(6).standard_normal(naive.conv(x, w, stride, dilation, groups).shape).astype(dtype)
    got = kconv.conv_backward_weight(x, g, w.shape[2:], stride, dilation, groups)
    np.testing.assert_allclose(got, naive.conv_weight_grad(x, g, w.shape[2:], stride, dilation, groups),
                               **_tol(dtype))


def test_trailing_pixels_no_window_reads_get_zero_gradient():
    # 10 samples, kernel 3, stride 4: windows start at 0 and 4; samples 7..9 are never read
    x, w = np.ones((1, 1, 10)), np.ones((1, 1, 3))
    g = kconv.conv_backward_input(np.ones((1, 1, 2)), w, (10,), (4,), (1,), 1)
    np.testing.assert_array_equal(g[0, 0], [1, 1, 1, 0, 1, 1, 1, 0, 0, 0])
    assert kconv.conv_backward_weight(x, np.ones((1, 1, 2)), (3,), (4,), (1,), 1).shape == (1, 1, 3)


def test_windows_and_scatter_are_adjoint():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 7, 6))
    cols = windows(x, (3, 2), (2, 1), (1, 2))
    u = rng.standard_normal(cols.shape)
    back = windows_adjoint(u, (7, 6), (3, 2), (2, 1), (1, 2))
    assert np.isclose(np.sum(cols * u), np.sum(x * back), rtol=1e-12)


def test_backward_input_fills_a_padded_shape_longer_than_the_windows_reach():
    # a transposed conv with dilation 3 > stride 1 may ask for output_padding 2: two trailing samples
    rng = np.random.default_rng(4)
    u, w = rng.standard_normal((1, 2, 4)), rng.standard_normal((2, 3, 2))
    got = kconv.conv_backward_input(u, w, (9,), (1,), (3,), 1)
    np.testing.assert_allclose(got, naive.conv_transpose(u, w, (1,), (3,), 1, (9,)), rtol=1e-12, atol=1e-12)
    assert not got[..., 7:].any()


@pytest.mark.parametrize("shape, kernel, dilation, pads", [
    ((9, 7), (3, 3), (1, 1), ((1, 1), (1, 1))),     # "same"
    ((6, 8), (5, 3), (1, 2), ((2, 2), (2, 2))),     # same width through dilation
    ((5, 6), (3, 3), (2, 1), ((0, 4), (1, 1))),     # rows at the bottom in the padding
    ((3, 4), (3, 3), (3, 1), ((3, 3), (1, 1))),     # a tap whose every row lies in the padding
    ((16,), (5,), (1,), ((2, 2),)),                 # 1-D: one row
])
def test_windows_match_the_windows_of_a_padded_copy(shape, kernel, dilation, pads):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3) + shape).astype(np.float32)
    stride = (1,) * len(shape)
    got = windows(x, kernel, stride, dilation, pads)
    expected = windows(np.pad(x, ((0, 0), (0, 0)) + pads), kernel, stride, dilation)
    np.testing.assert_array_equal(got, expected)


def _sliced_windows(xp, kernel, stride, out_shape):
    """The 2-D windows of a padded copy by strided slicing, (N, C, K, P): a reference that shares
    no code with the gather."""
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_shape
    taps = [xp[:, :, ky:ky + sh * oh:sh, kx:kx + sw * ow:sw].reshape(xp.shape[0], xp.shape[1], -1)
            for ky in range(kh) for kx in range(kw)]
    return np.stack(taps, axis=2)


@pytest.mark.parametrize("shape, kernel, stride, pads", [
    ((11, 28), (7, 7), (1, 1), ((3, 3), (3, 3))),   # rows of 28: copies rounded up to 32 spill over
    ((9, 27), (4, 4), (2, 2), ((1, 1), (1, 1))),    # stride 2: the rounded-up copy reads past the row
    ((6, 13), (3, 5), (1, 1), ((0, 0), (0, 0))),    # no padding: the last rows' copies reach the plane's end
    # stride 2 on planes of even length: float32 rows are copied as halves of element pairs, from
    # even and odd first elements, up to the plane's last pair
    ((10, 28), (3, 3), (2, 2), ((1, 1), (1, 1))),
    ((8, 30), (4, 4), (2, 2), ((0, 0), (2, 1))),
    ((7, 12), (2, 3), (2, 2), ((0, 0), (0, 0))),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gather_of_row_blocks_writes_every_column_element(shape, kernel, stride, pads, dtype):
    # the gather copies a row's run rounded up to whole vectors and lets the next row overwrite the
    # excess; gathered block by block into a NaN-filled buffer, nothing of that excess may remain
    from convzoo.kernels.window import table
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3) + shape).astype(dtype)
    t = table(shape, kernel, stride, (1, 1), pads)
    expected = _sliced_windows(np.pad(x, ((0, 0), (0, 0)) + pads), kernel, stride, t.out_shape)  # (N, C, K, P)
    flat = x.reshape(2, 3, -1)
    for r0, r1 in [(0, t.rows), (0, 1), (1, t.rows - 1), (t.rows - 2, t.rows)]:
        for parallel in (False, True):
            cols = np.full((3, t.taps, 2, (r1 - r0) * t.width), np.nan, dtype=dtype)
            t.gather(flat, cols, r0, parallel)
            np.testing.assert_array_equal(cols.transpose(2, 0, 1, 3),
                                          expected[..., r0 * t.width:r1 * t.width])


def test_stride_2_gather_moves_the_bits_of_every_element():
    # the float32 pair copy moves bits, not values: NaN payloads, signed zeros and subnormals arrive
    # as they were, in the positions strided slicing of a padded copy gives
    from convzoo.kernels.window import table
    bits = np.random.default_rng(7).integers(0, 2 ** 32, size=(1, 2, 6, 20), dtype=np.uint64).astype(np.uint32)
    bits[0, 0, 1, :6] = [0x7FC00001, 0xFFC12345, 0x80000000, 0x00000001, 0x7F800000, 0xFF800000]
    x = bits.view(np.float32)
    t = table((6, 20), (3, 3), (2, 2), (1, 1), ((1, 1), (1, 1)))
    cols = np.empty((2, t.taps, 1, t.rows * t.width), dtype=np.float32)
    t.gather(x.reshape(1, 2, -1), cols, 0, False)
    padded = np.pad(bits, ((0, 0), (0, 0), (1, 1), (1, 1)))
    expected = np.stack([padded[0, :, ky:ky + 2 * t.rows:2, kx:kx + 2 * t.width:2].reshape(2, -1)
                         for ky in range(3) for kx in range(3)], axis=1)
    np.testing.assert_array_equal(cols[:, :, 0].view(np.uint32), expected)


@pytest.mark.parametrize("width", [9, 10], ids=["odd-rows", "even-rows-split"])
def test_gather_and_scatter_indices_never_wrap_in_their_python_bodies(width):
    # NUMBA_DISABLE_JIT runs these loops as Python on NumPy scalars: an unsigned index made from a
    # negative sum wrapped there with an overflow warning (compiled, the wrap cancelled out); rows of
    # even length at stride 2 scatter through _scatter_split
    from convzoo.kernels import window
    x = np.arange(2 * 7 * width, dtype=np.float64).reshape(1, 2, 7 * width)
    t = window.table((7, width), (3, 3), (2, 2), (1, 1), ((1, 1), (2, 1)))
    assert t.split == (width % 2 == 0)
    compiled = np.full((2, t.taps, 1, t.rows * t.width), np.nan)
    t.gather(x, compiled, 0, False)
    python = np.full_like(compiled, np.nan)
    back, back_compiled = np.zeros_like(x), np.zeros_like(x)
    args = (t.row_off, t.col_off, t.lo, t.hi, t.width, t.step, 0)
    # the Python body: py_func of a compiled kernel, the function itself under NUMBA_DISABLE_JIT
    gather, scatter, split, pairs = (getattr(f, "py_func", f) for f in (
        window._gather_plane, window._scatter_plane, window._scatter_split, window._split_pairs))
    with np.errstate(all="raise"):
        for c in range(2):
            gather(x[0, c], *args, python, c, 0)
            if t.split:
                touched = pairs(t.row_off, t.col_off, t.lo, t.hi, t.rows, 0)
                split(compiled, c, 0, t.row_off, t.col_off, t.lo, t.hi, t.width, 0, back[0, c], np.empty(x.shape[2]),
                      touched)
            else:
                scatter(compiled, c, 0, *args, back[0, c], np.empty(0), (0, 0))
    np.testing.assert_array_equal(python, compiled)
    t.scatter(compiled, back_compiled, 0, False)
    np.testing.assert_array_equal(back, back_compiled)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geometry", [((8, 12), (3, 3), (2, 2), (1, 1), ((1, 1), (1, 1))),
                                      ((9, 16), (4, 4), (3, 2), (1, 2), ((2, 0), (1, 3))),
                                      ((3, 4, 10), (2, 3, 5), (1, 2, 2), (1, 1, 1), ((0, 1), (1, 1), (-1, 2)))],
                         ids=["3x3-s2", "4x4-s3x2-dilated", "3-D-cropped"])
def test_split_scatter_gives_the_bits_of_the_stride_2_loop(geometry, dtype):
    # _scatter_split adds each tap's row into a half of the split plane; every element must get the
    # bits the stride-2 loop gives it, from a plane that already holds values (row chunks and passes
    # add into the same planes), whatever the range of rows scattered
    from convzoo.kernels import window
    t = window.table(*geometry)
    assert t.split
    rng = np.random.default_rng(13)
    n = int(np.prod(geometry[0]))
    cols = rng.standard_normal((2, t.taps, 1, t.rows * t.width)).astype(dtype)
    cols[0, 0, 0, :3] = [np.inf, -0.0, np.nan]
    start = rng.standard_normal((2, n)).astype(dtype)
    scatter = window._scatter_plane
    for r0 in (0, t.rows // 2):
        part = np.ascontiguousarray(cols[..., :(t.rows - r0) * t.width])
        loop, split = start.copy(), start.copy()
        touched = window._split_pairs(t.row_off, t.col_off, t.lo, t.hi, t.rows - r0, r0)
        for c in range(2):
            scatter(part, c, 0, t.row_off, t.col_off, t.lo, t.hi, t.width, t.step, r0, loop[c], np.empty(0, dtype),
                    (0, 0))
            scatter(part, c, 0, t.row_off, t.col_off, t.lo, t.hi, t.width, t.step, r0, split[c], np.empty(n, dtype),
                    touched)
        np.testing.assert_array_equal(split.view(np.uint8), loop.view(np.uint8))


@pytest.mark.parametrize("groups", [1, 2])
def test_im2col_forward_of_few_taps_multiplies_image_by_image_into_the_output(groups):
    # Cg*K <= _FEW_TAPS and >= _MIN_COLUMNS positions per image: one GEMM per image, written in place
    from convzoo.kernels import gemm
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 4, 47, 45))
    w = rng.standard_normal((6, 4 // groups, 3, 3))
    got = gemm.im2col_forward(x, w, (2, 2), (1, 1), groups, pads=((1, 1), (0, 0)))
    assert (4 // groups) * 9 <= gemm._FEW_TAPS and got.shape[2] * got.shape[3] >= gemm._MIN_COLUMNS
    expected = naive.conv(naive.pad(x, ((1, 1), (0, 0))), w, (2, 2), (1, 1), groups)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_im2col_forward_cuts_short_products_into_cache_sized_chunks(monkeypatch):
    # a stem's 27 rows of columns: on several lanes each chunk holds about CHUNK_COLUMNS columns (or
    # CACHE_CHUNK bytes), not a lane's share of the workspace limit; one lane keeps the call whole
    from convzoo.kernels import gemm, lanes
    rng = np.random.default_rng(12)
    x = rng.standard_normal((6, 3, 64, 64)).astype(np.float32)
    w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    seen = []
    run = lanes.run
    monkeypatch.setattr(lanes, "run", lambda jobs, work, **kw: seen.append(list(jobs)) or run(jobs, work, **kw))
    monkeypatch.setattr(gemm, "CACHE_CHUNK", 27 * 4 * 32 * 10)  # ten rows of 32 outputs
    monkeypatch.setattr(gemm, "CHUNK_COLUMNS", 320)
    monkeypatch.setattr(lanes, "shares", lambda size=None: 2)
    got = gemm.im2col_forward(x, w, (2, 2), (1, 1), 1, pads=((1, 1), (1, 1)))
    np.testing.assert_allclose(got, naive.conv(naive.pad(x, ((1, 1), (1, 1))), w, (2, 2), (1, 1), 1),
                               rtol=1e-4, atol=1e-4)
    chunks = seen[-1]
    assert all((b1 - b0) * (r1 - r0) <= 10 for (b0, b1), (r0, r1) in chunks) and len(chunks) >= 6 * 32 // 10
    monkeypatch.setattr(lanes, "shares", lambda size=None: 1)
    gemm.im2col_forward(x, w, (2, 2), (1, 1), 1, pads=((1, 1), (1, 1)))
    assert len(seen[-1]) == 1
