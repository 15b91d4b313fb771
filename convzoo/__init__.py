"""convzoo: every kind of convolution layer, in NumPy and Numba."""
from .autograd import Tensor, no_grad, tensor
from .nn.summary import receptive_field

__version__ = "0.1.0"
__all__ = ["Tensor", "__version__", "no_grad", "receptive_field", "tensor"]
