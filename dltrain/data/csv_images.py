"""Images in CSV files, the Kaggle fashion-mnist layout: a header row, then per row the label
and the image's pixels (``label,pixel1,...,pixel784``; row-major, channels last for RGB).

Read once with numpy into a uint8 tensor; no pandas needed for a table of integers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dltrain.data.base import DataSplits, ImageTensorDataset, image_pipeline, image_splits
from dltrain.data.checks import check_csv, read_csv_header
from dltrain.data.decode_cache import cached_decode
from dltrain.data.torchvision_sets import MNIST_TASKS, STATS
from dltrain.errors import UserError
from dltrain.registry import DATA


def read_csv_images(path: Path, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images N x C x side x side (uint8) and labels N from one Kaggle-layout CSV file."""
    columns = len(read_csv_header(path))
    side = math.isqrt((columns - 1) // channels)
    try:
        table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
    except ValueError as err:
        raise UserError(f"{path} has a row that is not {columns} integers: {err}") from None
    pixels = table[:, 1:]
    if pixels.size and (pixels.min() < 0 or pixels.max() > 255):
        raise UserError(f"{path}: pixel values must be integers in 0..255.")
    images = pixels.astype(np.uint8).reshape(-1, side, side, channels).transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(table[:, 0])


def read_cached(path: Path, channels: int, cache: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """``read_csv_images``, parsed once: later runs load PATH.dltrain-cache.pt (data.cache)."""
    return cached_decode(
        path.with_name(path.name + ".dltrain-cache.pt"),
        [path],
        {"channels": channels},
        lambda: read_csv_images(path, channels),
        cache,
    )


@DATA.register("csv", tasks=MNIST_TASKS, check=check_csv)
def csv(cfg: Mapping[str, Any], task: str = "classification") -> DataSplits:
    channels, cache = cfg["shape"][0], cfg.get("cache", True)
    stats = STATS["FashionMNIST"] if channels == 1 else None  # the Kaggle files' data set
    pipeline = image_pipeline(cfg, channels, stats, task)
    train = ImageTensorDataset(
        *read_cached(Path(cfg["train_file"]).expanduser(), channels, cache), pipeline=pipeline
    )
    test = None
    if cfg.get("test_file") is not None:
        images, labels = read_cached(Path(cfg["test_file"]).expanduser(), channels, cache)
        test = ImageTensorDataset(images, labels, pipeline=pipeline)
    labels = train.targets
    if len(labels) and (labels.min() < 0 or labels.max() >= cfg["num_classes"]):
        raise UserError(
            f"data.train_file has labels {int(labels.min())}..{int(labels.max())}, outside "
            f"0..{cfg['num_classes'] - 1}: set data.num_classes to the number of classes."
        )
    return image_splits(cfg, train, test, cfg["num_classes"])

