"""Dropout, with its own seedable random generator.

The masks come from ``generator``, a module-level ``numpy.random.Generator``; call ``seed(n)`` for
reproducible masks (``convzoo.nn.functional.regularization.seed(0)``).
"""
import numbers

import numpy as np

from .arguments import float_tensor

generator = np.random.default_rng()


def seed(value):
    """Reseed the generator behind every dropout mask, for reproducible training runs."""
    global generator
    generator = np.random.default_rng(value)


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1 / (1 - p) (training only).

    It is input * mask, a composition: the gradient is the same mask.

    Example:
        >>> import numpy as np
        >>> dropout(np.ones(3), p=0.5, training=False).numpy()
        array([1., 1., 1.])
    """
    if not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability p must be in [0, 1]; received {p!r}")
    x = float_tensor(input, "input")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * np.zeros(x.shape, dtype=x.dtype)
    mask = (generator.random(x.shape) >= p).astype(x.dtype) / np.asarray(1.0 - p, dtype=x.dtype)
    return x * mask
