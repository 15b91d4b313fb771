"""``Module`` and ``Parameter``: the containers every layer is built from, shaped like PyTorch's."""
from collections import OrderedDict

import numpy as np

from ..autograd import Tensor


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable (requires_grad=True by default)."""

    def __init__(self, data, requires_grad=True):
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class LayerError(ValueError):
    """A ValueError raised inside a layer, naming the layer by its dotted path in the model.

    Each enclosing Module prefixes the name under which it holds the failing child, so the message
    reads ``features.3 (Conv2d): conv2d expects input of shape ... received ...``.
    """

    def __init__(self, module, error):
        super().__init__(str(error))
        # module: the layer that failed; holder: the outermost module the error has passed so far
        self.module, self.holder, self.error, self.path = module, module, error, ""

    def __str__(self):
        where = f"{self.path} ({type(self.module).__name__})" if self.path else type(self.module).__name__
        return f"{where}: {self.error}"


class Module:
    """Base class of every layer and model.

    Attributes that are Parameters, Modules or registered buffers are found by ``parameters()``,
    ``state_dict()`` and friends under PyTorch's dotted names (``features.0.weight``), so a PyTorch
    state_dict converted to NumPy loads one to one.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() before "
                                 f"assigning {name!r}")
        for store in (self._parameters, self._modules, self._buffers):
            store.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif value is None and name in ("weight", "bias"):
            self._parameters[name] = None
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for store in (self._parameters, self._modules, self._buffers):
            store.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name, value):
        """A non-trainable array saved in the state_dict (e.g. BatchNorm's running mean)."""
        value = None if value is None else np.asarray(value)
        self._buffers[name] = value
        object.__setattr__(self, name, value)

    def register_parameter(self, name, value):
        setattr(self, name, value)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} defines no forward()")

    def __call__(self, *args, **kwargs):
        try:
            return self.forward(*args, **kwargs)
        except LayerError as e:
            # a descendant failed: prepend the name under which this module holds it
            name = next((n for n, m in self._modules.items() if m is e.holder), None)
            if name is not None:
                e.path = f"{name}.{e.path}" if e.path else name
            e.holder = self
            raise
        except ValueError as e:
            raise LayerError(self, e) from e

    # --- traversal ---
    def named_modules(self, prefix=""):
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        yield from ((n, m) for n, m in self._modules.items() if m is not None)

    def children(self):
        for _, module in self.named_children():
            yield module

    def named_parameters(self, prefix=""):
        seen = set()
        for module_name, module in self.named_modules(prefix):
            for name, p in module._parameters.items():
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{module_name}.{name}" if module_name else name), p

    def parameters(self):
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, prefix=""):
        for module_name, module in self.named_modules(prefix):
            for name, b in module._buffers.items():
                if b is not None:
                    yield (f"{module_name}.{name}" if module_name else name), b

    def buffers(self):
        for _, b in self.named_buffers():
            yield b

    # --- modes and gradients ---
    def train(self, mode=True):
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.data[...] = 0

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def apply(self, fn):
        """Call fn on every submodule (children first) and on self, like ``torch.nn.Module.apply``."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def astype(self, dtype):
        """Cast every floating parameter and buffer to dtype in place (``model.double()`` in PyTorch)."""
        for module in self.modules():
            for name, p in module._parameters.items():
                if p is not None:
                    p.data = p.data.astype(dtype)
            for name, b in module._buffers.items():
                if b is not None and b.dtype.kind == "f":
                    module.register_buffer(name, b.astype(dtype))
        return self

    def double(self):
        return self.astype(np.float64)

    def float(self):
        return self.astype(np.float32)

    # --- state ---
    def state_dict(self):
        """OrderedDict of name -> ndarray copy, parameters and buffers, in PyTorch's order and names."""
        state = OrderedDict()
        for module_name, module in self.named_modules():
            prefix = f"{module_name}." if module_name else ""
            for name, p in module._parameters.items():
                if p is not None:
                    state[prefix + name] = p.data.copy()
            for name, b in module._buffers.items():
                if b is not None:
                    state[prefix + name] = np.array(b)
        return state

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays into parameters and buffers; every problem is reported before anything changes.

        Raises:
            KeyError: with strict=True, listing missing and unexpected keys.
            ValueError: listing every key whose shape differs.
        """
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"state_dict does not match {type(self).__name__}: missing keys {missing}, "
                           f"unexpected keys {unexpected}")
        values = {k: np.asarray(getattr(v, "data", v)) for k, v in state_dict.items() if k in own}
        wrong = [f"{k}: expected {own[k].shape}, received {v.shape}" for k, v in values.items()
                 if v.shape != own[k].shape]
        if wrong:
            raise ValueError(f"state_dict shapes do not match {type(self).__name__}: " + "; ".join(wrong))
        for module_name, module in self.named_modules():
            prefix = f"{module_name}." if module_name else ""
            for name, p in module._parameters.items():
                if p is not None and prefix + name in values:
                    p.data = values[prefix + name].astype(p.data.dtype, copy=True)
            for name, b in module._buffers.items():
                if b is not None and prefix + name in values:
                    module.register_buffer(name, values[prefix + name].astype(b.dtype, copy=True))
        return missing, unexpected

    # --- printing ---
    def extra_repr(self):
        """Hyperparameters that differ from their defaults, for ``repr``."""
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self.named_children()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"

    def summary(self, input_shape):
        """Per layer: output shape, parameters, multiply-accumulates and receptive field; see nn/summary.py.

        ``input_shape`` excludes the batch axis, e.g. ``model.summary((1, 28, 28))``; print the result.
        """
        from .summary import summary
        return summary(self, input_shape)


class Sequential(Module):
    """Modules applied in order; children are named "0", "1", ... as in PyTorch."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                setattr(self, name, m)
        else:
            for i, m in enumerate(modules):
                setattr(self, str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, index):
        items = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*items[index])
        return items[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        setattr(self, str(len(self._modules)), module)
        return self


class ModuleList(Module):
    """A list of modules registered under "0", "1", ..."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module):
        setattr(self, str(len(self._modules)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def __getitem__(self, index):
        return list(self._modules.values())[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())
