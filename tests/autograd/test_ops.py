"""Elementwise, reduction and shape primitives: values and gradients against PyTorch, and check_vjp."""
import numpy as np
import pytest
import torch

import convzoo
from tests.gradcheck import check_vjp

rng = np.random.default_rng(0)
A = rng.standard_normal((3, 4))
B = rng.standard_normal((4,))  # broadcasts against A
POS = rng.uniform(0.5, 2.0, (3, 4))

# name, function of two operands (same code for convzoo and torch), operands
BINARY = [
    ("add", lambda a, b: a + b, A, B),
    ("sub", lambda a, b: a - b, A, B),
    ("rsub", lambda a, b: b - a, A, B),
    ("mul", lambda a, b: a * b, A, B),
    ("div", lambda a, b: a / b, A, POS),
    ("pow", lambda a, b: a ** b, POS, A),
    ("matmul", lambda a, b: a @ b, A, rng.standard_normal((4, 5))),
    ("matmul_vec", lambda a, b: a @ b, A, B),
    ("vec_matmul", lambda a, b: a @ b, rng.standard_normal(3), A),
    ("batched_matmul", lambda a, b: a @ b, rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 2))),
]
UNARY = [
    ("neg", lambda a: -a, A),
    ("pow_scalar", lambda a: a ** 3, A),
    ("exp", lambda a: a.exp(), A),
    ("log", lambda a: a.log(), POS),
    ("sum", lambda a: a.sum(), A),
    ("sum_dim", lambda a: a.sum(1), A),
    ("sum_keepdim", lambda a: a.sum(0, keepdim=True), A),
    ("mean", lambda a: a.mean(), A),
    ("mean_dims", lambda a: a.mean((0, 1)), A),
    ("max", lambda a: a.max(), A),
    ("reshape", lambda a: a.reshape(2, 6) * 2, A),
    ("view", lambda a: a.view(-1), A),
    ("permute", lambda a: a.reshape(3, 2, 2).permute(2, 0, 1), A),
    ("transpose", lambda a: a.transpose(0, 1), A),
    ("T", lambda a: a.T, A),
    ("getitem_slice", lambda a: a[1:, ::2], A),
    ("getitem_int_repeated", lambda a: a[[0, 0, 2]], A),
    ("scalar_ops", lambda a: (2.0 * a + 1.0) / 3.0 - 0.5, A),
    ("rdiv", lambda a: 1.0 / a, POS),
]


def _torch(a):
    return torch.tensor(a, requires_grad=True)


@pytest.mark.parametrize("name,fn,a,b", BINARY, ids=[c[0] for c in BINARY])
def test_binary_matches_torch(name, fn, a, b):
    x, y = convzoo.tensor(a, requires_grad=True), convzoo.tensor(b, requires_grad=True)
    xt, yt = _torch(a), _torch(b)
    out, out_t = fn(x, y), fn(xt, yt)
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=1e-12)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    out_t.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(y.grad.numpy(), yt.grad.numpy(), rtol=1e-10, atol=1e-12)
    check_vjp(fn, a, b)


@pytest.mark.parametrize("name,fn,a", UNARY, ids=[c[0] for c in UNARY])
def test_unary_matches_torch(name, fn, a):
    x, xt = convzoo.tensor(a, requires_grad=True), _torch(a)
    out, out_t = fn(x), fn(xt)
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=1e-12)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    out_t.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    check_vjp(fn, a)


def test_float32_stays_float32_with_python_scalars():
    x = convzoo.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2.0 + 1) / 3.0 - 0.5
    assert x.dtype == np.float32 and y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_max_splits_gradient_between_ties_like_torch():
    a = np.array([1.0, 3.0, 3.0])
    x, xt = convzoo.tensor(a, requires_grad=True), _torch(a)
    x.max().backward()
    xt.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy())
