"""MNIST and Fashion-MNIST files: checksums, clear errors, download through a file URL, the embedded split."""
import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from convzoo.data import MNIST, DatasetFileError, EmbeddedMNIST, FashionMNIST, download_file, read_idx
from convzoo.data.transforms import Normalize

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
needs_data = pytest.mark.skipif(not (SHARED / "mnist").exists(), reason="shared MNIST files not present")
EMBEDDED = EmbeddedMNIST.directory


def test_embedded_split_is_deterministic_and_disjoint():
    train, held = EmbeddedMNIST(), EmbeddedMNIST(train=False)
    assert len(train) == 8000 and len(held) == 2000
    assert train.data.shape == (8000, 28, 28) and train.data.dtype == np.uint8
    everything = read_idx(EMBEDDED / "t10k-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(held.data, everything[4::5])
    np.testing.assert_array_equal(train.data[:4], everything[:4])
    # the published first ten test labels: 7 2 1 0 4 1 4 9 5 9
    np.testing.assert_array_equal(train.targets[:8], [7, 2, 1, 0, 1, 4, 9, 5])
    assert np.all(np.bincount(held.targets) > 150)  # every digit is held out


def test_samples_are_float_images_in_unit_range():
    ds = EmbeddedMNIST(train=False)
    x, y = ds[0]
    assert x.shape == (1, 28, 28) and x.dtype == np.float32 and 0 <= x.min() and x.max() == 1.0 and y == 4
    normalized = EmbeddedMNIST(train=False, transform=Normalize((0.1307,), (0.3081,)))
    np.testing.assert_allclose(normalized[0][0], (x - 0.1307) / 0.3081, rtol=1e-5, atol=1e-6)


@needs_data
@pytest.mark.parametrize("cls, folder, first", [(MNIST, "mnist", [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]),
                                                (FashionMNIST, "fashion-mnist", [9, 0, 0, 3, 0, 2, 7, 2, 5, 5])])
def test_full_datasets_decode_to_the_published_values(cls, folder, first):
    train, test = cls(SHARED / folder), cls(SHARED / folder, train=False)
    assert len(train) == 60000 and len(test) == 10000
    np.testing.assert_array_equal(train.targets[:10], first)
    assert abs(train.data.mean() / 255 - cls.mean) < 1e-4 and abs(train.data.std() / 255 - cls.std) < 1e-4


def copy_test_files(tmp_path):
    for name in MNIST.files["test"]:
        shutil.copy(EMBEDDED / name, tmp_path / name)
    return tmp_path


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing file .*t10k-images-idx3-ubyte.gz; pass download=True"):
        MNIST(tmp_path, train=False)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupt_file_is_named_and_nothing_is_loaded(tmp_path, damage):
    copy_test_files(tmp_path)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    raw = path.read_bytes()
    path.write_bytes(raw[:-100] if damage == "truncate" else raw[:50] + bytes([raw[50] ^ 1]) + raw[51:])
    with pytest.raises(DatasetFileError, match=r"t10k-labels-idx1-ubyte.gz is corrupt or incomplete"):
        MNIST(tmp_path, train=False)


@pytest.mark.parametrize("content, message", [
    (b"not gzip at all", "is not a readable gzip file"),
    (gzip.compress(b"\x00\x00\x0d\x01" + b"\x00" * 8), "is not an unsigned-byte IDX file"),
    (gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x05abc"), r"holds 3 data bytes; its header \(5,\) says 5"),
    (gzip.compress(b"\x00\x00\x08\x03\x00\x00"), "truncated inside its header"),
    (gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x05abcde")[:-9], "is not a readable gzip file"),
])
def test_read_idx_reports_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.gz"
    path.write_bytes(content)
    with pytest.raises(DatasetFileError, match=message):
        read_idx(path)


def test_download_from_a_file_url(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    copy_test_files(mirror)
    target = tmp_path / "data"

    class LocalMNIST(MNIST):
        mirrors = ["file:///nonexistent/mirror/", mirror.as_uri() + "/"]  # the first one fails

    ds = LocalMNIST(target, train=False, download=True)
    assert len(ds) == 10000
    assert sorted(p.name for p in target.iterdir()) == sorted(MNIST.files["test"])  # no temporary files left


def test_download_rejects_a_corrupt_copy_and_leaves_nothing(tmp_path):
    class FakeResponse:
        def __init__(self, payload):
            self.payload = [payload, b""]

        def read(self, size):
            return self.payload.pop(0)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    opened = []

    def opener(url):
        opened.append(url)
        return FakeResponse(b"corrupt bytes")

    with pytest.raises(OSError, match=r"could not download t10k-labels-idx1-ubyte.gz: http://a/t10k.*corrupt or "
                                      r"incomplete.*http://b/"):
        download_file(["http://a/", "http://b/"], "t10k-labels-idx1-ubyte.gz", tmp_path,
                      MNIST.sha256["t10k-labels-idx1-ubyte.gz"], opener=opener)
    assert opened == ["http://a/t10k-labels-idx1-ubyte.gz", "http://b/t10k-labels-idx1-ubyte.gz"]
    assert list(tmp_path.iterdir()) == []
