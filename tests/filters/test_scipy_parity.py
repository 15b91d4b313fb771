"""Named filters and apply() against scipy.ndimage on real images, in every boundary mode both have."""
import numpy as np
import pytest
from scipy import ndimage as ndi

from convzoo import filters

# ours -> scipy.ndimage (their "reflect" is our "symmetric", their "mirror" our "reflect")
MODES = [("reflect", "mirror"), ("symmetric", "reflect"), ("replicate", "nearest"), ("circular", "wrap"),
         ("constant", "constant"), ("zeros", "constant")]


def cval_for(ours):
    return 37.5 if ours == "constant" else 0.0


def close(ours, ref, dtype=np.float64):
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    scale = max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(ours, ref, rtol=0, atol=rtol * scale)


@pytest.mark.parametrize("ours, theirs", MODES)
def test_blurs_match_scipy(grey, ours, theirs):
    x, cval = grey.astype(np.float64), cval_for(ours)
    for size in (3, 4, (2, 5)):
        close(filters.box_blur(x, size, ours, cval), ndi.uniform_filter(x, size, mode=theirs, cval=cval))
    for sigma in (0.8, (1.5, 0.6)):
        close(filters.gaussian_blur(x, sigma, ours, cval), ndi.gaussian_filter(x, sigma, mode=theirs, cval=cval))
    close(filters.gaussian_blur(x, 2.0, ours, cval, truncate=2.5),
          ndi.gaussian_filter(x, 2.0, mode=theirs, cval=cval, truncate=2.5))


@pytest.mark.parametrize("ours, theirs", MODES)
def test_edges_match_scipy(grey, ours, theirs):
    x, cval = grey.astype(np.float64), cval_for(ours)
    close(filters.laplace(x, ours, cval), ndi.laplace(x, mode=theirs, cval=cval))
    for name in ("sobel", "prewitt"):
        ours_fn, theirs_fn = getattr(filters, name), getattr(ndi, name)
        for axis in (0, 1, -1):
            full = filters.kernel(name, axis=axis)
            # the exact 2-D correlation of the padded image, in every mode
            close(ours_fn(x, axis, ours, cval), ndi.correlate(x, full, mode=theirs, cval=cval))
            if cval == 0:
                # scipy's sobel/prewitt pad each of their 1-D passes with cval, so agree where cval is 0
                close(ours_fn(x, axis, ours, cval), theirs_fn(x, axis, mode=theirs, cval=cval))
        if cval == 0:
            magnitude = ndi.generic_gradient_magnitude(x, theirs_fn, mode=theirs, cval=cval)
            close(ours_fn(x, None, ours, cval), magnitude)


def test_scharr_is_opencv_kernel(grey):
    x = grey.astype(np.float64)
    opencv_scharr_x = np.array([[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]], dtype=np.float64)
    close(filters.scharr(x, 1), ndi.correlate(x, opencv_scharr_x, mode="mirror"))
    close(filters.scharr(x, 0), ndi.correlate(x, opencv_scharr_x.T, mode="mirror"))


@pytest.mark.parametrize("ours, theirs", MODES)
@pytest.mark.parametrize("shape", [(3, 3), (4, 5), (2, 6), (1, 4), (7,)])
def test_apply_matches_correlate_and_convolve(grey, ours, theirs, shape):
    rng = np.random.default_rng(len(shape) * 10 + shape[0])
    kernel = rng.standard_normal(shape)
    x, cval = grey.astype(np.float64), cval_for(ours)
    if kernel.ndim == 1:
        x = x[0]  # a 1-D kernel filters a 1-D signal
    close(filters.apply(x, kernel, ours, cval), ndi.correlate(x, kernel, mode=theirs, cval=cval))
    close(filters.apply(x, kernel, ours, cval, flip=True), ndi.convolve(x, kernel, mode=theirs, cval=cval))


def test_float32_within_float_rounding(grey):
    x = grey.astype(np.float32) / 255
    out = filters.gaussian_blur(x, 1.2)
    assert out.dtype == np.float32
    close(out, ndi.gaussian_filter(x.astype(np.float64), 1.2, mode="mirror"), np.float32)
    close(filters.sobel(x), ndi.generic_gradient_magnitude(x.astype(np.float64), ndi.sobel, mode="mirror"),
          np.float32)


def test_volume_with_3d_kernels():
    rng = np.random.default_rng(3)
    volume = rng.random((9, 10, 11))
    close(filters.gaussian_blur(volume, (1.0, 0.7, 1.3), "symmetric"), ndi.gaussian_filter(volume, (1.0, 0.7, 1.3)))
    close(filters.box_blur(volume, (3, 2, 4), "replicate"), ndi.uniform_filter(volume, (3, 2, 4), mode="nearest"))
    close(filters.sobel(volume, 2, ndim=3), ndi.sobel(volume, 2, mode="mirror"))
    close(filters.laplace(volume, "circular", ndim=3), ndi.laplace(volume, mode="wrap"))
    kernel = rng.standard_normal((3, 2, 4))
    close(filters.apply(volume, kernel, flip=True), ndi.convolve(volume, kernel, mode="mirror"))


def test_integer_images_round_and_clip_like_the_float_result(grey):
    out = filters.box_blur(grey, 4)
    assert out.dtype == np.uint8
    reference = ndi.uniform_filter(grey.astype(np.float64), 4, mode="mirror")
    np.testing.assert_array_equal(out, np.clip(np.rint(reference), 0, 255))
    signed = filters.sobel(grey.astype(np.int16), axis=1)
    assert signed.dtype == np.int16 and signed.min() < 0  # int16 keeps the sign
    np.testing.assert_array_equal(signed, ndi.sobel(grey.astype(np.float64), 1, mode="mirror"))
    clipped = filters.sobel(grey, axis=1)  # uint8 cannot hold negative derivatives: clipped to 0..255
    np.testing.assert_array_equal(clipped, np.clip(ndi.sobel(grey.astype(np.float64), 1, mode="mirror"), 0, 255))


def test_unsharp_mask_formula(grey):
    x = grey.astype(np.float64)
    blurred = ndi.gaussian_filter(x, 2.0, mode="mirror")
    close(filters.unsharp_mask(x, radius=2.0, amount=1.5), x + 1.5 * (x - blurred))
    thresholded = filters.unsharp_mask(x, radius=2.0, amount=1.5, threshold=6.0)
    keep = np.abs(x - blurred) < 6.0
    close(thresholded[keep], x[keep])
    close(thresholded[~keep], (x + 1.5 * (x - blurred))[~keep])
    out8 = filters.unsharp_mask(grey, 1.0, 0.8)
    np.testing.assert_array_equal(
        out8, np.clip(np.rint(x + 0.8 * (x - ndi.gaussian_filter(x, 1.0, mode="mirror"))), 0, 255))
