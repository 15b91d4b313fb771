"""Activations: relu, leaky_relu, elu, gelu, sigmoid, tanh, softmax, log_softmax (PyTorch signatures)."""
import numbers

from ...autograd import activation
from .arguments import float_tensor, is_int


def _dim(dim, x, name):
    if dim is None:
        # PyTorch's legacy implicit choice: dim 0 for 0-D, 1-D and 3-D input, else 1
        return 0 if x.ndim in (0, 1, 3) else 1
    if not is_int(dim) or not -max(x.ndim, 1) <= dim < max(x.ndim, 1):
        raise ValueError(f"{name}: dim must be an int in [{-x.ndim}, {x.ndim - 1}] for input of shape "
                         f"{tuple(x.shape)}; received {dim!r}")
    return dim % max(x.ndim, 1)


def _number(value, name):
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be a real number; received {value!r}")
    return float(value)


def relu(input, inplace=False):
    """max(x, 0) elementwise; its derivative at 0 is 0 (``inplace`` is accepted and ignored).

    Example:
        >>> import numpy as np
        >>> relu(np.array([-1.0, 0.0, 2.0])).numpy()
        array([0., 0., 2.])
    """
    return activation.ReLU.apply(float_tensor(input, "input"))


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x if x > 0 else negative_slope * x.

    Example:
        >>> import numpy as np
        >>> leaky_relu(np.array([-2.0, 3.0]), 0.5).numpy()
        array([-1.,  3.])
    """
    return activation.LeakyReLU.apply(float_tensor(input, "input"),
                                      negative_slope=_number(negative_slope, "negative_slope"))


def elu(input, alpha=1.0, inplace=False):
    """x if x > 0 else alpha * (exp(x) - 1).

    Example:
        >>> import numpy as np
        >>> elu(np.array([0.0, 1.0])).numpy()
        array([0., 1.])
    """
    return activation.ELU.apply(float_tensor(input, "input"), alpha=_number(alpha, "alpha"))


def gelu(input, approximate="none"):
    """x * Phi(x) (exact, with erf) or its tanh approximation (``approximate="tanh"``).

    Example:
        >>> import numpy as np
        >>> gelu(np.array([0.0])).numpy()
        array([0.])
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate must be 'none' or 'tanh'; received {approximate!r}")
    return activation.GELU.apply(float_tensor(input, "input"), approximate=approximate)


def sigmoid(input):
    """1 / (1 + exp(-x)), computed without overflow.

    Example:
        >>> import numpy as np
        >>> sigmoid(np.array([0.0])).numpy()
        array([0.5])
    """
    return activation.Sigmoid.apply(float_tensor(input, "input"))


def tanh(input):
    """Hyperbolic tangent.

    Example:
        >>> import numpy as np
        >>> tanh(np.array([0.0])).numpy()
        array([0.])
    """
    return activation.Tanh.apply(float_tensor(input, "input"))


def softmax(input, dim=None):
    """exp(x) / sum(exp(x)) along dim (stable: the maximum is subtracted first).

    Example:
        >>> import numpy as np
        >>> softmax(np.zeros((1, 4)), dim=1).numpy()
        array([[0.25, 0.25, 0.25, 0.25]])
    """
    x = float_tensor(input, "input")
    return activation.Softmax.apply(x, dim=_dim(dim, x, "softmax"))


def log_softmax(input, dim=None):
    """log(softmax(x)) along dim, computed as x - max - log(sum(exp(x - max))).

    Example:
        >>> import numpy as np
        >>> np.exp(log_softmax(np.zeros((1, 2)), dim=1).numpy())
        array([[0.5, 0.5]])
    """
    x = float_tensor(input, "input")
    return activation.LogSoftmax.apply(x, dim=_dim(dim, x, "log_softmax"))
