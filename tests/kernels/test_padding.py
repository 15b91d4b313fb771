"""kernels/padding.py against the naive definitions and numpy.pad."""
import numpy as np
import pytest

from convzoo.kernels import padding
from tests import naive

NUMPY_NAME = {"zeros": "constant", "reflect": "reflect", "symmetric": "symmetric",
              "replicate": "edge", "circular": "wrap"}


@pytest.mark.parametrize("mode", padding.MODES)
@pytest.mark.parametrize("pairs", [((1, 2),), ((0, 3), (2, 0)), ((2, 1), (1, 1), (0, 2))])
def test_pad_matches_naive_and_numpy(mode, pairs):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3) + (4, 5, 3)[:len(pairs)])
    got = padding.pad(x, pairs, mode)
    np.testing.assert_array_equal(got, naive.pad(x, pairs, mode))
    np.testing.assert_array_equal(got, np.pad(x, ((0, 0), (0, 0)) + pairs, mode=NUMPY_NAME[mode]))


@pytest.mark.parametrize("mode", ["symmetric", "circular", "replicate"])
def test_pad_wider_than_input_bounces(mode):
    x = np.arange(3.0)[None, None]
    np.testing.assert_array_equal(padding.pad(x, ((7, 5),), mode), naive.pad(x, ((7, 5),), mode))
    np.testing.assert_array_equal(padding.pad(x, ((7, 5),), mode)[0, 0],
                                  np.pad(x[0, 0], (7, 5), mode=NUMPY_NAME[mode]))


def test_constant_value():
    x = np.ones((1, 1, 2, 2))
    out = padding.pad(x, ((1, 0), (0, 1)), "zeros", value=-3.0)
    assert out.shape == (1, 1, 3, 3) and out[0, 0, 0, 0] == -3.0 and out[0, 0, 1, 2] == -3.0


@pytest.mark.parametrize("mode", padding.MODES)
def test_pad_adjoint_matches_naive_and_is_the_transpose(mode):
    rng = np.random.default_rng(2)
    pairs = ((2, 1), (1, 3))
    x = rng.standard_normal((2, 2, 4, 5))
    g = rng.standard_normal((2, 2, 7, 9))
    got = padding.pad_adjoint(g, pairs, mode)
    np.testing.assert_allclose(got, naive.pad_adjoint(g, pairs, mode), rtol=1e-13, atol=1e-13)
    # <pad(x), g> == <x, pad_adjoint(g)>
    assert np.isclose(np.sum(padding.pad(x, pairs, mode) * g), np.sum(x * got), rtol=1e-12)
