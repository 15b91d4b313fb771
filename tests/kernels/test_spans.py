"""The wide-row im2col of 2-D stride-1 convs (kernels/spans.py) against the naive loops, whole and chunked."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from convzoo.kernels import gemm, spans, workspace
from tests import naive


@st.composite
def geometries(draw):
    groups = draw(st.sampled_from([1, 2]))
    cg, og = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    pads = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(2))
    h_min = max(1, dh * (kh - 1) + 1 - pads[0][0] - pads[0][1])
    w_min = max(1, dw * (kw - 1) + 1 - pads[1][0] - pads[1][1])
    h, w = draw(st.integers(h_min, h_min + 8)), draw(st.integers(w_min, w_min + 8))
    return draw(st.integers(1, 3)), groups, cg, og, (kh, kw), (dh, dw), pads, (h, w)


def _arrays(geometry, seed):
    n, groups, cg, og, kernel, dilation, pads, (h, w) = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, groups * cg, h, w))
    weight = rng.standard_normal((groups * og, cg) + kernel)
    xp = naive.pad(x, pads)
    out = naive.conv(xp, weight, (1, 1), dilation, groups)
    g = rng.standard_normal(out.shape)
    return x, weight, xp, out, g


@settings(max_examples=40, deadline=None)
@given(geometries(), st.sampled_from([None, 200]))
def test_wide_rows_match_the_naive_loops(geometry, budget):
    # budget 200 bytes: one output row (or less) per chunk, so padded blocks of row chunks overlap
    n, groups, cg, og, kernel, dilation, pads, in_shape = geometry
    x, weight, xp, out, g = _arrays(geometry, 0)
    with workspace.limited(budget or workspace.limit()):
        np.testing.assert_allclose(spans.forward(x, weight, dilation, groups, pads), out, rtol=1e-12, atol=1e-12)
        grad_x = spans.backward_input(g, weight, in_shape, dilation, groups, pads)
        grad_w = spans.backward_weight(x, g, kernel, dilation, groups, pads)
    expected_x = naive.pad_adjoint(naive.conv_transpose(g, weight, (1, 1), dilation, groups, xp.shape[2:]), pads)
    np.testing.assert_allclose(grad_x, expected_x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad_w, naive.conv_weight_grad(xp, g, kernel, (1, 1), dilation, groups),
                               rtol=1e-12, atol=1e-12)


def test_im2col_takes_wide_rows_only_where_they_pay(monkeypatch):
    calls = []
    monkeypatch.setattr(spans, "forward", lambda *args: calls.append(args) or np.zeros(1))
    w = np.zeros((3, 2, 3, 3))
    gemm.im2col_forward(np.zeros((1, 2, 10, 10)), w, (1, 1), (1, 1), 1, ((1, 1), (1, 1)))  # short rows: wide
    assert len(calls) == 1
    out = gemm.im2col_forward(np.zeros((1, 2, 10, 10)), w, (2, 2), (1, 1), 1, ((1, 1), (1, 1)))  # stride 2
    assert len(calls) == 1 and out.shape == (1, 3, 5, 5)
    out = gemm.im2col_forward(np.zeros((1, 2, 30, 30)), w, (1, 1), (1, 1), 1, ((1, 1), (1, 1)))  # long rows
    assert len(calls) == 1 and out.shape == (1, 3, 30, 30)
    gemm.im2col_forward(np.zeros((1, 2, 30, 30)), np.zeros((3, 2, 7, 1)), (1, 1), (1, 1), 1, ((3, 3), (0, 0)))
    assert len(calls) == 2  # long rows but no extra column: wide
    out = gemm.im2col_forward(np.zeros((1, 2, 6, 6)), np.zeros((3, 2, 1, 5)), (1, 1), (1, 1), 1,
                              ((0, 0), (2, 2)))  # 10 wide for 6 outputs: too much extra GEMM work
    assert len(calls) == 2 and out.shape == (1, 3, 6, 6)
    gemm.im2col_forward(np.zeros((4, 2, 30, 30)), w, (1, 1), (1, 1), 1, ((1, 1), (1, 1)))
    assert len(calls) == 3  # long rows, 7 % extra columns, several images: wide
    out = gemm.im2col_forward(np.zeros((4, 2, 30, 30)), np.zeros((3, 2, 1, 7)), (1, 1), (1, 1), 1, ((0, 0), (3, 3)))
    assert len(calls) == 3 and out.shape == (4, 3, 30, 30)  # 20 % extra columns on long rows: per-row
    # many output channels: each saved row copy would add 2 x 96 x 2 multiply-adds (> spans.MAX_EXTRA)
    out = gemm.im2col_forward(np.zeros((1, 2, 10, 10)), np.zeros((96, 2, 3, 3)), (1, 1), (1, 1), 1, ((1, 1), (1, 1)))
    assert len(calls) == 3 and out.shape == (1, 96, 10, 10)
    gemm.im2col_forward(np.zeros((1, 4, 10, 10)), np.zeros((128, 2, 3, 3)), (1, 1), (1, 1), 2, ((1, 1), (1, 1)))
    assert len(calls) == 4  # 64 per group: 256 multiply-adds a copy, wide
    gemm.im2col_forward(np.zeros((1, 2, 10, 10)), np.zeros((512, 2, 7, 1)), (1, 1), (1, 1), 1, ((3, 3), (0, 0)))
    assert len(calls) == 5  # no extra column: wide whatever the channels
