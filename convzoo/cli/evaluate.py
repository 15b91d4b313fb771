"""``convzoo eval CHECKPOINT``: accuracy and loss of a saved model on a test split."""
from pathlib import Path

from .. import data, train
from . import CommandError
from .train import write_metrics


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "eval", help="evaluate a checkpoint on the test (held-out) split of its dataset",
        description="Accuracy and mean cross-entropy of a checkpoint written by convzoo train, on the test split "
                    "of the dataset it was trained on (or --dataset).")
    parser.add_argument("checkpoint", type=Path, help="a .npz checkpoint written by convzoo train")
    parser.add_argument("--dataset", choices=list(data.DATASETS), help="default: the checkpoint's dataset")
    parser.add_argument("--data-dir", type=Path, help="directory of the original .gz files (default: the checkpoint's)")
    parser.add_argument("--batch-size", type=int, default=500, help="batch size (default 500)")
    parser.add_argument("--metrics", type=Path, metavar="FILE", help="write the metrics as JSON to FILE")
    parser.set_defaults(func=run)


def run(args):
    if args.batch_size < 1:
        raise CommandError(f"--batch-size must be a positive int; received {args.batch_size}")
    model, checkpoint = train.load_model(args.checkpoint)
    saved = checkpoint.extra.get("settings", {})
    name = args.dataset or saved.get("dataset")
    if name is None:
        raise CommandError(f"{args.checkpoint} does not say which dataset it was trained on; pass --dataset")
    data_dir = args.data_dir or (Path(checkpoint.extra["data_dir"]) if checkpoint.extra.get("data_dir") else None)
    if name != "embedded" and data_dir is None:
        raise CommandError(f"--dataset {name} needs --data-dir DIR (the directory of the original .gz files)")
    test_set = data.get_dataset(name, train=False, root=data_dir)
    result = train.evaluate(model, data.DataLoader(test_set, batch_size=args.batch_size))
    print(f"{args.checkpoint}: {checkpoint.architecture['name']} after {checkpoint.epoch} epochs, {name} test split: "
          f"accuracy {result['accuracy']:.2%}, loss {result['loss']:.4f} on {result['count']} images "
          f"({result['images_per_second']:,.0f} images/s)")
    if args.metrics is not None:
        write_metrics(args.metrics, {"test_accuracy": result["accuracy"], "test_loss": result["loss"],
                                     "epochs": checkpoint.epoch, "seconds": result["seconds"],
                                     "images_per_second": result["images_per_second"], "images": result["count"],
                                     "dataset": name, "model": checkpoint.architecture["name"]})
    return 0
