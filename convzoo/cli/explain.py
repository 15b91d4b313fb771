"""``convzoo explain``: which algorithm the planner picks for one convolution or every conv of a zoo model."""
import json
import re

from . import CommandError


def add_parser(subparsers):
    p = subparsers.add_parser(
        "explain", help="the algorithm chosen for each convolution, the cost numbers and the alternatives",
        description="Run one convolution (--input/--weight) or a zoo model (--model) on zeros and print, for "
                    "every convolution, the algorithm of its output, input-gradient and weight-gradient passes, "
                    "the planner's time estimate for each algorithm that could run it, and why the others cannot.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", metavar="NAME", help="a model of the zoo (convzoo.models.list_models())")
    source.add_argument("--input", metavar="N,C,H,W", help="input shape of one convolution (1 to 3 spatial axes)")
    p.add_argument("--weight", metavar="O,C/G,KH,KW",
                   help="weight shape for --input (transposed: C_in,C_out/G,KH,KW as in PyTorch)")
    p.add_argument("--input-shape", metavar="C,H,W", help="model input without the batch axis (default "
                                                          "in_channels,28,28)")
    p.add_argument("--batch", type=int, default=1, help="batch size for --model (default 1)")
    p.add_argument("--stride", default="1", help="int or per-axis ints, e.g. 2 or 2,1")
    p.add_argument("--padding", default="0", help="int, per-axis ints, 'same' or 'valid'")
    p.add_argument("--dilation", default="1", help="int or per-axis ints")
    p.add_argument("--groups", type=int, default=1)
    p.add_argument("--transposed", action="store_true", help="explain conv_transpose instead of conv")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--algorithm", help="force an algorithm, to see it run or why it cannot")
    p.add_argument("--autotune", action="store_true", help="time every candidate instead of trusting the model")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.set_defaults(func=run)


def parse_ints(text, name):
    parts = [p for p in re.split(r"[,x\s()\[\]]+", str(text).strip()) if p]
    if not parts or not all(p.isdigit() for p in parts):
        raise CommandError(f"{name} must be ints separated by commas, e.g. 1,3,32,32; received {text!r}")
    return tuple(int(p) for p in parts)


def _geometry_arg(text, name):
    values = parse_ints(text, name)
    return values[0] if len(values) == 1 else values


def run(args):
    import contextlib

    import numpy as np

    from .. import models
    from ..explain import explain
    from ..kernels import planner
    from ..nn import functional as F

    if args.algorithm is not None and args.algorithm not in planner.ALGORITHMS:
        raise CommandError(f"--algorithm must be one of {', '.join(planner.ALGORITHMS)}; received {args.algorithm!r}")
    dtype = np.dtype(args.dtype)
    forcing = planner.use_algorithm(args.algorithm) if args.algorithm else contextlib.nullcontext()
    tuning = planner.autotune() if args.autotune else contextlib.nullcontext()
    if args.model:
        if args.model not in models.MODELS:
            raise CommandError(f"unknown model {args.model!r}; choose one of {', '.join(models.list_models())}")
        if args.batch < 1:
            raise CommandError(f"--batch must be a positive int; received {args.batch}")
        model = models.get_model(args.model)
        shape = parse_ints(args.input_shape, "--input-shape") if args.input_shape else \
            (getattr(model, "config", {}).get("in_channels", 1), 28, 28)
        if dtype == np.float64:
            for p in model.parameters():
                p.data = p.data.astype(np.float64)
        x = np.zeros((args.batch,) + shape, dtype=dtype)
        with forcing, tuning:
            result = explain(model, x)
    else:
        if args.weight is None:
            raise CommandError("--input needs --weight (the weight shape)")
        x_shape, w_shape = parse_ints(args.input, "--input"), parse_ints(args.weight, "--weight")
        rank = len(x_shape) - 2
        if rank not in (1, 2, 3):
            raise CommandError(f"--input must be N,C and 1 to 3 spatial sizes; received {args.input!r}")
        op = getattr(F, f"conv_transpose{rank}d" if args.transposed else f"conv{rank}d")
        padding = args.padding if args.padding in ("same", "valid") else _geometry_arg(args.padding, "--padding")
        kwargs = dict(stride=_geometry_arg(args.stride, "--stride"), padding=padding,
                      dilation=_geometry_arg(args.dilation, "--dilation"), groups=args.groups)
        with forcing, tuning:
            result = explain(op, np.zeros(x_shape, dtype), np.zeros(w_shape, dtype), **kwargs)
    print(json.dumps(result.to_dict(), indent=2) if args.json else result)
    return 0
