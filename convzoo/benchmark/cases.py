"""Benchmark cases: builders of (forward, forward_backward, work) for convzoo or PyTorch.

Every builder makes the same seeded float32 inputs for each library, so the peers time the same
work. ``work`` is {"flops": useful FLOPs of one forward pass (direct convolution count) or None,
"bytes": bytes one forward pass must move (read every input once, write every output once)}; a
forward + backward pass counts 3x the FLOPs and 3 input + 2 output reads/writes.
"""
import math

import numpy as np


class Case:
    """One benchmark case: key (the issue's letter), title, ``build(lib, batch, quick, torch)``."""

    def __init__(self, key, title, build, batches=(1, 32), bound="flops"):
        self.key, self.title, self.build, self.batches, self.bound = key, title, build, batches, bound


def conv_flops(x_shape, w_shape, out_shape, groups):
    """2 * N * C_out * prod(out) * C_in/groups * prod(k)."""
    return 2 * x_shape[0] * w_shape[0] * math.prod(out_shape[2:]) * w_shape[1] * math.prod(w_shape[2:])


def _work(flops, inputs, outputs):
    """Forward reads the inputs and writes the outputs; backward reads the output gradient and the
    inputs again and writes the input gradients: 3 input-sized and 2 output-sized transfers in all."""
    return {"flops": flops, "bytes": 4 * (inputs + outputs), "bytes_fwdbwd": 4 * (3 * inputs + 2 * outputs)}


def _memory_format(torch, lib, ndim):
    return torch.channels_last if lib == "torch_cl" and ndim == 4 else torch.contiguous_format


class _Seed:
    """The output gradient of a forward+backward call: all ones, made on the first call and reused,
    for every library alike, so the timings hold the forward and backward passes and not the fill of
    a fresh output-sized array (3.5 ms of an 18 ms ReLU forward+backward at batch 32, for NumPy and
    PyTorch alike; at batch 1, in stretches of seconds, NumPy's fill of the memory just freed took
    0.7 ms instead of 0.06, with no page fault). Neither library writes into the gradient it is given."""

    def __init__(self, make):
        self.make, self.array = make, None

    def __call__(self, output):
        if self.array is None or tuple(self.array.shape) != tuple(output.shape):
            self.array = self.make(output)
        return self.array


def _chain(lib, torch, x, layers):
    """layers: [(op name, weight or None, kwargs)] applied in order; returns (fwd, fwdbwd)."""
    if lib == "convzoo":
        import convzoo
        import convzoo.nn.functional as F
        from convzoo.autograd import as_tensor

        def run(a, ws):
            for (name, _, kw), w in zip(layers, ws):
                a = getattr(F, name)(a, w, **kw) if w is not None else getattr(F, name)(a, **kw)
            return a

        weights = [w for _, w, _ in layers]

        def fwd():
            with convzoo.no_grad():
                return run(x, weights)

        def leaf(a):
            # wrap without copying, as torch's detach().requires_grad_() does
            t = as_tensor(a)
            t.requires_grad = True
            return t

        seed = _Seed(lambda y: np.ones(y.shape, np.float32))

        def fwdbwd():
            ws = [None if w is None else leaf(w) for w in weights]
            y = run(leaf(x), ws)
            y.backward(seed(y))
        return fwd, fwdbwd

    fmt = _memory_format(torch, lib, x.ndim)
    xt = torch.from_numpy(x).contiguous(memory_format=fmt)
    weights = [None if w is None else torch.from_numpy(w).contiguous(memory_format=_memory_format(torch, lib, w.ndim))
               for _, w, _ in layers]

    def run(a, ws):
        for (name, _, kw), w in zip(layers, ws):
            op = getattr(torch.nn.functional, name)
            a = op(a, w, **kw) if w is not None else op(a, **kw)
        return a

    def fwd():
        with torch.no_grad():
            return run(xt, weights)

    seed = _Seed(torch.ones_like)  # in y's memory format

    def fwdbwd():
        ws = [None if w is None else w.detach().requires_grad_() for w in weights]
        y = run(xt.detach().requires_grad_(), ws)
        y.backward(seed(y))
    return fwd, fwdbwd


def conv(c_in, c_out, size, kernel, rank=2, stride=1, padding=0, dilation=1, groups=1, transposed=False):
    """One conv (or transposed conv) layer; ``groups="depthwise"`` sets groups = C_in."""
    def build(lib, batch, quick, torch=None):
        ci, co, n = (min(c_in, 4), min(c_out, 4), min(size, 10)) if quick else (c_in, c_out, size)
        k = min(kernel, 3) if quick else kernel
        g = ci if groups == "depthwise" else groups
        if groups == "depthwise":
            co = ci * (c_out // c_in)
        rng = np.random.default_rng(0)
        x = rng.standard_normal((batch, ci) + (n,) * rank).astype(np.float32)
        w_shape = ((ci, co // g) if transposed else (co, ci // g)) + (k,) * rank
        w = (rng.standard_normal(w_shape) / math.sqrt(ci // g * k ** rank)).astype(np.float32)
        pad = min(padding, k // 2 * dilation) if quick else padding
        kw = dict(stride=stride, padding=pad, groups=g) if transposed else \
            dict(stride=stride, padding=pad, dilation=dilation, groups=g)
        name = f"conv_transpose{rank}d" if transposed else f"conv{rank}d"
        fwd, fwdbwd = _chain(lib, torch, x, [(name, w, kw)])
        if transposed:
            out_n = (n - 1) * stride - 2 * pad + k
            flops = conv_flops((batch, co) + (out_n,) * rank, (ci, co // g) + (k,) * rank, x.shape, g)
            out_size = batch * co * out_n ** rank
        else:
            out_n = (n + 2 * pad - dilation * (k - 1) - 1) // stride + 1
            flops = conv_flops(x.shape, w.shape, (batch, co) + (out_n,) * rank, g)
            out_size = batch * co * out_n ** rank
        return fwd, fwdbwd, _work(flops, x.size + w.size, out_size)
    return build


def chain_of_convs(c_in, size, specs):
    """A block of convs: specs = [(c_out, (kh, kw), padding, depthwise)] (dw + pw, 7x1 then 1x7)."""
    def build(lib, batch, quick, torch=None):
        n = 10 if quick else size
        ci = min(c_in, 4) if quick else c_in
        rng = np.random.default_rng(0)
        x = rng.standard_normal((batch, ci, n, n)).astype(np.float32)
        layers, flops, c, shape = [], 0, ci, x.shape
        for c_out, k, padding, depthwise in specs:
            co = c if depthwise else (min(c_out, 4) if quick else c_out)
            g = c if depthwise else 1
            w = (rng.standard_normal((co, c // g) + k) / math.sqrt(c // g * k[0] * k[1])).astype(np.float32)
            layers.append(("conv2d", w, dict(padding=padding, groups=g)))
            out = (batch, co) + tuple(m + 2 * p - kk + 1 for m, p, kk in zip(shape[2:], padding, k))
            flops += conv_flops(shape, w.shape, out, g)
            c, shape = co, out
        fwd, fwdbwd = _chain(lib, torch, x, layers)
        return fwd, fwdbwd, _work(flops, x.size + sum(w.size for _, w, _ in layers), math.prod(shape))
    return build


def elementwise(name, channels=64, size=112, out_div=1, **kw):
    """Pooling or ReLU through the public functional API; out_div: the output is size/out_div per axis."""
    def build(lib, batch, quick, torch=None):
        c, n = (4, 12) if quick else (channels, size)
        x = np.random.default_rng(0).standard_normal((batch, c, n, n)).astype(np.float32)
        if lib == "convzoo":
            import convzoo.nn.functional as F
            if not hasattr(F, name):
                return None  # not written yet: the runner notes the skip
        fwd, fwdbwd = _chain(lib, torch, x, [(name, None, kw)])
        out = x.size // out_div ** 2 if out_div else batch * c
        return fwd, fwdbwd, _work(None, x.size, out)
    return build


CASES = [
    Case("a", "3x3 64->64 @56", conv(64, 64, 56, 3, padding=1)),
    Case("b", "stem 3x3 3->32 @224 s2", conv(3, 32, 224, 3, stride=2, padding=1)),
    Case("c", "1x1 128->256 @28", conv(128, 256, 28, 1)),
    Case("d2", "3x3 dilation 2 64->64 @56", conv(64, 64, 56, 3, padding=2, dilation=2)),
    Case("d4", "3x3 dilation 4 64->64 @56", conv(64, 64, 56, 3, padding=4, dilation=4)),
    Case("e1", "depthwise 3x3 128 @56", conv(128, 128, 56, 3, padding=1, groups="depthwise"), bound="bytes"),
    Case("e2", "depthwise 3x3 128 @56 s2", conv(128, 128, 56, 3, stride=2, padding=1, groups="depthwise"),
         bound="bytes"),
    Case("f", "dw3x3 64 + pw 64->128 @56", chain_of_convs(64, 56, [(64, (3, 3), (1, 1), True),
                                                                   (128, (1, 1), (0, 0), False)])),
    Case("f0", "full 3x3 64->128 @56", conv(64, 128, 56, 3, padding=1)),
    Case("g", "7x1 then 1x7 64->64 @28", chain_of_convs(64, 28, [(64, (7, 1), (3, 0), False),
                                                                 (64, (1, 7), (0, 3), False)])),
    Case("g0", "full 7x7 64->64 @28", conv(64, 64, 28, 7, padding=3)),
    Case("h1", "transposed 4x4 s2 p1 128->64 28->56", conv(128, 64, 28, 4, stride=2, padding=1, transposed=True)),
    Case("h2", "transposed 2x2 s2 128->64 28->56", conv(128, 64, 28, 2, stride=2, transposed=True)),
    Case("i", "depthwise 31x31 128 @56", conv(128, 128, 56, 31, padding=15, groups="depthwise"), batches=(1, 8)),
    Case("j1", "max pool 2x2 s2 64 @112", elementwise("max_pool2d", out_div=2, kernel_size=2, stride=2),
         bound="bytes"),
    Case("j2", "max pool 3x3 s2 p1 64 @112", elementwise("max_pool2d", out_div=2, kernel_size=3, stride=2,
                                                         padding=1), bound="bytes"),
    Case("j3", "avg pool 2x2 64 @112", elementwise("avg_pool2d", out_div=2, kernel_size=2), bound="bytes"),
    Case("j4", "global avg pool 64 @112", elementwise("adaptive_avg_pool2d", out_div=0, output_size=1),
         bound="bytes"),
    Case("k", "ReLU 64 @112", elementwise("relu"), bound="bytes"),
    Case("l", "conv1d k5 64->64 L=4096", conv(64, 64, 4096, 5, rank=1, padding=2)),
]
