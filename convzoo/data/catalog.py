"""The datasets the CLI knows by name, with their normalisation constants."""
from .mnist import MNIST, EmbeddedMNIST, FashionMNIST
from .transforms import Compose, Normalize, RandomCrop

DATASETS = {"embedded": EmbeddedMNIST, "mnist": MNIST, "fashion-mnist": FashionMNIST}


def get_dataset(name, train=True, root=None, augment=False, download=False):
    """The train or test split of a named dataset, normalised with its training mean and std.

    Args:
        name: "embedded" (MNIST digits shipped in the package: 8,000 train / 2,000 held out),
            "mnist" or "fashion-mnist" (the original files in ``root``).
        train: the training split (else the test or held-out split).
        root: directory of the original ``.gz`` files (not used by "embedded").
        augment: random 28×28 crops of the image padded by 2 (training split only).
        download: fetch missing files from the canonical mirrors.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    cls = DATASETS[name]
    steps = [RandomCrop(28, padding=2)] if augment and train else []
    transform = Compose(steps + [Normalize((cls.mean,), (cls.std,))])
    if name == "embedded":
        return cls(train=train, transform=transform)
    if root is None:
        raise ValueError(f"dataset {name!r} needs the directory of its files (--data-dir)")
    return cls(root, train=train, transform=transform, download=download)
