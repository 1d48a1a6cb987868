"""One sampler for one process and for DDP, whose order is a pure function of (seed, epoch).

Like DistributedSampler, each epoch's permutation is randperm(seed + epoch), and rank r takes
every world_size-th index. With world_size 1 that is the single-process order, so a DDP run
with the same global batch sees the same batches. ``start`` skips the samples a resumed run
already consumed in this epoch, so a mid-epoch resume continues exactly where it stopped.
``limit_to`` keeps only the first samples of each rank's share (trainer.limit_*_batches): the
loaders' len() follows, and ``start`` counts inside the limited epoch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class EpochSampler(Sampler[int]):
    def __init__(
        self,
        size: int,
        shuffle: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        pad: bool = True,
    ) -> None:
        self.size, self.shuffle, self.seed = size, shuffle, seed
        self.rank, self.world_size, self.pad = rank, world_size, pad
        self.epoch, self.start = 0, 0
        self.limit: int | None = None  # samples per epoch of this rank; None: its whole share

    def limit_to(self, samples: int) -> None:
        """Each epoch, this rank takes only the first ``samples`` of its share."""
        self.limit = samples

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch's permutation and skip this rank's first ``start`` samples."""
        self.epoch, self.start = epoch, start

    def _indices(self) -> list[int]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.size, generator=generator).tolist()
        else:
            order = list(range(self.size))
        if self.pad and self.world_size > 1:
            total = math.ceil(self.size / self.world_size) * self.world_size
            order += order[: total - self.size]  # equal shards, as DistributedSampler does
        return order[self.rank :: self.world_size][: self.limit]

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices()[self.start :])

    def __len__(self) -> int:
        return len(self._indices()) - self.start
