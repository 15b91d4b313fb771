"""``convzoo.explain``: which algorithm each convolution of a call or a model uses, and why.

It runs the call once (under ``no_grad``; shapes may be given instead of arrays) while the planner
records every convolution, and returns for each one the plan of its three passes: the output, the
input gradient and the weight gradient. A plan holds the chosen algorithm, why it was chosen (the
cost model, forced, or measured by autotune), the estimated time of every algorithm that could run
it, and the algorithms that cannot, with the reason.

Forcing: ``F.conv2d(..., algorithm="fft")`` or ``with convzoo.use_algorithm("fft"): ...``.
Measuring: ``with convzoo.autotune(): ...`` times each candidate on the first call of a geometry.
"""
import math
import numbers

import numpy as np

from .autograd import no_grad
from .kernels import planner, workspace
from .kernels.planner import autotune, autotune_cache, clear_autotune_cache, use_algorithm  # noqa: F401
from .kernels.workspace import limited as workspace_limit  # noqa: F401

# a conv's passes in terms of the three kernels; a transposed conv's forward is conv's backward_input
ROLES = {"conv": (("output", "forward"), ("grad_input", "backward_input"), ("grad_weight", "backward_weight")),
         "conv_transpose": (("output", "backward_input"), ("grad_input", "forward"),
                            ("grad_weight", "backward_weight"))}


def _ms(seconds):
    return f"{seconds * 1e3:.3g} ms" if math.isfinite(seconds) else "over the workspace limit"


class ConvCall:
    """One convolution met while running the explained call.

    Attributes:
        index: 1-based position in execution order.
        name: the module that made it when explaining a model (else ``conv`` / ``conv_transpose``).
        kind: ``conv`` or ``conv_transpose``.
        geometry: ``kernels.planner.ConvGeometry`` (of the forward convolution).
        plans: {"output" | "grad_input" | "grad_weight": planner.Plan or the ValueError a forced,
            unsupported algorithm raises}.
    """

    def __init__(self, index, kind, plans, name=None):
        self.index, self.kind, self.name = index, kind, name or kind
        self.plans = {role: plans[op] for role, op in ROLES[kind]}
        self.geometry = plans["forward"].geometry if hasattr(plans["forward"], "geometry") else None

    def to_dict(self):
        g = self.geometry
        passes = {}
        for role, plan in self.plans.items():
            if isinstance(plan, Exception):
                passes[role] = {"error": str(plan)}
                continue
            passes[role] = {"algorithm": plan.algorithm, "reason": plan.reason,
                            # an estimate over the workspace limit is infinite: null in JSON
                            "estimated_ms": {k: round(v * 1e3, 4) if math.isfinite(v) else None
                                             for k, v in plan.estimates.items()},
                            "measured_ms": {k: round(v * 1e3, 4) for k, v in plan.measured.items()},
                            "unsupported": dict(plan.unsupported), "alternatives": plan.alternatives}
        return {"index": self.index, "name": self.name, "kind": self.kind,
                "geometry": {"batch": g.batch, "in_channels": g.in_channels, "out_channels": g.out_channels,
                             "groups": g.groups, "padded_input": list(g.padded), "kernel": list(g.kernel),
                             "stride": list(g.stride), "dilation": list(g.dilation), "output": list(g.out),
                             "dtype": "float64" if g.itemsize == 8 else "float32", "gflop": g.flops / 1e9},
                "passes": passes}


class Explanation:
    """The result of ``explain``: ``calls`` (a list of ConvCall), ``str()`` a table, ``to_dict()`` JSON."""

    def __init__(self, calls, workspace):
        self.calls, self.workspace = calls, workspace

    def __len__(self):
        return len(self.calls)

    def __iter__(self):
        return iter(self.calls)

    def __getitem__(self, i):
        return self.calls[i]

    def to_dict(self):
        return {"workspace_limit_bytes": self.workspace, "threads": planner.threads(),
                "calls": [c.to_dict() for c in self.calls]}

    def __str__(self):
        lines = []
        for call in self.calls:
            g = call.geometry
            lines.append(f"{call.index}. {call.name}: {describe(call.kind, g)}, {g.flops / 1e9:.3g} GFLOP per pass")
            for role, plan in call.plans.items():
                if isinstance(plan, Exception):
                    lines.append(f"     {role:<12} error: {plan}")
                    continue
                numbers_ = plan.measured or plan.estimates
                unit = "measured" if plan.measured else "est."
                chosen = numbers_.get(plan.algorithm)
                head = f"{plan.algorithm} ({plan.reason}" + (f", {unit} {_ms(chosen)})" if chosen else ")")
                others = ", ".join(f"{a} {_ms(numbers_[a])}" for a in plan.alternatives if a in numbers_)
                lines.append(f"     {role:<12} {head:<42} alternatives: {others or 'none'}")
                if plan.unsupported:
                    lines.append(f"     {'':<12} cannot run: " +
                                 "; ".join(f"{a} ({why})" for a, why in plan.unsupported.items()))
        if not self.calls:
            lines.append("no convolution was run")
        lines.append(f"workspace limit {self.workspace / 2**20:.0f} MiB per call, {planner.threads()} threads. "
                     "Force an algorithm with algorithm='name' on F.conv*/conv_transpose*, or "
                     "`with convzoo.use_algorithm('name'):`; measure with `with convzoo.autotune():`.")
        return "\n".join(lines)

    __repr__ = __str__


def describe(kind, g):
    """One line for a call; a transposed conv is told in its own terms (its input is the conv's output)."""
    dtype = "float64" if g.itemsize == 8 else "float32"
    if kind == "conv":
        return (f"conv N={g.batch} C={g.in_channels}->{g.out_channels} groups={g.groups} padded input {g.padded} "
                f"kernel {g.kernel} stride {g.stride} dilation {g.dilation} -> {g.out} {dtype}")
    # zero padding cropped by the kernels: the output (inner) and the uncropped size; else uncropped
    size = f"{g.inner} (uncropped {g.padded})" if g.inner is not None and g.inner != g.padded else \
        f"uncropped {g.padded}"
    return (f"conv_transpose N={g.batch} C={g.out_channels}->{g.in_channels} groups={g.groups} input {g.out} "
            f"kernel {g.kernel} stride {g.stride} dilation {g.dilation} -> {size} {dtype}")


def _as_input(value):
    """A shape tuple becomes zeros (float32); arrays and Tensors pass through."""
    if isinstance(value, tuple) and value and all(isinstance(v, numbers.Integral) for v in value):
        if any(v < 1 for v in value):
            raise ValueError(f"explain: a shape must be positive ints; received {value}")
        return np.zeros(value, dtype=np.float32)
    return value


def _conv_modules(model, calls):
    """Names of the model's conv layers, in registration order, when they match the calls one to one."""
    named = getattr(model, "named_modules", None)
    if named is None:
        return None
    found = []
    for name, module in named():
        weight = getattr(module, "weight", None)
        shape = getattr(weight, "shape", ())
        if len(shape) >= 3 and ("Conv" in type(module).__name__ or "conv" in type(module).__name__):
            found.append((name or type(module).__name__, tuple(shape)))
    if len(found) != len(calls):
        return None
    for (name, shape), call in zip(found, calls):
        g = call.geometry  # a transposed conv's weight has the same (O, C/g, *k) shape in its geometry
        if shape != (g.out_channels, g.in_channels // g.groups) + g.kernel:
            return None
    return [name for name, _ in found]


def explain(target, *inputs, **kwargs):
    """Run ``target(*inputs, **kwargs)`` once and report the algorithm of every convolution in it.

    Args:
        target: a functional op (``F.conv2d``, ``F.conv_transpose2d``, ...), a Module (a whole
            model), or any function of tensors.
        *inputs: arrays or Tensors, or shape tuples, which become float32 zeros.
        **kwargs: passed to target (``stride=2``, ``algorithm="fft"``, ...).

    Returns:
        Explanation: ``print()`` it for a table; ``.calls[i].plans["output"].algorithm`` etc.;
        ``.to_dict()`` for JSON.

    Example:
        >>> import convzoo, convzoo.nn.functional as F
        >>> e = convzoo.explain(F.conv2d, (8, 32, 28, 28), (32, 1, 3, 3), groups=32, padding=1)
        >>> e.calls[0].plans["output"].algorithm
        'depthwise'
    """
    if not callable(target):
        raise TypeError(f"explain: target must be a functional op, a Module or a function; "
                        f"received {type(target).__name__}")
    args = [_as_input(v) for v in inputs]
    training = getattr(target, "training", None)
    with no_grad(), planner.record() as log:
        if training is not None and hasattr(target, "eval"):
            target.eval()
        try:
            target(*args, **kwargs)
        finally:
            if training and hasattr(target, "train"):
                target.train()
    calls = [ConvCall(i + 1, kind, plans) for i, (kind, plans) in enumerate(log)]
    names = _conv_modules(target, calls)
    if names:
        for call, name in zip(calls, names):
            call.name = name
    return Explanation(calls, workspace.limit())


__all__ = ["ConvCall", "Explanation", "autotune", "autotune_cache", "clear_autotune_cache", "explain",
           "use_algorithm", "workspace_limit"]
