"""Finite-difference checks of vector-Jacobian products (after HIPS/autograd's ``check_vjp``)."""
import numpy as np

import convzoo


def check_vjp(fn, *arrays, eps=1e-6, rtol=1e-6, seed=0):
    """Check <u, J v> from central differences against <J^T u, v> from backward(), in float64.

    fn takes Tensors and returns a Tensor. One random direction v over all inputs jointly and one
    random output cotangent u; the two inner products must agree to rtol.
    """
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    directions = [rng.standard_normal(a.shape) for a in arrays]
    tensors = [convzoo.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    u = rng.standard_normal(out.shape)
    out.backward(u)
    analytic = sum(float(np.sum(t.grad.numpy() * v)) for t, v in zip(tensors, directions))
    with convzoo.no_grad():
        plus = fn(*[convzoo.tensor(a + eps * v) for a, v in zip(arrays, directions)]).numpy()
        minus = fn(*[convzoo.tensor(a - eps * v) for a, v in zip(arrays, directions)]).numpy()
    numeric = float(np.sum(u * (plus - minus) / (2 * eps)))
    scale = max(abs(numeric), abs(analytic), 1e-12)
    assert abs(numeric - analytic) <= rtol * scale + 1e-9, (
        f"vjp mismatch: finite differences give {numeric!r}, backward gives {analytic!r}")
    return analytic, numeric
