"""Loss layers: CrossEntropyLoss, NLLLoss, MSELoss (thin Modules over convzoo.nn.functional.loss)."""
import numpy as np

from .. import functional as F
from ..module import Module


class CrossEntropyLoss(Module):
    """Cross-entropy of logits (N, C, *d) against class indices or probabilities; see F.cross_entropy.

    Example:
        >>> import numpy as np
        >>> loss = CrossEntropyLoss(label_smoothing=0.1)
        >>> float(loss(np.zeros((2, 3)), np.array([0, 2])).numpy()) == float(np.log(3))
        True
    """

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__()
        self.register_buffer("weight", None if weight is None else np.asarray(getattr(weight, "data", weight)))
        self.ignore_index, self.reduction, self.label_smoothing = ignore_index, reduction, label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction,
                               label_smoothing=self.label_smoothing)

    def extra_repr(self):
        parts = [] if self.reduction == "mean" else [f"reduction={self.reduction!r}"]
        parts += [] if self.ignore_index == -100 else [f"ignore_index={self.ignore_index}"]
        return ", ".join(parts + ([] if not self.label_smoothing else [f"label_smoothing={self.label_smoothing}"]))


class NLLLoss(Module):
    """Negative log-likelihood of log-probabilities against class indices; see F.nll_loss."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__()
        self.register_buffer("weight", None if weight is None else np.asarray(getattr(weight, "data", weight)))
        self.ignore_index, self.reduction = ignore_index, reduction

    def forward(self, input, target):
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction)

    def extra_repr(self):
        parts = [] if self.reduction == "mean" else [f"reduction={self.reduction!r}"]
        return ", ".join(parts + ([] if self.ignore_index == -100 else [f"ignore_index={self.ignore_index}"]))


class MSELoss(Module):
    """Mean squared error; see F.mse_loss."""

    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)

    def extra_repr(self):
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"
