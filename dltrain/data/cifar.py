"""CIFAR-10 as torchvision stores it: python pickle batches under ``root/cifar-10-batches-py``.

Read here rather than through torchvision.datasets.CIFAR10, which insists on the official MD5
sums (so no test could use small fake files), and with an unpickler that only builds numpy
arrays: a pickle can run any code, and a data file should not. Small learnable files in the
same format: ``write_fake_cifar10`` in ``dltrain.testing.fake_data``.
"""

from __future__ import annotations

import codecs
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dltrain.data.base import DataSplits, ImageTensorDataset, image_pipeline, image_splits
from dltrain.data.checks import CIFAR10_FOLDER, CIFAR10_TEST, CIFAR10_TRAIN, check_cifar10
from dltrain.registry import DATA

STATS = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
LABEL_NAMES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


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
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR-10 batch")
        if module == "_codecs":
            return codecs.encode
        return _reconstruct() if name == "_reconstruct" else getattr(np, name)


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file: images N x 3 x 32 x 32 uint8 and labels N."""
    with open(path, "rb") as file:
        entry = _ArraysOnly(file, encoding="latin1").load()
    entry = {k.decode() if isinstance(k, bytes) else k: v for k, v in entry.items()}
    labels = entry["labels"] if "labels" in entry else entry["fine_labels"]
    data = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    return data, np.asarray(labels, dtype=np.int64)


def _read(folder: Path, names: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    batches = [read_batch(folder / name) for name in names]
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    return torch.from_numpy(images), torch.from_numpy(labels)


@DATA.register("cifar10", tasks={"classification"}, check=check_cifar10)
def cifar10(cfg: Mapping[str, Any], task: str = "classification") -> DataSplits:
    folder = Path(cfg["root"]).expanduser() / CIFAR10_FOLDER
    pipeline = image_pipeline(cfg, 3, STATS, task)
    train = ImageTensorDataset(*_read(folder, CIFAR10_TRAIN), pipeline=pipeline)
    test = ImageTensorDataset(*_read(folder, CIFAR10_TEST), pipeline=pipeline)
    return image_splits(cfg, train, test, num_classes=10)
