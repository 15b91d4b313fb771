"""Image layouts (grey, HWC, RGBA, batches, NCHW, N-d), dtypes, and every bad input."""
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage as ndi

from convzoo import filters


def test_colour_channels_filtered_independently(colour):
    out = filters.gaussian_blur(colour, 1.5)
    assert out.shape == colour.shape and out.dtype == np.uint8
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], filters.gaussian_blur(colour[..., c], 1.5))


def test_alpha_left_alone_unless_asked(colour):
    alpha = np.linspace(0, 255, colour.shape[0] * colour.shape[1]).reshape(colour.shape[:2]).astype(np.uint8)
    rgba = np.dstack([colour, alpha])
    out = filters.sharpen(rgba)
    np.testing.assert_array_equal(out[..., 3], alpha)
    np.testing.assert_array_equal(out[..., :3], filters.sharpen(colour))
    both = filters.sharpen(rgba, filter_alpha=True)
    np.testing.assert_array_equal(both[..., 3], filters.sharpen(alpha))
    la = np.dstack([colour[..., 0], alpha])  # grey + alpha
    np.testing.assert_array_equal(filters.box_blur(la)[..., 1], alpha)


def test_batches_and_channel_axes(colour):
    batch = np.stack([colour, colour[::-1], 255 - colour])  # (N, H, W, C)
    out = filters.emboss(batch)
    for i in range(3):
        np.testing.assert_array_equal(out[i], filters.emboss(batch[i]))
    nchw = batch.transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(filters.emboss(nchw, channel_axis=1), out.transpose(0, 3, 1, 2))
    greys = batch[..., 0]  # (N, H, W): a stack of grey images
    stacked = filters.sobel(greys, channel_axis=None)
    for i in range(3):
        np.testing.assert_array_equal(stacked[i], filters.sobel(greys[i]))
    chw = colour.transpose(2, 0, 1)
    np.testing.assert_array_equal(filters.box_blur(chw, 3, channel_axis=0), filters.box_blur(colour, 3).transpose(2, 0, 1))


def test_one_dimensional_signals():
    signal = np.sin(np.linspace(0, 6, 50))
    np.testing.assert_allclose(filters.apply(signal, [1, 2, 1]), ndi.correlate1d(signal, [1, 2, 1], mode="mirror"))
    batch = np.stack([signal, 2 * signal])
    out = filters.apply(batch, [0.25, 0.5, 0.25], "circular", channel_axis=None)
    np.testing.assert_allclose(out[1], 2 * out[0])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.int32, np.float16, np.float32, np.float64])
def test_dtypes_round_trip(grey, dtype):
    x = grey.astype(dtype)
    out = filters.gaussian_blur(x, 1.0)
    assert out.dtype == dtype and out.shape == x.shape
    reference = ndi.gaussian_filter(grey.astype(np.float64), 1.0, mode="mirror")
    if np.dtype(dtype).kind in "iu":
        np.testing.assert_array_equal(out, np.rint(reference))
    else:
        np.testing.assert_allclose(out, reference, rtol=0, atol=0.25 if dtype == np.float16 else 1e-5 * 255)


def test_offsets_per_dtype():
    flat = np.full((4, 4), 10)
    assert (filters.emboss(flat.astype(np.uint8)) == 128).all()
    assert (filters.emboss(flat.astype(np.uint16)) == 32768).all()
    assert (filters.emboss(flat.astype(np.int16)) == 0).all()
    assert np.allclose(filters.emboss(flat / 20.0), 0.5)
    assert (filters.apply(flat.astype(np.uint8), "contour") == 255).all()
    assert (filters.apply(flat.astype(np.uint8), "emboss", offset=3) == 3).all()
    assert np.allclose(filters.emboss(flat / 20.0, offset=0.0), 0.0)


def test_pil_images_and_lists_are_accepted(grey):
    np.testing.assert_array_equal(filters.sharpen(Image.fromarray(grey)), filters.sharpen(grey))
    assert filters.box_blur([[0.0, 9.0], [9.0, 0.0]], 2, "circular").tolist() == [[4.5, 4.5], [4.5, 4.5]]


def test_every_algorithm_the_planner_may_pick_gives_the_same_filter(grey):
    from convzoo.kernels import planner

    x = grey.astype(np.float64)
    big = np.random.default_rng(5).random((9, 7))  # large enough that FFT is a candidate
    reference = ndi.correlate(x, big, mode="mirror")
    for name in ("im2col", "depthwise", "fft"):
        with planner.use_algorithm(name):
            np.testing.assert_allclose(filters.apply(x, big), reference, rtol=1e-10, atol=1e-9)


def test_flip_on_even_kernels_is_scipy_convolve(grey):
    x = grey.astype(np.float64)
    k = np.arange(8.0).reshape(2, 4)
    np.testing.assert_allclose(filters.apply(x, k, "replicate", flip=True), ndi.convolve(x, k, mode="nearest"))
    np.testing.assert_allclose(filters.apply(x, k[::-1, ::-1], "replicate"), ndi.correlate(x, k[::-1, ::-1], mode="nearest"))


def test_any_padding_size_in_every_mode():
    tiny = np.arange(6.0).reshape(2, 3)
    for ours, theirs in (("reflect", "mirror"), ("symmetric", "reflect"), ("circular", "wrap"), ("replicate", "nearest")):
        np.testing.assert_allclose(filters.box_blur(tiny, 7, ours), ndi.uniform_filter(tiny, 7, mode=theirs))


BAD = [
    (dict(image=np.zeros((4, 4), bool)), TypeError, "dtype bool"),
    (dict(image=np.zeros((4, 4), complex)), TypeError, "dtype complex128"),
    (dict(image=np.zeros((0, 4))), ValueError, "non-empty"),
    (dict(image=np.zeros(4)), ValueError, "needs an image with 2 spatial axes"),
    (dict(kernel="gausian"), ValueError, "unknown kernel name 'gausian'"),
    (dict(kernel=[[1, 2], [3]]), TypeError, "kernel must be"),
    (dict(kernel=[]), ValueError, "received shape (0,)"),
    (dict(kernel=7.0), ValueError, "received shape ()"),
    (dict(kernel=[[1.0, np.nan]]), ValueError, "finite"),
    (dict(kernel=np.ones((3, 3, 3, 3))), ValueError, "4-D kernel needs an image with 4 spatial axes"),
    (dict(mode="mirror"), ValueError, "received 'mirror'"),
    (dict(mode="constant", cval="x"), TypeError, "cval must be a finite number; received 'x'"),
    (dict(mode="zeros", cval=3.0), ValueError, "mode='constant' for cval=3.0"),
    (dict(flip="yes"), TypeError, "flip must be True or False; received 'yes'"),
    (dict(channel_axis=5), ValueError, "channel_axis must be None or an axis"),
    (dict(offset="grey"), TypeError, "offset must be a finite number; received 'grey'"),
]


@pytest.mark.parametrize("kwargs, error, message", BAD, ids=[b[2][:30] for b in BAD])
def test_bad_input_names_the_argument(kwargs, error, message):
    args = dict(image=np.zeros((5, 6, 3)), kernel=np.ones((3, 3)))
    args.update(kwargs)
    with pytest.raises(error) as info:
        filters.apply(args.pop("image"), args.pop("kernel"), **args)
    assert message in str(info.value)


@pytest.mark.parametrize("call, error, message", [
    (lambda: filters.box_blur(np.zeros((5, 5)), 0), ValueError, "size must be a positive int"),
    (lambda: filters.gaussian_blur(np.zeros((5, 5)), -1.0), ValueError, "sigma must be a positive number; received -1.0"),
    (lambda: filters.gaussian_blur(np.zeros((5, 5)), 1.0, truncate=0), ValueError, "truncate"),
    (lambda: filters.sobel(np.zeros((5, 5)), axis=2), ValueError, "axis must be an int in [-2, 1]"),
    (lambda: filters.sobel(np.zeros((5, 5)), ndim=0), ValueError, "ndim must be a positive int"),
    (lambda: filters.laplace(np.zeros((5, 5)), "edge"), ValueError, "received 'edge'"),
    (lambda: filters.emboss(np.zeros((5, 5)), "up"), ValueError, "direction must be one of n, ne"),
    (lambda: filters.sharpen(np.zeros((5, 5)), "strong"), ValueError, "variant must be one of pillow, laplacian"),
    (lambda: filters.edge_enhance(np.zeros((5, 5)), "less"), ValueError, "variant must be one of pillow, more"),
    (lambda: filters.motion_blur(np.zeros((5, 5)), 0), ValueError, "length must be a positive int; received 0"),
    (lambda: filters.motion_blur(np.zeros((5, 5)), 3, "left"), TypeError, "angle must be a finite number"),
    (lambda: filters.unsharp_mask(np.zeros((5, 5)), radius=0), ValueError, "radius must be positive"),
    (lambda: filters.unsharp_mask(np.zeros((5, 5)), threshold=-1), ValueError, "threshold must be non-negative"),
    (lambda: filters.unsharp_mask(np.zeros((5, 5)), amount=None), TypeError, "amount must be a finite number"),
    (lambda: filters.kernel("box", sigma=2), TypeError, "kernel 'box' takes no parameter sigma; it accepts: size"),
    (lambda: filters.kernel("laplace", size=2), TypeError, "it accepts: none"),
])
def test_bad_filter_arguments(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value)
