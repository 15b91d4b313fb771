"""``convzoo bench``: time convzoo against PyTorch (NCHW and channels_last) on the issue's case list."""
import sys


def add_parser(subparsers):
    from ..benchmark import runner

    p = subparsers.add_parser(
        "bench", help="time convzoo against PyTorch side by side and write the results as JSON",
        description="Same inputs, same threads, medians after warm-up, forward and forward+backward, batch 1 and "
                    "32 (8 for the 31x31 depthwise), plus LeNet-5 and VGG-style training steps. Ratio = "
                    "torch ms / convzoo ms (above 1: convzoo is faster).")
    runner.add_arguments(p)
    p.set_defaults(func=run)


def run(args):
    from ..benchmark import runner

    return runner.main(args, reexec=["-m", "convzoo"] + sys.argv[1:])
