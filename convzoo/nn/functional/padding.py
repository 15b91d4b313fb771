"""``pad``: PyTorch's F.pad (pairs from the last axis backwards) in every padding mode."""
import numbers

from ...autograd.conv import Pad
from ...kernels.padding import MODES
from .arguments import check_mode_fits, float_tensor, is_int

# PyTorch's mode names, plus convzoo's own; "constant" pads with value
_ALIASES = {"constant": "zeros"}


def pad(input, pad, mode="constant", value=None):
    """Pad the trailing axes of input, like torch.nn.functional.pad.

    Args:
        input: any float Tensor or array.
        pad: (left_last, right_last, left_second_last, right_second_last, ...): pairs for the last
            axis first, as PyTorch. Negative values crop (constant mode).
        mode: ``constant`` (with ``value``), ``reflect``, ``replicate``, ``circular``, and convzoo's
            ``symmetric`` (c b a | a b c | c b a ... the edge repeated) and ``zeros``.
        value: fill for constant mode (default 0).

    Example:
        >>> import numpy as np
        >>> pad(np.array([[1.0, 2.0, 3.0]]), (1, 2), mode="reflect").numpy()
        array([[2., 1., 2., 3., 2., 1.]])
    """
    x = float_tensor(input, "input")
    if not isinstance(pad, (tuple, list)) or len(pad) % 2 or not all(is_int(p) for p in pad):
        raise TypeError(f"pad must be a tuple with an even number of ints; received {pad!r}")
    if len(pad) // 2 > x.ndim:
        raise ValueError(f"pad {tuple(pad)} pads {len(pad) // 2} axes; input of shape {tuple(x.shape)} has {x.ndim}")
    kind = _ALIASES.get(mode, mode)
    if kind not in MODES:
        raise ValueError(f"mode must be one of constant, {', '.join(MODES)}; received {mode!r}")
    if value is not None and kind != "zeros":
        raise ValueError(f"value is only used by mode='constant'; received value={value!r} with mode={mode!r}")
    if value is not None and not isinstance(value, numbers.Real):
        raise TypeError(f"value must be a number; received {value!r}")
    # PyTorch lists the last axis first
    pairs = tuple((int(pad[i]), int(pad[i + 1])) for i in range(len(pad) - 2, -1, -2))
    axes = x.shape[x.ndim - len(pairs):]
    if any(b < 0 or a < 0 for b, a in pairs):
        if kind != "zeros":
            raise ValueError(f"negative pad (a crop) is only supported with mode='constant'; received {tuple(pad)}")
        crop = tuple(slice(max(-b, 0), n - max(-a, 0)) for (b, a), n in zip(pairs, axes))
        if any(s.stop - s.start < 0 for s in crop):
            raise ValueError(f"pad {tuple(pad)} crops more than the input of shape {tuple(x.shape)}")
        x = x[(Ellipsis,) + crop]
        pairs = tuple((max(b, 0), max(a, 0)) for b, a in pairs)
    check_mode_fits(pairs, axes, kind)
    return Pad.apply(x, pairs, kind, 0.0 if value is None else float(value))
