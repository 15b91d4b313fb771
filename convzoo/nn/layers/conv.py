"""Convolution layers: one ``_ConvNd`` base for Conv1d/2d/3d, ConvTranspose1d/2d/3d and DepthwiseConv2d.

Each holds its weight in PyTorch's layout (conv ``(C_out, C_in/groups, *k)``, transposed
``(C_in, C_out/groups, *k)``) under PyTorch's attribute names, and calls the functional op, whose
docstring gives the output size.
"""
import numpy as np

from ...autograd.tensor import DEFAULT_DTYPE
from .. import functional as F
from ..functional.arguments import is_int, ntuple, padding_mode as check_padding_mode, padding_pairs
from ..init import default_layer_init
from ..module import Module, Parameter


def _positive(value, name):
    if not is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive int; received {value!r}")
    return int(value)


def _padding(padding, rank):
    """PyTorch keeps padding as given: a string, or a tuple of ints; convzoo also keeps (before, after) pairs."""
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(f"padding must be 'valid', 'same' or numbers; received {padding!r}")
        return padding
    pairs = padding_pairs(padding, rank)
    if all(b == a for b, a in pairs):
        return tuple(b for b, _ in pairs)
    return pairs


class _ConvNd(Module):
    """Shared by every convolution layer: validation, parameters, reset_parameters, repr."""

    _rank = None
    transposed = False
    _functional = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", dtype=None):
        super().__init__()
        self._setup(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                    padding_mode, 0, dtype)

    def _setup(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
               padding_mode, output_padding, dtype):
        rank = self._rank
        self.in_channels = _positive(in_channels, "in_channels")
        self.out_channels = _positive(out_channels, "out_channels")
        self.groups = _positive(groups, "groups")
        for name, channels in (("in_channels", self.in_channels), ("out_channels", self.out_channels)):
            if channels % self.groups:
                raise ValueError(f"{name} ({channels}) must be divisible by groups ({self.groups})")
        self.kernel_size = ntuple(kernel_size, rank, "kernel_size", minimum=1)
        self.stride = ntuple(stride, rank, "stride", minimum=1)
        self.dilation = ntuple(dilation, rank, "dilation", minimum=1)
        self.padding = _padding(padding, rank)
        self.output_padding = ntuple(output_padding, rank, "output_padding", minimum=0)
        self.padding_mode = check_padding_mode(padding_mode)
        dtype = np.dtype(DEFAULT_DTYPE if dtype is None else dtype)
        if dtype.kind != "f":
            raise TypeError(f"dtype must be a floating dtype; received {dtype}")
        if self.transposed:
            shape = (self.in_channels, self.out_channels // self.groups) + self.kernel_size
        else:
            shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self.weight = Parameter(np.empty(shape, dtype=dtype))
        self.bias = Parameter(np.empty(self.out_channels, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's default: kaiming_uniform_(a=sqrt(5)), i.e. U(+-1/sqrt(fan_in)), for weight and bias.

        See ``nn.init.default_layer_init`` for why a = sqrt(5).
        """
        default_layer_init(self.weight, self.bias)

    def forward(self, input):
        return self._functional[self._rank](input, self.weight, self.bias, self.stride, self.padding,
                                            self.dilation, self.groups, self.padding_mode)

    def _changed(self):
        """name=value for every hyperparameter that differs from its default."""
        rank = self._rank
        defaults = (("stride", (1,) * rank), ("padding", (0,) * rank), ("dilation", (1,) * rank),
                    ("output_padding", (0,) * rank), ("groups", 1), ("padding_mode", "zeros"))
        parts = [f"{name}={getattr(self, name)!r}" for name, default in defaults if getattr(self, name) != default]
        return parts + (["bias=False"] if self.bias is None else [])

    def extra_repr(self):
        return ", ".join([f"{self.in_channels}", f"{self.out_channels}", f"kernel_size={self.kernel_size}"]
                         + self._changed())


class Conv1d(_ConvNd):
    """1-D convolution layer over (N, C_in, L), like torch.nn.Conv1d; see F.conv1d for the arguments.

    Example:
        >>> import numpy as np
        >>> Conv1d(4, 8, 5, padding="same")(np.ones((2, 4, 30), np.float32)).shape
        (2, 8, 30)
    """

    _rank = 1


class Conv2d(_ConvNd):
    """2-D convolution layer over (N, C_in, H, W), like torch.nn.Conv2d; see F.conv2d for the arguments.

    Example:
        >>> import numpy as np
        >>> Conv2d(3, 6, 5)(np.ones((1, 3, 32, 32), np.float32)).shape
        (1, 6, 28, 28)
    """

    _rank = 2


class Conv3d(_ConvNd):
    """3-D convolution layer over (N, C_in, D, H, W), like torch.nn.Conv3d; see F.conv3d.

    Example:
        >>> import numpy as np
        >>> Conv3d(1, 2, 3, stride=2)(np.ones((1, 1, 9, 9, 9), np.float32)).shape
        (1, 2, 4, 4, 4)
    """

    _rank = 3


class _ConvTransposeNd(_ConvNd):
    """Transposed convolution: the gradient of the convolution with the same arguments w.r.t. its input."""

    transposed = True
    _functional = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", dtype=None):
        Module.__init__(self)
        self._setup(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                    padding_mode, output_padding, dtype)

    def forward(self, input, output_size=None):
        """``output_size`` (spatial, or with N and C in front) picks the output size among the valid ones."""
        return self._functional[self._rank](input, self.weight, self.bias, self.stride, self.padding,
                                            self.output_padding if output_size is None else 0, self.groups,
                                            self.dilation, output_size, self.padding_mode)


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution layer, like torch.nn.ConvTranspose1d; see F.conv_transpose1d.

    Example:
        >>> import numpy as np
        >>> ConvTranspose1d(4, 2, 4, stride=2, padding=1)(np.ones((1, 4, 10), np.float32)).shape
        (1, 2, 20)
    """

    _rank = 1


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution layer, like torch.nn.ConvTranspose2d; see F.conv_transpose2d.

    Example:
        >>> import numpy as np
        >>> up = ConvTranspose2d(8, 4, 3, stride=2, padding=1)
        >>> up(np.ones((1, 8, 7, 7), np.float32), output_size=(14, 14)).shape
        (1, 4, 14, 14)
    """

    _rank = 2


class ConvTranspose3d(_ConvTransposeNd):
    """3-D transposed convolution layer, like torch.nn.ConvTranspose3d; see F.conv_transpose3d.

    Example:
        >>> import numpy as np
        >>> ConvTranspose3d(2, 1, 2, stride=2)(np.ones((1, 2, 3, 3, 3), np.float32)).shape
        (1, 1, 6, 6, 6)
    """

    _rank = 3


class DepthwiseConv2d(Conv2d):
    """Depthwise convolution: a Conv2d with groups = in_channels and depth_multiplier filters per channel.

    Output channels are ``in_channels * depth_multiplier``; channel ``c * depth_multiplier + m`` is
    input channel c filtered by its m-th kernel (Keras' DepthwiseConv2D; in PyTorch,
    ``Conv2d(C, C * m, k, groups=C)``, whose state_dict this shares).

    Example:
        >>> import numpy as np
        >>> DepthwiseConv2d(8, 3, depth_multiplier=2, padding=1)(np.ones((1, 8, 5, 5), np.float32)).shape
        (1, 16, 5, 5)
    """

    def __init__(self, in_channels, kernel_size, depth_multiplier=1, stride=1, padding=0, dilation=1, bias=True,
                 padding_mode="zeros", dtype=None):
        in_channels = _positive(in_channels, "in_channels")
        multiplier = _positive(depth_multiplier, "depth_multiplier")
        super().__init__(in_channels, in_channels * multiplier, kernel_size, stride, padding, dilation,
                         groups=in_channels, bias=bias, padding_mode=padding_mode, dtype=dtype)
        self.depth_multiplier = multiplier

    def extra_repr(self):
        parts = [f"{self.in_channels}", f"kernel_size={self.kernel_size}"]
        if self.depth_multiplier != 1:
            parts.append(f"depth_multiplier={self.depth_multiplier}")
        return ", ".join(parts + [p for p in self._changed() if not p.startswith("groups=")])
