"""``fit`` and ``evaluate``: the training loop, validation metrics, per-epoch checkpoints and resume."""
import math
import sys
import time

import numpy as np

from ..autograd import no_grad
from ..nn import functional as F
from .checkpoint import Checkpoint, read_checkpoint, save_checkpoint
from .progress import ProgressBar
from .seeding import get_rng_state, set_rng_state


class History:
    """What ``fit`` returns, shaped like Keras's ``History``.

    Attributes:
        epoch: the 0-based indices of the finished epochs.
        history: metric name -> one value per finished epoch: ``loss`` and ``accuracy`` (training,
            averaged over the epoch's samples), ``val_loss`` and ``val_accuracy`` (with a validation
            loader), ``lr`` (first group's rate during the epoch), ``seconds`` and ``images_per_second``.

    Example:
        >>> history = History()
        >>> history.append(0, {"loss": 0.5, "accuracy": 0.9})
        >>> history.history, history.last()["loss"]
        ({'loss': [0.5], 'accuracy': [0.9]}, 0.5)
    """

    def __init__(self, epoch=(), history=None):
        self.epoch = list(epoch)
        self.history = {k: list(v) for k, v in (history or {}).items()}

    def append(self, epoch, logs):
        self.epoch.append(int(epoch))
        for name, value in logs.items():
            self.history.setdefault(name, []).append(value)

    def last(self):
        """The metrics of the last finished epoch."""
        return {name: values[-1] for name, values in self.history.items()}

    def to_dict(self):
        return {"epoch": list(self.epoch), "history": {k: list(v) for k, v in self.history.items()}}

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, metrics={sorted(self.history)})"


def _batch_metrics(out, target, loss):
    """(loss sum, correct count or None, sample count) of one batch; accuracy needs class labels."""
    n = out.shape[0]
    target = target.numpy() if hasattr(target, "numpy") else np.asarray(target)
    correct = None
    if out.ndim == 2 and target.ndim == 1 and target.dtype.kind in "iu":
        correct = int(np.count_nonzero(out.numpy().argmax(axis=1) == target))
    return float(loss.item()) * n, correct, n


def _summary(loss_sum, correct, count, seconds):
    return {"loss": loss_sum / count if count else float("nan"),
            "accuracy": None if correct is None else correct / count,
            "count": count, "seconds": seconds, "images_per_second": count / seconds if seconds > 0 else 0.0}


def evaluate(model, loader, loss_fn=None):
    """Average loss and accuracy of model over loader, in eval mode and without a graph.

    Args:
        model: the Module (called on each batch's input).
        loader: yields (input, target) batches.
        loss_fn: ``loss_fn(output, target)`` with mean reduction; cross entropy by default.

    Returns:
        dict with ``loss`` (mean per sample), ``accuracy`` (None unless targets are class labels),
        ``count``, ``seconds`` and ``images_per_second``.
    """
    loss_fn = F.cross_entropy if loss_fn is None else loss_fn
    was_training = model.training
    model.eval()
    start, loss_sum, correct, count = time.perf_counter(), 0.0, 0, 0
    try:
        with no_grad():
            for x, y in loader:
                out = model(x)
                batch_loss, batch_correct, n = _batch_metrics(out, y, loss_fn(out, y))
                loss_sum, count = loss_sum + batch_loss, count + n
                correct = None if batch_correct is None or correct is None else correct + batch_correct
    finally:
        model.train(was_training)
    return _summary(loss_sum, correct, count, time.perf_counter() - start)


def fit(model, optimizer, train_loader, epochs=1, *, loss_fn=None, val_loader=None, scheduler=None,
        scheduler_step="epoch", checkpoint=None, architecture=None, extra=None, resume=None, progress=True,
        callbacks=()):
    """Train model for ``epochs`` epochs (counting epochs already done in a resumed run).

    Every epoch: shuffle (``train_loader.set_epoch``), one optimizer step per batch, validation,
    a scheduler step, then (with ``checkpoint``) an atomic checkpoint with everything needed to
    resume. Resuming from that file gives bit-for-bit the weights of the uninterrupted run,
    because the data order depends only on the loader's seed and the epoch, and the checkpoint
    holds the optimizer, scheduler and RNG states. An interrupted run loses at most the epoch in
    progress.

    Args:
        model: the Module to train.
        optimizer: a ``convzoo.optim`` optimizer over the model's parameters.
        train_loader: yields (input, target) batches; a ``DataLoader`` for reproducible shuffling.
        epochs: the total number of epochs of the run.
        loss_fn: ``loss_fn(output, target)`` returning a scalar Tensor; cross entropy by default.
        val_loader: batches for validation metrics after each epoch, or None.
        scheduler: a learning-rate scheduler, or None.
        scheduler_step: "epoch" (step after each epoch) or "batch" (after each batch, for OneCycleLR).
        checkpoint: path of the checkpoint written after each epoch, or None.
        architecture: ``{"name": ..., "config": ...}`` stored in the checkpoint (needed to rebuild the model).
        extra: JSON-able information stored in the checkpoint (dataset, preprocessing, classes).
        resume: a checkpoint path (or ``Checkpoint``) to continue from; its epoch count is kept.
        progress: True for a progress bar on stderr, a stream to draw it on, or None/False for silence.
        callbacks: callables ``callback(epoch, logs, history)`` run after each epoch.

    Returns:
        History: per-epoch metrics (see ``History``).

    Raises:
        FloatingPointError: the loss became NaN or infinite (the message gives epoch and batch).
    """
    if not isinstance(epochs, (int, np.integer)) or isinstance(epochs, bool) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int; received {epochs!r}")
    if scheduler_step not in ("epoch", "batch"):
        raise ValueError(f"scheduler_step must be 'epoch' or 'batch'; received {scheduler_step!r}")
    loss_fn = F.cross_entropy if loss_fn is None else loss_fn
    progress = sys.stderr if progress is True else (progress or None)
    history, start_epoch = History(), 0
    if resume is not None:
        saved = resume if isinstance(resume, Checkpoint) else read_checkpoint(resume)
        saved.restore(model, optimizer, scheduler)
        if saved.rng is not None:
            set_rng_state(saved.rng)
        if saved.history:
            history = History(saved.history["epoch"], saved.history["history"])
        start_epoch = saved.epoch
    for epoch in range(start_epoch, epochs):
        bar = ProgressBar(len(train_loader), epoch + 1, epochs, progress)
        logs = _train_epoch(model, optimizer, train_loader, loss_fn, scheduler if scheduler_step == "batch" else None,
                            epoch, bar)
        images = logs.pop("images")
        if val_loader is not None:
            val = evaluate(model, val_loader, loss_fn)
            logs.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
        if scheduler is not None and scheduler_step == "epoch":
            scheduler.step()
        history.append(epoch, logs)
        bar.close({k: v for k, v in logs.items() if k in ("loss", "accuracy", "val_loss", "val_accuracy")}, images)
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, architecture or {"name": type(model).__name__, "config": {}},
                            optimizer, scheduler, epoch + 1, history.to_dict(), get_rng_state(), extra)
        for callback in callbacks:
            callback(epoch, logs, history)
    return history


def _train_epoch(model, optimizer, loader, loss_fn, batch_scheduler, epoch, bar):
    model.train()
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch)
    lr = optimizer.param_groups[0]["lr"]
    start, loss_sum, correct, count = time.perf_counter(), 0.0, 0, 0
    for b, (x, y) in enumerate(loader):
        out = model(x)
        loss = loss_fn(out, y)
        if not math.isfinite(float(loss.item())):
            raise FloatingPointError(f"the training loss became {loss.item()} at epoch {epoch + 1}, batch {b + 1}; "
                                     f"try a smaller learning rate (it is {optimizer.param_groups[0]['lr']})")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if batch_scheduler is not None:
            batch_scheduler.step()
        batch_loss, batch_correct, n = _batch_metrics(out, y, loss)
        loss_sum, count = loss_sum + batch_loss, count + n
        correct = None if batch_correct is None or correct is None else correct + batch_correct
        bar.update(b + 1, {"loss": loss_sum / count, "accuracy": None if correct is None else correct / count}, count)
    summary = _summary(loss_sum, correct, count, time.perf_counter() - start)
    return {"loss": summary["loss"], "accuracy": summary["accuracy"], "lr": lr, "seconds": summary["seconds"],
            "images_per_second": summary["images_per_second"], "images": count}
