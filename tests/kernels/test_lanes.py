"""lanes.py: every chunk runs once, on threads only when there are several lanes, sums in chunk order,
errors reach the caller, BLAS gets its thread count back; the kernels on lanes give the bits they
give on one lane."""
import os
import threading

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_info

from convzoo.kernels import elementwise, gemm, lanes, spans, winograd, workspace
from convzoo.kernels.jit import jit
from tests import naive

needs_threads = pytest.mark.skipif(numba.config.DISABLE_JIT or numba.config.NUMBA_NUM_THREADS < 2,
                                   reason="lanes need two Numba threads")


@pytest.fixture(autouse=True)
def _lanes_at_any_size(monkeypatch):
    # test-sized calls would run serially on this thread (lanes.SERIAL_BELOW): make them use lanes
    monkeypatch.setattr(lanes, "SERIAL_BELOW", 0)


def _blas_threads():
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def _one_lane(fn):
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        return fn()
    finally:
        numba.set_num_threads(previous)


def _jobs_and_bits_of_one_lane(ops):
    """ops() on lanes, every ``lanes.run`` call's job list recorded, checked bit for bit against ops()
    on one lane: (results, job lists)."""
    jobs, real_run = [], lanes.run

    def run(jobs_, work, **kw):
        jobs.append(list(jobs_))
        return real_run(jobs[-1], work, **kw)
    serial = _one_lane(ops)
    lanes.run = run
    try:
        got = ops()
    finally:
        lanes.run = real_run
    for a, b in zip(serial, got):
        np.testing.assert_array_equal(a, b)
    return got, jobs


def test_every_job_runs_once_and_one_lane_stays_in_this_thread():
    seen = []
    lanes.run(range(7), lambda i, job, lane: seen.append((i, job, lane.parallel)))
    assert sorted(i for i, _, _ in seen) == list(range(7)) and all(i == job for i, job, _ in seen)
    seen.clear()
    _one_lane(lambda: lanes.run(range(3), lambda i, job, lane: seen.append(lane.parallel)))
    assert seen == [True, True, True]  # one lane: the kernels may use Numba's and BLAS's threads


def test_small_calls_run_serial_kernels_on_this_thread(monkeypatch):
    monkeypatch.setattr(lanes, "SERIAL_BELOW", 1000)
    seen = []
    before = _blas_threads()
    lanes.run(range(4), lambda i, job, lane: seen.append((lane.parallel, threading.get_ident())), size=999)
    assert seen == [(False, threading.get_ident())] * 4
    # and BLAS stays on this thread too (its own threads would spin after the call), then is restored
    blas = []
    lanes.run(range(2), lambda i, job, lane: blas.append(_blas_threads()), size=999)
    assert blas == [[1] * len(before)] * 2 and _blas_threads() == before
    lanes.run(range(1), lambda i, job, lane: seen.append((lane.parallel, threading.get_ident())), size=1000)
    # one chunk on several threads: serial Numba loops next to BLAS's own threads
    assert seen[-1] == (numba.get_num_threads() == 1, threading.get_ident())


@needs_threads
def test_lanes_run_serial_kernels_limit_blas_and_restore_it():
    before = _blas_threads()
    inside = []
    lanes.run(range(4), lambda i, job, lane: inside.append((lane.parallel, _blas_threads(), lanes.count())))
    assert all(parallel is False and blas == [1] * len(before) and count == 1 for parallel, blas, count in inside)
    assert _blas_threads() == before


@needs_threads
def test_ordered_turns_follow_the_chunk_order():
    order = []

    def work(i, job, lane):
        with lane.turn(i):
            order.append(i)
    lanes.run(range(12), work, ordered=True)
    assert order == list(range(12))


@needs_threads
def test_turns_by_part_follow_the_chunk_order_within_each_part():
    # each part's adds in chunk order, whatever the lanes; a chunk may add its first part while the chunk
    # before adds its last (winograd2d's weight gradient, a block of points at a time)
    order = []

    def work(i, job, lane):
        for part in range(3):
            with lane.turn(i, part):
                order.append((part, i))
    lanes.run(range(12), work, ordered=True)
    for part in range(3):
        assert [i for p, i in order if p == part] == list(range(12))
    assert sorted(order) == [(p, i) for p in range(3) for i in range(12)]


@needs_threads
def test_an_error_in_a_chunk_reaches_the_caller_and_blas_is_restored():
    before = _blas_threads()

    def work(i, job, lane):
        if i == 5:
            raise ValueError("chunk 5")
        with lane.turn(i):
            pass
    with pytest.raises((ValueError, RuntimeError)):
        lanes.run(range(9), work, ordered=True)
    assert _blas_threads() == before


def test_chunks_share_the_budget_and_give_each_lane_work():
    assert workspace.chunks(8, 4, 10, budget=10**6, lanes=2) == [((0, 4), (0, 4)), ((4, 8), (0, 4))]
    # an image over a lane's share is cut into row ranges
    assert workspace.chunks(1, 4, 100, budget=400, lanes=2) == [((0, 1), (0, 2)), ((0, 1), (2, 4))]


def test_fewer_images_than_lanes_are_cut_into_equal_row_ranges_for_every_lane():
    # one image that fits: still one row range per lane
    assert workspace.chunks(1, 9, 10, budget=10**6, lanes=2) == [((0, 1), (0, 4)), ((0, 1), (4, 9))]
    assert workspace.chunks(2, 5, 10, budget=10**6, lanes=4) == [((0, 1), (0, 2)), ((0, 1), (2, 5)),
                                                                   ((1, 2), (0, 2)), ((1, 2), (2, 5))]
    # one image over the budget: 28 rows of which a lane's share holds 11 take 4 ranges of 7, not 11 + 11 + 6
    assert workspace.chunks(1, 28, 100, budget=2 * 1100, lanes=2) == [((0, 1), (r, r + 7)) for r in range(0, 28, 7)]
    # passes=2 (a col2im in two passes): one image gets a range per lane in each pass; several do not
    assert workspace.chunks(1, 9, 10, budget=10**6, lanes=2, passes=2) == [((0, 1), (r0, r1)) for r0, r1 in
                                                                             ((0, 2), (2, 4), (4, 6), (6, 9))]
    assert workspace.chunks(2, 9, 10, budget=10**6, lanes=2, passes=2) == workspace.chunks(2, 9, 10, 10**6, 2)
    # never more ranges than rows, never an empty one
    assert workspace.chunks(1, 1, 100, budget=10, lanes=2) == [((0, 1), (0, 1))]
    for batch, rows, lanes_ in ((1, 3, 4), (3, 7, 4), (1, 50, 2), (2, 50, 2)):
        blocks = workspace.chunks(batch, rows, 10, budget=10**6, lanes=lanes_)
        seen = np.zeros((batch, rows), dtype=int)
        for (b0, b1), (r0, r1) in blocks:
            assert r1 > r0 and b1 > b0
            seen[b0:b1, r0:r1] += 1
        assert (seen == 1).all() and len(blocks) >= min(lanes_, batch * rows)


def test_channel_chunks_cut_an_image_by_channels_where_rows_would_be_cut():
    # whole images for every lane: no channel cut
    assert workspace.channel_chunks(4, 8, 5, 10, budget=10**6, lanes=2) is None
    # one image, two lanes: its channels in a multiple of the lanes; not an image of one row (a 1-D signal)
    assert workspace.channel_chunks(1, 8, 5, 10, budget=10**6, lanes=2) == [((0, 1), (0, 4)), ((0, 1), (4, 8))]
    assert workspace.channel_chunks(1, 8, 1, 10, budget=10**6, lanes=2) is None
    # images over a lane's share (200 bytes): 8 channels of 60 bytes in 3 ranges each, image by image
    assert workspace.channel_chunks(2, 8, 5, 60, budget=400, lanes=2) == [((b, b + 1), (c0, c1)) for b in range(2)
                                                                           for c0, c1 in ((0, 2), (2, 5), (5, 8))]
    # every range fits the share: 3 channels of 100 bytes in a 150-byte share take 3 ranges, not 2
    assert workspace.channel_chunks(2, 3, 5, 100, budget=300, lanes=2) == [((b, b + 1), (c, c + 1))
                                                                            for b in range(2) for c in range(3)]
    # one channel over the share: rows must be cut (None), and never more ranges than channels
    assert workspace.channel_chunks(1, 8, 5, 300, budget=400, lanes=2) is None
    assert workspace.channel_chunks(1, 1, 5, 10, budget=10**6, lanes=2) == [((0, 1), (0, 1))]


@needs_threads
@pytest.mark.parametrize("narrow_weight_gradient_by", ["rows", "channels"])
@pytest.mark.parametrize("batch, groups, depth", [(1, 1, 0), (1, 2, 0), (3, 1, 0), (3, 2, 0), (1, 2, 3)])
def test_im2col_gradients_cut_by_channels_match_the_reference_with_the_bits_of_one_lane(batch, groups, depth,
                                                                                      narrow_weight_gradient_by,
                                                                                      monkeypatch):
    # the weight gradient's few columns (Cg x 9) are cut by rows below gemm.WIDE_WEIGHT_GRADIENT
    if narrow_weight_gradient_by == "channels":
        monkeypatch.setattr(gemm, "WIDE_WEIGHT_GRADIENT", 0)
    rng = np.random.default_rng(9)
    lead = (depth,) if depth else ()  # depth: a 3-D conv (its rows run over two axes), kernel depth 1
    x = rng.standard_normal((batch, 6) + lead + (11, 10)).astype(np.float32)
    w = rng.standard_normal((4, 6 // groups) + (1,) * len(lead) + (3, 3)).astype(np.float32)
    pads = ((0, 0),) * len(lead) + ((1, 1), (2, 2))
    ones = (1,) * len(lead)
    # stride 2 across columns: the table's path, not spans'
    g = rng.standard_normal((batch, 4) + lead + (11, 6)).astype(np.float32)
    per_channel = 9 * max(depth, 1) * 11 * 6 * 4

    def ops():
        # a lane's share holds two channels of an image (3 or 6 of a group): channels are cut
        with workspace.limited(2 * 2 * per_channel):
            return (gemm.im2col_backward_input(g, w, x.shape[2:], ones + (1, 2), ones + (1, 1), groups, pads),
                    gemm.im2col_backward_weight(x, g, w.shape[2:], ones + (1, 2), ones + (1, 1), groups, pads))
    got, jobs = _jobs_and_bits_of_one_lane(ops)
    if narrow_weight_gradient_by == "rows":
        # the weight gradient's jobs: row ranges of one image, ((b0, b1), (r0, r1))
        *jobs, rows = jobs
        assert len(rows) >= 2 and all(b1 == b0 + 1 for (b0, b1), _ in rows)
    assert jobs
    for calls in jobs:  # channel ranges within a group, of one image, in image order
        assert len(calls) >= 2 and all(b1 == b0 + 1 and 0 <= c0 < c1 <= 6 // groups
                                       for (b0, b1), _, (c0, c1) in calls)
        assert [b0 for (b0, _), _, _ in calls] == sorted(b0 for (b0, _), _, _ in calls)
    x64, w64, g64 = (a.astype(np.float64) for a in (x, w, g))
    xp = naive.pad(x64, pads)
    expected_x = naive.pad_adjoint(naive.conv_transpose(g64, w64, ones + (1, 2), ones + (1, 1), groups,
                                                        xp.shape[2:]), pads)
    np.testing.assert_allclose(got[0], expected_x, rtol=1e-4, atol=1e-4)
    expected_w = naive.conv_weight_grad(xp, g64, w.shape[2:], ones + (1, 2), ones + (1, 1), groups)
    np.testing.assert_allclose(got[1], expected_w, rtol=1e-4, atol=1e-4)


def test_a_call_run_on_one_thread_takes_one_share(monkeypatch):
    monkeypatch.setattr(lanes, "SERIAL_BELOW", 1 << 18)
    assert lanes.shares(size=0) == 1 and lanes.shares() == max(1, numba.config.NUMBA_NUM_THREADS)
    assert lanes.shares(size=1 << 40) == lanes.shares()


@needs_threads
@pytest.mark.parametrize("kernel", ["im2col", "spans", "winograd"])
def test_kernels_on_lanes_give_the_bits_of_one_lane(kernel):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 5, 12, 10 if kernel != "spans" else 8)).astype(np.float32)
    w = rng.standard_normal((7, 5, 3, 3)).astype(np.float32)
    pads = ((1, 1), (1, 1))
    g = rng.standard_normal((6, 7) + x.shape[2:]).astype(np.float32)
    ops = {"im2col": (gemm.im2col_forward, gemm.im2col_backward_input, gemm.im2col_backward_weight),
           "spans": (spans.forward, spans.backward_input, spans.backward_weight),
           "winograd": (winograd.winograd_forward, winograd.winograd_backward_input,
                        winograd.winograd_backward_weight)}[kernel]

    def run():
        with workspace.limited(5 * 12 * 10 * 9 * 4):  # a few images per chunk: several chunks
            if kernel == "spans":
                return (ops[0](x, w, (1, 1), 1, pads), ops[1](g, w, x.shape[2:], (1, 1), 1, pads),
                        ops[2](x, g, (3, 3), (1, 1), 1, pads))
            return (ops[0](x, w, (1, 1), (1, 1), 1, pads=pads), ops[1](g, w, x.shape[2:], (1, 1), (1, 1), 1, pads=pads),
                    ops[2](x, g, (3, 3), (1, 1), (1, 1), 1, pads=pads))
    for a, b in zip(_one_lane(run), run()):
        np.testing.assert_array_equal(a, b)


@needs_threads
@pytest.mark.parametrize("kernel", ["im2col", "spans"])
def test_one_image_is_cut_over_lanes_with_the_bits_of_one_lane(kernel):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((1, 5, 13, 9)).astype(np.float32)
    w = rng.standard_normal((7, 5, 3, 3)).astype(np.float32)
    pads = ((1, 1), (1, 1))
    g = rng.standard_normal((1, 7, 13, 9)).astype(np.float32)

    def ops():
        if kernel == "spans":
            return (spans.forward(x, w, (1, 1), 1, pads), spans.backward_weight(x, g, (3, 3), (1, 1), 1, pads))
        return (gemm.im2col_forward(x, w, (1, 1), (1, 1), 1, pads),
                gemm.im2col_backward_input(g, w, (13, 9), (1, 1), (1, 1), 1, pads),
                gemm.im2col_backward_weight(x, g, (3, 3), (1, 1), (1, 1), 1, pads))
    _, jobs = _jobs_and_bits_of_one_lane(ops)
    # every lane had a range of rows (or a pass of them; the im2col gradients: a range of channels)
    assert jobs and all(len(calls) >= 2 for calls in jobs), jobs


@pytest.mark.parametrize("job_flops", [1, gemm.JOB_FLOPS])
@pytest.mark.parametrize("spatial, stride, groups", [((24, 24), (1, 1), 1), ((1200,), (2,), 2), ((6, 5), (2, 1), 2)])
def test_pointwise_jobs_of_one_image_or_side_by_side_match_im2col(spatial, stride, groups, job_flops, monkeypatch):
    # with no minimum of work a job: 576 and 600 positions one image per job (no copy), 15 images
    # side by side; with the default (these are tiny products) all three images in one job
    monkeypatch.setattr(gemm, "JOB_FLOPS", job_flops)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4) + spatial)
    w = rng.standard_normal((6, 4 // groups) + (1,) * len(spatial))
    ones = (1,) * len(spatial)
    out = gemm.pointwise_forward(x, w, stride, ones, groups)
    np.testing.assert_allclose(out, gemm.im2col_forward(x, w, stride, ones, groups), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(out.shape)
    np.testing.assert_allclose(gemm.pointwise_backward_input(g, w, spatial, stride, ones, groups),
                               gemm.im2col_backward_input(g, w, spatial, stride, ones, groups), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gemm.pointwise_backward_weight(x, g, ones, stride, ones, groups),
                               gemm.im2col_backward_weight(x, g, ones, stride, ones, groups), rtol=1e-12, atol=1e-12)


def test_pointwise_image_jobs_carry_enough_columns_and_work_in_equal_ranges():
    # a 16->32 1x1 conv at 14 px (0.2 MFLOP an image): 11 images a job, cut into three equal ranges
    assert gemm._image_jobs(32, 196, 200_704) == [(0, 10), (10, 21), (21, 32)]
    assert gemm._image_jobs(8, 196, 200_704) == [(0, 8)]  # one job, run on the calling thread
    # 128->256 at 28 px: enough of both in every image, one image a job
    assert gemm._image_jobs(4, 784, 51_380_224) == [(0, 1), (1, 2), (2, 3), (3, 4)]
    # columns decide where the work is plenty: 15 positions an image need 35 images side by side
    assert gemm._image_jobs(70, 15, 10**9) == [(0, 35), (35, 70)]


@pytest.mark.parametrize("tile", [2, 4])
def test_winograd_at_batch_one_cuts_rows_into_bands_and_matches_im2col(tile):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 3, 13, 11))
    w = rng.standard_normal((5, 3, 3, 3))
    pads = ((1, 1), (1, 1))
    assert len(winograd.bands(13, -(-13 // tile), tile, 1, 1)) == min(2, lanes.shares())
    out = winograd.winograd_forward(x, w, (1, 1), (1, 1), 1, tile, pads)
    np.testing.assert_allclose(out, gemm.im2col_forward(x, w, (1, 1), (1, 1), 1, pads), rtol=1e-10, atol=1e-10)
    g = rng.standard_normal(out.shape)
    np.testing.assert_allclose(winograd.winograd_backward_input(g, w, (13, 11), (1, 1), (1, 1), 1, tile, pads),
                               gemm.im2col_backward_input(g, w, (13, 11), (1, 1), (1, 1), 1, pads),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dilation", [1, 3])
def test_col2im_of_one_image_in_two_passes_matches_one_pass(dilation):
    rng = np.random.default_rng(7)
    g = rng.standard_normal((1, 4, 56, 9)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    pads = ((dilation, dilation), (dilation, dilation))
    with workspace.limited(4 * (27 + 4) * 9 * 28):  # rows of 7 per chunk at 4 shares: 8 chunks
        chunks = workspace.chunks(1, 56, (27 + 4) * 9 * 4, lanes=4)
        assert len(gemm._scatter_passes(chunks, (3, 3), (1, 1), (dilation, dilation))) == 2
        got = gemm.im2col_backward_input(g, w, (56, 9), (1, 1), (dilation, dilation), 1, pads)
        serial = _one_lane(lambda: gemm.im2col_backward_input(g, w, (56, 9), (1, 1), (dilation, dilation), 1, pads))
    np.testing.assert_array_equal(got, serial)
    expected = _one_lane(lambda: gemm.im2col_backward_input(g.astype(np.float64), w.astype(np.float64), (56, 9),
                                                           (1, 1), (dilation, dilation), 1, pads))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shapes", [((70, 33), (33, 20)), ((1, 40), (40, 9)), ((3, 5, 7), (7, 4)), ((6,), (6, 5)),
                                    ((8, 6), (6,))])
@pytest.mark.parametrize("split", [True, False])
def test_matmul_equals_numpy_and_leaves_blas_threads_asleep(shapes, split, monkeypatch):
    # split: products over LANE_FLOPS are cut by rows over lanes, each a one-thread BLAS call
    monkeypatch.setattr(lanes, "LANE_FLOPS", 0 if split else 1 << 40)
    rng = np.random.default_rng(len(shapes[0]))
    a, b = (rng.standard_normal(s).astype(np.float32) for s in shapes)
    before = _blas_threads()
    seen = []
    real = np.matmul
    monkeypatch.setattr(lanes.np, "matmul", lambda *args, **kw: seen.append(_blas_threads()) or real(*args, **kw))
    out = lanes.matmul(a, b)
    monkeypatch.setattr(lanes.np, "matmul", real)
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)
    assert out.shape == (a @ b).shape and out.dtype == np.float32
    assert seen and all(threads == [1] * len(before) for threads in seen)
    assert _blas_threads() == before
    rows = shapes[0][0] if len(shapes[0]) == 2 and len(shapes[1]) == 2 else 0
    if split and rows >= 2 and numba.get_num_threads() > 1:
        assert len(seen) == min(lanes.shares(), rows)  # one call per block of rows
    else:
        assert len(seen) == 1


@pytest.mark.parametrize("m, n", [(16, 150), (150, 16), (40, 90)])
@pytest.mark.parametrize("swap_max", [0, 1 << 18])
def test_matmul_nt_is_a_times_b_transposed_and_swaps_only_small_products(m, n, swap_max, monkeypatch):
    # a swapped product is (b @ a^T)^T, a transposed view; one over SWAP_MAX elements is computed as it is
    monkeypatch.setattr(lanes, "SWAP_MAX", swap_max)
    rng = np.random.default_rng(m)
    a, b = (rng.standard_normal((2, rows, 64)).astype(np.float32) for rows in (m, n))
    out = lanes.matmul_nt(a, b)
    np.testing.assert_allclose(out, a @ b.transpose(0, 2, 1), rtol=1e-5, atol=1e-5)
    assert out.shape == (2, m, n)
    assert out.flags.c_contiguous == (m >= n or m * n > swap_max)


@jit
def _mark_range(out, lo, hi):
    for i in range(lo, hi):
        out[i] += i + 1


@jit
def _fail_from(out, first_bad, lo, hi):
    for i in range(lo, hi):
        if i >= first_bad:
            raise ValueError("range past first_bad")
        out[i] = 1


@pytest.mark.parametrize("spin", [lanes.SPIN_SECONDS, 0.0])
@pytest.mark.parametrize("items", [1, 2, 7, 1000])
def test_split_runs_every_item_once_whether_helpers_poll_or_sleep(items, spin, monkeypatch):
    # spin 0: the helper and the caller sleep between hand-offs instead of polling
    monkeypatch.setattr(lanes, "SPIN_SECONDS", spin)
    for _ in range(3):  # several hand-offs in a row, the helper reused
        out = np.zeros(items, dtype=np.int64)
        lanes.split(_mark_range, items, out)
        np.testing.assert_array_equal(out, np.arange(1, items + 1))


@needs_threads
def test_split_cuts_the_items_into_one_range_per_lane_the_first_on_this_thread():
    seen = []

    def serial(lo, hi):
        seen.append((lo, hi, threading.get_ident()))
    lanes.split(serial, 10)
    assert sorted(r[:2] for r in seen) == lanes.ranges(10, numba.get_num_threads())
    assert [r[2] for r in seen if r[0] == 0] == [threading.get_ident()]
    assert len({r[2] for r in seen}) == len(seen)  # each range on a thread of its own


@needs_threads
def test_after_a_call_that_may_wake_blas_threads_smaller_ranges_stay_on_this_thread(monkeypatch):
    monkeypatch.setattr(lanes, "BLAS_SPIN_SECONDS", 60.0)
    monkeypatch.setitem(lanes._state, "blas_spins_until", 0.0)
    lanes.run(range(4), lambda *_: None, size=lanes.SERIAL_BELOW)  # on lanes: BLAS on one thread
    lanes.run(range(1), lambda *_: None, size=lanes.SERIAL_BELOW - 1)  # small: BLAS on one thread too
    assert not lanes.blas_spinning()
    lanes.run(range(1), lambda *_: None)  # one chunk: its GEMM may run on BLAS's own threads
    assert lanes.blas_spinning()
    seen = []

    def serial(lo, hi):
        seen.append((lo, hi, threading.get_ident()))
    elementwise.by_size(serial, elementwise.SPINNING_GRAINS * 100 - 1, 10, grain=100)
    assert seen == [(0, 10, threading.get_ident())]
    seen.clear()
    elementwise.by_size(serial, elementwise.SPINNING_GRAINS * 100, 10, grain=100)
    assert sorted(r[:2] for r in seen) == lanes.ranges(10, numba.get_num_threads())
    monkeypatch.setitem(lanes._state, "blas_spins_until", 0.0)
    seen.clear()
    elementwise.by_size(serial, 100, 10, grain=100)
    assert sorted(r[:2] for r in seen) == lanes.ranges(10, numba.get_num_threads())


@needs_threads
def test_an_error_in_a_helpers_range_reaches_the_caller_and_the_helper_goes_on():
    out = np.zeros(100, dtype=np.int64)
    with pytest.raises(ValueError):
        lanes.split(_fail_from, 100, out, 90)  # only the last range (a helper's) fails
    out = np.zeros(100, dtype=np.int64)
    lanes.split(_mark_range, 100, out)
    np.testing.assert_array_equal(out, np.arange(1, 101))


@needs_threads
def test_callers_on_several_threads_share_the_helpers_and_every_call_completes():
    # one caller at a time has the helpers; the others run their calls on their own threads
    errors, results = [], {}

    def caller(k):
        try:
            for i in range(50):
                out = np.zeros(5000 + k, dtype=np.int64)
                if i % 2:
                    lanes.split(_mark_range, out.size, out)
                else:
                    lanes.run(lanes.ranges(out.size), lambda _, r, lane: _mark_range(out, r[0], r[1]))
                results.setdefault(k, []).append(bool((out == np.arange(1, out.size + 1)).all()))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
    threads = [threading.Thread(target=caller, args=(k,)) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors and all(not thread.is_alive() for thread in threads)
    assert all(results[k] == [True] * 50 for k in range(3))


@pytest.mark.skipif(not hasattr(os, "fork") or numba.config.DISABLE_JIT or numba.config.NUMBA_NUM_THREADS < 2,
                    reason="needs fork and two Numba threads")
def test_a_forked_child_makes_its_own_helpers():
    out = np.zeros(64, dtype=np.int64)
    lanes.split(_mark_range, 64, out)  # the parent's helpers exist
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its parent's helper threads are gone
        try:
            child = np.zeros(64, dtype=np.int64)
            lanes.split(_mark_range, 64, child)
            os.write(write, b"1" if (child == np.arange(1, 65)).all() else b"0")
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1" and status == 0
    os.close(read)


@needs_threads
@pytest.mark.parametrize("spin", [1e-5, 0.0])
def test_a_caller_that_stops_polling_is_woken_when_a_long_range_ends(spin, monkeypatch):
    # the helper's range outlasts the caller's poll: the caller sleeps, and the helper's end wakes it
    # (rung, or found by the caller's own look within a millisecond); the helper is reused after
    import time
    monkeypatch.setattr(lanes, "SPIN_SECONDS", spin)
    seen = []

    def serial(lo, hi):
        if lo > 0:
            time.sleep(0.02)
        seen.append((lo, hi))
    for _ in range(3):
        seen.clear()
        start = time.perf_counter()
        lanes.split(serial, 2)
        assert sorted(seen) == [(0, 1), (1, 2)] and time.perf_counter() - start < 1.0
