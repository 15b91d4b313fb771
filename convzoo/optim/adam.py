"""Adam and AdamW (Adam with decoupled weight decay)."""
import math

import numpy as np

from .optimizer import Optimizer, check_number


class Adam(Optimizer):
    """``torch.optim.Adam``, update for update.

    m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g²;
    p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
    ``weight_decay`` adds ``weight_decay * p`` to g (L2, coupled); ``amsgrad`` uses the running
    maximum of v.

    Args:
        params: Parameters or parameter-group dicts (see ``Optimizer``).
        lr: learning rate (>= 0).
        betas: (beta1, beta2), each in [0, 1).
        eps: added to the denominator (>= 0).
        weight_decay: L2 penalty (>= 0).
        amsgrad: use the AMSGrad variant.
        maximize: ascend instead of descend.
    """

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                 maximize=False):
        check_number(lr, "lr")
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas must be a pair (beta1, beta2); received {betas!r}")
        check_number(betas[0], "betas[0]", 0.0, 1.0, inclusive_max=False)
        check_number(betas[1], "betas[1]", 0.0, 1.0, inclusive_max=False)
        check_number(eps, "eps")
        check_number(weight_decay, "weight_decay")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=bool(amsgrad), maximize=bool(maximize)))

    def step(self):
        """Update every parameter that has a gradient."""
        for group in self.param_groups:
            lr, (beta1, beta2), eps, decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p, grad in self._parameters_with_grad(group):
                grad = -grad if group["maximize"] else grad
                state = self.state.setdefault(id(p), {})
                if not state:
                    state.update(step=0, exp_avg=np.zeros_like(p.data), exp_avg_sq=np.zeros_like(p.data))
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = np.zeros_like(p.data)
                state["step"] += 1
                if decay and self._decoupled:
                    p.data *= 1 - lr * decay
                elif decay:
                    grad = grad + decay * p.data
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m += (1 - beta1) * (grad - m)
                v *= beta2
                v += (1 - beta2) * grad * grad
                if group["amsgrad"]:
                    np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
                    v = state["max_exp_avg_sq"]
                step_size = lr / (1 - beta1 ** state["step"])
                denom = np.sqrt(v) / math.sqrt(1 - beta2 ** state["step"]) + eps
                p.data -= step_size * (m / denom)


class AdamW(Adam):
    """``torch.optim.AdamW``: Adam whose weight decay shrinks the weights directly.

    Each step first multiplies p by (1 - lr * weight_decay), then takes the Adam step without
    any L2 term in the gradient (Loshchilov & Hutter, "Decoupled Weight Decay Regularization").
    Same arguments as ``Adam``; weight_decay defaults to 0.01.
    """

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize)
