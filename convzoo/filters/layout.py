"""Images in, images out: which axes are spatial, which hold colour, and how dtypes round-trip.

An image is any array whose last ``ndim`` axes (skipping the channel axis) are spatial: ``(H, W)``
grey, ``(H, W, C)`` colour, ``(N, H, W, C)`` or ``(N, C, H, W)`` batches, volumes, signals. Every
other axis is filtered independently. Integer images are filtered in float64 and returned in their
dtype, rounded to nearest and clipped to the dtype's range; float images keep their dtype.
"""
import numbers

import numpy as np

# the modes of kernels/padding.py, plus "constant" (pads with cval; "zeros" is its cval=0 alias)
BOUNDARY_MODES = ("constant", "zeros", "reflect", "symmetric", "replicate", "circular")


def boundary_mode(mode, cval):
    """Validate mode and cval; return the padding mode name of kernels/padding.py and the value."""
    if mode not in BOUNDARY_MODES:
        raise ValueError(f"mode must be one of {', '.join(BOUNDARY_MODES)}; received {mode!r} (scipy's "
                         f"'reflect' is our 'symmetric', its 'mirror' our 'reflect', 'nearest' our "
                         f"'replicate', 'wrap' our 'circular')")
    if not isinstance(cval, numbers.Real) or isinstance(cval, bool) or not np.isfinite(cval):
        raise TypeError(f"cval must be a finite number; received {cval!r}")
    if mode == "zeros" and cval != 0:
        raise ValueError(f"mode 'zeros' pads with 0; use mode='constant' for cval={cval!r}")
    return ("zeros" if mode == "constant" else mode), float(cval)


def as_image(image):
    """Any array-like (ndarray, list, Tensor, PIL image) as an ndarray of a supported dtype."""
    arr = np.asarray(image)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"image must have an integer or floating dtype; received dtype {arr.dtype}"
                        + (" (convert booleans with .astype(np.uint8))" if arr.dtype.kind == "b" else ""))
    if arr.ndim == 0 or arr.size == 0:
        raise ValueError(f"image must be a non-empty array with at least one axis; received shape {arr.shape}")
    return arr


def compute_dtype(dtype):
    """float64 for integers and float64; float32 for float16/float32."""
    if dtype.kind == "f" and dtype.itemsize <= 4:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def resolve_offset(offset, dtype):
    """A number, or the symbolic ``"mid"`` / ``"white"`` of a named kernel, in the image's units."""
    if offset == "mid":
        if dtype.kind == "u":
            return float(2 ** (8 * dtype.itemsize - 1))
        return 0.0 if dtype.kind == "i" else 0.5
    if offset == "white":
        return float(np.iinfo(dtype).max) if dtype.kind in "iu" else 1.0
    if not isinstance(offset, numbers.Real) or isinstance(offset, bool) or not np.isfinite(offset):
        raise TypeError(f"offset must be a finite number; received {offset!r}")
    return float(offset)


def to_dtype(values, dtype):
    """Float results back to the image dtype: integers rounded to nearest and clipped to the range."""
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    return values.astype(dtype, copy=False)


def spatial_axes(shape, ndim, channel_axis):
    """The channel axis (or None) and the ``ndim`` spatial axes of an array of this shape."""
    if len(shape) <= ndim:
        channel_axis = None  # no room for channels: every axis is spatial
    elif channel_axis is not None:
        if isinstance(channel_axis, bool) or not isinstance(channel_axis, numbers.Integral) or not (
                -len(shape) <= channel_axis < len(shape)):
            raise ValueError(f"channel_axis must be None or an axis of the image (shape {shape}); "
                             f"received {channel_axis!r}")
        channel_axis = int(channel_axis) % len(shape)
    others = [a for a in range(len(shape)) if a != channel_axis]
    if len(others) < ndim:
        raise ValueError(f"a {ndim}-D kernel needs an image with {ndim} spatial axes; received shape {shape} "
                         f"with channel_axis={channel_axis}")
    return channel_axis, tuple(others[-ndim:])


def map_spatial(image, ndim, fn, channel_axis=-1, filter_alpha=False, offset=0.0):
    """Apply ``fn`` to the image as a float stack ``(M, *spatial)`` and give back an image like the input.

    Args:
        image: array-like; see the module docstring for layouts.
        ndim: number of spatial axes.
        fn: maps a float array (M, *spatial) to one of the same shape.
        channel_axis: axis of colour channels, None for none; ignored for images of only ``ndim`` axes.
        filter_alpha: an image with 2 (LA) or 4 (RGBA) channels has its last channel as alpha, copied
            unchanged unless this is True.
        offset: number or ``"mid"``/``"white"``, added to the filtered values.

    Returns:
        ndarray of the image's shape and dtype.
    """
    arr = as_image(image)
    channel_axis, spatial = spatial_axes(arr.shape, ndim, channel_axis)
    offset = resolve_offset(offset, arr.dtype)
    lead = ([channel_axis] if channel_axis is not None else [])
    lead += [a for a in range(arr.ndim) if a not in spatial and a != channel_axis]
    order = lead + list(spatial)
    x = arr.transpose(order)  # (C?, *others, *spatial)
    alpha = None
    if channel_axis is not None and x.shape[0] in (2, 4) and not filter_alpha:
        x, alpha = x[:-1], x[-1:]
    shape = x.shape
    flat = x.reshape((-1,) + shape[len(shape) - ndim:]).astype(compute_dtype(arr.dtype))
    values = fn(flat).reshape(shape)
    out = to_dtype(values + offset if offset else values, arr.dtype)
    if alpha is not None:
        out = np.concatenate([out, alpha], axis=0)
    return np.ascontiguousarray(out.transpose(np.argsort(order)))
