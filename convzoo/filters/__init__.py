"""Classic image filters on the convolution engine: blur, sharpen, edges, emboss, any kernel.

A leaf package: it imports the core, the core never imports it. Every function takes grey ``(H, W)``,
colour ``(H, W, C)``, batched or N-d arrays (see ``apply``), every boundary mode, and gives back the
image's shape and dtype.
"""
from .blurs import box_blur, gaussian_blur, motion_blur
from .catalog import KERNELS, NamedKernel, kernel
from .correlation import apply
from .edges import laplace, prewitt, scharr, sobel
from .enhancement import edge_enhance, emboss, sharpen, unsharp_mask
from .layout import BOUNDARY_MODES
from .separability import separate

__all__ = ["BOUNDARY_MODES", "KERNELS", "NamedKernel", "apply", "box_blur", "edge_enhance", "emboss",
           "gaussian_blur", "kernel", "laplace", "motion_blur", "prewitt", "scharr", "separate", "sharpen",
           "sobel", "unsharp_mask"]
