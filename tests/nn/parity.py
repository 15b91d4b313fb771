"""PyTorch parity for the nn tests: same inputs, same cotangent, compare the output and every gradient."""
import numpy as np
import torch

import convzoo

TOLERANCE = {np.float64: 1e-9, np.float32: 1e-4}


def assert_close(ours, theirs, dtype, what):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != torch {theirs.shape}"
    rtol = TOLERANCE[np.dtype(dtype).type]
    scale = max(float(np.abs(theirs).max()) if theirs.size else 0.0, 1.0)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * scale, err_msg=what)


def check_parity(ours, theirs, arrays, dtype, grad=None, seed=0):
    """ours(*Tensors) and theirs(*torch tensors) must agree in value and in the gradient of every input.

    grad: which arrays get gradients (default: all floating ones).
    """
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(a, dtype=dtype) if np.asarray(a).dtype.kind == "f" else np.asarray(a) for a in arrays]
    grad = [a.dtype.kind == "f" for a in arrays] if grad is None else grad
    ts = [convzoo.tensor(a, requires_grad=g) for a, g in zip(arrays, grad)]
    ps = [torch.tensor(a, requires_grad=g) for a, g in zip(arrays, grad)]
    out, ref = ours(*ts), theirs(*ps)
    assert_close(out.numpy(), ref.detach().numpy(), dtype, "forward")
    assert out.dtype == np.dtype(dtype), f"output dtype {out.dtype}, expected {np.dtype(dtype)}"
    if any(grad):
        u = rng.standard_normal(out.shape).astype(dtype)
        out.backward(u)
        ref.backward(torch.tensor(u))
        for i, (t, p) in enumerate(zip(ts, ps)):
            if t.requires_grad:
                assert_close(t.grad.numpy(), p.grad.numpy(), dtype, f"gradient of input {i}")
    return out
