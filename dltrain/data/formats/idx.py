"""IDX files, the MNIST family's format, read with a header that must agree with the file.

Layout: two zero bytes, a type byte (0x08: unsigned bytes), the number of dimensions, each
dimension as a big-endian uint32, then the data. torchvision's reader trusts the header, so a
truncated or foreign file fails deep inside a run; this one names the file and the fix first.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dltrain.data.formats.labels import check_count, check_range
from dltrain.errors import UserError

UBYTE = 0x08
GZIP_MAGIC = b"\x1f\x8b"
# split -> (images file, labels file), as torchvision's MNIST and FashionMNIST name them
SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
REFETCH = (
    "Replace it with the original: delete it and run with data.download=true where there is "
    "internet, or copy the file again from where you got it."
)
REFETCH_PAIR = (
    "Copy both files again from where you got them, or delete them and run with "
    "data.download=true where there is internet."
)


@dataclass(frozen=True)
class IdxHeader:
    dims: tuple[int, ...]
    offset: int  # where the data starts


def read_header(path: Path, ndim: int) -> IdxHeader:
    """The header of an IDX file of ``ndim``-d unsigned bytes, checked against the file size."""
    with open(path, "rb") as file:
        head = file.read(4 + 4 * ndim)
    if head[:2] == GZIP_MAGIC:
        raise UserError(
            f"{path} is gzip-compressed; dltrain reads the unpacked IDX file. Unpack it under "
            f"the same name: mv {path} {path}.gz && gunzip {path}.gz"
        )
    expected_magic = bytes([0, 0, UBYTE, ndim])
    if head[:4] != expected_magic:
        raise UserError(
            f"{path} is not an IDX file of {ndim}-d unsigned bytes: it starts "
            f"'{head[:4].hex(' ')}', not '{expected_magic.hex(' ')}'. {REFETCH}"
        )
    size = path.stat().st_size
    if len(head) < 4 + 4 * ndim:
        raise UserError(f"{path} is truncated: {size} bytes, not even a whole header. {REFETCH}")
    dims = struct.unpack(f">{ndim}I", head[4:])
    expected = len(head) + math.prod(dims)
    if size != expected:
        shape = " x ".join(map(str, dims))
        how = "is truncated" if size < expected else "is longer than its header says"
        raise UserError(
            f"{path} {how}: its header announces {shape} bytes of data ({expected} bytes in "
            f"all) but the file has {size}. {REFETCH}"
        )
    return IdxHeader(dims, len(head))


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An IDX file's data as a uint8 array of the header's shape (a checked header)."""
    header = read_header(path, ndim)
    return np.fromfile(path, dtype=np.uint8, offset=header.offset).reshape(header.dims)


def read_split(
    folder: Path, split: str, num_classes: int, pixels: bool = True
) -> tuple[np.ndarray | None, np.ndarray]:
    """A split's images (N x H x W) and labels (N), checked: both files whole, as many labels
    as images, every label a class. ``pixels=False``: the images' header only (None)."""
    images_file, labels_file = (folder / name for name in SPLITS[split])
    if pixels:
        images = read_idx(images_file, 3)
        count = len(images)
    else:
        images, count = None, read_header(images_file, 3).dims[0]
    labels = read_idx(labels_file, 1)
    check_count(count, len(labels), str(images_file), str(labels_file), REFETCH_PAIR)
    check_range(labels, num_classes, str(labels_file))
    return images, labels
