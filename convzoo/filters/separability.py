"""Rank-1 (separable) kernels: one N-d correlation becomes a 1-D pass per axis.

A k x k kernel that is an outer product ``a ⊗ b`` costs 2k multiplies per pixel as two 1-D passes
instead of k²: Gaussian, box, Sobel, Prewitt and Scharr are all separable. Detection is numerical,
as MATLAB's ``imfilter`` does it: the leading singular vector of each axis' unfolding gives a factor,
and the kernel counts as separable when that outer product reproduces it within ``rtol``.
"""
import numpy as np

DEFAULT_RTOL = 1e-10


def separate(kernel, rtol=DEFAULT_RTOL):
    """Split a rank-1 kernel into 1-D factors, one per axis longer than 1.

    Args:
        kernel: N-d array.
        rtol: largest accepted ``||kernel - outer(factors)|| / ||kernel||`` (Frobenius norms).

    Returns:
        A list of ``(axis, factor)`` pairs whose outer product (with length-1 axes kept) equals the
        kernel within ``rtol``, or None when the kernel is not rank 1 (or all zeros).

    Example:
        >>> import numpy as np
        >>> sobel_x = np.outer([1, 2, 1], [-1, 0, 1])
        >>> (axis0, a), (axis1, b) = separate(sobel_x)
        >>> axis0, axis1, bool(np.allclose(np.outer(a, b), sobel_x))
        (0, 1, True)
        >>> separate([[0, 1, 0], [1, -4, 1], [0, 1, 0]]) is None  # the Laplacian has rank 2
        True
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    norm = np.linalg.norm(kernel)
    axes = [a for a in range(kernel.ndim) if kernel.shape[a] > 1]
    if norm == 0 or not np.isfinite(norm) or not axes:
        return None
    squeezed = kernel.reshape([kernel.shape[a] for a in axes])
    for i in range(len(axes)):
        # rank 1 iff every unfolding (k_i, rest) has one non-zero singular value
        s = np.linalg.svd(np.moveaxis(squeezed, i, 0).reshape(squeezed.shape[i], -1), compute_uv=False)
        if np.sqrt(np.sum(s[1:] ** 2)) > rtol * norm:
            return None
    # the factors are the kernel's own fibres through its largest tap, so integer kernels such as
    # Sobel split into integer factors exactly: K = K[:, q] ⊗ K[p, :] / K[p, q] for rank 1
    pivot = np.unravel_index(np.argmax(np.abs(squeezed)), squeezed.shape)
    factors = []
    for i in range(len(axes)):
        index = pivot[:i] + (slice(None),) + pivot[i + 1:]
        factors.append(squeezed[index] / (squeezed[pivot] if i else 1.0))
    rebuilt = np.ones(())
    for f in factors:
        rebuilt = np.multiply.outer(rebuilt, f)
    if np.linalg.norm(rebuilt - squeezed) > rtol * norm:
        return None
    return list(zip(axes, factors))
