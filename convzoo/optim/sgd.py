"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay."""
from .optimizer import Optimizer, check_number


class SGD(Optimizer):
    """``torch.optim.SGD``, update for update.

    With gradient g of parameter p (plus ``weight_decay * p`` when weight_decay is set), the
    momentum buffer is b = g on the first step and b = momentum * b + (1 - dampening) * g after;
    the step is p -= lr * b, or p -= lr * (g + momentum * b) with ``nesterov=True``.

    Args:
        params: Parameters or parameter-group dicts (see ``Optimizer``).
        lr: learning rate (>= 0).
        momentum: momentum factor in [0, 1).
        dampening: dampening of the momentum in [0, 1].
        weight_decay: L2 penalty added to the gradient (>= 0).
        nesterov: Nesterov momentum; needs momentum > 0 and dampening == 0.
        maximize: ascend instead of descend.

    Example:
        >>> import numpy as np
        >>> from convzoo.nn import Parameter
        >>> p = Parameter(np.array([1.0]))
        >>> opt = SGD([p], lr=0.1, momentum=0.9)
        >>> p.grad = Parameter(np.array([2.0]), requires_grad=False)
        >>> opt.step()
        >>> p.data
        array([0.8])
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                 maximize=False):
        check_number(lr, "lr")
        check_number(momentum, "momentum", 0.0, 1.0, inclusive_max=False)
        check_number(dampening, "dampening", 0.0, 1.0)
        check_number(weight_decay, "weight_decay")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"nesterov momentum needs momentum > 0 and dampening == 0; received "
                             f"momentum={momentum!r}, dampening={dampening!r}")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=bool(nesterov), maximize=bool(maximize)))

    def step(self):
        """Update every parameter that has a gradient."""
        for group in self.param_groups:
            lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
            for p, grad in self._parameters_with_grad(group):
                grad = -grad if group["maximize"] else grad
                if group["weight_decay"]:
                    grad = grad + group["weight_decay"] * p.data
                if momentum:
                    state = self.state.setdefault(id(p), {})
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = grad.copy()
                    else:
                        buf *= momentum
                        buf += (1 - dampening) * grad
                    grad = grad + momentum * buf if group["nesterov"] else buf
                p.data -= lr * grad
