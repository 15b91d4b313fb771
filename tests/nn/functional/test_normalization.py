"""batch_norm: PyTorch parity in training (values, gradients, running statistics with the unbiased
variance) and evaluation; check_vjp; bad input."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings, strategies as st

import convzoo.nn.functional as F
from tests.gradcheck import check_vjp
from tests.nn.parity import assert_close, check_parity


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("affine", [True, False])
@settings(max_examples=8, deadline=None)
@given(shape=st.sampled_from([(4, 3), (2, 3, 5), (3, 2, 4, 5)]), seed=st.integers(0, 1000),
       momentum=st.sampled_from([0.1, 0.5]))
def test_training_mode_matches_torch(shape, seed, momentum, affine, dtype):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 3 + 1
    c = shape[1]
    rm, rv = rng.standard_normal(c).astype(dtype), rng.uniform(0.5, 2, c).astype(dtype)
    trm, trv = torch.tensor(rm), torch.tensor(rv)
    params = [rng.standard_normal(c), rng.standard_normal(c)] if affine else []
    check_parity(lambda t, *wb: F.batch_norm(t, rm, rv, *wb, training=True, momentum=momentum),
                 lambda t, *wb: TF.batch_norm(t, trm, trv, *wb, training=True, momentum=momentum),
                 [x] + params, dtype)
    assert_close(rm, trm.numpy(), dtype, "running_mean")
    assert_close(rv, trv.numpy(), dtype, "running_var")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_eval_mode_matches_torch(dtype):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((3, 4, 5)), rng.standard_normal(4), rng.standard_normal(4)
    rm, rv = rng.standard_normal(4).astype(dtype), rng.uniform(0.5, 2, 4).astype(dtype)
    check_parity(lambda t, w_, b_: F.batch_norm(t, rm, rv, w_, b_),
                 lambda t, w_, b_: TF.batch_norm(t, torch.tensor(rm), torch.tensor(rv), w_, b_), [x, w, b], dtype)


def test_vjp_by_finite_differences():
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((4, 3, 2, 2)), rng.standard_normal(3), rng.standard_normal(3)
    check_vjp(lambda t, w_, b_: F.batch_norm(t, None, None, w_, b_, training=True), x, w, b)
    check_vjp(lambda t: F.batch_norm(t, None, None, training=True), x)
    check_vjp(lambda t, w_: F.batch_norm(t, np.zeros(3), np.ones(3), w_), x, w)


@pytest.mark.parametrize("call, match", [
    (lambda: F.batch_norm(np.ones((1, 3)), None, None, training=True), "more than 1 value per channel"),
    (lambda: F.batch_norm(np.ones((2, 3)), np.zeros(4), np.ones(3), training=True), r"running_mean must be .*\(3,\)"),
    (lambda: F.batch_norm(np.ones((2, 3)), None, None), "needs running_mean and running_var"),
    (lambda: F.batch_norm(np.ones(3), None, None, training=True), r"\(N, C, \*\); received shape \(3,\)"),
    (lambda: F.batch_norm(np.ones((2, 3)), None, None, np.ones(2), training=True), r"weight must have shape \(3,\)"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()
