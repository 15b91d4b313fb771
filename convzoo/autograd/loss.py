"""The negative log-likelihood primitive: pick -log p of each target class, weighted, reduced.

Cross-entropy is log_softmax followed by this (nn/functional/loss.py); it has no backward of its own.
"""
import numpy as np

from .function import Function


class NLLLoss(Function):
    """loss[n, *d] = -weight[t] * logp[n, t, *d] with t = target[n, *d], 0 where t == ignore_index.

    ``mean`` divides the sum by the total weight of the non-ignored targets, as PyTorch.
    """

    def forward(self, logp, target, weight, ignore_index, reduction):
        self.shape, self.reduction = logp.shape, reduction
        keep = target != ignore_index
        self.target = np.where(keep, target, 0)[:, None]  # (N, 1, *d)
        w = np.ones(logp.shape[1], dtype=logp.dtype) if weight is None else weight
        self.w = (w[self.target[:, 0]] * keep).astype(logp.dtype)  # (N, *d)
        loss = -np.take_along_axis(logp, self.target, axis=1)[:, 0] * self.w
        if reduction == "none":
            return loss
        if reduction == "sum":
            return np.asarray(loss.sum())
        self.total = self.w.sum()
        return np.asarray(loss.sum() / self.total)

    def backward(self, g):
        scale = -self.w * (g if self.reduction == "none" else g / self.total if self.reduction == "mean" else g)
        grad = np.zeros(self.shape, dtype=scale.dtype)
        np.put_along_axis(grad, self.target, scale[:, None], axis=1)
        return grad, None, None
