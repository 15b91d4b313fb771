"""``convzoo predict CHECKPOINT IMAGE...``: the class and probability of each image (PNG, JPEG, ...)."""
from pathlib import Path

import numpy as np

from .. import no_grad, train
from ..nn import functional as F
from . import CommandError


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "predict", help="classify image files with a checkpoint",
        description="Classify images (any format Pillow reads) with a checkpoint written by convzoo train. Each "
                    "image is converted to grey, resized to the model's input size and normalised as in training. "
                    "MNIST digits are light on a dark background; --invert auto flips images whose border is light.")
    parser.add_argument("checkpoint", type=Path, help="a .npz checkpoint written by convzoo train")
    parser.add_argument("images", type=Path, nargs="+", metavar="IMAGE", help="image files")
    parser.add_argument("--invert", choices=("auto", "yes", "no"), default="auto",
                        help="invert dark-on-light images (default auto: when the border is lighter than the middle)")
    parser.add_argument("--top", type=int, default=1, help="show the k most probable classes (default 1)")
    parser.set_defaults(func=run)


def load_image(path, size, invert="auto"):
    """A grey image as float32 (1, H, W) in [0, 1], resized to size (H, W), light strokes on dark."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise CommandError("predict reads images with Pillow, which is not installed: "
                           "pip install 'convzoo[images]'") from None
    if not path.is_file():
        raise CommandError(f"image {path} does not exist")
    try:
        with Image.open(path) as image:
            grey = image.convert("L")
            if grey.size != (size[1], size[0]):
                grey = grey.resize((size[1], size[0]), Image.BILINEAR)
            pixels = np.asarray(grey, dtype=np.float32) / 255
    except (UnidentifiedImageError, OSError) as error:
        raise CommandError(f"cannot read image {path}: {error}") from None
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]]).mean()
    if invert == "yes" or (invert == "auto" and border > 0.5):
        pixels = 1 - pixels
    return pixels[None]


def run(args):
    if args.top < 1:
        raise CommandError(f"--top must be a positive int; received {args.top}")
    model, checkpoint = train.load_model(args.checkpoint)
    extra = checkpoint.extra
    shape = extra.get("input_shape", [1, 28, 28])
    mean, std = extra.get("normalize", [0.0, 1.0])
    classes = extra.get("classes")
    x = np.stack([load_image(path, shape[1:], args.invert) for path in args.images])
    with no_grad():
        probabilities = F.softmax(model((x - np.float32(mean)) / np.float32(std)), dim=1).numpy()
    top = min(args.top, probabilities.shape[1])
    for path, p in zip(args.images, probabilities):
        best = np.argsort(-p, kind="stable")[:top]
        names = [classes[i] if classes else str(i) for i in best]
        print(f"{path}: " + ", ".join(f"{name} ({i}) {p[i]:.3f}" if name != str(i) else f"{i} {p[i]:.3f}"
                                      for name, i in zip(names, best)))
    return 0
