"""Activations, linear, flatten, dropout, pad: PyTorch parity, check_vjp, bad input."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings, strategies as st

import convzoo
import convzoo.nn.functional as F
from tests.gradcheck import check_vjp
from tests.nn.parity import check_parity

DTYPES = [np.float64, np.float32]
ACTIVATIONS = [
    ("relu", F.relu, TF.relu),
    ("leaky_relu", lambda t: F.leaky_relu(t, 0.2), lambda t: TF.leaky_relu(t, 0.2)),
    ("elu", lambda t: F.elu(t, 0.7), lambda t: TF.elu(t, 0.7)),
    ("gelu", F.gelu, TF.gelu),
    ("gelu_tanh", lambda t: F.gelu(t, "tanh"), lambda t: TF.gelu(t, approximate="tanh")),
    ("sigmoid", F.sigmoid, torch.sigmoid),
    ("tanh", F.tanh, torch.tanh),
    ("softmax0", lambda t: F.softmax(t, 0), lambda t: TF.softmax(t, 0)),
    ("softmax-1", lambda t: F.softmax(t, -1), lambda t: TF.softmax(t, -1)),
    ("log_softmax1", lambda t: F.log_softmax(t, 1), lambda t: TF.log_softmax(t, 1)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, ours, theirs", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
@settings(max_examples=8, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=2, max_size=4), seed=st.integers(0, 2 ** 16))
def test_activation_matches_torch(name, ours, theirs, shape, seed, dtype):
    x = np.random.default_rng(seed).standard_normal(shape) * 4
    x.flat[0] = 0.0  # the kink: d relu/dx at 0 is 0, as PyTorch
    check_parity(ours, theirs, [x], dtype)


@pytest.mark.parametrize("name, ours, theirs", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_vjp(name, ours, theirs):
    x = np.random.default_rng(0).standard_normal((3, 4, 5))
    x[np.abs(x) < 1e-3] = 0.5  # keep finite differences away from the kinks
    check_vjp(ours, x)


def test_relu_at_zero_and_nan():
    np.testing.assert_array_equal(F.relu(np.array([0.0, np.nan, -1.0, 2.0])).numpy(), [0.0, np.nan, 0.0, 2.0])
    t = convzoo.tensor([0.0, -0.0, 1.0], dtype=np.float64, requires_grad=True)
    F.relu(t).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [0.0, 0.0, 1.0])


def test_extreme_inputs_stay_finite():
    x = np.array([[-1000.0, 0.0, 1000.0]])
    assert np.isfinite(F.sigmoid(x).numpy()).all()
    assert np.isfinite(F.log_softmax(x, 1).numpy()).all()
    np.testing.assert_allclose(F.softmax(x, 1).numpy(), [[0, 0, 1]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_and_flatten_match_torch(dtype):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((4, 3, 6)), rng.standard_normal((5, 6)), rng.standard_normal(5)
    check_parity(F.linear, TF.linear, [x, w, b], dtype)
    check_parity(lambda a, c: F.linear(a, c), lambda a, c: TF.linear(a, c), [x[0], w], dtype)
    check_parity(lambda a: F.flatten(a, 1), lambda a: torch.flatten(a, 1), [x], dtype)
    check_parity(lambda a: F.flatten(a, 0, 1), lambda a: torch.flatten(a, 0, 1), [x], dtype)
    check_vjp(F.linear, x, w, b)


PAD_CASES = [((1, 2), "constant"), ((1, 2, 0, 3), "constant"), ((2, 1, 1, 1), "reflect"), ((3, 0, 1, 2), "replicate"),
             ((2, 2, 1, 0), "circular"), ((-1, 2, 1, -2), "constant")]


@pytest.mark.parametrize("pad, mode", PAD_CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_pad_matches_torch(pad, mode, dtype):
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 6))
    check_parity(lambda t: F.pad(t, pad, mode), lambda t: TF.pad(t, pad, mode), [x], dtype)
    check_vjp(lambda t: F.pad(t, pad, mode), x)


def test_pad_value_and_symmetric():
    x = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(F.pad(x, (1, 1), value=7).numpy(), [[7, 1, 2, 3, 7]])
    np.testing.assert_array_equal(F.pad(x, (2, 2), mode="symmetric").numpy(), [[2, 1, 1, 2, 3, 3, 2]])


def test_dropout_is_seedable_scaled_and_identity_in_eval():
    from convzoo.nn.functional import regularization as dropout_module
    x = np.ones((100, 100))
    dropout_module.seed(5)
    a = F.dropout(x, 0.3).numpy()
    dropout_module.seed(5)
    b = F.dropout(x, 0.3).numpy()
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) <= {0.0, 1 / 0.7}
    assert abs((a == 0).mean() - 0.3) < 0.03
    np.testing.assert_array_equal(F.dropout(x, 0.3, training=False).numpy(), x)
    assert not F.dropout(x, 1.0).numpy().any()
    t = convzoo.tensor(x, requires_grad=True)
    dropout_module.seed(1)
    y = F.dropout(t, 0.5)
    y.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), y.numpy())  # the gradient is the same mask


@pytest.mark.parametrize("call, error, match", [
    (lambda: F.linear(np.ones((2, 3)), np.ones((4, 5))), ValueError, r"in_features=5; received \(2, 3\)"),
    (lambda: F.linear(np.ones((2, 3)), np.ones((4, 3)), np.ones(3)), ValueError, r"bias must have shape \(4,\)"),
    (lambda: F.softmax(np.ones((2, 3)), dim=2), ValueError, "dim must be"),
    (lambda: F.gelu(np.ones(2), approximate="erf"), ValueError, "approximate"),
    (lambda: F.dropout(np.ones(2), p=1.5), ValueError, "p must be in"),
    (lambda: F.pad(np.ones((2, 3)), (1, 1, 1, 1, 1, 1)), ValueError, "pads 3 axes"),
    (lambda: F.pad(np.ones((2, 3)), (1,)), TypeError, "even number"),
    (lambda: F.pad(np.ones((2, 3)), (3, 3), "reflect"), ValueError, "smaller than the input size"),
    (lambda: F.pad(np.ones((2, 3)), (1, 1), "mirror"), ValueError, "mode must be one of"),
    (lambda: F.flatten(np.ones((2, 3)), 3), ValueError, "start_dim"),
    (lambda: F.relu("x"), TypeError, "input must be a Tensor"),
])
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
