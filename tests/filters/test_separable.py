"""The automatic separable path (rank 1 by SVD within a tolerance) equals the full N-d path."""
import numpy as np
import pytest

from convzoo import filters
from convzoo.filters import correlation
from convzoo.filters.separability import separate


def outer(*factors):
    out = np.ones(())
    for f in factors:
        out = np.multiply.outer(out, np.asarray(f, dtype=np.float64))
    return out


@pytest.mark.parametrize("name, params", [("box", {"size": 5}), ("gaussian", {"sigma": 1.3}), ("sobel", {"axis": 0}),
                                          ("prewitt", {"axis": 1}), ("scharr", {"axis": 1}),
                                          ("motion_blur", {"angle": 90})])
def test_separable_named_kernels_split_exactly(name, params):
    k = filters.kernel(name, **params)
    factors = separate(k)
    assert factors is not None and [axis for axis, _ in factors] == [a for a in range(2) if k.shape[a] > 1]
    rebuilt = outer(*[f for _, f in factors]).reshape(k.shape)
    np.testing.assert_allclose(rebuilt, k, rtol=0, atol=1e-15)


def test_integer_kernels_split_into_integer_factors():
    (_, a), (_, b) = separate(filters.kernel("sobel", axis=1))
    assert a.tolist() == [-1.0, -2.0, -1.0] and b.tolist() == [1.0, -0.0, -1.0]


@pytest.mark.parametrize("name", ["laplace", "blur", "sharpen", "emboss", "smooth_more", "find_edges"])
def test_rank_two_kernels_are_not_separable(name):
    assert separate(filters.kernel(name)) is None


def test_tolerance():
    k = outer([1.0, 3.0, 2.0], [2.0, -1.0, 0.5, 4.0])
    bump = np.zeros_like(k)
    bump[1, 2] = 1.0
    assert separate(k + 1e-14 * bump) is not None
    assert separate(k + 1e-3 * bump) is None
    assert separate(k + 1e-3 * bump, rtol=1e-3) is not None
    assert separate(np.zeros((3, 3))) is None and separate(np.ones((1, 1))) is None
    three = outer([1, 2], [3, 1, 4], [1, 5, 9, 2])
    assert [a for a, _ in separate(three)] == [0, 1, 2]
    assert separate(three + 0.1 * np.random.default_rng(0).random(three.shape)) is None


MODES = ["reflect", "symmetric", "replicate", "circular", "constant", "zeros"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("flip", [False, True])
def test_separable_path_equals_full_path(grey, mode, flip):
    rng = np.random.default_rng(7)
    x = grey.astype(np.float64)
    cval = 11.0 if mode == "constant" else 0.0
    for k in (filters.kernel("gaussian", sigma=1.1), filters.kernel("sobel", axis=0),
              outer(rng.standard_normal(4), rng.standard_normal(5)), outer(rng.standard_normal(6), [1.0])):
        fast = filters.apply(x, k, mode, cval, flip)
        full = filters.apply(x, k, mode, cval, flip, separable=False)
        np.testing.assert_allclose(fast, full, rtol=0, atol=1e-10 * max(1.0, np.abs(full).max()))


def test_separable_3d_equals_full_3d():
    rng = np.random.default_rng(1)
    volume = rng.random((2, 7, 8, 9))
    k = outer(rng.standard_normal(3), rng.standard_normal(2), rng.standard_normal(4))
    for mode, cval in (("symmetric", 0.0), ("constant", -2.5)):
        np.testing.assert_allclose(filters.apply(volume, k, mode, cval, channel_axis=None),
                                   filters.apply(volume, k, mode, cval, channel_axis=None, separable=False),
                                   rtol=0, atol=1e-12)


def test_separable_kernel_runs_as_one_dimensional_passes(monkeypatch):
    seen = []
    real = correlation.conv_forward

    def spy(xp, weight, *args):
        seen.append(weight.shape[2:])
        return real(xp, weight, *args)

    monkeypatch.setattr(correlation, "conv_forward", spy)
    image = np.random.default_rng(2).random((20, 30))
    filters.gaussian_blur(image, 2.0)
    assert seen == [(17, 1), (1, 17)]
    seen.clear()
    filters.gaussian_blur(image.astype(np.float32), 2.0)  # judged on the float64 kernel, not its float32 copy
    assert seen == [(17, 1), (1, 17)]
    seen.clear()
    filters.gaussian_blur((image * 255).astype(np.uint8), 2.0)
    assert seen == [(17, 1), (1, 17)]
    seen.clear()
    filters.apply(image, filters.kernel("gaussian", sigma=2.0), separable=False)
    assert seen == [(17, 17)]
    seen.clear()
    filters.laplace(image)
    assert seen == [(3, 3)]
