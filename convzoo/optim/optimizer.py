"""``Optimizer``: parameter groups, per-parameter state, and a state_dict shaped like PyTorch's."""
import copy
import numbers

import numpy as np

from ..nn.module import Parameter


def check_number(value, name, minimum=0.0, maximum=None, inclusive_max=True):
    """A real number in [minimum, maximum] (or [minimum, maximum) with inclusive_max=False)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number; received {value!r}")
    if value < minimum or (maximum is not None and (value > maximum if inclusive_max else value >= maximum)):
        bound = f"[{minimum}, {maximum}{']' if inclusive_max else ')'}" if maximum is not None else f">= {minimum}"
        raise ValueError(f"{name} must be in {bound}; received {value!r}")
    return float(value)


class Optimizer:
    """Base class: holds ``param_groups`` (dicts with "params" and hyperparameters) and ``state``.

    Subclasses implement ``step()``, which reads ``p.grad`` of every parameter and updates
    ``p.data`` in place. ``state`` maps ``id(param)`` to that parameter's buffers (momentum, moments).

    Args:
        params: an iterable of Parameters, or of dicts with a "params" entry and per-group
            hyperparameters that override ``defaults`` (as in PyTorch).
        defaults: the hyperparameters of every group that does not set its own.
    """

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}
        self.param_groups = []
        if isinstance(params, Parameter):
            raise TypeError("params must be an iterable of Parameters or of dicts; received a single Parameter "
                            "(pass model.parameters() or [param])")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        """Add a dict with "params" (Parameters) and optional hyperparameters to ``param_groups``."""
        if not isinstance(param_group, dict) or "params" not in param_group:
            raise TypeError(f"param_group must be a dict with a 'params' entry; received {param_group!r}")
        params = param_group["params"]
        params = [params] if isinstance(params, Parameter) else list(params)
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"optimizer can only optimize Parameters; received {type(p).__name__}")
        unknown = set(param_group) - set(self.defaults) - {"params"}
        if unknown:
            raise ValueError(f"param_group has unknown hyperparameters {sorted(unknown)}; "
                             f"known: {sorted(self.defaults)}")
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if any(id(p) in seen for p in params) or len({id(p) for p in params}) != len(params):
            raise ValueError("some parameters appear in more than one parameter group (or twice in one)")
        group = {**self.defaults, **{k: v for k, v in param_group.items() if k != "params"}, "params": params}
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        """Clear the gradient of every parameter (to None, as PyTorch does by default)."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad.data[...] = 0

    def step(self):
        raise NotImplementedError(f"{type(self).__name__} defines no step()")

    def _parameters_with_grad(self, group):
        for p in group["params"]:
            if p.grad is not None:
                yield p, p.grad.data

    # --- state ---
    def state_dict(self):
        """``{"state": {index: {name: ndarray or number}}, "param_groups": [...]}``, as in PyTorch.

        Parameters are numbered in the order of ``param_groups``; each group lists its indices
        under "params". Arrays are copies, so the dict is a snapshot.
        """
        index, groups = 0, []
        state = {}
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                if id(p) in self.state:
                    state[index] = {k: np.array(v) if isinstance(v, np.ndarray) else v
                                    for k, v in self.state[id(p)].items()}
                ids.append(index)
                index += 1
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = ids
            groups.append(packed)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyperparameters and buffers saved by ``state_dict()``; checks everything first.

        Raises:
            ValueError: the group count or a group's parameter count differs, or a buffer's shape
                does not match its parameter.
        """
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError("optimizer state_dict must be a dict with keys 'state' and 'param_groups'; "
                             f"received keys {sorted(state_dict) if isinstance(state_dict, dict) else state_dict!r}")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"optimizer state_dict has {len(saved_groups)} parameter groups; "
                             f"this optimizer has {len(self.param_groups)}")
        params = {}
        for number, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"parameter group {number} has {len(saved['params'])} parameters in the "
                                 f"state_dict and {len(group['params'])} in this optimizer")
            params.update({int(i): p for i, p in zip(saved["params"], group["params"])})
        new_state = {}
        for i, buffers in state_dict["state"].items():
            p = params.get(int(i))
            if p is None:
                raise ValueError(f"optimizer state_dict has state for parameter {i}, which no group lists")
            restored = {}
            for name, value in buffers.items():
                if isinstance(value, np.ndarray) and value.ndim and value.shape != p.shape:
                    raise ValueError(f"optimizer state {name!r} of parameter {i} has shape {value.shape}; "
                                     f"the parameter has shape {p.shape}")
                restored[name] = (value.astype(p.dtype, copy=True) if isinstance(value, np.ndarray) and value.ndim
                                  else value)
            new_state[id(p)] = restored
        for saved, group in zip(saved_groups, self.param_groups):
            group.update({k: (tuple(v) if isinstance(v, list) else v) for k, v in saved.items() if k != "params"})
        self.state = new_state

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params")
        return "\n".join(lines + [")"])
