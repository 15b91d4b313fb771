"""Sharpening, edge enhancement and emboss, with Pillow's ImageFilter kernels by default."""
import numbers

import numpy as np

from .catalog import edge_enhance_kernel, emboss_kernel, gaussian_kernel, sharpen_kernel
from .correlation import apply, correlate
from .layout import boundary_mode, map_spatial


def sharpen(image, variant="pillow", mode="reflect", cval=0.0, *, channel_axis=-1, filter_alpha=False):
    """Sharpen: by default Pillow's ``ImageFilter.SHARPEN`` (kernel -2 around 32, scale 16, offset 0).

    On an 8-bit image the result matches Pillow within one grey level away from the border (Pillow
    copies its one-pixel border unfiltered; we filter it with ``mode``).

    Args:
        image: see ``apply``.
        variant: ``"pillow"`` or ``"laplacian"`` (the classic [0 -1 0; -1 5 -1; 0 -1 0]).
        mode, cval, channel_axis, filter_alpha: as in ``apply``.

    Returns:
        ndarray of the image's shape and dtype.

    Example:
        >>> import numpy as np
        >>> step = np.array([[10, 10, 20, 20]] * 3, dtype=np.uint8)
        >>> sharpen(step)[1].tolist()
        [10, 6, 24, 20]
    """
    return apply(image, sharpen_kernel(variant), mode, cval, channel_axis=channel_axis, filter_alpha=filter_alpha)


def edge_enhance(image, variant="pillow", mode="reflect", cval=0.0, *, channel_axis=-1, filter_alpha=False):
    """Edge enhancement: by default Pillow's ``ImageFilter.EDGE_ENHANCE`` (-1 around 10, scale 2).

    Args:
        image: see ``apply``.
        variant: ``"pillow"`` or ``"more"`` (``EDGE_ENHANCE_MORE``: -1 around 9, scale 1).
        mode, cval, channel_axis, filter_alpha: as in ``apply``.

    Returns:
        ndarray of the image's shape and dtype.

    Example:
        >>> import numpy as np
        >>> float(edge_enhance(np.full((4, 4), 0.5))[0, 0])  # flat areas stay as they are
        0.5
    """
    return apply(image, edge_enhance_kernel(variant), mode, cval, channel_axis=channel_axis,
                 filter_alpha=filter_alpha)


def emboss(image, direction="sw", mode="reflect", cval=0.0, *, offset="mid", channel_axis=-1,
           filter_alpha=False):
    """Emboss: each pixel minus its neighbour in ``direction``, plus mid-grey.

    The default is Pillow's ``ImageFilter.EMBOSS`` (kernel (-1, 0, 0, 0, 1, 0, 0, 0, 0), scale 1,
    offset 128, which Pillow applies flipped vertically: the pixel minus its lower-left neighbour).

    Args:
        image: see ``apply``.
        direction: compass point of the subtracted neighbour: n, ne, e, se, s, sw (default), w, nw;
            north is up.
        mode, cval, channel_axis, filter_alpha: as in ``apply``.
        offset: added after filtering; ``"mid"`` is mid-grey (128 for uint8, 0.5 for float images).

    Returns:
        ndarray of the image's shape and dtype.

    Example:
        >>> import numpy as np
        >>> int(emboss(np.full((3, 3), 77, dtype=np.uint8))[1, 1])  # flat areas become mid-grey
        128
    """
    return apply(image, emboss_kernel(direction), mode, cval, offset=offset, channel_axis=channel_axis,
                 filter_alpha=filter_alpha)


def unsharp_mask(image, radius=1.0, amount=1.0, threshold=0.0, mode="reflect", cval=0.0, *, channel_axis=-1,
                 filter_alpha=False):
    """Unsharp masking: ``image + amount * (image - gaussian_blur(image, radius))``.

    Pixels whose difference from the blur is below ``threshold`` are left as they are, as in
    Pillow's ``UnsharpMask`` (whose ``percent`` is ``100 * amount``; Pillow approximates the Gaussian
    by box blurs, we use scipy's sampled Gaussian).

    Args:
        image: see ``apply``.
        radius: the Gaussian's sigma in pixels.
        amount: strength; 1.0 adds the full difference.
        threshold: smallest absolute difference that is sharpened, in the image's units (grey
            levels for integer images).
        mode, cval, channel_axis, filter_alpha: as in ``apply``.

    Returns:
        ndarray of the image's shape and dtype.

    Example:
        >>> import numpy as np
        >>> step = np.array([[0.25] * 4 + [0.75] * 4] * 4)
        >>> out = unsharp_mask(step, radius=1.0, amount=1.0)
        >>> bool(out[0, 3] < 0.25 and out[0, 4] > 0.75)
        True
    """
    for name, value, low in (("radius", radius, 0.0), ("amount", amount, None), ("threshold", threshold, 0.0)):
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not np.isfinite(value):
            raise TypeError(f"{name} must be a finite number; received {value!r}")
        if low is not None and (value < low or (name == "radius" and value == 0)):
            raise ValueError(f"{name} must be {'positive' if name == 'radius' else 'non-negative'}; "
                             f"received {value!r}")
    mode, cval = boundary_mode(mode, cval)
    weight = gaussian_kernel(float(radius))

    def fn(x):
        detail = x - correlate(x, weight, mode, cval)
        return np.where(np.abs(detail) >= threshold, x + amount * detail, x)

    return map_spatial(image, 2, fn, channel_axis, filter_alpha)
