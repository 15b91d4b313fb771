"""F.conv*d and F.conv_transpose*d against torch.nn.functional on hypothesis-drawn geometries.

Forward values and the gradients for input, weight and bias, in float64 (rel 1e-9) and float32
(rel 1e-4), for ranks 1-3, kernel 1-7, stride 1-3, dilation 1-3, groups (depthwise with a
multiplier included), every padding form, odd and even sizes, batch 1-4 and the padding modes
PyTorch has. Where PyTorch lacks a form (asymmetric pairs, strided "same"), the reference pads
explicitly with the independently written TF/ONNX formula and calls torch with padding=0.
"""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import convzoo
import convzoo.nn.functional as F

SETTINGS = settings(max_examples=35, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TORCH_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}
RTOL = {np.float64: 1e-9, np.float32: 1e-4}


def tf_same_pads(n, k, s, d):
    """TensorFlow's SAME: output ceil(n/s); total padding split with the odd pixel at the end."""
    out = math.ceil(n / s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def assert_close(got, want, dtype, what):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    scale = max(np.abs(want).max(initial=0.0), 1e-30)
    err = np.abs(got - want).max(initial=0.0)
    assert err <= RTOL[dtype] * scale, f"{what}: max error {err:.3g} relative to {scale:.3g}"


@st.composite
def conv_case(draw):
    rank = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    cg = draw(st.integers(1, 3))  # cg == 1 with groups > 1 is depthwise
    og = draw(st.integers(1, 3))  # the depth multiplier when depthwise
    kernel = tuple(draw(st.integers(1, 7 if rank < 3 else 4)) for _ in range(rank))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    dilation = tuple(draw(st.integers(1, 3 if rank < 3 else 2)) for _ in range(rank))
    extent = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    sizes = tuple(draw(st.integers(max(e - 2, 2), e + 5)) for e in extent)
    mode = draw(st.sampled_from(sorted(TORCH_MODE)))
    form = draw(st.sampled_from(["int", "tuple", "pairs", "valid", "same"]))
    limit = [n - 1 if mode == "reflect" else n for n in sizes]  # torch: reflect pad < n, circular <= n
    if form == "int":
        p = draw(st.integers(0, min(limit + [3])))
        padding, pairs = p, [(p, p)] * rank
    elif form == "tuple":
        padding = tuple(draw(st.integers(0, min(m, 3))) for m in limit)
        pairs = [(p, p) for p in padding]
    elif form == "pairs":
        padding = tuple((draw(st.integers(0, min(m, 3))), draw(st.integers(0, min(m, 3)))) for m in limit)
        pairs = list(padding)
    elif form == "valid":
        padding, pairs = "valid", [(0, 0)] * rank
    else:
        padding = "same"
        pairs = [tf_same_pads(n, k, s, d) for n, k, s, d in zip(sizes, kernel, stride, dilation)]
        if any(max(p) > m for p, m in zip(pairs, limit)):
            mode = "zeros"
    padded = [n + b + a for n, (b, a) in zip(sizes, pairs)]
    if any(p < e for p, e in zip(padded, extent)):  # empty output: shrink the kernel to fit
        kernel = tuple(1 for _ in kernel)
    batch = draw(st.integers(1, 4))
    return dict(rank=rank, groups=groups, cin=cg * groups, cout=og * groups, kernel=kernel, stride=stride,
                dilation=dilation, sizes=sizes, mode=mode, padding=padding, pairs=pairs, batch=batch,
                bias=draw(st.booleans()), seed=draw(st.integers(0, 2 ** 16)))


def _conv_fn(rank, transposed=False):
    return getattr(F, f"conv_transpose{rank}d" if transposed else f"conv{rank}d")


def _leaves(x, w, b):
    """The same input, weight and (optional) bias as convzoo and as torch leaves that require grad."""
    ours = [convzoo.tensor(a, requires_grad=True) if a is not None else None for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) if a is not None else None for a in (x, w, b)]
    return ours, theirs


def _assert_matches_torch(out, ref, ours, theirs, dtype, rng):
    """Forward values, then the gradient of every leaf for one random output cotangent."""
    assert_close(out.numpy(), ref.detach().numpy(), dtype, "forward")
    assert out.dtype == dtype
    g = rng.standard_normal(ref.shape).astype(dtype)
    out.backward(g)
    ref.backward(torch.tensor(g))
    for name, a, b in zip(("input", "weight", "bias"), ours, theirs):
        if a is not None:
            assert_close(a.grad.numpy(), b.grad.numpy(), dtype, f"grad {name}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@SETTINGS
@given(case=conv_case())
def test_conv_matches_torch(dtype, case):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["batch"], case["cin"]) + case["sizes"]).astype(dtype)
    w = rng.standard_normal((case["cout"], case["cin"] // case["groups"]) + case["kernel"]).astype(dtype)
    b = rng.standard_normal(case["cout"]).astype(dtype) if case["bias"] else None
    ours, theirs = _leaves(x, w, b)
    out = _conv_fn(case["rank"])(*ours, stride=case["stride"], padding=case["padding"],
                                 dilation=case["dilation"], groups=case["groups"], padding_mode=case["mode"])
    xt, wt, bt = theirs
    flat = [p for pair in reversed(case["pairs"]) for p in pair]  # torch pads the last axis first
    xp = TF.pad(xt, flat, mode=TORCH_MODE[case["mode"]]) if any(flat) else xt
    ref = getattr(TF, f"conv{case['rank']}d")(xp, wt, bt, stride=case["stride"], dilation=case["dilation"],
                                               groups=case["groups"])
    _assert_matches_torch(out, ref, ours, theirs, dtype, rng)


@st.composite
def transpose_case(draw):
    rank = draw(st.integers(1, 3))
    groups, cg, og = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 7 if rank < 3 else 4)) for _ in range(rank))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    dilation = tuple(draw(st.integers(1, 3 if rank < 3 else 2)) for _ in range(rank))
    sizes = tuple(draw(st.integers(1, 6 if rank < 3 else 4)) for _ in range(rank))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    full = [(n - 1) * s + d * (k - 1) + 1 + op for n, k, s, d, op in zip(sizes, kernel, stride, dilation,
                                                                          output_padding)]
    padding = tuple(draw(st.integers(0, max((f - 1) // 2, 0))) for f in full)
    return dict(rank=rank, groups=groups, cin=cg * groups, cout=og * groups, kernel=kernel, stride=stride,
                dilation=dilation, sizes=sizes, padding=padding, output_padding=output_padding,
                batch=draw(st.integers(1, 4)), bias=draw(st.booleans()), seed=draw(st.integers(0, 2 ** 16)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@SETTINGS
@given(case=transpose_case())
def test_conv_transpose_matches_torch(dtype, case):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["batch"], case["cin"]) + case["sizes"]).astype(dtype)
    w = rng.standard_normal((case["cin"], case["cout"] // case["groups"]) + case["kernel"]).astype(dtype)
    b = rng.standard_normal(case["cout"]).astype(dtype) if case["bias"] else None
    ours, theirs = _leaves(x, w, b)
    kw = dict(stride=case["stride"], padding=case["padding"], output_padding=case["output_padding"],
              groups=case["groups"], dilation=case["dilation"])
    out = _conv_fn(case["rank"], transposed=True)(*ours, **kw)
    ref = getattr(TF, f"conv_transpose{case['rank']}d")(*theirs, **kw)
    _assert_matches_torch(out, ref, ours, theirs, dtype, rng)


@pytest.mark.parametrize("padding", [0, 1], ids=["no-padding", "padding-1"])
def test_conv_transpose_drops_the_pixels_output_padding_adds_beyond_every_window(padding):
    # output_padding may reach the stride where the dilation is larger: the output then ends in
    # pixels no window of the adjoint conv reads. With zero padding the kernels crop the padding
    # themselves (ConvTranspose's pads), so the gradient must drop those pixels from the padding
    # after the output first, then from the output
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal((2, 2, 4)), rng.standard_normal((2, 3, 3)), None
    ours, theirs = _leaves(x, w, b)
    kw = dict(stride=1, padding=padding, output_padding=1, dilation=2)
    out = F.conv_transpose1d(ours[0], ours[1], **kw)
    ref = TF.conv_transpose1d(theirs[0], theirs[1], **kw)
    assert out.shape == tuple(ref.shape) == (2, 3, 4 + 4 + 1 - 2 * padding)
    _assert_matches_torch(out, ref, ours, theirs, np.float64, rng)


@pytest.mark.parametrize("mode", sorted(TORCH_MODE))
def test_layer_style_padding_mode_matches_torch_module(mode):
    # torch.nn.Conv2d(padding_mode=...) is the reference users compare with
    torch.manual_seed(0)
    layer = torch.nn.Conv2d(4, 6, (3, 4), stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2,
                            padding_mode=mode).double()
    x = np.random.default_rng(1).standard_normal((2, 4, 9, 10))
    out = F.conv2d(x, layer.weight.detach().numpy(), layer.bias.detach().numpy(), stride=(2, 1), padding=(1, 2),
                   dilation=(1, 2), groups=2, padding_mode=mode)
    assert_close(out.numpy(), layer(torch.tensor(x)).detach().numpy(), np.float64, mode)


def test_unbatched_input_like_torch():
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((3, 8, 8)), rng.standard_normal((5, 3, 3, 3))
    out = F.conv2d(x, w, padding=1)
    assert out.shape == (5, 8, 8)
    assert_close(out.numpy(), TF.conv2d(torch.tensor(x), torch.tensor(w), padding=1).numpy(), np.float64, "unbatched")
    u, wt = rng.standard_normal((3, 4)), rng.standard_normal((3, 2, 3))
    out_t = F.conv_transpose1d(u, wt, stride=2)
    assert_close(out_t.numpy(), TF.conv_transpose1d(torch.tensor(u), torch.tensor(wt), stride=2).numpy(),
                 np.float64, "unbatched transposed")


@pytest.mark.parametrize("x_shape, w_shape, groups, transposed", [
    ((0, 3, 8, 8), (4, 3, 3, 3), 1, False), ((0, 8, 8, 8), (8, 1, 3, 3), 8, False),
    ((0, 3, 9), (4, 3, 3), 1, False), ((0, 3, 5, 5, 5), (4, 3, 3, 3, 3), 1, False),
    ((0, 3, 8, 8), (3, 4, 4, 4), 1, True)], ids=["batch", "depthwise", "1d", "3d", "transposed"])
def test_empty_batch_like_torch(x_shape, w_shape, groups, transposed):
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(4)
    ours, theirs = _leaves(x, w, None if groups > 1 else b)
    kw = dict(stride=2, padding=1, groups=groups)
    rank = len(x_shape) - 2
    out = _conv_fn(rank, transposed)(*ours, **kw)
    ref = getattr(TF, f"conv_transpose{rank}d" if transposed else f"conv{rank}d")(*theirs, **kw)
    _assert_matches_torch(out, ref, ours, theirs, np.float64, rng)


def test_no_input_channels_sum_to_the_bias():
    # torch answers (2, 0, 5), the input's channel count: the sum over no channels is the bias
    rng = np.random.default_rng(5)
    x, w, b = (convzoo.tensor(rng.standard_normal(s), requires_grad=True) for s in [(2, 0, 9), (4, 0, 3), (4,)])
    out = F.conv1d(x, w, b, stride=2, padding=1)
    np.testing.assert_array_equal(out.numpy(), np.broadcast_to(b.numpy()[:, None], (2, 4, 5)))
    g = rng.standard_normal((2, 4, 5))
    out.backward(g)
    assert x.grad.shape == (2, 0, 9) and w.grad.shape == (4, 0, 3)
    np.testing.assert_allclose(b.grad.numpy(), g.sum(axis=(0, 2)))


@pytest.mark.parametrize("stride, sides", [(1, (9, 50)), (2, (8, 13))], ids=["same-3x3", "stride-2-3x3"])
def test_depthwise_gradients_asked_together_or_alone_match_torch(stride, sides):
    # both gradients of a depthwise conv come from one pass over the planes (kernels.conv.conv_backward);
    # either alone from its own kernel: the same bits, and torch's values
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 5) + sides).astype(np.float32)
    w = rng.standard_normal((5, 1, 3, 3)).astype(np.float32)
    ref = TF.conv2d(torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True), stride=stride,
                    padding=1, groups=5)
    g = rng.standard_normal(ref.shape).astype(np.float32)
    grads = {}
    for wanted in ((True, True), (True, False), (False, True)):
        ours = [convzoo.tensor(a, requires_grad=need) for a, need in zip((x, w), wanted)]
        F.conv2d(*ours, stride=stride, padding=1, groups=5).backward(g)
        grads[wanted] = [a.grad for a in ours]
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    TF.conv2d(xt, wt, stride=stride, padding=1, groups=5).backward(torch.tensor(g))
    for i, want in enumerate((xt.grad.numpy(), wt.grad.numpy())):
        together = grads[(True, True)][i].numpy()
        alone = grads[(True, False) if i == 0 else (False, True)][i].numpy()
        np.testing.assert_array_equal(together, alone)
        assert_close(together, want, np.float32, "input" if i == 0 else "weight")
