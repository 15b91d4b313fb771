"""Every algorithm of the planner, forced in turn, against the naive loops and the adjoint identities.

The foundation tests exercise whatever the planner picks; these force each algorithm on every
geometry it supports (fixed cases and hypothesis draws), for each op it implements, in float64 and
float32. Also run with NUMBA_DISABLE_JIT=1, so sizes stay small.
"""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convzoo.kernels import conv as kconv
from convzoo.kernels import cost, microkernel, planner, workspace
from convzoo.kernels.cache import CallCache
from tests import naive

NAMES = tuple(planner.ALGORITHMS)
RTOL = {np.float64: 1e-10, np.float32: 1e-4}

# (x shape, weight shape, stride, dilation, groups)
CASES = [
    ((2, 4, 9, 10), (6, 2, 3, 3), (1, 1), (1, 1), 2),        # grouped 3x3: winograd, fft, im2col
    ((1, 3, 12, 11), (5, 3, 3, 3), (1, 1), (1, 1), 1),       # odd output sizes for the tiles
    ((2, 3, 11, 9), (6, 1, 3, 2), (2, 3), (2, 1), 3),        # depthwise, multiplier 2, strided, dilated
    ((2, 3, 12, 11), (3, 1, 3, 4), (1, 1), (2, 3), 3),       # depthwise stride 1: gradient as a flipped conv
    ((2, 4, 7, 8), (6, 4, 1, 1), (2, 1), (1, 1), 1),         # 1x1 strided
    ((1, 2, 13), (4, 1, 4), (3,), (2,), 2),                  # 1-D depthwise
    ((2, 3, 10), (4, 3, 5), (1,), (1,), 1),                  # 1-D stride 1
    ((3, 4, 23), (6, 2, 3), (1,), (1,), 2),                  # 1-D grouped, 3 taps: winograd1d's F(4,3)
    ((1, 2, 9), (3, 2, 2), (1,), (1,), 1),                   # 1-D 2 taps, output length 8: whole tiles
    ((2, 3, 12, 5), (4, 3, 6, 1), (1, 1), (1, 3), 1),        # 6x1: winograd1d down the columns
    ((2, 3, 5, 12), (4, 3, 1, 6), (1, 1), (3, 1), 1),        # 1x6: winograd1d on swapped planes
    ((1, 2, 6, 5, 7), (4, 1, 2, 3, 2), (1, 2, 3), (2, 1, 1), 2),  # 3-D
    ((1, 2, 16, 15), (2, 1, 9, 9), (1, 1), (1, 1), 2),       # a large depthwise kernel: fft's case
    ((2, 3, 6, 5, 7), (4, 3, 3, 2, 3), (1, 1, 1), (1, 1, 1), 1),  # 3-D dense: fft's frequencies-first grid
    ((2, 1, 9, 8), (3, 1, 4, 4), (1, 1), (1, 1), 1),         # one input channel: fft's elementwise product
    ((1, 4, 9, 9), (2, 2, 4, 4), (2, 2), (1, 1), 2),         # transposed 4x4 s2 as conv backward_input
    ((2, 3, 9, 10), (4, 3, 5, 5), (1, 1), (1, 1), 1),        # 5x5: winograd2d's F(4x4, 5x5)
    ((1, 2, 11, 9), (3, 2, 7, 2), (1, 1), (1, 1), 1),        # 7x2: winograd2d, F(2, 7) down and F(4, 2) across
    ((2, 3, 13, 11), (4, 3, 4, 5), (2, 2), (1, 1), 1),       # 4x5 stride 2: winograd2d on the input's phases
]


def _data(case, dtype, seed=0):
    x_shape, w_shape, stride, dilation, groups = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    g = rng.standard_normal(naive.conv(x, w, stride, dilation, groups).shape).astype(dtype)
    return x, w, g


def _close(got, want, dtype, what):
    assert got.shape == want.shape and got.dtype == dtype, (what, got.shape, want.shape, got.dtype)
    scale = max(np.abs(want).max(initial=0.0), 1e-30)
    err = np.abs(got.astype(np.float64) - want).max(initial=0.0)
    assert err <= RTOL[dtype] * scale, f"{what}: max error {err:.3g} relative to {scale:.3g}"


def _supported(name, case, op, dtype=np.float64):
    x_shape, w_shape, stride, dilation, groups = case
    alg = planner.ALGORITHMS[name]
    geometry = planner.ConvGeometry.of(x_shape, w_shape, stride, dilation, groups, np.dtype(dtype).itemsize)
    return op in alg.ops and alg.requirement(geometry) is None and \
        (alg.op_requirement is None or alg.op_requirement(op, geometry) is None)


def _runs_on(name, dtype):
    """Whether the algorithm runs this dtype on this machine at all (direct: float32 with its tiles)."""
    return name != "direct" or (dtype == np.float32 and microkernel.available())


def _check_all_ops(name, case, dtype):
    x, w, g = _data(case, dtype)
    _, _, stride, dilation, groups = case
    x64, w64, g64 = (a.astype(np.float64) for a in (x, w, g))
    ran = 0
    if _supported(name, case, "forward", dtype):
        got = kconv.conv_forward(x, w, stride, dilation, groups, algorithm=name)
        _close(got, naive.conv(x64, w64, stride, dilation, groups), dtype, f"{name} forward")
        ran += 1
    if _supported(name, case, "backward_input", dtype):
        got = kconv.conv_backward_input(g, w, x.shape[2:], stride, dilation, groups, algorithm=name)
        _close(got, naive.conv_transpose(g64, w64, stride, dilation, groups, x.shape[2:]), dtype,
               f"{name} backward_input")
        ran += 1
    if _supported(name, case, "backward_weight", dtype):
        got = kconv.conv_backward_weight(x, g, w.shape[2:], stride, dilation, groups, algorithm=name)
        _close(got, naive.conv_weight_grad(x64, g64, w.shape[2:], stride, dilation, groups), dtype,
               f"{name} backward_weight")
        ran += 1
    return ran


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", NAMES)
def test_forced_algorithm_matches_the_naive_loops(name, dtype):
    if not _runs_on(name, dtype):
        pytest.skip(f"{name} does not run {np.dtype(dtype).name} here")
    ran = sum(_check_all_ops(name, case, dtype) for case in CASES)
    assert ran >= 2, f"{name} ran on no fixed case"  # every algorithm must be exercised here


@pytest.mark.parametrize("name", NAMES)
def test_forced_algorithm_is_adjoint(name):
    # <conv(x, w), u> = <x, backward_input(u)> = <w, backward_weight(x, u)> for whatever runs each op
    rng = np.random.default_rng(1)
    for case in CASES:
        x, w, u = _data(case, np.float64, seed=2)
        _, _, stride, dilation, groups = case
        y = naive.conv(x, w, stride, dilation, groups)
        lhs = np.sum(y * u)
        if _supported(name, case, "backward_input"):
            back = kconv.conv_backward_input(u, w, x.shape[2:], stride, dilation, groups, algorithm=name)
            assert np.isclose(lhs, np.sum(x * back), rtol=1e-10), (name, case)
        if _supported(name, case, "backward_weight"):
            gw = kconv.conv_backward_weight(x, u, w.shape[2:], stride, dilation, groups, algorithm=name)
            assert np.isclose(lhs, np.sum(w * gw), rtol=1e-10), (name, case)
        if _supported(name, case, "forward"):
            v = rng.standard_normal(x.shape)
            fwd = kconv.conv_forward(v, w, stride, dilation, groups, algorithm=name)
            assert np.isclose(np.sum(fwd * u), np.sum(v * naive.conv_transpose(u, w, stride, dilation, groups,
                                                                                 x.shape[2:])), rtol=1e-10)


@st.composite
def geometry(draw):
    rank = draw(st.integers(1, 2))
    groups = draw(st.integers(1, 2))
    cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(rank))
    if draw(st.booleans()):  # often the geometries winograd and fft need
        kernel, stride, dilation = (3,) * rank, (1,) * rank, (1,) * rank
    sizes = tuple(d * (k - 1) + 1 + draw(st.integers(0, 6)) for k, d in zip(kernel, dilation))
    batch = draw(st.integers(1, 2))
    return (batch, groups * cg) + sizes, (groups * og, cg) + kernel, stride, dilation, groups


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=geometry(), dtype=st.sampled_from([np.float64, np.float32]))
def test_every_supported_algorithm_on_drawn_geometries(case, dtype):
    for name in NAMES:
        _check_all_ops(name, case, dtype)


# an empty batch, no input channels, no output channels: (x shape, weight shape, groups)
EMPTY = [((0, 4, 9, 10), (6, 2, 3, 3), 2), ((2, 0, 9, 10), (6, 0, 3, 3), 1), ((2, 4, 9, 10), (0, 4, 3, 3), 1),
         ((0, 4, 9, 10), (4, 1, 3, 3), 4)]


@pytest.mark.parametrize("x_shape, w_shape, groups", EMPTY, ids=["batch", "in-channels", "out-channels", "depthwise"])
def test_empty_calls_are_planned_without_kernels_and_return_zeros(x_shape, w_shape, groups):
    # PyTorch returns an empty (or all-zero) result here; the cost models divided by zero
    stride, dilation = (2, 1), (1, 2)
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    out_shape = (x_shape[0], w_shape[0], 4, 6)  # ((9 - 3) // 2 + 1, (10 - 5) // 1 + 1)
    g = rng.standard_normal(out_shape)
    geometry = planner.ConvGeometry.of(x_shape, w_shape, stride, dilation, groups, 8)
    for op in planner.OPS:
        estimates = planner.plan(op, geometry).estimates
        assert estimates and all(estimates[name] == planner.OVERHEAD[name] for name in estimates)
    for got, shape in [(kconv.conv_forward(x, w, stride, dilation, groups), out_shape),
                       (kconv.conv_backward_input(g, w, x_shape[2:], stride, dilation, groups, pads=((1, 0), (0, 2))),
                        x_shape),
                       (kconv.conv_backward_weight(x, g, w_shape[2:], stride, dilation, groups), w_shape)]:
        assert got.shape == shape and got.dtype == np.float64 and not got.any()


def test_planner_choices_follow_the_geometry():
    def choice(op, x, w, stride=(1, 1), dilation=(1, 1), groups=1):
        return planner.plan(op, planner.ConvGeometry.of(x, w, stride, dilation, groups, 4)).algorithm

    assert choice("forward", (32, 128, 28, 28), (256, 128, 1, 1)) == "pointwise"
    assert choice("forward", (32, 128, 58, 58), (128, 1, 3, 3), groups=128) == "depthwise"
    assert choice("backward_weight", (32, 128, 58, 58), (128, 1, 3, 3), groups=128) == "depthwise"
    assert choice("forward", (8, 128, 86, 86), (128, 1, 31, 31), groups=128) == "fft"
    # a 4x4 stride-2 transposed conv is conv's backward_input: its four 2x2 phase convs (one GEMM)
    # measured 1.07-1.15x im2col's time at batch 32 and 1.2-1.55x at batch 1 on the AVX-512 machine
    assert choice("backward_input", (32, 64, 58, 58), (128, 64, 4, 4), stride=(2, 2)) == "im2col"
    assert choice("backward_input", (1, 64, 58, 58), (128, 64, 4, 4), stride=(2, 2)) == "im2col"
    # a 2x2 stride-2 one: its phases fused with their interleave (im2col scatters through memory)
    assert choice("backward_input", (32, 64, 56, 56), (128, 64, 2, 2), stride=(2, 2)) == "subpixel"
    # a 3x3 stride-2 conv's input gradient (a ResNet downsampling, a decoder's transposed conv): four
    # phase convs (2x2, 2x1, 1x2, 1x1 kernels), each with its gather, copy and hand-offs, measured
    # 1.8-5x im2col's time (64->128 @56 batch 32: 74 against 41 ms; 64->32 @7: 4.5 against 1.35)
    assert choice("backward_input", (32, 64, 57, 57), (128, 64, 3, 3), stride=(2, 2)) == "im2col"
    assert choice("backward_input", (32, 32, 15, 15), (64, 32, 3, 3), stride=(2, 2)) == "im2col"
    # dilated 3x3: Winograd on the dilation^2 polyphase sub-images (fft cannot dilate)
    assert choice("forward", (32, 64, 60, 60), (64, 64, 3, 3), dilation=(2, 2)) == "winograd_f4"
    # the input gradient of a 2x2 stride-2 transposed conv 128 -> 64 at 28 px is this strided forward:
    # direct's tiles ran it in 0.34-0.40 ms against im2col's 0.46-0.51 at batch 1 (cost.DIRECT_STRIDED)
    if microkernel.available():
        assert choice("forward", (1, 64, 56, 56), (128, 64, 2, 2), stride=(2, 2)) == "direct"
        assert choice("forward", (32, 64, 56, 56), (128, 64, 2, 2), stride=(2, 2)) == "direct"


@pytest.mark.skipif(not microkernel.available(), reason="direct's tiles need Numba's JIT and AVX2 or AVX-512")
def test_only_strided_forwards_take_the_direct_stride_factor(monkeypatch):
    def costs(op, x, w, stride):
        return cost.direct_cost(op, planner.ConvGeometry.of(x, w, stride, (1, 1), 1, 4), 2)

    cases = [("forward", (1, 64, 56, 56), (128, 64, 2, 2), (2, 2)),
             ("forward", (1, 64, 58, 58), (64, 64, 3, 3), (1, 1)),
             ("backward_weight", (1, 64, 56, 56), (128, 64, 2, 2), (2, 2))]
    before = [costs(*case) for case in cases]
    monkeypatch.setattr(cost, "DIRECT_STRIDED", 0.5 * cost.DIRECT_STRIDED)
    after = [costs(*case) for case in cases]
    assert after[0] == pytest.approx(0.5 * before[0], rel=1e-12)
    assert after[1:] == before[1:]


def test_choose_names_the_algorithm_plan_picks():
    # choose() is the per-call path (no Plan built): same answer under the cost model, forcing,
    # a measured choice, and another workspace limit (the estimates are cached per limit)
    geometries = [planner.ConvGeometry.of(x, w, s, (1, 1), g, 4) for x, w, s, g in [
        ((32, 128, 28, 28), (256, 128, 1, 1), (1, 1), 1), ((1, 64, 58, 58), (64, 64, 3, 3), (1, 1), 1),
        ((2, 8, 30, 30), (8, 1, 3, 3), (2, 2), 8), ((64, 6, 14, 14), (16, 6, 5, 5), (1, 1), 1)]]
    assert planner.ConvGeometry.of((1, 64, 58, 58), [64, 64, 3, 3], [1, 1], (1, 1), 1, 4) is geometries[1]
    for geometry in geometries:
        for op in planner.OPS:
            assert planner.choose(op, geometry) == planner.plan(op, geometry).algorithm
            assert planner.choose(op, geometry, "im2col") == "im2col"
            with planner.use_algorithm("im2col"):
                assert planner.choose(op, geometry) == "im2col"
            with workspace.limited(1 << 16):
                assert planner.choose(op, geometry) == planner.plan(op, geometry).algorithm
    key = ("forward", geometries[1], planner.threads())
    try:
        planner._autotune_cache[key] = {"im2col": 2.0, "fft": 1.0}
        assert planner.choose("forward", geometries[1]) == planner.plan("forward", geometries[1]).algorithm == "fft"
    finally:
        planner.clear_autotune_cache()
    with pytest.raises(ValueError, match="cannot run"):
        planner.choose("forward", geometries[2], "fft")


def test_reads_padding_follows_the_forward_choice_cached_or_not():
    # the cost model's answer is cached per call shape; forcing and measured choices bypass the cache
    pads = ((1, 1), (1, 1))
    calls = [((1, 8, 12, 12), (8, 1, 3, 3), 8), ((1, 8, 12, 12), (8, 8, 3, 3), 1), ((2, 3, 9, 9), (4, 3, 5, 5), 1)]
    for x_shape, w_shape, groups in calls:
        geometry = planner.ConvGeometry.of(x_shape[:2] + (14, 14), w_shape, (1, 1), (1, 1), groups, 4)
        wanted = planner.ALGORITHMS[planner.plan("forward", geometry).algorithm].pads_inside
        for _ in range(2):
            assert planner.reads_padding(x_shape, w_shape, pads, (1, 1), (1, 1), groups, 4) == wanted
        assert planner.reads_padding(x_shape, w_shape, [[1, 1], [1, 1]], [1, 1], [1, 1], groups, 4) == wanted
        assert not planner.reads_padding(x_shape, w_shape, ((0, 0), (0, 0)), (1, 1), (1, 1), groups, 4)
        with planner.use_algorithm("fft"):
            assert not planner.reads_padding(x_shape, w_shape, pads, (1, 1), (1, 1), groups, 4)
        assert planner.reads_padding(x_shape, w_shape, pads, (1, 1), (1, 1), groups, 4, "im2col")
    dense = calls[1]
    # the geometry of the call: padded input, and the input's own size (inner)
    geometry = planner.ConvGeometry.of((1, 8, 14, 14), dense[1], (1, 1), (1, 1), 1, 4, inner=(12, 12))
    try:
        for fastest, inside in (("fft", False), ("im2col", True)):
            planner.clear_autotune_cache()
            planner.remember("forward", geometry, {"im2col": 2.0, "fft": 3.0} if fastest == "im2col" else
                             {"im2col": 2.0, "fft": 1.0})
            assert planner.reads_padding(dense[0], dense[1], pads, (1, 1), (1, 1), 1, 4) == inside
    finally:
        planner.clear_autotune_cache()


def test_the_dispatch_cache_follows_forcing_autotune_recording_and_the_limit(monkeypatch):
    # a call's algorithm is cached per (op, threads, limit, shapes) only while the cost model alone
    # chooses: a forced algorithm, autotune's measured choices and explain's recording still decide
    monkeypatch.setattr(kconv, "_dispatch", CallCache())
    ran = []
    for name, alg in planner.ALGORITHMS.items():
        if "forward" in alg.ops:
            def spy(*args, _name=name, _kernel=alg.ops["forward"], **kwargs):
                ran.append(_name)
                return _kernel(*args, **kwargs)
            monkeypatch.setitem(alg.ops, "forward", spy)
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((1, 4, 9, 9)), rng.standard_normal((4, 4, 3, 3))
    want = naive.conv(x, w, (1, 1), (1, 1), 1)
    geometry = planner.ConvGeometry.of(x.shape, w.shape, (1, 1), (1, 1), 1, 8, inner=x.shape[2:])
    chosen = planner.choose("forward", geometry)
    for _ in range(2):
        np.testing.assert_allclose(kconv.conv_forward(x, w, (1, 1), (1, 1), 1), want, rtol=1e-10, atol=1e-12)
    assert ran == [chosen] * 2 and len(kconv._dispatch) == 1
    other = "fft" if chosen != "fft" else "im2col"
    with planner.use_algorithm(other):
        kconv.conv_forward(x, w, (1, 1), (1, 1), 1)
    kconv.conv_forward(x, w, (1, 1), (1, 1), 1, algorithm=other)
    try:
        planner.remember("forward", geometry, {chosen: 2.0, other: 1.0})
        kconv.conv_forward(x, w, (1, 1), (1, 1), 1)
    finally:
        planner.clear_autotune_cache()
    assert ran[2:] == [other] * 3
    with planner.record() as log:
        kconv.conv_forward(x, w, (1, 1), (1, 1), 1)
    assert len(log) == 1 and ran[-1] == chosen
    with workspace.limited(1 << 12):  # another limit is another entry
        kconv.conv_forward(x, w, (1, 1), (1, 1), 1)
    assert len(kconv._dispatch) == 2
    kconv.conv_forward(x, w, [1, 1], (1, 1), 1)  # unhashable arguments plan without the cache
    assert len(kconv._dispatch) == 2 and ran[-1] == chosen


def test_both_gradients_take_one_joint_call_where_both_ops_choose_an_algorithm_that_has_one(monkeypatch):
    # conv_backward: the depthwise "backward" op (both gradients in one pass) when the cost model or a
    # forced algorithm gives depthwise to both gradient ops; the two entry points apart under explain's
    # recording, under autotune, and where the ops choose other algorithms
    monkeypatch.setattr(kconv, "_dispatch", CallCache())
    joint, calls = planner.ALGORITHMS["depthwise"].ops["backward"], []

    def spy(*args, **kwargs):
        calls.append(args)
        return joint(*args, **kwargs)
    monkeypatch.setitem(planner.ALGORITHMS["depthwise"].ops, "backward", spy)
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((2, 4, 9, 50)), rng.standard_normal((4, 1, 3, 3))
    g = rng.standard_normal((2, 4, 9, 50))
    pads = ((1, 1), (1, 1))
    args = ((1, 1), (1, 1), 4)
    apart = (kconv.conv_backward_input(g, w, x.shape[2:], *args, pads=pads),
             kconv.conv_backward_weight(x, g, (3, 3), *args, pads=pads))
    xp = naive.pad(x, pads)
    np.testing.assert_allclose(apart[1], naive.conv_weight_grad(xp, g, (3, 3), *args), rtol=1e-10)

    def both(exact=True, **kwargs):
        got = kconv.conv_backward(x, g, w, *args, pads=pads, **kwargs)
        for a, b in zip(got, apart):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
            if exact:
                np.testing.assert_array_equal(a, b)
    both()
    both()  # from the dispatch cache
    both(algorithm="depthwise")
    assert len(calls) == 3
    with planner.record() as log:
        both()
    assert len(calls) == 3 and len(log) == 2  # each gradient op noted as it runs
    with planner.autotune():  # the fastest of each op, timed apart (the others sum in other orders)
        both(exact=False)
    planner.clear_autotune_cache()
    both(exact=False, algorithm="im2col")
    assert len(calls) == 3
    # a dense conv has no joint op; empty operands return zeros
    wd = rng.standard_normal((3, 4, 3, 3))
    gx, gw = kconv.conv_backward(x, g[:, :3], wd, (1, 1), (1, 1), 1, pads=pads)
    np.testing.assert_allclose(gw, naive.conv_weight_grad(xp, g[:, :3], (3, 3), (1, 1), (1, 1), 1), rtol=1e-10)
    np.testing.assert_allclose(gx, naive.pad_adjoint(naive.conv_transpose(g[:, :3], wd, (1, 1), (1, 1), 1,
                                                                          xp.shape[2:]), pads), rtol=1e-10)
    gx, gw = kconv.conv_backward(x[:0], g[:0], w, *args, pads=pads)
    assert gx.shape == (0, 4, 9, 50) and gw.shape == w.shape and not gw.any()


def test_forcing_an_algorithm_that_cannot_run_names_it_and_the_reason():
    geometry = planner.ConvGeometry.of((1, 4, 9, 9), (4, 4, 3, 3), (2, 2), (1, 1), 1, 8)
    with pytest.raises(ValueError, match=r"algorithm 'fft' cannot run .*stride 1"):
        planner.plan("forward", geometry, "fft")
    with pytest.raises(ValueError, match=r"algorithm must be one of .*received 'gemm'"):
        planner.check_name("gemm")
    # an algorithm that does not implement the op leaves it to the planner
    assert planner.plan("forward", geometry, "subpixel").reason == "cost model"


def test_use_algorithm_forces_and_restores():
    geometry = planner.ConvGeometry.of((1, 4, 9, 9), (4, 4, 3, 3), (1, 1), (1, 1), 1, 8)
    with planner.use_algorithm("fft"):
        plan = planner.plan("forward", geometry)
        assert (plan.algorithm, plan.reason) == ("fft", "forced")
    assert planner.forced() is None
    with pytest.raises(ValueError):
        with planner.use_algorithm("nope"):
            pass


def test_autotune_measures_once_and_caches_the_fastest():
    planner.clear_autotune_cache()
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 2, 8, 8)), rng.standard_normal((2, 2, 3, 3))
    with planner.autotune():
        out = kconv.conv_forward(x, w, (1, 1), (1, 1), 1)
    np.testing.assert_allclose(out, naive.conv(x, w, (1, 1), (1, 1), 1), rtol=1e-10, atol=1e-12)
    (key, timings), = planner.autotune_cache().items()
    assert key[0] == "forward" and set(timings) == {"im2col", "fft", "winograd_f2", "winograd_f4"}
    plan = planner.plan("forward", key[1])
    assert plan.reason == "measured" and plan.algorithm == min(timings, key=timings.get)
    planner.clear_autotune_cache()
    assert planner.plan("forward", key[1]).reason == "cost model"


# zero padding handed to the kernels (pads=): depthwise reads it in place, the others get it
# materialised around the call. (x shape, weight shape, stride, dilation, groups, pads)
PADDED_CASES = [
    ((2, 3, 7, 6), (3, 1, 3, 3), (1, 1), (1, 1), 3, ((1, 1), (1, 1))),      # depthwise 3x3 'same'
    ((2, 3, 8, 7), (6, 1, 3, 3), (2, 2), (1, 1), 3, ((0, 1), (1, 1))),      # multiplier 2, s2, odd pixel at the end
    ((1, 2, 5, 6), (2, 1, 3, 2), (1, 1), (2, 1), 2, ((5, 0), (0, 4))),      # padding wider than the kernel
    ((1, 2, 2, 3), (2, 1, 3, 3), (1, 3), (1, 1), 2, ((2, 2), (3, 1))),      # more padding than input
    ((1, 2, 9), (2, 1, 4), (2,), (2,), 2, ((3, 2),)),                        # 1-D
    ((2, 4, 11), (6, 2, 5), (1,), (1,), 2, ((2, 2),)),                       # 1-D grouped 'same': winograd1d
    ((1, 3, 3), (2, 3, 4), (1,), (1,), 1, ((5, 4),)),                        # 1-D, more padding than input
    ((2, 4, 6, 5), (4, 2, 3, 1), (1, 1), (1, 1), 2, ((2, 1), (1, 2))),      # 3x1 padded across too: winograd1d
    ((2, 4, 5, 6), (4, 2, 1, 3), (1, 1), (1, 1), 2, ((1, 2), (2, 1))),      # 1x3 padded across too: winograd1d
    ((1, 2, 4, 5, 3), (2, 1, 2, 3, 2), (1, 2, 1), (1, 1, 2), 2, ((1, 0), (2, 1), (1, 2))),  # 3-D
    ((2, 4, 6, 7), (4, 2, 3, 3), (1, 1), (1, 1), 2, ((1, 1), (1, 1))),      # grouped: winograd, fft, im2col
    ((1, 4, 5, 6), (6, 4, 1, 1), (2, 1), (1, 1), 1, ((1, 0), (2, 2))),      # 1x1 on a padded input
    ((2, 3, 6, 7), (4, 3, 5, 5), (1, 1), (1, 1), 1, ((2, 2), (2, 2))),      # 5x5 'same': winograd2d
    ((2, 3, 9, 8), (4, 3, 4, 4), (2, 2), (1, 1), 1, ((1, 2), (1, 1))),      # 4x4 stride 2: winograd2d's phases
]


def _check_padded(name, case, dtype):
    x_shape, w_shape, stride, dilation, groups, pads = case
    padded = tuple(n + b + a for n, (b, a) in zip(x_shape[2:], pads))
    geometry_case = (x_shape[:2] + padded, w_shape, stride, dilation, groups)
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    xp64 = naive.pad(x.astype(np.float64), pads)
    g = rng.standard_normal(naive.conv(xp64, w, stride, dilation, groups).shape).astype(dtype)
    w64, g64 = w.astype(np.float64), g.astype(np.float64)
    ran = 0
    if _supported(name, geometry_case, "forward", dtype):
        got = kconv.conv_forward(x, w, stride, dilation, groups, algorithm=name, pads=pads)
        _close(got, naive.conv(xp64, w64, stride, dilation, groups), dtype, f"{name} padded forward")
        ran += 1
    if _supported(name, geometry_case, "backward_input", dtype):
        got = kconv.conv_backward_input(g, w, x_shape[2:], stride, dilation, groups, algorithm=name, pads=pads)
        want = naive.pad_adjoint(naive.conv_transpose(g64, w64, stride, dilation, groups, padded), pads)
        _close(got, want, dtype, f"{name} padded backward_input")
        ran += 1
    if _supported(name, geometry_case, "backward_weight", dtype):
        got = kconv.conv_backward_weight(x, g, w.shape[2:], stride, dilation, groups, algorithm=name, pads=pads)
        _close(got, naive.conv_weight_grad(xp64, g64, w.shape[2:], stride, dilation, groups), dtype,
               f"{name} padded backward_weight")
        ran += 1
    return ran


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", NAMES)
def test_forced_algorithm_with_zero_pads_matches_the_naive_loops(name, dtype):
    if not _runs_on(name, dtype):
        pytest.skip(f"{name} does not run {np.dtype(dtype).name} here")
    ran = sum(_check_padded(name, case, dtype) for case in PADDED_CASES)
    assert ran >= 1, f"{name} ran on no padded case"


@st.composite
def padded_depthwise(draw):
    rank = draw(st.integers(1, 3))
    channels, multiplier = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(rank))
    pads = tuple((draw(st.integers(0, 4)), draw(st.integers(0, 4))) for _ in range(rank))
    # the padded input holds at least one window; the input itself may be smaller than the kernel
    sizes = tuple(max(1, d * (k - 1) + 1 - b - a + draw(st.integers(0, 5)))
                  for k, d, (b, a) in zip(kernel, dilation, pads))
    return ((draw(st.integers(1, 2)), channels) + sizes, (channels * multiplier, 1) + kernel, stride, dilation,
            channels, pads)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=padded_depthwise(), dtype=st.sampled_from([np.float64, np.float32]))
def test_depthwise_reads_zero_padding_in_place_on_drawn_geometries(case, dtype):
    assert _check_padded("depthwise", case, dtype) == 3


def test_fft_runs_on_numpys_fft_without_scipy(monkeypatch):
    # SciPy is a test dependency only: without it fft.py falls back to np.fft, which takes neither
    # workers= nor overwrite_x=
    from convzoo.kernels import fft
    monkeypatch.setattr(fft, "_fft", np.fft)
    monkeypatch.setattr(fft, "_THREADS", {})
    monkeypatch.setattr(fft, "_IN_PLACE", {})
    ran = sum(_check_all_ops("fft", case, np.float32) for case in CASES)
    assert ran >= 9


def test_pointwise_pays_the_side_by_side_copies_of_small_planes_only(monkeypatch):
    def estimate(op, x, w):
        return cost.pointwise_cost(op, planner.ConvGeometry.of(x, w, (1, 1), (1, 1), 1, 4), 2)

    cases = [("forward", (32, 64, 7, 7), (64, 64, 1, 1)), ("backward_input", (32, 64, 7, 7), (64, 64, 1, 1)),
             ("forward", (1, 64, 7, 7), (64, 64, 1, 1)), ("forward", (32, 128, 28, 28), (256, 128, 1, 1)),
             ("backward_weight", (32, 64, 7, 7), (64, 64, 1, 1))]
    with_copies = [estimate(*case) for case in cases]
    monkeypatch.setattr(cost, "SIDE_BY_SIDE_RATE", math.inf)
    without = [estimate(*case) for case in cases]
    assert with_copies[0] > without[0] and with_copies[1] > without[1]  # 49 positions: side by side
    assert with_copies[2:] == without[2:]  # one image; 784 positions and 51 MFLOP an image; the weight gradient


@pytest.mark.skipif(not microkernel.available(), reason="direct's tiles need Numba's JIT and AVX2 or AVX-512")
def test_direct_pays_the_1x1_factor_only_where_pointwise_reads_in_place(monkeypatch):
    def estimate(x):
        return cost.direct_cost("forward", planner.ConvGeometry.of(x, (64, 64, 1, 1), (1, 1), (1, 1), 1, 4), 2)

    small, large = (32, 64, 7, 7), (32, 64, 56, 56)  # images side by side; each image in place
    before = estimate(small), estimate(large)
    monkeypatch.setattr(cost, "DIRECT_POINTWISE", 2 * cost.DIRECT_POINTWISE)
    assert estimate(small) == before[0]
    assert estimate(large) == pytest.approx(2 * before[1], rel=1e-12)
