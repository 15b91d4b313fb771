"""``convzoo filter INPUT -k NAME -o OUTPUT``: apply a named or custom kernel to an image file."""
import json
from pathlib import Path

import numpy as np

from . import CommandError


def add_parser(subparsers):
    p = subparsers.add_parser(
        "filter", help="filter an image with a named or custom kernel",
        description="Filter an image (PNG, JPEG, TIFF, ... through Pillow) with a named kernel or your own. "
                    "Colour channels are filtered independently, alpha is kept; 8-bit in, 8-bit out.")
    p.add_argument("input", nargs="?", metavar="INPUT", help="image file to read")
    p.add_argument("-k", "--kernel", metavar="NAME|MATRIX",
                   help='a kernel name (see --list) or a JSON matrix such as "[[0,-1,0],[-1,5,-1],[0,-1,0]]"')
    p.add_argument("--kernel-file", metavar="PATH",
                   help="a custom kernel: a JSON matrix, or rows of numbers separated by spaces or commas")
    p.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a parameter of the named kernel, e.g. -p sigma=2 or -p direction=ne (repeatable)")
    p.add_argument("-o", "--output", metavar="OUTPUT", help="image file to write (format from its suffix)")
    p.add_argument("--mode", default="reflect",
                   choices=("reflect", "symmetric", "replicate", "circular", "constant", "zeros"),
                   help="boundary mode (default reflect, OpenCV's BORDER_REFLECT_101)")
    p.add_argument("--cval", type=float, default=0.0, help="value outside the image with --mode constant")
    p.add_argument("--offset", type=float, default=None, help="added after filtering (default: the kernel's own)")
    p.add_argument("--flip", action="store_true", help="true convolution instead of correlation")
    p.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("--list", action="store_true", help="print every named kernel with its matrix and exit")
    p.set_defaults(func=run)


def run(args):
    from .. import filters

    if args.list:
        print(kernel_listing())
        return 0
    if not args.input or not args.output:
        raise CommandError("INPUT and -o OUTPUT are required (or --list)")
    if (args.kernel is None) == (args.kernel_file is None):
        raise CommandError("give exactly one of -k/--kernel and --kernel-file")
    kernel, offset = resolve_kernel(args)
    if args.offset is not None:
        offset = args.offset
    check_output(args.output, args.force)  # before the work, not after it
    image, mode = read_image(args.input)
    out = filters.apply(image, kernel, mode=args.mode, cval=args.cval, flip=args.flip, offset=offset)
    path = write_image(out, args.output, args.force)
    print(f"wrote {path} ({out.shape[1]}x{out.shape[0]} {mode})")
    return 0


def resolve_kernel(args):
    """(matrix, offset) from -k NAME / -k MATRIX / --kernel-file, with -p parameters for names."""
    from .. import filters

    if args.kernel_file is not None:
        if args.param:
            raise CommandError("-p/--param applies to named kernels only")
        return parse_matrix(read_text(args.kernel_file), f"--kernel-file {args.kernel_file}"), 0.0
    text = args.kernel.strip()
    if text.startswith("["):
        if args.param:
            raise CommandError("-p/--param applies to named kernels only")
        return parse_matrix(text, "--kernel"), 0.0
    if text not in filters.KERNELS:
        raise CommandError(f"unknown kernel name {text!r}; choose one of {', '.join(filters.KERNELS)} "
                           f"(convzoo filter --list shows them)")
    params = dict(parse_param(p) for p in args.param)
    entry = filters.KERNELS[text]
    offset = entry.offset
    return filters.kernel(text, **params), offset


def parse_param(text):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise CommandError(f"--param must look like KEY=VALUE; received {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value  # a word such as direction=ne


def parse_matrix(text, where):
    """A JSON matrix, or whitespace/comma separated rows, as a finite 2-D float array."""
    try:
        rows = json.loads(text)
    except json.JSONDecodeError:
        rows = [line.replace(",", " ").split() for line in text.splitlines() if line.strip()]
    try:
        matrix = np.array(rows, dtype=np.float64)
    except (TypeError, ValueError):
        raise CommandError(f"{where}: a kernel must be a rectangular matrix of numbers; received {text.strip()!r}") \
            from None
    if matrix.ndim == 1 and matrix.size:
        matrix = matrix[None]
    if matrix.ndim != 2 or matrix.size == 0 or not np.isfinite(matrix).all():
        raise CommandError(f"{where}: a kernel must be a non-empty 2-D matrix of finite numbers; "
                           f"received {text.strip()!r}")
    return matrix


def read_text(path):
    try:
        return Path(path).read_text()
    except OSError as error:
        raise CommandError(f"cannot read kernel file {path}: {error.strerror or error}") from None


def read_image(path):
    """The image as an array (H, W) or (H, W, C) and the Pillow mode to write it back in."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
    except FileNotFoundError:
        raise CommandError(f"input image {path} does not exist") from None
    except (UnidentifiedImageError, OSError) as error:
        raise CommandError(f"cannot read {path} as an image: {error}") from None
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode in ("1", "CMYK", "YCbCr", "LAB", "HSV"):
        image = image.convert("L" if image.mode == "1" else "RGB")
    return np.asarray(image), image.mode


def check_output(path, force):
    """The output must have an image suffix Pillow knows and must not exist unless --force."""
    from PIL import Image

    if not Image.registered_extensions().get(Path(path).suffix.lower()):
        raise CommandError(f"cannot tell the image format of {path} from its suffix; use .png, .jpg, .tif, ...")
    if Path(path).exists() and not force:
        raise CommandError(f"{path} exists; pass --force to replace it")
    if not Path(path).parent.is_dir():
        raise CommandError(f"output directory {Path(path).parent} does not exist")


def write_image(array, path, force):
    from PIL import Image

    from ..viz.files import write_atomically

    image = Image.fromarray(array)
    if Path(path).suffix.lower() in (".jpg", ".jpeg") and image.mode in ("RGBA", "LA"):
        image = image.convert(image.mode[:-1])  # JPEG has no alpha

    def save(temporary):
        try:
            image.save(temporary, format=Image.registered_extensions().get(Path(path).suffix.lower()))
        except (KeyError, ValueError, OSError) as error:
            raise CommandError(f"cannot write {path}: {error}") from None

    try:
        return write_atomically(path, save, force)
    except FileExistsError as error:
        raise CommandError(str(error).replace("force=True (--force)", "--force")) from None


def kernel_listing():
    """Every named kernel: name, summary, parameters, offset and its matrix with default parameters."""
    from .. import filters

    lines = []
    for name, entry in filters.KERNELS.items():
        params = ", ".join(f"{k}={v!r}" for k, v in entry.params.items()) or "no parameters"
        offset = {0: "", "mid": ", offset mid-grey (128)", "white": ", offset white (255)"}[entry.offset]
        lines.append(f"{name}: {entry.summary} [{params}{offset}]")
        matrix = filters.kernel(name)
        text = np.array2string(matrix, precision=4, suppress_small=True, max_line_width=120)
        lines.extend("    " + row for row in text.splitlines())
    return "\n".join(lines)
