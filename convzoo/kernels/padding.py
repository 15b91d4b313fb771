"""Padding of the trailing (spatial) axes in every boundary mode, and its exact adjoint.

Modes (numpy.pad names in brackets; see the README for scipy.ndimage and OpenCV):

    zeros      0 0 0 | a b c d | 0 0 0          (constant)
    reflect    d c b | a b c d | c b a          (reflect; scipy "mirror", OpenCV BORDER_REFLECT_101)
    symmetric  c b a | a b c d | d c b          (symmetric; scipy "reflect", OpenCV BORDER_REFLECT)
    replicate  a a a | a b c d | d d d          (edge; scipy "nearest")
    circular   b c d | a b c d | a b c          (wrap)

Every non-zero mode is a gather ``padded[i] = x[source(i)]``; its adjoint adds each padded element's
gradient back onto its source, so padded convolutions have exact gradients and transposed
convolutions can be the exact adjoint of a padded convolution.
"""
import numpy as np

MODES = ("zeros", "reflect", "replicate", "circular", "symmetric")


def source_index(n, before, after, mode):
    """For each position of the padded axis, the input position it copies (mode != zeros)."""
    i = np.arange(-before, n + after)
    if mode == "circular":
        return i % n
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    if mode == "reflect":
        period = 2 * (n - 1) if n > 1 else 1
        i = np.abs(i) % period
        return np.where(i < n, i, period - i)
    if mode == "symmetric":
        period = 2 * n
        i = np.where(i < 0, -i - 1, i) % period
        return np.where(i < n, i, period - 1 - i)
    raise ValueError(f"unknown padding mode {mode!r}")


def pad(x, pads, mode="zeros", value=0.0):
    """Pad the last len(pads) axes of x; pads is a sequence of (before, after) pairs."""
    if all(b == 0 and a == 0 for b, a in pads):
        return x
    lead = x.ndim - len(pads)
    if mode == "zeros":
        shape = x.shape[:lead] + tuple(n + b + a for n, (b, a) in zip(x.shape[lead:], pads))
        out = np.full(shape, value, dtype=x.dtype)
        out[(Ellipsis,) + tuple(slice(b, b + n) for n, (b, a) in zip(x.shape[lead:], pads))] = x
        return out
    for axis, (b, a) in enumerate(pads, start=lead):
        if b or a:
            x = np.take(x, source_index(x.shape[axis], b, a, mode), axis=axis)
    return x


def pad_adjoint(grad, pads, mode="zeros"):
    """The adjoint (transpose) of ``pad``: fold the padded border of grad back onto the input."""
    if all(b == 0 and a == 0 for b, a in pads):
        return grad
    lead = grad.ndim - len(pads)
    if mode == "zeros":
        return np.ascontiguousarray(
            grad[(Ellipsis,) + tuple(slice(b, g - a) for g, (b, a) in zip(grad.shape[lead:], pads))])
    # pad() applied the axes first to last, so the adjoint undoes them last to first
    for axis in range(grad.ndim - 1, lead - 1, -1):
        b, a = pads[axis - lead]
        if not (b or a):
            continue
        n = grad.shape[axis] - b - a
        moved = np.moveaxis(grad, axis, 0)
        out = np.array(moved[b:b + n])
        src = source_index(n, b, a, mode)
        for i in list(range(b)) + list(range(b + n, b + n + a)):
            out[src[i]] += moved[i]
        grad = np.moveaxis(out, 0, axis)
    return np.ascontiguousarray(grad)
