"""Max, average and adaptive pooling, 1-D to 3-D, with PyTorch's arguments and edge rules.

Output size per spatial axis (written once here; the layers point to it):

    out = floor((n + before + after - dilation * (k - 1) - 1 + (stride - 1 if ceil_mode else 0)) / stride) + 1

and with ``ceil_mode`` a last window that would start in the right padding is dropped. padding may
be an int, one int per axis, (before, after) pairs, ``"valid"``, or ``"same"`` (a convzoo extension:
output = ceil(n / stride), the odd pixel of padding at the end, as for convolution). Explicit
padding is at most half the kernel, as PyTorch checks. Max pooling pads with -inf, so a padded
cell never wins; average pooling counts padded cells in the divisor when ``count_include_pad`` is
True (PyTorch's default), and only the input cells when it is False (what Keras and TF do for
``"same"``; pass ``count_include_pad=False`` to match them).
"""
from ...autograd import Tensor
from ...autograd.pooling import AdaptiveAvgPool, AdaptiveMaxPool2d, AvgPool, GlobalAvgPool, MaxPool
from ...kernels.cache import CallCache
from ...kernels.pooling import avg_divisor, pool_geometry
from .arguments import SPATIAL_NAMES, float_tensor, is_int, ntuple, resolve_padding


def _input(input, rank, name):
    x = float_tensor(input, "input")
    if x.ndim not in (rank + 1, rank + 2):
        raise ValueError(f"{name} expects input of shape (N, C, {SPATIAL_NAMES[rank]}) or "
                         f"(C, {SPATIAL_NAMES[rank]}); received shape {tuple(x.shape)}")
    batched = x.ndim == rank + 2
    return (x if batched else x.reshape((1,) + x.shape)), batched


# (name, rank, input shape, repr of the window arguments) -> (geometry, padding pairs) of a call:
# a layer called again skips the validation (4.4 of a small max pooling call's 19 us). The repr
# tells the arguments' types apart: stride=2.0 must not find the entry of stride=2 (validation
# rejects it)
_calls = CallCache()


def _geometry(x, rank, name, kernel_size, stride, padding, dilation, ceil_mode):
    key = (name, rank, x.shape, repr((kernel_size, stride, padding, dilation, ceil_mode)))
    return _calls.get(key, _validated_geometry, x, rank, name, kernel_size, stride, padding, dilation, ceil_mode)


def _validated_geometry(x, rank, name, kernel_size, stride, padding, dilation, ceil_mode):
    kernel_size = ntuple(kernel_size, rank, "kernel_size", minimum=1)
    stride = kernel_size if stride is None or (isinstance(stride, (tuple, list)) and not stride) else \
        ntuple(stride, rank, "stride", minimum=1)
    dilation = ntuple(dilation, rank, "dilation", minimum=1)
    sizes = x.shape[2:]
    pairs = resolve_padding(padding, sizes, kernel_size, stride, dilation)
    if not isinstance(padding, str) and any(max(b, a) > k // 2 for (b, a), k in zip(pairs, kernel_size)):
        raise ValueError(f"{name}: padding {padding!r} must be at most half of kernel_size "
                         f"{kernel_size} on every axis")
    geometry = pool_geometry(sizes, kernel_size, stride, dilation, pairs, bool(ceil_mode))
    if min(geometry.out_shape) < 1:
        raise ValueError(f"{name}: the output would be empty ({geometry.out_shape}): input {tuple(x.shape)} "
                         f"padded by {pairs} is smaller than the window {kernel_size} (dilation {dilation})")
    return geometry, pairs


def _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, rank):
    name = f"max_pool{rank}d"
    x, batched = _input(input, rank, name)
    geometry, _ = _geometry(x, rank, name, kernel_size, stride, padding, dilation, ceil_mode)
    out = MaxPool.apply(x, geometry=geometry)
    indices = None
    if return_indices:
        # the Function node holds the winning taps; recompute them when no graph was recorded
        node = out._ctx
        if node is None:
            node = MaxPool()
            node.forward(x.data, geometry)
        indices = Tensor._wrap(node.indices(x.shape[:2]))
    if not batched:
        out = out.reshape(out.shape[1:])
        indices = None if indices is None else Tensor._wrap(indices.data[0])
    return (out, indices) if return_indices else out


def _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, rank):
    name = f"avg_pool{rank}d"
    x, batched = _input(input, rank, name)
    geometry, pairs = _geometry(x, rank, name, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and (not is_int(divisor_override) or divisor_override == 0):
        raise ValueError(f"divisor_override must be a non-zero int or None; received {divisor_override!r}")
    divisor = avg_divisor(geometry, pairs, bool(count_include_pad), divisor_override)
    out = AvgPool.apply(x, geometry=geometry, divisor=divisor)
    return out if batched else out.reshape(out.shape[1:])


def _pool_doc(kind, rank):
    spatial = SPATIAL_NAMES[rank]
    if kind == "max":
        extra = """dilation: spacing between window taps (1 means none).
        return_indices: also return, for every output, the flat index of the chosen element
            within its (n, c) input plane (as PyTorch; for max_unpool).
    """
        signature = "kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False"
    else:
        extra = """count_include_pad: divide by the window size including padded cells (default True,
            PyTorch) or by the number of input cells only.
        divisor_override: divide every window by this int instead.
    """
        signature = ("kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, "
                     "divisor_override=None")
    return f"""{rank}-D {kind} pooling over (N, C, {spatial}), like torch.nn.functional.{kind}_pool{rank}d.

    ``{kind}_pool{rank}d(input, {signature})``

    Args:
        input: Tensor or ndarray of shape (N, C, {spatial}) or unbatched (C, {spatial}).
        kernel_size: window size, an int or one per axis.
        stride: defaults to kernel_size.
        padding: int, per axis, (before, after) pairs, "valid" or "same"; at most half the kernel.
        ceil_mode: round the output size up; a window starting in the right padding is dropped.
        {extra}
    Shape:
        See the module docstring of convzoo.nn.functional.pooling for the output size.

    Example:
        >>> import numpy as np
        >>> x = np.ones((1, 1) + (4,) * {rank}, dtype=np.float32)
        >>> {kind}_pool{rank}d(x, 2).shape
        {(1, 1) + (2,) * rank}
    """


def _make(rank):
    def max_pool(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
        return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, rank)

    def avg_pool(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, rank)

    for fn, kind in ((max_pool, "max"), (avg_pool, "avg")):
        fn.__name__ = fn.__qualname__ = f"{kind}_pool{rank}d"
        fn.__doc__ = _pool_doc(kind, rank)
    return max_pool, avg_pool


max_pool1d, avg_pool1d = _make(1)
max_pool2d, avg_pool2d = _make(2)
max_pool3d, avg_pool3d = _make(3)


def _output_size(output_size, x, rank):
    if type(output_size) is int and output_size >= 1:  # the common call (global pooling: 1), 0.3 us not 2.5
        return (output_size,) * rank
    if is_int(output_size) or output_size is None:
        output_size = (output_size,) * rank
    if not isinstance(output_size, (tuple, list)) or len(output_size) != rank:
        raise TypeError(f"output_size must be an int or a tuple of {rank} ints or None; received {output_size!r}")
    output_size = tuple(output_size)
    # None keeps that axis's input size, as PyTorch
    output_size = tuple(n if o is None else o for o, n in zip(output_size, x.shape[2:]))
    return ntuple(output_size, rank, "output_size", minimum=1)


def _adaptive_avg_pool(input, output_size, rank):
    x, batched = _input(input, rank, f"adaptive_avg_pool{rank}d")
    output_size = _output_size(output_size, x, rank)
    if all(o == 1 for o in output_size):
        out = GlobalAvgPool.apply(x)
    else:
        out = AdaptiveAvgPool.apply(x, output_size=output_size)
    return out if batched else out.reshape(out.shape[1:])


def adaptive_avg_pool1d(input, output_size):
    """Average pooling to a fixed output length: window i spans [floor(i L / out), ceil((i+1) L / out)).

    Example:
        >>> import numpy as np
        >>> adaptive_avg_pool1d(np.ones((2, 3, 10), np.float32), 4).shape
        (2, 3, 4)
    """
    return _adaptive_avg_pool(input, output_size, 1)


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed (H, W); ``output_size=1`` is global average pooling.

    Windows per axis span [floor(i n / out), ceil((i+1) n / out)), as PyTorch; None keeps an axis.

    Example:
        >>> import numpy as np
        >>> adaptive_avg_pool2d(np.ones((2, 3, 7, 9), np.float32), (1, None)).shape
        (2, 3, 1, 9)
    """
    return _adaptive_avg_pool(input, output_size, 2)


def adaptive_avg_pool3d(input, output_size):
    """Average pooling to a fixed (D, H, W); see adaptive_avg_pool2d.

    Example:
        >>> import numpy as np
        >>> adaptive_avg_pool3d(np.ones((1, 2, 4, 4, 4), np.float32), 1).shape
        (1, 2, 1, 1, 1)
    """
    return _adaptive_avg_pool(input, output_size, 3)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a fixed (H, W), windows as in adaptive_avg_pool2d.

    Example:
        >>> import numpy as np
        >>> adaptive_max_pool2d(np.ones((2, 3, 7, 9), np.float32), 2).shape
        (2, 3, 2, 2)
    """
    x, batched = _input(input, 2, "adaptive_max_pool2d")
    output_size = _output_size(output_size, x, 2)
    out = AdaptiveMaxPool2d.apply(x, output_size=output_size)
    if return_indices:
        node = out._ctx
        if node is None:
            node = AdaptiveMaxPool2d()
            node.forward(x.data, output_size)
        indices = Tensor._wrap(node.index if batched else node.index[0])
    if not batched:
        out = out.reshape(out.shape[1:])
    return (out, indices) if return_indices else out
