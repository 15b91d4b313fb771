"""Dataset, TensorDataset, Subset and DataLoader: batching, shuffling from a seed, drop_last."""
import numpy as np
import pytest
import torch

from convzoo.autograd import Tensor
from convzoo.data import DataLoader, Dataset, Subset, TensorDataset
from convzoo.data.transforms import RandomHorizontalFlip


def labelled(n=10):
    return TensorDataset(np.arange(n * 4, dtype=np.float32).reshape(n, 1, 2, 2), np.arange(n))


@pytest.mark.parametrize("n, batch_size, drop_last", [(10, 3, False), (10, 3, True), (9, 3, True), (1, 4, False)])
def test_batches_match_torch_dataloader(n, batch_size, drop_last):
    ds = labelled(n)
    ours = [(x.numpy(), y.numpy()) for x, y in DataLoader(ds, batch_size=batch_size, drop_last=drop_last)]
    theirs = list(torch.utils.data.DataLoader(torch.utils.data.TensorDataset(
        torch.from_numpy(ds.arrays[0]), torch.from_numpy(ds.arrays[1])), batch_size=batch_size, drop_last=drop_last))
    assert len(ours) == len(theirs) == len(DataLoader(ds, batch_size=batch_size, drop_last=drop_last))
    for (x, y), (tx, ty) in zip(ours, theirs):
        np.testing.assert_array_equal(x, tx.numpy())
        np.testing.assert_array_equal(y, ty.numpy())
        assert x.dtype == np.float32 and y.dtype == np.int64


def test_shuffle_is_a_permutation_reproducible_from_the_seed():
    ds = labelled(50)
    a = DataLoader(ds, batch_size=8, shuffle=True, seed=3)
    b = DataLoader(ds, batch_size=8, shuffle=True, seed=3)
    epoch0 = np.concatenate([y.numpy() for _, y in a])
    epoch1 = np.concatenate([y.numpy() for _, y in a])
    assert sorted(epoch0) == list(range(50)) and sorted(epoch1) == list(range(50))
    assert not np.array_equal(epoch0, epoch1)  # a new order every epoch
    np.testing.assert_array_equal(np.concatenate([y.numpy() for _, y in b]), epoch0)
    b.set_epoch(1)  # a resumed run jumps straight to epoch 1
    np.testing.assert_array_equal(np.concatenate([y.numpy() for _, y in b]), epoch1)
    other = np.concatenate([y.numpy() for _, y in DataLoader(ds, batch_size=8, shuffle=True, seed=4)])
    assert not np.array_equal(other, epoch0)


def test_images_stay_with_their_labels_after_shuffling():
    ds = labelled(20)
    for x, y in DataLoader(ds, batch_size=6, shuffle=True, seed=0):
        np.testing.assert_array_equal(x.numpy()[:, 0, 0, 0], y.numpy() * 4)


def test_augmentation_is_reproducible_per_batch():
    ds = TensorDataset(np.arange(64, dtype=np.float32).reshape(16, 1, 2, 2), np.arange(16),
                       transform=RandomHorizontalFlip())
    first = [x.numpy() for x, _ in DataLoader(ds, batch_size=4, seed=9)]
    again = [x.numpy() for x, _ in DataLoader(ds, batch_size=4, seed=9)]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    flipped = np.concatenate([(a[:, 0, 0, 0] != ds.arrays[0][i * 4:(i + 1) * 4, 0, 0, 0]) for i, a in enumerate(first)])
    assert 0 < flipped.sum() < 16


def test_plain_dataset_is_stacked():
    class Squares(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.array([i * i], dtype=np.float64), i

    (x, y), = list(DataLoader(Squares(), batch_size=5))
    assert isinstance(x, Tensor) and x.shape == (5, 1)
    np.testing.assert_array_equal(x.numpy()[:, 0], [0, 1, 4, 9, 16])


def test_subset_and_indexing():
    ds = labelled(10)
    sub = Subset(ds, [7, 2, 5])
    assert len(sub) == 3 and sub[0][1] == 7 and sub[-1][1] == 5
    np.testing.assert_array_equal(sub.get_batch([2, 0])[1], [5, 7])
    assert ds[-1][1] == 9
    with pytest.raises(IndexError, match="index 10 is out of range for 10 samples"):
        ds[10]
    with pytest.raises(ValueError, match="Subset indices"):
        Subset(ds, [11])


@pytest.mark.parametrize("make, error, message", [
    (lambda: TensorDataset(np.zeros(3), np.zeros(4)), ValueError, r"share their first dimension.*\(3,\), \(4,\)"),
    (lambda: TensorDataset(), ValueError, "at least one array"),
    (lambda: DataLoader(labelled(), batch_size=0), ValueError, "batch_size must be a positive int; received 0"),
    (lambda: DataLoader(labelled(), seed=-1), ValueError, "seed must be a non-negative int or None; received -1"),
    (lambda: DataLoader(42), TypeError, "dataset must define __len__ and __getitem__; received int"),
])
def test_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()
