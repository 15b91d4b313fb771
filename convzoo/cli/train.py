"""``convzoo train``: train a model of the zoo on MNIST-style images, with checkpoints and exact resume.

With no arguments it trains LeNet-5 on the MNIST digits that ship inside the package and prints
the held-out accuracy. ``--resume CHECKPOINT`` continues a saved run with that run's own settings.
"""
import argparse
import json
import sys
import time
from pathlib import Path

from .. import data, models, optim, train
from . import CommandError

# the settings of a run; a resumed run keeps them (the checkpoint stores them)
DEFAULTS = {"model": "lenet5", "dataset": "embedded", "batch_size": 64, "lr": None, "optimizer": "adam",
            "momentum": 0.9, "weight_decay": 0.0, "scheduler": "cosine", "augment": False, "seed": 0, "limit": None,
            "config": {}}
DEFAULT_LR = {"sgd": 0.05, "adam": 2e-3, "adamw": 2e-3}
DEFAULT_EPOCHS = 8
OPTIMIZERS = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW}
SCHEDULERS = ("none", "step", "cosine", "onecycle")


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "train", help="train a CNN (default: LeNet-5 on the embedded MNIST digits)",
        description="Train a model of the zoo on MNIST-style 28x28 images. With no arguments: LeNet-5 on the "
                    "8,000 MNIST digits that ship with convzoo, then the accuracy on 2,000 held-out digits.")
    parser.add_argument("--model", choices=models.list_models("classification"),
                        help=f"architecture (default {DEFAULTS['model']})")
    parser.add_argument("--config", type=_config, metavar="JSON",
                        help="constructor arguments of the model as a JSON object, e.g. '{\"channels\": [8, 16]}'")
    parser.add_argument("--dataset", choices=list(data.DATASETS),
                        help="embedded: MNIST digits shipped in the package; mnist, fashion-mnist: the original "
                             f"files in --data-dir (default {DEFAULTS['dataset']})")
    parser.add_argument("--data-dir", type=Path, metavar="DIR", help="directory holding the four original .gz files")
    parser.add_argument("--download", action="store_true", help="download missing dataset files into --data-dir")
    parser.add_argument("--epochs", type=int, metavar="N", help=f"total epochs of the run (default {DEFAULT_EPOCHS})")
    parser.add_argument("--batch-size", type=int, metavar="N", help=f"batch size (default {DEFAULTS['batch_size']})")
    parser.add_argument("--lr", type=float, help="learning rate (default 0.05 for sgd, 0.002 for adam/adamw)")
    parser.add_argument("--optimizer", choices=list(OPTIMIZERS), help=f"default {DEFAULTS['optimizer']}")
    parser.add_argument("--momentum", type=float, help="SGD momentum (default 0.9)")
    parser.add_argument("--weight-decay", type=float, help="weight decay (default 0)")
    parser.add_argument("--scheduler", choices=SCHEDULERS,
                        help="learning-rate schedule over the run's epochs: step (x0.1 every third of the run), "
                             "cosine, onecycle (per batch, peak at --lr), none (default cosine)")
    parser.add_argument("--augment", action="store_true", default=None,
                        help="random crops of the image padded by 2 pixels")
    parser.add_argument("--seed", type=int, help="seed for initial weights, data order and augmentation (default 0)")
    parser.add_argument("--limit", type=int, metavar="N", help="train on the first N training images only (a quick run)")
    parser.add_argument("--out", type=Path, metavar="FILE",
                        help="checkpoint written after every epoch (default MODEL-DATASET.npz)")
    parser.add_argument("--resume", type=Path, metavar="CHECKPOINT",
                        help="continue the run saved in CHECKPOINT with its settings, up to its planned epochs "
                             "(or a new total --epochs)")
    parser.add_argument("--metrics", type=Path, metavar="FILE", help="write the final metrics as JSON to FILE")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--plot", type=Path, metavar="CURVES.png", help="draw loss and accuracy per epoch to this PNG")
    parser.set_defaults(func=run)


def _config(text):
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object such as '{{\"hidden\": 64}}'; received {text!r}")
    return value


def settings_of(args, saved=None):
    """The run's settings: explicit options, else the resumed run's, else the defaults."""
    explicit = {k: getattr(args, k) for k in DEFAULTS if getattr(args, k, None) is not None}
    if saved is not None:
        clash = {k: (v, saved[k]) for k, v in explicit.items() if k in saved and saved[k] != v}
        if clash:
            details = ", ".join(f"--{k.replace('_', '-')} {v!r} (the checkpoint has {s!r})" for k, (v, s) in clash.items())
            raise CommandError(f"a resumed run keeps its own settings; drop {details}")
    settings = {**DEFAULTS, **(saved or {}), **explicit}
    if settings["lr"] is None:
        settings["lr"] = DEFAULT_LR[settings["optimizer"]]
    for name in ("batch_size", "limit"):
        if settings[name] is not None and settings[name] < 1:
            raise CommandError(f"--{name.replace('_', '-')} must be a positive int; received {settings[name]}")
    if settings["lr"] <= 0:
        raise CommandError(f"--lr must be positive; received {settings['lr']}")
    if settings["seed"] < 0:
        raise CommandError(f"--seed must be a non-negative int; received {settings['seed']}")
    return settings


def build_optimizer(model, settings, epochs, steps_per_epoch):
    name, lr = settings["optimizer"], settings["lr"]
    if name == "sgd":
        optimizer = optim.SGD(model.parameters(), lr=lr, momentum=settings["momentum"],
                              weight_decay=settings["weight_decay"])
    else:
        optimizer = OPTIMIZERS[name](model.parameters(), lr=lr, weight_decay=settings["weight_decay"])
    schedule = settings["scheduler"]
    if schedule == "step":
        return optimizer, optim.lr_scheduler.StepLR(optimizer, max(1, epochs // 3), gamma=0.1), "epoch"
    if schedule == "cosine":
        return optimizer, optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs), "epoch"
    if schedule == "onecycle":
        return optimizer, optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, epochs=epochs,
                                                        steps_per_epoch=steps_per_epoch), "batch"
    return optimizer, None, "epoch"


def load_data(settings, data_dir, download=False):
    """(train loader, test loader, dataset class) for the run's settings."""
    name = settings["dataset"]
    if name != "embedded" and data_dir is None:
        raise CommandError(f"--dataset {name} needs --data-dir DIR (the directory of the original .gz files)")
    try:
        train_set = data.get_dataset(name, train=True, root=data_dir, augment=settings["augment"], download=download)
        test_set = data.get_dataset(name, train=False, root=data_dir, download=download)
    except OSError as error:  # a failed download; a missing file is a FileNotFoundError, reported as is
        if isinstance(error, FileNotFoundError):
            raise
        raise CommandError(str(error)) from None
    if settings["limit"] is not None:
        train_set = data.Subset(train_set, range(min(settings["limit"], len(train_set))))
    train_loader = data.DataLoader(train_set, batch_size=settings["batch_size"], shuffle=True, seed=settings["seed"])
    test_loader = data.DataLoader(test_set, batch_size=500)
    return train_loader, test_loader, data.DATASETS[name]


def run(args):
    started = time.perf_counter()
    if args.plot is not None and args.plot.suffix.lower() != ".png":
        raise CommandError(f"--plot must name a .png file; received {str(args.plot)!r}")
    checkpoint = train.read_checkpoint(args.resume) if args.resume is not None else None
    saved = None
    if checkpoint is not None:
        saved = checkpoint.extra.get("settings")
        if saved is None:
            raise CommandError(f"{args.resume} was not written by convzoo train, so its settings are unknown")
    settings = settings_of(args, saved)
    planned = checkpoint.extra.get("epochs", checkpoint.epoch) if checkpoint else DEFAULT_EPOCHS
    epochs = args.epochs if args.epochs is not None else planned
    if epochs < 1:
        raise CommandError(f"--epochs must be a positive int; received {epochs}")
    data_dir = args.data_dir if args.data_dir is not None else (
        Path(checkpoint.extra["data_dir"]) if checkpoint and checkpoint.extra.get("data_dir") else None)
    out = args.out or args.resume or Path(f"{settings['model']}-{settings['dataset']}.npz")

    train.manual_seed(settings["seed"])
    train_loader, test_loader, dataset = load_data(settings, data_dir, args.download)
    model = models.get_model(settings["model"], **{"in_channels": 1, "num_classes": len(dataset.classes),
                                                   **settings["config"]})
    optimizer, scheduler, step_every = build_optimizer(model, settings, epochs, len(train_loader))
    extra = {"settings": settings, "epochs": epochs,
             "data_dir": None if data_dir is None else str(Path(data_dir).resolve()),
             "classes": list(dataset.classes), "normalize": [dataset.mean, dataset.std], "input_shape": [1, 28, 28]}
    callbacks = []
    try:
        history = train.fit(model, optimizer, train_loader, epochs, val_loader=test_loader, scheduler=scheduler,
                            scheduler_step=step_every, checkpoint=out, architecture=models.architecture(model),
                            extra=extra, resume=checkpoint, progress=None if args.quiet else sys.stderr,
                            callbacks=callbacks)
    except KeyboardInterrupt:
        print(f"\ninterrupted; {out} holds the last finished epoch: continue with "
              f"convzoo train --resume {out} --epochs {epochs}", file=sys.stderr)
        return 130
    metrics = summary(history, settings, epochs, time.perf_counter() - started,
                      first_epoch=checkpoint.epoch if checkpoint else 0)
    print(f"{settings['model']} on {settings['dataset']}: held-out accuracy {metrics['test_accuracy']:.2%} "
          f"(loss {metrics['test_loss']:.4f}) on {len(test_loader.dataset)} images after {epochs} epochs; "
          f"{metrics['seconds']:.1f} s, {metrics['images_per_second']:,.0f} images/s; checkpoint {out}")
    if args.metrics is not None:
        write_metrics(args.metrics, metrics)
    if args.plot is not None:
        from ..viz import plot_curves
        print(f"curves {plot_curves(history, args.plot, force=True)}")
    return 0


def summary(history, settings, epochs, seconds, first_epoch=0):
    """The metrics JSON of a run: final test metrics, timing, settings and the per-epoch history."""
    last = history.last()
    ran = [i for i, e in enumerate(history.epoch) if e >= first_epoch]
    train_seconds = sum(history.history["seconds"][i] for i in ran)
    images = sum(history.history["seconds"][i] * history.history["images_per_second"][i] for i in ran)
    return {"test_accuracy": last["val_accuracy"], "test_loss": last["val_loss"], "epochs": epochs,
            "seconds": seconds, "train_seconds": train_seconds,
            "images_per_second": images / train_seconds if train_seconds else 0.0,
            "train_loss": last["loss"], "train_accuracy": last["accuracy"], "settings": settings,
            "history": history.to_dict()["history"]}


def write_metrics(path, metrics):
    """The metrics as JSON at ``path``, written atomically (a reader never sees half a file); an
    existing file is replaced, as a rerun's metrics should be."""
    from ..viz.files import write_atomically
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(metrics, indent=2) + "\n"
    write_atomically(path, lambda temporary: Path(temporary).write_text(text), force=True)
