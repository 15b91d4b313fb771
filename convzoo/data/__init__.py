"""Datasets, loaders and transforms: MNIST, Fashion-MNIST and an MNIST split that ships in the package."""
from . import transforms
from .catalog import DATASETS, get_dataset
from .dataloader import DataLoader
from .dataset import Dataset, Subset, TensorDataset
from .idx import DatasetFileError, read_idx
from .mnist import MNIST, EmbeddedMNIST, FashionMNIST, ImageClassification, download_file

__all__ = ["DATASETS", "DataLoader", "Dataset", "DatasetFileError", "EmbeddedMNIST", "FashionMNIST",
           "ImageClassification", "MNIST", "Subset", "TensorDataset", "download_file", "get_dataset", "read_idx",
           "transforms"]
