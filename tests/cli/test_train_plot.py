"""``convzoo train --plot``: the curves are drawn from the run's history when training ends."""
import numpy as np
import pytest
from PIL import Image

from convzoo import train
from convzoo.cli import main
from convzoo.cli import train as train_command


@pytest.fixture
def quick_fit(monkeypatch):
    """train.fit replaced by two recorded epochs, so the test exercises the command, not the training."""
    calls = []

    def fit(model, optimizer, train_loader, epochs, **kwargs):
        calls.append(epochs)
        history = train.History()
        for epoch, (loss, accuracy) in enumerate([(0.8, 0.7), (0.4, 0.9)]):
            history.append(epoch, {"loss": loss, "accuracy": accuracy, "val_loss": loss + 0.1,
                                   "val_accuracy": accuracy - 0.05, "lr": 0.01, "seconds": 1.0,
                                   "images_per_second": 100.0})
        return history

    monkeypatch.setattr(train_command.train, "fit", fit)
    return calls


def test_plot_writes_the_curves(tmp_path, capsys, quick_fit):
    target = tmp_path / "curves.png"
    code = main(["train", "--epochs", "2", "--quiet", "--out", str(tmp_path / "run.npz"), "--plot", str(target)])
    assert code == 0 and quick_fit == [2]
    assert f"curves {target}" in capsys.readouterr().out
    with Image.open(target) as image:
        assert image.format == "PNG" and image.size == (800, 360)
        assert np.asarray(image.convert("L")).std() > 10


def test_plot_must_be_png_and_is_checked_before_training(tmp_path, capsys, quick_fit):
    code = main(["train", "--epochs", "1", "--quiet", "--plot", str(tmp_path / "curves.jpg")])
    assert code == 2 and "--plot must name a .png file" in capsys.readouterr().err
    assert quick_fit == []
