"""convzoo: every kind of convolution layer, in NumPy and Numba."""
from .autograd import Tensor, no_grad, tensor

__version__ = "0.1.0"
__all__ = ["Tensor", "__version__", "no_grad", "tensor"]
