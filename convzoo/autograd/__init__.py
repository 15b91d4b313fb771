"""Tensor, the graph and reverse-mode differentiation. Imports kernels only."""
from .function import Function, is_grad_enabled, no_grad
from .tensor import Tensor, as_tensor, tensor

__all__ = ["Function", "Tensor", "as_tensor", "is_grad_enabled", "no_grad", "tensor"]
