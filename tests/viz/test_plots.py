"""Every picture: the PNG is written, decodes, has the expected size and is not blank; bad input is refused."""
import json
import sys

import numpy as np
import pytest
from PIL import Image

from convzoo import models, nn, train, viz
from tests.filters.conftest import drawn_scene


def check_png(path, size=None):
    with Image.open(path) as image:
        image.load()
        assert image.format == "PNG"
        if size is not None:
            assert image.size == size
        pixels = np.asarray(image.convert("RGB")).astype(np.int64)
    assert pixels.std() > 10, "the picture is (nearly) one colour"
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50, "too few colours for a real plot"
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")], "a temporary file was left behind"
    return pixels


@pytest.fixture(scope="module")
def lenet():
    return models.LeNet5()


@pytest.fixture(scope="module")
def digit():
    return np.random.default_rng(0).random((1, 28, 28)).astype(np.float32)


def test_kernels(tmp_path, lenet):
    check_png(viz.plot_kernels(lenet.features[0], tmp_path / "k1.png", size=(400, 500)), (400, 500))
    path = viz.plot_kernels(lenet.features[3], tmp_path / "k2.png", max_filters=4, max_channels=3)
    check_png(path)
    check_png(viz.plot_kernels(nn.Conv1d(2, 3, 5), tmp_path / "k3.png"))
    check_png(viz.plot_kernels(np.random.default_rng(1).standard_normal((2, 2, 3, 3, 3)), tmp_path / "k4.png"))


def test_feature_maps(tmp_path, lenet, digit):
    pixels = check_png(viz.plot_feature_maps(lenet, digit, tmp_path / "f.png", max_maps=4, size=(600, 300)), (600, 300))
    assert pixels.shape == (300, 600, 3)
    check_png(viz.plot_feature_maps(lenet, digit[0], tmp_path / "g.png", layers=["features.2"], max_maps=3))
    rgb = models.get_model("mobilenet", in_channels=3)
    check_png(viz.plot_feature_maps(rgb, drawn_scene()[:32, :32].transpose(2, 0, 1) / 255.0, tmp_path / "h.png",
                                    layers="stem.0", max_maps=3))


def test_receptive_field_overlay(tmp_path, lenet, digit):
    pixels = check_png(viz.plot_receptive_field(lenet, digit, tmp_path / "r.png", layer="features.3", index=(0, 0),
                                                size=(300, 320)), (300, 320))
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)
    assert red.sum() > 50  # the outline is drawn
    check_png(viz.plot_receptive_field(lenet, digit, tmp_path / "s.png"))


def test_curves_from_every_source(tmp_path):
    history = train.History([0, 1, 2], {"loss": [1.2, 0.7, 0.5], "accuracy": [0.6, 0.8, 0.9],
                                        "val_loss": [1.0, 0.8, 0.6], "val_accuracy": [0.7, 0.75, 0.85]})
    check_png(viz.plot_curves(history, tmp_path / "a.png", size=(640, 300)), (640, 300))
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"test_accuracy": 0.85, "history": history.history}))
    check_png(viz.plot_curves(metrics, tmp_path / "b.png"))
    check_png(viz.plot_curves({"loss": [3.0, 2.0, 1.5, 1.2]}, tmp_path / "c.png"))  # loss only: one panel
    model = models.LeNet5()
    checkpoint = tmp_path / "run.npz"
    train.save_checkpoint(checkpoint, model, models.architecture(model), epoch=3, history=history.to_dict())
    check_png(viz.plot_curves(checkpoint, tmp_path / "d.png"))
    assert viz.load_history(checkpoint) == history.history


def test_filter_panel(tmp_path):
    scene = drawn_scene()
    check_png(viz.plot_filters(scene, tmp_path / "p.png", size=(700, 250)), (700, 250))
    check_png(viz.plot_filters(scene[..., 0], tmp_path / "q.png", ["sobel", "emboss"]))
    check_png(viz.plot_filters(scene, tmp_path / "r.png", {"mine": 255 - scene}))


def test_existing_files_need_force(tmp_path, lenet):
    target = tmp_path / "k.png"
    target.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="force=True"):
        viz.plot_kernels(lenet.features[0], target)
    assert target.read_bytes() == b"keep me"
    check_png(viz.plot_kernels(lenet.features[0], target, force=True))


@pytest.mark.parametrize("call, error, message", [
    (lambda m, x, d: viz.plot_kernels(m.features[0], d / "k.jpg"), ValueError, "must end in .png"),
    (lambda m, x, d: viz.plot_kernels(m.features[0], d / "no" / "k.png"), FileNotFoundError, "does not exist"),
    (lambda m, x, d: viz.plot_kernels(m.classifier[1], d / "k.png"), ValueError, "received shape (120, 400)"),
    (lambda m, x, d: viz.plot_kernels(m.features[0], d / "k.png", max_filters=0), ValueError, "max_filters"),
    (lambda m, x, d: viz.plot_kernels(m.features[0], d / "k.png", size=(10, 10)), ValueError, "size must be"),
    (lambda m, x, d: viz.plot_kernels("conv", d / "k.png"), TypeError, "layer must be an array"),
    (lambda m, x, d: viz.plot_feature_maps(m, x, d / "f.png", layers=["nope"]), ValueError, "unknown layer(s) ['nope']"),
    (lambda m, x, d: viz.plot_feature_maps(m, x[None, None], d / "f.png"), ValueError, "image must be"),
    (lambda m, x, d: viz.plot_feature_maps(m, x, d / "f.png", max_maps=0), ValueError, "max_maps"),
    (lambda m, x, d: viz.plot_receptive_field(m, x, d / "r.png", layer="classifier.1"), ValueError, "unknown layer"),
    (lambda m, x, d: viz.plot_receptive_field(m, x, d / "r.png", index=(99, 0)), ValueError, "index must be"),
    (lambda m, x, d: viz.plot_curves({"lr": [0.1]}, d / "c.png"), ValueError, "no loss or accuracy"),
    (lambda m, x, d: viz.plot_curves([1, 2], d / "c.png"), ValueError, "expected a training history"),
    (lambda m, x, d: viz.plot_curves(d / "missing.json", d / "c.png"), FileNotFoundError, "does not exist"),
    (lambda m, x, d: viz.plot_filters(x[0], d / "p.png", []), ValueError, "at least one filter"),
])
def test_bad_input(tmp_path, lenet, digit, call, error, message):
    with pytest.raises(error) as info:
        call(lenet, digit, tmp_path)
    assert message in str(info.value)
    assert not list(tmp_path.glob("*.png"))


def test_missing_matplotlib_says_how_to_install(tmp_path, lenet, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'convzoo\[plot\]'"):
        viz.plot_kernels(lenet.features[0], tmp_path / "k.png")


def test_viz_does_not_touch_the_global_backend():
    import matplotlib

    before = matplotlib.get_backend()
    import convzoo.viz  # noqa: F401  (drawing imports only the Agg canvas)
    assert matplotlib.get_backend() == before
