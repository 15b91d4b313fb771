"""The named kernels: matrices, sums, symmetries, and motion blur geometry."""
import numpy as np
import pytest
from scipy import ndimage as ndi

from convzoo import filters


@pytest.mark.parametrize("name", list(filters.KERNELS))
def test_every_named_kernel_builds_with_defaults(name):
    k = filters.kernel(name)
    assert k.dtype == np.float64 and k.ndim == 2 and np.isfinite(k).all()
    entry = filters.KERNELS[name]
    assert entry.name == name and entry.summary and entry.offset in (0, "mid", "white")
    np.testing.assert_array_equal(filters.kernel(name, **entry.params), k)


@pytest.mark.parametrize("name", ["identity", "box", "gaussian", "motion_blur", "blur", "smooth", "smooth_more",
                                  "sharpen", "detail", "edge_enhance"])
def test_brightness_preserving_kernels_sum_to_one(name):
    assert filters.kernel(name).sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("name", ["sobel", "prewitt", "scharr", "laplace", "find_edges", "emboss", "contour"])
def test_derivative_kernels_sum_to_zero(name):
    assert filters.kernel(name).sum() == pytest.approx(0.0, abs=1e-12)


def test_gaussian_is_scipys_impulse_response():
    impulse = np.zeros((21, 21))
    impulse[10, 10] = 1.0
    for sigma, truncate in ((1.0, 4.0), (2.3, 3.0), (0.5, 4.0)):
        k = filters.kernel("gaussian", sigma=sigma, truncate=truncate)
        r = k.shape[0] // 2
        response = ndi.gaussian_filter(impulse, sigma, truncate=truncate, mode="constant")
        np.testing.assert_allclose(k, response[10 - r:11 + r, 10 - r:11 + r][::-1, ::-1], atol=1e-15)
        assert r == int(truncate * sigma + 0.5)


def test_derivatives_point_along_their_axis():
    assert filters.kernel("sobel", axis=1).tolist() == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    assert filters.kernel("sobel", axis=0).tolist() == [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]
    assert filters.kernel("prewitt", axis=-1).tolist() == [[-1, 0, 1]] * 3
    assert filters.kernel("scharr", axis=1)[:, 2].tolist() == [3, 10, 3]
    assert filters.kernel("laplace").tolist() == [[0, 1, 0], [1, -4, 1], [0, 1, 0]]


@pytest.mark.parametrize("length", [1, 3, 5, 8])
def test_motion_blur_axis_aligned(length):
    horizontal = filters.kernel("motion_blur", length=length, angle=0)
    size = length | 1
    assert horizontal.shape == (size, size)
    np.testing.assert_allclose(horizontal, filters.kernel("motion_blur", length=length, angle=180), atol=1e-12)
    np.testing.assert_allclose(filters.kernel("motion_blur", length=length, angle=90), horizontal.T, atol=1e-12)
    row = horizontal[size // 2]
    assert horizontal.sum() == pytest.approx(1.0) and row.sum() == pytest.approx(1.0)
    if length % 2:
        np.testing.assert_allclose(row, np.full(length, 1 / length))
    else:  # an even length is centred: half-weight taps at both ends
        np.testing.assert_allclose(row, np.r_[0.5, np.ones(length - 1), 0.5] / length)


@pytest.mark.parametrize("angle", [30.0, 45.0, 117.0])
def test_motion_blur_diagonal_follows_the_angle(angle):
    k = filters.kernel("motion_blur", length=9, angle=angle)
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-12)  # a line through the centre: point symmetric
    rows, cols = np.nonzero(k)
    c = k.shape[0] // 2
    # every tap lies within half a pixel of the line (x, y) = t (cos a, sin a), y up
    distance = np.abs(-(rows - c) * np.cos(np.radians(angle)) - (cols - c) * np.sin(np.radians(angle)))
    assert distance.max() <= np.sqrt(0.5) + 1e-9
    moments = np.cov(np.stack([cols - c, c - rows]), aweights=k[rows, cols])
    direction = np.linalg.eigh(moments)[1][:, -1]
    assert abs(abs(direction @ [np.cos(np.radians(angle)), np.sin(np.radians(angle))]) - 1) < 1e-2


def test_motion_blur_spreads_a_dot_along_the_line():
    dot = np.zeros((15, 15))
    dot[7, 7] = 1.0
    out = filters.motion_blur(dot, 5, 90, "constant")
    assert np.nonzero(out)[1].tolist() == [7] * 5 and out.sum() == pytest.approx(1.0)
