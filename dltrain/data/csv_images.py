"""Images in CSV files, the Kaggle fashion-mnist layout: a header row, then per row the label
and the image's pixels (``label,pixel1,...,pixel784``; row-major, channels last for RGB).

Parsed once by dltrain's validating reader (data/formats/csv_table.py) into a uint8 tensor
and cached; no pandas needed for a table of integers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from dltrain.data.base import DataSplits, ImageTensorDataset, image_pipeline, image_splits
from dltrain.data.checks import check_csv
from dltrain.data.decode_cache import cached_decode
from dltrain.data.formats.csv_table import read_csv
from dltrain.data.formats.labels import check_range
from dltrain.data.torchvision_sets import MNIST_TASKS, STATS
from dltrain.registry import DATA


def read_csv_images(path: Path, channels: int, num_classes: int) -> tuple[torch.Tensor, ...]:
    """Images N x C x side x side (uint8) and labels N from one Kaggle-layout CSV file."""
    images, labels = read_csv(path, channels, num_classes)
    return torch.from_numpy(images), torch.from_numpy(labels)


def read_cached(
    path: Path, channels: int, num_classes: int, cache: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """``read_csv_images``, parsed once: later runs load PATH.dltrain-cache.pt (data.cache).
    A cached file's labels are checked again: data.num_classes may have changed."""
    images, labels = cached_decode(
        path.with_name(path.name + ".dltrain-cache.pt"),
        [path],
        {"channels": channels},
        lambda: read_csv_images(path, channels, num_classes),
        cache,
    )
    check_range(labels.numpy(), num_classes, str(path))
    return images, labels


@DATA.register("csv", tasks=MNIST_TASKS, check=check_csv)
def csv(cfg: Mapping[str, Any], task: str = "classification") -> DataSplits:
    channels, classes, cache = cfg["shape"][0], cfg["num_classes"], cfg.get("cache", True)
    stats = STATS["FashionMNIST"] if channels == 1 else None  # the Kaggle files' data set
    pipeline = image_pipeline(cfg, channels, stats, task)
    splits: dict[str, ImageTensorDataset | None] = {"train_file": None, "test_file": None}
    for key in splits:
        if cfg.get(key) is not None:
            data = read_cached(Path(cfg[key]).expanduser(), channels, classes, cache)
            splits[key] = ImageTensorDataset(*data, pipeline=pipeline)
    return image_splits(cfg, splits["train_file"], splits["test_file"], classes)
