"""``DataLoader``: batches of a Dataset, optionally shuffled, reproducible from a seed."""
import math
import numbers

import numpy as np

from ..autograd import Tensor
from .dataset import Dataset


class DataLoader:
    """Iterate over a dataset in batches of Tensors, like ``torch.utils.data.DataLoader``.

    Shuffling and random transforms are drawn from ``numpy.random.default_rng([seed, epoch])``
    (and ``[seed, epoch, batch]`` for the transforms), so the order of epoch e depends only on the
    seed and e: a run resumed at epoch e sees exactly the batches the uninterrupted run saw. Each
    ``iter()`` uses the current ``epoch`` and then advances it; ``set_epoch`` sets it directly.

    Args:
        dataset: a ``Dataset`` (anything with ``__len__`` and ``__getitem__``).
        batch_size: samples per batch (a positive int).
        shuffle: draw a new order every epoch.
        drop_last: drop the last batch when it is smaller than batch_size.
        seed: an int seed for shuffling and augmentation; None draws one at random.

    Yields:
        a tuple of Tensors (e.g. images (N, C, H, W) float32 and labels (N,) int64), or one Tensor
        for a dataset whose samples are single arrays.

    Example:
        >>> import numpy as np
        >>> from convzoo.data import TensorDataset
        >>> loader = DataLoader(TensorDataset(np.arange(5.0), np.arange(5)), batch_size=2)
        >>> [y.tolist() for _, y in loader]
        [[0, 1], [2, 3], [4]]
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None):
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(f"dataset must define __len__ and __getitem__; received {type(dataset).__name__}")
        if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int; received {batch_size!r}")
        if seed is not None and (not isinstance(seed, numbers.Integral) or seed < 0):
            raise ValueError(f"seed must be a non-negative int or None; received {seed!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = int(np.random.SeedSequence().entropy % 2**63) if seed is None else int(seed)
        self.epoch = 0

    def set_epoch(self, epoch):
        """Make the next ``iter()`` produce the batches of this epoch (0-based)."""
        self.epoch = int(epoch)

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _fetch(self, indices, rng):
        if isinstance(self.dataset, Dataset):
            return self.dataset.get_batch(indices, rng=rng)
        return Dataset.get_batch(self.dataset, indices)

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        n = len(self.dataset)
        order = np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle else np.arange(n)
        for b in range(len(self)):
            indices = order[b * self.batch_size:(b + 1) * self.batch_size]
            batch = self._fetch(indices, np.random.default_rng([self.seed, epoch, b]))
            if isinstance(batch, tuple):
                yield tuple(Tensor._wrap(np.asarray(a)) for a in batch)
            else:
                yield Tensor._wrap(np.asarray(batch))
