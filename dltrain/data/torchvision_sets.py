"""torchvision's MNIST-family data sets (IDX files), decoded once into memory.

Besides class labels they offer segmentation targets: the foreground mask, pixel intensity above
``data.mask_threshold``, built here so a segmentation model trains on the same files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torchvision.datasets

from dltrain.data.base import DataSplits, ImageTensorDataset, image_pipeline, image_splits
from dltrain.data.checks import check_fashionmnist, check_mnist
from dltrain.registry import DATA

# per-channel mean and std of each training set, pixels in [0, 1]
STATS = {"FashionMNIST": ((0.2860,), (0.3530,)), "MNIST": ((0.1307,), (0.3081,))}
MNIST_TASKS = frozenset({"classification", "segmentation"})


def _load(cfg: Mapping[str, Any], dataset_class: str, task: str) -> DataSplits:
    pipeline = image_pipeline(cfg, 1, STATS[dataset_class], task)
    parts = {}
    for train in (True, False):
        raw = getattr(torchvision.datasets, dataset_class)(root=cfg["root"], train=train)
        parts[train] = ImageTensorDataset(raw.data.unsqueeze(1), raw.targets, pipeline=pipeline)
    return image_splits(cfg, parts[True], parts[False], num_classes=10)


@DATA.register("fashionmnist", tasks=MNIST_TASKS, check=check_fashionmnist)
def fashionmnist(cfg: Mapping[str, Any], task: str = "classification") -> DataSplits:
    return _load(cfg, "FashionMNIST", task)


@DATA.register("mnist", tasks=MNIST_TASKS, check=check_mnist)
def mnist(cfg: Mapping[str, Any], task: str = "classification") -> DataSplits:
    return _load(cfg, "MNIST", task)
