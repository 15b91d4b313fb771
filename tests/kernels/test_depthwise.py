"""The depthwise kernels' own code paths against the naive loops: the one-pass 3x3 rows, the whole-plane
run (flat, at any stride: the scratch is split by stride phase), rows rounded up to whole vectors,
the even/odd split at stride 2, the scatter of the input gradient (stride > 1, multipliers) row by
row or over whole planes, the weight gradient four rows a pass or over whole planes (depthwise_flat:
four taps a pass or a 3x3's nine, the input and gradient planes copied in one loop), zero padding
read in place, 1-D and 3-D planes, and results independent of the thread count. Sizes stay small:
this file also runs with NUMBA_DISABLE_JIT=1.
"""
import math

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convzoo.kernels import depthwise
from tests import naive
from tests.windows import padded_2d

RTOL = {np.float64: 1e-10, np.float32: 1e-5}


def _close(got, want, dtype, what):
    assert got.shape == want.shape and got.dtype == dtype, (what, got.shape, want.shape, got.dtype)
    scale = max(np.abs(want).max(initial=0.0), 1e-30)
    err = np.abs(got.astype(np.float64) - want).max(initial=0.0)
    assert err <= RTOL[dtype] * scale, f"{what}: max error {err:.3g} relative to {scale:.3g}"


def _check(x_shape, multiplier, kernel, stride, dilation, pads, dtype, seed=0):
    """All three ops, zero padding read in place, against the naive loops in float64."""
    rng = np.random.default_rng(seed)
    channels = x_shape[1]
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal((channels * multiplier, 1) + tuple(kernel)).astype(dtype)
    xp = naive.pad(x.astype(np.float64), pads)
    w64 = w.astype(np.float64)
    want = naive.conv(xp, w64, stride, dilation, channels)
    got = depthwise.depthwise_forward(x, w, stride, dilation, channels, pads=pads)
    _close(got, want, dtype, "forward")
    g = rng.standard_normal(want.shape).astype(dtype)
    g64 = g.astype(np.float64)
    grad_x = depthwise.depthwise_backward_input(g, w, x_shape[2:], stride, dilation, channels, pads=pads)
    want = naive.pad_adjoint(naive.conv_transpose(g64, w64, stride, dilation, channels, xp.shape[2:]), pads)
    _close(grad_x, want, dtype, "backward_input")
    grad_w = depthwise.depthwise_backward_weight(x, g, kernel, stride, dilation, channels, pads=pads)
    _close(grad_w, naive.conv_weight_grad(xp, g64, kernel, stride, dilation, channels), dtype, "backward_weight")
    # both gradients in one call (one pass over the planes where it applies): the bits of the two apart
    both = depthwise.depthwise_backward(x, g, w, stride, dilation, channels, pads=pads)
    np.testing.assert_array_equal(both[0], grad_x)
    np.testing.assert_array_equal(both[1], grad_w)
    assert both[0].dtype == grad_x.dtype and both[1].dtype == grad_w.dtype


# (x shape, multiplier, kernel, stride, dilation, pads): each names the path it reaches
CASES = [
    ((2, 3, 9, 11), 1, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))),    # 3x3 'same': flat, one pass, flipped gradient
    ((1, 2, 6, 19), 1, (3, 3), (2, 2), (1, 1), ((1, 1), (1, 1))),    # 3x3 stride 2, odd width: pairs + tail
    ((1, 2, 7, 20), 1, (3, 3), (2, 2), (1, 1), ((0, 1), (0, 1))),    # stride 2, even width, odd pixel at the end
    ((1, 2, 9, 5), 1, (3, 3), (2, 2), (1, 1), ((0, 0), (0, 0))),     # stride 2 on rows of 2: row by row, not flat
    ((1, 2, 8, 12), 2, (3, 3), (1, 2), (2, 1), ((2, 2), (1, 1))),    # multiplier, dilation, rows of 6 rounded to 8
    ((2, 1, 12, 12), 6, (5, 5), (1, 1), (1, 1), ((2, 2), (2, 2))),   # LeNet's first conv: 1 -> 6 channels, flat
    ((1, 2, 9, 30), 1, (3, 3), (1, 1), (3, 1), ((0, 0), (1, 1))),    # dilated rows, width 30 rounded to 32
    ((1, 2, 6, 3), 1, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))),     # rows of 3: no room to round up
    ((1, 2, 10, 17), 1, (7, 7), (1, 1), (1, 1), ((3, 3), (3, 3))),   # wide kernel: row by row, not flat
    ((2, 3, 7, 7), 1, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))),     # rows of 7: copies through index maps
    ((1, 2, 7, 7), 2, (5, 5), (1, 1), (1, 1), ((2, 2), (2, 2))),     # the same, a 5x5 kernel, a multiplier
    ((1, 2, 10, 10), 1, (5, 5), (1, 1), (1, 1), ((2, 2), (2, 2))),   # short rows, flat with 4 junk columns in 14
    ((1, 2, 6, 6), 1, (3, 3), (2, 2), (1, 1), ((0, 0), (0, 0))),     # mapped, the last row and column unread
    ((1, 2, 9, 9), 1, (2, 4), (3, 1), (1, 2), ((0, 2), (3, 0))),     # stride 3 rows, uneven padding
    ((1, 2, 5, 4), 1, (3, 3), (1, 1), (1, 1), ((4, 4), (4, 4))),     # padding wider than the kernel: a crop
    ((2, 2, 9, 50), 1, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))),    # rows >= 48 wide: weight gradient 4 rows a pass,
    #                                                                  forward rows in pairs and one left over
    ((1, 2, 8, 52), 2, (3, 3), (1, 1), (1, 2), ((1, 1), (2, 2))),    # rows in pairs, dilated columns, a multiplier
    ((1, 2, 7, 49), 2, (2, 3), (1, 1), (2, 1), ((0, 1), (1, 1))),    # the same, a multiplier, rows left over
    ((2, 3, 8, 12), 1, (3, 3), (2, 2), (1, 1), ((1, 1), (1, 1))),    # 3x3 stride 2 padded by one, even sides:
    #                                                                  input gradient by phases (depthwise_phases)
    ((1, 2, 1, 1), 1, (3, 3), (2, 2), (1, 1), ((1, 1), (1, 1))),     # the same on one pixel
    ((2, 3, 17), 2, (5,), (2,), (1,), ((2, 2),)),                    # 1-D
    ((1, 2, 4, 5, 6), 1, (2, 3, 3), (1, 1, 2), (1, 1, 1), ((1, 0), (1, 1), (1, 1))),  # 3-D
]


@pytest.mark.parametrize("grain", ["here", "lanes"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[2]}s{c[3]}d{c[4]}m{c[1]}")
def test_depthwise_paths_match_the_naive_loops(case, dtype, grain, monkeypatch):
    # test sizes run on the calling thread; a zero grain sends them to lanes (a range of planes each)
    if grain == "lanes":
        monkeypatch.setattr(depthwise, "GRAIN", 0)
    _check(*case, dtype)


def test_table_picks_the_flat_run_and_the_full_copy_where_they_apply():
    t = depthwise._table((56, 56), (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)))
    assert t.flat and t.full and t.buf_width == 58
    # stride 2: each phase of the padded 58 x 58 plane is a block of 29-wide rows (row phases 29 rows
    # apart, column phases a block of 58 rows apart), so every tap reads one run of the whole plane
    t = depthwise._table((56, 56), (3, 3), (2, 2), (1, 1), ((1, 1), (1, 1)))
    assert t.flat and t.full and t.step == 2 and t.buf_width == 29 and t.buf_rows == 2 * 58
    assert t.rowtab[0].tolist() == [0, 29, 1] and t.colofs.tolist() == [0, 58 * 29, 1]
    assert not depthwise._table((56, 56), (31, 31), (1, 1), (1, 1), ((15, 15), (15, 15))).flat  # junk > 1/4
    assert not depthwise._table((5, 4), (3, 3), (1, 1), (1, 1), ((-2, 4), (-2, 4))).full  # a crop
    # rows shorter than 2 x SHORT_ROWS run flat with up to as many junk columns as outputs; rows
    # shorter than SHORT_ROWS copy through index maps
    from convzoo.kernels import depthwise_loops as loops
    for size, kernel, flat in [(7, 3, True), (14, 5, True), (10, 7, True), (5, 7, False), (16, 7, False)]:
        t = depthwise._table((size, size), (kernel, kernel), (1, 1), (1, 1), ((kernel // 2,) * 2,) * 2)
        assert t.flat == flat, (size, kernel)
        copies = loops._copy_map(t.fill_row, t.col_lo, t.col_hi, t.src_lo, t.step, size, t.buf_width)
        assert copies.shape == ((2, size * size) if size < loops.SHORT_ROWS else (2, 0))
        if size < loops.SHORT_ROWS:
            # every input element goes to the scratch element _fill's row copies put it in
            pad = kernel // 2
            want = [(i + pad) * t.buf_width + j + pad for i in range(size) for j in range(size)]
            assert np.array_equal(copies[1], want)


def test_float32_weight_gradient_over_a_long_batch_keeps_its_precision():
    # every plane's sums go to a float64 total: a batch of 64 planes of 24 x 24 stays near float32 epsilon
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 2, 24, 24)).astype(np.float32)
    g = rng.standard_normal((64, 2, 24, 24)).astype(np.float32)
    pads = ((1, 1), (1, 1))
    got = depthwise.depthwise_backward_weight(x, g, (3, 3), (1, 1), (1, 1), 2, pads=pads)
    want = naive.conv_weight_grad(naive.pad(x.astype(np.float64), pads), g.astype(np.float64), (3, 3), (1, 1),
                                  (1, 1), 2)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5 * np.abs(want).max())


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("geometry", [((5, 1, 28, 28), 6, 5), ((2, 3, 9, 50), 1, 3), ((2, 2, 6, 7), 2, 2)],
                         ids=["lenet-25-taps", "long-rows-9-taps", "4-taps"])
def test_whole_plane_dot_products_match_the_row_loop_and_the_naive_sums(geometry, dtype):
    # flat tables take depthwise_flat's dot products, four taps a pass and the rest one by one; the
    # row loop (depthwise_loops) computes the same sums another way
    from convzoo.kernels import depthwise_flat, depthwise_loops
    x_shape, multiplier, k = geometry
    rng = np.random.default_rng(3)
    x = rng.standard_normal(x_shape).astype(dtype)
    g = rng.standard_normal((x_shape[0], x_shape[1] * multiplier) + x_shape[2:]).astype(dtype)
    pads = ((k // 2, (k - 1) // 2),) * 2  # 'same'
    t = depthwise._table(x_shape[2:], (k, k), (1, 1), (1, 1), pads)
    assert t.flat
    planes = depthwise._planes(x), depthwise._planes(g)
    whole, rows = (np.empty((g.shape[1], k * k), dtype=dtype) for _ in range(2))
    depthwise_flat.backward_weight_range(*planes, *t.args(), t.full, whole, 0, g.shape[1])
    depthwise_loops.backward_weight_range(*planes, *t.args(), t.full, rows, 0, g.shape[1])
    want = naive.conv_weight_grad(naive.pad(x.astype(np.float64), pads), g.astype(np.float64), (k, k), (1, 1),
                                  (1, 1), x_shape[1]).reshape(g.shape[1], k * k)
    _close(whole, want, dtype, "whole planes")
    _close(rows, want, dtype, "row loop")


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="thread count only matters compiled")
@pytest.mark.parametrize("stride", [(2, 2), (1, 1)], ids=["stride-2", "stride-1"])
def test_results_do_not_depend_on_the_thread_count(stride, monkeypatch):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 5, 13, 17)).astype(np.float32)
    w = rng.standard_normal((10, 1, 3, 3)).astype(np.float32)
    g = rng.standard_normal((3, 10, 12 // stride[0] + 1, 16 // stride[1] + 1)).astype(np.float32)
    args = (stride, (1, 1), 5)
    pads = ((1, 1), (1, 1))

    def run():
        return (depthwise.depthwise_forward(x, w, *args, pads=pads),
                depthwise.depthwise_backward_input(g, w, x.shape[2:], *args, pads=pads),
                depthwise.depthwise_backward_weight(x, g, (3, 3), *args, pads=pads),
                *depthwise.depthwise_backward(x, g[:, :5], w[:5], *args, pads=pads))
    here = run()  # small: on the calling thread
    monkeypatch.setattr(depthwise, "GRAIN", 0)  # on lanes: one thread, then all
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        serial = run()
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        parallel = run()
    finally:
        numba.set_num_threads(previous)
    for a, b, c in zip(here, serial, parallel):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


@st.composite
def planes(draw):
    # widths up to 20 cross the vector width both ways
    sizes, kernel, stride, dilation, pads = padded_2d(draw, 3, 14)
    x_shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) + sizes
    return x_shape, draw(st.integers(1, 3)), kernel, stride, dilation, pads


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=planes(), dtype=st.sampled_from([np.float64, np.float32]))
def test_depthwise_on_drawn_2d_geometries(case, dtype):
    _check(*case, dtype)


def test_whole_plane_weight_gradient_ignores_infinities_in_the_columns_no_output_reads():
    # a valid 3x3 conv on 16-wide rows is flat (14 outputs, 2 extra scratch columns a row): tap
    # column 0's run crosses input column 15, which only tap column 2 reads; an infinity there must
    # leave taps 0 and 1 finite and equal to the naive sums (0 * inf in the extra columns is NaN)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 1, 6, 16))
    x[1, 0, 2, 15] = np.inf
    g = rng.standard_normal((2, 1, 4, 14))
    assert depthwise._table((6, 16), (3, 3), (1, 1), (1, 1), ((0, 0), (0, 0))).flat
    got = depthwise.depthwise_backward_weight(x, g, (3, 3), (1, 1), (1, 1), 1)
    with np.errstate(invalid="ignore"):
        want = naive.conv_weight_grad(x, g, (3, 3), (1, 1), (1, 1), 1)
    assert np.isfinite(want[..., :2]).all() and not np.isfinite(want[..., 2]).all()
    np.testing.assert_allclose(got[..., :2], want[..., :2], rtol=1e-12)
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(want))


def test_whole_plane_input_gradient_ignores_an_infinite_weight_in_the_columns_no_output_reads():
    # a valid 3x3 stride-2 conv on 16-wide rows is flat (7 outputs, 8-wide phase rows): the run of
    # tap column 2 crosses, past each row, the first column of the next, which only tap column 0
    # reads; an infinite weight at tap column 2 must leave that column's gradient finite and equal to
    # the naive one (0 * inf in the extra columns is NaN), so that channel scatters row by row
    rng = np.random.default_rng(5)
    w = rng.standard_normal((2, 1, 3, 3))
    w[1, 0, 1, 2] = np.inf
    g = rng.standard_normal((1, 2, 3, 7))
    t = depthwise._table((7, 16), (3, 3), (2, 2), (1, 1), ((0, 0), (0, 0)))
    assert t.flat and t.buf_width == 8
    got = depthwise.depthwise_backward_input(g, w, (7, 16), (2, 2), (1, 1), 2)
    with np.errstate(invalid="ignore"):
        want = naive.conv_transpose(g, w, (2, 2), (1, 1), 2, (7, 16))
    assert np.isfinite(want[0, 1, :, 0]).all() and not np.isfinite(want[0, 1]).all()
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-12)


def test_cached_tables_are_found_by_equal_arguments_and_lists_still_work():
    # geometry.cached_table keys by the raw arguments: equal ones (ints of any kind) share the table
    # normalising them would build; unhashable ones are built the long way and equal it
    from convzoo.kernels.geometry import cached_table, table_key
    first = depthwise._table((9, 7), (3, 3), (2, 1), (1, 1), ((1, 1), (0, 2)))
    again = depthwise._table((np.int64(9), 7), (3, np.int64(3)), (2, 1), (1, 1), ((1, 1), (0, 2)))
    assert again is first
    assert first is depthwise.plane_table(*table_key((9, 7), (3, 3), (2, 1), (1, 1), ((1, 1), (0, 2))))
    from_lists = cached_table(depthwise.plane_table, [9, 7], [3, 3], [2, 1], [1, 1], [[1, 1], [0, 2]])
    assert from_lists is first
    other = depthwise._table((9, 7), (3, 3), (2, 1), (1, 1), ((1, 1), (0, 1)))
    assert (first.out_shape, other.out_shape) == ((5, 7), (5, 6))


@pytest.mark.parametrize("rows", [6, 7])
def test_paired_rows_give_the_bits_of_the_whole_plane_run(rows):
    # the 3x3 stride-1 forward on rows >= PAIRED_WIDTH wide computes two output rows a pass, each
    # sum in the order of the whole-plane run it replaces; an odd last row goes alone
    from convzoo.kernels import depthwise_loops as loops
    from convzoo.kernels.jit import VECTOR
    width = loops.PAIRED_WIDTH + 5
    t = depthwise._table((rows, width), (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)))
    assert t.flat and loops._adjacent_rows(t.rowtab)
    rng = np.random.default_rng(3)
    buf = rng.standard_normal(t.buf_rows * t.buf_width + 8).astype(np.float32)
    w = rng.standard_normal(9).astype(np.float32)
    starts = np.empty(9, dtype=np.int64)
    loops._starts(t.buf_width, t.rowtab, t.colofs, 0, starts)
    count = -(-((rows - 1) * t.buf_width + width) // VECTOR) * VECTOR
    tmp = np.empty(t.rowtab.shape[0] * t.buf_width + VECTOR, dtype=np.float32)
    whole, paired = np.full(rows * width, np.nan, np.float32), np.full(rows * width, np.nan, np.float32)
    at = loops._out_map(rows, width, t.buf_width)
    loops._correlate_flat(buf, t.buf_width, w, starts, count, rows, tmp, at, whole)
    loops._correlate(buf, t.buf_width, w, t.rowtab, t.colofs, True, starts, paired)
    np.testing.assert_array_equal(paired, whole)
    assert not loops._adjacent_rows(depthwise._table((rows, width), (3, 3), (1, 1), (2, 1), ((2, 2), (1, 1))).rowtab)


@st.composite
def split_planes(draw):
    # stride 2 along rows of even width, the geometries depthwise_split takes
    kernel = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    stride = (draw(st.integers(1, 3)), 2)
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pads = tuple((draw(st.integers(-1, 3)), draw(st.integers(-1, 3))) for _ in range(2))
    shape = (draw(st.integers(1, 9)), 2 * draw(st.integers(1, 30)))
    return shape, kernel, stride, dilation, pads


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(case=split_planes(), dtype=st.sampled_from([np.float64, np.float32]), seed=st.integers(0, 2 ** 16))
def test_parity_split_forward_gives_the_bits_of_the_phase_table(case, dtype, seed):
    # depthwise_split recomputes the edge columns whose taps read a neighbouring row instead of the
    # padding; every output, NaN and infinity included, must be the one PlaneTable's scratch gives
    from hypothesis import assume
    from convzoo.kernels import depthwise_loops, depthwise_split
    from convzoo.kernels.geometry import table_key
    shape, kernel, stride, dilation, pads = case
    key = table_key(shape, kernel, stride, dilation, pads)
    assume(min(key[-1]) >= 1)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3) + shape).astype(dtype)
    x[0, 1, rng.integers(shape[0]), rng.integers(shape[1])] = np.inf
    x[1, 2, :, rng.integers(shape[1])] = -0.0
    w = rng.standard_normal((6, kernel[0] * kernel[1])).astype(dtype)
    w[3, rng.integers(w.shape[1])] = np.nan
    planes = x.reshape(2, 3, -1)
    phases, split = depthwise.plane_table(*key), depthwise_split.split_table(*key)
    want = np.empty((2, 6, phases.rowtab.shape[0] * key[-1][1]), dtype=dtype)
    got = np.empty_like(want)
    depthwise_loops.forward_range(planes, w, *phases.args(), phases.full, phases.flat, want, 0, 6)
    depthwise_split.forward_range(planes, w, *split.args(), got, 0, 6)
    bits = np.int64 if dtype == np.float64 else np.int32
    np.testing.assert_array_equal(got.view(bits), want.view(bits))


def test_forward_takes_the_parity_split_on_short_stride_2_rows():
    from convzoo.kernels import depthwise_split
    from convzoo.kernels.geometry import table_key
    key = table_key((56, 56), (3, 3), (2, 2), (1, 1), ((1, 1), (1, 1)))
    t = depthwise.forward_table(*key)
    assert isinstance(t, depthwise_split.SplitTable)
    # 28 columns a block row; tap column 0 reads the odd columns one to the left: output column 0 is
    # the only edge, and input row r is scratch row r + 1 (a zero row above for the top padding)
    assert t.buf_width == 28 and t.edges.tolist() == [0] and t.rowtab[:2].tolist() == [[0, 1, 2], [2, 3, 4]]
    assert t.valid_lo.tolist() == [1, 0, 0] and t.valid_hi.tolist() == [28, 28, 28]
    for shape in ((56, 55), (14, 14), (224, 224)):  # odd width, outputs of 7 and 112
        assert isinstance(depthwise.forward_table(*table_key(shape, (3, 3), (2, 2), (1, 1), ((1, 1), (1, 1)))),
                          depthwise.PlaneTable)


@pytest.mark.parametrize("shape", [(3, 48), (4, 50), (7, 56), (56, 56), (9, 63)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("multiplier", [1, 2])
def test_same_3x3_reads_the_interior_in_place_and_gives_the_padded_copys_bits(shape, dtype, multiplier):
    # loops.forward_same_range: the interior from the plane itself, the border through small padded copies,
    # every output, NaN, infinity and signed zeros included, the one the padded-copy loops give
    from convzoo.kernels import depthwise_loops as loops
    t = depthwise.plane_table(shape, (3, 3), (1, 1), (1, 1), (1, 1), shape)
    assert t.same
    rng = np.random.default_rng(shape[1] + multiplier)
    x = rng.standard_normal((2, 3) + shape).astype(dtype)
    x[0, 1, rng.integers(shape[0]), rng.integers(shape[1])] = np.inf
    x[1, 2, :, 0] = -0.0
    x[1, 0, -1, :] = np.nan
    w = rng.standard_normal((3 * multiplier, 9)).astype(dtype)
    w[0, 4] = -0.0
    w[-1, 0] = np.inf  # times the padding's zeros at the top row and the first column: NaN
    planes = x.reshape(2, 3, -1)
    want = np.empty((2, 3 * multiplier, shape[0] * shape[1]), dtype=dtype)
    got = np.full_like(want, 7)
    loops.forward_range(planes, w, *t.args(), t.full, t.flat, want, 0, 6)
    loops.forward_same_range(planes, w, *shape, got, 0, 6)
    bits = np.int64 if dtype == np.float64 else np.int32
    np.testing.assert_array_equal(got.view(bits), want.view(bits))


def test_only_same_padded_3x3_stride_1_tables_on_wide_rows_take_the_in_place_loops():
    from convzoo.kernels import depthwise_loops as loops
    wide = loops.PAIRED_WIDTH
    assert depthwise.plane_table((8, wide), (3, 3), (1, 1), (1, 1), (1, 1), (8, wide)).same
    assert not depthwise.plane_table((8, wide - 1), (3, 3), (1, 1), (1, 1), (1, 1), (8, wide - 1)).same
    assert not depthwise.plane_table((8, wide), (3, 3), (1, 1), (1, 1), (0, 0), (6, wide - 2)).same
    assert not depthwise.plane_table((8, wide), (3, 3), (1, 1), (2, 2), (2, 2), (8, wide)).same
    assert not depthwise.plane_table((8, wide), (5, 5), (1, 1), (1, 1), (2, 2), (8, wide)).same
    assert not depthwise.plane_table((wide,), (3,), (1,), (1,), (1,), (wide,)).same
    assert depthwise.plane_table((3, wide), (3, 3), (1, 1), (1, 1), (1, 1), (3, wide)).same
    for rows in (1, 2):  # too few rows: the padded-copy loops, which the forward below checks
        assert not depthwise.plane_table((rows, wide), (3, 3), (1, 1), (1, 1), (1, 1), (rows, wide)).same
        x = np.random.default_rng(rows).standard_normal((1, 2, rows, wide))
        w = np.random.default_rng(7).standard_normal((2, 1, 3, 3))
        want = naive.conv(naive.pad(x, ((1, 1), (1, 1))), w, (1, 1), (1, 1), 2)
        np.testing.assert_allclose(depthwise.depthwise_forward(x, w, (1, 1), (1, 1), 2, ((1, 1), (1, 1))), want,
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("sides", [(8, 12), (7, 9), (2, 3), (5, 1)], ids=["even", "odd", "small", "one-column"])
def test_stride_2_input_gradient_by_phases_gives_the_scatter_bits(sides, dtype):
    # depthwise_phases sums each pixel's products in the order the scratch plane's tap passes add them (after
    # its zero), so the bits are the general path's, infinities, NaN and signed zeros included. (A channel with
    # a weight that is not finite scatters row by row there, which sums in another order: NaN where it has NaN)
    from convzoo.kernels import depthwise_flat, depthwise_loops, depthwise_phases
    out_shape = tuple((n - 1) // 2 + 1 for n in sides)
    assert depthwise_phases.applies(sides, (3, 3), (2, 2), (1, 1), (1, 1), out_shape)
    assert not depthwise_phases.applies(sides, (3, 3), (2, 2), (1, 1), (0, 1), out_shape)
    rng = np.random.default_rng(5)
    g = rng.standard_normal((2, 3, math.prod(out_shape))).astype(dtype)
    g[0, 1, rng.integers(g.shape[2])] = np.inf
    g[1, 0, :] = -0.0
    w = rng.standard_normal((3, 9)).astype(dtype)
    w[2, 4] = np.nan
    t = depthwise._table(sides, (3, 3), (2, 2), (1, 1), ((1, 1), (1, 1)), out_shape)
    want, got = (np.empty((2, 3, math.prod(sides)), dtype=dtype) for _ in range(2))
    (depthwise_flat if t.flat else depthwise_loops).backward_input_range(g, w, *t.args(), t.full, want, 0, 6)
    depthwise_phases.backward_input_range(g, w, *sides, got, 0, 6)
    bits = np.int64 if dtype == np.float64 else np.int32
    np.testing.assert_array_equal(got[:, :2].view(bits), want[:, :2].view(bits))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype])


@pytest.mark.parametrize("geometry", [
    ((9, 11), (1, 1), ((1, 1), (1, 1))),   # stride 1 'same': input and gradient rows as long, one loop
    ((6, 16), (1, 1), ((0, 0), (0, 0))),   # stride 1 valid: gradient rows shorter, copied on their own
    ((7, 20), (2, 2), ((0, 1), (0, 1))),   # stride 2, even width: rows split by parity with the gradient's
    ((6, 19), (2, 2), ((1, 1), (1, 1))),   # stride 2, odd width: the odd pixel at the end of each row
], ids=["same", "valid", "stride-2-even", "stride-2-odd"])
def test_the_weight_gradients_copies_in_one_loop_fill_the_scratch_as_the_separate_copies(geometry):
    # depthwise_flat._fill_with_gradient against _fill_plane then _wide_gradient: the same scratch plane and
    # the same wide gradient, element for element (zeros where nothing is copied)
    from convzoo.kernels import depthwise_flat, depthwise_loops
    sides, stride, pads = geometry
    out_shape = tuple((n + b + a - 3) // s + 1 for n, s, (b, a) in zip(sides, stride, pads))
    t = depthwise._table(sides, (3, 3), stride, (1, 1), pads, out_shape)
    assert t.flat and (t.step == 1 or t.full)
    rng = np.random.default_rng(6)
    plane = rng.standard_normal(math.prod(sides)).astype(np.float32)
    g = rng.standard_normal(math.prod(out_shape)).astype(np.float32)
    rowtab, colofs, fill_row, col_lo, col_hi, src_lo, buf_rows, buf_width, step = t.args()
    width, rows = out_shape[1], out_shape[0]
    run = (rows - 1) * buf_width + width
    pairs = depthwise_loops._copy_map(fill_row, col_lo, col_hi, src_lo, step, sides[1], buf_width)
    at = depthwise_loops._out_map(rows, width, buf_width)
    assert pairs.shape[1] == 0 and at.shape[0] == 0
    buf, gw = np.zeros(buf_rows * buf_width, np.float32), np.zeros(run, np.float32)
    depthwise_loops._fill_plane(plane, pairs, fill_row, col_lo, col_hi, src_lo, step, t.full, buf, buf_width)
    depthwise_flat._wide_gradient(g, width, at, gw, buf_width)
    buf2, gw2 = np.zeros_like(buf), np.zeros_like(gw)
    depthwise_flat._fill_with_gradient(plane, g, width, fill_row, col_lo, col_hi, src_lo, step, buf2, buf_width, gw2)
    np.testing.assert_array_equal(buf2, buf)
    np.testing.assert_array_equal(gw2, gw)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("geometry", [
    ((2, 3, 9, 50), (1, 1), 1),   # 3x3 'same' on rows wide enough for the in-place loops: SAME
    ((2, 3, 8, 12), (2, 2), 1),   # 3x3 stride 2 padded by one: PHASES
    ((2, 3, 7, 9), (2, 2), 1),    # the same, odd sides
    ((2, 3, 9, 50), (1, 1), 2),   # a channel multiplier: the two gradients apart
], ids=["same", "phases-even", "phases-odd", "multiplier"])
def test_both_gradients_in_one_pass_give_the_bits_of_the_two_apart(geometry, dtype, monkeypatch):
    # depthwise_flat.backward_range computes each plane's input gradient next to its weight gradient; every
    # value is summed as the separate kernels sum it, infinities, NaN and signed zeros included
    from convzoo.kernels import depthwise_flat
    x_shape, stride, multiplier = geometry
    pads = ((1, 1), (1, 1))
    c = x_shape[1]
    out_shape = tuple((n + 2 - 3) // s + 1 for n, s in zip(x_shape[2:], stride))
    rng = np.random.default_rng(8)
    x = rng.standard_normal(x_shape).astype(dtype)
    x[1, 2, 3, 4] = np.inf
    g = rng.standard_normal(x_shape[:1] + (c * multiplier,) + out_shape).astype(dtype)
    g[0, 1, 1, :] = np.nan
    g[1, 0] = -0.0
    w = rng.standard_normal((c * multiplier, 1, 3, 3)).astype(dtype)
    w[2, 0, 0, 1] = np.inf
    kind = depthwise._input_kind(g, w, x_shape[2:], stride, (1, 1), c, pads)[0]
    assert kind == {(1, 1): depthwise_flat.SAME, (2, 2): depthwise_flat.PHASES}[stride] if multiplier == 1 \
        else kind == depthwise_flat.NO_INPUT
    args = (stride, (1, 1), c)
    with np.errstate(invalid="ignore", over="ignore"):
        want = (depthwise.depthwise_backward_input(g, w, x_shape[2:], *args, pads=pads),
                depthwise.depthwise_backward_weight(x, g, (3, 3), *args, pads=pads))
        for grain in (depthwise.GRAIN, 0):  # on this thread, then a range of channels per lane
            monkeypatch.setattr(depthwise, "GRAIN", grain)
            got = depthwise.depthwise_backward(x, g, w, *args, pads=pads)
            bits = np.int64 if dtype == np.float64 else np.int32
            for a, b in zip(got, want):
                assert a.shape == b.shape and a.dtype == b.dtype
                np.testing.assert_array_equal(a.view(bits), b.view(bits))


def test_the_stride_2_input_gradient_joins_the_weight_gradient_on_inputs_that_fit_the_cache(monkeypatch):
    from convzoo.kernels import depthwise_flat
    g, w = np.zeros((2, 4, 4, 4), np.float32), np.zeros((4, 1, 3, 3), np.float32)
    pads = ((1, 1), (1, 1))
    assert depthwise._input_kind(g, w, (8, 8), (2, 2), (1, 1), 4, pads)[0] == depthwise_flat.PHASES
    monkeypatch.setattr(depthwise, "PHASES_TOGETHER_BYTES", 2 * 4 * 64 * 4 - 1)  # one byte short of the input
    assert depthwise._input_kind(g, w, (8, 8), (2, 2), (1, 1), 4, pads)[0] == depthwise_flat.NO_INPUT
