"""What a data builder returns, and the in-memory image data set most builders share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset, Subset

SPLIT_SEED = 0  # the validation split does not move when the run's seed changes


@dataclass
class DataSplits:
    train: Dataset
    val: Dataset | None
    test: Dataset | None
    num_classes: int
    task: str = "classification"


class ImageTensorDataset(Dataset):
    """Images held in memory as one tensor, converted to normalised float per sample.

    ``images`` is uint8 (N, C, H, W) scaled by 1/255, or float already in [0, 1].
    """

    def __init__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        if images.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
        self.images, self.targets = images, targets.long()
        self.scale = 1.0 / 255.0 if images.dtype == torch.uint8 else 1.0
        channels = images.shape[1]
        self.mean = torch.tensor(mean if mean is not None else [0.0] * channels).view(-1, 1, 1)
        self.std = torch.tensor(std if std is not None else [1.0] * channels).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images[index].float().mul_(self.scale)
        return (image - self.mean) / self.std, self.targets[index]


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

