"""The MNIST family (torchvision's IDX files under ROOT/<class>/raw), read once into memory.

The files are read by dltrain's validating IDX reader (data/formats/idx.py) into the same
uint8 tensors torchvision's classes would give; torchvision only downloads them.

Besides class labels they offer segmentation targets: the foreground mask, pixel intensity above
``data.mask_threshold``, built here so a segmentation model trains on the same files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from dltrain.data.base import DataSplits, ImageTensorDataset, image_pipeline, image_splits
from dltrain.data.checks import check_fashionmnist, check_mnist, raw_folder
from dltrain.data.formats.idx import read_split
from dltrain.registry import DATA

# per-channel mean and std of each training set, pixels in [0, 1]
STATS = {"FashionMNIST": ((0.2860,), (0.3530,)), "MNIST": ((0.1307,), (0.3081,))}
MNIST_TASKS = frozenset({"classification", "segmentation"})


def _load(cfg: Mapping[str, Any], dataset_class: str, task: str) -> DataSplits:
    pipeline = image_pipeline(cfg, 1, STATS[dataset_class], task)
    folder, parts = raw_folder(cfg["root"], dataset_class), {}
    for split in ("train", "test"):
        images, labels = read_split(folder, split, cfg["num_classes"])
        images = torch.from_numpy(images).unsqueeze(1)
        parts[split] = ImageTensorDataset(images, torch.from_numpy(labels), pipeline=pipeline)
    return image_splits(cfg, parts["train"], parts["test"], num_classes=cfg["num_classes"])


@DATA.register("fashionmnist", tasks=MNIST_TASKS, check=check_fashionmnist)
def fashionmnist(cfg: Mapping[str, Any], task: str = "classification") -> DataSplits:
    return _load(cfg, "FashionMNIST", task)


@DATA.register("mnist", tasks=MNIST_TASKS, check=check_mnist)
def mnist(cfg: Mapping[str, Any], task: str = "classification") -> DataSplits:
    return _load(cfg, "MNIST", task)
