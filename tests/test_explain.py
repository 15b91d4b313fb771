"""convzoo.explain and `convzoo explain`: the reported plan is the one that runs."""
import json

import numpy as np
import pytest

import convzoo
import convzoo.nn.functional as F
from convzoo.cli import main
from convzoo.kernels import planner
from convzoo.models import get_model


def test_explain_a_call_reports_all_three_passes():
    e = convzoo.explain(F.conv2d, (8, 32, 28, 28), (32, 1, 3, 3), groups=32, padding=1)
    (call,) = e.calls
    assert call.kind == "conv" and call.geometry.out == (28, 28) and call.geometry.padded == (30, 30)
    assert {role: p.algorithm for role, p in call.plans.items()} == {
        "output": "depthwise", "grad_input": "depthwise", "grad_weight": "depthwise"}
    output = call.plans["output"]
    assert output.reason == "cost model" and "im2col" in output.alternatives
    assert output.estimates["depthwise"] == min(output.estimates.values())
    assert "pointwise" in output.unsupported and "1x1" in output.unsupported["pointwise"]
    text = str(e)
    assert "depthwise (cost model" in text and "use_algorithm" in text and "algorithm=" in text


def test_explain_reports_forcing_and_the_plan_that_runs():
    x = np.random.default_rng(0).standard_normal((1, 2, 9, 9))
    w = np.random.default_rng(1).standard_normal((3, 2, 3, 3))
    e = convzoo.explain(F.conv2d, x, w, padding=1, algorithm="fft")
    assert e.calls[0].plans["output"].algorithm == "fft" and e.calls[0].plans["output"].reason == "forced"
    with convzoo.use_algorithm("winograd_f2"):
        e = convzoo.explain(F.conv2d, x, w)
    plans = e.calls[0].plans
    assert plans["output"].algorithm == "winograd_f2"
    assert plans["grad_weight"].reason == "forced"  # winograd implements all three passes
    with planner.record() as log:  # what explain reports is what the kernels run
        F.conv2d(x, w, algorithm="fft")
    assert log[0][1]["forward"].algorithm == "fft"


@pytest.mark.parametrize("target, x_shape, w_shape, kwargs", [
    (F.conv2d, (2, 3, 23, 24), (4, 3, 3, 3), dict(stride=2, padding=1)),  # reads 25 of 25 rows, 25 of 26 columns
    (F.conv2d, (1, 2, 17, 17), (2, 2, 4, 4), dict(stride=3, padding=2, dilation=2)),
    (F.conv_transpose2d, (1, 4, 9, 9), (4, 2, 4, 4), dict(stride=2, padding=1, output_padding=1)),
])
def test_explained_gradient_plans_are_those_the_backward_makes(target, x_shape, w_shape, kwargs, monkeypatch):
    # the gradient kernels plan on the extent of the padded input some window reads; explain must too
    explained = {p.op: p.geometry for p in convzoo.explain(target, x_shape, w_shape, **kwargs).calls[0].plans.values()}
    asked, choose = {}, planner.choose

    def spy(op, geometry, algorithm=None):
        asked[op] = geometry
        return choose(op, geometry, algorithm)

    monkeypatch.setattr(planner, "choose", spy)
    rng = np.random.default_rng(2)
    x = convzoo.tensor(rng.standard_normal(x_shape).astype(np.float32), requires_grad=True)
    w = convzoo.tensor(rng.standard_normal(w_shape).astype(np.float32), requires_grad=True)
    target(x, w, **kwargs).sum().backward()
    assert set(asked) == set(planner.OPS)
    assert explained == asked


def test_explain_a_transposed_conv_maps_its_passes():
    e = convzoo.explain(F.conv_transpose2d, (8, 128, 28, 28), (128, 64, 2, 2), stride=2)
    call = e.calls[0]
    assert call.kind == "conv_transpose"
    assert call.plans["output"].op == "backward_input" and call.plans["output"].algorithm == "subpixel"
    assert call.plans["grad_input"].op == "forward"
    assert "conv_transpose N=8 C=128->64" in str(e) and "-> uncropped (56, 56)" in str(e)
    # zero padding is cropped by the kernels: the output size, then the size before the crop
    e = convzoo.explain(F.conv_transpose2d, (1, 128, 28, 28), (128, 64, 4, 4), stride=2, padding=1)
    assert "-> (56, 56) (uncropped (58, 58))" in str(e)


def test_explain_a_model_names_its_layers_and_is_json():
    model = get_model("lenet5")
    e = convzoo.explain(model, (4, 1, 28, 28))
    assert [c.name for c in e.calls] == ["features.0", "features.3"]
    assert model.training  # explain puts the model back in training mode
    data = json.loads(json.dumps(e.to_dict()))
    assert data["calls"][1]["geometry"]["kernel"] == [5, 5]
    assert data["calls"][0]["passes"]["output"]["algorithm"] in planner.ALGORITHMS


def test_explain_rejects_bad_targets_and_shapes():
    with pytest.raises(TypeError, match="target must be"):
        convzoo.explain("conv2d", (1, 1, 4, 4))
    with pytest.raises(ValueError, match="shape must be positive"):
        convzoo.explain(F.conv2d, (1, 0, 4, 4), (1, 1, 3, 3))


def test_cli_explain(capsys):
    assert main(["explain", "--input", "2,8,16,16", "--weight", "8,8,1,1"]) == 0
    assert "pointwise (cost model" in capsys.readouterr().out
    assert main(["explain", "--model", "lenet5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["calls"][0]["name"] == "features.0"
    assert main(["explain", "--input", "1,4,9,9", "--weight", "4,4,3,3", "--transposed", "--stride", "2",
                 "--algorithm", "subpixel"]) == 0
    assert "subpixel (forced" in capsys.readouterr().out
    assert main(["explain", "--input", "1,4,9,9", "--weight", "4,4,3,3", "--stride", "2",
                 "--algorithm", "fft"]) == 2
    assert "algorithm 'fft' cannot run" in capsys.readouterr().err
    assert main(["explain", "--input", "1,4,9,9", "--weight", "4,4,3,3", "--algorithm", "magic"]) == 2
    assert "--algorithm must be one of" in capsys.readouterr().err


def test_an_algorithm_over_the_workspace_limit_is_said_so_and_json_stays_strict():
    # U of F(4x4,3x3) for 256 x 256 channels (9.4 MiB) is over the default 8 MiB: an infinite estimate
    e = convzoo.explain(F.conv2d, (32, 256, 8, 8), (256, 256, 3, 3), padding=1)
    assert "winograd_f4 over the workspace limit" in str(e)
    text = json.dumps(e.to_dict(), allow_nan=False)
    assert '"winograd_f4": null' in text
    with convzoo.use_algorithm("winograd_f4"):
        assert "forced, est. over the workspace limit" in str(convzoo.explain(F.conv2d, (32, 256, 8, 8),
                                                                              (256, 256, 3, 3), padding=1))
