"""Convolution and transposed convolution, N-d, with every padding form and padding mode."""

from ...autograd.conv import BiasAdd, Conv, ConvTranspose, Pad, PadAdjoint
from ...kernels import planner
from ...kernels.cache import CallCache
from ...kernels.epilogue import ACTIVATIONS
from ...kernels.geometry import conv_output_size, effective_kernel, transposed_extent, transposed_same_padding
from .arguments import (SPATIAL_NAMES, check_mode_fits, float_tensor, is_int, ntuple, padding_mode,
                        resolve_padding, same_dtype)


def _operands(name, rank, input, weight, bias, groups, transposed):
    x = float_tensor(input, "input")
    w = float_tensor(weight, "weight")
    same_dtype(x, w, "input", "weight")
    if w.ndim != rank + 2:
        layout = "(C_in, C_out/groups, *k)" if transposed else "(C_out, C_in/groups, *k)"
        raise ValueError(f"{name} expects weight of shape {layout} with {rank} kernel dims; "
                         f"received shape {tuple(w.shape)}")
    if not is_int(groups) or groups < 1:
        raise ValueError(f"groups must be a positive int; received {groups!r}")
    batched = x.ndim == rank + 2
    if x.ndim not in (rank + 1, rank + 2):
        raise ValueError(f"{name} expects input of shape (N, C, {SPATIAL_NAMES[rank]}) or (C, "
                         f"{SPATIAL_NAMES[rank]}); received shape {tuple(x.shape)}")
    if not batched:
        x = x.reshape((1,) + x.shape)
    in_channels = w.shape[0] if transposed else w.shape[1] * groups
    out_channels = w.shape[1] * groups if transposed else w.shape[0]
    if (w.shape[0]) % groups:
        what = "in_channels" if transposed else "out_channels"
        raise ValueError(f"{what} ({w.shape[0]}) must be divisible by groups ({groups})")
    if x.shape[1] != in_channels:
        raise ValueError(f"{name} expects input of shape (N, C, {SPATIAL_NAMES[rank]}) with C={in_channels} "
                         f"(weight {tuple(w.shape)}, groups={groups}); received {tuple(x.shape)}")
    if bias is not None:
        bias = float_tensor(bias, "bias")
        same_dtype(x, bias, "input", "bias")
        if bias.shape != (out_channels,):
            raise ValueError(f"bias must have shape ({out_channels},); received {tuple(bias.shape)}")
    return x, w, bias, batched


def _finish(out, bias, batched):
    if bias is not None:
        out = BiasAdd.apply(out, bias)
    return out if batched else out.reshape(out.shape[1:])


def _conv_arguments(name, rank, x, w, stride, padding, dilation, groups, padding_mode_, algorithm, activation):
    """(stride, dilation, mode, pairs, pads) of a conv call, validated: the tuples the Conv node takes,
    the padding pairs, and ``pads`` when the planned algorithm reads zero padding in place."""
    planner.check_name(algorithm)
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be None or 'relu'; received {activation!r}")
    stride = ntuple(stride, rank, "stride", minimum=1)
    dilation = ntuple(dilation, rank, "dilation", minimum=1)
    mode = padding_mode(padding_mode_)
    sizes, kernel = x.shape[2:], w.shape[2:]
    pairs = resolve_padding(padding, sizes, kernel, stride, dilation)
    check_mode_fits(pairs, sizes, mode)
    out_shape = tuple(conv_output_size(n, k, s, d, b, a)
                      for n, k, s, d, (b, a) in zip(sizes, kernel, stride, dilation, pairs))
    if min(out_shape) < 1:
        raise ValueError(f"{name}: the output would be empty ({out_shape}): input {tuple(x.shape)} padded by "
                         f"{pairs} is smaller than the dilated kernel "
                         f"{tuple(effective_kernel(k, d) for k, d in zip(kernel, dilation))}")
    # zero padding goes to the kernels when the planned algorithm reads it in place (no padded copy)
    pads = None
    if mode == "zeros" and planner.reads_padding(x.shape, w.shape, pairs, stride, dilation, groups,
                                                 x.data.dtype.itemsize, algorithm):
        pads = pairs
    return stride, dilation, mode, pairs, pads


# (op, shapes, dtype, repr of the arguments[, planner state]) -> the validated arguments of a call:
# a layer called again skips validation and planning (20-40 us of a small conv's call). The repr
# tells the arguments' types apart: stride=1.0 or True must not find the entry of stride=1 (they
# are equal and hash alike, and validation rejects them)
_calls = CallCache()


def convolution(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode_="zeros",
                *, rank, name="conv", algorithm=None, activation=None):
    x, w, bias, batched = _operands(name, rank, input, weight, bias, groups, transposed=False)
    # the padding plan follows the planner's choice: cached only while the cost model alone chooses
    state = planner.routine() if algorithm is None else None
    key = None if state is None else (name, rank, x.shape, w.shape, x.dtype, state,
                                      repr((stride, padding, dilation, groups, padding_mode_, activation)))
    stride, dilation, mode, pairs, pads = _calls.get(key, _conv_arguments, name, rank, x, w, stride, padding,
                                                     dilation, groups, padding_mode_, algorithm, activation)
    # bias and activation are applied in place on the kernel's output (one pass, no extra array);
    # no padding at all needs no Pad node (12 us of a small conv's call)
    unpadded = pads or not any(b or a for b, a in pairs)
    operands = (x if unpadded else Pad.apply(x, pairs, mode), w) + ((bias,) if bias is not None else ())
    out = Conv.apply(*operands, stride=stride, dilation=dilation, groups=groups, algorithm=algorithm,
                     activation=activation, pads=pads)
    return _finish(out, None, batched)


def transposed_geometry(sizes, kernel, stride, dilation, padding, output_padding, output_size, rank):
    """Crop pairs and output_padding of a transposed conv, from padding / output_padding / output_size."""
    output_padding = ntuple(output_padding, rank, "output_padding", minimum=0)
    if padding == "same":
        if any(output_padding):
            raise ValueError(f"output_padding must be 0 with padding='same' (it is implied); "
                             f"received {output_padding}")
        geometry = [transposed_same_padding(n, k, s, d) for n, k, s, d in zip(sizes, kernel, stride, dilation)]
        pairs = tuple((b, a) for b, a, _ in geometry)
        output_padding = tuple(op for _, _, op in geometry)
    else:
        pairs = resolve_padding(padding, sizes, kernel, stride, dilation)
    for s, d, op in zip(stride, dilation, output_padding):
        if op >= s and op >= d:
            raise ValueError(f"output_padding must be smaller than either stride or dilation; received "
                             f"output_padding={output_padding}, stride={stride}, dilation={dilation}")
    minimum = tuple(transposed_extent(n, k, s, d) - b - a
                    for n, k, s, d, (b, a) in zip(sizes, kernel, stride, dilation, pairs))
    if output_size is not None:
        output_size = tuple(output_size)
        if len(output_size) == rank + 2:
            output_size = output_size[2:]
        output_size = ntuple(output_size, rank, "output_size", minimum=1)
        output_padding = tuple(L - m for L, m in zip(output_size, minimum))
        largest = tuple(m + max(s, d) - 1 for m, s, d in zip(minimum, stride, dilation))
        if any(op < 0 or L > hi for op, L, hi in zip(output_padding, output_size, largest)):
            raise ValueError(f"output_size {output_size} is not reachable: valid sizes range from {minimum} "
                             f"to {largest} for an input of spatial size {tuple(sizes)}")
    out_shape = tuple(m + op for m, op in zip(minimum, output_padding))
    return pairs, output_padding, out_shape


def _transpose_arguments(name, rank, x, w, stride, padding, output_padding, dilation, output_size, padding_mode_,
                         algorithm):
    """(stride, dilation, mode, pairs, padded_shape) of a transposed conv call, validated."""
    planner.check_name(algorithm)
    stride = ntuple(stride, rank, "stride", minimum=1)
    dilation = ntuple(dilation, rank, "dilation", minimum=1)
    mode = padding_mode(padding_mode_)
    sizes, kernel = x.shape[2:], w.shape[2:]
    pairs, output_padding, out_shape = transposed_geometry(sizes, kernel, stride, dilation, padding,
                                                           output_padding, output_size, rank)
    if min(out_shape) < 1:
        raise ValueError(f"{name}: the output would be empty ({out_shape}) for input {tuple(x.shape)}, "
                         f"padding {pairs}, output_padding {output_padding}")
    check_mode_fits(pairs, out_shape, mode, "padding of the output")
    padded_shape = tuple(L + b + a for L, (b, a) in zip(out_shape, pairs))
    return stride, dilation, mode, pairs, padded_shape


def convolution_transpose(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                          output_size=None, padding_mode_="zeros", *, rank, name="conv_transpose", algorithm=None):
    x, w, bias, batched = _operands(name, rank, input, weight, bias, groups, transposed=True)
    # no planner state in the key: nothing here depends on the planner
    key = (name, rank, x.shape, w.shape, x.dtype,
           repr((stride, padding, output_padding, dilation, output_size, padding_mode_, algorithm)))
    stride, dilation, mode, pairs, padded_shape = _calls.get(key, _transpose_arguments, name, rank, x, w, stride,
                                                             padding, output_padding, dilation, output_size,
                                                             padding_mode_, algorithm)
    # the kernels crop zero padding themselves (ConvTranspose's pads); other modes, and negative
    # padding, take the full output through PadAdjoint
    crop = mode == "zeros" and all(b >= 0 and a >= 0 for b, a in pairs)
    out = ConvTranspose.apply(x, w, stride=stride, dilation=dilation, groups=groups, padded_shape=padded_shape,
                              algorithm=algorithm, pads=pairs if crop else None)
    return _finish(out if crop else PadAdjoint.apply(out, pairs, mode), bias, batched)


def _conv_doc(rank):
    spatial = SPATIAL_NAMES[rank]
    return f"""{rank}-D cross-correlation over an input of shape (N, C_in, {spatial}), like torch.nn.functional.conv{rank}d.

    Args:
        input: Tensor or ndarray of shape (N, C_in, {spatial}) or unbatched (C_in, {spatial}).
        weight: (C_out, C_in/groups, *kernel_size).
        bias: optional (C_out,).
        stride, dilation: an int or one int per spatial axis, >= 1 (dilation=1 means none).
        padding: an int, one int per axis, one (before, after) pair per axis, ``"valid"`` (no padding)
            or ``"same"`` (output = ceil(n / stride) for any stride and dilation; the odd pixel of
            padding goes at the end, as in TF, Keras, JAX and ONNX SAME_UPPER).
        groups: input and output channels split into this many independent groups; groups=C_in is
            depthwise, with C_out = multiplier * C_in.
        padding_mode: ``zeros``, ``reflect``, ``replicate``, ``circular`` or ``symmetric``.
        algorithm: keyword only; None lets the planner choose (see ``convzoo.explain``), or one of
            ``im2col``, ``pointwise``, ``depthwise``, ``fft``, ``subpixel``, ``winograd_f2``,
            ``winograd_f4`` to force it for every op (forward, both gradients) it implements.
        activation: keyword only; ``"relu"`` applies ReLU to conv + bias in the same pass
            (a fused epilogue, same result as ``relu(conv(...))``); None (default) for none.

    Shape:
        out = floor((n + before + after - dilation * (k - 1) - 1) / stride) + 1 per spatial axis.

    Returns:
        Tensor of shape (N, C_out, *out), differentiable in input, weight and bias.

    Example:
        >>> import numpy as np
        >>> x = np.ones((1, 2) + (5,) * {rank}, dtype=np.float32)
        >>> w = np.ones((4, 2) + (3,) * {rank}, dtype=np.float32)
        >>> conv{rank}d(x, w, stride=2, padding="same").shape
        {(1, 4) + (3,) * rank}
    """


def _conv_transpose_doc(rank):
    spatial = SPATIAL_NAMES[rank]
    return f"""{rank}-D transposed convolution: the gradient of conv{rank}d with respect to its input.

    Args:
        input: (N, C_in, {spatial}) or unbatched.
        weight: (C_in, C_out/groups, *kernel_size), PyTorch's layout.
        bias: optional (C_out,).
        stride, dilation: ints >= 1.
        padding: how much the result is cropped at each side (PyTorch's meaning): an int, per axis,
            (before, after) pairs, ``"valid"``, or ``"same"`` (output = n * stride).
        output_padding: extra size at the end of each axis, smaller than stride or dilation.
        output_size: the exact spatial output size instead of output_padding.
        padding_mode: any mode of conv{rank}d; the result is then the exact adjoint of conv{rank}d
            with that mode (PyTorch allows only zeros here).
        algorithm: keyword only; None lets the planner choose, or an algorithm name to force
            (``subpixel`` is the transposed conv's own: stride^d small convs, interleaved).

    Shape:
        out = (n - 1) * stride - before - after + dilation * (k - 1) + output_padding + 1.

    Example:
        >>> import numpy as np
        >>> x = np.ones((1, 2) + (5,) * {rank}, dtype=np.float32)
        >>> w = np.ones((2, 3) + (4,) * {rank}, dtype=np.float32)
        >>> conv_transpose{rank}d(x, w, stride=2, padding=1).shape
        {(1, 3) + (10,) * rank}
    """


def _make(rank):
    def conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros", *,
             algorithm=None, activation=None):
        return convolution(input, weight, bias, stride, padding, dilation, groups, padding_mode,
                           rank=rank, name=f"conv{rank}d", algorithm=algorithm, activation=activation)

    def conv_transpose(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                       output_size=None, padding_mode="zeros", *, algorithm=None):
        return convolution_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation,
                                     output_size, padding_mode, rank=rank, name=f"conv_transpose{rank}d",
                                     algorithm=algorithm)

    conv.__name__, conv.__qualname__, conv.__doc__ = f"conv{rank}d", f"conv{rank}d", _conv_doc(rank)
    conv_transpose.__name__ = conv_transpose.__qualname__ = f"conv_transpose{rank}d"
    conv_transpose.__doc__ = _conv_transpose_doc(rank)
    return conv, conv_transpose


conv1d, conv_transpose1d = _make(1)
conv2d, conv_transpose2d = _make(2)
conv3d, conv_transpose3d = _make(3)
