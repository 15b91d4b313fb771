"""Pooling layers; each calls its functional op (convzoo.nn.functional.pooling gives the output size)."""
from .. import functional as F
from ..functional.arguments import is_int, ntuple
from ..module import Module


def _as_tuple(value, rank):
    return (value,) * rank if is_int(value) else value


def _check(rank, kernel_size, stride, dilation=1):
    """Fail at construction, not at the first forward; the values are kept as given, as in PyTorch."""
    ntuple(kernel_size, rank, "kernel_size", minimum=1)
    ntuple(stride, rank, "stride", minimum=1)
    ntuple(dilation, rank, "dilation", minimum=1)


def _pool_repr(layer, defaults):
    """kernel_size, then stride when it is not kernel_size, then each hyperparameter off its default."""
    parts = [f"kernel_size={layer.kernel_size!r}"]
    if _as_tuple(layer.stride, layer._rank) != _as_tuple(layer.kernel_size, layer._rank):
        parts.append(f"stride={layer.stride!r}")
    for name, default in defaults:
        if _as_tuple(getattr(layer, name), layer._rank) != _as_tuple(default, layer._rank):
            parts.append(f"{name}={getattr(layer, name)!r}")
    return ", ".join(parts)


class _MaxPoolNd(Module):
    _rank = None

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, kernel_size if stride is None else stride, padding
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode
        _check(self._rank, kernel_size, self.stride, dilation)

    def forward(self, input):
        return (F.max_pool1d, F.max_pool2d, F.max_pool3d)[self._rank - 1](
            input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, self.return_indices)

    def extra_repr(self):
        return _pool_repr(self, (("padding", 0), ("dilation", 1), ("ceil_mode", False), ("return_indices", False)))


class MaxPool1d(_MaxPoolNd):
    """Max pooling over (N, C, L), like torch.nn.MaxPool1d; see F.max_pool1d."""
    _rank = 1


class MaxPool2d(_MaxPoolNd):
    """Max pooling over (N, C, H, W), like torch.nn.MaxPool2d; see F.max_pool2d.

    Example:
        >>> import numpy as np
        >>> MaxPool2d(2)(np.ones((1, 6, 28, 28), np.float32)).shape
        (1, 6, 14, 14)
    """
    _rank = 2


class MaxPool3d(_MaxPoolNd):
    """Max pooling over (N, C, D, H, W), like torch.nn.MaxPool3d; see F.max_pool3d."""
    _rank = 3


class _AvgPoolNd(Module):
    _rank = None

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, kernel_size if stride is None else stride, padding
        self.ceil_mode, self.count_include_pad, self.divisor_override = ceil_mode, count_include_pad, divisor_override
        _check(self._rank, kernel_size, self.stride)

    def forward(self, input):
        return (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[self._rank - 1](
            input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
            self.divisor_override)

    def extra_repr(self):
        return _pool_repr(self, (("padding", 0), ("ceil_mode", False), ("count_include_pad", True),
                                 ("divisor_override", None)))


class AvgPool1d(_AvgPoolNd):
    """Average pooling over (N, C, L), like torch.nn.AvgPool1d; see F.avg_pool1d."""
    _rank = 1


class AvgPool2d(_AvgPoolNd):
    """Average pooling over (N, C, H, W), like torch.nn.AvgPool2d; see F.avg_pool2d.

    Example:
        >>> import numpy as np
        >>> AvgPool2d(2)(np.ones((1, 6, 28, 28), np.float32)).shape
        (1, 6, 14, 14)
    """
    _rank = 2


class AvgPool3d(_AvgPoolNd):
    """Average pooling over (N, C, D, H, W), like torch.nn.AvgPool3d; see F.avg_pool3d."""
    _rank = 3


class _AdaptiveAvgPoolNd(Module):
    _rank = None

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d)[self._rank - 1](
            input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size!r}"


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """Average pooling to a fixed length; see F.adaptive_avg_pool1d."""
    _rank = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """Average pooling to a fixed (H, W); ``AdaptiveAvgPool2d(1)`` is global average pooling.

    Example:
        >>> import numpy as np
        >>> AdaptiveAvgPool2d(1)(np.ones((2, 8, 7, 7), np.float32)).shape
        (2, 8, 1, 1)
    """
    _rank = 2


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    """Average pooling to a fixed (D, H, W); see F.adaptive_avg_pool3d."""
    _rank = 3


class AdaptiveMaxPool2d(Module):
    """Max pooling to a fixed (H, W); see F.adaptive_max_pool2d."""

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, input):
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)

    def extra_repr(self):
        return f"output_size={self.output_size!r}" + (", return_indices=True" if self.return_indices else "")
