"""The direct algorithm's register tiles (kernels/direct.py, kernels/microkernel.py) against the naive loops.

All three ops (the weight gradient on tiles of a kernel row's taps at any stride, or on reduction tiles
over runs of positions). The tiles run float32 only and need the JIT and a vector unit they know
(AVX-512, or AVX2 with FMA); elsewhere (the suite's NUMBA_DISABLE_JIT pass) the planner reports them
unsupported, which is tested here too. The drawn geometries cover every channel tile shape (4, 7, 8 and 16
positions; one or two vectors of output channels, several blocks of them) and position tiles (1 and 5
output channels), rows that end inside a tile, output channels that end inside a vector, strides,
dilations and zero padding wider than the kernel; forced tiles cover the shapes the choice rarely makes.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import convzoo.nn.functional as F
from convzoo import tensor
from convzoo.kernels import conv as kconv
from convzoo.kernels import direct, microkernel, planner, workspace
from tests import naive
from tests.windows import padded_2d

needs_tiles = pytest.mark.skipif(not microkernel.available(), reason="no JIT or no AVX-512 / AVX2+FMA here")
RTOL = 2e-5  # float32 against the float64 loops, relative to the largest output


def _close(got, want, what):
    assert got.shape == want.shape and got.dtype == np.float32, (what, got.shape, want.shape, got.dtype)
    scale = max(np.abs(want).max(initial=0.0), 1e-30)
    err = np.abs(got.astype(np.float64) - want).max(initial=0.0)
    assert err <= RTOL * scale, f"{what}: max error {err:.3g} relative to {scale:.3g}"


def _check(x_shape, w_shape, stride, dilation, pads, unread=(0, 0), seed=0):
    # unread: pixels past the last window that the input gradient still covers (conv_transpose's
    # output_padding)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    xp = naive.pad(x.astype(np.float64), pads)
    want = naive.conv(xp, w.astype(np.float64), stride, dilation, 1)
    got = kconv.conv_forward(x, w, stride, dilation, 1, algorithm="direct", pads=pads)
    _close(got, want, f"forward {x_shape} {w_shape} stride {stride} dilation {dilation} pads {pads}")
    g = rng.standard_normal(want.shape).astype(np.float32)
    got = kconv.conv_backward_weight(x, g, w_shape[2:], stride, dilation, 1, algorithm="direct", pads=pads)
    _close(got, naive.conv_weight_grad(xp, g.astype(np.float64), w_shape[2:], stride, dilation, 1),
           f"backward_weight {x_shape} {w_shape} stride {stride} dilation {dilation} pads {pads}")
    if all(s == 1 for s in stride):
        in_shape = tuple(n + u for n, u in zip(x_shape[2:], unread))
        got = kconv.conv_backward_input(g, w, in_shape, stride, dilation, 1, algorithm="direct", pads=pads)
        padded = tuple(n + u for n, u in zip(xp.shape[2:], unread))
        ref = naive.pad_adjoint(naive.conv_transpose(g.astype(np.float64), w.astype(np.float64), stride, dilation,
                                                     1, padded), pads)
        _close(got, ref, f"backward_input {x_shape} {w_shape} dilation {dilation} pads {pads}")


@needs_tiles
@pytest.mark.parametrize("case", [
    ((2, 6, 14, 14), (16, 6, 5, 5), (1, 1), (1, 1), ((0, 0), (0, 0))),    # LeNet-5's second conv
    ((1, 3, 23, 24), (32, 3, 3, 3), (2, 2), (1, 1), ((1, 1), (1, 1))),    # a stem: two vectors of channels
    ((2, 5, 9, 11), (37, 5, 3, 2), (1, 1), (2, 1), ((1, 2), (0, 3))),     # three blocks, the last one short
    ((1, 4, 7, 40), (3, 4, 1, 1), (1, 3), (1, 1), ((0, 0), (2, 1))),      # 1x1, stride 3 across
    ((1, 2, 5, 37), (20, 2, 2, 3), (1, 1), (1, 1), ((3, 1), (0, 0))),     # 16-position tiles with a tail
    ((1, 1, 1, 3), (2, 1, 1, 2), (1, 1), (1, 2), ((0, 0), (0, 0)), (0, 1)),  # a column no window reads
    ((2, 3, 6, 9), (16, 3, 3, 3), (1, 1), (2, 3), ((1, 0), (2, 1)), (1, 2)),  # the same, padded, both axes
    ((1, 2, 4, 40), (3, 2, 3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))),      # position tiles of three vectors
    ((2, 16, 10, 10), (6, 16, 5, 5), (1, 1), (1, 1), ((4, 4), (4, 4))),   # LeNet-5's input gradient's product
    ((1, 3, 5, 21), (12, 3, 2, 3), (1, 1), (3, 1), ((6, 5), (0, 0))),     # rows that read only padding
    ((1, 3, 9, 13), (40, 3, 3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))),     # 7-position tiles, the last of 6
    ((2, 4, 6, 28), (32, 4, 5, 5), (1, 1), (1, 1), ((2, 2), (2, 2))),     # 7 positions; 7 taps for a row of 5
])
def test_direct_matches_the_naive_loops(case):
    _check(*case)


@st.composite
def geometry(draw):
    sizes, kernel, stride, dilation, pads = padded_2d(draw, 5, 20)
    channels = draw(st.integers(1, 5))
    out_channels = draw(st.sampled_from([1, 5, 16, 17, 32, 40]))
    unread = tuple(draw(st.integers(0, d - 1)) for d in dilation)
    return ((draw(st.integers(1, 3)), channels) + sizes, (out_channels, channels) + kernel, stride, dilation, pads,
            unread)


@needs_tiles
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=geometry())
def test_direct_on_drawn_geometries(case):
    _check(*case)


@needs_tiles
def test_direct_is_adjoint_in_float32():
    # <conv(x, w), u> = <x, backward_input(u)>, both through the tiles
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 7, 12, 19)).astype(np.float32)
    w = rng.standard_normal((18, 7, 3, 4)).astype(np.float32)
    pads = ((1, 2), (2, 1))
    y = kconv.conv_forward(x, w, (1, 1), (2, 1), 1, algorithm="direct", pads=pads)
    u = rng.standard_normal(y.shape).astype(np.float32)
    back = kconv.conv_backward_input(u, w, x.shape[2:], (1, 1), (2, 1), 1, algorithm="direct", pads=pads)
    lhs, rhs = np.sum(y.astype(np.float64) * u), np.sum(x.astype(np.float64) * back)
    assert abs(lhs - rhs) <= 1e-4 * np.sqrt(np.sum(y.astype(np.float64) ** 2) * np.sum(u.astype(np.float64) ** 2))


@needs_tiles
def test_a_forced_strided_direct_conv_trains_with_the_other_algorithms_gradients():
    rng = np.random.default_rng(5)
    x = tensor(rng.standard_normal((2, 3, 11, 12)).astype(np.float32), requires_grad=True)
    w = tensor(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), requires_grad=True)
    out = F.conv2d(x, w, stride=2, padding=1, algorithm="direct")
    u = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(u)
    x64, w64, u64 = (a.astype(np.float64) for a in (x.numpy(), w.numpy(), u))
    xp = naive.pad(x64, ((1, 1), (1, 1)))
    _close(out.numpy(), naive.conv(xp, w64, (2, 2), (1, 1), 1), "forward")
    _close(x.grad.numpy(), naive.pad_adjoint(naive.conv_transpose(u64, w64, (2, 2), (1, 1), 1, xp.shape[2:]),
                                            ((1, 1), (1, 1))), "grad input")
    _close(w.grad.numpy(), naive.conv_weight_grad(xp, u64, (3, 3), (2, 2), (1, 1), 1), "grad weight")


def test_direct_names_what_it_cannot_run():
    g = planner.ConvGeometry.of((2, 3, 10, 10), (4, 3, 3, 3), (2, 2), (1, 1), 1, 4)
    assert "direct" not in planner.plan("backward_input", g).estimates
    why = planner.plan("backward_input", g).unsupported["direct"]
    assert "stride 1" in why if microkernel.available() else "AVX" in why
    assert "float32" in planner.plan("forward", planner.ConvGeometry.of(
        (2, 3, 10, 10), (4, 3, 3, 3), (1, 1), (1, 1), 1, 8)).unsupported["direct"] or not microkernel.available()
    assert "groups 1" in direct.requirement(planner.ConvGeometry.of(
        (2, 4, 10, 10), (4, 2, 3, 3), (1, 1), (1, 1), 2, 4)) or not microkernel.available()
    if microkernel.available():
        # forced, a strided input gradient is planned as usual (as an op the algorithm does not implement)
        assert planner.plan("backward_input", g, "direct").reason == "cost model"
    with pytest.raises(ValueError, match="direct"):
        kconv.conv_forward(np.ones((1, 4, 6, 6)), np.ones((4, 2, 3, 3)), (1, 1), (1, 1), 2, algorithm="direct")


@needs_tiles
def test_the_planner_gives_the_starved_products_to_the_tiles():
    # LeNet-5's 6 -> 16 conv and a 3-channel stem: few output channels or a short reduction
    for x_shape, w_shape, stride in (((64, 6, 14, 14), (16, 6, 5, 5), (1, 1)),
                                     ((32, 3, 226, 226), (32, 3, 3, 3), (2, 2))):
        g = planner.ConvGeometry.of(x_shape, w_shape, stride, (1, 1), 1, 4)
        assert planner.plan("forward", g).algorithm == "direct"
    # and LeNet-5's weight gradient (0.35 against im2col's 0.50-0.55 ms at batch 64)
    g = planner.ConvGeometry.of((64, 6, 14, 14), (16, 6, 5, 5), (1, 1), (1, 1), 1, 4)
    assert planner.plan("backward_weight", g).algorithm == "direct"
    # a 64 -> 64 3x3 conv keeps Winograd
    g = planner.ConvGeometry.of((32, 64, 58, 58), (64, 64, 3, 3), (1, 1), (1, 1), 1, 4)
    assert planner.plan("forward", g).algorithm.startswith("winograd")


@needs_tiles
def test_weight_gradient_chunks_and_blocks_sum_in_order_within_float32():
    # more positions than a tile sums in one run (direct.WEIGHT_BLOCK), and a workspace limit that cuts
    # the batch into chunks of one or two images: the same sums to float32 rounding, and LeNet-5's
    # gradient within a few times im2col's error (a run over all 6400 positions had been 6x it)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((64, 6, 14, 14)).astype(np.float32)
    g = rng.standard_normal((64, 16, 10, 10)).astype(np.float32)
    want = naive.conv_weight_grad(x.astype(np.float64), g.astype(np.float64), (5, 5), (1, 1), (1, 1), 1)
    scale = np.abs(want).max()
    whole = direct.direct_backward_weight(x, g, (5, 5), (1, 1), (1, 1), 1)
    im2col = kconv.conv_backward_weight(x, g, (5, 5), (1, 1), (1, 1), 1, algorithm="im2col")
    assert np.abs(whole - want).max() <= 3 * max(np.abs(im2col - want).max(), 1e-7 * scale)
    per_image = 4 * (6 * 14 * 14 + 10 * 10 * 16)
    for limit in (per_image, 2 * per_image + 1):
        with workspace.limited(limit):
            chunked = direct.direct_backward_weight(x, g, (5, 5), (1, 1), (1, 1), 1)
        assert np.abs(chunked - want).max() <= RTOL * scale


@needs_tiles
@pytest.mark.parametrize("shape", [(1, 3), (2, 3), (1, 1), (4, 2)])
def test_position_tiles_of_every_shape_and_several_channel_blocks(monkeypatch, shape):
    # tiles of np vectors of positions by mc channels, forced: 7 output channels in blocks of mc, the last
    # one short, rows of 37 positions (a tail in the last vector)
    kind, _, extra = direct.tiles(7, 37, 1)
    monkeypatch.setattr(direct, "tiles", lambda *args: ("positions", shape, extra))
    _check((2, 3, 6, 37), (7, 3, 3, 2), (1, 1), (1, 2), ((2, 1), (1, 0)))


@needs_tiles
@pytest.mark.parametrize("kind, shape", [("reduce", (5, 3)), ("reduce", (2, 4)), ("reduce", (1, 1)),
                                         ("channels", (4, 1)), ("channels", (8, 2))])
def test_weight_gradient_tiles_of_every_kind(monkeypatch, kind, shape):
    # forced: reduction tiles whose taps end past the kernel row (5 or 2 of 3) and whose channel blocks end
    # past the 7 channels (the gradient copied, padded), at strides 1 and 2 down the rows; channel tiles
    monkeypatch.setattr(direct, "weight_tiles", lambda *args: (kind, shape, 1.0))
    _check((2, 3, 9, 37), (7, 3, 2, 3), (1, 1), (1, 2), ((2, 1), (1, 0)))
    _check((2, 3, 9, 21), (7, 3, 3, 3), (2, 1), (2, 1), ((1, 1), (0, 2)))
    # a k x 1 kernel: reduction tiles take its column of taps (dilated: 2 rows apart)
    _check((2, 3, 11, 21), (7, 3, 3, 1), (1, 1), (2, 1), ((2, 1), (0, 1)))


@needs_tiles
@pytest.mark.parametrize("kind", ["reduce", "channels"])
@pytest.mark.parametrize("pads", [((-1, 0), (0, 0)), ((-1, 2), (-2, 0)), ((0, 0), (-1, -1)), ((1, -2), (0, 0))])
def test_weight_gradient_of_a_cropping_pad(monkeypatch, kind, pads):
    # a negative pad drops input rows or columns (the input is then a view, not contiguous)
    shape = (3, 5) if kind == "reduce" else direct.tile_shape(5, 3)
    monkeypatch.setattr(direct, "weight_tiles", lambda *args: (kind, shape, 1.0))
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 9, 11)).astype(np.float32)
    (top, bottom), (left, right) = pads
    kept = x[:, :, max(-top, 0):9 - max(-bottom, 0), max(-left, 0):11 - max(-right, 0)].astype(np.float64)
    xp = naive.pad(kept, tuple((max(a, 0), max(b, 0)) for a, b in pads))
    g = rng.standard_normal((2, 5, xp.shape[2] - 2, xp.shape[3] - 2)).astype(np.float32)
    got = direct.direct_backward_weight(x, g, (3, 3), (1, 1), (1, 1), 1, pads)
    _close(got, naive.conv_weight_grad(xp, g.astype(np.float64), (3, 3), (1, 1), (1, 1), 1), f"{kind} {pads}")


@needs_tiles
def test_the_weight_gradient_takes_reduction_tiles_where_channel_tiles_idle():
    # LeNet-5's 1 -> 6 (6 of 16 lanes) and a 3x3 kernel (3 of 4 taps) reduce over rows of 28 positions;
    # LeNet-5's 6 -> 16 (10-position rows in vectors of 16) and strided columns keep channel tiles
    assert direct.weight_tiles(6, (5, 5), 28, 1)[:2] == ("reduce", (5, 3)) or direct.VEC < 16
    assert direct.weight_tiles(64, (3, 3), 32, 1)[0] == "reduce"
    assert direct.weight_tiles(16, (5, 5), 10, 1)[0] == "channels"
    assert direct.weight_tiles(32, (3, 3), 112, 2)[0] == "channels"
    assert direct.weight_tiles(16, (3, 1), 28, 1)[:2] == ("reduce", (3, 4)) or direct.VEC < 16  # a column
    g = planner.ConvGeometry.of((64, 1, 32, 32), (6, 1, 5, 5), (1, 1), (1, 1), 1, 4)
    assert planner.plan("backward_weight", g).algorithm == "direct"


@needs_tiles
def test_reduction_tiles_sum_chunks_and_blocks_in_order_within_float32():
    # 64 images of 28 x 28 positions: 56 blocks of direct.REDUCE_BLOCK steps, and chunks of one or two
    # images under a workspace limit
    rng = np.random.default_rng(7)
    x = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    g = rng.standard_normal((64, 6, 28, 28)).astype(np.float32)
    pads = ((2, 2), (2, 2))
    want = naive.conv_weight_grad(naive.pad(x.astype(np.float64), pads), g.astype(np.float64), (5, 5), (1, 1),
                                  (1, 1), 1)
    scale = np.abs(want).max()
    im2col = kconv.conv_backward_weight(x, g, (5, 5), (1, 1), (1, 1), 1, algorithm="im2col", pads=pads)
    whole = direct.direct_backward_weight(x, g, (5, 5), (1, 1), (1, 1), 1, pads)
    assert np.abs(whole - want).max() <= 3 * max(np.abs(im2col - want).max(), 1e-7 * scale)
    per_image = 4 * (32 * 32 + 6 * 28 * 28)
    for limit in (per_image, 2 * per_image + 1):
        with workspace.limited(limit):
            chunked = direct.direct_backward_weight(x, g, (5, 5), (1, 1), (1, 1), 1, pads)
        assert np.abs(chunked - want).max() <= RTOL * scale


@needs_tiles
def test_few_output_channels_take_position_tiles():
    # an input gradient onto 6 channels (LeNet-5's) filled 6 of channel tiles' 16 lanes
    assert direct.tiles(6, 14, 1)[:2] == ("positions", (1, 6)) or direct.VEC < 16
    assert direct.tiles(3, 224, 1)[0] == "positions"
    assert direct.tiles(16, 10, 1)[0] == "channels"  # a full vector of channels
    assert direct.tiles(3, 224, 2)[0] == "channels"  # positions a stride apart are not one vector
    g = planner.ConvGeometry.of((64, 6, 14, 14), (16, 6, 5, 5), (1, 1), (1, 1), 1, 4)
    assert planner.plan("backward_input", g).algorithm == "direct"


@needs_tiles
def test_tile_shapes_waste_the_fewest_positions():
    assert direct.tile_shape(16, 10)[0] in direct.MR_CHOICES
    mr, nv = direct.tile_shape(32, 112)
    assert 112 % mr == 0 and nv * direct.VEC >= 32 or direct.VEC < 16
    # 28 = 4 x 7 = 7 x 4 (8 and 16 would waste 4): the larger of the two, as 56 = 7 x 8 takes 8
    assert direct.tile_shape(1, 28)[0] == 7 or direct.VEC < 16
    assert direct.tile_shape(64, 56)[0] == 8 or direct.VEC < 16
    assert direct.tile_shape(64, 5)[0] == 7 or direct.VEC < 16  # a 5-tap kernel row: 2 taps computed past it


@pytest.mark.parametrize("shape", [(64, 64, 7, 1), (5, 3, 2, 3), (17, 40, 3, 3), (6, 1, 5, 5)])
@pytest.mark.parametrize("cb", [8, 16, 32])
def test_packing_the_input_gradients_kernel_in_place_is_packing_the_flipped_copy(shape, cb):
    # the input gradient packs weight (O, C, kh, kw) as the correlation kernel (C, O, kh, kw) flipped,
    # without that copy: the same rows as packing geometry.gradient_kernel's, zero past the channels
    from convzoo.kernels.geometry import gradient_kernel
    w = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    want = direct._pack(gradient_kernel(w, 1), cb)
    got = direct._pack(w, cb, flipped=True)
    assert got.shape == want.shape == (shape[0] * shape[2] * shape[3], -(-shape[1] // cb) * cb)
    assert np.array_equal(got, want)
    assert not got[:, shape[1]:].any()
    # and a view (a weight sliced from a larger one) packs as its copy
    wide = np.random.default_rng(2).standard_normal((shape[0] + 2,) + shape[1:]).astype(np.float32)
    assert np.array_equal(direct._pack(wide[1:-1], cb), direct._pack(np.ascontiguousarray(wide[1:-1]), cb))


@needs_tiles
def test_a_second_process_loads_the_tile_loops_from_numbas_cache(tmp_path):
    # each tile shape is a specialisation of one module-level loop, so Numba's cache keeps it: a
    # closure made per shape (as before) compiled again in every process, 0.5-1 s a shape
    script = ("import numpy as np\n"
              "from convzoo.kernels import direct\n"
              "x, w = np.ones((2, 6, 14, 14), np.float32), np.ones((16, 6, 5, 5), np.float32)\n"
              "assert direct.direct_forward(x, w, (1, 1), (1, 1), 1)[0, 0, 0, 0] == 150\n"
              "stats = direct._run.stats\n"
              "print(len(stats.cache_hits), len(stats.cache_misses))\n")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
            for _ in range(2)]
    assert [r.stdout.split() for r in runs] == [["0", "1"], ["1", "0"]], [r.stdout + r.stderr for r in runs]
