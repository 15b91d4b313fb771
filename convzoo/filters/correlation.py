"""``apply``: filter an image with any kernel, on the convolution engine of the layers.

The image is padded by ``kernels/padding.py`` (the same boundary modes as the conv layers, plus a
constant value) and correlated by ``kernels/conv.py``'s ``conv_forward``, whose planner picks the
algorithm, as one ``(M, 1, *spatial)`` stack with a ``(1, 1, *k)`` weight. A rank-1 kernel runs as
one 1-D pass per axis.
"""
import numpy as np

from ..kernels.conv import conv_forward
from ..kernels.padding import pad
from .catalog import named
from .layout import boundary_mode, map_spatial
from .separability import DEFAULT_RTOL, separate


def centre_pads(kernel_shape, flip):
    """(before, after) per axis putting tap k // 2 on the output pixel (scipy.ndimage and OpenCV).

    True convolution (flip) correlates with the reversed kernel, whose centre tap is k - 1 - k // 2.
    """
    return tuple((k - 1 - k // 2, k // 2) if flip else (k // 2, k - 1 - k // 2) for k in kernel_shape)


def _conv_same(xp, weight):
    """conv_forward of a padded stack (M, *padded) with one (*k) weight: (M, 1, ...) * (1, 1, *k).

    The planner picks the algorithm (a one-channel conv is depthwise-shaped; FFT for large kernels)
    and keeps its scratch memory within the workspace limit.
    """
    ones = (1,) * weight.ndim
    return conv_forward(xp[:, None], weight.reshape((1, 1) + weight.shape), ones, ones, 1)[:, 0]


def correlate(x, weight, mode="reflect", cval=0.0, flip=False, separable=True):
    """Same-size correlation of a float stack ``(M, *spatial)`` with an N-d ``weight``.

    ``mode`` is a kernels/padding.py name; the constant mode pads with ``cval``. With
    ``separable=True`` a rank-1 weight (see ``separate``) runs as 1-D passes, which give the same
    result to float rounding: the constant border of a later pass is ``cval`` times the sums of the
    earlier factors, which is what the full 2-D correlation sees there.
    """
    # separability is judged on the float64 kernel: float32 rounding alone would break rank 1
    weight = np.asarray(weight, dtype=np.float64)
    if flip:
        weight = weight[(slice(None, None, -1),) * weight.ndim]
    # the reversed kernel's centre is tap k - 1 - k // 2
    pads = centre_pads(weight.shape, flip)
    factors = separate(weight, DEFAULT_RTOL) if separable else None
    if factors is None:
        return _conv_same(pad(x, pads, mode, value=cval), weight.astype(x.dtype))
    out = x
    for axis, factor in factors:
        shape = [1] * weight.ndim
        shape[axis] = factor.size
        axis_pads = [(0, 0)] * weight.ndim
        axis_pads[axis] = pads[axis]
        out = _conv_same(pad(out, tuple(axis_pads), mode, value=cval), factor.astype(x.dtype).reshape(shape))
        cval = cval * float(factor.sum())
    return out


def apply(image, kernel, mode="reflect", cval=0.0, flip=False, *, offset=None, channel_axis=-1,
          filter_alpha=False, separable=True):
    """Filter an image with a named kernel or any array.

    Args:
        image: ``(H, W)`` grey, ``(H, W, C)`` colour, batches such as ``(N, H, W, C)``, or any N-d
            array; the last ``kernel.ndim`` axes other than the channel axis are filtered. Integer
            images are filtered in float64 and returned in their dtype, rounded and clipped.
        kernel: a name of ``KERNELS`` (with its default parameters; see ``kernel()``), or an array of
            1 to N axes, correlated with its tap ``k // 2`` on each output pixel.
        mode: the boundary: ``reflect`` (default; OpenCV's default BORDER_REFLECT_101, scipy
            ``mirror``), ``symmetric`` (scipy's default ``reflect``), ``replicate``, ``circular``,
            ``constant`` (with ``cval``) or ``zeros``. Any padding size works in every mode.
        cval: the value outside the image with ``mode="constant"``.
        flip: False (default) correlates, as NN frameworks, OpenCV ``filter2D`` and
            ``scipy.ndimage.correlate`` do; True is true convolution (``scipy.ndimage.convolve``).
        offset: added after filtering; default 0, or the named kernel's offset (emboss: mid-grey).
        channel_axis: the colour axis (default -1, channels last as in Pillow, OpenCV and matplotlib
            arrays), or None for a stack of grey images; ignored when the image has no more axes
            than the kernel.
        filter_alpha: with 2 (LA) or 4 (RGBA) channels the last is alpha and is left alone unless True.
        separable: run a rank-1 kernel as one 1-D pass per axis (same result, fewer multiplies).

    Returns:
        ndarray of the image's shape and dtype.

    Example:
        >>> import numpy as np
        >>> image = np.zeros((5, 5), dtype=np.uint8); image[2, 2] = 160
        >>> int(apply(image, [[0, 0, 0], [0, 0, 0], [0, 0, 1]])[1, 1])  # correlation reads down-right
        160
        >>> int(apply(image, [[0, 0, 0], [0, 0, 0], [0, 0, 1]], flip=True)[3, 3])
        160
    """
    if isinstance(kernel, str):
        entry = named(kernel)
        weight = entry.build()
        offset = entry.offset if offset is None else offset
    else:
        weight = kernel_array(kernel)
    mode, cval = boundary_mode(mode, cval)
    if not isinstance(flip, (bool, np.bool_)):
        raise TypeError(f"flip must be True or False; received {flip!r}")
    return map_spatial(image, weight.ndim, lambda x: correlate(x, weight, mode, cval, flip, separable),
                       channel_axis, filter_alpha, 0.0 if offset is None else offset)


def kernel_array(kernel, name="kernel"):
    """A user kernel as a finite, non-empty float64 array with at least one axis."""
    try:
        weight = np.asarray(kernel, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a kernel name or a numeric array; received {kernel!r}") from None
    if weight.ndim == 0 or weight.size == 0:
        raise ValueError(f"{name} must be an array with at least one axis and one tap; received shape "
                         f"{weight.shape}")
    if not np.all(np.isfinite(weight)):
        raise ValueError(f"{name} must hold finite numbers; received {kernel!r}")
    return weight
