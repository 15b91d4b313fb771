"""convzoo: every kind of convolution layer, in NumPy and Numba."""
from .autograd import Tensor, no_grad, tensor
from .nn.summary import receptive_field
from .explain import autotune, explain, use_algorithm

__version__ = "0.1.0"
__all__ = ["Tensor", "__version__", "autotune", "explain", "no_grad", "receptive_field", "tensor", "use_algorithm"]
