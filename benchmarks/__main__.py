"""``python -m benchmarks``: the runner lives in the package (convzoo.benchmark) so ``convzoo bench`` has it too."""
import sys

from convzoo.benchmark import cli

sys.exit(cli())
