"""``convzoo summary``: the layer table of a zoo model or a checkpoint (shapes, parameters, MACs, receptive fields)."""
import json
import re

from . import CommandError


def add_parser(subparsers):
    p = subparsers.add_parser(
        "summary", help="per-layer shapes, parameters, MACs and receptive fields of a model",
        description="Print a table of every layer of a zoo model (--model) or of the model saved in a "
                    "checkpoint (--checkpoint): output shape, parameters, multiply-accumulates and receptive "
                    "field (size, jump = effective stride, start = centre of the first output's field).")
    add_model_arguments(p)
    p.add_argument("--input-shape", metavar="C,H,W",
                   help="input without the batch axis, e.g. 1,28,28 (default: the checkpoint's, else "
                        "in_channels,28,28)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON instead of the table")
    p.set_defaults(func=run)


def add_model_arguments(parser):
    """--model NAME | --checkpoint PATH, and --num-classes; shared with ``convzoo plot``."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", metavar="NAME", help="a model of the zoo (convzoo.models.list_models())")
    source.add_argument("--checkpoint", metavar="PATH", help="a checkpoint written by convzoo train / save_checkpoint")
    parser.add_argument("--num-classes", type=int, help="classifier outputs for --model (default: the model's)")


def model_from(args):
    """(model, checkpoint or None) named by --model/--num-classes or --checkpoint."""
    from .. import models

    if args.checkpoint:
        from ..train import CheckpointError, load_model

        try:
            return load_model(args.checkpoint)
        except CheckpointError as error:
            raise CommandError(str(error)) from None
    if args.model not in models.MODELS:
        raise CommandError(f"unknown model {args.model!r}; choose one of {', '.join(models.list_models())}")
    if args.num_classes is not None and args.num_classes < 1:
        raise CommandError(f"--num-classes must be a positive int; received {args.num_classes}")
    config = {} if args.num_classes is None else {"num_classes": args.num_classes}
    return models.get_model(args.model, **config), None


def input_shape_of(model, checkpoint):
    """The checkpoint's input shape, else (in_channels, 28, 28)."""
    saved = (checkpoint.extra or {}).get("input_shape") if checkpoint is not None else None
    return tuple(saved) if saved else (getattr(model, "config", {}).get("in_channels", 1), 28, 28)


def run(args):
    model, checkpoint = model_from(args)
    shape = parse_shape(args.input_shape) if args.input_shape is not None else input_shape_of(model, checkpoint)
    result = model.summary(shape)
    print(json.dumps(as_json(result), indent=2) if args.json else result)
    return 0


def parse_shape(text):
    parts = [p for p in re.split(r"[,x\s()\[\]]+", text.strip()) if p]
    if not parts or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise CommandError(f"--input-shape must be positive ints such as 1,28,28 (no batch axis); received {text!r}")
    return tuple(int(p) for p in parts)


def as_json(result):
    """The summary as plain data: one dict per layer and the totals."""
    layers = [{"name": layer.name, "type": layer.kind, "input_shape": list(layer.input_shape),
               "output_shape": list(layer.output_shape), "params": layer.params, "macs": layer.macs,
               "receptive_field": None if layer.size is None else {
                   "size": list(layer.size), "jump": None if layer.jump is None else list(layer.jump),
                   "start": None if layer.start is None else list(layer.start)}}
              for layer in result.layers]
    return {"model": result.model_name, "input_shape": list(result.input_shape), "layers": layers,
            "total_params": result.total_params, "trainable_params": result.trainable_params,
            "total_macs": result.total_macs}
