"""The scratch-memory budget of the convolution kernels, and how work is cut to respect it.

im2col buffers grow with batch x channels x taps x output size (231 MB for a ResNet 3x3 layer at
batch 32). The GEMM kernels therefore work on chunks of images, and of output rows inside an image,
so that no call allocates more scratch than ``limit()`` bytes, whatever the input size. Outputs
themselves are not scratch and are not counted.
"""
import contextlib
import threading

# Small enough that a chunk of columns stays in the last-level cache between the gather that writes
# it and the GEMM that reads it, and that a VGG-style training step's peak memory stays near
# PyTorch's (64 MiB chunks made the step's peak 2.9x PyTorch's and were slower, not faster)
DEFAULT_LIMIT = 8 * 2**20

_state = threading.local()


def limit():
    """The current scratch budget in bytes (per kernel call)."""
    return getattr(_state, "limit", DEFAULT_LIMIT)


def set_limit(nbytes):
    """Set the scratch budget of this thread, in bytes; returns the previous one."""
    if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 1:
        raise ValueError(f"workspace limit must be a positive number of bytes; received {nbytes!r}")
    previous = limit()
    _state.limit = nbytes
    return previous


@contextlib.contextmanager
def limited(nbytes):
    """Context manager: run the enclosed kernels with a scratch budget of ``nbytes``."""
    previous = set_limit(nbytes)
    try:
        yield
    finally:
        _state.limit = previous


def by_image(blocks):
    """The blocks of ``chunks`` grouped by image range, in order: the row blocks of one image scatter
    into overlapping input rows, so a col2im keeps them on one lane."""
    groups = {}
    for block in blocks:
        groups.setdefault(block[0], []).append(block)
    return list(groups.values())


def chunks(batch, rows, bytes_per_row, budget=None, lanes=1):
    """Cut (batch, rows) work into blocks whose scratch fits the budget.

    Args:
        batch: number of images.
        rows: number of output rows per image.
        bytes_per_row: scratch bytes one output row of one image needs.
        budget: bytes; defaults to ``limit()``.
        lanes: blocks in flight at once (``lanes.py``): each gets an equal share of the budget, and
            whole images are cut into at least this many blocks when there are enough.

    Returns:
        list of ((b0, b1), (r0, r1)): whole images when one fits, else row ranges of one image.
    """
    budget = (limit() if budget is None else budget) // lanes
    per_image = rows * bytes_per_row
    if per_image <= budget:
        step = max(1, min(budget // max(per_image, 1), -(-batch // lanes)))
        return [((b, min(b + step, batch)), (0, rows)) for b in range(0, batch, step)]
    step = max(1, budget // max(bytes_per_row, 1))
    return [((b, b + 1), (r, min(r + step, rows))) for b in range(batch) for r in range(0, rows, step)]
