"""``convzoo summary``: zoo models, checkpoints, JSON, and each bad input."""
import json

import pytest

from convzoo import models, train
from convzoo.cli import main


def run(capsys, *argv):
    code = main(["summary", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_zoo_model_table(capsys):
    code, out, _ = run(capsys, "--model", "lenet5")
    assert code == 0
    assert "LeNet5 on input (1, 28, 28)" in out and "16x16" in out and "Total params: 61,706" in out


def test_input_shape_and_num_classes(capsys):
    code, out, _ = run(capsys, "--model", "dilated", "--input-shape", "1x40x40", "--num-classes", "3")
    assert code == 0 and "(16, 40, 40)" in out and "(3,)" in out and "31x31" in out


def test_json_has_the_receptive_field_numbers(capsys):
    code, out, _ = run(capsys, "--model", "lenet5", "--json")
    data = json.loads(out)
    assert code == 0 and data["total_params"] == 61_706 and data["total_macs"] == 416_520
    pool2 = data["layers"][5]
    assert pool2["name"] == "features.5" and pool2["receptive_field"] == {"size": [16, 16], "jump": [4, 4],
                                                                        "start": [5.5, 5.5]}
    assert data["layers"][-1]["receptive_field"] == {"size": [28, 28], "jump": None, "start": None}


def test_checkpoint_uses_its_input_shape(capsys, tmp_path):
    model = models.get_model("mobilenet", num_classes=4)
    path = tmp_path / "mobilenet.npz"
    train.save_checkpoint(path, model, models.architecture(model), extra={"input_shape": [1, 36, 36]})
    code, out, _ = run(capsys, "--checkpoint", path)
    assert code == 0 and "MobileNet on input (1, 36, 36)" in out and "(4,)" in out
    assert f"Total params: {sum(p.size for p in model.parameters()):,}" in out


@pytest.mark.parametrize("argv, message", [
    (["--model", "resnet"], "unknown model 'resnet'"),
    (["--model", "lenet5", "--input-shape", "1,28"], "does not accept input_shape (1, 28)"),
    (["--model", "lenet5", "--input-shape", "1,-28,28"], "--input-shape must be positive ints"),
    (["--model", "lenet5", "--input-shape", "a,b"], "--input-shape must be positive ints"),
    (["--model", "lenet5", "--num-classes", "0"], "--num-classes must be a positive int"),
    (["--checkpoint", "{missing}"], "does not exist"),
    (["--checkpoint", "{garbage}"], "not a readable convzoo checkpoint"),
])
def test_bad_input(capsys, tmp_path, argv, message):
    (tmp_path / "garbage.npz").write_bytes(b"PK\x03\x04 broken")
    names = dict(missing=tmp_path / "missing.npz", garbage=tmp_path / "garbage.npz")
    code, _, err = run(capsys, *[a.format(**names) for a in argv])
    assert code == 2 and err.startswith("convzoo summary: error:") and message in err, err


def test_model_or_checkpoint_required(capsys):
    with pytest.raises(SystemExit) as info:
        main(["summary"])
    assert info.value.code == 2 and "one of the arguments --model --checkpoint is required" in capsys.readouterr().err
