"""The classifier head: Linear, Flatten, Identity, and Dropout."""
import numpy as np

from ...autograd.tensor import DEFAULT_DTYPE, as_tensor
from .. import functional as F
from ..functional.arguments import is_int
from ..init import default_layer_init
from ..module import Module, Parameter


class Linear(Module):
    """y = x W^T + b, like torch.nn.Linear; weight (out_features, in_features), bias (out_features,).

    Example:
        >>> import numpy as np
        >>> Linear(400, 120)(np.ones((64, 400), np.float32)).shape
        (64, 120)
    """

    def __init__(self, in_features, out_features, bias=True, dtype=None):
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not is_int(value) or value < 0:
                raise ValueError(f"{name} must be a non-negative int; received {value!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        dtype = np.dtype(DEFAULT_DTYPE if dtype is None else dtype)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dtype))
        self.bias = Parameter(np.empty(self.out_features, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        """U(+-1/sqrt(in_features)) for weight and bias, PyTorch's default (see nn.init.default_layer_init)."""
        default_layer_init(self.weight, self.bias)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}" + (
            ", bias=False" if self.bias is None else "")


class Flatten(Module):
    """Merge dims start_dim..end_dim (default: all but the batch), like torch.nn.Flatten.

    Example:
        >>> import numpy as np
        >>> Flatten()(np.ones((64, 16, 5, 5), np.float32)).shape
        (64, 400)
    """

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):
        return F.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self):
        parts = [f"start_dim={self.start_dim}"] if self.start_dim != 1 else []
        return ", ".join(parts + ([f"end_dim={self.end_dim}"] if self.end_dim != -1 else []))


class Identity(Module):
    """Returns its input (an array comes back as a Tensor); arguments are accepted and ignored, as in PyTorch."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return as_tensor(input)


class Dropout(Module):
    """Zero elements with probability p in training mode and scale by 1/(1-p); identity in eval mode.

    Masks come from ``convzoo.nn.functional.regularization.generator``; seed it with
    ``convzoo.nn.functional.regularization.seed(n)``.
    """

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0 <= p <= 1:
            raise ValueError(f"dropout probability p must be in [0, 1]; received {p!r}")
        self.p, self.inplace = p, inplace

    def forward(self, input):
        return F.dropout(input, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"
