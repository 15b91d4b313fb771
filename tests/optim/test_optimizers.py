"""SGD, Adam and AdamW against torch.optim: same parameters, same gradient sequence, same updates."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from convzoo.nn import Parameter
from convzoo.autograd import Tensor
from convzoo.optim import SGD, Adam, AdamW

SHAPES = [(3, 4), (5,), (2, 1, 3, 3)]
TOL = {np.float64: 1e-12, np.float32: 1e-5}


def run_pair(make_ours, make_torch, dtype, steps=7, seed=0, groups=False):
    """Apply the same gradient sequence to both optimizers; return both parameter lists."""
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    ours = [Parameter(a.copy()) for a in init]
    theirs = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]
    if groups:  # the second group overrides lr
        ours_opt = make_ours([{"params": ours[:1]}, {"params": ours[1:], "lr": 0.05}])
        torch_opt = make_torch([{"params": theirs[:1]}, {"params": theirs[1:], "lr": 0.05}])
    else:
        ours_opt, torch_opt = make_ours(ours), make_torch(theirs)
    for step in range(steps):
        for i, (p, q) in enumerate(zip(ours, theirs)):
            if step == 2 and i == 1:  # a parameter without a gradient is skipped by both
                p.grad, q.grad = None, None
                continue
            g = rng.standard_normal(p.shape).astype(dtype)
            p.grad = Tensor(g)
            q.grad = torch.from_numpy(g.copy())
        ours_opt.step()
        torch_opt.step()
    return ours, theirs


def assert_same(ours, theirs, dtype):
    for p, q in zip(ours, theirs):
        assert p.dtype == dtype
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=TOL[dtype], atol=TOL[dtype])


CONFIGS = [
    (SGD, torch.optim.SGD, dict(lr=0.1)),
    (SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
    (SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01)),
    (SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    (SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.5, maximize=True)),
    (Adam, torch.optim.Adam, dict(lr=0.01)),
    (Adam, torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    (Adam, torch.optim.Adam, dict(lr=0.01, amsgrad=True, maximize=True)),
    (AdamW, torch.optim.AdamW, dict(lr=0.01)),
    (AdamW, torch.optim.AdamW, dict(lr=0.02, weight_decay=0.5, amsgrad=True)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ours_cls, torch_cls, kwargs", CONFIGS)
def test_matches_torch(ours_cls, torch_cls, kwargs, dtype):
    ours, theirs = run_pair(lambda p: ours_cls(p, **kwargs), lambda p: torch_cls(p, **kwargs), dtype)
    assert_same(ours, theirs, dtype)


@pytest.mark.parametrize("ours_cls, torch_cls, kwargs", [CONFIGS[2], CONFIGS[6], CONFIGS[9]])
def test_parameter_groups_match_torch(ours_cls, torch_cls, kwargs):
    ours, theirs = run_pair(lambda p: ours_cls(p, **kwargs), lambda p: torch_cls(p, **kwargs), np.float64,
                            groups=True)
    assert_same(ours, theirs, np.float64)


@settings(max_examples=15, deadline=None)
@given(lr=st.floats(1e-4, 0.5), momentum=st.floats(0.0, 0.99), dampening=st.floats(0.0, 1.0),
       weight_decay=st.floats(0.0, 0.1), steps=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_sgd_hypothesis(lr, momentum, dampening, weight_decay, steps, seed):
    kwargs = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay)
    ours, theirs = run_pair(lambda p: SGD(p, **kwargs), lambda p: torch.optim.SGD(p, **kwargs), np.float64,
                            steps=steps, seed=seed)
    assert_same(ours, theirs, np.float64)


@settings(max_examples=15, deadline=None)
@given(lr=st.floats(1e-4, 0.1), beta1=st.floats(0.0, 0.99), beta2=st.floats(0.5, 0.9999),
       weight_decay=st.floats(0.0, 0.1), decoupled=st.booleans(), seed=st.integers(0, 2**16))
def test_adam_hypothesis(lr, beta1, beta2, weight_decay, decoupled, seed):
    kwargs = dict(lr=lr, betas=(beta1, beta2), weight_decay=weight_decay)
    ours_cls, torch_cls = (AdamW, torch.optim.AdamW) if decoupled else (Adam, torch.optim.Adam)
    ours, theirs = run_pair(lambda p: ours_cls(p, **kwargs), lambda p: torch_cls(p, **kwargs), np.float64,
                            seed=seed)
    assert_same(ours, theirs, np.float64)


@pytest.mark.parametrize("make", [lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=True),
                                  lambda p: Adam(p, lr=0.01, amsgrad=True), lambda p: AdamW(p, lr=0.01)])
def test_state_dict_resumes_exactly(make):
    rng = np.random.default_rng(1)
    init = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(6)]

    def steps(params, opt, gs):
        for g in gs:
            for p, gi in zip(params, g):
                p.grad = Tensor(gi)
            opt.step()

    straight = [Parameter(a.copy()) for a in init]
    opt = make(straight)
    steps(straight, opt, grads)

    first = [Parameter(a.copy()) for a in init]
    opt1 = make(first)
    steps(first, opt1, grads[:3])
    saved, weights = opt1.state_dict(), [p.data.copy() for p in first]
    steps(first, opt1, grads[3:4])  # the snapshot must not move with the live optimizer
    fresh = [Parameter(w) for w in weights]
    opt2 = make(fresh)
    opt2.load_state_dict(saved)
    steps(fresh, opt2, grads[3:])
    for p, q in zip(fresh, straight):
        np.testing.assert_array_equal(p.data, q.data)


def test_load_state_dict_rejects_mismatch_before_changing_anything():
    a = [Parameter(np.ones((2, 2))), Parameter(np.ones(3))]
    opt = SGD(a, lr=0.1, momentum=0.9)
    for p in a:
        p.grad = Tensor(np.ones(p.shape))
    opt.step()
    saved = opt.state_dict()
    other = SGD([Parameter(np.ones((2, 2)))], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="parameter group 0 has 2 parameters"):
        other.load_state_dict(saved)
    wrong = SGD([Parameter(np.ones((2, 2))), Parameter(np.ones(4))], lr=0.5, momentum=0.9)
    with pytest.raises(ValueError, match=r"momentum_buffer.*shape \(3,\).*\(4,\)"):
        wrong.load_state_dict(saved)
    assert wrong.param_groups[0]["lr"] == 0.5 and wrong.state == {}


@pytest.mark.parametrize("make, message", [
    (lambda p: SGD(p, lr=-1), r"lr must be in >= 0.0; received -1"),
    (lambda p: SGD(p, lr=0.1, momentum=1.0), r"momentum must be in \[0.0, 1.0\); received 1.0"),
    (lambda p: SGD(p, lr=0.1, nesterov=True), "nesterov momentum needs momentum > 0"),
    (lambda p: Adam(p, betas=(0.9, 1.5)), r"betas\[1\] must be in"),
    (lambda p: Adam(p, betas=0.9), "betas must be a pair"),
    (lambda p: Adam(p, lr="fast"), "lr must be a number; received 'fast'"),
    (lambda p: SGD([{"params": p, "speed": 2}]), r"unknown hyperparameters \['speed'\]"),
    (lambda p: SGD(p + p), "more than one parameter group"),
    (lambda p: SGD([], lr=0.1), "empty parameter list"),
    (lambda p: SGD(p[0], lr=0.1), "single Parameter"),
    (lambda p: SGD([np.ones(3)], lr=0.1), "only optimize Parameters; received ndarray"),
])
def test_bad_arguments(make, message):
    params = [Parameter(np.ones(3))]
    with pytest.raises((ValueError, TypeError), match=message):
        make(params)


def test_zero_grad():
    p = Parameter(np.ones(3))
    opt = SGD([p], lr=0.1)
    p.grad = Tensor(np.ones(3))
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.data, 0)
    opt.zero_grad()
    assert p.grad is None
