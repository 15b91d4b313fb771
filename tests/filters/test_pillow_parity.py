"""Pillow's ImageFilter kernels, scale and offset, reproduced on 8-bit images within one grey level.

Pillow copies the outer k // 2 pixels of the image unfiltered; we filter them with the boundary
mode, so the comparison covers the interior, where both read only real pixels.
"""
import numpy as np
import pytest
from PIL import Image, ImageFilter

from convzoo import filters

CASES = [
    (ImageFilter.BLUR, lambda x: filters.apply(x, "blur")),
    (ImageFilter.SHARPEN, filters.sharpen),
    (ImageFilter.EDGE_ENHANCE, filters.edge_enhance),
    (ImageFilter.EDGE_ENHANCE_MORE, lambda x: filters.edge_enhance(x, "more")),
    (ImageFilter.FIND_EDGES, lambda x: filters.apply(x, "find_edges")),
    (ImageFilter.EMBOSS, filters.emboss),
    (ImageFilter.CONTOUR, lambda x: filters.apply(x, "contour")),
    (ImageFilter.SMOOTH, lambda x: filters.apply(x, "smooth")),
    (ImageFilter.SMOOTH_MORE, lambda x: filters.apply(x, "smooth_more")),
    (ImageFilter.DETAIL, lambda x: filters.apply(x, "detail")),
]


def interior(image, pillow_filter):
    r = pillow_filter.filterargs[0][0] // 2
    return image[r:-r, r:-r]


def assert_within_one_level(ours, theirs):
    assert ours.dtype == np.uint8 and ours.shape == theirs.shape
    diff = np.abs(ours.astype(np.int64) - theirs.astype(np.int64))
    assert diff.max() <= 1, f"{np.count_nonzero(diff > 1)} pixels differ by more than one grey level"


@pytest.mark.parametrize("pillow_filter, ours", CASES, ids=[c[0].name for c in CASES])
def test_grey_matches_pillow(grey, pillow_filter, ours):
    theirs = np.asarray(Image.fromarray(grey).filter(pillow_filter))
    assert_within_one_level(interior(ours(grey), pillow_filter), interior(theirs, pillow_filter))


@pytest.mark.parametrize("pillow_filter, ours", CASES[:6], ids=[c[0].name for c in CASES[:6]])
def test_rgb_matches_pillow_per_band(colour, pillow_filter, ours):
    theirs = np.asarray(Image.fromarray(colour).filter(pillow_filter))
    assert_within_one_level(interior(ours(colour), pillow_filter), interior(theirs, pillow_filter))


def test_kernels_are_pillows_flipped_vertically():
    # Pillow multiplies a kernel's first row with the row below the pixel
    for pillow_filter, name in [(ImageFilter.EMBOSS, "emboss"), (ImageFilter.SHARPEN, "sharpen"),
                                (ImageFilter.BLUR, "blur"), (ImageFilter.FIND_EDGES, "find_edges"),
                                (ImageFilter.EDGE_ENHANCE, "edge_enhance")]:
        size, scale, offset, values = pillow_filter.filterargs
        expected = np.array(values, dtype=np.float64).reshape(size[1], size[0])[::-1] / scale
        np.testing.assert_array_equal(filters.kernel(name), expected)
        assert filters.KERNELS[name].offset == {0: 0, 128: "mid", 255: "white"}[offset]


def test_emboss_directions_differ_and_default_is_pillow(grey):
    outs = {d: filters.emboss(grey, d) for d in ("n", "ne", "e", "se", "s", "sw", "w", "nw")}
    np.testing.assert_array_equal(outs["sw"], filters.emboss(grey))
    assert len({o.tobytes() for o in outs.values()}) == 8
    # flat areas become mid-grey: 128 for uint8, 0.5 for float images
    flat = np.full((6, 6), 90, dtype=np.uint8)
    assert (filters.emboss(flat, "n") == 128).all()
    assert np.allclose(filters.emboss(flat.astype(np.float64) / 255, "e"), 0.5)
