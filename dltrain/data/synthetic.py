"""Learnable random data of any shape: one fixed random pattern per class, plus noise."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch.utils.data import TensorDataset

from dltrain.data.base import DataSplits, split_off
from dltrain.registry import DATA


def _make(size: int, shape: list[int], classes: int, noise: float, generator: torch.Generator):
    prototypes = torch.randn(classes, *shape, generator=torch.Generator().manual_seed(1234))
    targets = torch.randint(0, classes, (size,), generator=generator)
    inputs = prototypes[targets] + noise * torch.randn(size, *shape, generator=generator)
    return TensorDataset(inputs, targets)


@DATA.register("synthetic", tasks={"classification"})
def synthetic(cfg: Mapping[str, Any], task: str = "classification") -> DataSplits:
    shape, classes, noise = list(cfg["shape"]), cfg["num_classes"], cfg.get("noise", 0.5)
    generator = torch.Generator().manual_seed(0)
    full_train = _make(cfg["train_size"], shape, classes, noise, generator)
    test = _make(cfg["test_size"], shape, classes, noise, generator)
    train, val = split_off(full_train, cfg.get("val_split", 0.0))
    return DataSplits(train=train, val=val, test=test, num_classes=classes)
