"""Which samples of the shards each rank and DataLoader worker reads in an epoch.

A pure function of (seed, epoch), the sample counts, the rank, the world size and the number of
workers, so a run and its resumption agree on every batch. The epoch's stream is the shards in
the order ``randperm(seed + epoch)``, each shard's samples in an order seeded by (seed, epoch,
shard): a shard is read once, front to back, and shuffled in memory (one shard's raw bytes per
worker, so memory stays flat however many shards there are). Rank r takes the r-th contiguous
piece of the stream (training pads it to equal pieces as DistributedSampler does, evaluation
does not), so each rank reads only the shards of its piece, and every sample is seen once per
epoch. Inside a rank, batch b is the b-th run of ``batch_size`` samples; the batches are cut into
one contiguous chunk per worker and the loop takes them round-robin (worker 0's first, worker
1's first, ...), so each worker reads its own shards. ``set_epoch(epoch, start)`` skips the
first ``start`` samples of the rank's epoch: the remaining batches are dealt to the workers in
the order the loop takes them, so a run resumed mid-epoch continues at the exact sample.

Why not webdataset's own pipeline (``split_by_node``, ``split_by_worker``, ``shuffle``): it
splits whole shards, so ranks get unequal numbers of samples (DDP then hangs or drops data,
hence its ``with_epoch`` resampling), and its shuffle buffer cannot be restored mid-epoch.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

import torch

_PRIME = 1_000_003


class StreamPlan:
    """The loader's ``sampler``: ``set_epoch``, ``limit_to``, ``epoch``, ``rank``, ``start``
    as data/sampler.py's EpochSampler has them, over shards read in sequence."""

    def __init__(
        self,
        counts: Sequence[int],
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        pad: bool = True,
        drop_last: bool = False,
        workers: int = 0,
    ) -> None:
        self.counts, self.batch_size, self.shuffle = tuple(counts), batch_size, shuffle
        self.seed, self.rank, self.world_size, self.pad = seed, rank, world_size, pad
        self.drop_last, self.workers = drop_last, max(workers, 1)
        self.total = sum(self.counts)
        self.epoch, self.start = 0, 0
        self.limit: int | None = None
        self._cache: tuple[int, list[int], list[int]] | None = None
        self._within: tuple[int, int, list[int]] | None = None  # (epoch, shard, its order)

    def limit_to(self, samples: int) -> None:
        """Each epoch, this rank takes only the first ``samples`` of its piece."""
        self.limit = samples

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch's order and skip this rank's first ``start`` samples."""
        self.epoch, self.start = epoch, start

    # -- the epoch's stream -------------------------------------------------------------------

    def shard_order(self) -> list[int]:
        if not self.shuffle:
            return list(range(len(self.counts)))
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return torch.randperm(len(self.counts), generator=generator).tolist()

    def within_shard(self, shard: int) -> list[int]:
        """The order of the shard's samples this epoch (indices into the shard's samples)."""
        if self._within is not None and self._within[:2] == (self.epoch, shard):
            return self._within[2]
        if not self.shuffle:
            return list(range(self.counts[shard]))
        key = ((self.seed * _PRIME + self.epoch) * _PRIME + shard) % (2**63 - 1)
        generator = torch.Generator().manual_seed(key)
        order = torch.randperm(self.counts[shard], generator=generator).tolist()
        self._within = (self.epoch, shard, order)
        return order

    def _stream(self) -> tuple[list[int], list[int]]:
        """(shard order, where each shard starts in the stream), kept for the epoch."""
        if self._cache is None or self._cache[0] != self.epoch:
            order = self.shard_order()
            starts = [0]
            for shard in order:
                starts.append(starts[-1] + self.counts[shard])
            self._cache = (self.epoch, order, starts)
        return self._cache[1], self._cache[2]

    def locate(self, position: int) -> tuple[int, int]:
        """(shard, sample index inside it) at ``position`` of the epoch's stream; positions
        past the end wrap to its start (the padding of the last rank's piece)."""
        order, starts = self._stream()
        position %= self.total
        slot = bisect.bisect_right(starts, position) - 1
        while self.counts[order[slot]] == 0:  # empty shards take no room
            slot += 1
        shard = order[slot]
        return shard, self.within_shard(shard)[position - starts[slot]]

    # -- this rank's piece and its batches -----------------------------------------------------

    def piece(self) -> tuple[int, int]:
        """(first stream position, samples) of this rank's piece of the epoch."""
        if self.pad and self.world_size > 1:
            length = math.ceil(self.total / self.world_size)
            first = self.rank * length
        else:
            first = self.rank * self.total // self.world_size
            length = (self.rank + 1) * self.total // self.world_size - first
        if self.limit is not None:
            length = min(length, self.limit)
        return first, length

    def epoch_batches(self) -> int:
        """Batches of this rank in the whole epoch."""
        length = self.piece()[1]
        return length // self.batch_size if self.drop_last else -(-length // self.batch_size)

    def __len__(self) -> int:
        """Samples of this rank still to come in the epoch (after ``start``)."""
        length = self.piece()[1]
        if self.drop_last:
            length -= length % self.batch_size
        return max(length - self.start, 0)

    def batch_number(self, index: int) -> int:
        """The batch (of the rank's piece, in stream order) the loop takes ``index``-th: the
        workers' contiguous chunks, taken round-robin."""
        base, extra = divmod(self.epoch_batches(), self.workers)
        chunk, round_ = index % self.workers, index // self.workers
        return chunk * base + min(chunk, extra) + round_

    def positions(self, batch: int) -> range:
        """The stream positions of batch ``batch`` (stream order) of this rank's piece."""
        first, length = self.piece()
        low = batch * self.batch_size
        return range(first + low, first + min(low + self.batch_size, length))

    def worker_share(self, worker: int) -> list[int]:
        """The loop indices that ``worker`` makes, from ``start`` on: the loop takes the
        workers' batches round-robin, so worker w makes every W-th remaining one."""
        first = self.start // self.batch_size
        return list(range(first + worker, self.epoch_batches(), self.workers))
