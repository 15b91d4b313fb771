"""Losses: PyTorch parity for cross_entropy (indices and probabilities, weights, ignore_index,
label_smoothing, every reduction, K-d input), nll_loss and mse_loss; check_vjp; bad input."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings, strategies as st

import convzoo.nn.functional as F
from tests.gradcheck import check_vjp
from tests.nn.parity import check_parity

DTYPES = [np.float64, np.float32]


@st.composite
def classification(draw):
    n, c = draw(st.integers(1, 5)), draw(st.integers(2, 6))
    extra = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    seed = draw(st.integers(0, 2 ** 16))
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, c) + extra) * 3
    target = rng.integers(0, c, (n,) + extra)
    ignore = draw(st.sampled_from([-100, 0]))
    if ignore == 0 and (target != 0).sum() == 0:
        target[(0,) * target.ndim] = 1  # keep one counted target so "mean" is defined
    weight = draw(st.sampled_from([None, "w"]))
    weight = rng.uniform(0.5, 2.0, c) if weight else None
    return logits, target, ignore, weight, rng


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@settings(max_examples=15, deadline=None)
@given(case=classification(), smoothing=st.sampled_from([0.0, 0.0, 0.1, 0.7]))
def test_cross_entropy_with_indices_matches_torch(case, smoothing, reduction, dtype):
    logits, target, ignore, weight, _ = case
    w = None if weight is None else weight.astype(dtype)
    kw = dict(ignore_index=ignore, reduction=reduction, label_smoothing=smoothing)
    check_parity(lambda x: F.cross_entropy(x, target, weight=w, **kw),
                 lambda x: TF.cross_entropy(x, torch.tensor(target), weight=None if w is None else torch.tensor(w), **kw),
                 [logits], dtype)
    check_parity(lambda x: F.nll_loss(F.log_softmax(x, 1), target, weight=w, ignore_index=ignore, reduction=reduction),
                 lambda x: TF.nll_loss(TF.log_softmax(x, 1), torch.tensor(target),
                                       weight=None if w is None else torch.tensor(w), ignore_index=ignore,
                                       reduction=reduction), [logits], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@settings(max_examples=10, deadline=None)
@given(case=classification(), smoothing=st.sampled_from([0.0, 0.2]))
def test_cross_entropy_with_probabilities_matches_torch(case, smoothing, reduction, dtype):
    logits, _, _, weight, rng = case
    probs = rng.dirichlet(np.ones(logits.shape[1]), size=(logits.shape[0],) + logits.shape[2:])
    probs = np.moveaxis(probs, -1, 1).astype(dtype)
    w = None if weight is None else weight.astype(dtype)
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    check_parity(lambda x: F.cross_entropy(x, probs, weight=w, **kw),
                 lambda x: TF.cross_entropy(x, torch.tensor(probs), weight=None if w is None else torch.tensor(w), **kw),
                 [logits], dtype)


def test_unbatched_and_extreme_logits():
    x = np.array([1000.0, -1000.0, 0.0])
    check_parity(lambda t: F.cross_entropy(t, np.array(1)), lambda t: TF.cross_entropy(t, torch.tensor(1)),
                 [x], np.float64)
    check_parity(lambda t: F.cross_entropy(t, np.array([0, 2]), reduction="none"),
                 lambda t: TF.cross_entropy(t, torch.tensor([0, 2]), reduction="none"),
                 [np.stack([x, -x])], np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_torch(reduction, dtype):
    rng = np.random.default_rng(0)
    check_parity(lambda a, b: F.mse_loss(a, b, reduction=reduction), lambda a, b: TF.mse_loss(a, b, reduction=reduction),
                 [rng.standard_normal((3, 4)), rng.standard_normal((3, 4))], dtype)


def test_vjps_by_finite_differences():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 5, 2))
    t = rng.integers(0, 5, (4, 2))
    check_vjp(lambda a: F.cross_entropy(a, t, weight=np.linspace(0.5, 2, 5), label_smoothing=0.3), x)
    check_vjp(lambda a: F.cross_entropy(a, t, ignore_index=3, reduction="none"), x)
    probs = rng.dirichlet(np.ones(5), size=(4, 2)).transpose(0, 2, 1)
    check_vjp(lambda a: F.cross_entropy(a, probs, label_smoothing=0.1), x)
    check_vjp(lambda a: F.nll_loss(a, t, reduction="sum"), x)
    check_vjp(lambda a, b: F.mse_loss(a, b), x, rng.standard_normal(x.shape))


@pytest.mark.parametrize("call, error, match", [
    (lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0, 3])), ValueError, r"class 3 outside \[0, 2\]"),
    (lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0])), ValueError, r"target of shape \(2,\)"),
    (lambda: F.cross_entropy(np.zeros((2, 3)), np.zeros((2, 4))), ValueError, "probability target"),
    (lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0, 1]), reduction="avg"), ValueError, "reduction"),
    (lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0, 1]), label_smoothing=2), ValueError, "label_smoothing"),
    (lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0, 1]), weight=np.ones(2)), ValueError, "weight"),
    (lambda: F.nll_loss(np.zeros((2, 3)), np.array([0.0, 1.0])), TypeError, "integer dtype"),
    (lambda: F.mse_loss(np.zeros(3), np.zeros(4)), ValueError, r"\(3,\).*\(4,\)"),
    # PyTorch's third positional is the deprecated size_average: refuse rather than misread it
    (lambda: F.mse_loss(np.zeros(3), np.zeros(3), "sum"), TypeError, "positional"),
    (lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0, 1]), None, None, 5), TypeError, "positional"),
])
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
