"""Image transforms on arrays shaped (..., C, H, W): one image or a whole batch at once.

Random transforms draw from the ``rng`` passed to them (a ``numpy.random.Generator``); a
``DataLoader`` passes one made from its seed, the epoch and the batch number, so augmentation is
reproducible and a resumed run sees the same augmented batches. Without ``rng`` they use a
generator of their own, seeded by their ``seed`` argument. Leading axes are independent samples:
each image of a batch gets its own crop offset or flip.
"""
import numbers

import numpy as np


def apply(transform, x, rng=None):
    """Call ``transform`` on x, passing rng if it is a ``Transform`` (a plain callable gets x only)."""
    return transform(x, rng=rng) if isinstance(transform, Transform) else transform(x)


def _image(x, name):
    x = np.asarray(x)
    if x.ndim < 3:
        raise ValueError(f"{name} expects an image (C, H, W) or a batch (N, C, H, W); received shape {x.shape}")
    return x


def _pair(value, name):
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0:
        return int(value), int(value)
    if (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in value)):
        return int(value[0]), int(value[1])
    raise ValueError(f"{name} must be a positive int or a pair (height, width); received {value!r}")


class Transform:
    """Base class: ``__call__(x, rng=None)``; ``seed`` seeds the fallback generator of random transforms."""

    def __init__(self, seed=None):
        self._rng = np.random.default_rng(seed)

    def generator(self, rng):
        return self._rng if rng is None else rng

    def __call__(self, x, rng=None):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class Compose(Transform):
    """Apply transforms in order, passing the same rng along.

    Example:
        >>> import numpy as np
        >>> t = Compose([Normalize((0.5,), (0.5,)), RandomHorizontalFlip(p=1.0)])
        >>> t(np.array([[[0.0, 1.0]]], np.float32))
        array([[[ 1., -1.]]], dtype=float32)
    """

    def __init__(self, transforms):
        super().__init__()
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose expects callables; received {t!r}")

    def __call__(self, x, rng=None):
        for t in self.transforms:
            x = apply(t, x, rng)
        return x

    def __repr__(self):
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + "])"


class ToFloat(Transform):
    """uint8 pixels 0..255 -> float32 in [0, 1] (what ``torchvision.transforms.ToTensor`` does to values)."""

    def __call__(self, x, rng=None):
        x = np.asarray(x)
        return x.astype(np.float32) / np.float32(255) if x.dtype == np.uint8 else x.astype(np.float32, copy=False)


class Normalize(Transform):
    """(x - mean[c]) / std[c] per channel c, like ``torchvision.transforms.Normalize``.

    Args:
        mean: one value per channel.
        std: one positive value per channel.
    """

    def __init__(self, mean, std):
        super().__init__()
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float64))
        if self.mean.ndim != 1 or self.mean.shape != self.std.shape:
            raise ValueError(f"mean and std must be sequences of one value per channel with the same length; "
                             f"received mean={mean!r}, std={std!r}")
        if np.any(self.std <= 0):
            raise ValueError(f"std must be positive; received {std!r}")

    def __call__(self, x, rng=None):
        x = _image(x, "Normalize")
        if x.shape[-3] != len(self.mean) and len(self.mean) != 1:
            raise ValueError(f"Normalize has {len(self.mean)} channel means; the input has {x.shape[-3]} channels "
                             f"(shape {x.shape})")
        dtype = x.dtype if x.dtype.kind == "f" else np.float32
        mean = self.mean.astype(dtype)[:, None, None]
        std = self.std.astype(dtype)[:, None, None]
        return ((x.astype(dtype, copy=False) - mean) / std).astype(dtype, copy=False)

    def __repr__(self):
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class RandomCrop(Transform):
    """Pad by ``padding`` (zeros), then cut a ``size`` window at a random offset per image.

    Args:
        size: output (height, width), or one int for a square.
        padding: pixels added on every side before cropping (the usual 4 for 32×32 images).
        seed: seeds the fallback generator used when no rng is passed.
    """

    def __init__(self, size, padding=0, seed=None):
        super().__init__(seed)
        self.size = _pair(size, "size")
        if not isinstance(padding, numbers.Integral) or isinstance(padding, bool) or padding < 0:
            raise ValueError(f"padding must be a non-negative int; received {padding!r}")
        self.padding = int(padding)

    def __call__(self, x, rng=None):
        x = _image(x, "RandomCrop")
        p = self.padding
        if p:
            x = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(p, p), (p, p)])
        (h, w), (th, tw) = x.shape[-2:], self.size
        if th > h or tw > w:
            raise ValueError(f"RandomCrop size {self.size} is larger than the padded image {(h, w)}")
        lead = x.shape[:-3]
        rng = self.generator(rng)
        top = rng.integers(0, h - th + 1, size=lead)
        left = rng.integers(0, w - tw + 1, size=lead)
        # rows (..., th) and columns (..., tw) to gather per image
        rows = np.asarray(top)[..., None] + np.arange(th)
        cols = np.asarray(left)[..., None] + np.arange(tw)
        flat = x.reshape((-1,) + x.shape[-3:])
        rows, cols = rows.reshape(-1, th), cols.reshape(-1, tw)
        n = np.arange(flat.shape[0])[:, None, None, None]
        c = np.arange(flat.shape[1])[None, :, None, None]
        out = flat[n, c, rows[:, None, :, None], cols[:, None, None, :]]
        return out.reshape(lead + out.shape[1:])

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip(Transform):
    """Mirror each image left-right with probability p."""

    def __init__(self, p=0.5, seed=None):
        super().__init__(seed)
        if not isinstance(p, numbers.Real) or not 0 <= p <= 1:
            raise ValueError(f"p must be a probability in [0, 1]; received {p!r}")
        self.p = float(p)

    def __call__(self, x, rng=None):
        x = _image(x, "RandomHorizontalFlip")
        flip = self.generator(rng).random(size=x.shape[:-3]) < self.p
        return np.where(np.asarray(flip)[..., None, None, None], x[..., ::-1], x)

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"
