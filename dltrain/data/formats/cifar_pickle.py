"""CIFAR-10's python batches: pickled dicts of a uint8 ``data`` array and a ``labels`` list.

Read with an unpickler that only builds numpy arrays (a pickle can run any code, and a data
file should not), then checked: N x 3072 pixels, N labels, each one a class.
"""

from __future__ import annotations

import codecs
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dltrain.data.formats.labels import check_count, check_range
from dltrain.errors import UserError

PIXELS = 3 * 32 * 32
REFETCH = (
    "Replace it with the original from cifar-10-python.tar.gz: delete it and run with "
    "data.download=true where there is internet, or unpack the archive again."
)


def _reconstruct() -> Any:
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    return multiarray._reconstruct


class _ArraysOnly(pickle.Unpickler):
    """Unpickles dicts, lists, strings, numbers and numpy arrays; refuses everything else."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 writes bytes in protocol 2
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise UserError(f"{module}.{name} is not allowed in a CIFAR-10 batch")
        if module == "_codecs":
            return codecs.encode
        return _reconstruct() if name == "_reconstruct" else getattr(np, name)


def _unpickle(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as file:
            entry = _ArraysOnly(file, encoding="latin1").load()
    except UserError as err:
        raise UserError(f"{path} holds more than arrays ({err}); it is not a data file.") from None
    except Exception as err:  # noqa: BLE001 - a torn pickle fails in many ways
        raise UserError(
            f"{path} cannot be read as a CIFAR-10 python batch ({type(err).__name__}: {err}); "
            f"it is truncated or another format. {REFETCH}"
        ) from None
    if not isinstance(entry, dict):
        raise UserError(f"{path} is not a CIFAR-10 batch (a pickled dict). {REFETCH}")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in entry.items()}


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file: images N x 3 x 32 x 32 uint8 and labels N, as many of each."""
    entry = _unpickle(path)
    labels = entry.get("labels", entry.get("fine_labels"))
    if "data" not in entry or labels is None:
        raise UserError(f"{path} is not a CIFAR-10 batch: it has no 'data' and 'labels'. {REFETCH}")
    data = np.asarray(entry["data"], dtype=np.uint8)
    if data.size % PIXELS:
        raise UserError(
            f"{path} holds {data.size} pixel values, not whole 3 x 32 x 32 images. {REFETCH}"
        )
    labels = np.asarray(labels, dtype=np.int64)
    check_count(data.size // PIXELS, len(labels), f"{path} 'data'", "its 'labels'", REFETCH)
    return data.reshape(-1, 3, 32, 32), labels


def read_batches(
    folder: Path, names: Sequence[str], num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """The batches of one split, concatenated; every label one of ``num_classes``."""
    images, labels = [], []
    for name in names:
        data, batch_labels = read_batch(folder / name)
        check_range(batch_labels, num_classes, str(folder / name))
        images.append(data)
        labels.append(batch_labels)
    return np.concatenate(images), np.concatenate(labels)
