"""One folder per class (torchvision's ImageFolder layout), decoded by PIL once into memory.

``data.train_dir`` holds ``<class>/<image>`` files; ``data.val_dir`` (else ``data.val_split`` of
the training images) and ``data.test_dir`` are optional. Every image becomes
``data.image_size`` squared with ``data.shape[0]`` channels (1: grayscale, 3: RGB).
``data.in_memory=false`` decodes per sample instead, for folders larger than memory (batches
then come from torch's DataLoader: there is no tensor to slice).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

from dltrain.data.base import DataSplits, ImageTensorDataset, image_pipeline, image_splits
from dltrain.data.checks import check_imagefolder, image_classes, image_files
from dltrain.data.decode_cache import cached_decode
from dltrain.data.formats.image_files import read_image
from dltrain.registry import DATA

STATS_SAMPLE = 2000  # images used to estimate the per-channel mean and std


def decode(path: Path, channels: int, size: int) -> torch.Tensor:
    """One image file as a C x size x size uint8 tensor (a broken file: exit 2 naming it)."""
    array = read_image(path, channels, size)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


class LazyImages:
    """Image files that look like an N x C x H x W tensor and decode when indexed."""

    def __init__(self, paths: Sequence[Path], channels: int, size: int) -> None:
        self.paths, self.channels, self.size = list(paths), channels, size
        self.shape = torch.Size((len(self.paths), channels, size, size))
        self.ndim = 4

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return decode(self.paths[index], self.channels, self.size)


def decode_all(paths: Sequence[Path], channels: int, size: int) -> torch.Tensor:
    """Every image into one N x C x size x size uint8 tensor (PIL decodes in parallel threads)."""
    images = torch.empty((len(paths), channels, size, size), dtype=torch.uint8)
    workers = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for index, image in enumerate(pool.map(lambda p: decode(p, channels, size), paths)):
            images[index] = image
    return images


def channel_stats(images: torch.Tensor | LazyImages) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of pixels in [0, 1], from up to STATS_SAMPLE images."""
    count = min(len(images), STATS_SAMPLE)
    picks = torch.linspace(0, len(images) - 1, count).long().tolist()
    sample = torch.stack([images[i] for i in picks]).double().div_(255.0)
    mean = sample.mean(dim=(0, 2, 3))
    std = sample.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return mean.tolist(), std.tolist()


def _folder(
    folder: Path, classes: list[str], channels: int, size: int, in_memory: bool, cache: bool
) -> tuple[torch.Tensor | LazyImages, torch.Tensor]:
    paths, labels = [], []
    for label, name in enumerate(classes):
        if (folder / name).is_dir():
            found = image_files(folder / name)
            paths += found
            labels += [label] * len(found)
    targets = torch.tensor(labels, dtype=torch.long)
    if not in_memory:
        return LazyImages(paths, channels, size), targets
    return cached_decode(
        folder / f".dltrain-cache-{channels}x{size}.pt",
        paths,
        {"channels": channels, "size": size, "classes": classes},
        lambda: (decode_all(paths, channels, size), targets),
        cache,
    )


@DATA.register("imagefolder", tasks={"classification"}, check=check_imagefolder)
def imagefolder(cfg: Mapping[str, Any], task: str = "classification") -> DataSplits:
    channels, size, in_memory = cfg["shape"][0], cfg["image_size"], cfg.get("in_memory", True)
    load = {"in_memory": in_memory, "cache": cfg.get("cache", True)}
    train_dir = Path(cfg["train_dir"]).expanduser()
    classes = image_classes(train_dir)
    train_images, train_labels = _folder(train_dir, classes, channels, size, **load)
    pipeline = image_pipeline(cfg, channels, channel_stats(train_images), task)
    parts = {}
    for key in ("val_dir", "test_dir"):
        parts[key] = None
        if cfg.get(key) is not None:
            folder = Path(cfg[key]).expanduser()
            images, labels = _folder(folder, classes, channels, size, **load)
            parts[key] = ImageTensorDataset(images, labels, pipeline=pipeline)
    train = ImageTensorDataset(train_images, train_labels, pipeline=pipeline)
    return image_splits(cfg, train, parts["test_dir"], len(classes), val=parts["val_dir"])
