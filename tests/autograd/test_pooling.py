"""Pooling and ReLU Functions on the vectorised fast paths (kernels/pool2d.py, elementwise.py):
finite-difference VJPs, and the argmax a MaxPool keeps only when a backward can follow."""
import numpy as np
import pytest

import convzoo
import convzoo.nn.functional as F
from tests.gradcheck import check_vjp

FAST_GEOMETRIES = [dict(kernel_size=2, stride=2), dict(kernel_size=3, stride=2, padding=1),
                   dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)]


@pytest.mark.parametrize("kw", FAST_GEOMETRIES)
def test_fast_max_and_avg_pool_vjps_by_finite_differences(kw):
    # distinct values, so no window is near a tie that a finite step could flip
    x = np.random.default_rng(0).permutation(2 * 3 * 9 * 10).reshape(2, 3, 9, 10) / 7.0
    check_vjp(lambda t: F.max_pool2d(t, **kw), x)
    if kw["kernel_size"] == 2:
        check_vjp(lambda t: F.avg_pool2d(t, **kw), x)


def test_relu_vjp_by_finite_differences():
    x = np.random.default_rng(1).standard_normal((2, 3, 40, 50))
    x[np.abs(x) < 1e-3] = 0.5  # away from the kink
    check_vjp(F.relu, x)


@pytest.mark.parametrize("kw", FAST_GEOMETRIES)
def test_max_pool_without_a_graph_gives_the_same_values_and_indices(kw):
    # no_grad skips the argmax (3x3 takes a separable loop); return_indices recomputes it
    rng = np.random.default_rng(2)
    x = rng.integers(0, 3, (2, 4, 11, 12)).astype(np.float32)  # ties everywhere
    x[rng.random(x.shape) < 0.05] = np.nan
    tracked = convzoo.tensor(x, requires_grad=True)
    out, index = F.max_pool2d(tracked, return_indices=True, **kw)
    with convzoo.no_grad():
        plain = F.max_pool2d(x, **kw)
        plain_out, plain_index = F.max_pool2d(x, return_indices=True, **kw)
    np.testing.assert_array_equal(plain.numpy(), out.numpy())
    np.testing.assert_array_equal(plain_out.numpy(), out.numpy())
    np.testing.assert_array_equal(plain_index.numpy(), index.numpy())
    out.backward(np.ones(out.shape, np.float32))
    # each window's gradient lands on the element its index names
    expected = np.zeros(x.shape[:2] + (x.shape[2] * x.shape[3],), np.float32)
    planes = np.arange(8).reshape(2, 4, 1)
    np.add.at(expected, (planes // 4, planes % 4, index.numpy().reshape(2, 4, -1)), 1)
    np.testing.assert_array_equal(tracked.grad.numpy().reshape(expected.shape), expected)
