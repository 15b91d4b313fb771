"""Learning-rate schedules: ``StepLR``, ``CosineAnnealingLR`` and ``OneCycleLR``, as in PyTorch.

A scheduler sets ``group["lr"]`` of its optimizer from a closed form in ``last_epoch`` (the number
of ``step()`` calls so far), so its whole state is a few numbers and a resumed run gets exactly
the rates of an uninterrupted one. Construction counts as step 0, as in PyTorch.
"""
import math
import numbers

from .optimizer import Optimizer, check_number


def _per_group(optimizer, value, name):
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(f"{name} has {len(value)} values for {len(optimizer.param_groups)} parameter groups")
        return [float(v) for v in value]
    return [check_number(value, name)] * len(optimizer.param_groups)


class LRScheduler:
    """Base class. Subclasses define ``lr_at(base_lr, epoch)`` (and may override ``_apply``).

    Args:
        optimizer: the Optimizer whose learning rates this sets.
        last_epoch: the index of the last step taken; -1 for a fresh schedule.
    """

    def __init__(self, optimizer, last_epoch=-1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a convzoo.optim.Optimizer; received {type(optimizer).__name__}")
        if not isinstance(last_epoch, numbers.Integral) or last_epoch < -1:
            raise ValueError(f"last_epoch must be an int >= -1; received {last_epoch!r}")
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def lr_at(self, base_lr, epoch):
        raise NotImplementedError

    def step(self):
        """Advance one step (an epoch or a batch, as the schedule intends) and set the rates."""
        self.last_epoch += 1
        self._apply()

    def _apply(self):
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.lr_at(base_lr, self.last_epoch)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self):
        """The learning rates set by the last ``step()``, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self):
        """Every attribute except the optimizer (numbers and lists only)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict):
        """Restore a state saved by ``state_dict()`` and set the optimizer's rates from it."""
        own = self.state_dict()
        if set(state_dict) != set(own):
            raise ValueError(f"{type(self).__name__} state_dict keys differ: missing "
                             f"{sorted(set(own) - set(state_dict))}, unexpected {sorted(set(state_dict) - set(own))}")
        self.__dict__.update(state_dict)
        self._apply()


class StepLR(LRScheduler):
    """Multiply the learning rate by gamma every step_size steps: lr = base_lr * gamma^(epoch // step_size).

    Args:
        optimizer: the Optimizer.
        step_size: steps between decays (a positive int).
        gamma: the decay factor.
        last_epoch: see ``LRScheduler``.
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        if not isinstance(step_size, numbers.Integral) or isinstance(step_size, bool) or step_size < 1:
            raise ValueError(f"step_size must be a positive int; received {step_size!r}")
        self.step_size, self.gamma = int(step_size), check_number(gamma, "gamma")
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from base_lr down to eta_min over T_max steps (SGDR without restarts).

    lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2, which rises again
    after T_max, exactly as PyTorch's recursive form does.

    Args:
        optimizer: the Optimizer.
        T_max: half period in steps (a positive int).
        eta_min: the minimum learning rate.
        last_epoch: see ``LRScheduler``.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        if not isinstance(T_max, numbers.Integral) or isinstance(T_max, bool) or T_max < 1:
            raise ValueError(f"T_max must be a positive int; received {T_max!r}")
        self.T_max, self.eta_min = int(T_max), check_number(eta_min, "eta_min")
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin, "Super-Convergence"), stepped once per batch.

    The rate warms up from max_lr / div_factor to max_lr over the first pct_start of the steps,
    then anneals to max_lr / (div_factor * final_div_factor); momentum (or Adam's beta1) moves the
    opposite way between max_momentum and base_momentum. ``three_phase=True`` mirrors the warm-up
    before a final annihilation phase. Phases and formulas follow ``torch.optim.lr_scheduler.OneCycleLR``.

    Args:
        optimizer: the Optimizer.
        max_lr: the peak rate (a number, or one per parameter group).
        total_steps: steps in the cycle; or give both epochs and steps_per_epoch.
        epochs: epochs in the cycle (with steps_per_epoch).
        steps_per_epoch: batches per epoch (with epochs).
        pct_start: fraction of the cycle spent warming up, in (0, 1).
        anneal_strategy: "cos" or "linear".
        cycle_momentum: cycle momentum (SGD) or beta1 (Adam, AdamW) inversely to the rate.
        base_momentum: the momentum at the peak rate.
        max_momentum: the momentum at the start and end.
        div_factor: initial_lr = max_lr / div_factor.
        final_div_factor: min_lr = initial_lr / final_div_factor.
        three_phase: use the three-phase schedule.
        last_epoch: see ``LRScheduler``.
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
                 anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
                 div_factor=25.0, final_div_factor=1e4, three_phase=False, last_epoch=-1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a convzoo.optim.Optimizer; received {type(optimizer).__name__}")
        if total_steps is None:
            for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
                if not isinstance(value, numbers.Integral) or value < 1:
                    raise ValueError(f"OneCycleLR needs total_steps, or epochs and steps_per_epoch as positive "
                                     f"ints; received {name}={value!r}")
            total_steps = epochs * steps_per_epoch
        if not isinstance(total_steps, numbers.Integral) or isinstance(total_steps, bool) or total_steps < 1:
            raise ValueError(f"total_steps must be a positive int; received {total_steps!r}")
        check_number(pct_start, "pct_start", 0.0, 1.0)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be 'cos' or 'linear'; received {anneal_strategy!r}")
        self.total_steps, self.anneal_strategy = int(total_steps), anneal_strategy
        self.cycle_momentum, self.three_phase = bool(cycle_momentum), bool(three_phase)
        # (end_step, start_lr, end_lr, start_momentum, end_momentum) per phase, as in PyTorch
        up = float(pct_start * total_steps) - 1
        if three_phase:
            self.phases = [(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                           (float(2 * pct_start * total_steps) - 2, "max_lr", "initial_lr", "base_momentum",
                            "max_momentum"),
                           (total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        else:
            self.phases = [(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                           (total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]
        max_lrs = _per_group(optimizer, max_lr, "max_lr")
        self.groups = []
        for group, peak in zip(optimizer.param_groups, max_lrs):
            initial = peak / check_number(div_factor, "div_factor")
            self.groups.append({"initial_lr": initial, "max_lr": peak,
                                "min_lr": initial / check_number(final_div_factor, "final_div_factor")})
            group["initial_lr"] = initial
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"cycle_momentum=True needs an optimizer with momentum or betas; "
                                 f"{type(optimizer).__name__} has neither")
            for values, top, bottom in zip(self.groups, _per_group(optimizer, max_momentum, "max_momentum"),
                                           _per_group(optimizer, base_momentum, "base_momentum")):
                values.update(max_momentum=top, base_momentum=bottom)
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _apply(self):
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR stepped {step} times; its total_steps is {self.total_steps}")
        for group, values in zip(self.optimizer.param_groups, self.groups):
            start_step = 0.0
            for i, (end_step, lr0, lr1, m0, m1) in enumerate(self.phases):
                if step <= end_step or i == len(self.phases) - 1:
                    pct = (step - start_step) / (end_step - start_step)
                    group["lr"] = self._anneal(values[lr0], values[lr1], pct)
                    if self.cycle_momentum:
                        momentum = self._anneal(values[m0], values[m1], pct)
                        if "betas" in group:
                            group["betas"] = (momentum, *group["betas"][1:])
                        else:
                            group["momentum"] = momentum
                    break
                start_step = end_step
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]
