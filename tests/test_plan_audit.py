"""The planner audit (``python -m benchmarks --plans``): what it times and how it scores the choices."""
import json
import math

import pytest

from convzoo.benchmark import plans
from convzoo.cli import main
from convzoo.kernels import planner

G = planner.ConvGeometry


def _geometries():
    # a padded 3x3 conv (several candidates for each op), its strided cousin, a dilated 1-D one
    return [
        ("forward", G.of((2, 8, 12, 12), (16, 8, 3, 3), (1, 1), (1, 1), 1, 4, inner=(10, 10))),
        ("backward_input", G.of((2, 8, 11, 11), (16, 8, 3, 3), (2, 2), (1, 1), 1, 4, (5, 5), (9, 9))),
        ("backward_weight", G.of((2, 8, 12, 12), (16, 8, 3, 3), (1, 1), (1, 1), 1, 4, (10, 10))),
        ("forward", G.of((3, 4, 20), (6, 4, 3), (1,), (2,), 1, 4, inner=(16,))),
    ]


def test_runner_builds_arrays_of_the_recorded_shapes_for_each_op():
    import numpy as np
    rng = np.random.default_rng(0)
    for op, g in _geometries():
        out = plans.runner(op, g, rng)("im2col")
        if op == "forward":
            assert out.shape == (g.batch, g.out_channels) + g.out
        elif op == "backward_input":
            assert out.shape == (g.batch, g.in_channels) + g.inner
        else:
            assert out.shape == (g.out_channels, g.in_channels // g.groups) + g.kernel


def test_audit_scores_the_cost_models_choice_against_the_fastest():
    seen = []

    def timer(fns):
        # every candidate runs; the model's own choice is made twice as slow as the others
        results = {name: fn() for name, fn in fns.items()}
        seen.append(set(results))
        return {name: 2.0 if name == chosen[-1] else 1.0 + 0.1 * i for i, name in enumerate(sorted(fns))}

    chosen = []
    pairs = _geometries()
    records = []
    for op, g in pairs:
        chosen.append(planner.plan(op, g).algorithm)
        records += plans.audit([(op, g)], timer)
    assert records and all(len(s) >= 2 for s in seen)
    for r in records:
        assert r["chosen"] in r["ms"] and set(r["ms"]) == set(r["estimate_ms"])
        assert r["ms"][r["fastest"]] == min(r["ms"].values()) and r["fastest"] != r["chosen"]
        assert r["loss"] == pytest.approx(math.log(2.0 / min(r["ms"].values())))
    lines = plans.summary(records)
    assert lines[0].startswith(f"plan audit: {len(records)} (op, geometry) pairs with a choice; "
                               f"the cost model chose the fastest in 0, within 10 % of it in 0")
    assert f"worst {len(records)}" in lines[2] and records[0]["geometry"] in "\n".join(lines)


def test_a_perfect_choice_scores_zero_loss():
    r = plans.record("forward", _geometries()[0][1], "im2col", {"im2col": 1.0, "fft": 3.0},
                     {"im2col": 2.0, "fft": 9.0})
    assert r["loss"] == 0.0 and r["fastest"] == "im2col"
    lines = plans.summary([r])
    assert "chose the fastest in 1, within 10 % of it in 1; summed log(chosen / fastest) 0.00" in lines[0]
    assert "estimate / measured time: median 3.00" in lines[1] and len(lines) == 2
    assert plans.summary([]) == ["plan audit: no convolution had two candidates"]


def test_quick_plan_audit_runs_end_to_end_and_writes_json(tmp_path, capsys):
    out = tmp_path / "plans.json"
    assert main(["bench", "--plans", "--quick", "--stock-allocator", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["quick"] and data["plans"] and "plan audit:" in text
    for r in data["plans"]:
        assert len(r["ms"]) >= 2 and r["chosen"] in r["ms"] and r["loss"] >= 0
        assert r["ms"][r["fastest"]] == min(r["ms"].values())


def test_plan_audit_takes_no_case_selection(capsys):
    assert main(["bench", "--plans", "--cases", "a", "--stock-allocator", "--json", "-"]) == 2
    assert "--plans audits every case and zoo model; it takes no --cases" in capsys.readouterr().err
    assert main(["bench", "--plans", "--markdown", "t.md", "--stock-allocator", "--json", "-"]) == 2
    assert "--plans writes no Markdown table (received --markdown t.md)" in capsys.readouterr().err
