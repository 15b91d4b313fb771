"""Separable convolutions, as compositions of convolution layers (never a copy of the windowing code).

- ``SeparableConv2d``: depthwise separable (Keras' SeparableConv2D): a depthwise k x k conv, then a
  pointwise 1 x 1 conv mixing channels, optionally with batch norm and an activation in between.
- ``SpatialSeparableConv2d``: spatially separable: a (k_h, 1) conv, then a (1, k_w) conv. Each
  factor owns one axis, and takes that axis's stride, dilation and padding.
"""
import numpy as np

from ..functional.arguments import ntuple, padding_pairs
from ..module import Module, Parameter
from .conv import Conv2d, DepthwiseConv2d, _padding
from .normalization import BatchNorm2d


class SeparableConv2d(Module):
    """Depthwise separable convolution: ``pointwise(activation(norm(depthwise(x))))``.

    Args:
        in_channels, out_channels: channels in and out.
        kernel_size, stride, padding, dilation, padding_mode: of the depthwise conv (see F.conv2d).
        depth_multiplier: depthwise filters per input channel (the pointwise conv sees
            in_channels * depth_multiplier channels).
        bias: a bias on the pointwise conv (the depthwise conv has none, as in Keras).
        activation: an optional Module applied between the two convs (e.g. ``nn.ReLU()``); off by default.
        batch_norm: insert a BatchNorm2d between the two convs; off by default.

    Submodules ``depthwise``, ``norm`` (if any), ``activation`` (if any) and ``pointwise`` give the
    state_dict names ``depthwise.weight``, ``pointwise.weight``, ``pointwise.bias``.

    Example:
        >>> import numpy as np
        >>> SeparableConv2d(32, 64, 3, padding=1)(np.ones((1, 32, 8, 8), np.float32)).shape
        (1, 64, 8, 8)
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, depth_multiplier=1,
                 bias=True, padding_mode="zeros", activation=None, batch_norm=False, dtype=None):
        super().__init__()
        if activation is not None and not isinstance(activation, Module):
            raise TypeError(f"activation must be a Module (e.g. nn.ReLU()) or None; received {activation!r}")
        self.depthwise = DepthwiseConv2d(in_channels, kernel_size, depth_multiplier, stride, padding, dilation,
                                         bias=False, padding_mode=padding_mode, dtype=dtype)
        mid = self.depthwise.out_channels
        if batch_norm:
            self.norm = BatchNorm2d(mid, dtype=dtype)
        if activation is not None:
            self.activation = activation
        self.pointwise = Conv2d(mid, out_channels, 1, bias=bias, dtype=dtype)
        self.in_channels, self.out_channels = self.depthwise.in_channels, self.pointwise.out_channels
        self.kernel_size, self.stride, self.padding = self.depthwise.kernel_size, self.depthwise.stride, \
            self.depthwise.padding
        self.dilation, self.padding_mode = self.depthwise.dilation, self.depthwise.padding_mode
        self.depth_multiplier = self.depthwise.depth_multiplier

    def forward(self, input):
        for module in self.children():
            input = module(input)
        return input


class SpatialSeparableConv2d(Module):
    """A (k_h, 1) convolution followed by a (1, k_w) convolution: k_h + k_w taps instead of k_h * k_w.

    The first (``vertical``) conv maps in_channels to mid_channels along H with stride, dilation
    and padding of the H axis; the second (``horizontal``) maps mid_channels to out_channels along
    W with those of the W axis. Together they equal one k_h x k_w conv whose kernel is
    ``sum_r vertical[r, c, :] (outer) horizontal[o, r, :]`` (``to_kernel()``); ``from_kernel``
    goes the other way.

    Args:
        in_channels, out_channels: channels in and out.
        kernel_size: (k_h, k_w) or one int.
        stride, dilation: per axis, as for Conv2d; each goes to the factor that owns its axis.
        padding: as for Conv2d ("same", "valid", ints, or (before, after) pairs), split by axis.
        bias: a bias on the horizontal conv.
        padding_mode: any mode of F.conv2d.
        mid_channels: channels between the two convs (default out_channels).

    Example:
        >>> import numpy as np
        >>> layer = SpatialSeparableConv2d(16, 32, 7, stride=2, padding=3)
        >>> layer(np.ones((1, 16, 28, 28), np.float32)).shape
        (1, 32, 14, 14)
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, bias=True,
                 padding_mode="zeros", mid_channels=None, dtype=None):
        super().__init__()
        kh, kw = ntuple(kernel_size, 2, "kernel_size", minimum=1)
        (sh, sw), (dh, dw) = ntuple(stride, 2, "stride", minimum=1), ntuple(dilation, 2, "dilation", minimum=1)
        mid = out_channels if mid_channels is None else mid_channels
        if isinstance(padding, str):
            pad_h = pad_w = padding
        else:
            (ph, pw) = padding_pairs(padding, 2)
            pad_h, pad_w = (ph, (0, 0)), ((0, 0), pw)
        self.vertical = Conv2d(in_channels, mid, (kh, 1), (sh, 1), pad_h, (dh, 1), bias=False,
                               padding_mode=padding_mode, dtype=dtype)
        self.horizontal = Conv2d(mid, out_channels, (1, kw), (1, sw), pad_w, (1, dw), bias=bias,
                                 padding_mode=padding_mode, dtype=dtype)
        self.in_channels, self.out_channels, self.mid_channels = self.vertical.in_channels, out_channels, mid
        self.kernel_size, self.stride, self.dilation = (kh, kw), (sh, sw), (dh, dw)
        self.padding, self.padding_mode = _padding(padding, 2), self.vertical.padding_mode
        self.approximation_error = 0.0

    def forward(self, input):
        return self.horizontal(self.vertical(input))

    def to_kernel(self):
        """The equivalent full (out_channels, in_channels, k_h, k_w) kernel, as an ndarray."""
        v = self.vertical.weight.numpy()[..., 0]      # (R, C_in, k_h)
        h = self.horizontal.weight.numpy()[:, :, 0]   # (C_out, R, k_w)
        return np.einsum("rca,orb->ocab", v, h)

    @classmethod
    def from_kernel(cls, weight, bias=None, stride=1, padding=0, dilation=1, padding_mode="zeros", rank=1):
        """Factor a full k_h x k_w convolution into a (k_h, 1) conv and a (1, k_w) conv by SVD.

        The kernel is unfolded to the (C_in * k_h, C_out * k_w) matrix M[(c, a), (o, b)] = W[o, c, a, b];
        its leading ``rank`` singular triplets give ``mid_channels = rank`` vertical and horizontal
        filters. A kernel whose unfolding has rank <= ``rank`` (e.g. a Sobel or box filter with
        rank=1) is reproduced exactly; otherwise the result is the best approximation of that rank
        in the Frobenius norm (Eckart-Young), and ``approximation_error`` holds the relative error
        ||W - W_r|| / ||W|| = sqrt(sum of the dropped s_i^2 / sum of all s_i^2).

        Args:
            weight: (C_out, C_in, k_h, k_w) or a single (k_h, k_w) kernel (C_in = C_out = 1).
            bias: optional (C_out,).
            stride, padding, dilation, padding_mode: as for Conv2d.
            rank: mid_channels of the result.

        Example:
            >>> import numpy as np
            >>> sobel = np.outer([1.0, 2.0, 1.0], [-1.0, 0.0, 1.0])
            >>> layer = SpatialSeparableConv2d.from_kernel(sobel, padding=1)
            >>> bool(np.allclose(layer.to_kernel()[0, 0], sobel)), layer.approximation_error < 1e-12
            (True, True)
        """
        w = np.asarray(getattr(weight, "data", weight))
        if w.dtype.kind != "f":
            w = w.astype(np.float64)
        if w.ndim == 2:
            w = w[None, None]
        if w.ndim != 4:
            raise ValueError(f"weight must have shape (C_out, C_in, k_h, k_w) or (k_h, k_w); received {w.shape}")
        c_out, c_in, kh, kw = w.shape
        limit = min(c_in * kh, c_out * kw)
        if not isinstance(rank, (int, np.integer)) or not 1 <= rank <= limit:
            raise ValueError(f"rank must be an int in [1, {limit}] for a kernel of shape {w.shape}; received {rank!r}")
        m = w.transpose(1, 2, 0, 3).reshape(c_in * kh, c_out * kw)
        u, s, vt = np.linalg.svd(m.astype(np.float64), full_matrices=False)
        root = np.sqrt(s[:rank])
        vertical = (u[:, :rank] * root).reshape(c_in, kh, rank).transpose(2, 0, 1)[..., None]
        horizontal = (vt[:rank].T * root).reshape(c_out, kw, rank).transpose(0, 2, 1)[:, :, None, :]
        layer = cls(c_in, c_out, (kh, kw), stride, padding, dilation, bias=bias is not None,
                    padding_mode=padding_mode, mid_channels=rank, dtype=w.dtype)
        layer.vertical.weight = Parameter(vertical.astype(w.dtype))
        layer.horizontal.weight = Parameter(horizontal.astype(w.dtype))
        if bias is not None:
            layer.horizontal.bias = Parameter(np.asarray(getattr(bias, "data", bias), dtype=w.dtype).reshape(c_out))
        total = float(np.sum(s ** 2))
        layer.approximation_error = float(np.sqrt(np.sum(s[rank:] ** 2) / total)) if total else 0.0
        return layer

    def extra_repr(self):
        parts = [f"{self.in_channels}", f"{self.out_channels}", f"kernel_size={self.kernel_size}"]
        if self.mid_channels != self.out_channels:
            parts.append(f"mid_channels={self.mid_channels}")
        return ", ".join(parts)
