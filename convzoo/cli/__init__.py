"""The ``convzoo`` command. Each subcommand lives in its own module of this package.

A subcommand module defines ``add_parser(subparsers)``, which registers its parser and sets
``func`` (a callable taking the parsed args and returning an exit status).
"""
import argparse
import importlib
import sys

from .. import __version__

# one entry per subcommand module in this package
SUBCOMMANDS = ("filter", "train", "evaluate", "predict", "summary", "explain", "plot", "bench")


class CommandError(Exception):
    """A user-facing error: printed as one line, exit status 2, no traceback."""


def build_parser():
    parser = argparse.ArgumentParser(
        prog="convzoo",
        description="Convolutional networks and convolution filters on NumPy and Numba.")
    parser.add_argument("--version", action="version", version=f"convzoo {__version__}")
    subparsers = parser.add_subparsers(dest="command", title="commands")
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(subparsers)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args) or 0
    except (CommandError, ValueError, TypeError, OSError) as error:
        print(f"convzoo {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
