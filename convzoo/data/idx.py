"""Reading the IDX files of MNIST and Fashion-MNIST (gzip-compressed), checked byte for byte.

An IDX file is a 4-byte magic (two zero bytes, an element-type byte, 0x08 for unsigned bytes, and
the number of dimensions n), n big-endian uint32 sizes, then the data in C order.
"""
import gzip
import hashlib
import struct
import zlib

import numpy as np


class DatasetFileError(ValueError):
    """A dataset file is corrupt, truncated or not what its name says."""


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path, expected_sha256):
    """Raise DatasetFileError naming path unless its SHA-256 is expected_sha256."""
    actual = sha256(path)
    if actual != expected_sha256:
        raise DatasetFileError(f"{path} is corrupt or incomplete: its SHA-256 is {actual}, expected "
                               f"{expected_sha256}; delete it and download it again")


def read_idx(path):
    """The array stored in the gzip-compressed IDX file at path (uint8, shape from its header).

    Raises:
        DatasetFileError: not gzip, truncated, a bad magic number, or a size that disagrees with
            the header; the message names the file.
    """
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as error:
        raise DatasetFileError(f"{path} is not a readable gzip file ({error})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetFileError(f"{path} is not an unsigned-byte IDX file (magic bytes {raw[:4].hex()})")
    n = raw[3]
    header = 4 + 4 * n
    if len(raw) < header:
        raise DatasetFileError(f"{path} is truncated inside its header")
    dims = struct.unpack(">" + "I" * n, raw[4:header])
    expected = int(np.prod(dims, dtype=np.int64))
    if len(raw) - header != expected:
        raise DatasetFileError(f"{path} holds {len(raw) - header} data bytes; its header {dims} says {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)
