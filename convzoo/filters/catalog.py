"""The named kernels: their matrices, their parameters and the offset each adds.

Every matrix here is what ``apply`` *correlates* with (the NN-framework convention; ``flip=True``
gives true convolution), with rows running down the image and columns to the right, and already
divided by its scale. Pillow's ``ImageFilter`` kernels are stored flipped vertically, because Pillow
multiplies the first row of a kernel with the row *below* each pixel; only ``emboss`` is changed by
that flip, the others are symmetric.

Offsets are symbolic, so a filter means the same thing on every dtype: ``"mid"`` is mid-grey (128
for uint8, as Pillow's EMBOSS; 2**(bits-1) for unsigned ints; 0 for signed ints; 0.5 for float
images, taken to lie in [0, 1]) and ``"white"`` the top of the range (255 for uint8, 1.0 for floats).
"""
import math
from dataclasses import dataclass, field

import numpy as np

from ..nn.functional.arguments import is_int


@dataclass(frozen=True)
class NamedKernel:
    """One entry of ``KERNELS``.

    Attributes:
        name: the name ``kernel()`` and ``apply()`` accept.
        summary: one line for ``convzoo filter --list``.
        build: callable taking the keyword parameters, returning the float64 matrix.
        offset: 0, ``"mid"`` or ``"white"``, added after the correlation.
        params: default value of each keyword parameter of ``build``.
    """

    name: str
    summary: str
    build: object
    offset: object = 0
    params: dict = field(default_factory=dict)


def _pillow(rows, scale):
    # Pillow's kernels apply their first row below the pixel, so our correlation matrix is flipped
    return np.array(rows, dtype=np.float64)[::-1] / scale


# --- smoothing -----------------------------------------------------------------------------------

def box_kernel(size=3, ndim=2):
    """The mean over a size x size window (scipy.ndimage.uniform_filter, OpenCV blur)."""
    sizes = _sizes(size, ndim, "size")
    return np.full(sizes, 1.0 / math.prod(sizes))


def gaussian_kernel1d(sigma, truncate=4.0):
    """scipy.ndimage's sampled Gaussian: radius int(truncate * sigma + 0.5), normalised to sum 1."""
    if not (isinstance(sigma, (int, float, np.integer, np.floating)) and sigma > 0 and math.isfinite(sigma)):
        raise ValueError(f"sigma must be a positive number; received {sigma!r}")
    if not (isinstance(truncate, (int, float, np.integer, np.floating)) and truncate > 0):
        raise ValueError(f"truncate must be a positive number; received {truncate!r}")
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 / float(sigma) ** 2 * x * x)
    return g / g.sum()


def gaussian_kernel(sigma=1.0, truncate=4.0, ndim=2):
    """Outer product of ``gaussian_kernel1d`` along each axis (sigma: a number or one per axis)."""
    sigmas = sigma if isinstance(sigma, (tuple, list)) else (sigma,) * ndim
    out = np.ones(())
    for s in sigmas:
        out = np.multiply.outer(out, gaussian_kernel1d(s, truncate))
    return out


def motion_kernel(length=9, angle=0.0):
    """A line of ``length`` pixels through the centre at ``angle`` degrees, normalised to sum 1.

    The angle is counter-clockwise from the x axis (0 blurs horizontally, 90 vertically). Each
    pixel's weight is the length of the line inside it (measured by 64 samples per pixel of
    length), so an axis-aligned line of odd length is exactly a row or column of equal taps; the
    matrix is odd-sized (an even length gets half-weight end taps) so the blur does not shift.
    """
    if not is_int(length) or length < 1:
        raise ValueError(f"length must be a positive int; received {length!r}")
    if isinstance(angle, bool) or not isinstance(angle, (int, float, np.integer, np.floating)) or not (
            math.isfinite(angle)):
        raise TypeError(f"angle must be a finite number of degrees; received {angle!r}")
    size = length if length % 2 else length + 1
    samples = 64 * length
    # midpoints of equal pieces of the segment [-length/2, length/2]: never exactly between pixels
    t = -length / 2 + (np.arange(samples) + 0.5) * (length / samples)
    theta = math.radians(angle)
    rows = np.rint(size // 2 - t * math.sin(theta)).astype(np.int64)  # rows run down the image
    cols = np.rint(size // 2 + t * math.cos(theta)).astype(np.int64)
    out = np.zeros((size, size))
    np.add.at(out, (rows, cols), 1.0)
    return out / samples


# --- derivatives ---------------------------------------------------------------------------------

_SMOOTHING = {"sobel": (1.0, 2.0, 1.0), "prewitt": (1.0, 1.0, 1.0), "scharr": (3.0, 10.0, 3.0)}


def derivative_kernel(kind, axis=1, ndim=2):
    """Central difference [-1, 0, 1] along ``axis``, smoothing along the others (scipy.ndimage order).

    sobel smooths with [1, 2, 1], prewitt with [1, 1, 1], scharr with [3, 10, 3] (OpenCV's Scharr);
    none is normalised, as in scipy.ndimage and OpenCV.
    """
    if not is_int(axis) or not -ndim <= axis < ndim:
        raise ValueError(f"axis must be an int in [{-ndim}, {ndim - 1}] for {ndim}-D images; received {axis!r}")
    out = np.ones(())
    for a in range(ndim):
        taps = (-1.0, 0.0, 1.0) if a == axis % ndim else _SMOOTHING[kind]
        out = np.multiply.outer(out, np.array(taps))
    return out


def laplace_kernel(ndim=2):
    """Sum of second differences [1, -2, 1] along every axis (scipy.ndimage.laplace)."""
    out = np.zeros((3,) * ndim)
    centre = (1,) * ndim
    for a in range(ndim):
        for side in (0, 2):
            out[centre[:a] + (side,) + centre[a + 1:]] = 1.0
    out[centre] = -2.0 * ndim
    return out


# --- Pillow's ImageFilter kernels (ImageFilter.<NAME>.filterargs: size, scale, offset, kernel) --------

EMBOSS_DIRECTIONS = ("n", "ne", "e", "se", "s", "sw", "w", "nw")
_COMPASS = {"n": (-1, 0), "ne": (-1, 1), "e": (0, 1), "se": (1, 1), "s": (1, 0), "sw": (1, -1),
            "w": (0, -1), "nw": (-1, -1)}


def emboss_kernel(direction="sw"):
    """Each pixel minus its neighbour in ``direction`` (a compass point; up is north), plus mid-grey.

    ``"sw"`` is Pillow's EMBOSS (kernel (-1, 0, 0, 0, 1, 0, 0, 0, 0), scale 1, offset 128, applied
    flipped vertically): the pixel minus its lower-left neighbour.
    """
    if direction not in _COMPASS:
        raise ValueError(f"direction must be one of {', '.join(EMBOSS_DIRECTIONS)}; received {direction!r}")
    out = np.zeros((3, 3))
    out[1, 1] = 1.0
    dy, dx = _COMPASS[direction]
    out[1 + dy, 1 + dx] = -1.0
    return out


SHARPEN_VARIANTS = ("pillow", "laplacian")
EDGE_ENHANCE_VARIANTS = ("pillow", "more")


def sharpen_kernel(variant="pillow"):
    """``pillow``: ImageFilter.SHARPEN, (-2 x8, 32) / 16. ``laplacian``: the classic 5-point [0 -1 0; -1 5 -1; 0 -1 0]."""
    if variant == "pillow":
        return _pillow([[-2, -2, -2], [-2, 32, -2], [-2, -2, -2]], 16)
    if variant == "laplacian":
        return np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=np.float64)
    raise ValueError(f"variant must be one of {', '.join(SHARPEN_VARIANTS)}; received {variant!r}")


def edge_enhance_kernel(variant="pillow"):
    """``pillow``: ImageFilter.EDGE_ENHANCE, (-1 x8, 10) / 2. ``more``: EDGE_ENHANCE_MORE, (-1 x8, 9) / 1."""
    if variant == "pillow":
        return _pillow([[-1, -1, -1], [-1, 10, -1], [-1, -1, -1]], 2)
    if variant == "more":
        return _pillow([[-1, -1, -1], [-1, 9, -1], [-1, -1, -1]], 1)
    raise ValueError(f"variant must be one of {', '.join(EDGE_ENHANCE_VARIANTS)}; received {variant!r}")


def _sizes(size, ndim, name):
    if is_int(size):
        size = (size,) * ndim
    if not (isinstance(size, (tuple, list)) and size and all(is_int(s) and s >= 1 for s in size)):
        raise ValueError(f"{name} must be a positive int or a tuple of positive ints; received {size!r}")
    return tuple(int(s) for s in size)


def _fixed(matrix):
    return lambda: np.array(matrix, dtype=np.float64)


KERNELS = {k.name: k for k in (
    NamedKernel("identity", "leaves the image unchanged", _fixed([[0, 0, 0], [0, 1, 0], [0, 0, 0]])),
    NamedKernel("box", "mean over a size x size window (scipy uniform_filter)", box_kernel, params={"size": 3}),
    NamedKernel("gaussian", "sampled Gaussian, radius int(truncate*sigma+0.5) (scipy gaussian_filter)",
                gaussian_kernel, params={"sigma": 1.0, "truncate": 4.0}),
    NamedKernel("motion_blur", "a line of length pixels at angle degrees", motion_kernel,
                params={"length": 9, "angle": 0.0}),
    NamedKernel("blur", "Pillow ImageFilter.BLUR: 5x5 ring of ones / 16",
                lambda: _pillow([[1] * 5] + [[1, 0, 0, 0, 1]] * 3 + [[1] * 5], 16)),
    NamedKernel("smooth", "Pillow ImageFilter.SMOOTH: (1 x8, 5) / 13",
                lambda: _pillow([[1, 1, 1], [1, 5, 1], [1, 1, 1]], 13)),
    NamedKernel("smooth_more", "Pillow ImageFilter.SMOOTH_MORE: 5x5 / 100",
                lambda: _pillow([[1, 1, 1, 1, 1], [1, 5, 5, 5, 1], [1, 5, 44, 5, 1], [1, 5, 5, 5, 1],
                                 [1, 1, 1, 1, 1]], 100)),
    NamedKernel("sharpen", "Pillow ImageFilter.SHARPEN (variant='laplacian': 5-point)", sharpen_kernel,
                params={"variant": "pillow"}),
    NamedKernel("detail", "Pillow ImageFilter.DETAIL: (0 -1 0, -1 10 -1, 0 -1 0) / 6",
                lambda: _pillow([[0, -1, 0], [-1, 10, -1], [0, -1, 0]], 6)),
    NamedKernel("edge_enhance", "Pillow ImageFilter.EDGE_ENHANCE (variant='more': EDGE_ENHANCE_MORE)",
                edge_enhance_kernel, params={"variant": "pillow"}),
    NamedKernel("find_edges", "Pillow ImageFilter.FIND_EDGES: (-1 x8, 8)",
                lambda: _pillow([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], 1)),
    NamedKernel("contour", "Pillow ImageFilter.CONTOUR: (-1 x8, 8), offset white",
                lambda: _pillow([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], 1), offset="white"),
    NamedKernel("emboss", "pixel minus its neighbour in direction, plus mid-grey (Pillow EMBOSS: sw)",
                emboss_kernel, offset="mid", params={"direction": "sw"}),
    NamedKernel("sobel", "Sobel derivative along axis (0: down the rows, 1: along the columns)",
                lambda axis=1: derivative_kernel("sobel", axis), params={"axis": 1}),
    NamedKernel("prewitt", "Prewitt derivative along axis", lambda axis=1: derivative_kernel("prewitt", axis),
                params={"axis": 1}),
    NamedKernel("scharr", "Scharr derivative along axis (OpenCV's 3, 10, 3)",
                lambda axis=1: derivative_kernel("scharr", axis), params={"axis": 1}),
    NamedKernel("laplace", "5-point Laplacian (scipy laplace)", laplace_kernel),
)}


def kernel(name, **params):
    """The matrix of a named kernel, as ``apply`` correlates with it (already divided by its scale).

    Args:
        name: one of ``KERNELS`` (``convzoo filter --list`` prints them all with their matrices).
        **params: the kernel's parameters, e.g. ``size`` for box, ``sigma`` for gaussian,
            ``axis`` for sobel, ``direction`` for emboss, ``length``/``angle`` for motion_blur.

    Returns:
        float64 ndarray.

    Example:
        >>> kernel("sobel", axis=1)
        array([[-1.,  0.,  1.],
               [-2.,  0.,  2.],
               [-1.,  0.,  1.]])
    """
    entry = named(name)
    unknown = sorted(set(params) - set(entry.params))
    if unknown:
        accepted = ", ".join(entry.params) or "none"
        raise TypeError(f"kernel {name!r} takes no parameter {', '.join(unknown)}; it accepts: {accepted}")
    return entry.build(**params)


def named(name):
    """The ``NamedKernel`` entry of ``name``, or a ValueError listing every name."""
    if not isinstance(name, str) or name not in KERNELS:
        raise ValueError(f"unknown kernel name {name!r}; choose one of {', '.join(KERNELS)}")
    return KERNELS[name]
