"""The in-memory data path: whole batches sliced from tensors on the training device.

For data sets that are one tensor of images (uint8) and one of targets, a batch is an index
gather, then conversion, mask, augmentation and normalisation as batch tensor ops, all on the
GPU when there is one. No per-sample Python, no worker processes, no host-to-device copies
after the first. The order comes from the same EpochSampler as the torch path, and random
augmentations from a generator seeded per batch, so runs are deterministic and resume exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch.nn import functional as F
from torch.utils.data import Dataset, Subset, TensorDataset

from dltrain.data.augment.seeding import batch_generator, batch_seed
from dltrain.data.base import ImageTensorDataset
from dltrain.data.sampler import EpochSampler


@dataclass
class TensorSource:
    """A data set as tensors: stored inputs, targets, optional row map and image pipeline."""

    inputs: torch.Tensor
    targets: torch.Tensor
    rows: torch.Tensor | None = None
    images: ImageTensorDataset | None = None  # its pipeline: size, mean/std, mask threshold

    def __len__(self) -> int:
        return len(self.rows) if self.rows is not None else len(self.targets)

    def to(self, device: torch.device, cache: dict[int, torch.Tensor]) -> TensorSource:
        """On ``device``; tensors shared by several splits are moved once (``cache``)."""

        def move(tensor: torch.Tensor | None) -> torch.Tensor | None:
            if tensor is None:
                return None
            if id(tensor) not in cache:
                cache[id(tensor)] = tensor.to(device)
            return cache[id(tensor)]

        return TensorSource(move(self.inputs), move(self.targets), move(self.rows), self.images)


def tensor_source(dataset: Dataset) -> TensorSource | None:
    """The tensors behind ``dataset`` (through Subsets), or None if it has none to slice."""
    rows = None
    while isinstance(dataset, Subset):
        indices = torch.as_tensor(dataset.indices, dtype=torch.long)
        rows = indices if rows is None else indices[rows]
        dataset = dataset.dataset
    if isinstance(dataset, ImageTensorDataset) and isinstance(dataset.images, torch.Tensor):
        return TensorSource(dataset.images, dataset.targets, rows, dataset)
    if isinstance(dataset, TensorDataset) and len(dataset.tensors) == 2:
        return TensorSource(dataset.tensors[0], dataset.tensors[1], rows)
    return None


Augment = Callable[[tuple[torch.Tensor, torch.Tensor | None], torch.Generator], tuple]


class MemoryBatches:
    """An iterable of (inputs, targets) batches, resumable at any batch via the sampler."""

    def __init__(
        self,
        source: TensorSource,
        batch_size: int,
        sampler: EpochSampler,
        drop_last: bool = False,
        augment: Augment | None = None,
        seed: int = 0,
    ) -> None:
        self.source, self.batch_size, self.sampler = source, batch_size, sampler
        self.drop_last, self.augment, self.seed = drop_last, augment, seed
        self.device = source.inputs.device

    def __len__(self) -> int:
        count = len(self.sampler)
        return count // self.batch_size if self.drop_last else -(-count // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.as_tensor(list(iter(self.sampler)), dtype=torch.long, device=self.device)
        first = self.sampler.start // self.batch_size  # batches of this epoch already done
        for number in range(len(self)):
            picked = order[number * self.batch_size : (number + 1) * self.batch_size]
            if self.source.rows is not None:
                picked = self.source.rows[picked]
            yield self._batch(picked, first + number)

    def _generator(self, batch_number: int) -> torch.Generator:
        seed = batch_seed(self.seed, self.sampler.epoch, self.sampler.rank, batch_number)
        return batch_generator(seed, self.device)

    def _batch(self, picked: torch.Tensor, batch_number: int) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, targets = self.source.inputs[picked], self.source.targets[picked]
        images = self.source.images
        if images is None:  # plain tensors (synthetic, regression): used as they are
            return inputs.float() if not inputs.is_floating_point() else inputs, targets
        pipeline = images.pipeline
        if pipeline.size is not None and tuple(inputs.shape[-2:]) != (pipeline.size,) * 2:
            inputs = F.interpolate(
                inputs.float(),
                size=(pipeline.size,) * 2,
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )
            inputs = inputs / 255.0 if self.source.inputs.dtype == torch.uint8 else inputs
            inputs = inputs.clamp_(0.0, 1.0)
        elif inputs.dtype == torch.uint8:
            inputs = inputs.float().div_(255.0)
        else:
            inputs = inputs.float()
        masks = None
        if pipeline.mask_threshold is not None:
            masks = (inputs.amax(dim=1, keepdim=True) > pipeline.mask_threshold).float()
        if self.augment is not None:
            inputs, masks = self.augment((inputs, masks), self._generator(batch_number))
        mean, std = pipeline.mean.to(inputs.device), pipeline.std.to(inputs.device)
        inputs = (inputs - mean) / std
        return inputs, (masks if masks is not None else targets)
