"""convzoo train / eval / predict, in process: tiny runs, metrics JSON, exact resume, every bad input."""
import json
import shutil
import sys

import numpy as np
import pytest

from convzoo import data, train
from convzoo.cli import main
from convzoo.data import MNIST

TINY = ["--limit", "256", "--batch-size", "32", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny run shared by the eval and predict tests: (checkpoint path, metrics dict)."""
    folder = tmp_path_factory.mktemp("run")
    assert main(["train", "--epochs", "2", "--out", str(folder / "c.npz"), "--metrics", str(folder / "m.json")]
                + TINY) == 0
    return folder / "c.npz", json.loads((folder / "m.json").read_text())


def test_train_writes_checkpoint_and_metrics(trained, capsys):
    path, metrics = trained
    for key in ("test_accuracy", "test_loss", "epochs", "seconds", "images_per_second"):
        assert key in metrics
    assert metrics["epochs"] == 2 and 0.3 < metrics["test_accuracy"] <= 1 and metrics["test_loss"] > 0
    assert metrics["seconds"] > 0 and metrics["images_per_second"] > 0
    assert metrics["settings"]["model"] == "lenet5" and metrics["settings"]["dataset"] == "embedded"
    assert len(metrics["history"]["loss"]) == 2
    saved = train.read_checkpoint(path)
    assert saved.epoch == 2 and saved.architecture["name"] == "lenet5" and saved.extra["classes"][7] == "7"


def test_train_prints_held_out_accuracy(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default checkpoint goes to the working directory
    assert main(["train", "--epochs", "1", "--limit", "64"]) == 0
    captured = capsys.readouterr()
    assert "lenet5 on embedded: held-out accuracy" in captured.out and "on 2000 images" in captured.out
    assert "epoch 1/1 [" in captured.err and "img/s" in captured.err  # the progress bar, on stderr
    assert (tmp_path / "lenet5-embedded.npz").exists()


def test_eval_reproduces_the_training_metrics(trained, tmp_path, capsys):
    path, metrics = trained
    assert main(["eval", str(path), "--metrics", str(tmp_path / "e.json")]) == 0
    assert "accuracy" in capsys.readouterr().out
    evaluated = json.loads((tmp_path / "e.json").read_text())
    assert evaluated["test_accuracy"] == metrics["test_accuracy"] and evaluated["images"] == 2000
    assert evaluated["test_loss"] == pytest.approx(metrics["test_loss"], rel=1e-6)


def write_digits(tmp_path, count=3):
    from PIL import Image

    held_out = data.EmbeddedMNIST(train=False)
    paths = []
    for i in range(count):
        paths.append(tmp_path / f"digit{i}.png")
        Image.fromarray(held_out.data[i]).save(paths[-1])
    # the same first digit, dark on light and bigger, as a JPEG (predict inverts and resizes it)
    Image.fromarray(255 - held_out.data[0]).resize((56, 56)).save(tmp_path / "inverted.jpg", quality=95)
    return paths, tmp_path / "inverted.jpg", held_out


def test_predict_prints_class_and_probability(trained, tmp_path, capsys):
    path, _ = trained
    paths, inverted, held_out = write_digits(tmp_path)
    assert main(["predict", str(path)] + [str(p) for p in paths] + [str(inverted), "--top", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4
    model, _ = train.load_model(path)
    x, _ = held_out.get_batch(np.arange(3))
    expected = model(x).numpy().argmax(1)
    for line, p, label in zip(lines, paths, expected):
        name, rest = line.split(": ")
        assert name == str(p)
        first, second = rest.split(", ")
        assert first.split()[0] == str(label) and 0 < float(first.split()[1]) <= 1
        assert float(second.split()[1]) <= float(first.split()[1])
    assert lines[3].split(": ")[1].split()[0] == str(expected[0])  # inverted and resized, same answer


def test_resume_after_an_interruption_equals_the_uninterrupted_run(tmp_path, monkeypatch, capsys):
    args = ["train", "--epochs", "3", "--optimizer", "sgd", "--scheduler", "onecycle", "--augment"] + TINY
    assert main(args + ["--out", str(tmp_path / "a.npz"), "--metrics", str(tmp_path / "a.json")]) == 0

    real_save, calls = train.loop.save_checkpoint, []

    def save_then_die(*a, **k):  # the process is killed right after the first epoch's checkpoint
        real_save(*a, **k)
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr(train.loop, "save_checkpoint", save_then_die)
    assert main(args + ["--out", str(tmp_path / "b.npz")]) == 130
    assert "convzoo train --resume" in capsys.readouterr().err
    monkeypatch.undo()
    assert train.read_checkpoint(tmp_path / "b.npz").epoch == 1
    assert main(["train", "--resume", str(tmp_path / "b.npz"), "--quiet", "--metrics", str(tmp_path / "b.json")]) == 0
    a, b = train.read_checkpoint(tmp_path / "a.npz"), train.read_checkpoint(tmp_path / "b.npz")
    assert b.epoch == 3
    for key, value in a.model_state.items():
        np.testing.assert_array_equal(b.model_state[key], value, err_msg=key)
    ma, mb = (json.loads((tmp_path / f"{n}.json").read_text()) for n in "ab")
    assert ma["test_accuracy"] == mb["test_accuracy"] and ma["history"]["loss"] == mb["history"]["loss"]


def test_model_config_is_used_stored_and_rebuilt(tmp_path, capsys):
    path = tmp_path / "small.npz"
    assert main(["train", "--model", "vgg", "--config", '{"channels": [4, 8], "hidden": 16}', "--epochs", "1",
                 "--out", str(path)] + TINY) == 0
    saved = train.read_checkpoint(path)
    assert saved.architecture["config"]["channels"] == [4, 8] and saved.architecture["config"]["hidden"] == 16
    assert main(["eval", str(path)]) == 0 and "vgg after 1 epochs" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["train", "--config", "{channels: 4}"])
    assert "argument --config: not valid JSON" in capsys.readouterr().err
    assert "model 'lenet5' takes no argument(s) ['width']" in run_error(["train", "--config", '{"width": 2}'], capsys)


def run_error(args, capsys):
    assert main(args) == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["train", "--dataset", "mnist"], "--dataset mnist needs --data-dir DIR"),
    (["train", "--epochs", "0"], "--epochs must be a positive int; received 0"),
    (["train", "--lr", "-1"], "--lr must be positive; received -1.0"),
    (["train", "--batch-size", "0"], "--batch-size must be a positive int; received 0"),
    (["train", "--resume", "nowhere.npz"], "checkpoint nowhere.npz does not exist"),
    (["eval", "nowhere.npz"], "checkpoint nowhere.npz does not exist"),
])
def test_bad_arguments(args, message, capsys):
    assert message in run_error(args, capsys)


def test_unknown_model_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--model", "resnet"])
    assert exit_info.value.code == 2 and "invalid choice: 'resnet'" in capsys.readouterr().err


def test_missing_or_corrupt_dataset_file_is_named(tmp_path, capsys):
    err = run_error(["train", "--dataset", "mnist", "--data-dir", str(tmp_path)], capsys)
    assert "missing file" in err and "train-images-idx3-ubyte.gz" in err
    for name in MNIST.files["test"]:
        shutil.copy(data.EmbeddedMNIST.directory / name, tmp_path / name)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes((tmp_path / "t10k-images-idx3-ubyte.gz").read_bytes()[:5000])
    err = run_error(["eval", "--dataset", "mnist", "--data-dir", str(tmp_path), str(_checkpoint(tmp_path))], capsys)
    assert "t10k-images-idx3-ubyte.gz is corrupt or incomplete" in err


def _checkpoint(folder):
    from convzoo import models

    model = models.get_model("lenet5")
    return train.save_checkpoint(folder / "fresh.npz", model, models.architecture(model),
                                 extra={"settings": {"dataset": "embedded"}})


def test_truncated_checkpoint_is_reported(trained, tmp_path, capsys):
    path, _ = trained
    broken = tmp_path / "broken.npz"
    broken.write_bytes(path.read_bytes()[:-2000])
    for command in (["eval", str(broken)], ["predict", str(broken), str(broken)], ["train", "--resume", str(broken)]):
        assert "truncated or corrupt" in run_error(command, capsys)


def test_checkpoint_of_another_architecture_names_the_keys(trained, tmp_path, capsys):
    from convzoo import models

    vgg = models.get_model("vgg")
    path = train.save_checkpoint(tmp_path / "liar.npz", vgg, {"name": "lenet5", "config": {}})
    err = run_error(["eval", str(path)], capsys)
    assert "does not fit LeNet5: missing keys ['features.0.bias'" in err and "unexpected keys" in err


def test_resume_refuses_changed_settings(trained, capsys):
    path, _ = trained
    err = run_error(["train", "--resume", str(path), "--lr", "0.5"], capsys)
    assert "a resumed run keeps its own settings; drop --lr 0.5 (the checkpoint has 0.002)" in err


def test_predict_bad_images(trained, tmp_path, capsys, monkeypatch):
    path, _ = trained
    assert "image nothing.png does not exist" in run_error(["predict", str(path), "nothing.png"], capsys)
    (tmp_path / "text.png").write_text("not an image")
    assert "cannot read image" in run_error(["predict", str(path), str(tmp_path / "text.png")], capsys)
    assert "--top must be a positive int" in run_error(["predict", str(path), "x.png", "--top", "0"], capsys)
    monkeypatch.setitem(sys.modules, "PIL", None)  # as if Pillow were not installed
    (tmp_path / "x.png").write_bytes(b"")
    assert "pip install 'convzoo[images]'" in run_error(["predict", str(path), str(tmp_path / "x.png")], capsys)


def test_the_default_run_reaches_97_percent_held_out(tmp_path, monkeypatch, capsys):
    # exactly the README's first command: LeNet-5, 8 epochs on the embedded digits (about a minute)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--metrics", "metrics.json"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["epochs"] == 8 and metrics["settings"]["model"] == "lenet5"
    assert metrics["test_accuracy"] >= 0.97, metrics["test_accuracy"]
    assert "held-out accuracy" in capsys.readouterr().out


def test_metrics_are_written_atomically(tmp_path, monkeypatch):
    # a metrics file is replaced in one step: a write that dies half-way leaves the old file whole
    from pathlib import Path

    from convzoo.cli.train import write_metrics
    path = tmp_path / "m.json"
    path.write_text('{"test_accuracy": 0.5}\n')
    real = Path.write_text

    def dies_half_way(self, text, *args, **kwargs):
        real(self, text[:len(text) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_text", dies_half_way)
    with pytest.raises(OSError, match="disk full"):
        write_metrics(path, {"test_accuracy": 0.9, "history": {"loss": [1.0, 0.5]}})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"test_accuracy": 0.5}
    write_metrics(path, {"test_accuracy": 0.9})
    assert json.loads(path.read_text()) == {"test_accuracy": 0.9}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]  # no temporary file left
