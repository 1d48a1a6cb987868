"""What a data builder returns, the in-memory image data set most builders share, and the splits.

Images are decoded once and held as one uint8 tensor; each sample goes through a SamplePipeline
(resize, train-only augmentation, normalisation, the mask target for segmentation).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset, Subset

from dltrain.data.transforms import SamplePipeline, build_augment, dry_run

SPLIT_SEED = 0  # the validation split does not move when the run's seed changes

Stats = tuple[Sequence[float], Sequence[float]]


@dataclass
class DataSplits:
    train: Dataset
    val: Dataset | None
    test: Dataset | None
    num_classes: int
    task: str = "classification"


class ImageTensorDataset(Dataset):
    """Images held in memory as one tensor; targets are labels, or masks for segmentation.

    ``images`` is uint8 (N, C, H, W), or float already in [0, 1]. ``mean``/``std`` normalise
    when no ``pipeline`` is given.
    """

    def __init__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        *,
        pipeline: SamplePipeline | None = None,
    ) -> None:
        if images.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} targets")
        self.images, self.targets = images, targets.long()
        self.pipeline = pipeline or SamplePipeline.create(images.shape[1], mean, std)

    @property
    def task(self) -> str:
        return "classification" if self.pipeline.mask_threshold is None else "segmentation"

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        """C, H, W of the model input (after resizing)."""
        channels, height, width = self.images.shape[1:]
        size = self.pipeline.size
        return (channels, size, size) if size is not None else (channels, height, width)

    def with_augment(self, augment: Callable | None) -> ImageTensorDataset:
        """The same stored images (shared, not copied) with augmentation: the training view."""
        view = copy.copy(self)
        view.pipeline = self.pipeline.with_augment(augment)
        return view

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self.pipeline(self.images[index])
        return image, (mask if mask is not None else self.targets[index])


def image_pipeline(
    cfg: Mapping[str, Any], channels: int, stats: Stats | None, task: str
) -> SamplePipeline:
    """The eval-time pipeline a data config asks for: normalisation, size, mask threshold.

    ``data.mean``/``data.std`` override the data set's own ``stats``; ``data.normalize=false``
    keeps pixels in [0, 1].
    """
    mean = std = None
    if cfg.get("normalize", True):
        mean = cfg.get("mean") or (stats[0] if stats else None)
        std = cfg.get("std") or (stats[1] if stats else None)
    threshold = cfg.get("mask_threshold") if task == "segmentation" else None
    if task == "segmentation" and threshold is None:
        raise ValueError("segmentation targets need data.mask_threshold")
    return SamplePipeline.create(channels, mean, std, cfg.get("image_size"), threshold)


def split_off(dataset: Dataset, fraction: float) -> tuple[Dataset, Dataset | None]:
    """Hold out ``fraction`` of ``dataset`` (a fixed random subset) for validation."""
    size = len(dataset)
    held_out = int(round(size * fraction))
    if held_out == 0:
        return dataset, None
    if held_out >= size:
        raise ValueError(f"val_split={fraction} leaves no training data out of {size} samples")
    order = torch.randperm(size, generator=torch.Generator().manual_seed(SPLIT_SEED)).tolist()
    return Subset(dataset, order[held_out:]), Subset(dataset, order[:held_out])


def _augmented(dataset: Dataset, augment: Callable) -> Dataset:
    if isinstance(dataset, Subset):
        return Subset(_augmented(dataset.dataset, augment), dataset.indices)
    return dataset.with_augment(augment)


def image_splits(
    cfg: Mapping[str, Any],
    full_train: ImageTensorDataset,
    test: Dataset | None,
    num_classes: int,
    val: Dataset | None = None,
) -> DataSplits:
    """Hold out validation (unless ``val`` is given) and augment the training split only."""
    train = full_train
    if val is None:
        train, val = split_off(full_train, cfg.get("val_split", 0.0))
    augment = build_augment(cfg.get("train_transforms"))
    if augment is not None:
        dry_run(augment, full_train.sample_shape, full_train.task == "segmentation")
        train = _augmented(train, augment)
    task = full_train.task
    return DataSplits(train=train, val=val, test=test, num_classes=num_classes, task=task)
