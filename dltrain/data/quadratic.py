"""The tutorial's optimizer-comparison data: 1-D regression, y = x^2 + noise on x in [-1, 1].

As in the tutorial, ``x = torch.linspace(-1, 1, 1000).unsqueeze(1)`` and
``y = x.pow(2) + 0.1 * torch.normal(torch.zeros(x.size()))``; the noise is drawn from a fixed
generator so every run (and every optimizer in a sweep) sees the same points. Fixed random
subsets are held out for test and validation: the tutorial trained on all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch.utils.data import Subset, TensorDataset

from dltrain.data.base import SPLIT_SEED, DataSplits, split_off
from dltrain.data.checks import check_quadratic
from dltrain.registry import DATA

DATA_SEED = 0


def quadratic_points(num_points: int = 1000, noise: float = 0.1) -> tuple[torch.Tensor, ...]:
    """x (N x 1) evenly spaced in [-1, 1] and y = x^2 + noise * N(0, 1), both float32."""
    x = torch.linspace(-1, 1, num_points).unsqueeze(1)
    generator = torch.Generator().manual_seed(DATA_SEED)
    y = x.pow(2) + noise * torch.normal(torch.zeros(x.size()), 1.0, generator=generator)
    return x, y


@DATA.register("quadratic", tasks={"regression"}, check=check_quadratic)
def quadratic(cfg: Mapping[str, Any], task: str = "regression") -> DataSplits:
    dataset = TensorDataset(*quadratic_points(cfg["num_points"], cfg["noise"]))
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(SPLIT_SEED))
    n_test = int(round(len(dataset) * cfg.get("test_split", 0.0)))
    test = Subset(dataset, order[:n_test].tolist()) if n_test else None
    train, val = split_off(Subset(dataset, order[n_test:].tolist()), cfg.get("val_split", 0.0))
    return DataSplits(train=train, val=val, test=test, num_classes=1, task="regression")
