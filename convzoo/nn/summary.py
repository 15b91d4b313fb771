"""``model.summary(input_shape)`` and ``receptive_field``: shapes, parameters, MACs and receptive fields.

One forward pass of a zero input (batch 1, eval mode, no gradients) records every leaf layer's
input and output. Receptive fields are then followed exactly, per spatial axis: for every position
of a feature map we keep the interval ``[lo, hi]`` of network-input pixels it depends on, and each
layer maps its output positions to the input positions its window reads:

    conv / pool         output o reads o*stride - pad_before + t*dilation, t = 0..k-1
    transposed conv     output o receives input i where o = i*stride - pad_before + t*dilation
    adaptive pool       output o reads floor(o*n/m) .. ceil((o+1)*n/m) - 1

so stride, padding (also ``"same"``), dilation, transposed convolution and adaptive pooling are
all exact. Positions in the padding get the fields their neighbours' spacing implies. Reported
per layer: ``size`` (the largest field, in input pixels), ``jump`` (input pixels between adjacent
outputs, the effective stride; a fraction after a transposed conv) and ``start`` (the input
coordinate of the centre of output 0's field; negative when it lies in the padding; with circular
padding those pixels come from the opposite edge). Flatten and
Linear see the whole input. A layer whose input is not the output of a layer recorded before it
(a reshape or a sum inside ``forward``) takes the latest recorded output of its shape, which is
exact for chains of layers; branches that merge are not followed.
"""
import math
import warnings
from dataclasses import dataclass

import numpy as np

from ..autograd import Tensor, no_grad
from ..kernels.geometry import same_padding, transposed_same_padding
from .functional.arguments import is_int


@dataclass
class LayerSummary:
    """One row of the summary: a leaf layer as it ran.

    Attributes:
        name: dotted name (``features.0``).
        kind: class name (``Conv2d``).
        input_shape, output_shape: without the batch axis.
        params: parameters the layer owns; ``trainable`` of them require gradients.
        macs: multiply-accumulates for one sample (conv, transposed conv, linear; 0 otherwise).
        size, jump, start: the receptive field per spatial axis (None where unknown; ``jump`` and
            ``start`` are None where the field is the whole input).
        lo, hi: per spatial axis, arrays of the first and last network-input pixel each output
            position depends on (see ``bounds``).
    """

    name: str
    kind: str
    input_shape: tuple
    output_shape: tuple
    params: int
    trainable: int
    macs: int
    size: tuple = None
    jump: tuple = None
    start: tuple = None
    lo: tuple = None
    hi: tuple = None

    def bounds(self, index):
        """``((lo, hi), ...)`` per spatial axis: the input pixels output position ``index`` depends on."""
        if self.lo is None:
            raise ValueError(f"layer {self.name} ({self.kind}) has no per-position receptive field")
        return tuple((int(lo[i]), int(hi[i])) for lo, hi, i in zip(self.lo, self.hi, index))


class Summary:
    """The rows of ``model.summary`` with totals; ``str()`` is the table."""

    def __init__(self, model_name, input_shape, layers, total_params, trainable_params):
        self.model_name, self.input_shape, self.layers = model_name, input_shape, layers
        self.total_params, self.trainable_params = total_params, trainable_params
        self.total_macs = sum(layer.macs for layer in layers)

    def __str__(self):
        return render(self)

    __repr__ = __str__


def summary(model, input_shape):
    """Run ``model`` once on zeros of ``(1, *input_shape)`` and describe every leaf layer.

    Args:
        model: a Module.
        input_shape: the input without the batch axis, e.g. ``(1, 28, 28)``.

    Returns:
        ``Summary``; ``print`` it for the table.
    """
    input_shape = _input_shape(input_shape)
    records, x0 = _trace(model, input_shape)
    fields = _fields(records, x0)
    layers = []
    for (name, module, x, out), field in zip(records, fields):
        own = [p for p in module._parameters.values() if p is not None]
        row = LayerSummary(name, type(module).__name__, tuple(x.shape[1:]), tuple(out.shape[1:]),
                           sum(p.size for p in own), sum(p.size for p in own if p.requires_grad),
                           _macs(module, x.shape, out.shape))
        if field == "whole":
            row.size = tuple(input_shape[1:])
        elif field is not None:
            lo, hi, jump = field
            row.lo, row.hi = lo, hi
            row.size = tuple(_number(np.nanmax(h - l) + 1) for l, h in zip(lo, hi))
            row.jump = tuple(_number(j) for j in jump)
            row.start = tuple(_number((l[0] + h[0]) / 2) for l, h in zip(lo, hi))
        layers.append(row)
    params = list(model.parameters())
    return Summary(type(model).__name__, input_shape, layers, sum(p.size for p in params),
                   sum(p.size for p in params if p.requires_grad))


def receptive_field(model, input_shape):
    """The receptive field of every leaf layer, as data: ``model.summary``'s numbers without the table.

    Args:
        model: a Module.
        input_shape: the input without the batch axis, e.g. ``(1, 28, 28)``.

    Returns:
        A list of ``LayerSummary`` (``name``, ``size``, ``jump``, ``start`` and ``bounds(index)``),
        in the order the layers ran.

    Example:
        >>> from convzoo import nn
        >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1))
        >>> [(layer.size, layer.jump) for layer in receptive_field(net, (1, 16, 16))]
        [((3, 3), (1, 1)), ((4, 4), (2, 2)), ((8, 8), (2, 2))]
        >>> receptive_field(net, (1, 16, 16))[-1].bounds((0, 0))  # in the padding at the top left
        ((-3, 4), (-3, 4))
    """
    return summary(model, input_shape).layers


def _input_shape(input_shape):
    if not (isinstance(input_shape, (tuple, list)) and input_shape and all(is_int(n) and n > 0 for n in input_shape)):
        raise ValueError(f"input_shape must be a tuple of positive ints without the batch axis, e.g. (1, 28, 28); "
                         f"received {input_shape!r}")
    return tuple(int(n) for n in input_shape)


def _trace(model, input_shape):
    """(records, input) of one run on zeros; a shape the model refuses is a ValueError naming input_shape."""
    dtype = next((p.dtype for p in model.parameters()), np.float32)
    x0 = Tensor(np.zeros((1,) + input_shape, dtype=dtype))
    try:
        return record_layers(model, x0), x0
    except (ValueError, TypeError) as error:
        raise ValueError(f"{type(model).__name__} does not accept input_shape {input_shape} "
                         f"(batch axis excluded): {error}") from None


def record_layers(model, x):
    """Run ``model(x)`` in eval mode without gradients and record every leaf layer call.

    The model's training flags and methods are restored afterwards, whatever happens.

    Returns:
        ``[(name, module, input, output)]`` in the order the layers ran (``output`` is the first
        element when a layer returns a tuple).
    """
    records = []
    leaves = [(name, m) for name, m in model.named_modules() if not m._modules]
    saved = [(m, m.__dict__.get("forward")) for _, m in leaves]

    def recorder(name, module, forward):
        def forward_recorded(*args, **kwargs):
            out = forward(*args, **kwargs)
            first = out[0] if isinstance(out, tuple) else out
            if args and hasattr(args[0], "shape") and hasattr(first, "shape"):
                records.append((name or type(module).__name__, module, args[0], first))
            return out
        return forward_recorded

    modes = [(m, m.training) for m in model.modules()]
    try:
        for name, m in leaves:
            object.__setattr__(m, "forward", recorder(name, m, m.forward))
        model.eval()
        with no_grad():
            model(x)
    finally:
        for m, forward in saved:
            if forward is None:
                m.__dict__.pop("forward", None)
            else:
                object.__setattr__(m, "forward", forward)
        for m, training in modes:
            object.__setattr__(m, "training", training)
    return records


def _fields(records, x0):
    """Per record: (lo, hi, jump) per spatial axis, "whole" (no spatial axes left) or None (unknown)."""
    spatial = x0.shape[2:]
    identity = (tuple(np.arange(n, dtype=np.float64) for n in spatial),) * 2 + ((1.0,) * len(spatial),)
    known = [(x0, identity)]  # (tensor, field), latest last
    result = []
    for name, module, x, out in records:
        field = next((f for t, f in reversed(known) if t is x), None)
        if field is None:  # an op inside forward made x: take the latest output of the same shape
            field = next((f for t, f in reversed(known) if t.shape == x.shape), None)
        field = _layer_field(module, field, tuple(x.shape[2:]), tuple(out.shape[2:]), out.ndim)
        known.append((out, field))
        result.append(field)
    return result


def _layer_field(module, field, n_in, n_out, out_ndim):
    if field is None:
        return None
    if field == "whole" or out_ndim <= 2:
        return "whole"
    lo, hi, jump = field
    if len(lo) != len(n_in) or len(n_in) != len(n_out):
        return None
    if hasattr(module, "output_size") and type(module).__name__.startswith("Adaptive"):
        reads = [_adaptive_reads(a, b) for a, b in zip(n_in, n_out)]
        jumps = [j * a / b for j, a, b in zip(jump, n_in, n_out)]
    elif hasattr(module, "kernel_size") and hasattr(module, "stride"):
        rank = len(n_in)
        k, s = _tuple(module.kernel_size, rank), _tuple(module.stride, rank)
        d = _tuple(getattr(module, "dilation", 1), rank)
        transposed = getattr(module, "transposed", False)
        before = _pad_before(module.padding, n_in, k, s, d, transposed)
        if transposed:
            reads = [_transposed_reads(o, n, *g) for o, n, g in zip(n_out, n_in, zip(k, s, d, before))]
            jumps = [j / st for j, st in zip(jump, s)]
        else:
            reads = [np.arange(o)[:, None] * st - b + np.arange(kk)[None, :] * dd
                     for o, kk, st, dd, b in zip(n_out, k, s, d, before)]
            jumps = [j * st for j, st in zip(jump, s)]
    elif n_in == n_out:
        return field  # elementwise: activations, normalisation, dropout
    else:
        return None
    new_lo, new_hi = [], []
    for l, h, j, positions in zip(lo, hi, jump, reads):
        read_lo, read_hi = _extend(l, j, positions), _extend(h, j, positions)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an output no input reaches: NaN
            new_lo.append(np.nanmin(read_lo, axis=1))
            new_hi.append(np.nanmax(read_hi, axis=1))
    return tuple(new_lo), tuple(new_hi), tuple(jumps)


def _extend(values, jump, positions):
    """values[positions] for positions (masked: NaN) that may lie in the padding on either side."""
    n = values.size
    p = np.where(np.isnan(positions), 0, positions).astype(np.int64)
    inside = values[np.clip(p, 0, n - 1)]
    out = inside + np.where(p < 0, p, 0) * jump + np.where(p >= n, p - (n - 1), 0) * jump
    return np.where(np.isnan(positions), np.nan, out)


def _adaptive_reads(n, m):
    starts = [(o * n) // m for o in range(m)]
    ends = [-(-((o + 1) * n) // m) for o in range(m)]
    width = max(e - s for s, e in zip(starts, ends))
    reads = np.full((m, width), np.nan)
    for o, (s, e) in enumerate(zip(starts, ends)):
        reads[o, :e - s] = np.arange(s, e)
    return reads


def _transposed_reads(n_out, n_in, k, s, d, before):
    """Input positions i feeding output o: o = i*s - before + t*d for a tap t and 0 <= i < n_in, else NaN.

    A transposed conv has no padding to read: outside the input there is nothing, not a border.
    """
    o = np.arange(n_out)[:, None] + before - np.arange(k)[None, :] * d  # = i * s
    i = o // s
    return np.where((o % s == 0) & (i >= 0) & (i < n_in), i, np.nan).astype(np.float64)


def _pad_before(padding, n_in, k, s, d, transposed):
    rank = len(n_in)
    if padding == "valid":
        return (0,) * rank
    if padding == "same":
        if transposed:
            return tuple(transposed_same_padding(n, kk, ss, dd)[0] for n, kk, ss, dd in zip(n_in, k, s, d))
        return tuple(same_padding(n, kk, ss, dd)[0] for n, kk, ss, dd in zip(n_in, k, s, d))
    if is_int(padding):
        return (int(padding),) * rank
    return tuple(int(p[0]) if isinstance(p, (tuple, list)) else int(p) for p in padding)


def _tuple(value, rank):
    return (int(value),) * rank if is_int(value) else tuple(int(v) for v in value)


def _macs(module, in_shape, out_shape):
    """Multiply-accumulates per sample: a conv does C_in/groups * prod(k) per output element."""
    weight = module._parameters.get("weight")
    if weight is None:
        return 0
    if hasattr(module, "kernel_size") and getattr(module, "transposed", False):
        # every input element meets C_out/groups * prod(k) weights
        return int(math.prod(in_shape[2:]) * weight.size)
    if hasattr(module, "kernel_size"):
        return int(math.prod(out_shape[1:]) * math.prod(weight.shape[1:]))
    if type(module).__name__ == "Linear":
        return int(math.prod(out_shape[1:]) * weight.shape[1])
    return 0


def _number(value):
    value = float(value)
    return int(value) if value.is_integer() else value


def render(s):
    """The summary table as text."""
    def axes(values, sep="x"):
        if values is None:
            return "-"
        text = [f"{v:g}" if isinstance(v, float) else str(v) for v in values]
        return text[0] if len(set(text)) == 1 else sep.join(text)

    rows = [("Layer (type)", "Output shape", "Params", "MACs", "RF size", "Jump", "Start")]
    for layer in s.layers:
        size = "x".join(map(str, layer.size)) if layer.size is not None else "?"
        if layer.size is not None and layer.jump is None:
            size = f"all {size}"
        rows.append((f"{layer.name} ({layer.kind})", str(layer.output_shape), f"{layer.params:,}", f"{layer.macs:,}",
                     size, axes(layer.jump), axes(layer.start, ", ")))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    line = "-" * (sum(widths) + 2 * (len(widths) - 1))
    fmt = lambda r: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    out = [f"{s.model_name} on input {s.input_shape} (batch axis excluded)", line, fmt(rows[0]), line]
    out += [fmt(r) for r in rows[1:]]
    out += [line, f"Total params: {s.total_params:,}", f"Trainable params: {s.trainable_params:,}",
            f"Non-trainable params: {s.total_params - s.trainable_params:,}",
            f"Multiply-accumulates per sample: {s.total_macs:,}", line]
    return "\n".join(out)
