"""Output sizes, padding resolution, window offsets and the flipped kernel of a stride-1 input gradient:
the arithmetic every window op shares.

Per spatial axis a window op is described by the input length ``n``, kernel ``k``, stride ``s``,
dilation ``d`` and the padding ``(before, after)``. The effective kernel extent is ``d * (k - 1) + 1``.
"""
import numpy as np

from .cache import CallCache


def effective_kernel(k, d):
    return d * (k - 1) + 1


def zero_pads(pads, rank):
    """The (before, after) zero padding of each of ``rank`` spatial axes as ints; None means none."""
    return tuple((0, 0) for _ in range(rank)) if pads is None else tuple((int(b), int(a)) for b, a in pads)


def conv_output_size(n, k, s, d, before, after):
    """floor((n + before + after - d*(k-1) - 1) / s) + 1; may be <= 0 for an impossible geometry."""
    return (n + before + after - effective_kernel(k, d)) // s + 1


def gradient_kernel(weight, groups):
    """The kernel of a stride-1 input gradient computed as a correlation of the output gradient:
    weight (O, Cg, *k) -> (G*Cg, O/G, *k), the channel axes swapped within each group
    and every spatial axis reversed; C-contiguous."""
    o, cg, kernel = weight.shape[0], weight.shape[1], tuple(weight.shape[2:])
    w_t = weight.reshape((groups, o // groups, cg) + kernel).swapaxes(1, 2).reshape((groups * cg, o // groups) + kernel)
    return np.ascontiguousarray(w_t[(slice(None), slice(None)) + (slice(None, None, -1),) * len(kernel)])


def same_padding(n, k, s, d):
    """TF/Keras/JAX/ONNX SAME_UPPER: output ceil(n / s), the odd pixel of padding at the end."""
    out = -(-n // s)
    total = max((out - 1) * s + effective_kernel(k, d) - n, 0)
    return total // 2, total - total // 2


def transposed_extent(n, k, s, d):
    """Length of the padded signal a stride-s conv maps onto n outputs: (n-1)*s + d*(k-1) + 1."""
    return (n - 1) * s + effective_kernel(k, d)


def read_extent(padded, out, kernel, stride, dilation):
    """Per axis, the part of a padded input of length ``padded`` that the windows of ``out`` outputs
    read: trailing pixels a stride steps over are read by none (the gradients plan and run on it)."""
    return tuple(min(n, transposed_extent(p, k, s, d)) for n, p, k, s, d in zip(padded, out, kernel, stride, dilation))


def transposed_same_padding(n, k, s, d):
    """Padding and output_padding of a transposed conv whose output is n * s.

    It is the adjoint of the SAME conv on an input of length n * s.
    """
    before, after = same_padding(n * s, k, s, d)
    output_padding = n * s + before + after - transposed_extent(n, k, s, d)
    return before, after, output_padding


def window_offsets(padded_shape, kernel_size, out_shape, stride, dilation):
    """Flat offsets of every kernel tap and every output window start in a C-ordered padded block.

    Element ``padded.flat[start[p] + tap[k]]`` is what tap ``k`` of window ``p`` reads, so one
    gather (im2col) and its adjoint scatter (col2im) serve every rank.

    Returns:
        (tap, start): int64 arrays of length prod(kernel_size) and prod(out_shape).
    """
    # C-order strides, in elements, of the padded spatial block
    elem_strides = np.ones(len(padded_shape), dtype=np.int64)
    for axis in range(len(padded_shape) - 2, -1, -1):
        elem_strides[axis] = elem_strides[axis + 1] * padded_shape[axis + 1]
    tap = np.zeros(1, dtype=np.int64)
    start = np.zeros(1, dtype=np.int64)
    for axis, (k, n, s, d) in enumerate(zip(kernel_size, out_shape, stride, dilation)):
        tap = (tap[:, None] + np.arange(k, dtype=np.int64) * d * elem_strides[axis]).ravel()
        start = (start[:, None] + np.arange(n, dtype=np.int64) * s * elem_strides[axis]).ravel()
    return tap, start


def table_key(in_shape, kernel_size, stride, dilation, pads=None, out_shape=None):
    """The hashable arguments (in_shape, kernel_size, stride, dilation, before, out_shape) of a cached
    window table (window.row_table, depthwise.plane_table) for an input of spatial size in_shape
    zero-padded by pads ((before, after) per axis, None for none); out_shape defaults to every
    window that fits."""
    in_shape, kernel_size = tuple(int(n) for n in in_shape), tuple(int(k) for k in kernel_size)
    pads = zero_pads(pads, len(in_shape))
    if out_shape is None:
        out_shape = tuple(conv_output_size(n, k, s, d, b, a)
                          for n, k, s, d, (b, a) in zip(in_shape, kernel_size, stride, dilation, pads))
    return (in_shape, kernel_size, tuple(int(s) for s in stride), tuple(int(d) for d in dilation),
            tuple(b for b, _ in pads), tuple(int(o) for o in out_shape))


# (factory, raw arguments) -> factory(*table_key(raw arguments)): the table of a call whose shapes
# came before, found without normalising them (table_key took 3.8 us of a small depthwise conv's
# 9 us kernel call; this lookup 0.3)
_tables = CallCache()


def _make_table(factory, in_shape, kernel_size, stride, dilation, pads, out_shape):
    return factory(*table_key(in_shape, kernel_size, stride, dilation, pads, out_shape))


def cached_table(factory, in_shape, kernel_size, stride, dilation, pads=None, out_shape=None):
    """``factory(*table_key(in_shape, kernel_size, stride, dilation, pads, out_shape))``, kept by
    the raw arguments (equal arguments give equal keys: 1 and np.int64(1) alike); arguments that
    cannot be hashed (lists) go the long way every time."""
    args = (factory, in_shape, kernel_size, stride, dilation, pads, out_shape)
    return _tables.get(args, _make_table, *args)
