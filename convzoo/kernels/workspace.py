"""The scratch-memory budget of the convolution kernels, and how work is cut to respect it.

im2col buffers grow with batch x channels x taps x output size (231 MB for a ResNet 3x3 layer at
batch 32). The GEMM kernels therefore work on chunks of images, and of output rows inside an image
(or, for the im2col gradients, of input channels), so that no call allocates more scratch than
``limit()`` bytes, whatever the input size. Outputs themselves are not scratch and are not counted.
"""
import contextlib
import threading

# Small enough that a chunk of columns stays in the last-level cache between the gather that writes
# it and the GEMM that reads it, and that a VGG-style training step's peak memory stays near
# PyTorch's (64 MiB chunks made the step's peak 2.9x PyTorch's and were slower, not faster)
DEFAULT_LIMIT = 8 * 2**20


class _State(threading.local):
    # the default as a class attribute: a thread that never set its own reads it (getattr with a
    # default on a thread-local that lacks the attribute raises and catches an AttributeError
    # inside, 1.4 us a call, several times in every convolution call)
    limit = DEFAULT_LIMIT


_state = _State()


def limit():
    """The current scratch budget in bytes (per kernel call)."""
    return _state.limit


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


def scatter_passes(blocks, halo, stride=1):
    """The blocks of ``chunks`` as col2im jobs, in passes run one after the other.

    Blocks of different images never write the same input rows: one pass, each image's blocks one
    job (``by_image``). The row blocks of a single image overlap their neighbours' input rows (a block
    of output rows reads ``halo`` rows past its last one, its rows ``stride`` apart), but not the
    next-but-one's when a block's rows reach past the halo: then the even blocks, then the odd ones,
    each block a job, so the lanes share the image (every input row still receives its blocks' sums
    in block order, so the bits do not change)."""
    (b0, b1), (r0, r1) = blocks[0]
    if b1 - b0 != 1 or len(blocks) < 3 or blocks[-1][0] != (b0, b1) or (r1 - r0 + 1) * stride <= halo:
        return [by_image(blocks)]
    return [[[block] for block in blocks[0::2]], [[block] for block in blocks[1::2]]]


def chunks(batch, rows, bytes_per_row, budget=None, lanes=1, passes=1):
    """Cut (batch, rows) work into blocks whose scratch fits the budget.

    Args:
        batch: number of images.
        rows: number of output rows per image.
        bytes_per_row: scratch bytes one output row of one image needs.
        budget: bytes; defaults to ``limit()``.
        lanes: blocks in flight at once (``lanes.py``): each gets an equal share of the budget, and
            the work is cut into at least this many blocks when there are enough images or rows.
        passes: for a single image on several lanes, as many blocks per lane again (the col2im's
            two passes of ``scatter_passes`` each need a block per lane).

    Returns:
        list of ((b0, b1), (r0, r1)): whole images when one fits, else row ranges of one image.
        Fewer images than lanes are cut into row ranges as well, so every lane gets a block; an
        image's row ranges are equal to a row, and as many as a multiple of the lanes where they
        must be cut anyway (a 28-row image in 3 blocks kept one of two lanes idle a third of the time).
    """
    if batch == 1 and lanes > 1:
        lanes *= passes
    budget = (limit() if budget is None else budget) // lanes
    per_image = rows * bytes_per_row
    if per_image <= budget and batch >= lanes:
        step = max(1, min(budget // max(per_image, 1), -(-batch // lanes)))
        return [((b, min(b + step, batch)), (0, rows)) for b in range(0, batch, step)]
    pieces = _pieces(batch, rows, bytes_per_row, budget, lanes)
    return [((b, b + 1), (rows * i // pieces, rows * (i + 1) // pieces)) for b in range(batch) for i in range(pieces)]


def _pieces(batch, count, unit_bytes, share, lanes):
    """Into how many equal ranges each image's ``count`` units (rows, channels) of ``unit_bytes``
    scratch are cut: as many whole units as fit ``share`` a range; an image that fits, into a range
    per lane between the images; a multiple of the lanes when fewer images than lanes must be cut
    anyway; never more ranges than units."""
    if count * unit_bytes <= share:
        pieces = -(-lanes // batch)
    else:
        pieces = -(-count // max(1, share // max(unit_bytes, 1)))
        if batch < lanes:
            pieces = -(-pieces // lanes) * lanes
    return min(pieces, count)


def channel_chunks(batch, channels, rows, bytes_per_channel, budget=None, lanes=1):
    """Cut (batch, channels) work into blocks of whole images, for kernels whose channels are
    independent (the im2col gradients: each input channel's columns, col2im and weight-gradient
    columns are its own), where ``chunks`` would cut an image's rows.

    Returns None when ``chunks`` cuts no rows (every lane gets whole images, or an image has one
    row: a 1-D signal runs as one job, whose products BLAS runs on its own threads; cut by channels,
    the gradients of a 4096-sample conv1d at batch 1 ran 1.3-1.6x slower) or when one channel of one
    image does not fit a lane's share of the budget; else ((b, b + 1), (c0, c1)) blocks, one
    image each, its channels cut as ``chunks`` cuts rows (as few equal ranges of whole channels as
    fit a share; a multiple of the lanes when there are fewer images than lanes). Unlike row ranges,
    channel ranges never write the same input rows (no col2im passes), and each keeps the image's
    whole rows as its GEMM's columns.
    """
    share = (limit() if budget is None else budget) // lanes
    per_image = channels * bytes_per_channel
    if (per_image <= share and batch >= lanes) or rows <= 1 or bytes_per_channel > share:
        return None
    pieces = _pieces(batch, channels, bytes_per_channel, share, lanes)
    return [((b, b + 1), (channels * i // pieces, channels * (i + 1) // pieces))
            for b in range(batch) for i in range(pieces)]
