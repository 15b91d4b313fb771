"""MNIST and Fashion-MNIST from the authors' original IDX ``.gz`` files, checked by SHA-256.

Each dataset reads the four files from one directory (``root``) and downloads any that are missing
from the canonical mirrors when ``download=True``. Every file is verified before use, so a corrupt
or truncated download is reported (naming the file), never half-loaded.
"""
import os
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

from .dataset import Dataset
from .idx import DatasetFileError, read_idx, verify
from .transforms import ToFloat, apply


class ImageClassification(Dataset):
    """Grey images (N, H, W) uint8 and labels (N,): samples are (image (1, H, W) float32 in [0, 1], label).

    Args:
        images: uint8 array (N, H, W).
        targets: integer labels (N,).
        classes: the class names, indexed by label.
        transform: applied to the float images (a whole batch at once in ``get_batch``).
    """

    def __init__(self, images, targets, classes, transform=None):
        self.data, self.targets = images, np.asarray(targets, dtype=np.int64)
        self.classes = list(classes)
        self.transform = transform

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        if not isinstance(index, (int, np.integer)) or not -len(self) <= index < len(self):
            raise IndexError(f"index {index!r} is out of range for {len(self)} samples")
        x, y = self.get_batch([index])
        return x[0], int(y[0])

    def get_batch(self, indices, rng=None):
        indices = np.asarray(indices, dtype=np.intp)
        x = ToFloat()(self.data[indices][:, None])  # (N, 1, H, W)
        if self.transform is not None:
            x = apply(self.transform, x, rng)
        return x, self.targets[indices]

    def __repr__(self):
        return f"{type(self).__name__}({len(self)} images {self.data.shape[1:]}, {len(self.classes)} classes)"


def download_file(mirrors, filename, directory, sha256, opener=urllib.request.urlopen):
    """Fetch filename from the first mirror that serves it with the right checksum, atomically.

    The bytes go to a temporary file in ``directory``, are verified, then renamed into place, so an
    interrupted or corrupt download never leaves a file that looks complete.

    Raises:
        OSError: no mirror served a correct copy; the message lists every attempt.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    failures = []
    for mirror in mirrors:
        url = mirror + filename
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{filename}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, opener(url) as response:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            verify(tmp, sha256)
            os.replace(tmp, directory / filename)
            return directory / filename
        except (OSError, ValueError) as error:
            failures.append(f"{url}: {error}")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    raise OSError(f"could not download {filename}: " + "; ".join(failures))


class _IDXFolder(ImageClassification):
    files = {}    # split -> (images file, labels file)
    sha256 = {}   # file -> SHA-256 of the .gz
    mirrors = []  # base URLs, tried in order
    classes = []

    def __init__(self, root, train=True, transform=None, download=False, opener=urllib.request.urlopen):
        root = Path(root)
        split = "train" if train else "test"
        paths = [root / name for name in self.files[split]]
        for path in paths:
            if not path.exists():
                if not download:
                    raise FileNotFoundError(f"{type(self).__name__}: missing file {path}; pass download=True "
                                            f"(convzoo train --download) or put the original {path.name} in {root}")
                download_file(self.mirrors, path.name, root, self.sha256[path.name], opener)
            verify(path, self.sha256[path.name])
        images, labels = (read_idx(p) for p in paths)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DatasetFileError(f"{paths[0]} and {paths[1]} do not match: shapes {images.shape} and {labels.shape}")
        super().__init__(images, labels, type(self).classes, transform)


class MNIST(_IDXFolder):
    """MNIST handwritten digits (LeCun, Cortes, Burges): 60,000 training and 10,000 test images, 28×28.

    Args:
        root: directory holding ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
            ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz`` (the original files).
        train: the training split (else the test split).
        transform: applied to images (1, 28, 28) float32 in [0, 1].
        download: fetch missing files from ``MNIST.mirrors``.
        opener: the function that opens a URL (``urllib.request.urlopen``).

    Raises:
        FileNotFoundError: a file is missing and download is False (the message names it).
        DatasetFileError: a file is corrupt or truncated (the message names it).
    """

    files = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
             "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
    sha256 = {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    }
    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"]
    classes = [str(d) for d in range(10)]
    # mean and standard deviation of the training pixels in [0, 1]
    mean, std = 0.1307, 0.3081


class FashionMNIST(_IDXFolder):
    """Fashion-MNIST (Xiao, Rasul, Vollgraf; Zalando Research): 10 clothing classes, 28×28, same layout as MNIST.

    Arguments as for ``MNIST``; files are fetched from ``FashionMNIST.mirrors``.
    """

    files = MNIST.files
    sha256 = {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    }
    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]
    mean, std = 0.2860, 0.3530


class EmbeddedMNIST(ImageClassification):
    """Real MNIST digits that ship inside the package, so training works offline on a fresh machine.

    These are MNIST's original 10,000 test images (the unchanged ``t10k`` files in
    ``convzoo/data/embedded/``), split deterministically: every fifth image (index 4, 9, 14, ...)
    is held out (2,000 images), the other 8,000 are for training. The split interleaves the two
    writer populations of the file (its first half is from Census employees, its second from
    students), so both parts have the same mix. Attribution: Y. LeCun, C. Cortes, C. J. C. Burges,
    "The MNIST database of handwritten digits", CC BY-SA 3.0.

    Args:
        train: the 8,000 training images (else the 2,000 held-out ones).
        transform: applied to images (1, 28, 28) float32 in [0, 1].
    """

    directory = Path(__file__).parent / "embedded"
    classes = MNIST.classes
    mean, std = MNIST.mean, MNIST.std

    def __init__(self, train=True, transform=None):
        paths = [self.directory / name for name in MNIST.files["test"]]
        for path in paths:
            if not path.exists():
                raise FileNotFoundError(f"the embedded dataset file {path} is missing; reinstall convzoo")
            verify(path, MNIST.sha256[path.name])
        images, labels = (read_idx(p) for p in paths)
        held_out = np.arange(len(labels)) % 5 == 4
        keep = ~held_out if train else held_out
        super().__init__(images[keep], labels[keep], self.classes, transform)
