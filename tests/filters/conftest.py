"""Real images for the reference comparisons, from whichever sources are installed.

MNIST digits from shared/data (when the checkout has it), scikit-image's sample photos (a test
dependency; skipped when missing), and always one Pillow-drawn scene, so the tests never go empty.
"""
import gzip
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

MNIST = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist" / "t10k-images-idx3-ubyte.gz"


def mnist_digits(count=4):
    """The first ``count`` test digits, (count, 28, 28) uint8, read straight from the IDX file."""
    with gzip.open(MNIST, "rb") as f:
        raw = f.read(16 + count * 28 * 28)
    return np.frombuffer(raw[16:], dtype=np.uint8).reshape(count, 28, 28)


def drawn_scene(size=(80, 64)):
    """An RGB scene with shapes, lines and a smooth gradient (Pillow-drawn, deterministic)."""
    w, h = size
    gradient = np.add.outer(np.linspace(0, 120, h), np.linspace(0, 90, w))
    image = Image.fromarray(np.stack([gradient, gradient[::-1], 200 - gradient], -1).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.ellipse((8, 6, 40, 38), fill=(240, 30, 60))
    draw.rectangle((44, 20, 74, 58), fill=(20, 180, 90), outline=(255, 255, 255))
    draw.line((0, h - 1, w - 1, 0), fill=(250, 250, 0), width=3)
    noise = np.random.default_rng(0).integers(-12, 13, size=(h, w, 3))
    return np.clip(np.asarray(image, dtype=np.int64) + noise, 0, 255).astype(np.uint8)


def _grey_images():
    images = [("drawn", np.asarray(Image.fromarray(drawn_scene()).convert("L")))]
    if MNIST.exists():
        images.append(("mnist", mnist_digits(1)[0]))
    try:
        from skimage import data
    except ImportError:
        return images
    return images + [("camera", data.camera()[160:256, 180:300]), ("coins", data.coins()[40:120, 60:160])]


def _colour_images():
    images = [("drawn", drawn_scene())]
    try:
        from skimage import data
    except ImportError:
        return images
    return images + [("astronaut", data.astronaut()[30:110, 160:260]), ("coffee", data.coffee()[100:180, 200:300])]


GREY = _grey_images()
COLOUR = _colour_images()


@pytest.fixture(params=[name for name, _ in GREY])
def grey(request):
    """A real 8-bit grey image (H, W)."""
    return dict(GREY)[request.param]


@pytest.fixture(params=[name for name, _ in COLOUR])
def colour(request):
    """A real 8-bit RGB image (H, W, 3)."""
    return dict(COLOUR)[request.param]
