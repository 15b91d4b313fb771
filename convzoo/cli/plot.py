"""``convzoo plot kernels|features|field|curves|filters``: pictures of a model, a training run or a filter, as PNG."""
from pathlib import Path

import numpy as np

from . import CommandError
from .summary import add_model_arguments, input_shape_of, model_from


def add_parser(subparsers):
    p = subparsers.add_parser("plot", help="draw kernels, feature maps, receptive fields, training curves, filters",
                              description="Draw a picture as a PNG file (no display needed).")
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)

    k = kinds.add_parser("kernels", help="the kernels of a conv layer as a grid")
    add_model_arguments(k)
    k.add_argument("--layer", help="dotted layer name (default: the first convolution; see convzoo summary)")
    k.add_argument("--max-filters", type=int, default=32, help="filters (rows) drawn, default 32")
    _output(k, run_kernels)

    f = kinds.add_parser("features", help="feature maps of an input through chosen layers")
    add_model_arguments(f)
    _input_image(f)
    f.add_argument("--layers", help="comma-separated dotted layer names (default: every convolution)")
    f.add_argument("--max-maps", type=int, default=8, help="channels drawn per layer, default 8")
    _output(f, run_features)

    r = kinds.add_parser("field", help="the receptive field of one output position over the input")
    add_model_arguments(r)
    _input_image(r)
    r.add_argument("--layer", help="dotted layer name (default: the last with a spatial field)")
    r.add_argument("--index", help="output position ROW,COL (default: the centre)")
    _output(r, run_field)

    c = kinds.add_parser("curves", help="loss and accuracy per epoch of a training run")
    c.add_argument("source", metavar="SOURCE", help="metrics JSON (convzoo train --metrics) or a checkpoint (.npz)")
    _output(c, run_curves)

    b = kinds.add_parser("filters", help="an image before and after named filters")
    b.add_argument("image", metavar="IMAGE", help="image file (PNG, JPEG, TIFF, ...)")
    b.add_argument("-k", "--kernels", default="blur,sharpen,find_edges,emboss",
                   help="comma-separated kernel names (default blur,sharpen,find_edges,emboss)")
    _output(b, run_filters)


def _output(parser, func):
    parser.add_argument("-o", "--output", required=True, metavar="OUT.png", help="PNG file to write")
    parser.add_argument("--force", action="store_true", help="replace OUT.png if it exists")
    parser.set_defaults(func=func)


def _input_image(parser):
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--image", metavar="PATH", help="input image file, scaled to [0, 1] (and normalised "
                                                        "as the checkpoint's training data)")
    source.add_argument("--digit", type=int, metavar="N",
                        help="held-out MNIST digit N shipped with convzoo (the default, N=0)")


def _written(path):
    print(f"wrote {path}")
    return 0


def _draw(draw, *args, **kwargs):
    """Run a viz function, turning a refused output path into a one-line command error."""
    try:
        return _written(draw(*args, **kwargs))
    except FileExistsError as error:
        raise CommandError(str(error).replace("force=True (--force)", "--force")) from None
    except ImportError as error:
        raise CommandError(str(error)) from None


def run_kernels(args):
    from .. import viz

    model, _ = model_from(args)
    convs = [(n, m) for n, m in model.named_modules() if hasattr(m, "kernel_size") and m._parameters.get("weight")
             is not None]
    if args.layer is None:
        if not convs:
            raise CommandError(f"{type(model).__name__} has no convolution layer")
        layer = convs[0][1]
    else:
        layer = dict(convs).get(args.layer)
        if layer is None:
            raise CommandError(f"unknown conv layer {args.layer!r}; conv layers: {', '.join(n for n, _ in convs)}")
    return _draw(viz.plot_kernels, layer, args.output, max_filters=args.max_filters, force=args.force)


def model_image(args, model, checkpoint):
    """The input image (C, H, W) float: --image read and normalised like the training data, or a digit."""
    shape = input_shape_of(model, checkpoint)
    if args.image is None:
        from .. import data

        held_out = data.get_dataset("embedded", train=False)
        n = 0 if args.digit is None else args.digit
        if not 0 <= n < len(held_out):
            raise CommandError(f"--digit must be in [0, {len(held_out) - 1}]; received {n}")
        return held_out[n][0]
    from .filter import read_image

    image, _ = read_image(args.image)
    from PIL import Image

    picture = Image.fromarray(image).convert("L" if shape[0] == 1 else "RGB")
    if checkpoint is not None and picture.size != (shape[2], shape[1]):
        picture = picture.resize((shape[2], shape[1]), Image.BILINEAR)
    x = np.asarray(picture, dtype=np.float32) / 255.0
    x = x[None] if x.ndim == 2 else x.transpose(2, 0, 1)
    normalize = (checkpoint.extra or {}).get("normalize") if checkpoint is not None else None
    if normalize:
        mean, std = normalize
        x = (x - np.float32(mean)) / np.float32(std)
    return x


def run_features(args):
    from .. import viz

    model, checkpoint = model_from(args)
    layers = [s.strip() for s in args.layers.split(",") if s.strip()] if args.layers else None
    return _draw(viz.plot_feature_maps, model, model_image(args, model, checkpoint), args.output, layers=layers,
                 max_maps=args.max_maps, force=args.force)


def run_field(args):
    from .. import viz

    model, checkpoint = model_from(args)
    index = None
    if args.index is not None:
        parts = args.index.split(",")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise CommandError(f"--index must be ROW,COL; received {args.index!r}")
        index = tuple(int(p) for p in parts)
    return _draw(viz.plot_receptive_field, model, model_image(args, model, checkpoint), args.output,
                 layer=args.layer, index=index, force=args.force)


def run_curves(args):
    from .. import viz

    if not Path(args.source).is_file():
        raise CommandError(f"{args.source} does not exist")
    return _draw(viz.plot_curves, args.source, args.output, force=args.force)


def run_filters(args):
    from .. import filters, viz
    from .filter import read_image

    image, _ = read_image(args.image)
    names = [s.strip() for s in args.kernels.split(",") if s.strip()]
    unknown = [n for n in names if n not in filters.KERNELS]
    if unknown or not names:
        raise CommandError(f"unknown kernel name(s) {unknown or names}; choose from {', '.join(filters.KERNELS)}")
    return _draw(viz.plot_filters, image, args.output, names, force=args.force)
