"""Smoothing: box, Gaussian and motion blur."""
from .catalog import box_kernel, gaussian_kernel, motion_kernel
from .correlation import apply


def box_blur(image, size=3, mode="reflect", cval=0.0, *, channel_axis=-1, filter_alpha=False):
    """The mean over a window, like ``scipy.ndimage.uniform_filter`` and OpenCV ``blur``.

    Args:
        image: see ``apply`` for layouts and dtypes.
        size: window size, an int for a size x size window, or one int per spatial axis (its length
            sets the number of spatial axes, e.g. (3, 3, 3) for volumes). An even size puts the
            extra tap before the pixel, as scipy and OpenCV do.
        mode, cval, channel_axis, filter_alpha: as in ``apply``.

    Returns:
        ndarray of the image's shape and dtype.

    Example:
        >>> import numpy as np
        >>> box_blur(np.arange(9.0).reshape(3, 3), 3, mode="replicate").round(6).tolist()
        [[1.333333, 2.0, 2.666667], [3.333333, 4.0, 4.666667], [5.333333, 6.0, 6.666667]]
    """
    ndim = len(size) if isinstance(size, (tuple, list)) else 2
    return apply(image, box_kernel(size, ndim), mode, cval, channel_axis=channel_axis, filter_alpha=filter_alpha)


def gaussian_blur(image, sigma=1.0, mode="reflect", cval=0.0, *, truncate=4.0, channel_axis=-1,
                  filter_alpha=False):
    """Gaussian blur with scipy.ndimage's kernel (``gaussian_filter``): separable, two 1-D passes.

    Args:
        image: see ``apply``.
        sigma: standard deviation in pixels, one number or one per spatial axis (whose count then
            sets the number of spatial axes).
        truncate: the kernel radius is ``int(truncate * sigma + 0.5)``, as in scipy.
        mode, cval, channel_axis, filter_alpha: as in ``apply``.

    Returns:
        ndarray of the image's shape and dtype.

    Example:
        >>> import numpy as np
        >>> round(float(gaussian_blur(np.ones((8, 8)), 2.0).mean()), 12)
        1.0
    """
    ndim = len(sigma) if isinstance(sigma, (tuple, list)) else 2
    return apply(image, gaussian_kernel(sigma, truncate, ndim), mode, cval, channel_axis=channel_axis,
                 filter_alpha=filter_alpha)


def motion_blur(image, length=9, angle=0.0, mode="reflect", cval=0.0, *, channel_axis=-1, filter_alpha=False):
    """Blur along a line of ``length`` pixels at ``angle`` degrees (counter-clockwise, 0 = horizontal).

    Args:
        image: see ``apply``; 2 spatial axes.
        length: pixels the line covers (its kernel is odd-sized, centred on the pixel).
        angle: direction in degrees; between the axes the line is drawn anti-aliased.
        mode, cval, channel_axis, filter_alpha: as in ``apply``.

    Returns:
        ndarray of the image's shape and dtype.

    Example:
        >>> import numpy as np
        >>> dot = np.zeros((5, 5)); dot[2, 2] = 3.0
        >>> motion_blur(dot, 3, 0)[2].tolist()
        [0.0, 1.0, 1.0, 1.0, 0.0]
    """
    return apply(image, motion_kernel(length, angle), mode, cval, channel_axis=channel_axis,
                 filter_alpha=filter_alpha)
