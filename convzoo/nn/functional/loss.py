"""Losses: cross_entropy, nll_loss and mse_loss, with PyTorch's arguments and reductions.

Input is (N, C) or (N, C, d1, ...) with class indices (N,) / (N, d1, ...) or, for cross_entropy,
class probabilities of the input's shape; an unbatched (C,) input takes a scalar index.

Arguments after ``weight`` are keyword-only: PyTorch's signatures still hold the deprecated
``size_average`` and ``reduce`` in those positions, so a positional call is refused rather than
silently misread.
"""
import numbers

import numpy as np

from ...autograd import Tensor
from ...autograd.loss import NLLLoss
from .activation import log_softmax
from .arguments import float_tensor, is_int

REDUCTIONS = ("mean", "sum", "none")


def _reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}; received {reduction!r}")
    return reduction


def _weight(weight, x):
    if weight is None:
        return None
    w = np.asarray(weight.data if isinstance(weight, Tensor) else weight)
    if w.shape != (x.shape[1],):
        raise ValueError(f"weight must have one entry per class, shape ({x.shape[1]},); received {w.shape}")
    return w.astype(x.dtype)


def _batched(x, name):
    if x.ndim < 1:
        raise ValueError(f"{name} expects input of shape (N, C, ...) or (C,); received shape {tuple(x.shape)}")
    return x.reshape((1,) + x.shape) if x.ndim == 1 else x


def _class_indices(target, x, ignore_index, name):
    t = np.asarray(target.data if isinstance(target, Tensor) else target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{name}: class-index target must have an integer dtype; received dtype {t.dtype}")
    expected = (x.shape[0],) + x.shape[2:]
    if t.ndim == 0 and x.shape[0] == 1:
        t = t.reshape(1)
    if t.shape != expected:
        raise ValueError(f"{name} expects target of shape {expected} for input of shape {tuple(x.shape)}; "
                         f"received {t.shape}")
    bad = (t != ignore_index) & ((t < 0) | (t >= x.shape[1]))
    if bad.any():
        raise ValueError(f"{name}: target holds class {int(t[bad].flat[0])} outside [0, {x.shape[1] - 1}] "
                         f"(and is not ignore_index={ignore_index})")
    return t.astype(np.int64, copy=False)


def nll_loss(input, target, weight=None, *, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of class indices, given log-probabilities (like torch's nll_loss).

    Args:
        input: log-probabilities (N, C, *d) or (C,).
        target: integer class indices (N, *d) (or a scalar for (C,) input).
        weight: optional per-class weights (C,).
        ignore_index: targets equal to it contribute nothing (and no weight to the mean).
        reduction: ``mean`` (divided by the total weight of the counted targets), ``sum`` or ``none``.

    Example:
        >>> import numpy as np
        >>> float(nll_loss(np.log(np.array([[0.5, 0.5]])), np.array([1])).numpy())
        0.6931471805599453
    """
    reduction = _reduction(reduction)
    x = float_tensor(input, "input")
    unbatched = x.ndim == 1
    x = _batched(x, "nll_loss")
    if not is_int(ignore_index):
        raise TypeError(f"ignore_index must be an int; received {ignore_index!r}")
    t = _class_indices(target, x, ignore_index, "nll_loss")
    out = NLLLoss.apply(x, t, _weight(weight, x), ignore_index=int(ignore_index), reduction=reduction)
    return out.reshape(()) if unbatched and reduction == "none" else out


def cross_entropy(input, target, weight=None, *, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Cross-entropy of logits against class indices or class probabilities, as torch's cross_entropy.

    It is log_softmax over dim 1 followed by nll_loss (indices) or -sum(p * log_softmax) (probabilities).
    ``label_smoothing`` = e mixes the target with the uniform distribution: (1 - e) * target + e / C.

    Args:
        input: logits (N, C, *d) or (C,).
        target: integer class indices (N, *d), or floating probabilities shaped like input.
        weight: optional per-class weights (C,).
        ignore_index: with indices, targets equal to it are skipped.
        reduction: ``mean``, ``sum`` or ``none``. With indices, ``mean`` divides by the total weight
            of counted targets; with probabilities, by the number of positions N * prod(d).
        label_smoothing: in [0, 1].

    Example:
        >>> import numpy as np
        >>> float(cross_entropy(np.zeros((1, 4)), np.array([2])).numpy())  # log 4
        1.3862943611198906
    """
    reduction = _reduction(reduction)
    if not isinstance(label_smoothing, numbers.Real) or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be a number in [0, 1]; received {label_smoothing!r}")
    x = float_tensor(input, "input")
    unbatched = x.ndim == 1
    x = _batched(x, "cross_entropy")
    n_classes = x.shape[1]
    w = _weight(weight, x)
    logp = log_softmax(x, dim=1)
    t_raw = np.asarray(target.data if isinstance(target, Tensor) else target)
    if t_raw.dtype.kind == "f":
        out = _prob_target_loss(logp, t_raw, w, reduction, label_smoothing, x, unbatched)
    else:
        if not is_int(ignore_index):
            raise TypeError(f"ignore_index must be an int; received {ignore_index!r}")
        t = _class_indices(t_raw, x, ignore_index, "cross_entropy")
        out = NLLLoss.apply(logp, t, w, ignore_index=int(ignore_index), reduction=reduction)
        if label_smoothing > 0:
            out = (1 - label_smoothing) * out + _smooth_loss(logp, t, w, ignore_index, reduction) * (
                label_smoothing / n_classes)
    return out.reshape(out.shape[1:]) if unbatched and reduction == "none" and out.ndim else out


def _smooth_loss(logp, t, w, ignore_index, reduction):
    # -sum_c weight[c] * logp[c] per position, 0 at ignored positions, reduced as PyTorch
    keep = (t != ignore_index).astype(logp.dtype)
    per_class = logp if w is None else logp * w.reshape((1, -1) + (1,) * (logp.ndim - 2))
    loss = -per_class.sum(dim=1) * keep
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    total = keep.sum() if w is None else (w[np.where(t != ignore_index, t, 0)] * keep).sum()
    return loss.sum() / np.asarray(total, dtype=logp.dtype)


def _prob_target_loss(logp, target, w, reduction, label_smoothing, x, unbatched):
    target = target.astype(x.dtype, copy=False)
    if unbatched:
        target = target.reshape((1,) + target.shape)
    if target.shape != tuple(x.shape):
        raise ValueError(f"cross_entropy expects probability target of the input's shape {tuple(x.shape)}; "
                         f"received {target.shape}")
    n_classes = x.shape[1]
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / n_classes
    if w is not None:
        target = target * w.reshape((1, -1) + (1,) * (x.ndim - 2))
    loss = logp * target
    if reduction == "none":
        return -loss.sum(dim=1)
    if reduction == "sum":
        return -loss.sum()
    return -loss.sum() / np.asarray(x.size // n_classes, dtype=x.dtype)


def mse_loss(input, target, *, reduction="mean"):
    """Mean squared error, (input - target)^2 reduced; shapes must match (no silent broadcasting).

    Example:
        >>> import numpy as np
        >>> float(mse_loss(np.array([1.0, 3.0]), np.array([0.0, 0.0])).numpy())
        5.0
    """
    reduction = _reduction(reduction)
    x = float_tensor(input, "input")
    y = float_tensor(target, "target")
    if x.shape != y.shape:
        raise ValueError(f"mse_loss expects target of the input's shape {tuple(x.shape)}; received "
                         f"{tuple(y.shape)}")
    diff = x - y
    sq = diff * diff
    if reduction == "none":
        return sq
    return sq.sum() if reduction == "sum" else sq.mean()
