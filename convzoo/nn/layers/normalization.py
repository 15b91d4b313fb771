"""Batch normalisation layers with PyTorch's parameters, buffers and state_dict names."""
import numpy as np

from ...autograd.tensor import DEFAULT_DTYPE
from .. import functional as F
from ..functional.arguments import is_int
from ..module import Module, Parameter


class _BatchNorm(Module):
    _dims = ()  # accepted input ranks
    _shape = ""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, dtype=None):
        super().__init__()
        if not is_int(num_features) or num_features < 1:
            raise ValueError(f"num_features must be a positive int; received {num_features!r}")
        if momentum is not None and not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1] or None; received {momentum!r}")
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dtype = np.dtype(DEFAULT_DTYPE if dtype is None else dtype)
        self.weight = Parameter(np.ones(self.num_features, dtype=dtype)) if affine else None
        self.bias = Parameter(np.zeros(self.num_features, dtype=dtype)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(self.num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            self.weight.data[...] = 1
            self.bias.data[...] = 0

    def forward(self, input):
        ndim = getattr(input, "ndim", None)
        if ndim not in self._dims:
            raise ValueError(f"{type(self).__name__} expects input of shape {self._shape}; received shape "
                             f"{tuple(getattr(input, 'shape', ()))}")
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked[...] += 1  # in place: rebinding would unregister the buffer
            if self.momentum is None:
                # a cumulative moving average, as PyTorch does with momentum=None
                momentum = 1.0 / float(self.num_batches_tracked)
        use_batch = self.training or not self.track_running_stats
        return F.batch_norm(input, self.running_mean if self.track_running_stats else None,
                            self.running_var if self.track_running_stats else None, self.weight, self.bias,
                            use_batch, momentum, self.eps)

    def extra_repr(self):
        parts = [f"{self.num_features}"]
        for name, default in (("eps", 1e-5), ("momentum", 0.1), ("affine", True), ("track_running_stats", True)):
            if getattr(self, name) != default:
                parts.append(f"{name}={getattr(self, name)}")
        return ", ".join(parts)


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L), like torch.nn.BatchNorm1d; see F.batch_norm."""
    _dims = (2, 3)
    _shape = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W), like torch.nn.BatchNorm2d; see F.batch_norm.

    Example:
        >>> import numpy as np
        >>> bn = BatchNorm2d(3)
        >>> bn(np.random.rand(4, 3, 5, 5).astype(np.float32)).shape, int(bn.num_batches_tracked)
        ((4, 3, 5, 5), 1)
    """
    _dims = (4,)
    _shape = "(N, C, H, W)"
