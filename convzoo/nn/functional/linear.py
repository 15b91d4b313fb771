"""The fully connected head: linear (x W^T + b) and flatten, as compositions of primitives."""
import numpy as np

from .arguments import float_tensor, is_int, same_dtype


def linear(input, weight, bias=None):
    """y = x @ weight.T + bias, like torch.nn.functional.linear.

    Args:
        input: (*, in_features).
        weight: (out_features, in_features).
        bias: optional (out_features,).

    Returns:
        (*, out_features).

    Example:
        >>> import numpy as np
        >>> linear(np.ones((2, 3)), np.ones((4, 3))).shape
        (2, 4)
    """
    x, w = float_tensor(input, "input"), float_tensor(weight, "weight")
    same_dtype(x, w, "input", "weight")
    if w.ndim != 2:
        raise ValueError(f"linear expects weight of shape (out_features, in_features); received {tuple(w.shape)}")
    if x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"linear expects input of shape (*, in_features) with in_features={w.shape[1]}; "
                         f"received {tuple(x.shape)}")
    out = x @ w.T
    if bias is not None:
        b = float_tensor(bias, "bias")
        same_dtype(x, b, "input", "bias")
        if b.shape != (w.shape[0],):
            raise ValueError(f"bias must have shape ({w.shape[0]},); received {tuple(b.shape)}")
        out = out + b
    return out


def flatten(input, start_dim=0, end_dim=-1):
    """Merge dims start_dim..end_dim into one, like torch.flatten.

    Example:
        >>> import numpy as np
        >>> flatten(np.ones((2, 3, 4, 5)), 1).shape
        (2, 60)
    """
    x = float_tensor(input, "input")
    ndim = max(x.ndim, 1)
    for name, dim in (("start_dim", start_dim), ("end_dim", end_dim)):
        if not is_int(dim) or not -ndim <= dim < ndim:
            raise ValueError(f"flatten: {name} must be in [{-ndim}, {ndim - 1}] for input of shape "
                             f"{tuple(x.shape)}; received {dim!r}")
    start, end = start_dim % ndim, end_dim % ndim
    if start > end:
        raise ValueError(f"flatten: start_dim ({start_dim}) must not come after end_dim ({end_dim})")
    if x.ndim == 0:
        return x.reshape((1,))
    return x.reshape(x.shape[:start] + (int(np.prod(x.shape[start:end + 1])),) + x.shape[end + 1:])
