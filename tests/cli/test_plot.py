"""``convzoo plot``: every kind of picture from the command line, and each bad input."""
import json

import numpy as np
import pytest
from PIL import Image

from convzoo import models, train
from convzoo.cli import main
from tests.filters.conftest import drawn_scene


def run(capsys, *argv):
    code = main(["plot", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def decoded(path):
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"))
    assert image.format == "PNG" and pixels.std() > 10
    return image.size


@pytest.fixture
def checkpoint(tmp_path):
    model = models.get_model("lenet5")
    history = train.History([0, 1], {"loss": [0.9, 0.4], "accuracy": [0.7, 0.9], "val_loss": [0.6, 0.5],
                                     "val_accuracy": [0.8, 0.85]})
    path = tmp_path / "lenet.npz"
    train.save_checkpoint(path, model, models.architecture(model), epoch=2, history=history.to_dict(),
                          extra={"input_shape": [1, 28, 28], "normalize": [0.1307, 0.3081]})
    return path


def test_kernels(capsys, tmp_path):
    code, out, _ = run(capsys, "kernels", "--model", "lenet5", "--layer", "features.3", "--max-filters", "4",
                       "-o", tmp_path / "k.png")
    assert code == 0 and "wrote" in out and decoded(tmp_path / "k.png")


def test_features_of_a_digit_and_of_an_image_file(capsys, tmp_path, checkpoint):
    assert run(capsys, "features", "--checkpoint", checkpoint, "--digit", "3", "--max-maps", "3",
               "-o", tmp_path / "f.png")[0] == 0
    decoded(tmp_path / "f.png")
    photo = tmp_path / "scene.png"
    Image.fromarray(drawn_scene()).save(photo)  # 80x64 colour, resized to the checkpoint's 28x28 grey
    assert run(capsys, "features", "--checkpoint", checkpoint, "--image", photo, "--layers", "features.0",
               "-o", tmp_path / "g.png")[0] == 0
    decoded(tmp_path / "g.png")


def test_field(capsys, tmp_path):
    assert run(capsys, "field", "--model", "lenet5", "--layer", "features.3", "--index", "0,9",
               "-o", tmp_path / "r.png")[0] == 0
    assert decoded(tmp_path / "r.png") == (480, 480)


def test_curves_from_checkpoint_and_metrics(capsys, tmp_path, checkpoint):
    assert run(capsys, "curves", checkpoint, "-o", tmp_path / "c.png")[0] == 0
    assert decoded(tmp_path / "c.png") == (800, 360)
    metrics = tmp_path / "m.json"
    metrics.write_text(json.dumps({"history": {"loss": [2.0, 1.0, 0.5]}}))
    assert run(capsys, "curves", metrics, "-o", tmp_path / "d.png")[0] == 0
    decoded(tmp_path / "d.png")


def test_filters(capsys, tmp_path):
    photo = tmp_path / "scene.png"
    Image.fromarray(drawn_scene()).save(photo)
    assert run(capsys, "filters", photo, "-k", "sobel,box", "-o", tmp_path / "p.png")[0] == 0
    assert decoded(tmp_path / "p.png") == (780, 300)


@pytest.mark.parametrize("argv, message", [
    (["kernels", "--model", "lenet5", "--layer", "classifier.1", "-o", "{out}"], "unknown conv layer 'classifier.1'"),
    (["kernels", "--model", "nope", "-o", "{out}"], "unknown model 'nope'"),
    (["kernels", "--checkpoint", "{missing}", "-o", "{out}"], "does not exist"),
    (["kernels", "--model", "lenet5", "-o", "{jpg}"], "must end in .png"),
    (["kernels", "--model", "lenet5", "-o", "{existing}"], "exists; pass --force"),
    (["features", "--model", "lenet5", "--layers", "nope", "-o", "{out}"], "unknown layer(s) ['nope']"),
    (["features", "--model", "lenet5", "--digit", "99999", "-o", "{out}"], "--digit must be in"),
    (["features", "--model", "lenet5", "--image", "{missing}", "-o", "{out}"], "does not exist"),
    (["features", "--model", "lenet5", "--image", "{garbage}", "-o", "{out}"], "cannot read"),
    (["field", "--model", "lenet5", "--index", "1", "-o", "{out}"], "--index must be ROW,COL"),
    (["field", "--model", "lenet5", "--index", "50,50", "-o", "{out}"], "index must be (row, column) inside"),
    (["curves", "{missing}", "-o", "{out}"], "does not exist"),
    (["curves", "{garbage}", "-o", "{out}"], "not a JSON metrics file"),
    (["curves", "{badnpz}", "-o", "{out}"], "not a readable convzoo checkpoint"),
    (["filters", "{missing}", "-o", "{out}"], "does not exist"),
    (["filters", "{scene}", "-k", "sobel,nope", "-o", "{out}"], "unknown kernel name(s) ['nope']"),
])
def test_bad_input(capsys, tmp_path, argv, message):
    (tmp_path / "garbage.png").write_bytes(b"not an image")
    (tmp_path / "garbage.json").write_bytes(b"{not json")
    (tmp_path / "bad.npz").write_bytes(b"PK junk")
    (tmp_path / "existing.png").write_bytes(b"keep")
    Image.fromarray(drawn_scene()).save(tmp_path / "scene.png")
    names = dict(out=tmp_path / "o.png", missing=tmp_path / "missing.png", jpg=tmp_path / "o.jpg",
                 existing=tmp_path / "existing.png", garbage=tmp_path / ("garbage.json" if argv[0] == "curves" else
                                                                         "garbage.png"),
                 badnpz=tmp_path / "bad.npz", scene=tmp_path / "scene.png")
    code, _, err = run(capsys, *[a.format(**names) for a in argv])
    assert code == 2 and err.startswith("convzoo plot: error:") and message in err, err
    assert not (tmp_path / "o.png").exists() and (tmp_path / "existing.png").read_bytes() == b"keep"


def test_kind_is_required(capsys):
    with pytest.raises(SystemExit) as info:
        main(["plot"])
    assert info.value.code == 2 and "KIND" in capsys.readouterr().err
