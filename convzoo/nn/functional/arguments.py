"""Validation at the public boundary: every message names the argument and echoes the value."""
import numbers

import numpy as np

from ...autograd import Tensor, as_tensor
from ...kernels.geometry import same_padding
from ...kernels.padding import MODES

SPATIAL_NAMES = {1: "L", 2: "H, W", 3: "D, H, W"}


def is_int(value):
    # a plain int first: the ABC check of numbers.Integral costs a microsecond, and every conv call
    # checks a dozen ints
    return type(value) is int or (isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool))


def ntuple(value, n, name, minimum=None):
    """An int or a sequence of n ints -> tuple of n ints, each >= minimum (if given)."""
    if is_int(value):
        values = (int(value),) * n
    elif isinstance(value, (tuple, list)) and len(value) == n and all(is_int(v) for v in value):
        values = tuple(int(v) for v in value)
    else:
        raise TypeError(f"{name} must be an int or a tuple of {n} ints; received {value!r}")
    if minimum is not None and any(v < minimum for v in values):
        bound = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{name} must be {bound}; received {value!r}")
    return values


def padding_pairs(padding, n, name="padding"):
    """An int, n ints, or n (before, after) pairs -> tuple of n (before, after) pairs, all >= 0."""
    if isinstance(padding, (tuple, list)) and len(padding) == n and all(
            isinstance(p, (tuple, list)) for p in padding):
        if not all(len(p) == 2 and is_int(p[0]) and is_int(p[1]) for p in padding):
            raise TypeError(f"{name} pairs must be (before, after) ints; received {padding!r}")
        pairs = tuple((int(b), int(a)) for b, a in padding)
    else:
        try:
            pairs = tuple((p, p) for p in ntuple(padding, n, name))
        except TypeError:
            raise TypeError(f"{name} must be 'valid', 'same', an int, a tuple of {n} ints or {n} "
                            f"(before, after) pairs; received {padding!r}") from None
    if any(b < 0 or a < 0 for b, a in pairs):
        raise ValueError(f"{name} must be non-negative; received {padding!r}")
    return pairs


def resolve_padding(padding, sizes, kernel, stride, dilation):
    """``"same"``, ``"valid"``, an int, per-axis ints or (before, after) pairs -> per-axis pairs.

    ``"same"`` gives output ceil(n / stride) for any stride and dilation, the odd pixel at the end.
    """
    if isinstance(padding, str):
        if padding == "same":
            return tuple(same_padding(n, k, s, d) for n, k, s, d in zip(sizes, kernel, stride, dilation))
        if padding == "valid":
            return ((0, 0),) * len(sizes)
        raise ValueError(f"padding must be 'valid', 'same' or numbers; received {padding!r}")
    return padding_pairs(padding, len(sizes))


def padding_mode(mode):
    if mode not in MODES:
        raise ValueError(f"padding_mode must be one of {', '.join(MODES)}; received {mode!r}")
    return mode


def check_mode_fits(pairs, sizes, mode, what="padding"):
    """Reflect padding must be smaller than the axis it reflects (there is no edge to repeat)."""
    for axis, ((b, a), n) in enumerate(zip(pairs, sizes)):
        if mode == "reflect" and max(b, a) >= n:
            raise ValueError(f"reflect {what} ({b}, {a}) must be smaller than the input size {n} "
                             f"of spatial axis {axis}")


def float_tensor(value, name):
    """A Tensor or ndarray of floating dtype, as a Tensor (no copy)."""
    if not isinstance(value, (Tensor, np.ndarray)):
        if isinstance(value, (list, tuple, numbers.Number)):
            value = np.asarray(value)
        else:
            raise TypeError(f"{name} must be a Tensor or a NumPy array; received {type(value).__name__}")
    t = as_tensor(value)
    if t.dtype.kind != "f":
        raise TypeError(f"{name} must have a floating dtype (float32 or float64); received dtype {t.dtype}; "
                        f"convert it with .astype(np.float32)")
    return t


def same_dtype(a, b, name_a, name_b):
    if a.dtype != b.dtype:
        raise TypeError(f"{name_a} dtype {a.dtype} does not match {name_b} dtype {b.dtype}; "
                        f"convert one of them (no implicit promotion)")
