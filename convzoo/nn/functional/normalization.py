"""Batch normalisation, training and evaluation, with PyTorch's running statistics."""
import numpy as np

from ...autograd import Tensor
from ...autograd.normalization import BatchNorm
from .arguments import float_tensor


def _stat(value, name, channels, dtype):
    if value is None:
        return None
    array = value.data if isinstance(value, Tensor) else value
    if not isinstance(array, np.ndarray) or array.shape != (channels,):
        raise ValueError(f"{name} must be an array of shape ({channels},); received "
                         f"{getattr(array, 'shape', type(array).__name__)}")
    return array


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5):
    """Normalise each channel of (N, C, *) input, like torch.nn.functional.batch_norm.

    In training mode the batch mean and biased variance normalise the input, and the running
    statistics (NumPy arrays, updated in place) move towards the batch's mean and *unbiased*
    variance: ``running = (1 - momentum) * running + momentum * batch``. In evaluation mode the
    running statistics normalise instead (they are then required).

    Args:
        input: (N, C) or (N, C, *spatial).
        running_mean, running_var: (C,) float arrays or None (training only: no update).
        weight, bias: optional affine (C,) parameters.
        training: use batch statistics (and update the running ones).
        momentum: weight of the new batch in the running statistics.
        eps: added to the variance.

    Example:
        >>> import numpy as np
        >>> x = np.array([[1.0], [3.0]])
        >>> mean, var = np.zeros(1), np.ones(1)
        >>> batch_norm(x, mean, var, training=True, eps=0.0).numpy().ravel().tolist(), mean, var
        ([-1.0, 1.0], array([0.2]), array([1.1]))
    """
    x = float_tensor(input, "input")
    if x.ndim < 2:
        raise ValueError(f"batch_norm expects input of shape (N, C, *); received shape {tuple(x.shape)}")
    channels = x.shape[1]
    running_mean = _stat(running_mean, "running_mean", channels, x.dtype)
    running_var = _stat(running_var, "running_var", channels, x.dtype)
    w = None if weight is None else float_tensor(weight, "weight")
    b = None if bias is None else float_tensor(bias, "bias")
    for name, p in (("weight", w), ("bias", b)):
        if p is not None and p.shape != (channels,):
            raise ValueError(f"{name} must have shape ({channels},); received {tuple(p.shape)}")
    shape = (1, channels) + (1,) * (x.ndim - 2)
    if training:
        count = x.size // channels
        if count <= 1:
            raise ValueError(f"batch_norm in training needs more than 1 value per channel; received input "
                             f"of shape {tuple(x.shape)}")
        axes = (0,) + tuple(range(2, x.ndim))
        mean = x.data.mean(axis=axes)
        var = x.data.var(axis=axes)
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean
        if running_var is not None:
            running_var *= 1 - momentum
            running_var += momentum * var * (count / (count - 1))
        return BatchNorm.apply(x, w, b, mean=mean, var=var, eps=eps)
    if running_mean is None or running_var is None:
        raise ValueError("batch_norm in evaluation mode needs running_mean and running_var")
    invstd = (1.0 / np.sqrt(running_var + eps)).astype(x.dtype).reshape(shape)
    out = (x - running_mean.astype(x.dtype).reshape(shape)) * invstd
    if w is not None:
        out = out * w.reshape(shape)
    if b is not None:
        out = out + b.reshape(shape)
    return out
