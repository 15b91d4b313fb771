"""Transforms on single images and on batches."""
import numpy as np
import pytest
import torch

from convzoo.data.transforms import Compose, Normalize, RandomCrop, RandomHorizontalFlip, ToFloat


def test_normalize_matches_torch_formula():
    x = np.random.default_rng(0).random((4, 3, 5, 5)).astype(np.float32)
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    want = (torch.from_numpy(x) - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    got = Normalize(mean, std)(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-6)
    np.testing.assert_allclose(Normalize(mean, std)(x[0]), want.numpy()[0], rtol=1e-6)


def test_to_float():
    out = ToFloat()(np.array([[[0, 255, 51]]], dtype=np.uint8))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[[0, 1, 0.2]]])


def test_random_crop_cuts_a_window_of_the_padded_image():
    x = np.random.default_rng(1).random((32, 2, 6, 7))
    out = RandomCrop((5, 4), padding=2)(x, rng=np.random.default_rng(0))
    assert out.shape == (32, 2, 5, 4)
    padded = np.pad(x, [(0, 0), (0, 0), (2, 2), (2, 2)])
    offsets = set()
    for n in range(32):
        matches = [(i, j) for i in range(6) for j in range(8)
                   if np.array_equal(padded[n, :, i:i + 5, j:j + 4], out[n])]
        assert matches, f"image {n} is not a crop of its padded input"
        offsets.add(matches[0])
    assert len(offsets) > 5  # each image gets its own offset
    single = RandomCrop(3, padding=1, seed=0)(x[0])  # one image (C, H, W)
    assert single.shape == (2, 3, 3)
    assert any(np.array_equal(np.pad(x[0], [(0, 0), (1, 1), (1, 1)])[:, i:i + 3, j:j + 3], single)
               for i in range(6) for j in range(7))


def test_random_transforms_follow_the_rng():
    x = np.random.default_rng(2).random((8, 1, 4, 4))
    t = Compose([RandomCrop(4, padding=1), RandomHorizontalFlip()])
    np.testing.assert_array_equal(t(x, rng=np.random.default_rng(5)), t(x, rng=np.random.default_rng(5)))
    a, b = RandomCrop(4, padding=1, seed=3), RandomCrop(4, padding=1, seed=3)
    np.testing.assert_array_equal(a(x), b(x))


def test_horizontal_flip():
    x = np.arange(12.0).reshape(3, 1, 1, 4)
    np.testing.assert_array_equal(RandomHorizontalFlip(p=1.0)(x), x[..., ::-1])
    np.testing.assert_array_equal(RandomHorizontalFlip(p=0.0)(x), x)
    assert RandomHorizontalFlip(p=1.0)(x[0]).shape == (1, 1, 4)


@pytest.mark.parametrize("make, message", [
    (lambda: Normalize((0.1, 0.2), (0.3,)), "one value per channel"),
    (lambda: Normalize((0.1,), (0.0,)), r"std must be positive; received \(0.0,\)"),
    (lambda: RandomCrop(0), r"size must be a positive int or a pair \(height, width\); received 0"),
    (lambda: RandomCrop(3, padding=-1), "padding must be a non-negative int; received -1"),
    (lambda: RandomHorizontalFlip(p=2), r"p must be a probability in \[0, 1\]; received 2"),
    (lambda: Compose([1]), "Compose expects callables; received 1"),
])
def test_bad_arguments(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"expects an image \(C, H, W\) or a batch.*received shape \(4, 4\)"):
        RandomCrop(2)(np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"larger than the padded image \(4, 4\)"):
        RandomCrop(5)(np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match=r"Normalize has 2 channel means; the input has 3 channels"):
        Normalize((0, 0), (1, 1))(np.zeros((3, 4, 4)))
