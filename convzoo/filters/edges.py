"""Edge detection: Sobel, Prewitt and Scharr derivatives (or their gradient magnitude), Laplace."""
import numpy as np

from ..nn.functional.arguments import is_int
from .catalog import derivative_kernel, laplace_kernel
from .correlation import correlate
from .layout import boundary_mode, map_spatial


def _derivative(kind, image, axis, mode, cval, channel_axis, filter_alpha, ndim):
    if not is_int(ndim) or ndim < 1:
        raise ValueError(f"ndim must be a positive int; received {ndim!r}")
    mode, cval = boundary_mode(mode, cval)
    if axis is None:
        weights = [derivative_kernel(kind, a, ndim) for a in range(ndim)]

        def fn(x):
            # gradient magnitude, as scipy.ndimage.generic_gradient_magnitude(x, sobel)
            return np.sqrt(sum(np.square(correlate(x, w, mode, cval)) for w in weights))
    else:
        weight = derivative_kernel(kind, axis, ndim)

        def fn(x):
            return correlate(x, weight, mode, cval)
    return map_spatial(image, ndim, fn, channel_axis, filter_alpha)


def _derivative_doc(kind, smoothing):
    return f"""The {kind} derivative along ``axis`` or, with ``axis=None``, the gradient magnitude.

    The derivative is a central difference [-1, 0, 1] along ``axis`` smoothed by {smoothing} along the
    other axes, unnormalised, as ``scipy.ndimage.{kind}`` (axis 0 runs down the rows, 1 along the
    columns). ``axis=None`` gives sqrt(sum over axes of the squared derivatives). Integer images are
    returned clipped to their range, so negative derivatives of a uint8 image become 0: pass a float
    image to keep the sign.

    Args:
        image: see ``apply``.
        axis: spatial axis of the derivative, or None for the magnitude.
        mode, cval, channel_axis, filter_alpha: as in ``apply``.
        ndim: number of spatial axes (3 for volumes).

    Returns:
        ndarray of the image's shape and dtype.

    Example:
        >>> import numpy as np
        >>> ramp = np.tile(np.arange(5.0), (5, 1))  # brightness rises along the columns
        >>> float({kind}(ramp, axis=1)[2, 2]), float({kind}(ramp, axis=0)[2, 2])
        ({float(2 * sum(smoothing_taps(kind)))}, 0.0)
    """


def smoothing_taps(kind):
    return {"sobel": (1, 2, 1), "prewitt": (1, 1, 1), "scharr": (3, 10, 3)}[kind]


def _make(kind, smoothing):
    def edge(image, axis=None, mode="reflect", cval=0.0, *, channel_axis=-1, filter_alpha=False, ndim=2):
        return _derivative(kind, image, axis, mode, cval, channel_axis, filter_alpha, ndim)

    edge.__name__ = edge.__qualname__ = kind
    edge.__doc__ = _derivative_doc(kind, smoothing)
    return edge


sobel = _make("sobel", "[1, 2, 1]")
prewitt = _make("prewitt", "[1, 1, 1]")
scharr = _make("scharr", "[3, 10, 3] (OpenCV's Scharr)")


def laplace(image, mode="reflect", cval=0.0, *, channel_axis=-1, filter_alpha=False, ndim=2):
    """The discrete Laplacian, the sum of second differences [1, -2, 1] along every axis.

    Equals ``scipy.ndimage.laplace``; in 2-D the kernel is [[0, 1, 0], [1, -4, 1], [0, 1, 0]].

    Args:
        image: see ``apply``.
        mode, cval, channel_axis, filter_alpha: as in ``apply``.
        ndim: number of spatial axes.

    Returns:
        ndarray of the image's shape and dtype.

    Example:
        >>> import numpy as np
        >>> bowl = np.add.outer(np.arange(5.0) ** 2, np.arange(5.0) ** 2)
        >>> float(laplace(bowl)[2, 2])
        4.0
    """
    if not is_int(ndim) or ndim < 1:
        raise ValueError(f"ndim must be a positive int; received {ndim!r}")
    mode, cval = boundary_mode(mode, cval)
    weight = laplace_kernel(ndim)
    return map_spatial(image, ndim, lambda x: correlate(x, weight, mode, cval), channel_axis, filter_alpha)
