"""torchvision's MNIST-family data sets, decoded once into memory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torchvision.datasets

from dltrain.data.base import DataSplits, ImageTensorDataset, split_off

STATS = {"FashionMNIST": ((0.2860,), (0.3530,)), "MNIST": ((0.1307,), (0.3081,))}


def _load(cfg: Mapping[str, Any], dataset_class: str) -> DataSplits:
    mean, std = STATS[dataset_class] if cfg.get("normalize", True) else (None, None)
    parts = {}
    for train in (True, False):
        raw = getattr(torchvision.datasets, dataset_class)(root=cfg["root"], train=train)
        parts[train] = ImageTensorDataset(raw.data.unsqueeze(1), raw.targets, mean, std)
    train, val = split_off(parts[True], cfg.get("val_split", 0.0))
    return DataSplits(train=train, val=val, test=parts[False], num_classes=10)


def fashionmnist(cfg: Mapping[str, Any], task: str = "classification") -> DataSplits:
    return _load(cfg, "FashionMNIST")
