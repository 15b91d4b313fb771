"""Convolution primitives: padding, its adjoint, convolution, transposed convolution, bias.

Convolution with any padding mode is ``Conv(Pad(x))`` (zero padding may instead be
``Conv(x, pads=...)``); transposed convolution is its exact adjoint ``PadAdjoint(ConvTranspose(u))``.
Each gradient is one of the three kernels in kernels/conv.py.
"""
from ..kernels import epilogue, padding, planner
from ..kernels.conv import conv_backward, conv_backward_input, conv_backward_weight, conv_forward
from ..kernels.geometry import transposed_extent
from .function import Function


class Pad(Function):
    def forward(self, x, pads, mode="zeros", value=0.0):
        self.pads, self.mode = pads, mode
        return padding.pad(x, pads, mode, value)

    def backward(self, g):
        return (padding.pad_adjoint(g, self.pads, self.mode),)


class PadAdjoint(Function):
    """The transpose of Pad: folds a padded border back onto the interior."""

    def forward(self, x, pads, mode="zeros"):
        self.pads, self.mode = pads, mode
        return padding.pad_adjoint(x, pads, mode)

    def backward(self, g):
        return (padding.pad(g, self.pads, self.mode),)


class Conv(Function):
    """Cross-correlation: (N, C, *S) * (O, C/g, *k) -> (N, O, *out), x zero-padded by ``pads``.

    ``pads`` ((before, after) per spatial axis, None for none) is zero padding the kernels apply
    themselves: the functional op passes it when the planned algorithm reads it in place
    (depthwise); otherwise, and for every other padding mode, a ``Pad`` comes before. An optional
    third input ``bias`` (O,) and ``activation`` (None or ``"relu"``) are fused into the kernel's
    output in place (``kernels/epilogue.py``).
    ``algorithm`` forces one of ``kernels.planner.ALGORITHMS`` for every op that algorithm
    implements; it is kept for backward, so a forced forward has a forced backward too.
    """

    def forward(self, x, weight, bias=None, stride=None, dilation=None, groups=1, algorithm=None,
                activation=None, pads=None):
        self.x, self.weight, self.pads = x, weight, pads
        self.stride, self.dilation, self.groups = stride, dilation, groups
        self.algorithm = algorithm if algorithm is not None else planner.forced()
        self.activation = activation
        out = conv_forward(x, weight, stride, dilation, groups, self.algorithm, pads)
        out = epilogue.bias_activation_(out, bias, activation)
        self.out = out if activation is not None else None
        return out

    def backward(self, g):
        g = epilogue.activation_backward(g, self.out, self.activation, self.grad_writable)
        grad_x = grad_w = grad_b = None
        if self.needs_grad[0] and self.needs_grad[1]:
            grad_x, grad_w = conv_backward(self.x, g, self.weight, self.stride, self.dilation, self.groups,
                                           self.algorithm, self.pads)
        elif self.needs_grad[0]:
            grad_x = conv_backward_input(g, self.weight, self.x.shape[2:], self.stride, self.dilation, self.groups,
                                         self.algorithm, self.pads)
        elif self.needs_grad[1]:
            grad_w = conv_backward_weight(self.x, g, self.weight.shape[2:], self.stride, self.dilation, self.groups,
                                          self.algorithm, self.pads)
        if len(self.needs_grad) > 2 and self.needs_grad[2]:
            grad_b = epilogue.bias_gradient(g)
        return grad_x, grad_w, grad_b


class ConvTranspose(Function):
    """The adjoint of Conv with respect to its input; ``padded_shape`` is the spatial size it fills.

    With ``pads`` (zero padding of the output: (before, after) per axis, none negative) it returns
    only the part inside them, the adjoint of ``Conv(x, pads=pads)``: the kernels drop what lands in
    the padding as they write (im2col's scatter) or crop it (``kernels/conv.py``), where a
    ``PadAdjoint`` after the full output would copy it out, and its backward reads the gradient's
    padding in place instead of padding a copy."""

    def forward(self, u, weight, stride, dilation, groups, padded_shape, algorithm=None, pads=None):
        self.u, self.weight, self.pads = u, weight, pads
        self.stride, self.dilation, self.groups = stride, dilation, groups
        self.algorithm = algorithm if algorithm is not None else planner.forced()
        shape = padded_shape if pads is None else tuple(n - b - a for n, (b, a) in zip(padded_shape, pads))
        return conv_backward_input(u, weight, shape, stride, dilation, groups, self.algorithm, pads)

    def backward(self, g):
        # output_padding may leave trailing pixels no window touches: drop them, from the padding
        # after the output first
        extents = [transposed_extent(n, k, s, d) for n, k, s, d in
                   zip(self.u.shape[2:], self.weight.shape[2:], self.stride, self.dilation)]
        if self.pads is None:
            pads, used = None, [slice(0, e) for e in extents]
        else:
            pads, used = [], []
            for n, (before, after), e in zip(g.shape[2:], self.pads, extents):
                excess = max(0, before + n + after - e)
                from_after = min(after, excess)
                pads.append((before, after - from_after))
                used.append(slice(0, n - (excess - from_after)))
        g = g[(slice(None), slice(None)) + tuple(used)]
        grad_u = grad_w = None
        if self.needs_grad[0]:
            grad_u = conv_forward(g, self.weight, self.stride, self.dilation, self.groups, self.algorithm, pads)
        if self.needs_grad[1]:
            grad_w = conv_backward_weight(g, self.u, self.weight.shape[2:], self.stride, self.dilation, self.groups,
                                          self.algorithm, pads)
        return grad_u, grad_w


class BiasAdd(Function):
    """out[:, c, ...] = x[:, c, ...] + bias[c]."""

    def forward(self, x, bias):
        return x + bias.reshape((-1,) + (1,) * (x.ndim - 2))

    def backward(self, g):
        return g, epilogue.bias_gradient(g)
