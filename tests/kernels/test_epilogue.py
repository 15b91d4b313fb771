"""The fused bias + activation epilogue: serial and on-lanes passes against NumPy, NaN as ReLU."""
import numpy as np
import pytest

from convzoo.kernels import elementwise, epilogue
from convzoo.nn import functional as F


def _reference(out, bias, activation):
    y = out + (0 if bias is None else bias.reshape(1, -1, 1, 1))
    return np.where(np.isnan(y) | (y > 0), y, 0).astype(out.dtype) if activation == "relu" else y


@pytest.mark.parametrize("grain", ["serial", "parallel"])
@pytest.mark.parametrize("bias_and_activation", [(True, None), (True, "relu"), (False, "relu")])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_activation_matches_numpy_on_both_paths(grain, bias_and_activation, dtype, monkeypatch):
    with_bias, activation = bias_and_activation
    if grain == "parallel":
        monkeypatch.setattr(elementwise, "STREAM_GRAIN", 0)  # 21 planes in one range per lane
    rng = np.random.default_rng(3)
    out = rng.standard_normal((3, 7, 5, 4)).astype(dtype)
    out[0, 1, 2, 3] = np.nan
    out[2, 6, 0, 0] = -0.0
    bias = rng.standard_normal(7).astype(dtype) if with_bias else None
    expected = _reference(out, bias, activation)
    got = epilogue.bias_activation_(out.copy(), bias, activation)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == dtype


def test_no_bias_and_no_activation_return_the_output_untouched():
    out = np.arange(6.0).reshape(1, 2, 3)
    assert epilogue.bias_activation_(out) is out
    np.testing.assert_array_equal(out, np.arange(6.0).reshape(1, 2, 3))


def test_fused_relu_keeps_nan_as_the_unfused_relu_does():
    x = np.ones((1, 1, 4, 4), dtype=np.float32)
    x[0, 0, 1, 1] = np.nan
    w = np.ones((2, 1, 1, 1), dtype=np.float32)
    b = np.array([-5.0, 1.0], dtype=np.float32)
    fused = F.conv2d(x, w, b, activation="relu").numpy()
    unfused = F.relu(F.conv2d(x, w, b)).numpy()
    np.testing.assert_array_equal(fused, unfused)
    assert np.isnan(fused[0, :, 1, 1]).all()
    assert (fused[0, 0][~np.isnan(fused[0, 0])] == 0).all()


@pytest.mark.parametrize("shape", [(3, 7, 5, 4), (2, 3, 130), (64, 6, 28, 28), (1, 2, 3, 4, 5), (2, 4, 0, 3), (5, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_gradient_sums_every_axis_but_the_channels(shape, dtype):
    rng = np.random.default_rng(sum(shape))
    grad = rng.standard_normal(shape).astype(dtype)
    got = epilogue.bias_gradient(grad)
    axes = (0,) + tuple(range(2, grad.ndim))
    exact = grad.astype(np.float64).sum(axis=axes)
    assert got.dtype == dtype and got.shape == (shape[1],)
    # a sum of the dtype: within a few roundings of the sum of magnitudes, for a C or a Fortran array
    bound = 8 * np.finfo(dtype).eps * np.abs(grad).astype(np.float64).sum(axis=axes)
    for sums in (got, epilogue.bias_gradient(np.asfortranarray(grad))):
        assert (np.abs(sums - exact) <= bound).all()
