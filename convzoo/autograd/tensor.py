"""``Tensor``: an ndarray with an optional gradient and the node that made it."""
import numbers

import numpy as np

from . import function, ops

DEFAULT_DTYPE = np.float32


def _as_array(data, dtype=None):
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.array(data, dtype=dtype)
    if isinstance(data, np.ndarray):
        return data.copy()
    arr = np.array(data)
    # Python floats become float32, as in PyTorch; integers and bools keep their kind
    if arr.dtype == np.float64:
        arr = arr.astype(DEFAULT_DTYPE)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"tensor() expects numeric data; received {type(data).__name__} of dtype {arr.dtype}")
    return arr


class Tensor:
    """An n-dimensional array that records the operations applied to it for ``backward()``."""

    __array_priority__ = 1000  # so ndarray + Tensor calls Tensor.__radd__

    def __init__(self, data, dtype=None, requires_grad=False):
        self.data = _as_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"only floating point tensors can require gradients; dtype is {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._ctx = None

    @classmethod
    def _wrap(cls, array, requires_grad=False):
        t = cls.__new__(cls)
        t.data = np.asarray(array)
        t.requires_grad = requires_grad
        t.grad = None
        t._ctx = None
        return t

    # --- array-like properties ---
    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    is_leaf = property(lambda self: self._ctx is None)

    def dim(self):
        return self.data.ndim

    def numel(self):
        return self.data.size

    def __len__(self):
        return len(self.data)

    def numpy(self):
        """The underlying ndarray (shared, not copied, like ``torch.Tensor.numpy``)."""
        return self.data

    def item(self):
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"tensor({np.array2string(self.data, separator=', ', prefix='tensor(')}{grad})"

    def detach(self):
        """A tensor sharing the data, cut from the graph."""
        return Tensor._wrap(self.data)

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    def astype(self, dtype):
        return Tensor._wrap(self.data.astype(dtype))

    # --- operators: each is one primitive from ops.py ---
    def _operand(self, other):
        # a Python number takes this tensor's dtype, so float32 stays float32
        if isinstance(other, numbers.Number) and not isinstance(other, bool):
            return np.asarray(other, dtype=self.dtype if self.dtype.kind == "f" else None)
        return other

    def __add__(self, other):
        return ops.Add.apply(self, self._operand(other))

    def __radd__(self, other):
        return ops.Add.apply(self._operand(other), self)

    def __sub__(self, other):
        return ops.Sub.apply(self, self._operand(other))

    def __rsub__(self, other):
        return ops.Sub.apply(self._operand(other), self)

    def __mul__(self, other):
        return ops.Mul.apply(self, self._operand(other))

    def __rmul__(self, other):
        return ops.Mul.apply(self._operand(other), self)

    def __truediv__(self, other):
        return ops.Div.apply(self, self._operand(other))

    def __rtruediv__(self, other):
        return ops.Div.apply(self._operand(other), self)

    def __neg__(self):
        return ops.Neg.apply(self)

    def __pow__(self, other):
        return ops.Pow.apply(self, self._operand(other))

    def __rpow__(self, other):
        return ops.Pow.apply(self._operand(other), self)

    def __matmul__(self, other):
        return ops.MatMul.apply(self, other)

    def __rmatmul__(self, other):
        return ops.MatMul.apply(other, self)

    def __getitem__(self, index):
        if isinstance(index, Tensor):
            index = index.data
        elif isinstance(index, tuple):
            index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
        return ops.GetItem.apply(self, index)

    # comparisons give plain boolean tensors, outside the graph
    def __eq__(self, other):
        return Tensor._wrap(self.data == np.asarray(other))

    def __ne__(self, other):
        return Tensor._wrap(self.data != np.asarray(other))

    def __lt__(self, other):
        return Tensor._wrap(self.data < np.asarray(other))

    def __le__(self, other):
        return Tensor._wrap(self.data <= np.asarray(other))

    def __gt__(self, other):
        return Tensor._wrap(self.data > np.asarray(other))

    def __ge__(self, other):
        return Tensor._wrap(self.data >= np.asarray(other))

    __hash__ = object.__hash__

    def sum(self, dim=None, keepdim=False):
        return ops.Sum.apply(self, axis=dim, keepdims=keepdim)

    def mean(self, dim=None, keepdim=False):
        return ops.Mean.apply(self, axis=dim, keepdims=keepdim)

    def max(self, dim=None, keepdim=False):
        return ops.Max.apply(self, axis=dim, keepdims=keepdim)

    def exp(self):
        return ops.Exp.apply(self)

    def log(self):
        return ops.Log.apply(self)

    def matmul(self, other):
        return ops.MatMul.apply(self, other)

    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return ops.Reshape.apply(self, shape=tuple(shape))

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1):
        end = end_dim % max(self.ndim, 1)
        return self.reshape(self.shape[:start_dim] + (-1,) + self.shape[end + 1:])

    def permute(self, *dims):
        dims = dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        return ops.Permute.apply(self, axes=tuple(dims))

    def transpose(self, dim0, dim1):
        axes = list(range(self.ndim))
        axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
        return ops.Permute.apply(self, axes=tuple(axes))

    @property
    def T(self):
        return ops.Permute.apply(self, axes=tuple(reversed(range(self.ndim))))

    def _accumulate(self, grad, owned=False):
        # owned: the engine holds the only reference to grad, which can then be kept without a copy
        if self.grad is None:
            self.grad = Tensor._wrap(grad if owned else np.array(grad, dtype=self.data.dtype))
        else:
            self.grad.data += grad

    def backward(self, gradient=None):
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires a gradient.

        Args:
            gradient: the vector of the vector-Jacobian product, shaped like self (array or
                Tensor). May be omitted only when self holds a single element.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() called on a tensor that does not require grad")
        if gradient is None:
            if self.data.size != 1:
                raise ValueError(f"backward() needs a gradient for a non-scalar output of shape {self.shape}")
            gradient = np.ones_like(self.data)
        gradient = np.asarray(gradient.data if isinstance(gradient, Tensor) else gradient, dtype=self.dtype)
        if gradient.shape != self.shape:
            raise ValueError(f"gradient shape {gradient.shape} does not match the output shape {self.shape}")
        function.backward(self, gradient)


def tensor(data, dtype=None, requires_grad=False):
    """Make a Tensor from array-like data (copied), like ``torch.tensor``.

    Example:
        >>> t = tensor([1.0, 2.0], requires_grad=True)
        >>> (t * t).sum().backward()
        >>> t.grad.numpy()
        array([2., 4.], dtype=float32)
    """
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def as_tensor(value):
    """Wrap an ndarray without copying; a Tensor passes through."""
    return value if isinstance(value, Tensor) else Tensor._wrap(np.asarray(value))
