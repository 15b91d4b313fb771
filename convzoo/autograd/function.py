"""The graph: ``Function`` nodes, ``no_grad``, and the reverse-mode engine.

Every primitive is a ``Function`` subclass with ``forward`` (ndarrays in, ndarray out) and
``backward`` (the vector-Jacobian product: output gradient in, one gradient per input out) side by
side. Broadcasting is undone once, here in the engine, so no primitive has to.

The graph is made of Functions (each links to the Functions, or leaf Tensors, of its inputs), not
of the intermediate Tensors: as in PyTorch, an activation is freed as soon as neither the caller nor
a Function's saved state holds it. A leaf keeps a gradient array the engine alone holds instead of
copying it.
"""
import contextlib
import sys
import threading

import numpy as np


class _State(threading.local):
    # the default as a class attribute, read without a caught AttributeError (1.4 us a call on a
    # thread-local that lacks it; every op asks)
    enabled = True


_state = _State()


def is_grad_enabled():
    return _state.enabled


@contextlib.contextmanager
def no_grad():
    """Context manager in which operations record no graph (like ``torch.no_grad``)."""
    previous = is_grad_enabled()
    _state.enabled = False
    try:
        yield
    finally:
        _state.enabled = previous


_classes = {}


def _tensor_class():
    """``tensor.Tensor``, imported on first use (tensor.py imports this module)."""
    tensor = _classes.get("Tensor")
    if tensor is None:
        from .tensor import Tensor as tensor
        _classes["Tensor"] = tensor
    return tensor


class Function:
    """One differentiable primitive. Subclasses define ``forward`` and ``backward``.

    ``forward(self, *arrays, **params)`` may save what ``backward`` needs on ``self``.
    ``backward(self, grad)`` returns a tuple with one entry per positional input: an ndarray,
    or None where that input needs no gradient (``self.needs_grad[i]`` tells which do).
    When ``self.grad_writable`` is true, nothing but the engine holds ``grad``, and backward may
    overwrite it (an elementwise backward then needs no new array).
    """

    grad_writable = False

    @classmethod
    def apply(cls, *inputs, **params):
        # every op of a model goes through here: list comprehensions rather than generators, the
        # Tensor class imported once (a LeNet-5 step at batch 1, 20 calls, spends ~0.1 ms in this)
        tensor = _tensor_class()
        ctx = cls()
        needs = tuple([isinstance(t, tensor) and t.requires_grad for t in inputs])
        ctx.needs_grad = needs
        arrays = [t.data if isinstance(t, tensor) else t for t in inputs]
        out = ctx.forward(*arrays, **params)
        track = _state.enabled and any(needs)
        result = tensor._wrap(out, requires_grad=track)
        if track:
            # The graph links Functions (and leaf Tensors), never intermediate Tensors: an
            # activation stays alive only while a Function saved it or the caller holds it
            ctx.parents = tuple([(t._ctx or t) if need else None for t, need in zip(inputs, needs)])
            ctx.shapes = tuple([a.shape if type(a) is np.ndarray else np.shape(a) for a in arrays])
            result._ctx = ctx
        return result

    def forward(self, *arrays, **params):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError


def unbroadcast(grad, shape):
    """Sum grad down to ``shape``, undoing NumPy broadcasting."""
    if grad.shape == shape or grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(extra))) if extra else grad
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


def _references(array):
    return sys.getrefcount(array)


def _base_references(array):
    return sys.getrefcount(array.base)


def _calibrate():
    array = np.empty(2)[:1]  # a view whose base nothing else holds
    return _references(array), _base_references(array)


# The reference counts an array (a local variable passed down one call) and its memory's owner
# (array.base: NumPy points a view at the owner directly) show when nothing else holds them;
# measured rather than assumed, since the counts depend on the interpreter version. _sole_owner is
# one call deeper than _calibrate, hence its + 1 on the array's count (not on the base's)
_SOLE_REFERENCES, _SOLE_BASE_REFERENCES = _calibrate()


def _sole_owner(array):
    """Whether the caller's variable is the only holder of array and of the memory behind it.

    A leaf may then keep the array as its ``.grad`` without copying it (a gradient the size of a
    batch of activations costs a memory pass to copy). Arrays a Function kept, views of arrays
    still alive elsewhere, the caller's own output gradient and read-only broadcasts all fail the
    test and are copied.
    """
    if not array.flags.writeable or _references(array) != _SOLE_REFERENCES + 1:
        return False
    return array.base is None or _base_references(array) == _SOLE_BASE_REFERENCES


def _topological_order(root):
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        if isinstance(node, Function):
            for parent in node.parents:
                if parent is not None and id(parent) not in seen:
                    stack.append((parent, False))
    return order


def _send(ctx, g, grads):
    """Add the gradients ctx.backward(g) gives its parents into grads (keyed by id). A function of
    its own so that no loop variable outlives it holding an array (see _sole_owner)."""
    for parent, shape, pg in zip(ctx.parents, ctx.shapes, ctx.backward(g)):
        if parent is None or pg is None:
            continue
        pg = unbroadcast(np.asarray(pg), shape)
        key = id(parent)
        grads[key] = grads[key] + pg if key in grads else pg


def backward(root, grad):
    """Propagate ``grad`` (an ndarray shaped like root) to every leaf that requires a gradient.

    The graph's nodes are the Functions that made root and the leaf Tensors they read.
    """
    start = root._ctx or root
    grads = {id(start): grad}
    for node in reversed(_topological_order(start)):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if isinstance(node, Function):
            node.grad_writable = _sole_owner(g)  # before g is pushed as an argument of the next call
            _send(node, g, grads)
        else:
            # a leaf: accumulate like PyTorch (gradients add up across backward calls)
            g = g.astype(node.data.dtype, copy=False)
            owned = _sole_owner(g)  # before g is pushed as an argument of the next call
            node._accumulate(g, owned)
