"""StepLR, CosineAnnealingLR and OneCycleLR against torch.optim.lr_scheduler, step by step."""
import numpy as np
import pytest
import torch

from convzoo.nn import Parameter
from convzoo.optim import SGD, Adam, lr_scheduler


def trajectories(make_ours, make_torch, optimizer="sgd", steps=40):
    p = Parameter(np.zeros(2))
    q = torch.nn.Parameter(torch.zeros(2))
    if optimizer == "sgd":
        ours_opt, torch_opt = SGD([p], lr=0.1, momentum=0.9), torch.optim.SGD([q], lr=0.1, momentum=0.9)
    else:
        ours_opt, torch_opt = Adam([p], lr=0.1), torch.optim.Adam([q], lr=0.1)
    ours, theirs = make_ours(ours_opt), make_torch(torch_opt)
    got, want = [], []
    for _ in range(steps):
        group, tgroup = ours_opt.param_groups[0], torch_opt.param_groups[0]
        got.append((group["lr"], group.get("momentum", group.get("betas", (0,))[0])))
        want.append((tgroup["lr"], tgroup.get("momentum", tgroup.get("betas", (0,))[0])))
        torch_opt.step()
        ours.step()
        theirs.step()
    assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12)
    return np.array(got), np.array(want)


CASES = [
    (lambda o: lr_scheduler.StepLR(o, 7, gamma=0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 7, gamma=0.5)),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=15, eta_min=1e-3),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=15, eta_min=1e-3)),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=40),
     lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=40)),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.5, epochs=4, steps_per_epoch=10, pct_start=0.25,
                                       anneal_strategy="linear", three_phase=True),
     lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.5, epochs=4, steps_per_epoch=10, pct_start=0.25,
                                                   anneal_strategy="linear", three_phase=True)),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.3, total_steps=40, cycle_momentum=False, div_factor=10.0),
     lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.3, total_steps=40, cycle_momentum=False,
                                                   div_factor=10.0)),
]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("make_ours, make_torch", CASES)
def test_matches_torch(make_ours, make_torch, optimizer):
    got, want = trajectories(make_ours, make_torch, optimizer)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("make", [lambda o: lr_scheduler.StepLR(o, 3, gamma=0.5),
                                  lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=10),
                                  lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=20)])
def test_state_dict_resumes_exactly(make):
    straight_opt = SGD([Parameter(np.zeros(1))], lr=0.1, momentum=0.9)
    straight = make(straight_opt)
    for _ in range(12):
        straight.step()
    first_opt = SGD([Parameter(np.zeros(1))], lr=0.1, momentum=0.9)
    first = make(first_opt)
    for _ in range(5):
        first.step()
    saved, saved_opt = first.state_dict(), first_opt.state_dict()
    resumed_opt = SGD([Parameter(np.zeros(1))], lr=0.1, momentum=0.9)
    resumed = make(resumed_opt)
    resumed_opt.load_state_dict(saved_opt)
    resumed.load_state_dict(saved)
    for _ in range(7):
        resumed.step()
    assert resumed_opt.param_groups[0]["lr"] == straight_opt.param_groups[0]["lr"]
    assert resumed_opt.param_groups[0]["momentum"] == straight_opt.param_groups[0]["momentum"]


def test_one_cycle_refuses_to_step_past_the_end():
    sched = lr_scheduler.OneCycleLR(SGD([Parameter(np.zeros(1))], lr=0.1, momentum=0.9), max_lr=1.0, total_steps=3)
    for _ in range(3):
        sched.step()
    with pytest.raises(ValueError, match="stepped 4 times; its total_steps is 3"):
        sched.step()


@pytest.mark.parametrize("make, message", [
    (lambda o: lr_scheduler.StepLR(o, 0), "step_size must be a positive int; received 0"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=2.5), "T_max must be a positive int; received 2.5"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0), "needs total_steps, or epochs and steps_per_epoch"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=10, anneal_strategy="exp"),
     "anneal_strategy must be 'cos' or 'linear'; received 'exp'"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=[1.0, 2.0], total_steps=10), "max_lr has 2 values for 1"),
    (lambda o: lr_scheduler.StepLR("sgd", 2), "optimizer must be a convzoo.optim.Optimizer; received str"),
])
def test_bad_arguments(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make(SGD([Parameter(np.zeros(1))], lr=0.1, momentum=0.9))


def test_one_cycle_needs_momentum_to_cycle():
    from convzoo.optim import Optimizer

    class Plain(Optimizer):
        def __init__(self, params):
            super().__init__(params, dict(lr=0.1))

    with pytest.raises(ValueError, match="needs an optimizer with momentum or betas; Plain has neither"):
        lr_scheduler.OneCycleLR(Plain([Parameter(np.zeros(1))]), max_lr=1.0, total_steps=5)
