"""CIFAR-10 as torchvision stores it: python pickle batches under ``root/cifar-10-batches-py``.

Read by dltrain's validating reader (data/formats/cifar_pickle.py) rather than through
torchvision.datasets.CIFAR10, which insists on the official MD5 sums (so no test could use
small fake files), with an unpickler that only builds numpy arrays: a pickle can run any code,
and a data file should not. Small learnable files in the same format: ``write_fake_cifar10`` in
``dltrain.testing.fake_data``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from dltrain.data.base import DataSplits, ImageTensorDataset, image_pipeline, image_splits
from dltrain.data.checks import CIFAR10_FOLDER, CIFAR10_TEST, CIFAR10_TRAIN, check_cifar10
from dltrain.data.formats.cifar_pickle import read_batches
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


@DATA.register("cifar10", tasks={"classification"}, check=check_cifar10)
def cifar10(cfg: Mapping[str, Any], task: str = "classification") -> DataSplits:
    folder = Path(cfg["root"]).expanduser() / CIFAR10_FOLDER
    pipeline = image_pipeline(cfg, 3, STATS, task)
    splits = {}
    for split, names in (("train", CIFAR10_TRAIN), ("test", CIFAR10_TEST)):
        images, labels = read_batches(folder, names, cfg["num_classes"])
        splits[split] = ImageTensorDataset(
            torch.from_numpy(images), torch.from_numpy(labels), pipeline=pipeline
        )
    return image_splits(cfg, splits["train"], splits["test"], num_classes=cfg["num_classes"])
