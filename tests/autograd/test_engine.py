"""The engine: accumulation, graph traversal, no_grad, detach, backward arguments, errors."""
import numpy as np
import pytest

import convzoo


def test_gradients_accumulate_across_backward_calls():
    x = convzoo.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2 + 3, 4 + 3])


def test_diamond_graph_sums_both_paths():
    x = convzoo.tensor(2.0, requires_grad=True)
    y = x * x
    z = y + y * x  # x^2 + x^3 -> 2x + 3x^2 = 16
    z.backward()
    assert x.grad.item() == pytest.approx(16.0)


def test_broadcast_gradient_is_reduced_to_the_input_shape():
    x = convzoo.tensor(np.ones((3, 1)), requires_grad=True)
    b = convzoo.tensor(np.ones(4), requires_grad=True)
    (x * b).sum().backward()
    assert x.grad.shape == (3, 1) and b.grad.shape == (4,)
    np.testing.assert_allclose(x.grad.numpy(), 4.0)
    np.testing.assert_allclose(b.grad.numpy(), 3.0)


def test_backward_with_explicit_gradient_array_or_tensor():
    x = convzoo.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * 2.0).backward(np.array([1.0, 0.0, -1.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.0, -2.0])
    x.grad = None
    (x * 2.0).backward(convzoo.tensor([1.0, 1.0, 1.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0, 2.0])


def test_non_scalar_backward_needs_a_gradient():
    x = convzoo.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="shape"):
        (x * 2.0).backward()
    with pytest.raises(ValueError, match="gradient shape"):
        (x * 2.0).backward(np.ones(3))


def test_backward_on_a_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        convzoo.tensor([1.0]).sum().backward()


def test_no_grad_records_nothing_and_restores():
    x = convzoo.tensor([1.0], requires_grad=True)
    with convzoo.no_grad():
        y = x * 2.0
    assert not y.requires_grad and y.is_leaf
    assert (x * 2.0).requires_grad


def test_detach_cuts_the_graph_and_shares_data():
    x = convzoo.tensor([1.0, 2.0], requires_grad=True)
    d = (x * 2.0).detach()
    assert not d.requires_grad and d.is_leaf
    y = x * d
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


def test_tensor_construction_rules():
    assert convzoo.tensor([1.0]).dtype == np.float32
    assert convzoo.tensor([1]).dtype.kind == "i"
    assert convzoo.tensor(np.zeros(2)).dtype == np.float64
    assert convzoo.tensor([1.0], dtype=np.float64).dtype == np.float64
    with pytest.raises(TypeError, match="numeric"):
        convzoo.tensor(["a"])
    with pytest.raises(TypeError, match="floating"):
        convzoo.tensor([1, 2], requires_grad=True)
    a = np.ones(2)
    t = convzoo.tensor(a)
    a[0] = 5
    assert t.numpy()[0] == 1.0  # tensor() copies


def test_deep_graph_does_not_recurse():
    x = convzoo.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y + 0.0
    y.backward()
    assert x.grad.item() == 1.0


class _Triple(convzoo.autograd.function.Function):
    """3 x; its backward records (without holding) or keeps the gradient it makes."""

    def forward(self, x, keep):
        self.keep = keep
        return 3 * x

    def backward(self, g):
        import weakref

        grad = 3 * g
        if self.keep:
            self.kept = grad
        _Triple.made = weakref.ref(grad)
        return grad, None


def test_leaf_keeps_a_fresh_gradient_without_copying():
    x = convzoo.tensor(np.arange(4.0), requires_grad=True)
    _Triple.apply(x, keep=False).backward(np.ones(4, dtype=np.float32))
    assert x.grad.data is _Triple.made()
    np.testing.assert_array_equal(x.grad.numpy(), 3.0)
    y = convzoo.tensor(np.arange(4.0), requires_grad=True)
    out = _Triple.apply(y, keep=True)
    ctx = out._ctx
    out.backward(np.ones(4, dtype=np.float32))
    assert not np.shares_memory(y.grad.data, ctx.kept)


def test_leaf_gradients_never_alias_each_other_or_the_callers_gradient():
    a = convzoo.tensor(np.zeros(3), requires_grad=True)
    b = convzoo.tensor(np.zeros(3), requires_grad=True)
    seed = np.full(3, 2.0, dtype=np.float32)
    (a + b).backward(seed)  # Add passes the same array to both parents
    c = convzoo.tensor(np.zeros(3), requires_grad=True)
    c.backward(seed)  # a leaf root gets the caller's own array
    arrays = [a.grad.data, b.grad.data, c.grad.data, seed]
    for i, first in enumerate(arrays):
        for second in arrays[i + 1:]:
            assert not np.shares_memory(first, second)
    a.grad.data[:] = 7
    np.testing.assert_array_equal(b.grad.numpy(), 2.0)
    np.testing.assert_array_equal(seed, 2.0)


def test_gradient_from_a_view_of_a_kept_array_is_copied():
    from convzoo.autograd.function import Function

    class KeepsItsGradient(Function):
        def forward(self, x):
            return x.copy()

        def backward(self, g):
            self.kept = g * 3
            return (self.kept[:],)  # a view of an array the function still holds

    x = convzoo.tensor(np.ones(4), requires_grad=True)
    out = KeepsItsGradient.apply(x)
    ctx = out._ctx
    out.backward(np.ones(4, dtype=np.float32))
    assert not np.shares_memory(x.grad.data, ctx.kept)


def test_the_graph_does_not_keep_intermediate_activations_alive():
    import weakref

    x = convzoo.tensor(np.ones((2, 3)), requires_grad=True)
    hidden = x * 2.0  # Mul keeps its operands; the next op keeps nothing of its input
    watch = weakref.ref(hidden.data)
    out = hidden.sum()
    del hidden
    assert watch() is None  # freed although the graph still leads from out to x
    out.backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2.0)


def test_relu_backward_overwrites_only_a_gradient_the_engine_alone_holds():
    import weakref

    from convzoo.autograd.function import Function

    seen = {}

    class Double(Function):  # below ReLU: hands it a fresh gradient array
        def forward(self, a):
            return 2 * a

        def backward(self, g):
            grad = 2 * g
            seen["made"] = weakref.ref(grad)
            return (grad,)

    class Probe(Function):  # above ReLU: sees the array ReLU returned
        def forward(self, a):
            return a.copy()

        def backward(self, g):
            seen["got"] = g
            return (g.copy(),)

    x = convzoo.tensor(np.linspace(-1, 1, 8), requires_grad=True)
    out = Double.apply(convzoo.nn.functional.relu(Probe.apply(x)))
    seed = np.ones(8, dtype=np.float32)
    out.backward(seed)
    assert seen["got"] is seen["made"]()  # written in place, no new array
    np.testing.assert_array_equal(x.grad.numpy(), 2.0 * (np.linspace(-1, 1, 8) > 0))
    # the caller's own gradient reaches ReLU directly: it gets a new array, the seed stays as it was
    y = convzoo.tensor(np.linspace(-1, 1, 8), requires_grad=True)
    convzoo.nn.functional.relu(Probe.apply(y)).backward(seed)
    np.testing.assert_array_equal(seed, 1.0)
    np.testing.assert_array_equal(y.grad.numpy(), np.linspace(-1, 1, 8) > 0)
