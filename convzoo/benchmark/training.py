"""Training-step cases: LeNet-5 (batch 64) and a VGG-style net (3x32x32, batch 32) in convzoo and PyTorch.

Both frameworks get the same architecture and the same initial weights; one step is zero_grad,
forward, cross-entropy, backward and an SGD update.
"""
import math

import numpy as np

from .cases import Case, conv_flops

# VGG-style: 3x3 "same" convs (3->64, 64->64, pool, 64->128, 128->128, pool, 128->256, 256->256, pool), linear
VGG_PLAN = (64, 64, "M", 128, 128, "M", 256, 256, "M")
LENET = (("conv", 1, 6, 5, 2), "relu", "pool", ("conv", 6, 16, 5, 0), "relu", "pool", "flatten",
         ("linear", 400, 120), "relu", ("linear", 120, 84), "relu", ("linear", 84, 10))


def _vgg_layers(quick):
    layers, c = [], 3
    for item in VGG_PLAN:
        if item == "M":
            layers.append("pool")
        else:
            width = min(item, 8) if quick else item
            layers += [("conv", c, width, 3, 1), "relu"]
            c = width
    return layers + ["flatten", ("linear", c * 4 * 4, 10)]


def _flops(layers, batch, size):
    """Forward FLOPs of the convs and linears."""
    total, n = 0, size
    for layer in layers:
        if layer == "pool":
            n //= 2
        elif isinstance(layer, tuple) and layer[0] == "conv":
            _, ci, co, k, p = layer
            out = n + 2 * p - k + 1
            total += conv_flops((batch, ci, n, n), (co, ci, k, k), (batch, co, out, out), 1)
            n = out
        elif isinstance(layer, tuple):
            total += 2 * batch * layer[1] * layer[2]
    return total


def _modules(lib, layers, torch=None):
    if lib == "convzoo":
        from .. import nn
        make = {"relu": nn.ReLU, "pool": lambda: nn.MaxPool2d(2), "flatten": nn.Flatten}
        conv, linear, sequential = nn.Conv2d, nn.Linear, nn.Sequential
    else:
        tnn = torch.nn
        make = {"relu": tnn.ReLU, "pool": lambda: tnn.MaxPool2d(2), "flatten": tnn.Flatten}
        conv, linear, sequential = tnn.Conv2d, tnn.Linear, tnn.Sequential
    mods = []
    for layer in layers:
        if isinstance(layer, str):
            mods.append(make[layer]())
        elif layer[0] == "conv":
            mods.append(conv(layer[1], layer[2], layer[3], padding=layer[4]))
        else:
            mods.append(linear(layer[1], layer[2]))
    return sequential(*mods)


def _initial_weights(layers):
    rng = np.random.default_rng(0)
    weights = []
    for layer in layers:
        if isinstance(layer, tuple):
            shape = (layer[2], layer[1], layer[3], layer[3]) if layer[0] == "conv" else (layer[2], layer[1])
            fan_in = math.prod(shape[1:])
            weights.append((rng.uniform(-1, 1, shape) / math.sqrt(fan_in)).astype(np.float32))
            weights.append((rng.uniform(-1, 1, shape[0]) / math.sqrt(fan_in)).astype(np.float32))
    return weights


def train_step(layers, size, channels):
    def build(lib, batch, quick, torch=None):
        net_layers = layers(quick) if callable(layers) else layers
        rng = np.random.default_rng(1)
        x = rng.standard_normal((batch, channels, size, size)).astype(np.float32)
        y = rng.integers(0, 10, batch)
        model = _modules(lib, net_layers, torch)
        weights = _initial_weights(net_layers)
        params = list(model.parameters())
        if lib == "convzoo":
            from .. import optim
            from ..nn import functional as F
            for p, w in zip(params, weights):
                p.data[...] = w
            sgd = optim.SGD(params, lr=0.01)

            def step():
                sgd.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                sgd.step()
        else:
            with torch.no_grad():
                for p, w in zip(params, weights):
                    p.copy_(torch.from_numpy(w))
            fmt = torch.channels_last if lib == "torch_cl" else torch.contiguous_format
            model = model.to(memory_format=fmt)
            sgd = torch.optim.SGD(model.parameters(), lr=0.01)
            xt, yt = torch.from_numpy(x).contiguous(memory_format=fmt), torch.from_numpy(y)

            def step():
                sgd.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(xt), yt)
                loss.backward()
                sgd.step()
        return None, step, {"flops": _flops(net_layers, batch, size), "bytes": 4 * x.size, "bytes_fwdbwd": 4 * x.size}
    return build


CASES = [
    Case("m1", "LeNet-5 training step", train_step(LENET, 28, 1), batches=(64,)),
    Case("m2", "VGG-style training step 3x32x32", train_step(_vgg_layers, 32, 3), batches=(32,)),
]
