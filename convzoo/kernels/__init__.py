"""Pure array code (NumPy, BLAS and Numba): no Tensor, no autograd, no validation."""
