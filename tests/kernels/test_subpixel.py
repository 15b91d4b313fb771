"""Subpixel's fused path: 1x1 phase convs and their paired interleave, a block of rows at a time on
lanes, against the naive transposed conv."""
import numpy as np
import pytest

from convzoo.kernels import subpixel, workspace
from tests import naive


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("stride", [(2, 2), (3, 2)])
@pytest.mark.parametrize("budget", [None, 4096])
def test_fused_phases_match_the_naive_transposed_conv(batch, stride, budget, monkeypatch):
    calls = []
    fused = subpixel._pointwise_pairs
    monkeypatch.setattr(subpixel, "_pointwise_pairs", lambda *a: calls.append(1) or fused(*a))
    rng = np.random.default_rng(5)
    g = rng.standard_normal((batch, 5, 16, 17))  # 272 positions: the fused path
    w = rng.standard_normal((5, 3) + stride)
    shape = (16 * stride[0], 17 * stride[1])
    expected = naive.conv_transpose(g, w, stride, (1, 1), 1, shape)
    if budget is None:
        got = subpixel.subpixel_backward_input(g, w, shape, stride, (1, 1), 1)
    else:  # a few rows a block: every image cut into row blocks, on both lanes
        with workspace.limited(budget):
            got = subpixel.subpixel_backward_input(g, w, shape, stride, (1, 1), 1)
    assert calls == [1]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_fused_covers_kernels_as_large_as_the_stride_only():
    assert subpixel.fused((2, 2), (2, 2), (1, 1), 1, (28, 28))
    assert not subpixel.fused((4, 4), (2, 2), (1, 1), 1, (28, 28))  # 2x2 phase kernels: im2col per phase
    assert not subpixel.fused((2, 2), (2, 2), (1, 1), 2, (28, 28))  # groups
    assert not subpixel.fused((2, 2), (2, 2), (2, 2), 1, (28, 28))  # dilated
    assert not subpixel.fused((2, 3), (2, 3), (1, 1), 1, (28, 28))  # stride 3 across: no column pairs
    assert not subpixel.fused((2, 2), (2, 2), (1, 1), 1, (8, 8))  # too few positions a GEMM


def test_the_cached_phase_plan_serves_new_weights_and_stays_read_only():
    # the plan (phases, flipped taps, paddings, pairs) is cached per geometry; the weights are not
    rng = np.random.default_rng(8)
    g = rng.standard_normal((2, 4, 7, 6))
    shape = (2 * 7 + 2, 2 * 6 + 2)  # a 4x4 kernel at stride 2: padded phase convs, interleaved in pairs
    for _ in range(2):
        w = rng.standard_normal((4, 3, 4, 4))
        np.testing.assert_allclose(subpixel.subpixel_backward_input(g, w, shape, (2, 2), (1, 1), 1),
                                   naive.conv_transpose(g, w, (2, 2), (1, 1), 1, shape), rtol=1e-12, atol=1e-12)
    convs, written = subpixel._plan((4, 4), (2, 2), (1, 1), (7, 6), shape)
    assert written and len(convs) == 1 and convs[0].pairs is not None
    assert not convs[0].taps.flags.writeable
    assert not any(a.flags.writeable for a in convs[0].pairs)


@pytest.mark.parametrize("parallel", [False, True])
def test_unpaired_phases_interleave_on_one_thread_or_all(parallel, monkeypatch):
    # a 3x3 stride-2 kernel: four phase convs of different sub-kernels, each interleaved on its own
    # (no column pairs); small outputs copy on the calling thread, large ones in a parallel loop
    from convzoo.kernels import elementwise
    if parallel:
        monkeypatch.setattr(elementwise, "STREAM_GRAIN", 0)
    rng = np.random.default_rng(9)
    g = rng.standard_normal((2, 4, 7, 6))
    w = rng.standard_normal((4, 3, 3, 3))
    shape = (15, 13)
    np.testing.assert_allclose(subpixel.subpixel_backward_input(g, w, shape, (2, 2), (1, 1), 1),
                               naive.conv_transpose(g, w, (2, 2), (1, 1), 1, shape), rtol=1e-12, atol=1e-12)
