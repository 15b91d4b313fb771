"""fit and evaluate: metrics, progress, checkpoints each epoch, exact resume after an interruption."""
import io

import numpy as np
import pytest

from convzoo import data, models, optim, train
from convzoo.nn import functional as F

TRAIN = np.arange(384)
VAL = np.arange(128)


def loaders(seed=5, augment=False):
    train_set = data.Subset(data.get_dataset("embedded", augment=augment), TRAIN)
    val_set = data.Subset(data.get_dataset("embedded", train=False), VAL)
    return (data.DataLoader(train_set, batch_size=32, shuffle=True, seed=seed),
            data.DataLoader(val_set, batch_size=64))


def small_vgg():
    # BatchNorm, Dropout (random masks) and max pooling: every kind of state a resume must restore
    return models.get_model("vgg", channels=(4, 8), hidden=16, dropout=0.3)


def test_fit_returns_a_history_and_learns():
    train.manual_seed(0)
    model = models.get_model("lenet5")
    train_loader, val_loader = loaders()
    stream = io.StringIO()
    history = train.fit(model, optim.Adam(model.parameters(), lr=3e-3), train_loader, 3, val_loader=val_loader,
                        progress=stream)
    assert history.epoch == [0, 1, 2]
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds",
                                    "images_per_second"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["val_accuracy"][-1] > 0.6  # ten classes: chance is 0.1
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and lines[0].startswith("epoch 1/3 [") and "12/12" in lines[0]
    assert all(k in lines[-1] for k in ("loss", "accuracy", "val_accuracy", "img/s"))


def test_evaluate_matches_a_direct_computation():
    train.manual_seed(1)
    model = models.get_model("lenet5")
    _, val_loader = loaders()
    result = train.evaluate(model, val_loader)
    x, y = val_loader.dataset.get_batch(np.arange(len(VAL)))
    logits = model.eval()(x)
    assert result["count"] == len(VAL)
    assert result["loss"] == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)
    assert result["accuracy"] == np.mean(logits.numpy().argmax(1) == y)
    assert model.training is False  # evaluate restores the mode it found (here: eval)


def run(tmp_path, epochs, interrupt_after=None, resume=None, init_seed=0):
    train.manual_seed(init_seed)
    model = small_vgg()
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    train_loader, val_loader = loaders(augment=True)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, epochs=epochs, steps_per_epoch=len(train_loader))

    def stop(epoch, logs, history):
        if epoch + 1 == interrupt_after:
            raise KeyboardInterrupt

    history = train.fit(model, opt, train_loader, epochs, val_loader=val_loader, scheduler=sched,
                        scheduler_step="batch", checkpoint=tmp_path / "run.npz", architecture=models.architecture(model),
                        resume=resume, progress=None, callbacks=[stop])
    return model, history


def test_resume_after_an_interruption_equals_the_uninterrupted_run(tmp_path):
    straight, straight_history = run(tmp_path / "a", 3)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", 3, interrupt_after=1)
    saved = train.read_checkpoint(tmp_path / "b" / "run.npz")
    assert saved.epoch == 1  # the finished epoch survived the interruption
    resumed, history = run(tmp_path / "b", 3, resume=tmp_path / "b" / "run.npz", init_seed=99)
    for key, value in straight.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value, err_msg=key)
    assert history.epoch == [0, 1, 2]
    assert history.history["loss"] == straight_history.history["loss"]
    assert history.history["val_accuracy"] == straight_history.history["val_accuracy"]
    assert train.read_checkpoint(tmp_path / "b" / "run.npz").epoch == 3


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_a_diverging_run_stops_with_a_clear_error():
    train.manual_seed(0)
    model = models.get_model("lenet5")
    train_loader, _ = loaders()
    with pytest.raises(FloatingPointError, match=r"loss became (nan|inf) at epoch 1, batch \d+; try a smaller"):
        train.fit(model, optim.SGD(model.parameters(), lr=1e6), train_loader, 1, progress=None)


@pytest.mark.parametrize("kwargs, message", [
    (dict(epochs=-1), "epochs must be a non-negative int; received -1"),
    (dict(epochs=1, scheduler_step="sometimes"), "scheduler_step must be 'epoch' or 'batch'; received 'sometimes'"),
])
def test_bad_arguments(kwargs, message):
    model = models.get_model("lenet5")
    with pytest.raises(ValueError, match=message):
        train.fit(model, optim.SGD(model.parameters(), lr=0.1), loaders()[0], **kwargs)


def test_progress_bar_redraws_in_place_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    bar = train.ProgressBar(4, 1, 2, stream)
    for done in range(1, 5):
        bar.last_draw = 0.0  # let every update draw
        bar.update(done, {"loss": 0.5, "accuracy": 0.25}, done * 10)
    bar.close({"loss": 0.5, "accuracy": 0.25, "val_loss": 0.4, "val_accuracy": 0.5}, 40)
    out = stream.getvalue()
    assert out.count("\r") == 5 and out.endswith("\n") and "ETA" in out and "4/4" in out
    assert "accuracy 25.00%" in out and "val_accuracy 50.00%" in out
