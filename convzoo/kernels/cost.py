"""The planner's cost model: estimated seconds of each algorithm on a ConvGeometry.

A roofline of the 2-core reference machine: useful FLOPs over a sustained fraction of the FP32 peak
(the fraction BLAS reaches falls when either GEMM dimension is short), plus the bytes each algorithm
moves (im2col columns, Winograd transforms, FFT planes, padding copies) over the rate its loops
sustain, plus a fixed per-call overhead. The rates were measured and recalibrated against
``autotune`` timings, most on an AVX2 VM and a few (the Winograd planes transforms, the dilated
Winograd's fixed cost) on the AVX-512 machine. There the data-moving loops of the AVX2 figures (im2col's
gather, scatter and row copies, the Winograd traffic, channels-minor and 1-D transforms and U) were
then set 1.5x faster and the Winograd GEMMs' efficiency 1.2x higher, fitted together on what the
plans cost: every candidate algorithm timed on the 362 (op, geometry) pairs of the benchmark cases
and zoo models that have a choice, in two runs, the summed log(chosen / fastest time) fell from
12.5 and 11.0 to 9.4 and 8.0 (scaling each algorithm's estimates to its own measured times instead
doubled it; the data-moving rates 2x or 3x faster raised it); with the sub-pixel figures below, in
four timing runs, from 14.7-18.9 (the model before the refit) to 7.5-11.0. The estimates still run
about 1.6x above the measured times (median; a tenth of them 2.4x): the figures rank the algorithms;
``explain()`` prints them. ``python -m benchmarks --plans`` measures all of this again.
"""
import math

from . import direct, fft, gemm, spans, subpixel, winograd, winograd1d, winograd2d, winograd_channels, workspace

# the reference machine of issue 4 (233 GFLOP/s FP32 on 2 cores, 38 GB/s); scaled by the threads in use
PEAK_FLOPS_PER_THREAD = 116.5e9
BANDWIDTH = 38e9


def _peak(threads):
    return PEAK_FLOPS_PER_THREAD * threads


def _gemm_efficiency(m, k):
    """Fraction of peak BLAS sustains on an (m x k) @ (k x many) product: short m or k starve it."""
    return max(0.15, 0.75 * min(1.0, m / 128) ** 0.5 * min(1.0, k / 256) ** 0.5)


# fixed cost of one call (Python, allocation, thread start-up): it decides tiny convolutions.
# winograd1d's fitted on case g's halves at batch 1 (64 -> 64 at 28 x 28, 7 x 1 and 1 x 7), where its two
# lanes' uneven chunks (4 and 3 tiles of 4 rows) and their start cost most: once direct's input gradient packed
# its kernel without the flipped copy, plan audit s36 timed direct 0.32-0.40 ms against winograd1d's 0.44-0.52
# on all eight forward and input-gradient passes (the summed loss 10.15 replanned with 100 us, as before); from
# 230 to 270 us those plan direct and no other plan changes (7.77; 8.0 at 300 us)
OVERHEAD = {"im2col": 30e-6, "pointwise": 15e-6, "depthwise": 20e-6, "fft": 150e-6, "subpixel": 60e-6,
            "winograd_f2": 80e-6, "winograd_f4": 80e-6, "winograd1d": 250e-6, "winograd2d": 60e-6,
            "direct": 30e-6}


# sustained rates per thread of the data-moving loops (measured on the AVX2 VM, 1.5x as fitted on
# the AVX-512 machine: see the module docstring)
GATHER_RATE = 6e9  # im2col gather, bytes of columns written per second
SCATTER_RATE = 5.2e9  # col2im scatter (read-modify-write)
# and per row of output positions copied (one slice per image, channel, tap and output row): what
# makes rows of 8-16 pixels (VGG's late layers) gather at half the rate of rows of 56
ROW_COPY = 20e-9
PAD_RATE = 2e9  # np.pad's copy of an array into a zero-padded one, bytes per second, one thread
# Winograd transforms, per thread: seconds per (plane, tile) of the input / output transform and per
# plane (the gather's fixed cost), {m: (input, output)}; measured on one thread (serial drivers) on
# 28x28 to 112x112 planes (F(4x4,3x3): 1.8 / 1.5 us a plane at 28 px, 5.2 / 3.6 at 56, 23 / 17 at 112)
TRANSFORM_TILE = {2: (8.5e-9, 4.5e-9), 4: (27e-9, 19e-9)}
TRANSFORM_PLANE = {2: (0.5e-6, 0.3e-6), 4: (0.6e-6, 0.5e-6)}
# the channels-minor layout (winograd_channels, planes of few tiles): seconds per (plane, tile) of the
# input / output transform (the weight gradient's transform of the output gradient costs as the
# input's), and per tile of an item whatever its channels (what makes 3 channels 2-4x dearer per
# plane); measured on one thread on 8x8 to 56x56 planes of 3 to 256 channels (AVX2 VM; the per-channel
# figures 1.5x faster as fitted, module docstring)
TRANSFORM_TILE_MINOR = {2: (9.3e-9, 8e-9), 4: (37e-9, 27e-9)}
TRANSFORM_TILE_FIXED = {2: 150e-9, 4: 200e-9}
# G w G^T: seconds per weight read (and copied channels-minor) and per element of U written; bound
# by writing U, so two threads barely help (measured: 256 x 256 channels 1.0 ms for F(2x2,3x3), 2.3
# ms for F(4x4,3x3), on two threads; 64 x 64 0.07 and 0.09 on one; U's figure 1.5x faster as fitted)
WEIGHT_COPY, U_ELEMENT = 0.4e-9, 0.53e-9
WEIGHT_GRAD_PLANE = 6e-6  # per plane of the Winograd weight gradient, beyond the transforms (fitted)
# per polyphase sub-image plane of a dilated Winograd conv, beyond the transforms, scaled as above by
# how few tiles it holds (fitted: dilation 4 on 56x56, 32x64->64, phases of 14x14 and 16x16 px:
# F(4x4,3x3) forward 174 ms and backward_input 195 ms against 113 estimated without it, im2col 82 and
# 71 ms; F(2x2,3x3) forward 139 against 111; dilation 2's 28x28 phases matched without it)
DILATED_PLANE = 2.5e-6
# the channels-minor layout's copy of a phase, per (item, plane) of a dilated conv: its fixed costs
# decide phases of one tile or a few (fitted on the AVX-512 machine: dilation 8 on 28x28, 32->32 at
# batch 32, 1-tile phases, F(4x4,3x3) 4.6 / 4.9 / 5.7 ms against im2col's 3.8 / 3.6 / 5.3 (forward,
# input and weight gradients); dilation 4 on 56x56, 64->64, 16-tile phases, F(4x4,3x3) 35 / 38 / 38
# against 46 / 46 / 59). Scaled by the dilation, as fitted on the AVX2 machine, it sent dilation 4
# to im2col as well
DILATED_PLANE_MINOR = 0.1e-6
TRANSFORM_RATE = 6e9  # the transformed V and M: bytes written and read back through memory, per second
# one of the alpha^2 GEMM calls of a chunk that runs alone (not on lanes): OpenBLAS wakes its threads
# and hands the cores back to Numba's each time; at batch 1 (36 calls of 64 x 64 x 196) this made
# F(4x4,3x3) no faster than im2col on two busy cores although it needs half the CPU time on one
GEMM_CALL = 25e-6
# the Winograd weight gradient's "points" plan (winograd.weight_gradient_plan), per chunk: a start of
# a parallel loop or of the lanes, and one single-threaded GEMM call per point on a lane
LANE_HANDOFF = 50e-6
POINT_CALL = 5e-6
# per phase conv of the sub-pixel algorithm (not fused), beyond its conv's own cost: the weight
# stacking, the gradient's crop or padding, the starts of its lanes and of the interleave (measured:
# a decoder's 3x3 stride-2 transposed conv, 64->32 at 7 px, batch 32, four phase convs, 4.1-4.7 ms
# against 1.4-1.6 for im2col, whose estimate the phases' own came within 1 % of)
SUBPIXEL_CONV = 150e-6
# a stride-1 input gradient as the one correlation of the padded gradient (what sub-pixel runs at
# stride 1) measured 1.2-1.5x the im2col forward the model prices it as (on the AVX-512 machine:
# 1x3 and 1x7 64->64 at 28 px, batch 32, 12.3 ms against im2col's scatter 9.5; 3x3 16->1 at 28 px,
# a gather of 9 columns where im2col scatters 144, 0.5 ms against Winograd's 1.1-1.6)
STRIDE1_SUBPIXEL = 1.3
# and a strided one's phase convs (not fused) 1.5x their price: measured 1.0-1.1x its estimate where
# every other algorithm's ran 1.5-2.5x (the AVX-512 machine), so 4x4 stride-2 transposed convs (case
# h1) kept sub-pixel although im2col's input gradient ran 1.2-1.55x faster at batch 1 and 1.07-1.15x
# at batch 32, in three timing runs (``python -m benchmarks --plans``); with 1.5 they take im2col and
# no other plan changes
STRIDED_SUBPIXEL = 1.5
FFT_RATE = 3e9  # pocketfft in float64, FLOP/s (float32: twice that)
# fixed cost per transformed plane (pocketfft's per-line setup, the zero-extended copies): it decides
# small planes, where the FLOP count says little (LeNet-5's 6->16 5x5 conv on 14x14: 1,500 planes,
# 5.4 ms measured against 1.1 ms from the FLOPs; im2col took 2-3 ms)
FFT_PLANE = 6e-6
FFT_TRANSPOSE_RATE = 3e9  # bytes/s per thread: real planes into and out of the frequencies-first layout
# a dense FFT call's hand-offs between pools (three Numba transposes, six pocketfft calls on its own
# threads, the GEMMs on lanes): LeNet-5's 6->16 5x5 conv at batch 64 measured 2.7 ms, 1.4 without it
FFT_DENSE_CALL = 1e-3


def im2col_cost(op, g, threads):
    cols = g.batch * g.in_channels * g.taps * g.positions * g.itemsize
    cg, og = g.in_channels // g.groups, g.out_channels // g.groups
    if op == "forward":
        efficiency, move = _gemm_efficiency(og, cg * g.taps), cols / GATHER_RATE
    elif op == "backward_input":
        efficiency, move = _gemm_efficiency(cg * g.taps, og), cols / SCATTER_RATE
    else:
        # (O x columns) @ (columns x C*K), the columns read transposed: past 64 output channels it ran
        # no faster per FLOP (3x3 @56, batch 32: 64->128 channels 153-160 ms, twice 64->64's FLOPs in
        # 98 ms), so its efficiency stays at 64 rows' (64->128 was estimated 120 ms and kept from
        # F(4x4,3x3), 97-118 ms)
        efficiency, move = _gemm_efficiency(min(og, 64), 1024), cols / GATHER_RATE
    if spans.applies(g.rank, g.stride) and spans.pays(g.padded[-1], g.out[-1], g.batch, og):
        # the wide-row layout (gemm._wide_rows): one copy per tap, on a grid as wide as the padded rows
        widening = g.padded[-1] / g.out[-1]
        return (g.flops * widening / (_peak(threads) * efficiency) + move * widening / threads
                + g.bytes("x", "y") / BANDWIDTH)
    move += g.batch * g.in_channels * g.taps * math.prod(g.out[:-1]) * ROW_COPY
    return g.flops / (_peak(threads) * efficiency) + move / threads + g.bytes("x", "y") / BANDWIDTH


# The forward and input gradient of a 1x1 conv whose images go side by side (gemm.images_per_job: small
# planes) copy them into one operand and the product back out, bytes per second per thread. Fitted on plan
# audit bv: any rate from 1e9 to 1e10 B/s moved the same eight pairs (1x1 64 -> 64 at 7 px, batch 32: the
# input gradient on direct 0.145 ms against pointwise's 0.21), the summed loss 6.34 -> 5.36 replanned, and
# 4.53 with direct's 1x1 factor (DIRECT_POINTWISE) dropped there, each of the eight then on the fastest
# but for one within 1 %; the copies run at about GATHER_RATE
SIDE_BY_SIDE_RATE = 6e9


def pointwise_cost(op, g, threads):
    cg, og = g.in_channels // g.groups, g.out_channels // g.groups
    m, k = {"forward": (og, cg), "backward_input": (cg, og)}.get(op, (og, 1024))
    total = g.flops / (_peak(threads) * _gemm_efficiency(m, k)) + 2 * g.bytes("x", "y") / BANDWIDTH
    if op != "backward_weight" and _side_by_side(g):
        total += g.bytes("x", "y") / SIDE_BY_SIDE_RATE / threads
    return total


def _side_by_side(g):
    """Whether pointwise copies a 1x1 conv's images side by side (rather than reading them in place)."""
    return g.batch > 1 and gemm.images_per_job(g.positions, g.flops // g.batch) > 1


def depthwise_cost(op, g, threads):
    # measured here: the one-pass row loops (forward; the input gradient at stride 1 without a
    # multiplier, a flipped forward) sustain about a quarter of the FP32 peak (31x31: 26 %, LeNet's
    # 5x5: 26 %, 3x3 @56: 15 % plus the memory stream); the weight gradient's per-tap accumulator
    # rows and the input gradient's per-tap scatter about a tenth (31x31: 10 %); the planes stream once
    scatter = op == "backward_input" and (g.out_channels != g.in_channels or any(s != 1 for s in g.stride))
    efficiency = 0.1 if op == "backward_weight" or scatter else 0.25
    return g.flops / (_peak(threads) * efficiency) + g.bytes("x", "y") / BANDWIDTH


def fft_cost(op, g, threads):
    size = math.prod(fft.transform_shape(g.padded))
    per_plane = 2.5 * size * math.log2(max(size, 2))  # real FFT: half of 5 n log n
    planes = g.batch * g.in_channels + g.batch * g.out_channels + g.out_channels * (g.in_channels // g.groups)
    product = 8 * g.batch * g.out_channels * (g.in_channels // g.groups) * size / 2
    rate = FFT_RATE * (2 if g.itemsize == 4 else 1)  # complex64 transforms run about twice as fast
    transforms = planes * per_plane / (rate * threads)
    if g.in_channels // g.groups == 1:  # elementwise product, transforms plane by plane in place
        return transforms + product / (0.1 * _peak(threads)) + \
            16 * planes * size / BANDWIDTH + planes * FFT_PLANE / threads
    # dense: transforms of all planes at once, frequencies first (batched along a trailing axis, so no
    # per-plane setup), a batched GEMM per frequency, and the real planes transposed into and out of
    # that layout (fitted on 7x7 64->64 @34 and 3x3 64..256 channels @10-18 px, batch 32: measured
    # 26-48 ms against 23-44 estimated; the old per-plane terms said 120-300 ms)
    return transforms + product / (0.2 * _peak(threads)) + 16 * planes * size / BANDWIDTH + \
        2 * planes * size * g.itemsize / (FFT_TRANSPOSE_RATE * threads) + FFT_DENSE_CALL


def subpixel_cost(op, g, threads):
    # the phases sharing a sub-kernel shape run as one conv with their outputs stacked, each an
    # ordinary stride-1 conv of the (padded) gradient: a 1x1 conv or an im2col forward, costed as those
    # algorithms' own forward on that conv's geometry, then an interleaving copy into the output. At
    # stride 1 the one conv gathers the gradient's O channels where im2col's input gradient scatters
    # the input's C (16->1: 9 columns a position against 144); its old price, im2col's own
    # backward_input, hid that
    phases = math.prod(g.stride)
    cg, og = g.in_channels // g.groups, g.out_channels // g.groups
    if subpixel.fused(g.kernel, g.stride, g.dilation, g.groups, g.out):
        # the 1x1 phase convs fused with their interleave, block by block on lanes: the gradient is
        # read once and the output written once, nothing padded (2x2 stride 2 128->64 @28, batch
        # 32: 13.2 ms measured; im2col 17.3)
        efficiency = _gemm_efficiency(cg * phases, og)
        return g.flops / (_peak(threads) * efficiency) + g.bytes("x", "y") / BANDWIDTH
    # Costing the phases as one GEMM of all the taps (as the fused path) said 34 ms for a 3x3 stride-2
    # 64->128 conv's input gradient at 56 px, batch 32, which ran 74 ms (im2col's: 41); its 2x2, 2x1,
    # 1x2 and 1x1 phases are four convs, each paying its gather and its copy
    convs, _ = subpixel._plan(g.kernel, g.stride, g.dilation, g.out, g.padded)
    total = 0.0
    for conv in convs:
        sub = conv.taps.shape[1:]
        rows = len(conv.phases) * g.in_channels
        padded = tuple(c.stop + b + a for c, (b, a) in zip(conv.crop, conv.pads))
        phase = type(g).of((g.batch, g.out_channels) + padded, (rows, og) + sub, (1,) * g.rank, conv.step,
                           g.groups, g.itemsize)
        if all(k == 1 for k in sub):
            total += pointwise_cost("forward", phase, threads)
            if any(b or a for b, a in conv.pads):
                total += phase.bytes("x") / PAD_RATE  # np.pad of the gradient
        else:
            total += im2col_cost("forward", phase, threads)
        # the interleave reads the phases and writes the output (at stride 1 the one conv's output is
        # the gradient: no interleave, no stacking of phases; 3x3 16->1 at 28 px, batch 1: 0.04 ms)
        if phases > 1:
            total += SUBPIXEL_CONV + 2 * phase.bytes("y") / BANDWIDTH
    return total * (STRIDE1_SUBPIXEL if phases == 1 else STRIDED_SUBPIXEL)


def _winograd_gemm_efficiency(m, k):
    """Fraction of the per-thread peak BLAS sustains on the (m x k) @ (k x tiles) Winograd products:
    measured 75-78 GFLOP/s per thread at 64 x 64 on the AVX2 VM (0.65), a third of that at k = 3;
    1.2x that as fitted on the AVX-512 machine (the module docstring)."""
    return 0.78 * min(1.0, m / 64) ** 0.5 * min(1.0, k / 64) ** 0.5


def _winograd_kernel_bytes(op, points, g, chunks, threads):
    """Scratch the transformed kernel takes besides V and M: U (points x O x Cg; points = alpha^2 in
    2-D, alpha in 1-D) for the forward and the input gradient; for the weight gradient dU and a
    partial sum per further lane."""
    u = points * g.out_channels * (g.in_channels // g.groups) * g.itemsize
    return u * (1 + min(chunks - 1, threads)) if op == "backward_weight" else u


def _conv_of(op, g):
    """(input channels, output channels, output size) of the conv an op computes: forward and the weight
    gradient that of g; backward_input the conv of the gradient whose output is the input (unpadded
    where g knows it: the padding's gradient is never formed)."""
    if op == "backward_input":
        return g.out_channels, g.in_channels, g.inner or g.padded
    return g.in_channels, g.out_channels, g.out


def winograd_cost(m, op, g, threads):
    # the d*d polyphase sub-images of a dilated conv are tiled separately: each gets the tiles of
    # the largest, ceil(P / d) x ceil(Q / d) outputs
    alpha, d = m + 2, g.dilation[0]
    items = g.batch * d * d
    # backward_input is a Winograd conv of the gradient whose output is the input; backward_weight
    # transforms x and the gradient (as forward does x and M) around GEMMs over the tiles
    c_in, c_out, out = _conv_of(op, g)
    tiles = math.prod(-(-(-(-o // d)) // m) for o in out)
    cg, og = c_in // g.groups, c_out // g.groups
    flops = 2 * items * tiles * alpha * alpha * cg * og * g.groups
    gemm = flops / (PEAK_FLOPS_PER_THREAD * _winograd_gemm_efficiency(og, cg))
    minor = winograd.channels_minor(tiles, g.groups, weight_gradient=op == "backward_weight", dilation=d)
    if minor:
        tile_in, tile_out = TRANSFORM_TILE_MINOR[m]
        transforms = items * tiles * (c_in * tile_in + c_out * tile_out + 2 * TRANSFORM_TILE_FIXED[m])
    else:
        (tile_in, tile_out), (plane_in, plane_out) = TRANSFORM_TILE[m], TRANSFORM_PLANE[m]
        transforms = items * (c_in * (plane_in + tiles * tile_in) + c_out * (plane_out + tiles * tile_out))
    # the weight gradient's G^T dU G (fitted: 256 x 256 channels, 3.4 ms on two threads); the forward's
    # G w G^T is below
    weights = alpha * alpha * c_out * cg * 2e-9 if op == "backward_weight" else 0.0
    traffic = 2 * items * tiles * alpha * alpha * (c_in + c_out) * g.itemsize / TRANSFORM_RATE
    # the chunks winograd cuts: a lane's share of the budget, at least one chunk per lane; the weight
    # gradient's as its plan says (None: over the scratch budget, below)
    per_item = alpha * alpha * tiles * (c_in + c_out) * g.itemsize
    plan = None
    if op == "backward_weight":
        plan = winograd.weight_gradient_plan(items, per_item, alpha * alpha * c_out * cg * g.itemsize, alpha * alpha)
    item_chunks = plan[1] if plan else winograd.item_chunks(items, per_item)
    chunks = len(item_chunks)
    columns = (item_chunks[0][1] - item_chunks[0][0]) * tiles
    # the tiles of a chunk are the GEMMs' columns (their inner dimension for the weight gradient):
    # few of them slow BLAS down, less so as the rows of (tiles x C) @ (C x O) in the channels-minor
    # layout (measured on one thread at 256 channels: 76 GFLOP/s at 512 tiles, 60 at 56, 42 at 16;
    # columns / (columns + 12) follows that)
    gemm /= columns / (columns + 12) if minor else min(1.0, columns / 512) ** 0.5
    if op == "backward_weight":
        # each chunk's dU (alpha^2 x O x C) is written and added into the sum: few tiles per chunk
        # (8x8 images) made it 2-3x im2col in the planes layout (fitted on the channels-minor one)
        traffic += 2 * chunks * alpha * alpha * c_out * cg * g.itemsize / TRANSFORM_RATE
        # fitted, not derived: on lanes, planes of few tiles measured several us per plane (x's and
        # the gradient's) more than the transforms' figures say (128->128 @16, 16 tiles: 45 ms against
        # im2col's 29-31); planes of 49 tiles and more (56x56, dilated phases) did not
        transforms += 0.0 if minor else items * (c_in + c_out) * WEIGHT_GRAD_PLANE * max(0.0, 1 - tiles / 64)
    if d > 1:
        transforms += items * (c_in + c_out) * (DILATED_PLANE_MINOR if minor else
                                                DILATED_PLANE * max(0.0, 1 - tiles / 64))
    # one chunk runs on Numba's and BLAS's threads, handing the cores over per GEMM call; several (or
    # the row bands of one image) run on lanes (lanes.py), which do not
    over = plan is None if op == "backward_weight" else \
        _winograd_kernel_bytes(op, alpha * alpha, g, chunks, threads) > workspace.limit()
    if over:
        # over the scratch budget (VGG's 256 x 256 layer: U is 9.4 MiB for F(4x4,3x3), so is the
        # weight gradient's dU): the workspace promise rules it out unless forced
        return math.inf
    banded = op != "backward_weight" and len(winograd.bands(out[0], -(-(-(-out[0] // d)) // m), m, d, items)) > 1
    if plan and plan[0] == "points":
        # the chunks one after the other: per chunk, two parallel transform loops and a lane hand-off
        # for the products, one single-threaded GEMM call per point on a lane
        handoff = chunks * (3 * LANE_HANDOFF + alpha * alpha * POINT_CALL / threads)
    else:
        handoff = alpha * alpha * GEMM_CALL if chunks == 1 and not banded else 0.0
    # G w G^T, not shared out: U is written at memory speed whatever the threads (36 x O x C for
    # F(4x4,3x3): 2.3 ms at 256 x 256 channels)
    weight_transform = 0.0 if op == "backward_weight" else c_out * cg * (9 * WEIGHT_COPY + alpha * alpha * U_ELEMENT)
    return (gemm + transforms + weights + traffic) / threads + handoff + weight_transform


# winograd1d's transforms, seconds per (plane, tile) on one thread: the input's (phase split and
# B^T rows) and the output's (A^T rows and the interleave; the gradient's A g costs the same);
# measured on 64 planes of 1024 tiles, F(4,5), on the AVX2 VM; 1.5x faster as fitted (module docstring)
TRANSFORM_TILE_1D = (2.7e-9, 2e-9)


# winograd1d's kernel transforms (U = G w, and dw = dU G for the weight gradient), seconds per
# multiply-add of G by an element of w or dU in float64 on one thread (measured on the AVX-512 machine:
# 256 x 256 channels with 3 taps, 0.2 ms; 128 x 128 with 7, 0.13 ms), on the lanes from
# winograd1d.KERNEL_GRAIN multiply-adds
KERNEL_1D = 0.15e-9

# winograd1d's column samples (a 1 x k kernel): seconds per element of the input and of the output that
# its phase split gathers and its interleave scatters a row's length apart, on one thread (measured on the
# AVX-512 machine, 64 -> 64 at 28 x 28, batch 32, 7 taps: 1 x 7 0.4-0.5 ms slower than 7 x 1 on two lanes)
COLUMN_ELEMENT = 0.3e-9


def winograd1d_cost(op, g, threads):
    # as winograd_cost: backward_input is the conv of the gradient whose output is the input (its
    # unpadded length); backward_weight transforms x and the gradient around GEMMs over the tiles.
    # A 2-D k x 1 kernel's tiles are m rows by the image's width (the "columns" below); a 1 x k
    # kernel's, m columns by the image's height (gathered and scattered a row's length apart)
    along = winograd1d.axis(g.kernel)
    r = g.kernel[along]
    m = winograd1d.tile(r)
    alpha = r + m - 1
    inner = g.inner or g.padded
    c_in, c_out, out = _conv_of(op, g)
    length = out[along]
    width = inner[1 - along] if g.rank == 2 else 1
    # the column samples' strided reads and writes (the padded input's size stands for the unpadded one)
    columns_moved = (g.bytes("x") + g.bytes("y")) // g.itemsize * COLUMN_ELEMENT if along else 0.0
    per_image = -(-length // m)
    columns = g.batch * per_image * width
    chunks = len(winograd.chunks(g.batch, per_image, alpha * (c_in + c_out) * width * g.itemsize))
    if _winograd_kernel_bytes(op, alpha, g, chunks, threads) > workspace.limit():
        return math.inf  # over the scratch budget, as winograd_cost
    cg, og = c_in // g.groups, c_out // g.groups
    gemm = 2 * columns * alpha * cg * og * g.groups / (PEAK_FLOPS_PER_THREAD * _winograd_gemm_efficiency(og, cg))
    tile_in, tile_out = TRANSFORM_TILE_1D
    transforms = columns * (c_in * tile_in + c_out * tile_out)
    # V and M written once and read once, about half of it from the caches (fitted: 64 -> 64 with 5
    # taps over 4096 samples, batch 32: 33 ms forward, 34 input and 45 weight gradient measured)
    traffic = columns * alpha * (c_in + c_out) * g.itemsize / TRANSFORM_RATE
    if op == "backward_weight":
        # dU of every further chunk written and added into the sum
        traffic += 2 * (chunks - 1) * alpha * c_out * cg * g.itemsize / TRANSFORM_RATE
    u = alpha * c_out * cg
    kernel = u * r * KERNEL_1D / (threads if u * r >= winograd1d.KERNEL_GRAIN else 1)
    return (gemm + transforms + traffic + columns_moved) / threads + kernel


# winograd2d's transforms, per thread: seconds per (tile, channel, point) of the input's (the copy
# channels-last, B_w^T along the columns, B_h^T along the rows) and of the output's (A_h^T, A_w^T and the
# copy back; the weight gradient's transform of the output gradient costs as the output's), and per
# sum of runs they call (``_runs_2d``), whatever its length; fitted on the AVX-512 machine on F(2x2, 7x7)
# over 64 channels at 28 px (0.46 and 0.15 ms an image, 4704 and 1008 sums) and on F(4x4, 5x5) over 6
# at 10 px (16 us an image for 576 sums: LeNet-5's second conv, where im2col runs 2x faster)
TRANSFORM_TILE_2D = (0.41e-9, 0.16e-9)
TRANSFORM_RUN_2D = 28e-9
# and its channels-last copy of the input (``winograd_channels._load``), per element copied: 0.7-0.74 ns on one thread
# at stride 1 (64 and 128 channels at 28 px), 1.27-1.36 ns at stride 2, whose phases read every other column (the
# input gradient reads the output gradient at stride 1)
LOAD_2D = {False: 0.7e-9, True: 1.3e-9}
# a strided conv's winograd2d estimate times this, by op: on 64 -> 128 at 56 px, batch 32, winograd2d's forward ran
# 1.0-1.15x its estimate (4x4, 5x5 and 3x3 at stride 2) where im2col ran 0.6-0.8x and direct 0.5-0.7x theirs, so
# the 3x3 stride-2 conv (2x2 taps on the phases, 7 of 16 zero) took winograd2d at 31 ms against im2col's 26 and
# direct's 24; with 1.3 it keeps im2col, and the 4x4 and 5x5 convs keep winograd2d (29 against 38-42, 43
# against 71-75). The input gradient's ran 1.3-1.4x its estimate and im2col's 0.5-0.6x (batch 1 and 32): 3x3
# im2col 0.77 and 22 ms against 1.8 and 34, 4x4 1.20 and 38 against 1.53 and 33, 5x5 2.0 and 56 against 2.0
# and 36; 2.5 gives each the faster, the 4x4 from 2.0 to 3.1. The weight gradient's 1.4: the 3x3's at batch 32,
# im2col 24 ms against 33, was a tie in the model at 1.3. And at batch 1 a strided conv's passes follow the
# layer before's GEMM on OpenBLAS's two threads, whose idle thread spins on next to winograd2d's second lane:
# alone the 4x4's forward and weight gradient ran 1.1-1.2 ms against im2col's 1.3-1.5, in case h1's forward +
# backward 2.2 and 1.9 against 1.4 and 1.6 (the plan audit), the whole step 3.9-6.2 ms against 4.2-5.0 with
# im2col in all three passes. Forward 1.45 and weight gradient 1.6 leave batch 1 to im2col (4x4 and 5x5 at
# 56 px) and batch 32 to winograd2d
STRIDED_WINOGRAD2D = {"forward": 1.45, "backward_weight": 1.6, "backward_input": 2.5}
# and per element of U its kernel transform writes (or of dU the gradient's reads), besides KERNEL_1D's
# multiply-adds: what few taps over many channels cost (the 4x4 stride-2 kernel of 64 -> 128 channels, 2x2
# taps on 256 phase channels, 25 x 256 x 128 elements of U: 0.46 ms on two lanes, where the multiply-adds
# alone said 0.17; the 7x7 64 -> 64 kernel's 0.28 stays within 25 %)
KERNEL_U_2D = 0.6e-9


def _runs_2d(kernel, tiles_h, tiles_w, op):
    """How many sums of runs winograd2d's transforms of one image make: along the columns one per
    (row read, tile column, point column), along the rows one per (tile row, point); the output's
    the other way round, the weight gradient's transform of the output gradient as the input's."""
    (m_h, m_w), (alpha_h, alpha_w) = winograd2d.shape(kernel)
    along_rows = tiles_h * alpha_h * alpha_w
    x = (m_h * (tiles_h - 1) + alpha_h) * tiles_w * alpha_w + along_rows
    if op == "backward_weight":
        return x + m_h * tiles_h * tiles_w * alpha_w + along_rows
    return x + tiles_h * m_h * (alpha_w + tiles_w * m_w)


def winograd2d_cost(op, g, threads):
    # as winograd_cost: backward_input is the conv of the gradient whose output is the (unpadded)
    # input; backward_weight transforms x and the gradient around GEMMs over the tiles. Strided, the
    # stride-1 conv of the input's phases: ceil(k / s) taps an axis over prod(stride) times the input
    # channels (the input gradient's outputs: a grid of 1 / s of the input's size)
    sub, phases = winograd_channels.reduced(g.kernel, g.stride), math.prod(g.stride)
    (m_h, m_w), (alpha_h, alpha_w) = winograd2d.shape(sub)
    points = alpha_h * alpha_w
    c_in, c_out, out = _conv_of(op, g)
    if op == "backward_input":
        c_out, out = c_out * phases, tuple(-(-n // s) for n, s in zip(out, g.stride))
    else:
        c_in *= phases
    tiles_h, tiles_w = -(-out[0] // m_h), -(-out[1] // m_w)
    tiles = g.batch * tiles_h * tiles_w
    chunks = len(winograd.chunks(g.batch, tiles_h, points * tiles_w * (c_in + c_out) * g.itemsize))
    u = points * c_out * c_in
    # U, or for the weight gradient dU and a block of points' partial sum per further lane
    partials = min(chunks - 1, threads) * winograd2d.gradient_block(points) * c_out * c_in
    if (u + (partials if op == "backward_weight" else 0)) * g.itemsize > workspace.limit():
        return math.inf  # over the scratch budget, as winograd_cost
    gemm = 2 * tiles * points * c_in * c_out / (PEAK_FLOPS_PER_THREAD * _winograd_gemm_efficiency(c_out, c_in))
    tile_in, tile_out = TRANSFORM_TILE_2D
    transforms = tiles * points * (c_in * tile_in + c_out * tile_out)
    transforms += g.batch * _runs_2d(sub, tiles_h, tiles_w, op) * TRANSFORM_RUN_2D
    loaded = (m_h * (tiles_h - 1) + alpha_h) * (m_w * (tiles_w - 1) + alpha_w) * c_in
    transforms += g.batch * loaded * LOAD_2D[phases > 1 and op != "backward_input"]
    traffic = tiles * points * (c_in + c_out) * g.itemsize / TRANSFORM_RATE
    if op == "backward_weight":
        traffic += (chunks - 1) * u * g.itemsize / TRANSFORM_RATE  # dU of every further chunk added in
    # U = G_h w G_w^T (or dw = G_h^T dU G_w): G_w along the taps' rows, then G_h
    kernel = c_out * c_in * sub[0] * (sub[1] * alpha_w + alpha_h * alpha_w) * KERNEL_1D + u * KERNEL_U_2D
    kernel /= threads if u >= winograd_channels.KERNEL_GRAIN else 1
    return ((gemm + transforms + traffic) / threads + kernel) * (STRIDED_WINOGRAD2D[op] if phases > 1 else 1.0)


# direct's tiles: the fraction of the per-thread peak they sustain on the products they compute, and
# their scratch copy of the input rows (bytes per second per thread). Fitted on the AVX-512 machine:
# direct and the cost model's other choice timed on the 290 (op, geometry) pairs of the benchmark
# cases and zoo models that direct runs; direct was faster on 114 (a 3-channel stem 1.5-3x, LeNet-5's
# 6 -> 16 forward 2x, 1x3 and 3x1 convs of 16-32 channels 1.5-3x, 1x1 of 16-64 channels at batch 32) and
# slower wherever Winograd or FFT saves multiplies, or few output channels leave vector lanes empty
# (an input gradient onto 3 or 6 channels: 0.2-0.6x). The summed log(chosen / faster time) was 52.7
# with direct never chosen and 12.3 with these figures, the empty lanes counted twice (their FLOPs,
# and as the efficiency they cost). Two more factors took it to 8.5: a 1x1 kernel (pointwise reads its
# input in place, direct copies it; 1x1 64 -> 128 at 56 px ran 0.8-1.0x pointwise) and weights of more
# than DIRECT_WEIGHTS bytes a block of output channels (they stream from L2 for every tile: the 7x7
# 64 -> 64 conv at 28 px, 401 KB, ran 0.55-0.9x im2col at batch 1). The 1x1 factor holds only where
# pointwise reads its input in place: where it copies images side by side (``_side_by_side``), direct
# ran 1x1 convs of 16-64 channels at 7-14 px 1.1-1.5x faster than pointwise (plan audit bv)
DIRECT_EFFICIENCY = 0.5
DIRECT_COPY_RATE = 6e9
DIRECT_POINTWISE = 1.6
DIRECT_WEIGHTS, DIRECT_STREAMED = 1 << 18, 2.0
# A strided forward (tiles reading every s-th input value) ran faster than these figures say: on plan
# audit bq's strided forwards with direct among the candidates it was estimated at 1.0-1.7x its time where
# the other candidates were at 0.9-1.1x theirs, and lost to im2col on the 2x2 stride-2 64 -> 128 convs (the
# input gradient of case h2: 0.34-0.40 ms against 0.46-0.51 at batch 1, 11.5-14.2 against 14.4-16.4 at 32)
# and the 4x4 one at batch 1 (h1's). With this factor those six plan direct and nothing else changes: the
# audit's summed loss 7.46 -> 6.41 replanned
DIRECT_STRIDED = 0.75
DIRECT_REDUCE_EFFICIENCY, DIRECT_REDUCE_REUSE, DIRECT_REDUCE_CHUNK = 0.5, 1.2, 5e-6
DIRECT_WEIGHT_EFFICIENCY, DIRECT_WEIGHT_SUMS, DIRECT_WEIGHT_CHUNK = 0.25, 8, 25e-6


def direct_cost(op, g, threads):
    # the input gradient is the forward of the padded gradient with the channel axes swapped
    if op == "backward_weight":
        return _direct_weight_cost(g, threads)
    c_in, c_out, out = _conv_of(op, g)
    kind, shape, extra = direct.tiles(c_out, out[-1], 1 if op == "backward_input" else g.stride[-1])
    lanes = shape[1] * direct.VEC if kind == "channels" else shape[1]  # output channels a tile holds
    if kind == "channels":
        # the empty lanes counted twice: as products and as the efficiency they cost
        computed = g.flops * extra * direct.overshoot(c_out, lanes)
    else:
        # an input gradient's tiles run along the rows of the input: every tap of a kernel row, of which
        # only the output width's read inside the gradient (the kernel rows that read its padding are
        # skipped)
        computed = g.flops * extra * (out[-1] / g.out[-1] if op == "backward_input" else 1.0)
        # a tile of fewer sums than SUMS_IN_FLIGHT waits on its multiply-adds' latency (one output channel)
        computed *= max(1.0, direct.SUMS_IN_FLIGHT / (shape[0] * shape[1]))
    copy = g.batch * c_in * math.prod(g.padded) * g.itemsize / DIRECT_COPY_RATE
    total = (computed / (PEAK_FLOPS_PER_THREAD * DIRECT_EFFICIENCY) + copy) / threads + g.bytes("x", "y") / BANDWIDTH
    if g.taps == 1 and not _side_by_side(g):
        total *= DIRECT_POINTWISE
    if c_in * g.taps * lanes * g.itemsize > DIRECT_WEIGHTS:
        total *= DIRECT_STREAMED
    if op == "forward" and max(g.stride) > 1:
        total *= DIRECT_STRIDED
    return total


def _reduce_weight_cost(g, threads, shape, extra):
    # reduction tiles: the products computed (extra: past the rows' ends, the kernel row and the last
    # channel) at DIRECT_REDUCE_EFFICIENCY, less where a step's loads outnumber DIRECT_REDUCE_REUSE
    # times its products over T + M (a 1x1 kernel's one tap by 8 channels: 9 loads for 8 multiply-adds,
    # the gradient's from L2 once the block's rows of many channels outgrow L1), the padded input copied once a call on
    # the calling thread (and the gradient where its channels are padded to the tiles'), a hand-off a
    # chunk of images. Fitted on plan audit bg's 58 weight gradients that run on these tiles: measured
    # against estimated at 0.5 alone, 0.55-0.9 for 3 and 5 taps at batch 32 (0.4-0.8 at batch 1, whose
    # fixed costs the channel tiles' figure overstated) and 1.1-1.5 for one tap (k x 1 kernels then, which
    # now run along their column); the audit's summed loss
    # 12.1 -> 10.3 replanned on its timings
    taps, mc = shape
    padded, positions = math.prod(g.padded), math.prod(g.out)
    opad = -(-g.out_channels // mc) * mc
    chunk = direct.weight_chunk(g.batch, g.in_channels * padded, positions * opad)
    copied = g.batch * (g.in_channels * padded + (positions * opad if opad != g.out_channels else 0))
    efficiency = DIRECT_REDUCE_EFFICIENCY * min(1.0, taps * mc / (taps + mc) / DIRECT_REDUCE_REUSE)
    return (g.flops * extra / (PEAK_FLOPS_PER_THREAD * efficiency) / threads
            + copied * g.itemsize / DIRECT_COPY_RATE + -(-g.batch // chunk) * DIRECT_REDUCE_CHUNK
            + g.bytes("x", "y") / BANDWIDTH)


def _direct_weight_cost(g, threads):
    # tiles of mr taps of a kernel row (the taps past the row computed and dropped) by output channels,
    # summing every output position; the padded input and the gradient laid out positions x channels
    # copied once on the calling thread, in chunks of images that each tile reads again (from memory
    # beyond WEIGHT_CHUNK_BYTES), a hand-off to the lanes and a partial sum a chunk (DIRECT_WEIGHT_CHUNK). Tiles
    # of fewer than DIRECT_WEIGHT_SUMS sums (4 taps of 16 channels for a 3-tap row) run as many steps at
    # as many multiply-adds a step, each step also loading its taps' values and the gradient's row.
    # DIRECT_WEIGHT_EFFICIENCY is set so that of the 92 weight gradients of the cases and zoo only LeNet-5's
    # 6 -> 16 5x5 plans it (0.35 ms against im2col's 0.50-0.55 at batch 64, one process; 0.65x at batch 32).
    # Timed one against the other, the 16 more whose estimates it beat at the forward's efficiency ran
    # 0.47-1.67x their plan: batch-1 3x3 convs of 16-32 channels 0.47-0.94x, at batch 32 and 28 px 0.69-1.65x
    # (dilated 4 and 8 the slowest, their padded copies on the calling thread), 1 x 3 kernels 1.2-1.7x. Plan
    # audit bd's timings of the 51 where it was a candidate agree on the batch-1 gains and the dilated losses
    # (a loss of 6.1 so, 4.2 at an efficiency of 0.5, which also plans it for convs they timed 1.0-1.22x)
    kh, kw = g.kernel
    kind, shape, extra = direct.weight_tiles(g.out_channels, g.kernel, g.out[-1], g.stride[-1])
    if kind == "reduce":
        return _reduce_weight_cost(g, threads, shape, extra)
    mr, nv = shape
    cb = nv * direct.VEC
    opad = -(-g.out_channels // cb) * cb
    empty = opad / g.out_channels
    computed = g.flops * direct.overshoot(kw, mr) * empty * empty
    efficiency = DIRECT_WEIGHT_EFFICIENCY * min(1.0, mr * nv / DIRECT_WEIGHT_SUMS)
    padded, positions = math.prod(g.padded), math.prod(g.out)
    per_image = g.itemsize * (g.in_channels * padded + positions * opad)
    chunk = direct.weight_chunk(g.batch, g.in_channels * padded, positions * opad)
    gradient = g.batch * positions * opad * g.itemsize
    copy = (g.batch * g.in_channels * padded * g.itemsize + gradient) / DIRECT_COPY_RATE
    items = g.in_channels * kh * -(-kw // mr) * (opad // cb)
    reread = items * gradient / BANDWIDTH if chunk * per_image > direct.WEIGHT_CHUNK_BYTES else 0.0
    return ((computed / (PEAK_FLOPS_PER_THREAD * efficiency) + reread) / threads + copy
            + -(-g.batch // chunk) * DIRECT_WEIGHT_CHUNK + g.bytes("x", "y") / BANDWIDTH)
