"""``Dataset``, ``TensorDataset`` and ``Subset``: indexable collections of (input, target) samples."""
import numpy as np

from ..autograd import Tensor
from .transforms import apply


def _array(value):
    return value.data if isinstance(value, Tensor) else np.asarray(value)


class Dataset:
    """Base class: define ``__len__`` and ``__getitem__(i)`` returning one sample (a tuple of arrays).

    ``get_batch(indices, rng=None)`` returns the stacked samples at ``indices``; the default stacks
    ``__getitem__`` results, and array-backed datasets override it to gather a whole batch at once.
    ``rng`` (a ``numpy.random.Generator``) drives the random transforms of that batch, so a
    ``DataLoader`` with a seed makes every batch reproducible.
    """

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} defines no __len__")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} defines no __getitem__")

    def get_batch(self, indices, rng=None):
        samples = [self[int(i)] for i in indices]
        if not isinstance(samples[0], tuple):
            return np.stack([_array(s) for s in samples])
        return tuple(np.stack([_array(s[k]) for s in samples]) for k in range(len(samples[0])))


def _check_index(index, length):
    if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
        raise TypeError(f"dataset index must be an int; received {index!r}")
    if not -length <= index < length:
        raise IndexError(f"dataset index {index} is out of range for {length} samples")
    return int(index) % length


class TensorDataset(Dataset):
    """Samples are the rows of arrays that share their first dimension, like ``torch.utils.data.TensorDataset``.

    Args:
        *arrays: ndarrays or Tensors with the same length along axis 0 (e.g. images and labels).
        transform: optional callable applied to the first array's samples (a batch at once in
            ``get_batch``; see ``convzoo.data.transforms``).

    Example:
        >>> import numpy as np
        >>> ds = TensorDataset(np.zeros((5, 1, 4, 4), np.float32), np.arange(5))
        >>> len(ds), int(ds[2][1])
        (5, 2)
    """

    def __init__(self, *arrays, transform=None):
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        self.arrays = tuple(_array(a) for a in arrays)
        lengths = [a.shape[0] if a.ndim else None for a in self.arrays]
        if None in lengths or len(set(lengths)) != 1:
            raise ValueError(f"TensorDataset arrays must share their first dimension; received shapes "
                             f"{[a.shape for a in self.arrays]}")
        self.transform = transform

    def __len__(self):
        return self.arrays[0].shape[0]

    def __getitem__(self, index):
        i = _check_index(index, len(self))
        first = self.arrays[0][i]
        if self.transform is not None:
            first = apply(self.transform, first)
        return (first,) + tuple(a[i] for a in self.arrays[1:])

    def get_batch(self, indices, rng=None):
        indices = np.asarray(indices, dtype=np.intp)
        first = self.arrays[0][indices]
        if self.transform is not None:
            first = apply(self.transform, first, rng)
        return (first,) + tuple(a[indices] for a in self.arrays[1:])


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.intp)
        if self.indices.ndim != 1 or (len(self.indices) and (self.indices.min() < -len(dataset)
                                                            or self.indices.max() >= len(dataset))):
            raise ValueError(f"Subset indices must be a 1-D list of ints in range for {len(dataset)} samples")

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        return self.dataset[int(self.indices[_check_index(index, len(self))])]

    def get_batch(self, indices, rng=None):
        return self.dataset.get_batch(self.indices[np.asarray(indices, dtype=np.intp)], rng=rng)
